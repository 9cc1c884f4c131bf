package importer

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
)

// sniffLen is how much of a blob content sniffing looks at: Go's
// http.DetectContentType, which Harbor's icon check uses, reads 512 bytes.
const sniffLen = 512

// tarHeadLen is what a dry run's tarball scan keeps of every blob (an
// import reads the staged file). It decides the icon check exactly:
// DetectContentType answers GIF, PNG or JPEG only for data starting with
// their 6-, 8- or 3-byte signatures, and no signature it tests before
// those can match such data. The heads wait in the scan's spill file, not
// in memory.
const tarHeadLen = 16

// headReader is a source that can return the first bytes of a blob it
// holds without reading it whole (icons may be any size).
type headReader interface {
	head(d digest.Digest) (b []byte, ok bool, err error)
}

var (
	_ headReader = (*dirSource)(nil)
	_ headReader = (*tarSource)(nil)
)

func (s *dirSource) head(d digest.Digest) ([]byte, bool, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, false, err
	}
	f, err := os.Open(p)
	return readHead(d, f, err)
}

// head returns the start of the staged blob (an import) or what the scan
// kept of it (keepReader, a dry run).
func (s *tarSource) head(d digest.Digest) ([]byte, bool, error) {
	if s.placer != nil {
		f, err := s.placer.OpenStagedBlob(d)
		return readHead(d, f, err)
	}
	b, err := s.blob(d)
	if b == nil || err != nil {
		return nil, false, err
	}
	head := make([]byte, min(b.size, tarHeadLen))
	if _, err := s.spill.ReadAt(head, b.keptAt()); err != nil {
		return nil, false, fmt.Errorf("reading the head of blob %s kept from the archive: %w", d, err)
	}
	return head, true, nil
}

// readHead reads the first sniffLen bytes of blob d from f, the file
// opened for it (err from opening it; not found: ok false), and closes f.
func readHead(d digest.Digest, f *os.File, err error) ([]byte, bool, error) {
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading blob %s: %w", d, err)
	}
	defer f.Close()
	b := make([]byte, sniffLen)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("reading blob %s: %w", d, err)
	}
	return b[:n], true, nil
}
