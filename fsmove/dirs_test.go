package fsmove_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/harbor-import/harbor-import/fsmove"
)

// TestDirectoriesAppearOwned: directories are made in staging and renamed
// into place, so a kill can leave only a staging leftover (removed by
// CleanStaging), never a directory in the tree with the wrong owner.
func TestDirectoriesAppearOwned(t *testing.T) {
	root := t.TempDir()
	staging := filepath.Join(root, ".harbor-import", "staging")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		t.Fatal(err)
	}
	// What a run killed between creating and renaming a directory leaves.
	leftover := filepath.Join(staging, "dir-4242.tmp")
	if err := os.Mkdir(leftover, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := fsmove.CleanStaging(t.Context(), fsmove.Options{Root: root})
	if err != nil || n != 1 {
		t.Fatalf("CleanStaging: got %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover directory still there: %v", err)
	}
	p := newPlacerAt(t, root, fsmove.Auto)
	data, d := blob(7, 100)
	if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	want := testOwner()
	err = filepath.Walk(filepath.Join(root, "docker"), func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := stat(t, path)
		if int(st.Uid) != want.UID || int(st.Gid) != want.GID {
			t.Errorf("%s owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, want.UID, want.GID)
		}
		if fi.IsDir() && fi.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want 0755", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(staging); len(left) != 0 {
		t.Errorf("staging not empty after commit: %d entries", len(left))
	}
}
