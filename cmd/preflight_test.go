package cmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"

	"github.com/harbor-import/harbor-import/harborhost"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

// preflightOutput is the JSON preflight prints.
type preflightOutput struct {
	Discovered []harborhost.Value `json:"discovered"`
	Checks     []harborhost.Check `json:"checks"`
	Go         bool               `json:"go"`
}

func (p preflightOutput) status(name string) (harborhost.Status, string) {
	for _, c := range p.Checks {
		if c.Name == name {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

// harborData returns a data volume with an empty registry/ directory.
func harborData(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	if err := os.Mkdir(filepath.Join(data, "registry"), 0o755); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPreflightCLI runs `harbor-import preflight` in-process without a
// database: the verdict is the exit status, errors match with errors.Is.
func TestPreflightCLI(t *testing.T) {
	t.Setenv("HARBOR_IMPORT_DB", "")
	data := harborData(t)
	s3 := filepath.Join("..", "harborhost", "testdata", "s3.yml")

	t.Run("no data volume", func(t *testing.T) {
		stdout, _, err := runHarborImport(t, "preflight", "--harbor-data", t.TempDir())
		if !errors.Is(err, harborhost.ErrPreflightFailed) {
			t.Fatalf("error = %v, want ErrPreflightFailed", err)
		}
		for _, w := range []string{"FAIL  data volume", "WARN  database     not checked", "NO-GO: "} {
			if !strings.Contains(stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, stdout)
			}
		}
	})

	t.Run("json, s3 storage, database not found", func(t *testing.T) {
		stdout, _, err := runHarborImport(t, "preflight", "--harbor-yml", s3, "--harbor-data", data,
			"--db-container", "harbor-db-absent-"+time.Now().Format("150405.000"), "-o", "json")
		if !errors.Is(err, harborhost.ErrPreflightFailed) {
			t.Fatalf("error = %v, want ErrPreflightFailed", err)
		}
		var out preflightOutput
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, stdout)
		}
		if out.Go {
			t.Error(`"go" = true, want false`)
		}
		if s, r := out.status(harborhost.CheckStorage); s != harborhost.StatusFail || !strings.Contains(r, "s3") {
			t.Errorf("storage = %s %q, want FAIL naming s3", s, r)
		}
		// The database comes from the harbor-db container, which does not
		// exist (or Docker does not answer): either way a failure saying so.
		if s, r := out.status(harborhost.CheckDatabase); s != harborhost.StatusFail || !strings.Contains(r, "pass --db") {
			t.Errorf("database = %s %q, want FAIL saying pass --db", s, r)
		}
		if len(out.Discovered) == 0 || out.Discovered[0].Value != s3 {
			t.Errorf("discovered = %+v, want harbor.yml %s first", out.Discovered, s3)
		}
		if strings.Contains(stdout, "root123") {
			t.Error("output shows database.password")
		}
	})

	t.Run("harbor.yml missing", func(t *testing.T) {
		_, _, err := runHarborImport(t, "preflight", "--harbor-yml", filepath.Join(t.TempDir(), "harbor.yml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error = %v, want ErrNotExist", err)
		}
	})

	t.Run("bad output", func(t *testing.T) {
		_, _, err := runHarborImport(t, "preflight", "--harbor-data", data, "-o", "yaml")
		if err == nil || !strings.Contains(err.Error(), "--output must be text or json") {
			t.Errorf("error = %v, want --output must be text or json", err)
		}
	})
}

// TestNothingFound: without flags and without any harbor.yml on this host,
// the import and preflight say where they looked and what to pass.
func TestNothingFound(t *testing.T) {
	for _, p := range harborhost.DefaultSearchPaths {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("this host has %s", p)
		}
	}
	t.Setenv("HARBOR_IMPORT_DB", "")
	src := t.TempDir()
	for name, args := range map[string][]string{
		"import":    {"--src", src, "--no-progress"},
		"preflight": {"preflight"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := runHarborImport(t, args...)
			if !errors.Is(err, harborhost.ErrNoHarborYML) || !strings.Contains(err.Error(), "/opt/harbor/harbor.yml") ||
				!strings.Contains(err.Error(), "pass --harbor-yml or --harbor-data/--db") {
				t.Errorf("error = %v, want ErrNoHarborYML naming the places and the flags", err)
			}
		})
	}
}

// TestHarborYMLWiring: with only --src and --harbor-yml, the import and
// preflight take data_volume and the database from harbor.yml (an
// external_database reaching a real PostgreSQL over its 127.0.0.1 port),
// print them with the password masked, and the import prints next steps.
func TestHarborYMLWiring(t *testing.T) {
	ctx := t.Context()
	if err := testenv.DockerAvailable(ctx); err != nil {
		t.Skipf("docker not available: %v", err)
	}
	t.Setenv("HARBOR_IMPORT_DB", "")
	start := time.Now()
	if err := testenv.EnsurePostgresImage(ctx, t.Logf); err != nil {
		t.Fatalf("EnsurePostgresImage: %v", err)
	}
	pg, err := testenv.RunPostgres(ctx)
	testcontainers.CleanupContainer(t, pg)
	if err != nil {
		t.Fatalf("RunPostgres: %v", err)
	}
	dsn, err := pg.CreateDatabase(ctx, "registry", "")
	if err != nil {
		t.Fatal(err)
	}
	applySchema(t, ctx, dsn)
	t.Logf("PostgreSQL with Harbor's schema after %s", time.Since(start).Round(time.Millisecond))

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	data := harborData(t)
	yml := filepath.Join(t.TempDir(), "harbor.yml")
	writeFile(t, yml, "hostname: reg.test\nhttp:\n  port: 8080\ndata_volume: "+data+
		"\ndatabase:\n  password: unused\nexternal_database:\n  harbor:\n    host: "+u.Hostname()+"\n    port: "+u.Port()+
		"\n    db_name: registry\n    username: "+testenv.PostgresUser+"\n    password: "+testenv.PostgresPassword+
		"\n    ssl_mode: disable\ncache:\n  enabled: true\n  expire_hours: 24\n")
	src := registryStorage(t)

	t.Run("dry run", func(t *testing.T) {
		stdout, stderr, err := runHarborImport(t, "--src", src, "--harbor-yml", yml, "--dry-run", "--no-progress")
		if err != nil {
			t.Fatalf("harbor-import: %v\nstderr:\n%s", err, stderr)
		}
		for _, w := range []string{"Harbor on this host:", "data_volume                 " + data, "postgres://postgres:***@" + u.Host + "/registry?sslmode=disable (external_database.harbor in " + yml + ")"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, stderr)
			}
		}
		if strings.Contains(stderr+stdout, ":"+testenv.PostgresPassword+"@") {
			t.Errorf("the password is shown:\n%s", stderr)
		}
		if !strings.Contains(stdout, "Harbor schema: 180") {
			t.Errorf("the dry run did not read the discovered database:\n%s", stdout)
		}
		if strings.Contains(stdout, "Next steps") {
			t.Errorf("a dry run prints next steps:\n%s", stdout)
		}
	})

	t.Run("flags win", func(t *testing.T) {
		other := harborData(t)
		_, stderr, err := runHarborImport(t, "--src", src, "--harbor-yml", yml, "--harbor-data", other, "--dry-run", "--no-progress")
		if err != nil {
			t.Fatalf("harbor-import: %v\nstderr:\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "not used: --harbor-data given") {
			t.Errorf("stderr does not say --harbor-data won:\n%s", stderr)
		}
	})

	t.Run("preflight", func(t *testing.T) {
		stdout, _, err := runHarborImport(t, "preflight", "--harbor-yml", yml, "--src", src, "-o", "json")
		if err != nil {
			t.Fatalf("preflight: %v\n%s", err, stdout)
		}
		var out preflightOutput
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, stdout)
		}
		if !out.Go {
			t.Errorf(`"go" = false, want true:\n%s`, stdout)
		}
		if s, r := out.status(harborhost.CheckDatabase); s != harborhost.StatusOK || !strings.Contains(r, "schema 180") {
			t.Errorf("database = %s %q, want OK schema 180", s, r)
		}
		if s, _ := out.status(harborhost.CheckCache); s != harborhost.StatusWarn {
			t.Errorf("cache = %s, want WARN (cache.enabled)", s)
		}
	})

	t.Run("import prints next steps", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("the import chowns to 10000:10000: needs root")
		}
		stdout, stderr, err := runHarborImport(t, "--src", src, "--harbor-yml", yml, "--no-progress")
		if err != nil {
			t.Fatalf("harbor-import: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		for _, w := range []string{"Next steps:", "1. If Harbor was stopped or read-only", "Check in the UI: Projects → library (http://reg.test:8080/harbor/projects)"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("stdout lacks %q:\n%s", w, stdout)
			}
		}
		if _, err := os.Stat(filepath.Join(data, "registry", "docker", "registry", "v2", "blobs")); err != nil {
			t.Errorf("nothing placed in the discovered data_volume: %v", err)
		}
		// verify finds the same Harbor by itself and checks what was imported.
		stdout, stderr, err = runHarborImport(t, "verify", "--harbor-yml", yml, "--deep")
		if err != nil || !strings.Contains(stdout, "0 problems") || !strings.Contains(stderr, "Harbor on this host:") {
			t.Errorf("verify --harbor-yml: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if strings.Contains(stdout, "Checked 0 artifacts") {
			t.Errorf("verify checked nothing:\n%s", stdout)
		}
	})
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

func applySchema(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := harborschema.Apply(ctx, conn, 180); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
