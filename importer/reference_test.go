package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/jackc/pgx/v5"
)

// referenceDir holds the rows a real Harbor v2.15.2 push wrote
// (shared/reference/real-push, beside the checkout).
func referenceDir(t *testing.T) string {
	t.Helper()
	for _, d := range []string{os.Getenv("HARBOR_IMPORT_REFERENCE"), "../../shared/reference/real-push", "../shared/reference/real-push"} {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, "multi-arch-index", "artifact.sql")); err == nil && !fi.IsDir() {
			return d
		}
	}
	t.Skip("shared/reference/real-push not found beside the checkout (set HARBOR_IMPORT_REFERENCE)")
	return ""
}

// loadReference replaces the push tables of conn's database by the rows of
// one recorded case (pg_dump --data-only --column-inserts).
func loadReference(t *testing.T, conn *pgx.Conn, dir string) {
	t.Helper()
	ctx := context.Background()
	tables := []string{"project", "project_member", "project_metadata", "cve_allowlist", "quota", "quota_usage", "repository",
		"artifact", "tag", "blob", "artifact_blob", "project_blob", "artifact_reference", "artifact_accessory", "audit_log_ext"}
	var present []string
	for _, tb := range tables {
		if _, err := os.Stat(filepath.Join(dir, tb+".sql")); err == nil {
			present = append(present, tb)
		}
	}
	if _, err := conn.Exec(ctx, "TRUNCATE "+strings.Join(present, ", ")+" CASCADE"); err != nil {
		t.Fatalf("truncating: %v", err)
	}
	for _, tb := range present {
		b, err := os.ReadFile(filepath.Join(dir, tb+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `\`) {
				continue // psql meta-commands (\restrict)
			}
			keep = append(keep, line)
		}
		if _, err := conn.Exec(ctx, strings.Join(keep, "\n")); err != nil {
			t.Fatalf("loading %s/%s.sql: %v", dir, tb, err)
		}
	}
	// pg_dump's files empty the search_path for the session.
	if _, err := conn.Exec(ctx, "RESET search_path"); err != nil {
		t.Fatal(err)
	}
}

// pushShape describes, with ids, timestamps, sizes and digests taken out,
// what a push wrote for project library: the same images pushed for real
// and imported must give the same shape. Digests are replaced by the
// content type of their blob row, which says what role they play.
var pushShape = map[string]string{
	"artifacts": `SELECT a.repository_name, a.type, a.media_type, a.manifest_media_type, a.artifact_type, a.extra_attrs,
		COALESCE(a.annotations::text, 'NULL'), a.icon, a.pull_time IS NULL OR true,
		(SELECT string_agg(t.name, ',' ORDER BY t.name) FROM tag t WHERE t.artifact_id = a.id),
		(SELECT count(*) FROM artifact_reference r WHERE r.child_id = a.id),
		(SELECT count(*) FROM artifact_reference r WHERE r.parent_id = a.id),
		a.project_id = r.project_id AND a.repository_id = r.repository_id
		FROM artifact a JOIN repository r ON r.repository_id = a.repository_id JOIN project p ON p.project_id = a.project_id
		WHERE p.name = 'library'`,
	"artifact blobs": `SELECT a.repository_name, a.manifest_media_type, b.content_type, b.status, b.version, ab.digest_blob = ab.digest_af
		FROM artifact a JOIN artifact_blob ab ON ab.digest_af = a.digest JOIN blob b ON b.digest = ab.digest_blob
		JOIN project p ON p.project_id = a.project_id WHERE p.name = 'library'`,
	"project blobs": `SELECT p.name, b.content_type FROM project_blob pb JOIN project p ON p.project_id = pb.project_id
		JOIN blob b ON b.id = pb.blob_id WHERE p.name = 'library'`,
	"references": `SELECT pa.repository_name, pa.manifest_media_type, ca.manifest_media_type, ar.platform, COALESCE(ar.urls, 'NULL'),
		COALESCE(ar.annotations::text, 'NULL'), ar.child_digest = ca.digest
		FROM artifact_reference ar JOIN artifact pa ON pa.id = ar.parent_id JOIN artifact ca ON ca.id = ar.child_id`,
	"repositories": `SELECT r.name, p.name, r.description, r.star_count FROM repository r JOIN project p ON p.project_id = r.project_id`,
	"quota": `SELECT p.name, q.hard::text, (u.used->>'storage')::bigint = (SELECT COALESCE(sum(b.size), 0) FROM project_blob pb
		JOIN blob b ON b.id = pb.blob_id WHERE pb.project_id = p.project_id), q.id = u.id
		FROM project p JOIN quota q ON q.reference = 'project' AND q.reference_id = p.project_id::text JOIN quota_usage u ON u.reference_id = q.reference_id`,
	"audit": `SELECT l.project_id, l.operation, l.resource_type,
		regexp_replace(l.resource, 'sha256:[0-9a-f]{64}', 'DIGEST'), regexp_replace(l.op_desc, 'sha256:[0-9a-f]{64}', 'DIGEST'), l.op_result
		FROM audit_log_ext l WHERE l.operation = 'create' AND l.resource_type = 'artifact'`,
}

func shapeOf(t *testing.T, conn *pgx.Conn) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, q := range pushShape {
		rows, err := conn.Query(context.Background(), "SELECT x::text FROM ("+q+") x ORDER BY 1")
		if err != nil {
			t.Fatalf("shape %s: %v", name, err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("shape %s: %v", name, err)
		}
		out[name] = vals
	}
	return out
}

// TestRowsMatchARealPush imports the images a real Harbor v2.15.2 recorded
// (same configs, same kinds: Docker schema 2, OCI manifest, OCI index with
// two platforms) and compares the rows' shape with the recorded ones.
func TestRowsMatchARealPush(t *testing.T) {
	ref := referenceDir(t)
	set := sharedFixture(t, "reference", testenv.PushReferenceCases)
	ctx := context.Background()

	refConn := connect(t, harborDB(t))
	loadReference(t, refConn, filepath.Join(ref, "multi-arch-index"))
	want := shapeOf(t, refConn)

	dsn := harborDB(t)
	if _, err := importer.Run(ctx, importer.Options{Source: set.tarball, HarborData: harborData(t), DSN: dsn, Logger: testLogger(t)}); err != nil {
		t.Fatalf("import: %v", err)
	}
	got := shapeOf(t, connect(t, dsn))
	for name := range pushShape {
		if !reflect.DeepEqual(got[name], want[name]) {
			t.Errorf("%s differ from the real push (- push, + import):\n%s", name, diffLines(want[name], got[name]))
		}
	}
	if len(want["artifacts"]) != 5 {
		t.Errorf("reference shape has %d artifacts, want 5: is the reference complete?", len(want["artifacts"]))
	}
}

// projectShape describes project "handmade" without ids and timestamps.
var projectShape = map[string]string{
	"project":       `SELECT p.name, p.owner_id, p.deleted, COALESCE(p.registry_id::text, 'NULL'), p.creation_time = p.update_time FROM project p WHERE p.name = 'handmade'`,
	"member":        `SELECT m.entity_id, m.entity_type, m.role FROM project_member m JOIN project p ON p.project_id = m.project_id WHERE p.name = 'handmade'`,
	"metadata":      `SELECT md.name, md.value FROM project_metadata md JOIN project p ON p.project_id = md.project_id WHERE p.name = 'handmade'`,
	"cve allowlist": `SELECT c.items, c.expires_at IS NULL FROM cve_allowlist c JOIN project p ON p.project_id = c.project_id WHERE p.name = 'handmade'`,
	"quota": `SELECT q.reference, q.hard::text, q.version, q.id = u.id, u.reference FROM quota q JOIN project p ON q.reference_id = p.project_id::text
		JOIN quota_usage u ON u.reference_id = q.reference_id AND u.reference = q.reference WHERE p.name = 'handmade'`,
	"audit": `SELECT l.operation, l.resource_type, l.resource, l.op_desc, l.op_result, l.project_id = p.project_id FROM audit_log_ext l
		JOIN project p ON p.name = 'handmade' WHERE l.resource_type = 'project'`,
}

// TestProjectCreationMatchesTheAPI compares the rows of a project the
// importer creates with those Harbor's API wrote for project "handmade".
func TestProjectCreationMatchesTheAPI(t *testing.T) {
	ref := referenceDir(t)
	set := sharedFixture(t, "reference", testenv.PushReferenceCases)
	refConn := connect(t, harborDB(t))
	loadReference(t, refConn, filepath.Join(ref, "project-create"))
	dsn := harborDB(t)
	_, err := importer.Run(context.Background(), importer.Options{Source: set.tarball, HarborData: harborData(t), DSN: dsn,
		DefaultProject: "handmade", Include: []string{"single-v2s2"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	conn := connect(t, dsn)
	for name, q := range projectShape {
		get := func(c *pgx.Conn) []string {
			rows, err := c.Query(context.Background(), "SELECT x::text FROM ("+q+") x ORDER BY 1")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			v, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return v
		}
		want, got := get(refConn), get(conn)
		if len(want) == 0 {
			t.Errorf("%s: the reference has no rows", name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differ from the API's (- API, + import):\n%s", name, diffLines(want, got))
		}
	}
}
