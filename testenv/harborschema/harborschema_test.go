package harborschema_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

// testDSNEnv names the variable holding the DSN of an existing PostgreSQL
// server to use instead of a container, as in the other packages' tests.
// When its role may create databases, each version gets a database of its
// own (dropped afterwards) and the versions run in parallel; otherwise the
// DSN's database must be empty, and each version is applied there in a
// transaction that is rolled back, one after the other.
const testDSNEnv = "HARBOR_IMPORT_TEST_PG"

var _ harborschema.Execer = (pgx.Tx)(nil)

var allVersions = []int{
	30, 31, 40, 41, 50, 51, 52, 53, 60, 61, 70, 71, 80, 81, 82, 90, 91,
	100, 110, 111, 120, 130, 140, 150, 160, 170, 171, 180, 181, 190,
}

func TestVersions(t *testing.T) {
	if got := harborschema.Versions(); !slices.Equal(got, allVersions) {
		t.Fatalf("Versions() = %v, want %v", got, allVersions)
	}
}

func TestReleaseOf(t *testing.T) {
	for v, want := range map[int]string{
		30:  "2.0.0-2.0.2",
		50:  "2.2.0",
		110: "2.8.0",
		111: "2.8.1-2.8.6",
		180: "2.15.0-2.15.2",
		190: "2.16.0",
		0:   "",
		15:  "",
		175: "",
		200: "",
	} {
		if got := harborschema.ReleaseOf(v); got != want {
			t.Errorf("ReleaseOf(%d) = %q, want %q", v, got, want)
		}
	}
	for _, v := range harborschema.Versions() {
		if harborschema.ReleaseOf(v) == "" {
			t.Errorf("ReleaseOf(%d) is empty for a listed version", v)
		}
	}
}

func TestScript(t *testing.T) {
	for _, v := range harborschema.Versions() {
		script, err := harborschema.Script(v)
		if err != nil {
			t.Fatalf("Script(%d): %v", v, err)
		}
		if strings.Contains(script, "{{") {
			t.Errorf("Script(%d) holds an unreplaced placeholder", v)
		}
		if !strings.Contains(script, "VALUES ("+strconv.Itoa(v)+", false") {
			t.Errorf("Script(%d) does not insert schema_migrations version %d", v, v)
		}
	}
}

func TestApplyUnknownVersion(t *testing.T) {
	// The version is checked before the database is touched.
	for _, v := range []int{0, 15, 175, 200} {
		err := harborschema.Apply(context.Background(), nil, v)
		if !errors.Is(err, harborschema.ErrUnknownVersion) {
			t.Errorf("Apply(%d) error = %v, want ErrUnknownVersion", v, err)
		}
		if _, err := harborschema.Script(v); !errors.Is(err, harborschema.ErrUnknownVersion) {
			t.Errorf("Script(%d) error = %v, want ErrUnknownVersion", v, err)
		}
	}
}

// span is the versions v with since <= v < before (before 0: no upper bound).
type span struct{ since, before int }

var always = span{}

func (s span) has(v int) bool { return v >= s.since && (s.before == 0 || v < s.before) }

// querier is what the checks need of a *pgx.Conn or pgx.Tx.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func TestApply(t *testing.T) {
	db := openServer(t)
	for _, version := range harborschema.Versions() {
		t.Run(stringVersion(version), func(t *testing.T) {
			if db.perVersion {
				t.Parallel()
			}
			q := db.apply(t, version)
			checkVersion(t, q, version)
		})
	}
}

// checkVersion checks what distinguishes the schema versions (tables,
// columns, constraints and indexes that come and go, seed rows) plus what a
// few importer-relevant columns look like at every version.
func checkVersion(t *testing.T, q querier, version int) {
	ctx := t.Context()

	t.Run("tables", func(t *testing.T) {
		tables := []struct {
			name string
			in   span
		}{
			{"artifact", always},
			{"quota_usage", always},
			{"cve_whitelist", span{30, 40}}, // renamed by mig 0040
			{"cve_allowlist", span{40, 0}},
			{"data_migrations", span{40, 0}},
			{"artifact_accessory", span{80, 0}},
			{"audit_log", always},
			{"audit_log_ext", span{160, 0}},
		}
		for _, tb := range tables {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, tb.name).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists != tb.in.has(version) {
				t.Errorf("table %s exists = %v, want %v", tb.name, exists, !exists)
			}
		}
	})

	columns := []struct {
		table, column string
		in            span
		dataType      string
		nullable      string
		dflt          *string
	}{
		{"artifact", "push_time", always, "timestamp without time zone", "YES", nil},
		{"artifact", "icon", span{40, 0}, "character varying", "YES", nil},
		{"artifact", "artifact_type", span{140, 0}, "character varying", "NO", nil},
		{"blob", "update_time", span{40, 0}, "timestamp without time zone", "YES", ptr("CURRENT_TIMESTAMP")},
		{"blob", "status", span{40, 0}, "character varying", "YES", ptr("'none'::character varying")},
		{"blob", "version", span{40, 0}, "bigint", "YES", ptr("0")},
		{"quota", "version", span{70, 0}, "bigint", "YES", ptr("0")},
		{"quota_usage", "version", span{70, 0}, "bigint", "YES", ptr("0")},
		{"project", "registry_id", span{40, 0}, "integer", "YES", nil},
		{"schema_migrations", "data_version", span{30, 40}, "integer", "YES", nil},
		{"cve_whitelist", "id", span{30, 40}, "integer", "NO", ptr("nextval('cve_whitelist_id_seq'::regclass)")},
		{"cve_allowlist", "id", span{40, 0}, "integer", "NO", ptr("nextval('cve_whitelist_id_seq'::regclass)")},
		{"data_migrations", "version", span{40, 0}, "integer", "YES", nil},
		{"artifact_accessory", "subject_artifact_id", span{80, 0}, "bigint", "YES", nil},
		{"artifact_accessory", "subject_artifact_digest", span{110, 0}, "character varying", "YES", nil},
		{"artifact_accessory", "subject_artifact_repo", span{110, 0}, "character varying", "YES", nil},
		{"artifact_accessory", "source", span{190, 0}, "character varying", "YES", ptr("'local'::character varying")},
		{"audit_log_ext", "project_id", span{160, 0}, "bigint", "YES", nil},
	}
	for _, c := range columns {
		t.Run(c.table+"."+c.column, func(t *testing.T) {
			var dataType, nullable string
			var dflt *string
			err := q.QueryRow(ctx, `
				SELECT data_type, is_nullable, column_default
				FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
				c.table, c.column).Scan(&dataType, &nullable, &dflt)
			switch {
			case errors.Is(err, pgx.ErrNoRows) && !c.in.has(version):
				return
			case errors.Is(err, pgx.ErrNoRows):
				t.Fatal("column missing")
			case err != nil:
				t.Fatalf("reading column: %v", err)
			case !c.in.has(version):
				t.Fatal("column present, want none")
			}
			if dataType != c.dataType || nullable != c.nullable || deref(dflt) != deref(c.dflt) {
				t.Errorf("got type %q nullable %q default %q, want %q %q %q",
					dataType, nullable, deref(dflt), c.dataType, c.nullable, deref(c.dflt))
			}
		})
	}

	t.Run("artifact column numbers", func(t *testing.T) {
		// mig 0030 dropped 1.9's columns 4 (tag) and 7 (creation_time).
		var got string
		err := q.QueryRow(ctx, `
			SELECT string_agg(ordinal_position::text, ',' ORDER BY ordinal_position)
			FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'artifact'`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		want := "1,2,3,5,6,8,9,10,11,12,13,14,15"
		if version >= 40 {
			want += ",16"
		}
		if version >= 140 {
			want += ",17"
		}
		if got != want {
			t.Errorf("ordinal positions %s, want %s", got, want)
		}
	})

	cveTable := "cve_allowlist"
	if version < 40 {
		cveTable = "cve_whitelist"
	}
	constraints := []struct {
		table, name, def string
		in               span
	}{
		{"artifact", "unique_artifact", "UNIQUE (repository_id, digest)", always},
		{"artifact_blob", "unique_artifact_blob", "UNIQUE (digest_af, digest_blob)", always},
		{"project_blob", "unique_project_blob", "UNIQUE (project_id, blob_id)", always},
		{"blob", "blob_digest_key", "UNIQUE (digest)", always},
		{"tag", "unique_tag", "UNIQUE (repository_id, name)", always},
		{"tag", "tag_artifact_id_fkey", "FOREIGN KEY (artifact_id) REFERENCES artifact(id)", always},
		{"project", "project_name_key", "UNIQUE (name)", always},
		{"quota_usage", "quota_usage_reference_reference_id_key", "UNIQUE (reference, reference_id)", always},
		{cveTable, "cve_whitelist_pkey", "PRIMARY KEY (id)", always},
		{cveTable, "cve_whitelist_project_id_key", "UNIQUE (project_id)", always},
		{"artifact_accessory", "artifact_accessory_artifact_id_fkey", "FOREIGN KEY (artifact_id) REFERENCES artifact(id)", span{80, 0}},
		{"artifact_accessory", "artifact_accessory_subject_artifact_id_fkey", "FOREIGN KEY (subject_artifact_id) REFERENCES artifact(id)", span{80, 110}},
		{"artifact_accessory", "unique_artifact_accessory", "UNIQUE (artifact_id, subject_artifact_id)", span{80, 110}},
		{"artifact_accessory", "unique_artifact_accessory", "UNIQUE (artifact_id, subject_artifact_digest)", span{110, 0}},
	}
	for _, c := range constraints {
		t.Run(c.name+" "+c.def, func(t *testing.T) {
			var def string
			err := q.QueryRow(ctx, `
				SELECT pg_get_constraintdef(oid) FROM pg_constraint
				WHERE conrelid = to_regclass($1) AND conname = $2`, c.table, c.name).Scan(&def)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				t.Fatalf("reading constraint: %v", err)
			}
			if present := err == nil && def == c.def; present != c.in.has(version) {
				t.Errorf("%s on %s: got %q, want present = %v", c.def, c.table, def, c.in.has(version))
			}
		})
	}

	t.Run("indexes", func(t *testing.T) {
		indexes := []struct {
			name string
			in   span
		}{
			{"idx_status", span{40, 0}},
			{"idx_artifact_push_time", span{53, 0}},
			{"idx_tag_artifact_id", span{53, 0}},
			{"idx_audit_log_op_time", span{60, 0}},
			{"idx_artifact_repository_name", span{81, 0}},
			{"idx_artifact_digest_project_id", span{90, 0}},
			{"idx_artifact_blob_digest_blob", span{90, 0}},
			{"idx_artifact_accessory_subject_artifact_id", span{130, 0}},
			{"idx_audit_log_ext_project_id_optime", span{160, 0}},
		}
		for _, ix := range indexes {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, ix.name).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists != ix.in.has(version) {
				t.Errorf("index %s exists = %v, want %v", ix.name, exists, !exists)
			}
		}
	})

	maintainer, cveRow, properties := "maintainer", "[]", "skip_audit_log_database=false"
	if version < 40 {
		maintainer = "master"
	}
	if version < 50 {
		cveRow = "none" // library's row came with mig 0050
	}
	if version < 171 {
		properties = "none"
	}
	migrations := strconv.Itoa(version) + " false"
	if version < 40 {
		migrations += " 30"
	}
	quotaUsage := `1,project,1,{"storage": 0}`
	if version >= 70 {
		quotaUsage += ",0"
	}
	seeds := []struct {
		name, query, want string
		in                span
	}{
		{"schema_migrations", `SELECT string_agg(version || ' ' || dirty, ';') FROM schema_migrations`, migrations, span{40, 0}},
		{"schema_migrations", `SELECT string_agg(version || ' ' || dirty || ' ' || data_version, ';') FROM schema_migrations`, migrations, span{30, 40}},
		{"admin", `SELECT username || ' ' || sysadmin_flag || ' ' || deleted FROM harbor_user WHERE user_id = 1`, "admin true false", always},
		{"anonymous", `SELECT username || ' ' || sysadmin_flag || ' ' || deleted FROM harbor_user WHERE user_id = 2`, "anonymous false true", always},
		{"roles", `SELECT string_agg(role_id || ':' || name, ',' ORDER BY role_id) FROM role`, "1:projectAdmin,2:developer,3:guest,4:" + maintainer + ",5:limitedGuest", always},
		{"library", `SELECT project_id || ' ' || owner_id || ' ' || coalesce(registry_id::text, 'NULL') FROM project WHERE name = 'library'`, "1 1 NULL", span{40, 0}},
		{"library", `SELECT project_id || ' ' || owner_id FROM project WHERE name = 'library'`, "1 1", span{30, 40}},
		{"member", `SELECT concat_ws(',', id, project_id, entity_id, entity_type, role) FROM project_member`, "1,1,1,u,1", always},
		{"public", `SELECT value FROM project_metadata WHERE project_id = 1 AND name = 'public'`, "true", always},
		{"cve allowlist", `SELECT coalesce(max(items), 'none') FROM ` + cveTable + ` WHERE project_id = 1`, cveRow, always},
		{"quota", `SELECT concat_ws(',', id, reference, reference_id, hard) FROM quota`, `1,project,1,{"storage": -1}`, always},
		{"quota_usage", `SELECT concat_ws(',', id, reference, reference_id, used) FROM quota_usage`, quotaUsage, span{30, 70}},
		{"quota_usage", `SELECT concat_ws(',', id, reference, reference_id, used, version) FROM quota_usage`, quotaUsage, span{70, 0}},
		{"data_migrations", `SELECT string_agg(id || ':' || version, ',') FROM data_migrations`, "1:30", span{40, 120}},
		{"data_migrations", `SELECT string_agg(id || ':' || version, ',') FROM data_migrations`, "1:0", span{120, 0}},
		{"properties", `SELECT coalesce(string_agg(k || '=' || v, ','), 'none') FROM properties`, properties, always},
		{"next project id", `SELECT nextval('project_project_id_seq')::text`, "2", always},
		{"next quota_usage id", `SELECT nextval('quota_usage_id_seq')::text`, "1", always},
	}
	for _, s := range seeds {
		if !s.in.has(version) {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			var got string
			if err := q.QueryRow(ctx, s.query).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != s.want {
				t.Errorf("got %q, want %q", got, s.want)
			}
		})
	}

	t.Run("update_time trigger", func(t *testing.T) {
		var got time.Time
		err := q.QueryRow(ctx, `
			UPDATE project SET update_time = '2000-01-01' WHERE project_id = 1 RETURNING update_time`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got.Year() == 2000 {
			t.Errorf("project.update_time = %v after UPDATE, want the trigger's now()", got)
		}
	})
}

// testServer is the PostgreSQL server TestApply applies the schema on.
type testServer struct {
	cfg *pgx.ConnConfig
	// perVersion: the role may create databases, so each version gets one.
	perVersion bool
}

// openServer returns the server of HARBOR_IMPORT_TEST_PG, or starts a
// PostgreSQL container that t's cleanup removes; it skips t when neither is
// available.
func openServer(t *testing.T) *testServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dsn := os.Getenv(testDSNEnv)
	if dsn == "" {
		if err := testenv.DockerAvailable(ctx); err != nil {
			t.Skipf("no PostgreSQL: Docker is not available (%v) and %s is not set", err, testDSNEnv)
		}
		ctr, err := testenv.RunPostgres(ctx)
		testcontainers.CleanupContainer(t, ctr)
		if err != nil {
			t.Fatalf("starting PostgreSQL: %v", err)
		}
		dsn = ctr.ConnString("postgres")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parsing %s: %v", testDSNEnv, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connecting to %s: %v", testDSNEnv, err)
	}
	defer conn.Close(context.Background())
	s := &testServer{cfg: cfg}
	err = conn.QueryRow(ctx, `SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&s.perVersion)
	if err != nil {
		t.Fatalf("reading the role's rights: %v", err)
	}
	return s
}

// apply applies version, in a database of its own when the server allows,
// else in a transaction on the DSN's database rolled back when t ends.
func (s *testServer) apply(t *testing.T, version int) querier {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	connect := func(cfg *pgx.ConnConfig) *pgx.Conn {
		t.Helper()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connecting to %s: %v", cfg.Database, err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	if !s.perVersion {
		tx, err := connect(s.cfg).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		if err := harborschema.Apply(ctx, tx, version); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "harborschema_" + strconv.Itoa(version) + "_" + hex.EncodeToString(b)
	admin := connect(s.cfg)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	// Cleanups run last-in first-out: the version's connection closes first.
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	cfg := s.cfg.Copy()
	cfg.Database = name
	conn := connect(cfg)
	if err := harborschema.Apply(ctx, conn, version); err != nil {
		t.Fatal(err)
	}
	return conn
}

func stringVersion(v int) string { return "v" + strconv.Itoa(v) }

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
