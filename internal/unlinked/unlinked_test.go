package unlinked_test

import (
	"os"
	"testing"

	"github.com/harbor-import/harbor-import/internal/unlinked"
)

// TestCreate: the file works, and its directory holds no name for it.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	f, err := unlinked.Create(dir, "x-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("kept"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "kept" {
		t.Errorf("ReadAt: got %q, %v; want %q", b, err, "kept")
	}
	if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
		t.Errorf("directory holds %v (%v), want nothing", names, err)
	}
	if _, err := unlinked.Create(dir+"/missing", "x-*"); err == nil {
		t.Errorf("Create in a missing directory: got no error")
	}
}
