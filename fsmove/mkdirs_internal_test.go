package fsmove

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestMkdirs: mkdirs makes every missing level of a path (deepest first,
// then its missing parents), counts each directory it made once, leaves
// existing ones alone, and reports a file in the way as errTaken.
func TestMkdirs(t *testing.T) {
	p := newInternalPlacer(t)
	tr, err := p.pickTree(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.release(tr)
	root := filepath.Join(p.staging, tr.name)
	before := tr.dirs.Load()

	steps := []struct {
		dirs []string
		made int64 // directories new with this call
	}{
		{[]string{"repositories", "team", "app", "_manifests", "revisions", "sha256", "aa"}, 7},
		{[]string{"repositories", "team", "app", "_manifests", "revisions", "sha256", "bb"}, 1},
		{[]string{"repositories", "team", "app", "_manifests", "revisions", "sha256", "bb"}, 0},
		{[]string{"repositories", "team", "web", "_layers", "sha256", "cc"}, 4},
	}
	for _, s := range steps {
		n := tr.dirs.Load()
		if err := p.mkdirs(tr, s.dirs); err != nil {
			t.Fatalf("mkdirs %v: %v", s.dirs, err)
		}
		if got := tr.dirs.Load() - n; got != s.made {
			t.Errorf("mkdirs %v: counted %d new directories, want %d", s.dirs, got, s.made)
		}
		fi, err := os.Stat(filepath.Join(append([]string{root}, s.dirs...)...))
		if err != nil || !fi.IsDir() {
			t.Errorf("mkdirs %v: deepest is %v, %v; want a directory", s.dirs, fi, err)
		}
	}
	if got := tr.dirs.Load() - before; got != 12 {
		t.Errorf("counted %d directories in all, want 12", got)
	}

	// A file where a directory should be, at the top, in the middle and
	// at the bottom of the path.
	if err := os.WriteFile(filepath.Join(root, "repositories", "team", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dirs := range [][]string{
		{"repositories", "team", "file", "x", "y"},
		{"repositories", "team", "file", "x"},
	} {
		if err := p.mkdirs(tr, dirs); !errors.Is(err, errTaken) {
			t.Errorf("mkdirs %v through a file: got %v, want errTaken", dirs, err)
		}
	}
}

// newInternalPlacer is a Placer on a fresh temporary root owned by the
// test's own user, closed when the test ends.
func newInternalPlacer(t *testing.T) *Placer {
	t.Helper()
	p, err := New(t.Context(), Options{Root: t.TempDir(), Owner: &Owner{UID: os.Geteuid(), GID: os.Getegid()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
