package harbordb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
)

// pgEnv names an existing PostgreSQL server's admin DSN to use instead of a
// container (as in package importer's tests).
const pgEnv = "HARBOR_IMPORT_TEST_PG"

// pgServer is a PostgreSQL server for one top-level test or fuzz target.
type pgServer struct {
	admin string
	// ctr is nil when the server came from HARBOR_IMPORT_TEST_PG.
	ctr *testenv.PostgresContainer
}

// startServer returns the server of HARBOR_IMPORT_TEST_PG, or starts a
// PostgreSQL container that tb's cleanup removes. It returns a reason
// instead when neither is available, so callers skip what needs it.
func startServer(tb testing.TB) (*pgServer, string) {
	tb.Helper()
	if dsn := os.Getenv(pgEnv); dsn != "" {
		return &pgServer{admin: dsn}, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := testenv.DockerAvailable(ctx); err != nil {
		return nil, "no PostgreSQL: Docker is not available (" + err.Error() + ") and " + pgEnv + " is not set"
	}
	ctr, err := testenv.RunPostgres(ctx)
	testcontainers.CleanupContainer(tb, ctr)
	if err != nil {
		tb.Fatalf("starting PostgreSQL: %v", err)
	}
	return &pgServer{admin: ctr.ConnString("postgres"), ctr: ctr}, ""
}

// harborDB creates a database with Harbor 2.15's schema (version 180), as
// a fresh install has it, dropped when tb ends, and returns its DSN.
func (s *pgServer) harborDB(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "harbordb_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		tb.Fatalf("connecting to PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating database: %v", err)
	}
	tb.Cleanup(func() {
		if c, err := pgx.Connect(ctx, s.admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	dsn := withDB(tb, s.admin, name)
	conn := connect(tb, dsn)
	if err := harborschema.Apply(ctx, conn, 180); err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// harborConn connects to a fresh Harbor database (harborDB) on a server of
// its own, skipping tb when there is no PostgreSQL.
func harborConn(tb testing.TB) *pgx.Conn {
	tb.Helper()
	srv, why := startServer(tb)
	if srv == nil {
		tb.Skip(why)
	}
	return connect(tb, srv.harborDB(tb))
}

func withDB(tb testing.TB, dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s is not a URL DSN: %v", pgEnv, err)
	}
	u.Path = "/" + db
	return u.String()
}

func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connecting: %v", err)
	}
	tb.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// psql applies script to dsn the documented way, psql -X -v
// ON_ERROR_STOP=1 -1, and returns its output: with the host's psql when
// there is one (scripts/setup-test-deps.sh installs postgresql-client),
// else with the container's, fed on stdin as an operator feeds harbor-db
// (docker exec -i <container> psql ... -1 -f - < plan.sql).
// HARBOR_IMPORT_TEST_PSQL=docker forces the container's. The log says which ran.
func (s *pgServer) psql(tb testing.TB, dsn string, script []byte) (string, error) {
	tb.Helper()
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-1"}
	var cmd *exec.Cmd
	if host, err := exec.LookPath("psql"); err == nil && os.Getenv("HARBOR_IMPORT_TEST_PSQL") != "docker" {
		file := filepath.Join(tb.TempDir(), "plan.sql")
		if err := os.WriteFile(file, script, 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd = exec.Command(host, append(args, "-f", file, "-d", dsn)...)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
		tb.Logf("applying the script with the host's psql: %s %s -f plan.sql", host, strings.Join(args, " "))
	} else {
		if s.ctr == nil {
			tb.Skip("no psql: neither on the host (scripts/setup-test-deps.sh installs postgresql-client) nor a test container to run it in")
		}
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		args = append([]string{"exec", "-i", s.ctr.GetContainerID(), "psql", "-U", "postgres", "-d", strings.TrimPrefix(u.Path, "/")}, append(args, "-f", "-")...)
		cmd = exec.Command("docker", args...)
		cmd.Stdin = bytes.NewReader(script)
		tb.Logf("applying the script with the container's psql: docker %s < plan.sql", strings.Join(args, " "))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// load runs harbordb.Load on conn in a transaction of its own, committed
// when Load succeeds.
func load(ctx context.Context, conn *pgx.Conn, s harbordb.Schema, rows harbordb.Rows) (harbordb.Counts, error) {
	var c harbordb.Counts
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		c, err = harbordb.Load(ctx, tx, s, rows, nil)
		return err
	})
	return c, err
}

// ociImage is the artifact row of an OCI image manifest d in repo.
func ociImage(repo, d string, size int64) harbordb.Artifact {
	return harbordb.Artifact{Repository: repo, Digest: d, Type: "IMAGE", MediaType: "application/vnd.oci.image.config.v1+json",
		ManifestMediaType: "application/vnd.oci.image.manifest.v1+json", ArtifactType: "application/vnd.oci.image.config.v1+json", Size: size}
}
