package importer

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// aheadReader reads its source on a goroutine of its own, up to aheadBufs
// buffers in front of its reader. Reading a cold archive costs a core's
// worth of system time (the kernel fills the page cache and copies it out):
// on the scan's goroutine it waited in turn with the hashing and writing of
// each blob, on its own it runs beside them.
type aheadReader struct {
	full chan aheadChunk
	free chan []byte
	stop chan struct{}
	done chan struct{}
	once sync.Once

	cur []byte // unread part of buf
	buf []byte // the buffer being read (nil: none)
	err error  // the source's error, once its chunks are read
}

type aheadChunk struct {
	b   []byte
	err error
}

const (
	aheadBufs = 4
	aheadBuf  = 1 << 20
	// dropBehind: every this many bytes read from a file, the reader
	// tells the kernel it will not read them again (dropCache).
	dropBehind = 32 << 20
)

// newAheadReader starts reading r; Close stops it.
func newAheadReader(r io.Reader) *aheadReader {
	a := &aheadReader{
		full: make(chan aheadChunk, aheadBufs+1),
		free: make(chan []byte, aheadBufs),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range aheadBufs {
		a.free <- make([]byte, aheadBuf)
	}
	go a.fill(r)
	return a
}

func (a *aheadReader) fill(r io.Reader) {
	defer close(a.done)
	drop := newDropCache(r)
	for {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		// Not io.ReadFull: it turns an early io.EOF into
		// io.ErrUnexpectedEOF and lets the source's own through, so the two
		// could not be told apart; a decompressor's io.ErrUnexpectedEOF (a
		// cut stream) must reach the reader as it is.
		n, b := 0, b[:cap(b)]
		var err error
		for n < len(b) && err == nil {
			var k int
			k, err = r.Read(b[n:])
			n += k
		}
		if n > 0 {
			a.full <- aheadChunk{b: b[:n]} // room: one slot per buffer
			drop.read(n)
		}
		if err != nil {
			a.full <- aheadChunk{err: err} // and one for the end
			return
		}
	}
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		c := <-a.full
		if c.err != nil {
			a.err = c.err
			continue
		}
		a.buf, a.cur = c.b, c.b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it; the source is the caller's
// to close, after.
func (a *aheadReader) Close() error {
	a.once.Do(func() { close(a.stop) })
	<-a.done
	return nil
}

// dropCache drops the pages of an archive read once from the page cache
// behind its reader (posix_fadvise DONTNEED). A 10 GB archive otherwise
// fills the cache with pages never read again, pushing out what the host
// uses (Harbor's database, its hot blobs); and on the bench's machine,
// reading an archive whose pages stayed cached cost a 5,000-tag import
// ~2 s of CPU, with them dropped ~0.2 s (README, "Page cache"): there,
// a page of memory not used for a while costs a fault in the host when it
// is next used, and pages dropped behind the reader are used again at once.
// Pages still dirty (an archive just written) stay; a source that is no
// file, or a failing call, only means nothing is dropped.
type dropCache struct {
	conn     interface{ Control(func(fd uintptr)) error }
	from, at int64 // dropped up to from; read up to at
}

func newDropCache(r io.Reader) *dropCache {
	f, ok := r.(*os.File)
	if !ok {
		return &dropCache{}
	}
	at, err := f.Seek(0, io.SeekCurrent)
	conn, cerr := f.SyscallConn()
	if err != nil || cerr != nil {
		return &dropCache{}
	}
	return &dropCache{conn: conn, from: at, at: at}
}

func (d *dropCache) read(n int) {
	if d.conn == nil {
		return
	}
	d.at += int64(n)
	if d.at-d.from < dropBehind {
		return
	}
	_ = d.conn.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), d.from, d.at-d.from, unix.FADV_DONTNEED)
	})
	d.from = d.at
}
