package fsmove_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/pagecache"
)

// TestStageFileDropsSourcePages: a source blob that StageFile reads
// through (hashed with verify, or copied) leaves the page cache once it is
// staged; the import reads each blob once.
func TestStageFileDropsSourcePages(t *testing.T) {
	for _, tc := range []struct {
		st     fsmove.Strategy
		verify bool
	}{{fsmove.Link, true}, {fsmove.Copy, true}, {fsmove.Copy, false}} {
		t.Run(fmt.Sprintf("%v verify=%v", tc.st, tc.verify), func(t *testing.T) {
			dir := t.TempDir()
			if why := pagecache.Droppable(dir); why != "" {
				t.Skip(why)
			}
			data, d := blob(7, 4<<20+123)
			src := writeFile(t, dir, data)
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Sync(); err != nil { // clean pages can be dropped
				t.Fatal(err)
			}
			if _, err := f.ReadAt(make([]byte, len(data)), 0); err != nil {
				t.Fatal(err)
			}
			in, err := pagecache.Resident(f, len(data))
			if err != nil {
				t.Fatal(err)
			}
			if n := pagecache.Count(in); n < len(in)/2 {
				t.Skipf("only %d of %d pages of a file just read are cached: cannot tell", n, len(in))
			}
			p := newPlacer(t, tc.st)
			if _, err := p.StageFile(t.Context(), d, int64(len(data)), src, tc.verify); err != nil {
				t.Fatal(err)
			}
			if in, err = pagecache.Resident(f, len(data)); err != nil {
				t.Fatal(err)
			}
			if n := pagecache.Count(in); n > 0 {
				t.Errorf("%d of the source's %d pages stay cached after staging; want none", n, len(in))
			}
		})
	}
}

// TestWrittenBlobsLeavePageCache: the pages of blobs the Placer writes
// (streamed, here) leave the page cache once on disk, before Commit, and
// none is left cached after it. Blobs under 64 KiB (manifests, configs,
// read again by the import's check) are not dropped before Commit.
func TestWrittenBlobsLeavePageCache(t *testing.T) {
	dir := t.TempDir()
	if why := pagecache.Droppable(dir); why != "" {
		t.Skip(why)
	}
	p := newPlacerAt(t, dir, fsmove.Auto)
	const n, size = 80, 256 << 10 // 20 MiB: under writeBehind's limits, dropped all the same
	var ds []digest.Digest
	for i := range n {
		data, d := blob(100+i, size)
		if _, err := p.StageReader(t.Context(), d, size, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	small, smallD := blob(99, 1000)
	if _, err := p.StageReader(t.Context(), smallD, int64(len(small)), bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	resident := func(path string, size int) int {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in, err := pagecache.Resident(f, size)
		if err != nil {
			t.Fatal(err)
		}
		return pagecache.Count(in)
	}
	staged := map[string]string{} // digest hex -> staged path
	for _, rel := range stagedFiles(t, p) {
		staged[filepath.Base(filepath.Dir(rel))] = filepath.Join(p.StagingDir(), rel)
	}
	// The first blobs go while later ones are written, or soon after.
	first := staged[ds[0].Encoded()]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		k := resident(first, size)
		if k == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after it was staged, %d pages of the first of %d written blobs are cached; want none before Commit", k, n)
		}
	}
	if k := resident(staged[smallD.Encoded()], len(small)); k == 0 {
		t.Errorf("a %d-byte blob was dropped from the page cache before Commit", len(small))
	}
	if _, err := p.Commit(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if k := resident(blobPath(t, p, d), size); k > 0 {
			t.Errorf("after Commit, %d pages of written blob %d (%s) are cached; want none", k, i, d)
		}
	}
}
