package testenv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"

	"github.com/harbor-import/harbor-import/testenv"
)

// requireDocker skips t, saying why, when no Docker daemon answers.
func requireDocker(t *testing.T) {
	t.Helper()
	if err := testenv.DockerAvailable(t.Context()); err != nil {
		t.Skipf("docker not available: %v", err)
	}
}

func TestRunPostgres(t *testing.T) {
	requireDocker(t)
	ctx := t.Context()

	start := time.Now()
	if err := testenv.EnsurePostgresImage(ctx, t.Logf); err != nil {
		t.Fatalf("EnsurePostgresImage: %v", err)
	}
	t.Logf("image ready after %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	ctr, err := testenv.RunPostgres(ctx)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("RunPostgres: %v", err)
	}
	t.Logf("postgres ready after %s", time.Since(start).Round(time.Millisecond))

	if dsn := ctr.ConnString("x"); !strings.HasPrefix(dsn, "postgres://postgres:postgres@127.0.0.1:") || !strings.HasSuffix(dsn, "/x?sslmode=disable") {
		t.Errorf("ConnString(x) = %q, want postgres://postgres:postgres@127.0.0.1:<port>/x?sslmode=disable", dsn)
	}

	// A template with a table, cloned the way tests reset state.
	tmplDSN, err := ctr.CreateDatabase(ctx, "tmpl", "")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, tmplDSN, "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('from template')")

	dsn, err := ctr.CreateDatabase(ctx, "case-1", "tmpl")
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	var version, marker string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(version, "PostgreSQL 15") {
		t.Errorf("version() = %q, want PostgreSQL 15", version)
	}
	if err := conn.QueryRow(ctx, "SELECT v FROM marker").Scan(&marker); err != nil {
		t.Fatalf("reading table copied from template: %v", err)
	}
	if marker != "from template" {
		t.Errorf("marker = %q, want %q", marker, "from template")
	}
	var maxConn string
	if err := conn.QueryRow(ctx, "SHOW max_connections").Scan(&maxConn); err != nil {
		t.Fatal(err)
	}
	if maxConn != "200" {
		t.Errorf("max_connections = %s, want 200", maxConn)
	}

	// DropDatabase closes the open connection (WITH FORCE).
	if err := ctr.DropDatabase(ctx, "case-1"); err != nil {
		t.Fatal(err)
	}
	if err := ctr.DropDatabase(ctx, "case-1"); err != nil {
		t.Errorf("dropping a missing database: %v, want nil", err)
	}
	if _, err := pgx.Connect(ctx, dsn); err == nil {
		t.Error("connecting to a dropped database succeeded")
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", dsn, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
