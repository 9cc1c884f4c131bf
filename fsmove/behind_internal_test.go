package fsmove

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteBehindLimits: files wait to be dropped within behindFiles and
// behindBytes, and drain closes every one of them.
func TestWriteBehindLimits(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "written"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	var w writeBehind
	var fds []int
	for i := range 2 * behindFiles {
		fd, err := unix.Dup(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		size := int64(1 << 10)
		if i%8 == 0 {
			size = 16 << 20 // passes behindBytes long before behindFiles
		}
		w.add(fd, size)
		w.mu.Lock()
		n, b := len(w.files), w.bytes
		w.mu.Unlock()
		if n > behindFiles || b > behindBytes {
			t.Fatalf("after %d files, %d files of %d bytes wait; limits %d, %d", i+1, n, b, behindFiles, behindBytes)
		}
	}
	w.drain()
	if len(w.files) != 0 || w.bytes != 0 || w.running {
		t.Fatalf("after drain: %d files, %d bytes waiting, running %v", len(w.files), w.bytes, w.running)
	}
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			t.Errorf("descriptor %d still open after drain", fd)
		}
	}
}
