package harborhost_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/harborhost"
)

// registryTree makes <data>/registry/docker/registry/v2/{blobs,repositories}
// owned by Harbor's 10000:10000 (when running as root) and returns data.
func registryTree(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	v2 := filepath.Join(data, "registry", "docker", "registry", "v2")
	for _, d := range []string{"blobs", "repositories"} {
		if err := os.MkdirAll(filepath.Join(v2, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		err := filepath.Walk(filepath.Join(data, "registry"), func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, 10000, 10000)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// sourceStorage makes a registry storage directory with two blobs (123 bytes).
func sourceStorage(t *testing.T, parent string) string {
	t.Helper()
	src := filepath.Join(parent, "storage")
	for rel, n := range map[string]int{
		"docker/registry/v2/blobs/sha256/aa/aa11/data":                        100,
		"docker/registry/v2/blobs/sha256/bb/bb22/data":                        23,
		"docker/registry/v2/repositories/app/_layers/sha256/aa11/link":        71,
		"docker/registry/v2/repositories/app/_manifests/tags/v1/current/link": 71,
	} {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// wantChecks compares the statuses of the named checks, and that each
// reason mentions a substring.
func wantChecks(t *testing.T, rep *harborhost.PreflightReport, want map[string]struct {
	status harborhost.Status
	reason string
}) {
	t.Helper()
	var text strings.Builder
	rep.WriteText(&text)
	t.Logf("preflight:\n%s", text.String())
	for name, w := range want {
		c, ok := rep.Check(name)
		if !ok {
			t.Errorf("check %q did not run", name)
			continue
		}
		if c.Status != w.status || !strings.Contains(c.Reason, w.reason) {
			t.Errorf("check %q = %s %q, want %s containing %q", name, c.Status, c.Reason, w.status, w.reason)
		}
	}
}

type want = map[string]struct {
	status harborhost.Status
	reason string
}

func TestPreflightWithoutDatabase(t *testing.T) {
	ctx := context.Background()
	data := registryTree(t)
	src := sourceStorage(t, data) // same filesystem: hardlinks
	s3, err := harborhost.LoadConfig("testdata/s3.yml")
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "docker.tar")
	if err := os.WriteFile(tarball, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		opts       harborhost.PreflightOptions
		want       want
		wantFailed bool
	}{
		{
			name: "no data volume",
			opts: harborhost.PreflightOptions{HarborData: t.TempDir()},
			want: want{
				harborhost.CheckDataVolume: {harborhost.StatusFail, "registry: no such file or directory"},
				harborhost.CheckDatabase:   {harborhost.StatusWarn, "not checked"},
				harborhost.CheckServices:   {harborhost.StatusWarn, "cannot ask Docker"},
				harborhost.CheckWrites:     {harborhost.StatusWarn, "cannot tell"},
				harborhost.CheckQuota:      {harborhost.StatusWarn, "not read"},
				harborhost.CheckCache:      {harborhost.StatusWarn, "not checked (no harbor.yml)"},
			},
			wantFailed: true,
		},
		{
			name: "directory source on the same filesystem, S3 storage",
			opts: harborhost.PreflightOptions{HarborData: data, Source: src, Config: s3},
			want: want{
				harborhost.CheckDataVolume: {harborhost.StatusOK, "exists"},
				harborhost.CheckStorage:    {harborhost.StatusFail, "storage_service s3"},
				harborhost.CheckSource:     {harborhost.StatusOK, "2 blobs, 123 B"},
				harborhost.CheckPlacement:  {harborhost.StatusOK, "hardlinked"},
				harborhost.CheckDiskSpace:  {harborhost.StatusOK, "blobs hardlinked need up to 0 B"},
				harborhost.CheckCache:      {harborhost.StatusOK, "cache.enabled is false"},
			},
			wantFailed: true,
		},
		{
			name: "tarball",
			opts: harborhost.PreflightOptions{HarborData: data, Source: tarball},
			want: want{
				harborhost.CheckSource:    {harborhost.StatusOK, "tarball"},
				harborhost.CheckPlacement: {harborhost.StatusOK, "copied"},
				harborhost.CheckDiskSpace: {harborhost.StatusOK, "need up to 2.0 KiB"},
			},
		},
		{
			name:       "source missing",
			opts:       harborhost.PreflightOptions{HarborData: data, Source: filepath.Join(data, "nope")},
			want:       want{harborhost.CheckSource: {harborhost.StatusFail, "no such file"}},
			wantFailed: true,
		},
	}
	if os.Geteuid() == 0 {
		tests[1].want[harborhost.CheckOwnership] = struct {
			status harborhost.Status
			reason string
		}{harborhost.StatusOK, "registry/docker/registry/v2/blobs, registry/docker/registry/v2/repositories owned by 10000:10000"}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Docker = noDocker(t)
			rep := harborhost.Preflight(ctx, tt.opts)
			wantChecks(t, rep, tt.want)
			if rep.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v", rep.Failed(), tt.wantFailed)
			}
		})
	}
}

func TestPreflightOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	data := registryTree(t)
	v2 := filepath.Join(data, "registry", "docker", "registry", "v2")
	if err := os.Chown(v2, 0, 0); err != nil {
		t.Fatal(err)
	}
	rep := harborhost.Preflight(context.Background(), harborhost.PreflightOptions{HarborData: data, Docker: noDocker(t)})
	wantChecks(t, rep, want{harborhost.CheckOwnership: {harborhost.StatusWarn, "registry/docker/registry/v2 is 0:0, want 10000:10000"}})
}

// TestActivityWithoutDocker: with no engine to ask and no database, the
// import is told that it cannot tell whether Harbor runs or is read-only.
func TestActivityWithoutDocker(t *testing.T) {
	checks := harborhost.Activity(t.Context(), "", harborhost.NewDocker(filepath.Join(t.TempDir(), "no.sock")))
	if len(checks) != 2 || checks[0].Name != harborhost.CheckServices || checks[1].Name != harborhost.CheckWrites {
		t.Fatalf("got %+v, want the services and writes checks", checks)
	}
	for _, c := range checks {
		if c.Status != harborhost.StatusWarn {
			t.Errorf("%s: got %s (%s), want WARN", c.Name, c.Status, c.Reason)
		}
	}
}
