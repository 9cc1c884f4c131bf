package importer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/importer"
	"github.com/jackc/pgx/v5"
)

// TestVerifyFindsDamage imports the classic fixture, damages one thing at a
// time (in a fresh copy each time) and checks Verify names it.
func TestVerifyFindsDamage(t *testing.T) {
	fs := classic(t)
	ctx := context.Background()
	type damage struct {
		name string
		do   func(t *testing.T, conn *pgx.Conn, v2 string) // damage
		want string                                        // substring of a problem
		deep bool
	}
	// A layer of alpine:latest, found through the database.
	layerOf := func(t *testing.T, conn *pgx.Conn) (repo, manifest, layer string) {
		err := conn.QueryRow(ctx, `SELECT a.repository_name, a.digest, b.digest FROM artifact a JOIN tag t ON t.artifact_id = a.id
			JOIN artifact_blob ab ON ab.digest_af = a.digest JOIN blob b ON b.digest = ab.digest_blob
			WHERE a.repository_name = 'library/alpine' AND t.name = 'latest' AND b.content_type LIKE '%layer%' OR
			      a.repository_name = 'library/alpine' AND t.name = 'latest' AND b.content_type LIKE '%rootfs%' LIMIT 1`).Scan(&repo, &manifest, &layer)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	blobFile := func(v2, d string) string {
		hex := strings.TrimPrefix(d, "sha256:")
		return filepath.Join(v2, "blobs", "sha256", hex[:2], hex, "data")
	}
	cases := []damage{
		{"layer data removed", func(t *testing.T, conn *pgx.Conn, v2 string) {
			_, _, l := layerOf(t, conn)
			if err := os.Remove(blobFile(v2, l)); err != nil {
				t.Fatal(err)
			}
		}, "data missing", false},
		{"layer data truncated", func(t *testing.T, conn *pgx.Conn, v2 string) {
			_, _, l := layerOf(t, conn)
			if err := os.Truncate(blobFile(v2, l), 3); err != nil {
				t.Fatal(err)
			}
		}, "data has 3 bytes", false},
		{"layer data corrupted, same size", func(t *testing.T, conn *pgx.Conn, v2 string) {
			_, _, l := layerOf(t, conn)
			f, err := os.OpenFile(blobFile(v2, l), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.WriteAt([]byte("xx"), 0)
			f.Close()
		}, "data hashes to", true},
		{"layer link removed", func(t *testing.T, conn *pgx.Conn, v2 string) {
			r, _, l := layerOf(t, conn)
			if err := os.RemoveAll(filepath.Join(v2, "repositories", r, "_layers", "sha256", strings.TrimPrefix(l, "sha256:"))); err != nil {
				t.Fatal(err)
			}
		}, "layer link missing", false},
		{"revision link wrong", func(t *testing.T, conn *pgx.Conn, v2 string) {
			r, m, l := layerOf(t, conn)
			p := filepath.Join(v2, "repositories", r, "_manifests", "revisions", "sha256", strings.TrimPrefix(m, "sha256:"), "link")
			if err := os.WriteFile(p, []byte(l), 0o644); err != nil {
				t.Fatal(err)
			}
			_ = os.Chown(p, 10000, 10000)
		}, "manifest revision link", false},
		{"wrong owner", func(t *testing.T, conn *pgx.Conn, v2 string) {
			_, _, l := layerOf(t, conn)
			if err := os.Chown(blobFile(v2, l), 0, 0); err != nil {
				t.Fatal(err)
			}
		}, "owned by 0:0", false},
		{"manifest self row missing", func(t *testing.T, conn *pgx.Conn, _ string) {
			_, m, _ := layerOf(t, conn)
			if _, err := conn.Exec(ctx, `DELETE FROM artifact_blob WHERE digest_af = $1 AND digest_blob = $1`, m); err != nil {
				t.Fatal(err)
			}
		}, "no artifact_blob row (manifest, manifest)", false},
		{"project_blob missing", func(t *testing.T, conn *pgx.Conn, _ string) {
			_, _, l := layerOf(t, conn)
			if _, err := conn.Exec(ctx, `DELETE FROM project_blob WHERE blob_id = (SELECT id FROM blob WHERE digest = $1)`, l); err != nil {
				t.Fatal(err)
			}
		}, "no project_blob row", false},
		{"blob row missing", func(t *testing.T, conn *pgx.Conn, _ string) {
			_, _, l := layerOf(t, conn)
			if _, err := conn.Exec(ctx, `DELETE FROM project_blob WHERE blob_id = (SELECT id FROM blob WHERE digest = $1)`, l); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, `DELETE FROM blob WHERE digest = $1`, l); err != nil {
				t.Fatal(err)
			}
		}, "has no blob row", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn, data := harborDB(t), harborData(t)
			if _, err := importer.Run(ctx, importer.Options{Source: fs.tarball, HarborData: data, DSN: dsn, Logger: testLogger(t)}); err != nil {
				t.Fatalf("import: %v", err)
			}
			rep, err := importer.Verify(ctx, importer.VerifyOptions{HarborData: data, DSN: dsn, Deep: tc.deep})
			if err != nil || len(rep.Problems) != 0 || rep.Artifacts < 10 || rep.Blobs < 10 {
				t.Fatalf("before damage: got %d artifacts, %d blobs, problems %v, %v; want >= 10 each and no problem", rep.Artifacts, rep.Blobs, rep.Problems, err)
			}
			conn := connect(t, dsn)
			tc.do(t, conn, filepath.Join(data, "registry", "docker", "registry", "v2"))
			rep, err = importer.Verify(ctx, importer.VerifyOptions{HarborData: data, DSN: dsn, Deep: tc.deep})
			if !errors.Is(err, importer.ErrVerifyFailed) {
				t.Fatalf("got error %v, want ErrVerifyFailed", err)
			}
			found := false
			for _, p := range rep.Problems {
				if strings.Contains(p.Problem, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem mentions %q; got %v", tc.want, rep.Problems)
			}
		})
	}
}

// TestVerifySharedBlobDamage removes a layer that several artifacts share:
// the blob is checked once, by whichever worker meets it first, yet every
// artifact that names it reports it, and the problems come in the rows'
// order (repository, digest), however the workers interleaved.
func TestVerifySharedBlobDamage(t *testing.T) {
	fs := classic(t)
	ctx := context.Background()
	dsn, data := harborDB(t), harborData(t)
	if _, err := importer.Run(ctx, importer.Options{Source: fs.tarball, HarborData: data, DSN: dsn, Logger: testLogger(t)}); err != nil {
		t.Fatalf("import: %v", err)
	}
	conn := connect(t, dsn)
	var layer string
	var sharers int
	// Artifacts, not artifact_blob rows: one manifest in two repositories
	// is two artifacts and one row.
	err := conn.QueryRow(ctx, `SELECT ab.digest_blob, count(*) FROM artifact a JOIN artifact_blob ab ON ab.digest_af = a.digest
		JOIN blob b ON b.digest = ab.digest_blob
		WHERE b.content_type LIKE '%layer%' OR b.content_type LIKE '%rootfs%'
		GROUP BY ab.digest_blob ORDER BY count(*) DESC, ab.digest_blob LIMIT 1`).Scan(&layer, &sharers)
	if err != nil {
		t.Fatal(err)
	}
	if sharers < 2 {
		t.Fatalf("the fixture's most shared layer %s has %d artifacts; want one shared", layer, sharers)
	}
	hex := strings.TrimPrefix(layer, "sha256:")
	if err := os.Remove(filepath.Join(data, "registry", "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")); err != nil {
		t.Fatal(err)
	}
	rep, err := importer.Verify(ctx, importer.VerifyOptions{HarborData: data, DSN: dsn})
	if !errors.Is(err, importer.ErrVerifyFailed) {
		t.Fatalf("got error %v, want ErrVerifyFailed", err)
	}
	var missing []string
	for _, p := range rep.Problems {
		if strings.Contains(p.Problem, "blob "+layer+": data missing") {
			missing = append(missing, p.Repository+"@"+p.Digest)
		}
	}
	if len(missing) != sharers {
		t.Errorf("%d artifacts reported the missing layer, want all %d that share it: %v", len(missing), sharers, missing)
	}
	for i := 1; i < len(rep.Problems); i++ {
		a, b := rep.Problems[i-1], rep.Problems[i]
		if a.Repository > b.Repository || a.Repository == b.Repository && a.Digest > b.Digest {
			t.Errorf("problems out of row order at %d: %s before %s", i, a, b)
		}
	}
}
