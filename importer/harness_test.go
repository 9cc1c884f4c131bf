package importer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
	"github.com/jackc/pgx/v5"
)

// The PostgreSQL server tests share: a container (or, with
// HARBOR_IMPORT_TEST_PG, an existing server's admin DSN). Each test gets its
// own database cloned from a template holding Harbor's schema.
var pgServer struct {
	once     sync.Once
	pg       *testenv.PostgresContainer
	adminDSN string
	skip     string
	err      error
}

const templateDB = "harbor_import_template_180"

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer.pg != nil {
		_ = pgServer.pg.Terminate(context.Background())
	}
	os.Exit(code)
}

func startPG() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if dsn := os.Getenv("HARBOR_IMPORT_TEST_PG"); dsn != "" {
		pgServer.adminDSN = dsn
	} else {
		if err := testenv.DockerAvailable(ctx); err != nil {
			pgServer.skip = "no PostgreSQL for the database tests: Docker is not available (" + err.Error() + ") and HARBOR_IMPORT_TEST_PG is not set"
			return
		}
		pg, err := testenv.RunPostgres(ctx)
		pgServer.pg = pg
		if err != nil {
			pgServer.err = err
			return
		}
		pgServer.adminDSN = pg.ConnString("postgres")
	}
	conn, err := pgx.Connect(ctx, pgServer.adminDSN)
	if err != nil {
		pgServer.err = err
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+templateDB+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+templateDB); err != nil {
		pgServer.err = err
		return
	}
	tconn, err := pgx.Connect(ctx, withDB(pgServer.adminDSN, templateDB))
	if err != nil {
		pgServer.err = err
		return
	}
	defer tconn.Close(ctx)
	pgServer.err = harborschema.Apply(ctx, tconn, 180)
}

// withDB replaces the database of a URL DSN.
func withDB(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(fmt.Sprintf("test DSN is not a URL: %v", err))
	}
	u.Path = "/" + db
	return u.String()
}

// harborDB returns the DSN of a fresh database with Harbor 2.15's schema
// (version 180), as a fresh Harbor install has it.
func harborDB(t *testing.T) string {
	t.Helper()
	return freshDB(t, "t_", templateDB)
}

// freshDB creates a database named prefix and random hex, a copy of
// template (none: empty) on the test PostgreSQL, dropped when the test
// ends, and returns its DSN. It skips the test when there is no
// PostgreSQL to start.
func freshDB(t *testing.T, prefix, template string) string {
	t.Helper()
	pgServer.once.Do(startPG)
	if pgServer.skip != "" {
		t.Skip(pgServer.skip)
	}
	if pgServer.err != nil {
		t.Fatalf("starting PostgreSQL: %v", pgServer.err)
	}
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := prefix + hex.EncodeToString(b)
	name := pgx.Identifier{db}.Sanitize()
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	admin, err := pgx.Connect(ctx, pgServer.adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, pgServer.adminDSN)
		if err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return withDB(pgServer.adminDSN, db)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// fixtureSet is a registry storage made by real pushes, as a directory and a tarball.
type fixtureSet struct {
	fx      *testenv.Fixture
	root    string // the registry's rootdirectory (holds docker/)
	tarball string
}

var fixtures sync.Map // name → *fixtureOnce

type fixtureOnce struct {
	once sync.Once
	set  *fixtureSet
	err  error
}

// sharedFixture pushes once per test binary; tests must not modify it
// (copyTree for a private copy).
func sharedFixture(t *testing.T, name string, push func(ctx context.Context, host string) (*testenv.Fixture, error)) *fixtureSet {
	t.Helper()
	v, _ := fixtures.LoadOrStore(name, &fixtureOnce{})
	fo := v.(*fixtureOnce)
	fo.once.Do(func() {
		dir, err := os.MkdirTemp("", "harbor-import-fixture-"+name+"-")
		if err != nil {
			fo.err = err
			return
		}
		fo.set, fo.err = makeFixture(dir, push)
	})
	if fo.err != nil {
		t.Fatalf("making fixture %s: %v", name, fo.err)
	}
	return fo.set
}

func makeFixture(dir string, push func(ctx context.Context, host string) (*testenv.Fixture, error)) (*fixtureSet, error) {
	ctx := context.Background()
	root := filepath.Join(dir, "registry")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	reg, err := testenv.StartRegistry(ctx, root)
	if err != nil {
		return nil, err
	}
	fx, err := push(ctx, reg.Host())
	_ = reg.Close()
	if err != nil {
		return nil, err
	}
	tarball := filepath.Join(dir, "docker.tar")
	if err := testenv.TarStorage(ctx, root, tarball); err != nil {
		return nil, err
	}
	return &fixtureSet{fx: fx, root: root, tarball: tarball}, nil
}

// harborData makes an empty Harbor data volume (data_volume with registry/).
func harborData(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "registry"), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// copyTree copies src to a new directory with cp -a and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	return dst
}

// treeState lists every path under root with its type, size, mode, owner,
// inode and mtime: two equal states mean nothing was written.
func treeState(t *testing.T, root string) []string {
	t.Helper()
	return walkState(t, root, func(_, rel string, fi fs.FileInfo, st *syscall.Stat_t) (string, error) {
		return fmt.Sprintf("%s %v %d %d:%d ino=%d mtime=%d", rel, fi.Mode(), fi.Size(), st.Uid, st.Gid, st.Ino, fi.ModTime().UnixNano()), nil
	})
}

// walkState walks root and returns, sorted, the line describe makes of
// each path under it (p the path, rel relative to root).
func walkState(t *testing.T, root string, describe func(p, rel string, fi fs.FileInfo, st *syscall.Stat_t) (string, error)) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line, err := describe(p, rel, fi, fi.Sys().(*syscall.Stat_t))
		if err != nil {
			return err
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	sort.Strings(out)
	return out
}

// dbState dumps the tables an import writes, in a stable order, with
// every column: two equal states mean no row changed.
func dbState(t *testing.T, conn *pgx.Conn) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	for _, table := range []string{"project", "project_member", "project_metadata", "cve_allowlist", "quota", "quota_usage",
		"repository", "artifact", "tag", "blob", "artifact_blob", "project_blob", "artifact_reference", "artifact_accessory",
		"audit_log_ext", "schema_migrations", "properties", "audit_log", "cve_whitelist"} {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			continue // a table of other Harbor versions
		}
		rows, err := conn.Query(ctx, "SELECT t::text FROM "+table+" t ORDER BY 1")
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		out[table] = vals
	}
	return out
}
