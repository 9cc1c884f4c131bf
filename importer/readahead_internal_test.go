package importer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
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
