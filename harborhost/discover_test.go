package harborhost_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/harborhost"
)

// noDocker is a client whose socket does not exist, for tests that must not
// reach a real engine.
func noDocker(t *testing.T) *harborhost.Docker {
	return harborhost.NewDocker(filepath.Join(t.TempDir(), "no-docker.sock"))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDiscover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	compose := filepath.Join(dir, "harbor")
	copyFile(t, "testdata/custom-data.yml", filepath.Join(compose, "harbor.yml"))
	if err := os.WriteFile(filepath.Join(compose, "docker-compose.yml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "opt", "harbor.yml")

	tests := []struct {
		name           string
		opts           harborhost.DiscoverOptions
		wantPath       string
		wantBy         string
		wantData       string
		wantDataFrom   string
		wantComposeDir string
		wantErr        error
		wantErrText    []string
	}{
		{
			name:     "searched, first existing wins",
			opts:     harborhost.DiscoverOptions{SearchPaths: []string{missing, filepath.Join(compose, "harbor.yml"), "testdata/default.yml"}},
			wantPath: filepath.Join(compose, "harbor.yml"), wantBy: "searched",
			wantData: "/srv/harbor-data", wantDataFrom: "data_volume in " + filepath.Join(compose, "harbor.yml"),
			wantComposeDir: compose,
		},
		{
			name:     "given",
			opts:     harborhost.DiscoverOptions{HarborYML: "testdata/default.yml"},
			wantPath: "testdata/default.yml", wantBy: "given",
			wantData: "/data", wantDataFrom: "data_volume in testdata/default.yml",
		},
		{
			name:     "given without data_volume",
			opts:     harborhost.DiscoverOptions{HarborYML: "testdata/minimal.yml"},
			wantPath: "testdata/minimal.yml", wantBy: "given",
			wantData: "/data", wantDataFrom: "default (testdata/minimal.yml has no data_volume)",
		},
		{
			name:        "nothing found",
			opts:        harborhost.DiscoverOptions{SearchPaths: []string{missing, "harbor.yml"}},
			wantErr:     harborhost.ErrNoHarborYML,
			wantErrText: []string{missing, "./harbor.yml", "no docker socket", "pass --harbor-yml or --harbor-data/--db"},
		},
		{
			name:    "given but missing",
			opts:    harborhost.DiscoverOptions{HarborYML: missing},
			wantErr: os.ErrNotExist,
		},
		{
			name:    "given but broken",
			opts:    harborhost.DiscoverOptions{HarborYML: "testdata/broken.yml"},
			wantErr: harborhost.ErrInvalidConfig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Docker = noDocker(t)
			h, err := harborhost.Discover(ctx, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Discover error = %v, want %v", err, tt.wantErr)
				}
				for _, s := range tt.wantErrText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if h.Config.Path != tt.wantPath || h.FoundBy != tt.wantBy {
				t.Errorf("found %s by %q, want %s by %q", h.Config.Path, h.FoundBy, tt.wantPath, tt.wantBy)
			}
			if h.DataVolume != tt.wantData || h.DataVolumeFrom != tt.wantDataFrom {
				t.Errorf("DataVolume = %q (%s), want %q (%s)", h.DataVolume, h.DataVolumeFrom, tt.wantData, tt.wantDataFrom)
			}
			if h.ComposeDir != tt.wantComposeDir {
				t.Errorf("ComposeDir = %q, want %q", h.ComposeDir, tt.wantComposeDir)
			}
		})
	}
}

func TestDatabaseExternal(t *testing.T) {
	ctx := context.Background()
	h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: "testdata/external-db.yml", Docker: noDocker(t)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := h.Database(ctx)
	if err != nil {
		t.Fatalf("Database: %v (an external database needs no Docker)", err)
	}
	if want := "postgres://harbor:p%40ss%3Aw%2Frd@db.example.com:5433/harbor_registry?sslmode=require"; db.DSN != want {
		t.Errorf("DSN = %q, want %q", db.DSN, want)
	}
	if db.Container != nil || db.IP != "" {
		t.Errorf("external database reports container %v, IP %q; want none", db.Container, db.IP)
	}
	var shown []string
	for _, v := range h.Values() {
		shown = append(shown, v.Name+"="+v.Value+" "+v.From)
	}
	all := strings.Join(shown, "\n")
	if strings.Contains(all, "p%40ss") || strings.Contains(all, "p@ss") || strings.Contains(all, "root123") {
		t.Errorf("Values() shows a password:\n%s", all)
	}
	if !strings.Contains(all, "database=postgres://harbor:***@db.example.com:5433/harbor_registry?sslmode=require external_database.harbor in testdata/external-db.yml") {
		t.Errorf("Values() lacks the masked database:\n%s", all)
	}
}

func TestDatabaseInternalWithoutDocker(t *testing.T) {
	ctx := context.Background()
	h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: "testdata/default.yml", Docker: noDocker(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Database(ctx); !errors.Is(err, harborhost.ErrDockerUnavailable) {
		t.Errorf("Database() error = %v, want ErrDockerUnavailable", err)
	}
	for _, v := range h.Values() {
		if v.Name == "database.password" && v.Value != "***" {
			t.Errorf("database.password shown as %q, want ***", v.Value)
		}
	}
}

func TestContainerAddress(t *testing.T) {
	tests := []struct {
		name        string
		c           harborhost.Container
		wantNetwork string
		wantIP      string
	}{
		{
			name:        "compose project network first",
			c:           harborhost.Container{Labels: map[string]string{harborhost.LabelComposeProject: "harbor"}, Networks: map[string]string{"bridge": "172.17.0.2", "a_harbor": "172.19.0.2", "harbor_harbor": "172.18.0.3"}},
			wantNetwork: "harbor_harbor", wantIP: "172.18.0.3",
		},
		{
			name:        "any _harbor network next",
			c:           harborhost.Container{Networks: map[string]string{"bridge": "172.17.0.2", "opt_harbor": "172.19.0.2"}},
			wantNetwork: "opt_harbor", wantIP: "172.19.0.2",
		},
		{
			name:        "else the first by name",
			c:           harborhost.Container{Networks: map[string]string{"zeta": "10.0.0.9", "bridge": "172.17.0.2"}},
			wantNetwork: "bridge", wantIP: "172.17.0.2",
		},
		{
			name:        "networks without address are skipped",
			c:           harborhost.Container{Networks: map[string]string{"harbor_harbor": "", "bridge": "172.17.0.5"}},
			wantNetwork: "bridge", wantIP: "172.17.0.5",
		},
		{name: "stopped", c: harborhost.Container{Networks: map[string]string{"harbor_harbor": ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ip := tt.c.Address()
			if n != tt.wantNetwork || ip != tt.wantIP {
				t.Errorf("Address() = %q, %q; want %q, %q", n, ip, tt.wantNetwork, tt.wantIP)
			}
		})
	}
}
