package fsmove

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// Staged is a file in a staging tree waiting for Commit. Callers may keep
// it (to Discard it) or drop it: Commit places every staged file.
type Staged struct {
	Digest digest.Digest // blob digest, or a link file's target
	Size   int64         // bytes in the file
	How    Method

	// rel is the destination below the v2 root; a blob's is dropped once
	// staged (Rel derives it from Digest), so that a caller keeping many
	// handles, as a tarball's scan does, keeps no path per blob.
	rel   string
	p     *Placer
	pre   bool   // a link file the v2 tree held when staged: no staged file (see StageLink)
	tree  *stree // the staging tree holding it, at Rel below the tree's root
	ino   uint64 // inode number of the staged file
	state stageState
}

// stageState is a Staged's own state. A file in a tree is pending until
// discarded, and committed when its tree has been merged (stree.gone); a
// link found in place (pre) goes through Commit's states itself.
type stageState int

const (
	statePending stageState = iota
	stateCommitting
	stateCommitted
	stateDiscarded
)

// Rel is the destination relative to the v2 root ('/'-separated, from
// regpath.For).
func (s *Staged) Rel() string {
	if s.rel != "" {
		return s.rel
	}
	rel, _ := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: s.Digest})
	return rel
}

// path is s's absolute path in staging, for messages.
func (s *Staged) path() string {
	if s.tree == nil {
		return filepath.Join(s.p.staging, filepath.FromSlash(s.Rel()))
	}
	return filepath.Join(s.p.staging, s.tree.name, filepath.FromSlash(s.Rel()))
}

// copyChunk bounds one copy_file_range call so a context can stop a long copy.
const copyChunk = 64 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// StageFile stages the blob d from the regular file src (symlinks are not
// followed). It hardlinks or copies per Options.Strategy. The size is always
// checked; the sha256 only when verify (a copy then hashes while copying, a
// link reads the file once). A hardlinked blob shares its inode with src,
// so StageFile gives src itself Owner and mode 0644.
func (p *Placer) StageFile(ctx context.Context, d digest.Digest, size int64, src string, verify bool) (*Staged, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", src, err)
	}
	if err := p.checkOpen(ctx); err != nil {
		return nil, err
	}
	pe := func(op string, err error) error { return &PathError{Op: op, Path: src, Digest: d, Err: err} }
	fd, err := openFile(unix.AT_FDCWD, src, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			err = fmt.Errorf("%w: symlink", ErrNotRegular)
		}
		return nil, pe("staging", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, pe("staging", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, pe("staging", fmt.Errorf("%w: %s", ErrNotRegular, modeType(st.Mode)))
	}
	if st.Size != size {
		return nil, pe("staging", fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, st.Size, size))
	}
	s := &Staged{rel: rel, Digest: d, Size: size, p: p}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if p.strat != Copy {
		err := p.stageIn(s, func(t *stree) error { return p.linkStaged(s, t, fd, src, &st) })
		switch {
		case err == nil:
			if verify {
				// fd is the staged inode: reading it verifies what was staged.
				if err := copyVerified(ctx, nil, &fdReader{fd: fd}, d, size); err != nil {
					return p.finish(s, pe("verifying", err))
				}
				dropPages(fd)
			}
			// The staged file is src's inode: owning and moding it here
			// (through the open fd) is what Commit would otherwise do.
			if err := p.own(fd, &st); err != nil {
				return p.finish(s, pe("chowning", err))
			}
			s.How, s.ino = Linked, st.Ino
			p.log.Debug("staged blob", "digest", d, "how", s.How, "src", src)
			return p.finish(s, nil)
		case errors.Is(err, ErrClosed):
			return nil, err
		case p.strat == Auto && (errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EMLINK)):
			p.log.Debug("hardlink failed, copying", "src", src, "err", err)
		default:
			return nil, pe("linking", err)
		}
	}

	s.How = Copied
	if err := p.writeStaged(s, func(w int) error {
		if verify {
			return copyVerified(ctx, fdWriter(w), &fdReader{fd: fd}, d, size)
		}
		return copyPlain(ctx, w, fd, size)
	}); err != nil {
		return nil, pe("copying", err)
	}
	dropPages(fd)
	p.log.Debug("staged blob", "digest", d, "how", s.How, "src", src, "bytes", size)
	return s, nil
}

// dropPages asks the kernel to drop the cached pages of fd, a source blob
// read through once (hashed, or copied), or a blob written once
// (writeBehind): an import reads or writes each blob once,
// and keeping gigabytes of them cached would push out what the host keeps
// hot (Harbor's database, its often-pulled blobs). The archive's pages are
// dropped the same way (importer's dropCache). Pages still dirty stay; a
// failure only means nothing is dropped.
func dropPages(fd int) { _ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED) }

// StageReader stages the blob d from r (e.g. a tar entry), hashing and
// counting while copying through a pooled 1 MiB buffer. It reads at most
// size+1 bytes; a short or long stream fails with ErrSizeMismatch, other
// content with ErrDigestMismatch, and nothing is left staged.
func (p *Placer) StageReader(ctx context.Context, d digest.Digest, size int64, r io.Reader) (*Staged, error) {
	return p.stageStream(ctx, d, size, nil, func(w int) error {
		return copyVerified(ctx, fdWriter(w), r, d, size)
	})
}

// StageBytes stages the blob d whose content is data. data is hashed
// before any file is made: content that does not hash to d fails with
// ErrDigestMismatch and stages nothing. It is StageReader for a blob held
// in memory, without a copy through a buffer.
func (p *Placer) StageBytes(ctx context.Context, d digest.Digest, data []byte) (*Staged, error) {
	return p.stageStream(ctx, d, int64(len(data)), func() error {
		if got := digest.FromBytes(data); got != d {
			return fmt.Errorf("%w: got %s, want %s", ErrDigestMismatch, got, d)
		}
		return nil
	}, func(w int) error {
		_, err := fdWriter(w).Write(data)
		return err
	})
}

// stageStream stages the blob d of size bytes that fill writes into the
// staged file (StageReader, StageBytes). check, when not nil, runs before
// the file is made; its error, like fill's, stages nothing.
func (p *Placer) stageStream(ctx context.Context, d digest.Digest, size int64, check func() error, fill func(w int) error) (*Staged, error) {
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
	s := &Staged{rel: rel, Digest: d, Size: size, How: Streamed, p: p}
	if check != nil {
		err = check()
	}
	if err == nil {
		err = p.writeStaged(s, fill)
	}
	if err != nil {
		return nil, &PathError{Op: "streaming", Path: s.path(), Digest: d, Err: err}
	}
	p.log.Debug("staged blob", "digest", d, "how", s.How, "bytes", size)
	return s, nil
}

// StageLink stages a registry link file at rel (a link path from
// regpath.For) holding exactly regpath.LinkContent(target): "sha256:<hex>",
// 71 bytes, no newline. For link kinds whose path names a digest, it must be
// target. When the v2 tree already holds that file (found without following
// a symlink), nothing is written: Commit checks it again and counts it as
// Existing, or stages it then if it has gone or changed meanwhile.
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
	s := &Staged{rel: rel, Digest: target, Size: int64(len(regpath.LinkContent(target))), How: LinkFile, p: p}
	if p.hasLink(s) {
		s.pre = true
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return nil, ErrClosed
		}
		p.pre = append(p.pre, s)
		p.log.Debug("link already in place", "rel", rel, "target", target)
		return s, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := p.writeLink(s); err != nil {
		return nil, err
	}
	return s, nil
}

// writeLink stages the link file s.
func (p *Placer) writeLink(s *Staged) error {
	if err := p.writeStaged(s, func(w int) error {
		_, err := fdWriter(w).Write(regpath.LinkContent(s.Digest))
		return err
	}); err != nil {
		return &PathError{Op: "staging link", Path: s.path(), Digest: s.Digest, Err: err}
	}
	p.log.Debug("staged link", "rel", s.Rel(), "target", s.Digest)
	return nil
}

// hasLink reports whether the v2 tree holds the link file s as a regular
// file with exactly its content. It opens it relative to the v2 root with
// openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so a symlink anywhere below
// the root makes it report false (and Commit then refuses the path); so do
// errors and kernels without openat2.
func (p *Placer) hasLink(s *Staged) bool {
	if p.noOpenat2.Load() {
		return false
	}
	p.v2fdMu.RLock()
	defer p.v2fdMu.RUnlock()
	if p.v2fd < 0 {
		return false
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	var fd int
	var err error
	for {
		if fd, err = unix.Openat2(p.v2fd, s.Rel(), &how); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.ENOSYS) {
		p.noOpenat2.Store(true)
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != s.Size {
		return false
	}
	want := regpath.LinkContent(s.Digest)
	got := make([]byte, len(want)+1)
	n, err := io.ReadFull(&fdReader{fd: fd}, got)
	return errors.Is(err, io.ErrUnexpectedEOF) && bytes.Equal(got[:n], want)
}

// Discard removes a staged file that will not be committed. Discarding a
// committed or already discarded file does nothing; one that a running
// Commit is placing is refused with ErrNotStaged.
func (p *Placer) Discard(s *Staged) error {
	if s == nil || s.p != p {
		return ErrNotStaged
	}
	p.mu.Lock()
	t := s.tree
	switch {
	case s.pre && s.state == stateCommitting, !s.pre && s.state != stateDiscarded && t.sealed && !t.gone:
		p.mu.Unlock()
		return fmt.Errorf("%w: being committed", ErrNotStaged)
	case s.pre:
		if s.state == statePending {
			s.state = stateDiscarded
		}
		p.mu.Unlock()
		return nil
	case s.state == stateDiscarded, t.gone:
		p.mu.Unlock()
		return nil
	}
	s.state = stateDiscarded
	p.use(t)
	p.mu.Unlock()
	defer p.release(t)
	removed, err := p.removeStaged(t, s.Rel(), true)
	if err != nil {
		return &PathError{Op: "discarding", Path: s.path(), Digest: s.Digest, Err: err}
	}
	if removed {
		p.mu.Lock()
		p.files.drop(s.ino)
		t.staged.add(s.How, s.Size, -1)
		p.mu.Unlock()
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

// finish ends a stage that stageIn started (s.tree holds s's file): with
// err nil it records s's file in its tree; otherwise, or when the Placer
// was closed meanwhile, it removes the file.
func (p *Placer) finish(s *Staged, err error) (*Staged, error) {
	t := s.tree
	defer p.release(t)
	p.mu.Lock()
	if err == nil && p.closed {
		err = ErrClosed
	}
	if err == nil {
		crashPoint("staged")
		p.files.add(s.ino, s.How)
		t.staged.add(s.How, s.Size, 1)
		if s.How != LinkFile {
			s.rel = "" // Rel derives it
		}
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	if _, uerr := p.removeStaged(t, s.Rel(), true); uerr != nil {
		p.log.Warn("removing staged file", "path", s.path(), "err", uerr)
	}
	return nil, err
}

// writebackMin is the size from which a written staged file's writeback is
// started at once (writeStaged): small files are left to syncfs.
const writebackMin = 64 << 10

// writeStaged creates s's file exclusively (O_EXCL, 0644, no symlink
// followed) in the first staging tree where its name is free, runs fill on
// it, gives it Owner and mode 0644 through the fd where it lacks them,
// records its inode, closes it and finishes the stage. On error nothing of
// it is left staged.
func (p *Placer) writeStaged(s *Staged, fill func(fd int) error) error {
	fd := -1
	err := p.stageIn(s, func(t *stree) error {
		var err error
		fd, err = openFile(t.fd, s.Rel(), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, uint32(fileMode))
		if errors.Is(err, unix.EEXIST) {
			return errTaken
		}
		return err
	})
	if err != nil {
		return err
	}
	crashPoint("staged file created")
	err = fill(fd)
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err == nil {
		err = p.own(fd, &st)
	}
	if err == nil && st.Size >= writebackMin {
		// Start writing the data back now, while the next blob is read:
		// Commit's syncfs then finds little left to write. Only a hint
		// (its error is ignored); syncfs is what makes the data durable.
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		// Once written back, its pages leave the cache (writeBehind).
		if dup, derr := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); derr == nil {
			p.behind.add(dup, st.Size)
		}
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	s.ino = st.Ino
	_, err = p.finish(s, err)
	return err
}

// own gives the open file fd (whose stat is st) Owner and mode 0644,
// calling fchown and fchmod only when it lacks them.
func (p *Placer) own(fd int, st *unix.Stat_t) error {
	if int(st.Uid) != p.owner.UID || int(st.Gid) != p.owner.GID {
		if err := unix.Fchown(fd, p.owner.UID, p.owner.GID); err != nil {
			return err
		}
		crashPoint("staged file chowned")
	}
	if st.Mode&0o7777 != uint32(fileMode) {
		// Also after a chown, which may have cleared setuid/setgid bits.
		if err := unix.Fchmod(fd, uint32(fileMode)); err != nil {
			return err
		}
	}
	return nil
}

// linkStaged hardlinks the open source file fd (opened from src, stat st)
// to s's place in the tree t (errTaken when the name exists there). It
// links the open inode itself (linkat AT_EMPTY_PATH, which needs
// CAP_DAC_READ_SEARCH); without that capability it links src by name and
// checks that the link is the inode that was opened and checked (src was
// not swapped in between).
func (p *Placer) linkStaged(s *Staged, t *stree, fd int, src string, st *unix.Stat_t) error {
	if !p.noEmptyPath.Load() {
		err := unix.Linkat(fd, "", t.fd, s.Rel(), unix.AT_EMPTY_PATH)
		if errors.Is(err, unix.EEXIST) {
			return errTaken
		}
		if !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	if err := unix.Linkat(unix.AT_FDCWD, src, t.fd, s.Rel(), 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errTaken
		}
		return err
	}
	var got unix.Stat_t
	err := unix.Fstatat(t.fd, s.Rel(), &got, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && (got.Ino != st.Ino || got.Dev != st.Dev) {
		err = fmt.Errorf("%w: %s changed while staging", ErrConflict, src)
	}
	if err != nil {
		_ = unix.Unlinkat(t.fd, s.Rel(), 0)
		return err
	}
	// The open inode could not be linked, its name could: no capability.
	p.noEmptyPath.Store(true)
	return nil
}

// openFile is openat(2) with O_CLOEXEC, retried on EINTR.
func openFile(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, mode)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// fdWriter writes all of b to a file descriptor.
type fdWriter int

func (w fdWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(w), b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

// fdReader reads a file descriptor from offset off on (pread), leaving the
// descriptor's own offset alone.
type fdReader struct {
	fd  int
	off int64
}

func (r *fdReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Pread(r.fd, b, r.off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		r.off += int64(n)
		return n, nil
	}
}

// copyPlain copies exactly size bytes from src to dst (file descriptors)
// with copy_file_range (so reflinks where the filesystem has them), in
// chunks to honour ctx, falling back to read and write where the kernel
// refuses it, and checks that src ends there.
func copyPlain(ctx context.Context, dst, src int, size int64) error {
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		in := off
		n, err := unix.CopyFileRange(src, &in, dst, nil, int(min(copyChunk, size-off)), 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) ||
			errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM) {
			m, err := io.CopyN(fdWriter(dst), &fdReader{fd: src, off: off}, size-off)
			off += m
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	if off < size {
		return fmt.Errorf("%w: source ended after %d bytes, want %d", ErrSizeMismatch, off, size)
	}
	var one [1]byte
	if m, _ := (&fdReader{fd: src, off: size}).Read(one[:]); m > 0 {
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
