// Package pagecache tells which pages of a file the kernel holds in its
// page cache (mincore(2)), for tests of code that drops pages it has read.
package pagecache

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Resident reports, page by page, whether the first size bytes of f are in
// the page cache.
func Resident(f *os.File, size int) ([]bool, error) {
	if size == 0 {
		return nil, nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", f.Name(), err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (size+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return nil, fmt.Errorf("mincore of %s: %w", f.Name(), e)
	}
	in := make([]bool, len(vec))
	for i, v := range vec {
		in[i] = v&1 != 0
	}
	return in, nil
}

// Count is how many of in are true.
func Count(in []bool) (n int) {
	for _, v := range in {
		if v {
			n++
		}
	}
	return n
}

// Droppable reports why pages of files in dir cannot be dropped, "" when
// they can: tmpfs pages are the files' storage.
func Droppable(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err.Error()
	}
	if st.Type == unix.TMPFS_MAGIC {
		return dir + " is on tmpfs, whose pages are its storage"
	}
	return ""
}
