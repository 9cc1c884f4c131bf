package fsmove

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// A caller that stages many blobs before it knows which it needs, as a
// tarball's scan does, need keep nothing per blob: the staging trees are
// the record (see stree), and the functions below find a staged blob by
// its digest. They see blobs staged and neither discarded nor committed.

// DiscardBlob discards the staged, uncommitted blob d (from StageFile or
// StageReader) in the first open staging tree that holds it, as Discard
// would with its *Staged. A blob that is not staged is not an error; one
// that a running Commit is placing is refused with ErrNotStaged.
func (p *Placer) DiscardBlob(d digest.Digest) error {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return fmt.Errorf("discarding blob: %w", err)
	}
	return p.inTrees(d, rel, "discarding", func(t *stree) (bool, error) {
		var st unix.Stat_t
		err := unix.Fstatat(t.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil {
			return false, err
		}
		removed, err := p.removeStaged(t, rel, true)
		if removed {
			p.mu.Lock()
			how, _ := p.files.how(st.Ino)
			p.files.drop(st.Ino)
			t.staged.add(how, st.Size, -1)
			p.mu.Unlock()
		}
		return removed, err
	})
}

// StagedBlob reports whether blob d is staged, and its size.
func (p *Placer) StagedBlob(d digest.Digest) (size int64, ok bool, err error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return 0, false, fmt.Errorf("looking up staged blob: %w", err)
	}
	err = p.inTrees(d, rel, "looking up", func(t *stree) (bool, error) {
		var st unix.Stat_t
		if err := unix.Fstatat(t.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return false, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return false, fmt.Errorf("%w: staged blob is a %s", ErrConflict, modeType(st.Mode))
		}
		size, ok = st.Size, true
		return true, nil
	})
	return size, ok, err
}

// OpenStagedBlob opens the staged blob d for reading; the error is
// os.ErrNotExist when d is not staged. The file is the one Commit will
// place: the caller must not write it (it is opened read-only) and should
// close it before Commit.
func (p *Placer) OpenStagedBlob(d digest.Digest) (*os.File, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return nil, fmt.Errorf("opening staged blob: %w", err)
	}
	var f *os.File
	err = p.inTrees(d, rel, "opening", func(t *stree) (bool, error) {
		fd, err := openFile(t.fd, rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return false, err
		}
		f = os.NewFile(uintptr(fd), filepath.Join(p.staging, t.name, filepath.FromSlash(rel)))
		return true, nil
	})
	if err == nil && f == nil {
		err = &PathError{Op: "opening", Path: filepath.Join(p.staging, filepath.FromSlash(rel)), Digest: d, Err: os.ErrNotExist}
	}
	return f, err
}

// DiscardBlobsExcept discards every staged, uncommitted blob for which
// keep returns false, and returns how many it discarded. It reads the
// staging trees' blob directories (one getdents per two-hex-digit
// directory), so it costs nothing per blob kept but the call to keep.
func (p *Placer) DiscardBlobsExcept(keep func(digest.Digest) bool) (int, error) {
	var drop []digest.Digest
	err := p.eachTree(func(t *stree) (bool, error) {
		err := eachStagedBlob(t, func(d digest.Digest) {
			if !keep(d) {
				drop = append(drop, d)
			}
		})
		if err != nil {
			return false, &PathError{Op: "listing staged blobs in", Path: filepath.Join(p.staging, t.name), Err: err}
		}
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("discarding blobs: %w", err)
	}
	for i, d := range drop {
		if err := p.DiscardBlob(d); err != nil {
			return i, err
		}
	}
	return len(drop), nil
}

// eachStagedBlob calls fn with the digest of every sha256 blob in t.
func eachStagedBlob(t *stree, fn func(digest.Digest)) error {
	const dir = "blobs/sha256"
	fd, err := openDir(t.fd, dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tops, err := readDirents(fd)
	if err != nil {
		return err
	}
	for _, top := range tops {
		if !top.isDir() {
			continue
		}
		cfd, err := openDir(fd, top.name)
		if err != nil {
			return err
		}
		ents, err := readDirents(cfd)
		unix.Close(cfd)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if d := digest.NewDigestFromEncoded(digest.SHA256, e.name); e.isDir() && d.Validate() == nil {
				fn(d)
			}
		}
	}
	return nil
}

// inTrees calls fn on each open staging tree in turn (rel is blob d's path
// there) until fn reports done (whatever its error). An ENOENT or ENOTDIR
// from fn means "not in this tree"; another error stops the search as a
// PathError naming op.
func (p *Placer) inTrees(d digest.Digest, rel, op string, fn func(t *stree) (done bool, err error)) error {
	err := p.eachTree(func(t *stree) (bool, error) {
		done, err := fn(t)
		if !done && err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			return false, &PathError{Op: op, Path: filepath.Join(p.staging, t.name, filepath.FromSlash(rel)), Digest: d, Err: err}
		}
		return done, nil
	})
	if errors.Is(err, errCommitting) {
		return fmt.Errorf("%s blob %s: %w", op, d, err)
	}
	return err
}

// errCommitting: a staging tree is taken by a running Commit.
var errCommitting = fmt.Errorf("%w: being committed", ErrNotStaged)

// eachTree calls fn on each open staging tree in turn, with a user counted
// on it, until fn reports done or fails. A tree being committed stops it
// with errCommitting.
func (p *Placer) eachTree(fn func(t *stree) (done bool, err error)) error {
	p.mu.Lock()
	trees := slices.Clone(p.trees)
	p.mu.Unlock()
	for _, t := range trees {
		p.mu.Lock()
		if t.gone {
			p.mu.Unlock()
			continue
		}
		if t.sealed {
			p.mu.Unlock()
			return errCommitting
		}
		p.use(t)
		p.mu.Unlock()
		done, err := fn(t)
		p.release(t)
		if done || err != nil {
			return err
		}
	}
	return nil
}
