package testenv_test

import (
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
)

// TestHarborInvariantsFindBreakage: a fresh Harbor holds no violation; an
// artifact written without its rows shows the violations GC would act on.
func TestHarborInvariantsFindBreakage(t *testing.T) {
	requireDocker(t)
	ctx := t.Context()
	ctr, err := testenv.RunPostgres(ctx)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("RunPostgres: %v", err)
	}
	dsn, err := ctr.CreateDatabase(ctx, "inv", "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := harborschema.Apply(ctx, conn, 180); err != nil {
		t.Fatal(err)
	}
	if bad, err := testenv.HarborInvariants(ctx, conn); err != nil || len(bad) != 0 {
		t.Fatalf("fresh Harbor: got %v, %v; want no violation", bad, err)
	}
	d := "sha256:" + strings.Repeat("c", 64)
	if _, err := conn.Exec(ctx, `INSERT INTO repository (name, project_id) VALUES ('library/x', 1);
		INSERT INTO artifact (project_id, repository_name, digest, type, repository_id, media_type, manifest_media_type, size, artifact_type)
		SELECT 1, 'library/x', '`+d+`', 'IMAGE', repository_id, 'm', 'application/vnd.oci.image.manifest.v1+json', 10, 'm' FROM repository`); err != nil {
		t.Fatal(err)
	}
	bad, err := testenv.HarborInvariants(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bad, "\n")
	for _, want := range []string{"artifact without its (manifest, manifest) artifact_blob row: library/x@" + d,
		"untagged artifact that is neither an index child nor an accessory: library/x@" + d} {
		if !strings.Contains(got, want) {
			t.Errorf("violations lack %q; got:\n%s", want, got)
		}
	}
}
