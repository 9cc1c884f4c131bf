package harborschema_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

// testDSNEnv names the variable holding the DSN of an empty PostgreSQL
// database. Every test applies the schema inside a transaction it rolls
// back, so the database stays empty and the tests can run again.
const testDSNEnv = "HARBOR_IMPORT_TEST_PG"

var _ harborschema.Execer = (pgx.Tx)(nil)

func TestVersions(t *testing.T) {
	got := harborschema.Versions()
	if want := []int{180}; !slices.Equal(got, want) {
		t.Fatalf("Versions() = %v, want %v", got, want)
	}
}

func TestApplyUnknownVersion(t *testing.T) {
	// The version is checked before the database is touched.
	err := harborschema.Apply(context.Background(), nil, 170)
	if !errors.Is(err, harborschema.ErrUnknownVersion) {
		t.Fatalf("Apply(170) error = %v, want ErrUnknownVersion", err)
	}
}

func TestApply(t *testing.T) {
	for _, version := range harborschema.Versions() {
		t.Run(stringVersion(version), func(t *testing.T) {
			tx := applyInTx(t, version)
			ctx := t.Context()

			t.Run("schema_migrations", func(t *testing.T) {
				rows, err := tx.Query(ctx, `SELECT version, dirty FROM schema_migrations`)
				if err != nil {
					t.Fatal(err)
				}
				type row struct {
					Version int64
					Dirty   bool
				}
				got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
				if err != nil {
					t.Fatal(err)
				}
				if want := []row{{int64(version), false}}; !slices.Equal(got, want) {
					t.Errorf("schema_migrations = %v, want %v", got, want)
				}
			})

			columns := []struct {
				table, column, dataType, nullable string
				dflt                              *string
			}{
				{"artifact", "artifact_type", "character varying", "NO", nil},
				{"artifact", "push_time", "timestamp without time zone", "YES", nil},
				{"quota_usage", "version", "bigint", "YES", ptr("0")},
				{"blob", "status", "character varying", "YES", ptr("'none'::character varying")},
				{"audit_log_ext", "project_id", "bigint", "YES", nil},
				{"project", "registry_id", "integer", "YES", nil},
				{"cve_allowlist", "id", "integer", "NO", ptr("nextval('cve_whitelist_id_seq'::regclass)")},
			}
			for _, c := range columns {
				t.Run(c.table+"."+c.column, func(t *testing.T) {
					var dataType, nullable string
					var dflt *string
					err := tx.QueryRow(ctx, `
						SELECT data_type, is_nullable, column_default
						FROM information_schema.columns
						WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
						c.table, c.column).Scan(&dataType, &nullable, &dflt)
					if err != nil {
						t.Fatalf("reading column: %v", err)
					}
					if dataType != c.dataType || nullable != c.nullable || deref(dflt) != deref(c.dflt) {
						t.Errorf("got type %q nullable %q default %q, want %q %q %q",
							dataType, nullable, deref(dflt), c.dataType, c.nullable, deref(c.dflt))
					}
				})
			}

			constraints := []struct{ table, name, def string }{
				{"artifact", "unique_artifact", "UNIQUE (repository_id, digest)"},
				{"artifact_blob", "unique_artifact_blob", "UNIQUE (digest_af, digest_blob)"},
				{"project_blob", "unique_project_blob", "UNIQUE (project_id, blob_id)"},
				{"tag", "unique_tag", "UNIQUE (repository_id, name)"},
				{"quota_usage", "quota_usage_reference_reference_id_key", "UNIQUE (reference, reference_id)"},
				{"artifact_accessory", "unique_artifact_accessory", "UNIQUE (artifact_id, subject_artifact_digest)"},
				{"tag", "tag_artifact_id_fkey", "FOREIGN KEY (artifact_id) REFERENCES artifact(id)"},
			}
			for _, c := range constraints {
				t.Run(c.name, func(t *testing.T) {
					var def string
					err := tx.QueryRow(ctx, `
						SELECT pg_get_constraintdef(oid) FROM pg_constraint
						WHERE conrelid = $1::regclass AND conname = $2`, c.table, c.name).Scan(&def)
					if err != nil {
						t.Fatalf("reading constraint: %v", err)
					}
					if def != c.def {
						t.Errorf("got %q, want %q", def, c.def)
					}
				})
			}

			seeds := []struct{ name, query, want string }{
				{"admin", `SELECT username || ' ' || sysadmin_flag || ' ' || deleted FROM harbor_user WHERE user_id = 1`, "admin true false"},
				{"anonymous", `SELECT username || ' ' || sysadmin_flag || ' ' || deleted FROM harbor_user WHERE user_id = 2`, "anonymous false true"},
				{"roles", `SELECT string_agg(role_id || ':' || name, ',' ORDER BY role_id) FROM role`, "1:projectAdmin,2:developer,3:guest,4:maintainer,5:limitedGuest"},
				{"library", `SELECT project_id || ' ' || owner_id || ' ' || coalesce(registry_id::text, 'NULL') FROM project WHERE name = 'library'`, "1 1 NULL"},
				{"member", `SELECT concat_ws(',', id, project_id, entity_id, entity_type, role) FROM project_member`, "1,1,1,u,1"},
				{"public", `SELECT value FROM project_metadata WHERE project_id = 1 AND name = 'public'`, "true"},
				{"cve_allowlist", `SELECT items FROM cve_allowlist WHERE project_id = 1`, "[]"},
				{"quota", `SELECT concat_ws(',', id, reference, reference_id, hard) FROM quota`, `1,project,1,{"storage": -1}`},
				{"quota_usage", `SELECT concat_ws(',', id, reference, reference_id, used, version) FROM quota_usage`, `1,project,1,{"storage": 0},0`},
				{"properties", `SELECT string_agg(k || '=' || v, ',') FROM properties`, "skip_audit_log_database=false"},
				{"next project id", `SELECT nextval('project_project_id_seq')::text`, "2"},
			}
			for _, s := range seeds {
				t.Run(s.name, func(t *testing.T) {
					var got string
					if err := tx.QueryRow(ctx, s.query).Scan(&got); err != nil {
						t.Fatal(err)
					}
					if got != s.want {
						t.Errorf("got %q, want %q", got, s.want)
					}
				})
			}

			t.Run("update_time trigger", func(t *testing.T) {
				var got time.Time
				err := tx.QueryRow(ctx, `
					UPDATE project SET update_time = '2000-01-01' WHERE project_id = 1 RETURNING update_time`).Scan(&got)
				if err != nil {
					t.Fatal(err)
				}
				if got.Year() == 2000 {
					t.Errorf("project.update_time = %v after UPDATE, want the trigger's now()", got)
				}
			})
		})
	}
}

// applyInTx connects to the database named by HARBOR_IMPORT_TEST_PG, skipping
// the test when it is unset, and applies the schema in a transaction that is
// rolled back when the test ends.
func applyInTx(t *testing.T, version int) pgx.Tx {
	t.Helper()
	dsn := os.Getenv(testDSNEnv)
	if dsn == "" {
		t.Skipf("%s is not set; it needs the DSN of an empty PostgreSQL database", testDSNEnv)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", testDSNEnv, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if err := harborschema.Apply(ctx, tx, version); err != nil {
		t.Fatal(err)
	}
	return tx
}

func stringVersion(v int) string { return "v" + strconv.Itoa(v) }

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
