package harbordb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/harbordb"
)

// TestLoadWritesEachRowOnce: the blob, project_blob and artifact_blob steps
// write a row once however often the batch names it (a manifest may list
// the same layer twice; a Batch may repeat rows), and skip the rows Harbor
// already holds, as a push does (harbor-facts §2.9-2.11).
func TestLoadWritesEachRowOnce(t *testing.T) {
	ctx := context.Background()
	conn := harborConn(t)
	dig := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	const (
		manifest = "application/vnd.oci.image.manifest.v1+json"
		layer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	)
	m1, m2, l1, l2 := dig("1"), dig("2"), dig("a"), dig("b")
	loaded := func(b *harbordb.Batch) harbordb.Counts {
		t.Helper()
		c, err := load(ctx, conn, harbordb.SchemaFor(180), b)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return c
	}
	rows := func(table string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// One image whose manifest lists layer l1 twice, every row named twice.
	first := &harbordb.Batch{
		Projects:      []harbordb.Project{{Name: "library"}},
		Repositories:  []harbordb.Repository{{Name: "library/a", Project: "library"}},
		Artifacts:     []harbordb.Artifact{ociImage("library/a", m1, 300)},
		Tags:          []harbordb.Tag{{Repository: "library/a", Name: "v1", Digest: m1}},
		Blobs:         []harbordb.Blob{{Digest: m1, ContentType: manifest, Size: 100}, {Digest: l1, ContentType: layer, Size: 200}, {Digest: l1, ContentType: layer, Size: 200}},
		ArtifactBlobs: []harbordb.ArtifactBlob{{ArtifactDigest: m1, BlobDigest: l1}, {ArtifactDigest: m1, BlobDigest: l1}, {ArtifactDigest: m1, BlobDigest: m1}, {ArtifactDigest: m1, BlobDigest: m1}},
		ProjectBlobs:  []harbordb.ProjectBlob{{Project: "library", BlobDigest: l1}, {Project: "library", BlobDigest: m1}, {Project: "library", BlobDigest: l1}},
	}
	c := loaded(first)
	if c.Blobs != 2 || c.ArtifactBlobs != 2 || c.ProjectBlobs != 2 {
		t.Errorf("first load counted blobs %d, artifact_blobs %d, project_blobs %d; want 2, 2, 2", c.Blobs, c.ArtifactBlobs, c.ProjectBlobs)
	}

	// A second image sharing l1, with the first one's rows named again.
	second := &harbordb.Batch{
		Projects:      []harbordb.Project{{Name: "library"}},
		Repositories:  []harbordb.Repository{{Name: "library/b", Project: "library"}},
		Artifacts:     []harbordb.Artifact{ociImage("library/b", m2, 450)},
		Tags:          []harbordb.Tag{{Repository: "library/b", Name: "v1", Digest: m2}},
		Blobs:         []harbordb.Blob{{Digest: m2, ContentType: manifest, Size: 150}, {Digest: l1, ContentType: layer, Size: 200}, {Digest: l2, ContentType: layer, Size: 100}, {Digest: m1, ContentType: manifest, Size: 100}},
		ArtifactBlobs: []harbordb.ArtifactBlob{{ArtifactDigest: m2, BlobDigest: l1}, {ArtifactDigest: m2, BlobDigest: l2}, {ArtifactDigest: m2, BlobDigest: m2}, {ArtifactDigest: m1, BlobDigest: l1}},
		ProjectBlobs:  []harbordb.ProjectBlob{{Project: "library", BlobDigest: l1}, {Project: "library", BlobDigest: l2}, {Project: "library", BlobDigest: m2}},
	}
	c = loaded(second)
	if c.Blobs != 2 || c.ArtifactBlobs != 3 || c.ProjectBlobs != 2 {
		t.Errorf("second load counted blobs %d, artifact_blobs %d, project_blobs %d; want 2, 3, 2", c.Blobs, c.ArtifactBlobs, c.ProjectBlobs)
	}
	for table, want := range map[string]int{"blob": 4, "artifact_blob": 5, "project_blob": 4, "artifact": 2} {
		if got := rows(table); got != want {
			t.Errorf("%s holds %d rows, want %d", table, got, want)
		}
	}
	// Quota counts each of the project's blobs once: 100+200+150+100.
	var used int64
	if err := conn.QueryRow(ctx, `SELECT (u.used->>'storage')::bigint FROM quota_usage u JOIN project p ON u.reference_id = p.project_id::text WHERE p.name = 'library'`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	if used != 550 {
		t.Errorf("library's quota usage is %d, want 550", used)
	}
	// Loading the second batch again writes no blob row of any kind.
	if c = loaded(second); c.Blobs != 0 || c.ArtifactBlobs != 0 || c.ProjectBlobs != 0 {
		t.Errorf("loading again counted blobs %d, artifact_blobs %d, project_blobs %d; want none", c.Blobs, c.ArtifactBlobs, c.ProjectBlobs)
	}
}
