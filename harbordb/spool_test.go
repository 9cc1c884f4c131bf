package harbordb_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/harbor-import/harbor-import/harbordb"
)

// spoolOf copies b into a Spool, flushing after every `every` artifacts so
// the rows end up partly on disk, partly in memory (every < 0: all stay in
// memory).
func spoolOf(t *testing.T, b *harbordb.Batch, every int) *harbordb.Spool {
	t.Helper()
	s, err := harbordb.NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Settings, s.Projects, s.Repositories = b.Settings, b.Projects, b.Repositories
	// Rows go in chunks, as the importer adds them per repository.
	chunk := func(i, n int) (int, int) { return min(i, n), min(i+max(every, 1), n) }
	for i := 0; i < max(len(b.Artifacts), len(b.ArtifactBlobs), len(b.ProjectBlobs), len(b.Blobs)); i += max(every, 1) {
		lo, hi := chunk(i, len(b.Artifacts))
		s.Artifacts = append(s.Artifacts, b.Artifacts[lo:hi]...)
		lo, hi = chunk(i, len(b.References))
		s.References = append(s.References, b.References[lo:hi]...)
		lo, hi = chunk(i, len(b.Tags))
		s.Tags = append(s.Tags, b.Tags[lo:hi]...)
		lo, hi = chunk(i, len(b.Blobs))
		s.Blobs = append(s.Blobs, b.Blobs[lo:hi]...)
		lo, hi = chunk(i, len(b.ArtifactBlobs))
		s.ArtifactBlobs = append(s.ArtifactBlobs, b.ArtifactBlobs[lo:hi]...)
		lo, hi = chunk(i, len(b.ProjectBlobs))
		s.ProjectBlobs = append(s.ProjectBlobs, b.ProjectBlobs[lo:hi]...)
		lo, hi = chunk(i, len(b.Accessories))
		s.Accessories = append(s.Accessories, b.Accessories[lo:hi]...)
		if every > 0 {
			if err := s.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
		}
	}
	return s
}

// TestSpoolScriptIsTheBatchScript: a Batch spooled to disk (in chunks, the
// last one left in memory or not) renders the very script the Batch does,
// byte for byte, and hands back every row unchanged.
func TestSpoolScriptIsTheBatchScript(t *testing.T) {
	b, _ := hostileBatch()
	b.Accessories = []harbordb.Accessory{{Repository: b.Repositories[0].Name, Digest: fakeDigest("acc", 0),
		SubjectDigest: b.Artifacts[0].Digest, Type: "signature.cosign", ManifestSize: 321, Source: "local"}}
	b.Tags = append(b.Tags, harbordb.Tag{Repository: b.Repositories[1].Name, Name: "not-a-digest", Digest: "sha256:ABC"})
	var want bytes.Buffer
	if err := harbordb.WriteScript(&want, harbordb.SchemaFor(180), b, hostileInfo); err != nil {
		t.Fatal(err)
	}
	for _, every := range []int{-1, 1, 3, 1000} {
		s := spoolOf(t, b, every)
		if every > 0 && s.SpooledBytes() == 0 {
			t.Fatalf("every %d: nothing was spooled", every)
		}
		var got bytes.Buffer
		if err := harbordb.WriteScript(&got, harbordb.SchemaFor(180), s, hostileInfo); err != nil {
			t.Fatalf("every %d: WriteScript: %v", every, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("every %d: the spool's script differs from the batch's (%d vs %d bytes)", every, got.Len(), want.Len())
		}
		checkRows(t, s, b.Artifacts)
		checkRows(t, s, b.References)
		checkRows(t, s, b.Tags)
		checkRows(t, s, b.Blobs)
		checkRows(t, s, b.ArtifactBlobs)
		checkRows(t, s, b.ProjectBlobs)
		checkRows(t, s, b.Accessories)
	}
}

func checkRows[T harbordb.Row](t *testing.T, rows harbordb.Rows, want []T) {
	t.Helper()
	var got []T
	if err := harbordb.Each(rows, func(r T) error { got = append(got, r); return nil }); err != nil {
		t.Fatalf("Each: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Each[%T] returned %d rows, differing from the %d added", *new(T), len(got), len(want))
	}
	if n := harbordb.Count[T](rows); n != len(want) {
		t.Errorf("Count[%T] = %d, want %d", *new(T), n, len(want))
	}
}

// TestSpoolRefusesNUL: Flush checks what it spools, as Load and
// WriteScript check a Batch.
func TestSpoolRefusesNUL(t *testing.T) {
	for name, b := range nulBatches() {
		if name == "username" || name == "repository" {
			continue // kept in memory: Load and WriteScript check them
		}
		t.Run(name, func(t *testing.T) {
			s, err := harbordb.NewSpool(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Artifacts, s.Tags, s.Blobs, s.References = b.Artifacts, b.Tags, b.Blobs, b.References
			if err := s.Flush(); !errors.Is(err, harbordb.ErrInvalidValue) {
				t.Fatalf("Flush returned %v, want ErrInvalidValue", err)
			}
		})
	}
}
