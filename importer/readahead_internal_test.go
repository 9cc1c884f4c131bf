package importer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/harbor-import/harbor-import/internal/pagecache"
	"golang.org/x/sys/unix"
)

func TestAheadReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 511, aheadBuf - 1, aheadBuf, aheadBuf + 1, aheadBufs*aheadBuf + 7, 11*aheadBuf/2 + 3} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		// The source hands out odd-sized pieces, as a file or decompressor may.
		a := newAheadReader(iotest.HalfReader(bytes.NewReader(data)))
		if err := iotest.TestReader(a, data); err != nil {
			t.Errorf("%d bytes: %v", size, err)
		}
		a.Close()
	}

	t.Run("a read error comes after the bytes before it", func(t *testing.T) {
		bad := errors.New("input/output error")
		data := bytes.Repeat([]byte("x"), 3*aheadBuf/2)
		a := newAheadReader(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(bad)))
		defer a.Close()
		got, err := io.ReadAll(a)
		if !errors.Is(err, bad) {
			t.Fatalf("got error %v, want %v", err, bad)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes before the error, want %d", len(got), len(data))
		}
		if n, err := a.Read(make([]byte, 10)); n != 0 || !errors.Is(err, bad) {
			t.Fatalf("read after the error: %d, %v; want 0, %v", n, err, bad)
		}
	})

	t.Run("a source's io.ErrUnexpectedEOF is not an end", func(t *testing.T) {
		// A decompressor reports a cut stream so; as io.EOF the tar
		// reader would take a cut at an entry boundary for the end.
		for _, size := range []int{0, 100, aheadBuf, 3 * aheadBuf / 2} {
			data := bytes.Repeat([]byte("y"), size)
			a := newAheadReader(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(io.ErrUnexpectedEOF)))
			got, err := io.ReadAll(a)
			a.Close()
			if err != io.ErrUnexpectedEOF || !bytes.Equal(got, data) {
				t.Errorf("%d bytes: read %d, %v; want %d, io.ErrUnexpectedEOF", size, len(got), err, size)
			}
		}
	})

	t.Run("Close before the end stops the goroutine", func(t *testing.T) {
		src := bytes.NewReader(make([]byte, 64*aheadBuf))
		a := newAheadReader(src)
		if _, err := io.ReadFull(a, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		a.Close()
		a.Close() // twice is harmless
		if left := src.Len(); left < 64*aheadBuf-(aheadBufs+1)*aheadBuf {
			t.Fatalf("the goroutine read on after Close: %d bytes left of %d", left, 64*aheadBuf)
		}
	})
}

// TestAheadReaderDropsCache: a file read through an aheadReader leaves
// its pages out of the page cache, but for the last dropBehind bytes, and
// a file read from an offset keeps the pages before it.
func TestAheadReaderDropsCache(t *testing.T) {
	dir := t.TempDir()
	if why := pagecache.Droppable(dir); why != "" {
		t.Skip(why)
	}
	const size = 4*dropBehind + 12345
	p := filepath.Join(dir, "archive")
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fsync(int(f.Fd())); err != nil { // clean pages can be dropped
		t.Fatal(err)
	}
	resident := func() []bool {
		in, err := pagecache.Resident(f, size)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	count := pagecache.Count
	page := os.Getpagesize()
	if n := count(resident()); n < size/page/2 {
		t.Skipf("only %d of %d pages of a file just written are cached: cannot tell", n, size/page)
	}

	const skip = dropBehind / 2 // read from here on
	if _, err := f.Seek(skip, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	a := newAheadReader(f)
	got, err := io.ReadAll(a)
	a.Close()
	if err != nil || !bytes.Equal(got, data[skip:]) {
		t.Fatalf("read %d bytes (err %v), want the file's last %d", len(got), err, size-skip)
	}
	in := resident()
	if n := count(in[:skip/page]); n != skip/page {
		t.Errorf("%d of the %d pages before the offset read from stay cached, want all", n, skip/page)
	}
	if n := count(in[skip/page : (size-dropBehind)/page]); n > 0 {
		t.Errorf("%d of the %d pages read, not the last %d bytes, stay cached; want none", n, (size-dropBehind-skip)/page, dropBehind)
	}
}
