package fsmove

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// Staged is a file in the staging directory waiting for Commit.
type Staged struct {
	Rel    string        // destination relative to the v2 root ('/'-separated, from regpath.For)
	Digest digest.Digest // blob digest, or a link file's target
	Size   int64         // bytes in the file
	How    Method

	p     *Placer
	tmp   string // absolute temp path
	state stageState
}

type stageState int

const (
	statePending stageState = iota
	stateCommitted
	stateDiscarded
)

// copyChunk bounds one copy_file_range call so a context can stop a long copy.
const copyChunk = 64 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// StageFile stages the blob d from the regular file src (symlinks are not
// followed). It hardlinks or copies per Options.Strategy. The size is always
// checked; the sha256 only when verify (a copy then hashes while copying, a
// link reads the file once). A hardlinked blob shares its inode with src:
// Commit's chown and chmod change src too.
func (p *Placer) StageFile(ctx context.Context, d digest.Digest, size int64, src string, verify bool) (*Staged, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", src, err)
	}
	if err := p.checkOpen(ctx); err != nil {
		return nil, err
	}
	pe := func(op string, err error) error { return &PathError{Op: op, Path: src, Digest: d, Err: err} }
	f, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			err = fmt.Errorf("%w: symlink", ErrNotRegular)
		}
		return nil, pe("staging", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, pe("staging", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, pe("staging", fmt.Errorf("%w: %s", ErrNotRegular, fi.Mode().Type()))
	}
	if fi.Size() != size {
		return nil, pe("staging", fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, fi.Size(), size))
	}
	tmp, err := p.tempPath(d)
	if err != nil {
		return nil, pe("staging", err)
	}
	s := &Staged{Rel: rel, Digest: d, Size: size, p: p, tmp: tmp}

	if p.strat != Copy {
		err := linkSame(src, tmp, fi)
		switch {
		case err == nil:
			if verify {
				// f is the staged inode: reading it verifies what was staged.
				if err := verifyFile(ctx, f, d, size); err != nil {
					os.Remove(tmp)
					return nil, pe("verifying", err)
				}
			}
			s.How = Linked
			p.log.Debug("staged blob", "digest", d, "how", s.How, "src", src)
			return p.track(s)
		case p.strat == Auto && (errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EMLINK)):
			p.log.Debug("hardlink failed, copying", "src", src, "err", err)
		default:
			return nil, pe("linking", err)
		}
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, pe("staging", err)
	}
	if err := p.writeTemp(tmp, func(w *os.File) error {
		if verify {
			return copyVerified(ctx, w, f, d, size)
		}
		return copyPlain(ctx, w, f, size)
	}); err != nil {
		return nil, pe("copying", err)
	}
	s.How = Copied
	p.log.Debug("staged blob", "digest", d, "how", s.How, "src", src, "bytes", size)
	return p.track(s)
}

// StageReader stages the blob d from r (e.g. a tar entry), hashing and
// counting while copying through a pooled 1 MiB buffer. It reads at most
// size+1 bytes; a short or long stream fails with ErrSizeMismatch, other
// content with ErrDigestMismatch, and nothing is left staged.
func (p *Placer) StageReader(ctx context.Context, d digest.Digest, size int64, r io.Reader) (*Staged, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return nil, fmt.Errorf("staging stream: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("staging stream %s: negative size %d", d, size)
	}
	if err := p.checkOpen(ctx); err != nil {
		return nil, err
	}
	tmp, err := p.tempPath(d)
	if err != nil {
		return nil, &PathError{Op: "staging", Path: p.staging, Digest: d, Err: err}
	}
	if err := p.writeTemp(tmp, func(w *os.File) error {
		return copyVerified(ctx, w, r, d, size)
	}); err != nil {
		return nil, &PathError{Op: "streaming", Path: tmp, Digest: d, Err: err}
	}
	s := &Staged{Rel: rel, Digest: d, Size: size, How: Streamed, p: p, tmp: tmp}
	p.log.Debug("staged blob", "digest", d, "how", s.How, "bytes", size)
	return p.track(s)
}

// StageLink stages a registry link file at rel (a link path from
// regpath.For) holding exactly regpath.LinkContent(target): "sha256:<hex>",
// 71 bytes, no newline. For link kinds whose path names a digest, it must be
// target.
func (p *Placer) StageLink(ctx context.Context, rel string, target digest.Digest) (*Staged, error) {
	spec, err := regpath.Parse(rel)
	if err != nil {
		return nil, fmt.Errorf("staging link: %w", err)
	}
	if spec.Kind == regpath.BlobData {
		return nil, fmt.Errorf("staging link: %w: %q is a blob data path", regpath.ErrInvalid, rel)
	}
	if _, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: target}); err != nil {
		return nil, fmt.Errorf("staging link %s: target: %w", rel, err)
	}
	if spec.Digest != "" && spec.Digest != target {
		return nil, fmt.Errorf("staging link %s: %w: path names %s, target is %s", rel, ErrConflict, spec.Digest, target)
	}
	if err := p.checkOpen(ctx); err != nil {
		return nil, err
	}
	content := regpath.LinkContent(target)
	tmp, err := p.tempPath(target)
	if err != nil {
		return nil, &PathError{Op: "staging", Path: p.staging, Digest: target, Err: err}
	}
	if err := p.writeTemp(tmp, func(w *os.File) error {
		_, err := w.Write(content)
		return err
	}); err != nil {
		return nil, &PathError{Op: "staging link", Path: tmp, Digest: target, Err: err}
	}
	s := &Staged{Rel: rel, Digest: target, Size: int64(len(content)), How: LinkFile, p: p, tmp: tmp}
	p.log.Debug("staged link", "rel", rel, "target", target)
	return p.track(s)
}

// Discard removes a staged temp that will not be committed. Discarding a
// committed or already discarded file does nothing.
func (p *Placer) Discard(s *Staged) error {
	if s == nil || s.p != p {
		return ErrNotStaged
	}
	p.mu.Lock()
	if s.state != statePending {
		p.mu.Unlock()
		return nil
	}
	s.state = stateDiscarded
	delete(p.pending, s)
	p.mu.Unlock()
	if err := os.Remove(s.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &PathError{Op: "discarding", Path: s.tmp, Digest: s.Digest, Err: err}
	}
	return nil
}

func (p *Placer) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	return nil
}

// track registers s as pending, or removes its temp when the Placer was
// closed meanwhile.
func (p *Placer) track(s *Staged) (*Staged, error) {
	p.mu.Lock()
	if !p.closed {
		p.pending[s] = struct{}{}
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	os.Remove(s.tmp)
	return nil, ErrClosed
}

func (p *Placer) tempPath(d digest.Digest) (string, error) {
	name, err := tempName(d.Encoded())
	if err != nil {
		return "", err
	}
	return filepath.Join(p.staging, name), nil
}

// writeTemp creates tmp exclusively (0600), runs fill, closes, and removes
// tmp unless everything succeeded.
func (p *Placer) writeTemp(tmp string, fill func(*os.File) error) (err error) {
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			w.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	ok = true
	return nil
}

// linkSame hardlinks src to dst and checks that dst is the inode that was
// opened and checked (src was not swapped in between). os.Link does not
// follow a symlink at src.
func linkSame(src, dst string, want os.FileInfo) error {
	if err := os.Link(src, dst); err != nil {
		return err
	}
	got, err := os.Lstat(dst)
	if err == nil && !os.SameFile(got, want) {
		err = fmt.Errorf("%w: %s changed while staging", ErrConflict, src)
	}
	if err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// copyPlain copies exactly size bytes from f to w with copy_file_range (so
// reflinks where the filesystem has them), in chunks to honour ctx, and
// checks that f ends there.
func copyPlain(ctx context.Context, w *os.File, f *os.File, size int64) error {
	var n int64
	for n < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := io.CopyN(w, f, min(copyChunk, size-n))
		n += m
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: source ended after %d bytes, want %d", ErrSizeMismatch, n, size)
		}
		if err != nil {
			return err
		}
	}
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return fmt.Errorf("%w: source longer than %d bytes", ErrSizeMismatch, size)
	}
	return nil
}

// copyVerified copies r to w (nil: only read), hashing and counting; it reads
// at most size+1 bytes and fails unless exactly size bytes hashing to d came.
func copyVerified(ctx context.Context, w io.Writer, r io.Reader, d digest.Digest, size int64) error {
	h := sha256.New()
	n, err := copyHashed(ctx, w, r, h, size+1)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: stream ended after %d of %d bytes: %w", ErrSizeMismatch, n, size, err)
	case err != nil:
		return err
	case n < size:
		return fmt.Errorf("%w: stream ended after %d of %d bytes", ErrSizeMismatch, n, size)
	case n > size:
		return fmt.Errorf("%w: stream longer than %d bytes", ErrSizeMismatch, size)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d {
		return fmt.Errorf("%w: got %s, want %s", ErrDigestMismatch, got, d)
	}
	return nil
}

// verifyFile hashes f from its start.
func verifyFile(ctx context.Context, f *os.File, d digest.Digest, size int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return copyVerified(ctx, nil, f, d, size)
}

// copyHashed copies up to limit bytes from r to w (nil: discard), feeding h,
// through a pooled buffer, checking ctx between chunks. It returns at EOF or
// after limit bytes.
func copyHashed(ctx context.Context, w io.Writer, r io.Reader, h hash.Hash, limit int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for n < limit {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf[:min(int64(len(buf)), limit-n)])
		if m > 0 {
			h.Write(buf[:m])
			if w != nil {
				if _, err := w.Write(buf[:m]); err != nil {
					return n, fmt.Errorf("writing: %w", err)
				}
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("reading: %w", rerr)
		}
	}
	return n, nil
}
