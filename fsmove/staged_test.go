package fsmove_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
)

// TestStagedBlobLookup: a staged blob is found by digest (its size, its
// content) until it is discarded or committed; DiscardBlobsExcept drops
// exactly the blobs keep refuses, leaving links alone, and Commit places
// the rest.
func TestStagedBlobLookup(t *testing.T) {
	p := newPlacer(t, fsmove.Auto)
	must := mustStage(t)
	var ds []digest.Digest
	content := map[digest.Digest][]byte{}
	for i := range 6 {
		data, d := blob(90+i, 100+i*37)
		must(p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)))
		ds, content[d] = append(ds, d), data
	}
	must(p.StageLink(t.Context(), layerLink(t, "a/b", ds[0]), ds[0]))
	_, absent := blob(99, 10)

	for _, d := range ds {
		size, ok, err := p.StagedBlob(d)
		if err != nil || !ok || size != int64(len(content[d])) {
			t.Errorf("StagedBlob(%s): got %d, %v, %v; want %d, true", d, size, ok, err, len(content[d]))
		}
		f, err := p.OpenStagedBlob(d)
		if err != nil {
			t.Fatalf("OpenStagedBlob(%s): %v", d, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, content[d]) {
			t.Errorf("OpenStagedBlob(%s): read %d bytes (%v), want its %d", d, len(got), err, len(content[d]))
		}
	}
	if _, ok, err := p.StagedBlob(absent); ok || err != nil {
		t.Errorf("StagedBlob(absent): got %v, %v; want false, nil", ok, err)
	}
	if _, err := p.OpenStagedBlob(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenStagedBlob(absent): got %v, want os.ErrNotExist", err)
	}

	var asked []digest.Digest
	kept := ds[:3]
	n, err := p.DiscardBlobsExcept(func(d digest.Digest) bool {
		asked = append(asked, d)
		return slices.Contains(kept, d)
	})
	if err != nil || n != 3 {
		t.Fatalf("DiscardBlobsExcept: got %d, %v; want 3 discarded", n, err)
	}
	slices.Sort(asked)
	if want := slices.Sorted(slices.Values(ds)); !slices.Equal(asked, want) {
		t.Errorf("keep was asked about %v, want every staged blob %v", asked, want)
	}
	for _, d := range ds {
		if _, ok, _ := p.StagedBlob(d); ok != slices.Contains(kept, d) {
			t.Errorf("StagedBlob(%s) after DiscardBlobsExcept: got %v", d, ok)
		}
	}
	res, err := p.Commit(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Streamed != len(kept) || res.Links != 1 {
		t.Errorf("Result: got %+v, want %d streamed and 1 link", res, len(kept))
	}
	for _, d := range ds {
		_, err := os.Stat(blobPath(t, p, d))
		if placed := err == nil; placed != slices.Contains(kept, d) {
			t.Errorf("blob %s placed: %v", d, placed)
		}
		if _, ok, _ := p.StagedBlob(d); ok {
			t.Errorf("StagedBlob(%s) after Commit: still staged", d)
		}
	}
}

// TestStageBytes: a blob held in memory is staged as StageReader stages a
// stream; content that does not hash to its digest stages nothing.
func TestStageBytes(t *testing.T) {
	p := newPlacer(t, fsmove.Auto)
	data, d := blob(7, 70000)
	s, err := p.StageBytes(t.Context(), d, data)
	if err != nil {
		t.Fatal(err)
	}
	if s.How != fsmove.Streamed || s.Size != int64(len(data)) {
		t.Errorf("staged as %v, %d bytes; want Streamed, %d", s.How, s.Size, len(data))
	}
	bad := bytes.Clone(data)
	bad[123] ^= 1
	_, other := blob(8, 10)
	if _, err := p.StageBytes(t.Context(), other, bad); !errors.Is(err, fsmove.ErrDigestMismatch) || !strings.Contains(err.Error(), other.String()) {
		t.Fatalf("wrong content: got %v, want ErrDigestMismatch naming %s", err, other)
	}
	if _, ok, err := p.StagedBlob(other); ok || err != nil {
		t.Fatalf("after a mismatch StagedBlob = %v, %v; want nothing staged", ok, err)
	}
	res, err := p.Commit(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Streamed != 1 {
		t.Errorf("Commit placed %d streamed blobs, want 1", res.Streamed)
	}
	got, err := os.ReadFile(filepath.Join(p.V2Root(), filepath.FromSlash(s.Rel())))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("placed blob: %d bytes (%v), want its %d", len(got), err, len(data))
	}
}

// TestFlushWhileStaging: Flush runs beside staging from other goroutines
// (an import flushes a tarball's blobs while it plans), changes nothing a
// Commit then does, and reports ErrClosed once the Placer is closed.
func TestFlushWhileStaging(t *testing.T) {
	p := newPlacer(t, fsmove.Auto)
	var wg sync.WaitGroup
	digests := make([]digest.Digest, 16)
	for i := range digests {
		data, d := blob(100+i, 1000+i*10000)
		digests[i] = d
		wg.Go(func() {
			if _, err := p.StageBytes(t.Context(), d, data); err != nil {
				t.Error(err)
			}
		})
	}
	for range 3 {
		if err := p.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	wg.Wait()
	res, err := p.Commit(t.Context(), nil)
	if err != nil || res.Streamed != len(digests) {
		t.Fatalf("Commit: got %+v, %v; want %d streamed", res, err, len(digests))
	}
	for _, d := range digests {
		if _, err := os.Stat(blobPath(t, p, d)); err != nil {
			t.Errorf("blob %s not placed: %v", d, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); !errors.Is(err, fsmove.ErrClosed) {
		t.Errorf("Flush after Close: got %v, want ErrClosed", err)
	}
}
