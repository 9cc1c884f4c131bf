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

// tarHeadLen is what a tarball scan keeps of every blob. It decides the
// icon check exactly: DetectContentType answers GIF, PNG or JPEG only for
// data starting with their 6-, 8- or 3-byte signatures, and no signature
// it tests before those can match such data; 16 bytes per blob keeps a
// million-blob archive's heads at 16 MB.
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

// head returns what the scan kept of the blob's start (headRecorder).
func (s *tarSource) head(d digest.Digest) ([]byte, bool, error) {
	b := s.blob(d)
	if b == nil || !b.hasHead {
		return nil, false, nil
	}
	return b.head[:b.headLen], true, nil
}

// headRecorder keeps the first tarHeadLen bytes that pass through it in
// its blob's head.
type headRecorder struct {
	r io.Reader
	b *tarBlob
}

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if k := int(h.b.headLen); k < tarHeadLen && n > 0 {
		h.b.headLen += uint8(copy(h.b.head[k:], p[:n]))
	}
	return n, err
}
