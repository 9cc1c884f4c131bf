package fsmove

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// TestPlaceWithoutRenameNoreplace takes the link+unlink path used on
// filesystems without RENAME_NOREPLACE: it must not replace either.
func TestPlaceWithoutRenameNoreplace(t *testing.T) {
	renameat2 = func(int, string, int, string, uint) error { return unix.EINVAL }
	t.Cleanup(func() { renameat2 = unix.Renameat2 })

	p := newInternalPlacer(t)
	data := []byte("hello")
	d := digest.FromBytes(data)
	stage := func() {
		if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	stage()
	res, err := p.Commit(t.Context(), nil)
	if err != nil || res.Streamed != 1 {
		t.Fatalf("Commit: got %+v, %v; want 1 streamed", res, err)
	}
	dst := p.abs("blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data")
	before, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	stage()
	res, err = p.Commit(t.Context(), nil)
	if err != nil || res.Existing != 1 {
		t.Fatalf("second Commit: got %+v, %v; want 1 existing", res, err)
	}
	after, err := os.Stat(dst)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("existing blob replaced: got %v, %v", after, err)
	}
	if left, _ := filepath.Glob(filepath.Join(p.StagingDir(), "*")); len(left) != 0 {
		t.Errorf("staging: got %q, want nothing", left)
	}

	// A conflicting link is refused through link(2)'s EEXIST too.
	os.Remove(dst)
	if err := os.WriteFile(dst, []byte("other size"), 0o644); err != nil {
		t.Fatal(err)
	}
	stage()
	if _, err := p.Commit(t.Context(), nil); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("Commit over other size: got %v, want %v", err, ErrSizeMismatch)
	}
}

func TestRandomName(t *testing.T) {
	a, err := randomName("tree-")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randomName("tree-")
	if a == b {
		t.Errorf("randomName: got %q twice, want unique names", a)
	}
	if !treeRE.MatchString(a) {
		t.Errorf("randomName: got %q, want it to match %v", a, treeRE)
	}
}

// TestMoveDirWithoutRenameNoreplace: without RENAME_NOREPLACE, a directory
// that exists (even empty, which a plain rename would replace) is descended
// into, not replaced.
func TestMoveDirWithoutRenameNoreplace(t *testing.T) {
	renameat2 = func(int, string, int, string, uint) error { return unix.EINVAL }
	t.Cleanup(func() { renameat2 = unix.Renameat2 })

	p := newInternalPlacer(t)
	empty := p.abs("repositories")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(empty)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("x")
	if _, err := p.StageLink(t.Context(), "repositories/a/_layers/sha256/"+d.Encoded()+"/link", d); err != nil {
		t.Fatal(err)
	}
	res, err := p.Commit(t.Context(), nil)
	if err != nil || res.Links != 1 || res.DirsCreated != 4 {
		t.Fatalf("Commit: got %+v, %v; want 1 link, 4 directories", res, err)
	}
	if after, err := os.Stat(empty); err != nil || !os.SameFile(before, after) {
		t.Errorf("existing empty directory replaced: got %v, %v", after, err)
	}
	if err := p.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(empty); len(left) != 0 {
		t.Errorf("after Rollback: %s holds %d entries, want none", empty, len(left))
	}
}

// TestRollbackRaceWithAddition: a file added to a directory Rollback has
// checked but not yet moved out is found in staging; the directory goes
// back into the v2 tree and only this run's files are removed.
func TestRollbackRaceWithAddition(t *testing.T) {
	p := newInternalPlacer(t)
	data := []byte("blob")
	d := digest.FromBytes(data)
	if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	hexDir := "blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded()
	crashHook = func(step string) {
		if step != "moved directory back" {
			return
		}
		// Where the v2 directory blobs/ went: the one tree in staging.
		m, _ := filepath.Glob(filepath.Join(p.StagingDir(), "tree-*", "sha256", d.Encoded()[:2], d.Encoded()))
		if len(m) != 1 {
			t.Errorf("moved-back directory: got %q, want one", m)
			return
		}
		if err := os.WriteFile(filepath.Join(m[0], "foreign"), []byte("x"), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { crashHook = nil })
	if err := p.Rollback(t.Context()); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if _, err := os.Stat(p.abs(hexDir + "/foreign")); err != nil {
		t.Errorf("file added during Rollback: %v, want it back in the v2 tree", err)
	}
	if _, err := os.Stat(p.abs(hexDir + "/data")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("placed blob after Rollback: got %v, want it removed", err)
	}
	if left, _ := os.ReadDir(p.StagingDir()); len(left) != 0 {
		t.Errorf("staging after Rollback: %d entries, want none", len(left))
	}
}

// TestFlushErrorFailsCommit: a write-back error that Flush met is lost
// data; the kernel reports it once, so Commit must report it again and
// place nothing, and so must every later Commit.
func TestFlushErrorFailsCommit(t *testing.T) {
	p := newInternalPlacer(t)
	data := []byte("hello")
	d := digest.FromBytes(data)
	if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	p.syncErr = &PathError{Op: "syncing", Path: p.v2, Err: unix.EIO} // as syncStaged records one
	for i := range 2 {
		if _, err := p.Commit(t.Context(), nil); !errors.Is(err, unix.EIO) {
			t.Fatalf("Commit %d after a failed flush: got %v, want EIO", i+1, err)
		}
	}
	if _, err := os.Lstat(p.abs("blobs")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Commit placed files after a failed flush: blobs/ %v", err)
	}
}
