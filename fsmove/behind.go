package fsmove

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Limits of the files whose pages wait in writeBehind: past either, the
// oldest file's writeback is waited for and its pages dropped.
const (
	behindFiles = 64
	behindBytes = 64 << 20
)

// writeBehind drops the pages of staged files the Placer wrote (streamed
// or copied blobs) from the page cache once they are on disk. An import
// writes each such blob once and reads it no more; cached, a 50,000-tag
// tarball's 10 GB of blobs would push out what the host keeps hot
// (Harbor's database, its often-pulled blobs), and every one of those
// pages is memory the kernel must find first. Dropped a few files behind
// the writer, the same few megabytes of pages serve the whole import
// (bench/HISTORY.md, eleventh session: writing 6 GB took 16.2 s with the
// pages kept and 2.6 s with them dropped, on the bench's virtual machine,
// where memory not recently used costs a host page fault).
//
// A file waits here through a descriptor of its own (a dup of the
// writer's): its data's writeback has been started (writeStaged), and
// dropping waits for it to end, then posix_fadvise(DONTNEED). Nothing
// here reports an error: durability and its errors belong to syncfs
// (Commit); a page that cannot be dropped stays cached.
type writeBehind struct {
	mu    sync.Mutex
	fds   []int   // oldest first
	sizes []int64 // of fds
	bytes int64
}

// add takes fd, a file of size bytes whose writeback has been started,
// and drops the pages of the oldest files while more than the limits wait.
func (w *writeBehind) add(fd int, size int64) {
	w.mu.Lock()
	w.fds = append(w.fds, fd)
	w.sizes = append(w.sizes, size)
	w.bytes += size
	n := 0
	for len(w.fds)-n > 1 && (len(w.fds)-n > behindFiles || w.bytes > behindBytes) {
		w.bytes -= w.sizes[n]
		n++
	}
	old := append([]int(nil), w.fds[:n]...)
	w.fds = append(w.fds[:0], w.fds[n:]...)
	w.sizes = append(w.sizes[:0], w.sizes[n:]...)
	w.mu.Unlock()
	for _, fd := range old {
		dropWritten(fd, true)
	}
}

// drain drops the pages of every waiting file and closes it. After a
// syncfs their data is on disk and nothing is waited for; without one
// (wait), each file's writeback is waited for first.
func (w *writeBehind) drain(wait bool) {
	w.mu.Lock()
	fds := w.fds
	w.fds, w.sizes, w.bytes = nil, nil, 0
	w.mu.Unlock()
	for _, fd := range fds {
		dropWritten(fd, wait)
	}
}

// dropWritten drops the cached pages of the written file fd, waiting for
// their writeback first when wait is set, and closes fd.
func dropWritten(fd int, wait bool) {
	if wait {
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	}
	dropPages(fd)
	unix.Close(fd)
}
