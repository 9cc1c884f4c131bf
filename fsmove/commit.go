package fsmove

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// Result counts what one Commit did.
type Result struct {
	Linked   int // blobs placed that were hardlinked from their source
	Copied   int // blobs placed that were copied from their source
	Streamed int // blobs placed that were written from a stream
	Links    int // link files placed
	Existing int // staged files dropped because the destination already held them
	// Bytes is the size of the blobs placed by copy or stream: data this
	// Commit added to the storage (hardlinked and existing blobs add none).
	Bytes       int64
	DirsCreated int // directories created under the v2 root
}

// BlobExists reports whether the v2 tree holds the data file of blob d with
// the given size. A data file of another size, or something that is not a
// regular file, is an error (ErrSizeMismatch, ErrConflict): it is never
// overwritten.
func (p *Placer) BlobExists(d digest.Digest, size int64) (bool, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return false, fmt.Errorf("checking blob: %w", err)
	}
	dst := p.abs(rel)
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, &PathError{Op: "checking blob", Path: dst, Digest: d, Err: err}
	}
	if err := checkExistingBlob(fi, size); err != nil {
		return false, &PathError{Op: "checking blob", Path: dst, Digest: d, Err: err}
	}
	return true, nil
}

func checkExistingBlob(fi os.FileInfo, size int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: existing blob data is a %s, not a regular file", ErrConflict, fi.Mode().Type())
	}
	if fi.Size() != size {
		return fmt.Errorf("%w: existing blob data has %d bytes, want %d", ErrSizeMismatch, fi.Size(), size)
	}
	return nil
}

// Commit makes staged files visible in the v2 tree:
//
//  1. chown (Owner) and chmod 0644 every staged file;
//  2. syncfs, so every staged byte and inode is durable;
//  3. rename each into place without replacing anything (renameat2
//     RENAME_NOREPLACE; link+unlink where the filesystem lacks it), creating
//     missing parent directories (0755, Owner). An existing destination is
//     kept when it is the same blob size or an identical link file (the
//     staged copy is dropped and counted as Existing); otherwise Commit fails
//     with ErrSizeMismatch or ErrConflict;
//  4. syncfs again, so the names are durable before Commit returns.
//
// Every file and directory Commit creates is recorded for Rollback. When
// Commit fails, what it placed so far stays; call Rollback to remove it.
// progress, when not nil, is called after each file of step 3.
func (p *Placer) Commit(ctx context.Context, staged []*Staged, progress func(done, total int)) (Result, error) {
	var res Result
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return res, ErrClosed
	}
	seen := make(map[*Staged]bool, len(staged))
	for i, s := range staged {
		var why string
		switch {
		case s == nil:
			why = "nil"
		case s.p != p:
			why = "staged by another placer"
		case s.state == stateCommitted:
			why = "already committed"
		case s.state == stateDiscarded:
			why = "discarded"
		case seen[s]:
			why = "listed twice"
		}
		if why != "" {
			p.mu.Unlock()
			return res, fmt.Errorf("committing staged file %d: %w: %s", i, ErrNotStaged, why)
		}
		seen[s] = true
	}
	p.mu.Unlock()
	if len(staged) == 0 {
		return res, nil
	}

	// 1. ownership and mode; remember each inode for Rollback.
	inodes := make([]os.FileInfo, len(staged))
	for i, s := range staged {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := setOwnerMode(s.tmp, p.owner, fileMode); err != nil {
			return res, &PathError{Op: "chowning", Path: s.tmp, Digest: s.Digest, Err: err}
		}
		fi, err := os.Lstat(s.tmp)
		if err != nil {
			return res, &PathError{Op: "chowning", Path: s.tmp, Digest: s.Digest, Err: err}
		}
		inodes[i] = fi
	}

	// 2. staged data durable before any name appears in the v2 tree.
	if err := p.syncfs(); err != nil {
		return res, err
	}

	// 3. rename into place.
	known := make(map[string]bool) // directories known to exist
	for i, s := range staged {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		placed, err := p.place(s, known, &res)
		if err != nil {
			return res, err
		}
		p.mu.Lock()
		s.state = stateCommitted
		delete(p.pending, s)
		if placed {
			p.files = append(p.files, created{path: p.abs(s.Rel), fi: inodes[i]})
		}
		p.mu.Unlock()
		if placed {
			switch s.How {
			case Linked:
				res.Linked++
			case Copied:
				res.Copied++
				res.Bytes += s.Size
			case Streamed:
				res.Streamed++
				res.Bytes += s.Size
			case LinkFile:
				res.Links++
			}
		} else {
			res.Existing++
		}
		if progress != nil {
			progress(i+1, len(staged))
		}
	}

	// 4. names durable before the caller writes rows that point at them.
	if err := p.syncfs(); err != nil {
		return res, err
	}
	p.log.Info("committed files to registry storage",
		"linked", res.Linked, "copied", res.Copied, "streamed", res.Streamed, "links", res.Links,
		"existing", res.Existing, "bytes", res.Bytes, "dirs_created", res.DirsCreated)
	return res, nil
}

// renameat2 is a variable so a test can take the fallback path.
var renameat2 = unix.Renameat2

// place moves s's temp to its destination. placed is false when an
// acceptable destination already existed and the temp was dropped.
func (p *Placer) place(s *Staged, known map[string]bool, res *Result) (placed bool, err error) {
	dst := p.abs(s.Rel)
	if err := p.mkdirs(path.Dir(s.Rel), known, res); err != nil {
		return false, err
	}
	err = renameat2(unix.AT_FDCWD, s.tmp, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here: link(2) never replaces either.
		if err = unix.Link(s.tmp, dst); err == nil {
			if rerr := os.Remove(s.tmp); rerr != nil {
				p.log.Warn("removing staged temp after link", "path", s.tmp, "err", rerr)
			}
		}
	}
	if err == nil {
		p.log.Debug("placed", "path", dst, "how", s.How)
		return true, nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return false, &PathError{Op: "placing", Path: dst, Digest: s.Digest, Err: err}
	}
	if err := p.checkExisting(s, dst); err != nil {
		return false, &PathError{Op: "placing", Path: dst, Digest: s.Digest, Err: err}
	}
	if err := os.Remove(s.tmp); err != nil {
		p.log.Warn("removing staged temp", "path", s.tmp, "err", err)
	}
	p.log.Debug("kept existing", "path", dst)
	return false, nil
}

// checkExisting accepts an existing destination holding what s would.
func (p *Placer) checkExisting(s *Staged, dst string) error {
	fi, err := os.Lstat(dst)
	if err != nil {
		return err
	}
	if s.How != LinkFile {
		return checkExistingBlob(fi, s.Size)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: existing link is a %s, not a regular file", ErrConflict, fi.Mode().Type())
	}
	want := regpath.LinkContent(s.Digest)
	f, err := os.Open(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: existing link holds %q, want %q", ErrConflict, got, want)
	}
	return nil
}

// mkdirs creates the missing directories of rel (relative to the v2 root,
// '/'-separated) top-down, recording each for Rollback.
func (p *Placer) mkdirs(rel string, known map[string]bool, res *Result) error {
	if rel == "." || known[rel] {
		return nil
	}
	if err := p.mkdirs(path.Dir(rel), known, res); err != nil {
		return err
	}
	dir := p.abs(rel)
	made, err := mkdirOwned(dir, p.staging, p.owner)
	if made {
		fi, serr := os.Lstat(dir)
		if serr == nil {
			p.mu.Lock()
			p.dirs = append(p.dirs, created{path: dir, fi: fi})
			p.mu.Unlock()
		}
		res.DirsCreated++
	}
	if err != nil {
		return err
	}
	known[rel] = true
	return nil
}

// Rollback removes what Commit created, for when the database transaction
// that should point at it fails: files first, then directories deepest
// first. A file is removed only if it is still the inode Commit placed, a
// directory only if empty (the registry may have put something in it
// meanwhile); what is left is logged. Pre-existing files are never touched.
// The removals are made durable with syncfs. Rollback forgets what it
// handled, so a second call does nothing.
func (p *Placer) Rollback(ctx context.Context) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	files, dirs := p.files, p.dirs
	p.files, p.dirs = nil, nil
	p.mu.Unlock()

	var errs []error
	removedFiles, removedDirs := 0, 0
	for i := len(files) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			p.restore(files[:i+1], dirs)
			return errors.Join(append(errs, err)...)
		}
		c := files[i]
		fi, err := os.Lstat(c.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			errs = append(errs, &PathError{Op: "rolling back", Path: c.path, Err: err})
			continue
		case !os.SameFile(fi, c.fi):
			p.log.Warn("rollback: file was replaced since commit; leaving it", "path", c.path)
			continue
		}
		if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &PathError{Op: "rolling back", Path: c.path, Err: err})
			continue
		}
		removedFiles++
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		c := dirs[i]
		fi, err := os.Lstat(c.path)
		if err != nil || !os.SameFile(fi, c.fi) {
			continue
		}
		if err := unix.Rmdir(c.path); err != nil {
			if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
				p.log.Warn("rollback: directory not empty; leaving it", "path", c.path)
				continue
			}
			errs = append(errs, &PathError{Op: "rolling back", Path: c.path, Err: err})
			continue
		}
		removedDirs++
	}
	if removedFiles+removedDirs > 0 {
		// Make the removals durable too: a crash must not bring back
		// revision links the database knows nothing about.
		if err := p.syncfs(); err != nil {
			errs = append(errs, err)
		}
	}
	p.log.Info("rolled back registry storage", "files", removedFiles, "dirs", removedDirs)
	return errors.Join(errs...)
}

// restore puts back records a cancelled Rollback did not handle.
func (p *Placer) restore(files, dirs []created) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files = append(files, p.files...)
	p.dirs = append(dirs, p.dirs...)
}

func (p *Placer) syncfs() error {
	f, err := os.Open(p.v2)
	if err != nil {
		return &PathError{Op: "syncing", Path: p.v2, Err: err}
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &PathError{Op: "syncing", Path: p.v2, Err: err}
	}
	return nil
}

func (p *Placer) abs(rel string) string { return filepath.Join(p.v2, filepath.FromSlash(rel)) }
