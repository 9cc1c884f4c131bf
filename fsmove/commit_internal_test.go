package fsmove

import (
	"bytes"
	"errors"
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

	owner := &Owner{UID: os.Geteuid(), GID: os.Getegid()}
	p, err := New(t.Context(), Options{Root: t.TempDir(), Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	data := []byte("hello")
	d := digest.FromBytes(data)
	stage := func() *Staged {
		s, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	res, err := p.Commit(t.Context(), []*Staged{stage()}, nil)
	if err != nil || res.Streamed != 1 {
		t.Fatalf("Commit: got %+v, %v; want 1 streamed", res, err)
	}
	dst := p.abs("blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data")
	before, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	res, err = p.Commit(t.Context(), []*Staged{stage()}, nil)
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
	if _, err := p.Commit(t.Context(), []*Staged{stage()}, nil); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("Commit over other size: got %v, want %v", err, ErrSizeMismatch)
	}
}

func TestTempName(t *testing.T) {
	hex := digest.FromString("x").Encoded()
	a, err := tempName(hex)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tempName(hex)
	if a == b {
		t.Errorf("tempName: got %q twice, want unique names", a)
	}
	if !tempRE.MatchString(a) {
		t.Errorf("tempName: got %q, want it to match %v", a, tempRE)
	}
}
