package harbordb_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/jackc/pgx/v5"
)

// TestInspectFindsEveryChunk: Inspect asks the database about digests a
// few thousand at a time, read from a spool as it goes; rows that exist
// in the first, a middle and the last chunk are all found, and no other.
func TestInspectFindsEveryChunk(t *testing.T) {
	ctx := context.Background()
	conn := harborConn(t)
	const n = 20000 // three chunks of Inspect's 8,192
	digest := func(i int) string { return fmt.Sprintf("sha256:%064x", i+1) }
	const repo = "library/chunks"
	batch := func(ids ...int) *harbordb.Batch {
		b := &harbordb.Batch{
			Projects:     []harbordb.Project{{Name: "library"}},
			Repositories: []harbordb.Repository{{Name: repo, Project: "library"}},
		}
		for _, i := range ids {
			d := digest(i)
			b.Artifacts = append(b.Artifacts, ociImage(repo, d, 100))
			b.Tags = append(b.Tags, harbordb.Tag{Repository: repo, Name: fmt.Sprintf("t%d", i), Digest: d})
			b.Blobs = append(b.Blobs, harbordb.Blob{Digest: d, ContentType: "application/vnd.oci.image.manifest.v1+json", Size: 100})
			b.ArtifactBlobs = append(b.ArtifactBlobs, harbordb.ArtifactBlob{ArtifactDigest: d, BlobDigest: d})
			b.ProjectBlobs = append(b.ProjectBlobs, harbordb.ProjectBlob{Project: "library", BlobDigest: d})
		}
		return b
	}
	stored := []int{0, 8191, 8192, 12345, n - 1}
	if _, err := load(ctx, conn, harbordb.SchemaFor(180), batch(stored...)); err != nil {
		t.Fatal(err)
	}

	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	for _, every := range []int{-1, 5000} { // all in memory; mostly spooled
		t.Run(fmt.Sprintf("flush every %d", every), func(t *testing.T) {
			var st *harbordb.State
			err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				var err error
				st, err = harbordb.Inspect(ctx, tx, spoolOf(t, batch(all...), every))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Artifacts) != len(stored) || len(st.Blobs) != len(stored) || len(st.ProjectBlobs) != len(stored) {
				t.Errorf("found %d artifacts, %d blobs, %d project blobs; want %d of each",
					len(st.Artifacts), len(st.Blobs), len(st.ProjectBlobs), len(stored))
			}
			for _, i := range stored {
				d := digest(i)
				if !st.Artifacts[repo+"@"+d] || !st.Blobs[d] || !st.ProjectBlobs["library\x00"+d] {
					t.Errorf("row %d (%s): artifact %v, blob %v, project blob %v; want all found",
						i, d, st.Artifacts[repo+"@"+d], st.Blobs[d], st.ProjectBlobs["library\x00"+d])
				}
			}
			if len(st.Tags) != len(stored) {
				t.Errorf("found %d tags, want %d", len(st.Tags), len(stored))
			}
		})
	}
}
