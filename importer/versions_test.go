package importer_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
	"github.com/jackc/pgx/v5"
)

// harborDBVersion returns a fresh database holding Harbor's schema of
// version v, as a fresh install of that release has it.
func harborDBVersion(t *testing.T, v int) string {
	t.Helper()
	dsn := freshDB(t, fmt.Sprintf("v%d_", v), "")
	ctx := context.Background()
	conn := connect(t, dsn)
	if err := harborschema.Apply(ctx, conn, v); err != nil {
		t.Fatalf("applying Harbor schema %d: %v", v, err)
	}
	return dsn
}

// TestImportIntoEveryHarborVersion imports the classic fixture into a fresh
// database of every Harbor 2.x schema version and checks what that
// version's push writes: the rows Harbor relies on, the audit table and
// format of that version, the optional columns, and that a second run
// changes nothing.
func TestImportIntoEveryHarborVersion(t *testing.T) {
	fs := classic(t)
	ctx := context.Background()
	versions := harborschema.Versions()
	if got, want := len(versions), len(harbordb.SupportedVersions()); got != want {
		t.Errorf("test schemas cover %d versions, harbor-import supports %d", got, want)
	}
	for _, v := range versions {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			dsn := harborDBVersion(t, v)
			data := harborData(t)
			rep, err := importer.Run(ctx, importer.Options{Source: fs.tarball, HarborData: data, DSN: dsn})
			if err != nil {
				t.Fatalf("import into schema %d: %v", v, err)
			}
			if rep.SchemaVersion != int64(v) {
				t.Errorf("report says schema %d, want %d", rep.SchemaVersion, v)
			}
			conn := connect(t, dsn)
			checkTags(t, conn, fs.fx)
			checkInvariantsVersion(t, conn, v)

			// The audit rows a push of that version writes (harbor-facts §2.14).
			table, sep := "audit_log_ext", "@"
			if v < 160 {
				table = "audit_log"
			}
			if v < 140 {
				sep = ":"
			}
			var tagged, byDigest int
			if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE resource !~ 'sha256:'), count(*) FILTER (WHERE resource ~ $1)
				FROM `+table+` WHERE operation = 'create' AND resource_type = 'artifact' AND username = 'harbor-import'`,
				`^[a-z0-9/._-]+`+strings.ReplaceAll(sep, ":", "\\:")+`sha256:[0-9a-f]{64}$`).Scan(&tagged, &byDigest); err != nil {
				t.Fatal(err)
			}
			if tagged != len(fs.fx.Images) || byDigest == 0 {
				t.Errorf("%s: got %d tag rows and %d by-digest rows (%q separator); want %d and the index children", table, tagged, byDigest, sep, len(fs.fx.Images))
			}
			// Columns that exist only in some versions hold what a push writes.
			if v >= 140 {
				var n int
				_ = conn.QueryRow(ctx, `SELECT count(*) FROM artifact WHERE artifact_type <> media_type AND manifest_media_type NOT LIKE '%index%' AND manifest_media_type NOT LIKE '%list%'`).Scan(&n)
				if n != 0 {
					t.Errorf("%d image artifacts with artifact_type other than their config media type", n)
				}
			}
			if v >= 40 {
				var n int
				_ = conn.QueryRow(ctx, `SELECT count(*) FROM blob WHERE status <> 'none' OR version <> 0`).Scan(&n)
				if n != 0 {
					t.Errorf("%d blobs not status none / version 0", n)
				}
			}
			before := dbState(t, conn)
			rep2, err := importer.Run(ctx, importer.Options{Source: fs.tarball, HarborData: data, DSN: dsn})
			if err != nil {
				t.Fatalf("second import: %v", err)
			}
			if rep2.Rows.Total() != 0 {
				t.Errorf("second import wrote rows: %+v", rep2.Rows)
			}
			if after := dbState(t, conn); !reflect.DeepEqual(before, after) {
				t.Errorf("second import changed rows:\n%s", diffStates(before, after))
			}
		})
	}
}

// checkInvariantsVersion runs checkInvariants' queries that exist in schema v.
func checkInvariantsVersion(t *testing.T, conn *pgx.Conn, v int) {
	t.Helper()
	if v >= 80 {
		checkInvariants(t, conn)
		return
	}
	// Temporary tables shadow the real ones for this transaction only.
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Before 2.5 there is no artifact_accessory table: it is empty.
	stmts := []string{`CREATE TEMP TABLE artifact_accessory (artifact_id int) ON COMMIT DROP`}
	if v < 50 {
		// The allowlist was cve_whitelist before 2.1, and a fresh install's
		// library got its row only from mig:0050 (2.2); projects created by
		// the API (and by harbor-import) always get one.
		real := "cve_allowlist"
		if v < 40 {
			real = "cve_whitelist"
		}
		stmts = append(stmts, `CREATE TEMP TABLE cve_allowlist ON COMMIT DROP AS
			SELECT project_id FROM `+real+` UNION SELECT project_id FROM project WHERE name = 'library'`)
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	checkInvariants(t, tx)
}

// TestDataMigrationsWarning: on Harbor 2.1–2.8 whose core has not yet
// marked data_migrations as done, the report warns that core will rewrite
// every artifact's metadata at its next start.
func TestDataMigrationsWarning(t *testing.T) {
	fs := classic(t)
	for _, tc := range []struct {
		version, dm int
		warn        bool
	}{{100, 0, true}, {100, 30, false}, {120, 0, false}} {
		t.Run(fmt.Sprintf("schema %d data_migrations %d", tc.version, tc.dm), func(t *testing.T) {
			dsn := harborDBVersion(t, tc.version)
			if _, err := connect(t, dsn).Exec(context.Background(), `UPDATE data_migrations SET version = $1`, tc.dm); err != nil {
				t.Fatal(err)
			}
			rep, err := importer.Run(context.Background(), importer.Options{Source: fs.tarball, HarborData: harborData(t), DSN: dsn, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Contains(strings.Join(rep.Warnings, "\n"), "data_migrations")
			if got != tc.warn {
				t.Errorf("got warnings %q; want a data_migrations warning: %v", rep.Warnings, tc.warn)
			}
		})
	}
}
