package fsmove

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Limits of the written files whose pages wait in writeBehind to be
// dropped: past either, a writer waits for the oldest to go.
const (
	behindFiles = 512       // descriptors held
	behindBytes = 256 << 20 // their bytes
)

// writeBehind drops the pages of staged files the Placer wrote (streamed
// or copied blobs) from the page cache once they are on disk. An import
// writes each such blob once and reads it no more; cached, a 50,000-tag
// tarball's 10 GB of blobs would push out what the host keeps hot
// (Harbor's database, its often-pulled blobs), and every one of those
// pages is memory the kernel must find first. Dropped behind the writers,
// the same few hundred megabytes of pages serve the whole import
// (bench/HISTORY.md, eleventh session: on the bench's virtual machine,
// where memory not used for a while costs a fault in the host, writing
// 6 GB took 16.2 s with the pages kept and 2.6 s with them dropped).
//
// A file waits here through a descriptor of its own (a dup of the
// writer's) once its writeback has been started (writeStaged). One
// goroutine, running while files wait, takes the oldest, waits for its
// writeback to end, and drops its pages (posix_fadvise DONTNEED): the
// writers wait for the disk only when behindBytes or behindFiles are
// waiting. Nothing here reports an error: durability and its errors
// belong to syncfs (Commit); a page that cannot be dropped stays cached.
type writeBehind struct {
	mu      sync.Mutex
	changed sync.Cond // on mu: a file went, or the goroutine stopped
	files   []written // oldest first
	bytes   int64     // of files
	running bool      // the dropping goroutine
}

// written is a file waiting in writeBehind: its own descriptor and size.
type written struct {
	fd   int
	size int64
}

// init makes the zero writeBehind ready. Caller holds w.mu.
func (w *writeBehind) init() {
	if w.changed.L == nil {
		w.changed.L = &w.mu
	}
}

// add takes fd, a file of size bytes whose writeback has been started,
// after waiting while the limits are reached.
func (w *writeBehind) add(fd int, size int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	for len(w.files) > 0 && (len(w.files) >= behindFiles || w.bytes+size > behindBytes) {
		w.changed.Wait()
	}
	w.files = append(w.files, written{fd, size})
	w.bytes += size
	if !w.running {
		w.running = true
		go w.run()
	}
}

// run drops the waiting files' pages, oldest first, until none wait.
func (w *writeBehind) run() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.files) > 0 {
		f := w.files[0] // drain leaves files[0] to this goroutine
		w.mu.Unlock()
		dropWritten(f.fd, true)
		w.mu.Lock()
		w.bytes -= f.size
		w.files = w.files[1:]
		w.changed.Broadcast()
	}
	w.running = false
	w.changed.Broadcast()
}

// drain drops the pages of every waiting file, without waiting for
// writeback (call it after a syncfs, when their data is on disk, or when
// their pages no longer matter), closes them, and returns once the
// goroutine has stopped.
func (w *writeBehind) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	for len(w.files) > 0 || w.running {
		if len(w.files) > 1 {
			// The goroutine works on files[0]; the others are drain's.
			rest := w.files[1:]
			w.files = w.files[:1]
			w.bytes = w.files[0].size
			w.mu.Unlock()
			for _, f := range rest {
				dropWritten(f.fd, false)
			}
			w.mu.Lock()
			continue
		}
		w.changed.Wait()
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
