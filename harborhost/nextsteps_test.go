package harborhost_test

import (
	"context"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/harborhost"
)

func TestNextSteps(t *testing.T) {
	host := func(file string) *harborhost.Host {
		h, err := harborhost.Discover(context.Background(), harborhost.DiscoverOptions{HarborYML: "testdata/" + file, Docker: noDocker(t)})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	imported := harborhost.ImportFacts{Mode: "import", Changed: true, Projects: []string{"library", "team"}}
	moved := imported
	moved.TagsMoved = 2

	tests := []struct {
		name    string
		h       *harborhost.Host
		f       harborhost.ImportFacts
		want    []string // substrings, in order, one per step
		notWant []string
	}{
		{name: "dry run", h: host("default.yml"), f: harborhost.ImportFacts{Mode: "dry-run", Changed: true}},
		{name: "nothing changed", h: host("default.yml"), f: harborhost.ImportFacts{Mode: "import", Projects: []string{"library"}}},
		{
			name:    "default harbor",
			h:       host("default.yml"),
			f:       moved,
			want:    []string{"start it (docker compose up -d in Harbor's installation directory)", "Projects → library, team (https://reg.mydomain.com/harbor/projects)"},
			notWant: []string{"syncquota", "cache:"},
		},
		{
			name: "redis quota, cache on, tags moved",
			h:    host("custom-data.yml"),
			f:    moved,
			want: []string{
				"Repository Read Only off",
				"core.quota_update_provider is redis): curl -u admin -X POST https://registry.corp.example.com:8443/api/internal/syncquota",
				`2 tags moved and cache.enabled: clear the cache: docker exec redis redis-cli -n 7 EVAL "for _,p in ipairs(ARGV)`,
				"Projects → library, team",
			},
		},
		{
			name:    "cache on, no tag moved",
			h:       host("custom-data.yml"),
			f:       imported,
			want:    []string{"Read Only", "syncquota", "Projects →"},
			notWant: []string{"cache:"},
		},
		{
			name: "external redis",
			h:    host("external-redis.yml"),
			f:    moved,
			want: []string{"Read Only", "on Redis redis.example.com:6379: redis-cli -h <host> -p <port> -n 3 EVAL", "Projects →"},
		},
		{
			name: "files only, external database",
			h:    host("external-db.yml"),
			f:    harborhost.ImportFacts{Mode: "files-only", Changed: true, Projects: []string{"team"}},
			want: []string{
				"psql 'postgres://harbor:***@db.example.com:5433/harbor_registry?sslmode=require' -v ON_ERROR_STOP=1 -1 < plan.sql",
				"Read Only", "Projects → team",
			},
			notWant: []string{"p@ss", "p%40ss"},
		},
		{
			name: "no harbor.yml",
			f:    moved,
			want: []string{
				"Read Only",
				"If harbor.yml sets core.quota_update_provider: redis",
				"2 tags moved: if harbor.yml sets cache.enabled, clear the cache: docker exec redis redis-cli -n 0 EVAL",
				"Projects → library, team (https://<harbor>/harbor/projects)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := harborhost.NextSteps(tt.h, tt.f)
			if len(got) != len(tt.want) {
				t.Fatalf("NextSteps gave %d steps, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("step %d = %q, want it to contain %q", i+1, got[i], w)
				}
			}
			all := strings.Join(got, "\n")
			for _, nw := range tt.notWant {
				if strings.Contains(all, nw) {
					t.Errorf("steps mention %q:\n%s", nw, all)
				}
			}
		})
	}
}
