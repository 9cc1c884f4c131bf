package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/jackc/pgx/v5"
)

// The SQL preview (--dry-run --sql-out) must be the live import, written
// down: placing the files with --files-only and applying the script with
// psql, as a DBA would on harbor-db, gives the rows and files a live import
// gives. These tests apply the script with a real psql.

// psqlMode is how the script is handed to psql.
type psqlMode int

const (
	// inOneTransaction is the documented way: psql -v ON_ERROR_STOP=1 -1 -f plan.sql.
	inOneTransaction psqlMode = iota
	// autocommit leaves out -1, which the script must refuse.
	autocommit
)

// applyScript runs script against dsn with psql -X -v ON_ERROR_STOP=1
// [-1] and returns psql's combined output. It uses the host's psql when
// there is one (scripts/setup-test-deps.sh installs postgresql-client);
// otherwise the psql inside the PostgreSQL container, fed on stdin exactly
// as an operator feeds harbor-db:
//
//	docker exec -i <container> psql -U postgres -d <db> -v ON_ERROR_STOP=1 -1 -f - < plan.sql
//
// HARBOR_IMPORT_TEST_PSQL=docker forces the container's psql. The test log
// says which psql ran.
func applyScript(t *testing.T, dsn string, script []byte, mode psqlMode) (string, error) {
	t.Helper()
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1"}
	if mode == inOneTransaction {
		args = append(args, "-1")
	}
	var cmd *exec.Cmd
	host, err := exec.LookPath("psql")
	if err == nil && os.Getenv("HARBOR_IMPORT_TEST_PSQL") != "docker" {
		file := filepath.Join(t.TempDir(), "plan.sql")
		if err := os.WriteFile(file, script, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(host, append(args, "-f", file, "-d", dsn)...)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
		t.Logf("applying the script with the host's psql: %s %s", host, strings.Join(append(args, "-f", "plan.sql"), " "))
	} else {
		if pgServer.pg == nil {
			t.Skip("no psql: neither on the host (scripts/setup-test-deps.sh installs postgresql-client) nor a test container to run it in (HARBOR_IMPORT_TEST_PG is set)")
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		db := strings.TrimPrefix(u.Path, "/")
		args = append([]string{"exec", "-i", pgServer.pg.GetContainerID(), "psql", "-U", "postgres", "-d", db}, append(args, "-f", "-")...)
		cmd = exec.Command("docker", args...)
		cmd.Stdin = bytes.NewReader(script)
		t.Logf("applying the script with the container's psql: docker %s < plan.sql", strings.Join(args, " "))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dryRunScript runs a dry run of src into data and returns the SQL script.
// dsn may be "" (no database: the newest supported schema).
func dryRunScript(t *testing.T, src, data, dsn string) []byte {
	t.Helper()
	var sql bytes.Buffer
	rep, err := importer.Run(context.Background(), importer.Options{Source: src, HarborData: data, DSN: dsn, DryRun: true, SQLOut: &sql, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !rep.SQLWritten || sql.Len() == 0 {
		t.Fatalf("dry run wrote no SQL (report says sql_written=%v, %d bytes)", rep.SQLWritten, sql.Len())
	}
	return sql.Bytes()
}

// naturalQueries dump, per table, the columns an import writes with ids
// resolved to natural keys and timestamps left out, so two databases that
// received the same import compare equal whatever ids their sequences gave.
var naturalQueries = map[string]string{
	"project": `SELECT p.name, u.username, p.deleted, COALESCE(p.registry_id::text, 'NULL') FROM project p JOIN harbor_user u ON u.user_id = p.owner_id`,
	"project_member": `SELECT p.name, m.entity_type, CASE m.entity_type WHEN 'u' THEN u.username ELSE m.entity_id::text END, m.role
		FROM project_member m JOIN project p ON p.project_id = m.project_id LEFT JOIN harbor_user u ON u.user_id = m.entity_id`,
	"project_metadata": `SELECT p.name, md.name, md.value FROM project_metadata md JOIN project p ON p.project_id = md.project_id`,
	"cve_allowlist":    `SELECT p.name, c.items, COALESCE(c.expires_at::text, 'NULL') FROM cve_allowlist c JOIN project p ON p.project_id = c.project_id`,
	"quota": `SELECT q.reference, COALESCE(p.name, 'no project ' || q.reference_id), q.hard::text, q.version,
		EXISTS (SELECT 1 FROM quota_usage u WHERE u.id = q.id AND u.reference = q.reference AND u.reference_id = q.reference_id) AS paired
		FROM quota q LEFT JOIN project p ON q.reference = 'project' AND p.project_id::text = q.reference_id`,
	"quota_usage": `SELECT u.reference, COALESCE(p.name, 'no project ' || u.reference_id), u.used::text, u.version
		FROM quota_usage u LEFT JOIN project p ON u.reference = 'project' AND p.project_id::text = u.reference_id`,
	"repository": `SELECT r.name, p.name, COALESCE(r.description, 'NULL'), r.pull_count, r.star_count
		FROM repository r JOIN project p ON p.project_id = r.project_id`,
	"artifact": `SELECT a.repository_name || '@' || a.digest, p.name, r.name, a.type, a.pull_time IS NULL, a.push_time IS NULL,
		a.media_type, a.manifest_media_type, a.size, COALESCE(a.extra_attrs, 'NULL'), COALESCE(a.annotations::text, 'NULL'),
		COALESCE(a.icon, 'NULL'), a.artifact_type
		FROM artifact a JOIN project p ON p.project_id = a.project_id JOIN repository r ON r.repository_id = a.repository_id`,
	"tag": `SELECT r.name || ':' || t.name || ' -> ' || a.repository_name || '@' || a.digest, t.pull_time IS NULL, t.push_time IS NULL
		FROM tag t JOIN repository r ON r.repository_id = t.repository_id JOIN artifact a ON a.id = t.artifact_id`,
	"blob":          `SELECT digest, content_type, size, COALESCE(status, 'NULL'), COALESCE(version::text, 'NULL') FROM blob`,
	"artifact_blob": `SELECT digest_af, digest_blob FROM artifact_blob`,
	"project_blob":  `SELECT p.name, b.digest FROM project_blob pb JOIN project p ON p.project_id = pb.project_id JOIN blob b ON b.id = pb.blob_id`,
	"artifact_reference": `SELECT pa.repository_name || '@' || pa.digest || ' -> ' || ca.repository_name || '@' || ca.digest, ar.child_digest,
		COALESCE(ar.platform, 'NULL'), COALESCE(ar.urls, 'NULL'), COALESCE(ar.annotations::text, 'NULL')
		FROM artifact_reference ar JOIN artifact pa ON pa.id = ar.parent_id JOIN artifact ca ON ca.id = ar.child_id`,
	"artifact_accessory": `SELECT COALESCE(a.repository_name || '@' || a.digest, 'NULL'), x.type, x.size, x.digest, x.subject_artifact_repo, x.subject_artifact_digest
		FROM artifact_accessory x LEFT JOIN artifact a ON a.id = x.artifact_id`,
	"audit_log_ext": `SELECT COALESCE(p.name, 'no project ' || l.project_id), l.operation, l.resource_type, l.resource, l.username, l.op_desc,
		l.op_result, COALESCE(l.payload, 'NULL'), COALESCE(l.source_ip, 'NULL')
		FROM audit_log_ext l LEFT JOIN project p ON p.project_id = l.project_id`,
	"audit_log":         `SELECT COALESCE(p.name, 'no project ' || l.project_id), l.operation, l.resource_type, l.resource, l.username FROM audit_log l LEFT JOIN project p ON p.project_id = l.project_id`,
	"properties":        `SELECT k, v FROM properties`,
	"schema_migrations": `SELECT version, dirty FROM schema_migrations`,
}

// naturalState dumps every naturalQueries table, each row as text, sorted
// (duplicates kept: two audit rows are not one).
func naturalState(t *testing.T, conn *pgx.Conn) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, q := range naturalQueries {
		rows, err := conn.Query(context.Background(), "SELECT x::text FROM ("+q+") x ORDER BY 1")
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

// storageState lists every path under root with its type and permissions,
// size and owner, plus the content of registry link files: what Harbor's
// registry sees, without inodes and times.
func storageState(t *testing.T, root string) []string {
	t.Helper()
	return walkState(t, root, func(p, rel string, fi fs.FileInfo, st *syscall.Stat_t) (string, error) {
		line := fmt.Sprintf("%s %v %d:%d", filepath.ToSlash(rel), fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() {
			line += fmt.Sprintf(" size=%d", fi.Size())
			if fi.Name() == "link" {
				b, err := os.ReadFile(p)
				if err != nil {
					return "", err
				}
				line += fmt.Sprintf(" content=%q", b)
			}
		}
		return line, nil
	})
}

func compareStates(t *testing.T, what string, want, got map[string][]string) {
	t.Helper()
	for table := range want {
		if !reflect.DeepEqual(want[table], got[table]) {
			t.Errorf("%s: table %s differs (- want, + got):\n%s", what, table, diffLines(want[table], got[table]))
		}
	}
}

// TestDryRunScriptEquivalence: a live import into database A and storage A
// gives the same rows (ids and timestamps aside) and the same files as
// --files-only into storage B followed by the dry run's SQL script applied
// with psql -1 to database B. The script is made once with --db (the
// database B as it is after --files-only) and once without any database.
// Applying the script a second time changes nothing at all.
func TestDryRunScriptEquivalence(t *testing.T) {
	fx := classic(t)
	ctx := context.Background()

	liveDSN, liveData := harborDB(t), harborData(t)
	if _, err := importer.Run(ctx, importer.Options{Source: fx.tarball, HarborData: liveData, DSN: liveDSN, Logger: testLogger(t)}); err != nil {
		t.Fatalf("live import: %v", err)
	}
	liveConn := connect(t, liveDSN)
	wantRows := naturalState(t, liveConn)
	wantFiles := storageState(t, filepath.Join(liveData, "registry"))
	if n := len(wantRows["artifact"]); n < len(fx.fx.Images) {
		t.Fatalf("live import wrote %d artifacts, want at least %d", n, len(fx.fx.Images))
	}

	for _, tc := range []struct {
		name  string
		useDB bool
	}{
		{"script made with --db", true},
		{"script made without a database", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, data := harborDB(t), harborData(t)
			rep, err := importer.Run(ctx, importer.Options{Source: fx.tarball, HarborData: data, FilesOnly: true, Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("files-only: %v", err)
			}
			if rep.Mode != "files-only" || rep.Rows != nil {
				t.Errorf("files-only report: got mode %q, rows %+v; want files-only, no rows", rep.Mode, rep.Rows)
			}
			conn := connect(t, dsn)

			scriptDSN := ""
			if tc.useDB {
				scriptDSN = dsn
			}
			script := dryRunScript(t, fx.tarball, data, scriptDSN)
			if out, err := applyScript(t, dsn, script, inOneTransaction); err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}

			compareStates(t, "rows after the script", wantRows, naturalState(t, conn))
			if got := storageState(t, filepath.Join(data, "registry")); !reflect.DeepEqual(wantFiles, got) {
				t.Errorf("files after --files-only differ from a live import's (- live, + files-only):\n%s", diffLines(wantFiles, got))
			}
			checkInvariants(t, conn)
			checkTags(t, conn, fx.fx)

			// Applying the same script again changes no row, not even a timestamp.
			before := dbState(t, conn)
			if out, err := applyScript(t, dsn, script, inOneTransaction); err != nil {
				t.Fatalf("psql, second application: %v\n%s", err, out)
			}
			if after := dbState(t, conn); !reflect.DeepEqual(before, after) {
				t.Errorf("second application of the script changed rows:\n%s", diffStates(before, after))
			}
			if tc.useDB {
				pullAll(t, conn, data, fx.fx)
			}
		})
	}
}

// TestDryRunScriptSchemaGuard: the script refuses a database whose schema
// is not the one it was made for (another version, or dirty), and refuses
// to run outside a transaction (psql without -1) even on the right schema;
// every refusal leaves the database as it was.
func TestDryRunScriptSchemaGuard(t *testing.T) {
	fx := classic(t)
	script := dryRunScript(t, fx.tarball, harborData(t), "")
	const guardMsg = "harbor-import: this plan was made for Harbor schema version 180 (clean)"
	const savepointMsg = "SAVEPOINT can only be used in transaction blocks"

	for _, tc := range []struct {
		name    string
		prepare string
		mode    psqlMode
		want    []string
	}{
		{"schema 170", `UPDATE schema_migrations SET version = 170`, inOneTransaction, []string{guardMsg, "the database has version 170, dirty f (rows: 1)"}},
		{"dirty schema", `UPDATE schema_migrations SET dirty = true`, inOneTransaction, []string{guardMsg, "the database has version 180, dirty t (rows: 1)"}},
		{"two schema rows", `INSERT INTO schema_migrations VALUES (170, false)`, inOneTransaction, []string{guardMsg, "(rows: 2)"}},
		{"without -1 on schema 180", ``, autocommit, []string{savepointMsg}},
		{"without -1 on schema 170", `UPDATE schema_migrations SET version = 170`, autocommit, []string{savepointMsg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := harborDB(t)
			conn := connect(t, dsn)
			if tc.prepare != "" {
				if _, err := conn.Exec(context.Background(), tc.prepare); err != nil {
					t.Fatal(err)
				}
			}
			before := dbState(t, conn)
			out, err := applyScript(t, dsn, script, tc.mode)
			if err == nil {
				t.Fatalf("psql succeeded, want a refusal; output:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("psql output lacks %q; got:\n%s", w, out)
				}
			}
			if after := dbState(t, conn); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused script changed rows:\n%s", diffStates(before, after))
			}
		})
	}
}

// TestDryRunWritesNothing: a dry run with --db creates, changes or removes
// no file under --harbor-data (not even registry/.harbor-import), none in a
// directory source, and no row, from a tarball and from a directory, into
// an empty Harbor and into one that already holds the import; its report
// still lists projects, repositories, tags and blobs.
func TestDryRunWritesNothing(t *testing.T) {
	fx := classic(t)
	ctx := context.Background()
	wantProjects := map[string]bool{}
	wantRepos := map[string]bool{}
	for _, im := range fx.fx.Images {
		repo := targetRepo(im.Repo)
		wantRepos[repo] = true
		wantProjects[strings.SplitN(repo, "/", 2)[0]] = true
	}

	for _, source := range []string{"tarball", "directory"} {
		for _, harbor := range []string{"empty Harbor", "Harbor after the import"} {
			t.Run(source+"/"+harbor, func(t *testing.T) {
				src := fx.tarball
				if source == "directory" {
					src = copyTree(t, fx.root)
				}
				dsn, data := harborDB(t), harborData(t)
				imported := harbor != "empty Harbor"
				if imported {
					if _, err := importer.Run(ctx, importer.Options{Source: src, HarborData: data, DSN: dsn, Logger: testLogger(t)}); err != nil {
						t.Fatalf("import: %v", err)
					}
				}
				conn := connect(t, dsn)
				rowsBefore, filesBefore, srcBefore := dbState(t, conn), treeState(t, data), treeState(t, src)

				var sql bytes.Buffer
				rep, err := importer.Run(ctx, importer.Options{Source: src, HarborData: data, DSN: dsn, DryRun: true, SQLOut: &sql, Logger: testLogger(t)})
				if err != nil {
					t.Fatalf("dry run: %v", err)
				}

				if got := treeState(t, data); !reflect.DeepEqual(filesBefore, got) {
					t.Errorf("dry run changed --harbor-data:\n%s", diffLines(filesBefore, got))
				}
				if got := treeState(t, src); !reflect.DeepEqual(srcBefore, got) {
					t.Errorf("dry run changed the source:\n%s", diffLines(srcBefore, got))
				}
				if !imported {
					if _, err := os.Lstat(filepath.Join(data, "registry", ".harbor-import")); !os.IsNotExist(err) {
						t.Errorf("dry run created registry/.harbor-import (Lstat: %v)", err)
					}
				}
				if got := dbState(t, conn); !reflect.DeepEqual(rowsBefore, got) {
					t.Errorf("dry run changed rows:\n%s", diffStates(rowsBefore, got))
				}

				if rep.Mode != "dry-run" || !rep.SQLWritten || rep.Rows != nil {
					t.Errorf("report: got mode %q, sql_written %v, rows %+v; want dry-run, true, none", rep.Mode, rep.SQLWritten, rep.Rows)
				}
				gotProjects := map[string]bool{}
				for _, p := range rep.Projects {
					gotProjects[p.Name] = true
					if imported && !p.Exists {
						t.Errorf("report: project %s marked to create, but the import created it", p.Name)
					}
				}
				if !reflect.DeepEqual(gotProjects, wantProjects) {
					t.Errorf("report projects: got %v, want %v", gotProjects, wantProjects)
				}
				gotRepos := map[string]bool{}
				for _, r := range rep.Repositories {
					gotRepos[r.Target] = true
				}
				if !reflect.DeepEqual(gotRepos, wantRepos) {
					t.Errorf("report repositories: got %v, want %v", gotRepos, wantRepos)
				}
				if rep.Tags != len(fx.fx.Images) || rep.Artifacts < len(fx.fx.Images) {
					t.Errorf("report: got %d tags, %d artifacts; want %d tags, at least as many artifacts", rep.Tags, rep.Artifacts, len(fx.fx.Images))
				}
				if rep.Blobs.Total == 0 || rep.Blobs.Bytes == 0 || rep.Blobs.Method == "" {
					t.Errorf("report blobs: %+v; want a total, bytes and a method", rep.Blobs)
				}
				wantNew, wantPresent, wantExisting := len(fx.fx.Images), 0, 0
				if imported {
					wantNew, wantPresent, wantExisting = 0, len(fx.fx.Images), rep.Blobs.Total-rep.Blobs.NoData
				}
				if rep.NewTags != wantNew || rep.Present != wantPresent || rep.Blobs.Existing != wantExisting {
					t.Errorf("report: got %d new tags, %d present, %d blobs in Harbor; want %d, %d, %d",
						rep.NewTags, rep.Present, rep.Blobs.Existing, wantNew, wantPresent, wantExisting)
				}
				var text bytes.Buffer
				rep.WriteText(&text)
				for _, w := range []string{"DRY RUN: nothing was written", "Projects:", "team", "Blobs:", "SQL script written."} {
					if !strings.Contains(text.String(), w) {
						t.Errorf("text report lacks %q:\n%s", w, text.String())
					}
				}
			})
		}
	}
}

// TestDryRunRefusesSchemaVersionFirst: a dry run without a database plans
// for --schema-version; one no Harbor 2.x has is refused before the
// source is read. The source here is cut short, so reading it first would
// give another error.
func TestDryRunRefusesSchemaVersionFirst(t *testing.T) {
	fx := classic(t)
	cut := truncateAt(t, fx.tarball, 10240)
	_, err := importer.Run(context.Background(), importer.Options{Source: cut, HarborData: harborData(t), DryRun: true, SchemaVersion: 15, Logger: testLogger(t)})
	if !errors.Is(err, harbordb.ErrUnsupportedSchema) {
		t.Fatalf("got %v, want an error matching %v", err, harbordb.ErrUnsupportedSchema)
	}
}
