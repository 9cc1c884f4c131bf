package harborhost_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
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

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestHarborDBContainer runs the Docker lookup against a real engine: a
// PostgreSQL container named harbor-db-<random>, labelled as docker-compose
// labels Harbor's, whose project directory holds a harbor.yml. Discovery
// must find harbor.yml through the labels and report the container's IP;
// the test never connects to that IP (it may not be routable from where the
// test runs), only to the port published on 127.0.0.1.
func TestHarborDBContainer(t *testing.T) {
	ctx := t.Context()
	if err := testenv.DockerAvailable(ctx); err != nil {
		t.Skipf("docker not available: %v", err)
	}
	start := time.Now()
	if err := testenv.EnsurePostgresImage(ctx, t.Logf); err != nil {
		t.Fatalf("EnsurePostgresImage: %v", err)
	}

	suffix := randomSuffix(t)
	name := "harbor-db-" + suffix
	composeDir := t.TempDir()
	data := registryTree(t)
	yml := "hostname: reg.test\nhttp:\n  port: 80\ndatabase:\n  password: " + testenv.PostgresPassword +
		"\ndata_volume: " + data + "\ncache:\n  enabled: true\n  expire_hours: 24\n_version: 2.15.0\n"
	if err := os.WriteFile(filepath.Join(composeDir, "harbor.yml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(composeDir, "docker-compose.yml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctr, err := testenv.RunPostgres(ctx,
		testcontainers.WithName(name),
		testcontainers.WithLabels(map[string]string{
			harborhost.LabelComposeProject:    "hitest" + suffix,
			harborhost.LabelComposeWorkingDir: composeDir,
			harborhost.LabelComposeService:    "postgresql",
			"org.harbor-import.test":          "harborhost",
		}))
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("RunPostgres: %v", err)
	}
	t.Logf("container %s ready after %s", name, time.Since(start).Round(time.Millisecond))
	wantIP, err := ctr.ContainerIP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loopback := ctr.ConnString("postgres")

	d := harborhost.NewDocker("")

	t.Run("Container", func(t *testing.T) {
		c, err := d.Container(ctx, name)
		if err != nil {
			t.Fatalf("Container(%s): %v", name, err)
		}
		if c.Name != name || !c.Running() || c.ComposeDir() != composeDir || c.Image != testenv.PostgresImage {
			t.Errorf("got name %q state %q compose dir %q image %q; want %q running %q %q", c.Name, c.State, c.ComposeDir(), c.Image, name, composeDir, testenv.PostgresImage)
		}
		if n, ip := c.Address(); ip != wantIP || n == "" {
			t.Errorf("Address() = %q, %q; want the engine's IP %q", n, ip, wantIP)
		}
	})

	t.Run("names match exactly", func(t *testing.T) {
		for _, n := range []string{name + "-absent", "harbor-db-" + suffix[:4], "harbor-db." + suffix} {
			if _, err := d.Container(ctx, n); !errors.Is(err, harborhost.ErrContainerNotFound) {
				t.Errorf("Container(%s) error = %v, want ErrContainerNotFound", n, err)
			}
		}
	})

	t.Run("Discover through compose labels", func(t *testing.T) {
		h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{
			SearchPaths: []string{}, DBContainer: name, CoreContainer: "harbor-core-" + suffix, Docker: d,
		})
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		if want := filepath.Join(composeDir, "harbor.yml"); h.Config.Path != want || h.FoundBy != "compose project of container "+name {
			t.Errorf("found %s by %q, want %s by compose project of container %s", h.Config.Path, h.FoundBy, want, name)
		}
		if h.ComposeDir != composeDir || h.DataVolume != data {
			t.Errorf("ComposeDir %q DataVolume %q, want %q %q", h.ComposeDir, h.DataVolume, composeDir, data)
		}
		db, err := h.Database(ctx)
		if err != nil {
			t.Fatalf("Database: %v", err)
		}
		if want := harborhost.InternalDSN(testenv.PostgresPassword, wantIP); db.DSN != want || db.IP != wantIP {
			t.Errorf("DSN %q IP %q, want %q %q", db.DSN, db.IP, want, wantIP)
		}
		if want := "postgres://postgres:***@" + net.JoinHostPort(wantIP, "5432") + "/registry?sslmode=disable"; !hasValue(h.Values(), "database", want) {
			t.Errorf("Values() = %+v, want database %s", h.Values(), want)
		}

		// The discovered credentials and database name work: use them over the
		// published loopback port instead of the container's IP.
		if _, err := ctr.CreateDatabase(ctx, "registry", ""); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, viaLoopback(t, db.DSN, loopback))
		if err != nil {
			t.Fatalf("connecting with the discovered credentials over 127.0.0.1: %v", err)
		}
		defer conn.Close(ctx)
		if err := harborschema.Apply(ctx, conn, 180); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Preflight", func(t *testing.T) {
		h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: filepath.Join(composeDir, "harbor.yml"), DBContainer: name, Docker: d})
		if err != nil {
			t.Fatal(err)
		}
		db, err := h.Database(ctx)
		if err != nil {
			t.Fatal(err)
		}
		opts := harborhost.PreflightOptions{
			HarborData: h.DataVolume, DSN: viaLoopback(t, db.DSN, loopback), Source: sourceStorage(t, data),
			Config: h.Config, Docker: d, DBContainer: name,
		}
		rep := harborhost.Preflight(ctx, opts)
		wantChecks(t, rep, want{
			harborhost.CheckDataVolume: {harborhost.StatusOK, "exists"},
			harborhost.CheckStorage:    {harborhost.StatusOK, "filesystem"},
			harborhost.CheckPlacement:  {harborhost.StatusOK, "hardlinked"},
			harborhost.CheckDatabase:   {harborhost.StatusOK, "schema 180 (Harbor 2.15.0–2.15.2) at 127.0.0.1:"},
			harborhost.CheckServices:   {harborhost.StatusOK, "running: " + name + "; stopped: none; absent: harbor-core"},
			harborhost.CheckWrites:     {harborhost.StatusOK, "harbor-core and harbor-jobservice are not running"},
			harborhost.CheckQuota:      {harborhost.StatusOK, "quota per project is on; new projects get no storage limit"},
			harborhost.CheckCache:      {harborhost.StatusWarn, "cache:repository:*"},
		})
		if rep.Failed() {
			t.Errorf("Failed() = true, want a go")
		}

		// Read-only and a default limit, as an admin would set them.
		conn, err := pgx.Connect(ctx, opts.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO properties (k, v) VALUES ('read_only', 'true'), ('storage_per_project', '10737418240')`); err != nil {
			t.Fatal(err)
		}
		rep = harborhost.Preflight(ctx, opts)
		wantChecks(t, rep, want{
			harborhost.CheckWrites: {harborhost.StatusOK, "Harbor is read-only"},
			harborhost.CheckQuota:  {harborhost.StatusOK, "new projects get 10.0 GiB"},
		})

		// A database that is not Harbor's fails.
		opts.DSN = ctr.ConnString("postgres")
		rep = harborhost.Preflight(ctx, opts)
		wantChecks(t, rep, want{harborhost.CheckDatabase: {harborhost.StatusFail, "not a Harbor database"}})
		if !rep.Failed() {
			t.Errorf("Failed() = false with a non-Harbor database, want a no-go")
		}
	})

	t.Run("stopped container", func(t *testing.T) {
		timeout := 10 * time.Second
		if err := ctr.Stop(ctx, &timeout); err != nil {
			t.Fatal(err)
		}
		h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: filepath.Join(composeDir, "harbor.yml"), DBContainer: name, Docker: d})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Database(ctx)
		if !errors.Is(err, harborhost.ErrContainerNotRunning) || !strings.Contains(err.Error(), "docker start "+name) {
			t.Errorf("Database() on a stopped container: %v, want ErrContainerNotRunning saying docker start %s", err, name)
		}
	})
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// viaLoopback replaces the host and port of dsn by those of loopback.
func viaLoopback(t *testing.T, dsn, loopback string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := url.Parse(loopback)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = l.Host
	return u.String()
}

func hasValue(vs []harborhost.Value, name, value string) bool {
	for _, v := range vs {
		if v.Name == name && v.Value == value {
			return true
		}
	}
	return false
}
