package fsmove

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

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

// placed is one thing Commit created in the v2 tree: a file, or a
// directory moved in whole (dir holds what it held then).
type placed struct {
	rel      string // below the v2 root
	dev, ino uint64
	dir      *tnode
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
	var st unix.Stat_t
	err = unix.Lstat(dst, &st)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, &PathError{Op: "checking blob", Path: dst, Digest: d, Err: err}
	}
	if err := checkExistingBlob(&st, size); err != nil {
		return false, &PathError{Op: "checking blob", Path: dst, Digest: d, Err: err}
	}
	return true, nil
}

func checkExistingBlob(st *unix.Stat_t, size int64) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: existing blob data is a %s, not a regular file", ErrConflict, modeType(st.Mode))
	}
	if st.Size != size {
		return fmt.Errorf("%w: existing blob data has %d bytes, want %d", ErrSizeMismatch, st.Size, size)
	}
	return nil
}

// Commit makes staged files visible in the v2 tree. Staging already gave
// every file and directory its owner and mode. Link files that StageLink
// found in place are read again first: still there, they count as
// Existing; gone or changed, they are staged now. Then Commit
//
//  1. calls syncfs, so every staged byte, inode and directory is durable;
//  2. merges each staging tree into the v2 tree, top-down, never replacing
//     anything (renameat2 RENAME_NOREPLACE): a directory that the v2 tree
//     lacks is moved in whole with one rename, one that it has is descended
//     into, and each file is renamed into an existing directory. An existing
//     destination is kept when it is the same blob size or an identical
//     link file (the staged copy is dropped and counted as Existing);
//     otherwise Commit fails with ErrSizeMismatch or ErrConflict. A
//     symlink, or any other non-directory, where a directory must be is
//     ErrConflict: Commit never follows a symlink in the v2 tree;
//  3. calls syncfs again, so the names are durable before Commit returns.
//
// Pending files of this Placer that staged does not list stay staged (they
// are moved to another staging tree first). Every file and every directory
// moved in whole that Commit creates is recorded for Rollback. When Commit
// fails, what it placed so far stays (call Rollback to remove it) and the
// rest stays staged. progress, when not nil, is called after each file, or
// once for all the files of a directory moved in whole.
func (p *Placer) Commit(ctx context.Context, staged []*Staged, progress func(done, total int)) (res Result, err error) {
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
	if len(staged) == 0 {
		p.mu.Unlock()
		return res, nil
	}
	for _, s := range staged {
		s.state = stateCommitting
	}
	p.mu.Unlock()

	// Link files that were in place when staged: still there (Existing),
	// or staged now.
	var sealed []*stree
	defer func() {
		if err != nil {
			p.unseal(sealed, staged)
		}
	}()
	done := 0
	for _, s := range staged {
		if !s.pre {
			continue
		}
		if p.hasLink(s) {
			p.mu.Lock()
			s.state = stateCommitted
			delete(p.pending, s)
			p.mu.Unlock()
			res.Existing++
			done++
			continue
		}
		if err := p.stageLate(ctx, s); err != nil {
			return res, err
		}
	}
	if done > 0 && progress != nil {
		progress(done, len(staged))
	}

	p.mu.Lock()
	sealed = p.trees
	p.trees = nil
	p.mu.Unlock()
	for _, t := range sealed {
		t.users.Wait()
	}
	if err := p.carryOver(sealed); err != nil {
		return res, err
	}

	// 1. staged data durable before any name appears in the v2 tree.
	if err := p.syncfs(); err != nil {
		return res, err
	}
	crashPoint("synced staging")

	// 2. merge the trees into place.
	v2fd, err := openFile(unix.AT_FDCWD, p.v2, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return res, &PathError{Op: "placing", Path: p.v2, Err: err}
	}
	defer unix.Close(v2fd)
	m := &merger{p: p, ctx: ctx, res: &res, done: done, total: len(staged), progress: progress}
	for _, t := range sealed {
		if t.gone {
			continue
		}
		m.t = t
		if err := m.merge(t.root, v2fd); err != nil {
			return res, err
		}
		p.mu.Lock()
		p.prune(t, t.root)
		p.mu.Unlock()
	}

	// 3. names durable before the caller writes rows that point at them.
	if err := p.syncfs(); err != nil {
		return res, err
	}
	p.log.Info("committed files to registry storage",
		"linked", res.Linked, "copied", res.Copied, "streamed", res.Streamed, "links", res.Links,
		"existing", res.Existing, "bytes", res.Bytes, "dirs_created", res.DirsCreated)
	return res, nil
}

// stageLate stages the link file s, which StageLink found in place but
// which has gone or changed since, into an open tree.
func (p *Placer) stageLate(ctx context.Context, s *Staged) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	err := p.reserve(s)
	p.mu.Unlock()
	if err != nil {
		return &PathError{Op: "staging", Path: p.staging, Digest: s.Digest, Err: err}
	}
	s.pre = false
	if _, err := p.writeLink(s); err != nil {
		s.pre = true
		return err
	}
	p.log.Debug("link gone since staged; staged it", "rel", s.Rel)
	return nil
}

// carryOver moves the pending files that sit in sealed trees but are not
// being committed to an open tree, so that merging the sealed trees places
// exactly the files Commit was given.
func (p *Placer) carryOver(sealed []*stree) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.pending {
		if s.state != statePending || !slices.Contains(sealed, s.tree) {
			continue
		}
		from, fromDir := s.tree, s.dir
		if err := p.reserve(s); err != nil {
			s.tree, s.dir = from, fromDir
			return err
		}
		err := renameat2(from.fd, s.Rel, s.tree.fd, s.Rel, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			err = unix.Renameat(from.fd, s.Rel, s.tree.fd, s.Rel) // a fresh reservation: nothing to replace
		}
		s.tree.users.Done()
		if err != nil {
			s.dir.files.del(s.name)
			p.prune(s.tree, s.dir)
			s.tree, s.dir = from, fromDir
			return &PathError{Op: "moving staged file", Path: s.path(), Digest: s.Digest, Err: err}
		}
		crashPoint("carried over staged file")
		fromDir.files.del(s.name)
		p.prune(from, fromDir)
	}
	return nil
}

// unseal hands the trees of a failed Commit back for staging and a later
// Commit; what was not placed is pending again.
func (p *Placer) unseal(sealed []*stree, staged []*Staged) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range staged {
		if s.state == stateCommitting {
			s.state = statePending
		}
	}
	var keep []*stree
	for _, t := range sealed {
		if !t.gone {
			keep = append(keep, t)
		}
	}
	p.trees = append(keep, p.trees...)
}

// renameat2 is a variable so a test can take the fallback path.
var renameat2 = unix.Renameat2

// merger merges one sealed staging tree into the v2 tree.
type merger struct {
	p        *Placer
	ctx      context.Context
	t        *stree
	res      *Result
	done     int
	total    int
	progress func(done, total int)
}

// merge merges the staging directory n into the v2 directory open as v2fd:
// its subdirectories first, then its files.
func (m *merger) merge(n *tnode, v2fd int) error {
	for _, name := range n.dirs.sortedNames() {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		c, _ := n.dirs.get(name)
		moved, err := m.moveDir(c, v2fd)
		if err != nil || moved {
			if err != nil {
				return err
			}
			continue
		}
		fd, err := openDir(v2fd, name)
		if err != nil {
			return &PathError{Op: "placing", Path: m.p.abs(c.rel()), Err: err}
		}
		err = m.merge(c, fd)
		unix.Close(fd)
		if err != nil {
			return err
		}
		m.p.mu.Lock()
		m.p.prune(m.t, c)
		m.p.mu.Unlock()
	}
	for _, name := range n.files.sortedNames() {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		s, _ := n.files.get(name)
		if err := m.placeFile(s, v2fd); err != nil {
			return err
		}
	}
	return nil
}

// moveDir renames the staging directory c into the v2 directory v2fd
// unless that holds c.name already (moved false: descend).
func (m *merger) moveDir(c *tnode, v2fd int) (moved bool, err error) {
	crel := c.rel()
	err = renameat2(m.t.fd, crel, v2fd, c.name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE: a plain rename replaces only an empty
		// directory, so check first; the window is the registry creating
		// the same empty directory at the same instant.
		var there unix.Stat_t
		switch serr := unix.Fstatat(v2fd, c.name, &there, unix.AT_SYMLINK_NOFOLLOW); {
		case serr == nil:
			err = unix.EEXIST
		case errors.Is(serr, unix.ENOENT):
			err = unix.Renameat(m.t.fd, crel, v2fd, c.name)
		default:
			err = serr
		}
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return false, nil
	}
	if err != nil {
		return false, &PathError{Op: "placing", Path: m.p.abs(crel), Err: err}
	}
	crashPoint("moved directory")
	// Its inode, for Rollback. Should this fail (it cannot, short of
	// someone replacing a non-empty directory in this instant), inode 0
	// makes Rollback leave the directory where it is.
	var st unix.Stat_t
	if err := unix.Fstatat(v2fd, c.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		p := m.p
		p.log.Warn("checking a directory just placed", "path", p.abs(crel), "err", err)
		st = unix.Stat_t{}
	}

	var files []*Staged
	dirs := 0
	c.walk(func(d *tnode) {
		dirs++
		d.files.each(func(_ string, s *Staged) { files = append(files, s) })
	})
	p := m.p
	p.mu.Lock()
	c.parent.dirs.del(c.name)
	c.parent = nil
	for _, s := range files {
		s.state = stateCommitted
		delete(p.pending, s)
	}
	p.placed = append(p.placed, placed{rel: crel, dev: p.dev, ino: st.Ino, dir: c})
	p.mu.Unlock()
	for _, s := range files {
		m.count(s)
	}
	m.res.DirsCreated += dirs
	p.log.Debug("placed directory", "path", p.abs(crel), "files", len(files), "dirs", dirs)
	m.done += len(files)
	if m.progress != nil {
		m.progress(m.done, m.total)
	}
	return true, nil
}

// placeFile renames s into the v2 directory v2fd without replacing
// anything, or drops it when an acceptable destination is there.
func (m *merger) placeFile(s *Staged, v2fd int) error {
	t, p := m.t, m.p
	err := renameat2(t.fd, s.Rel, v2fd, s.name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here: link(2) never replaces either.
		if err = unix.Linkat(t.fd, s.Rel, v2fd, s.name, 0); err == nil {
			if rerr := unix.Unlinkat(t.fd, s.Rel, 0); rerr != nil {
				p.log.Warn("removing staged file after link", "path", s.path(), "err", rerr)
			}
		}
	}
	dst := p.abs(s.Rel)
	ok := err == nil
	switch {
	case ok:
		crashPoint("placed file")
		p.log.Debug("placed", "path", dst, "how", s.How)
	case !errors.Is(err, unix.EEXIST):
		return &PathError{Op: "placing", Path: dst, Digest: s.Digest, Err: err}
	default:
		if err := checkExisting(s, v2fd); err != nil {
			return &PathError{Op: "placing", Path: dst, Digest: s.Digest, Err: err}
		}
		if err := unix.Unlinkat(t.fd, s.Rel, 0); err != nil {
			p.log.Warn("removing staged file", "path", s.path(), "err", err)
		}
		crashPoint("dropped staged file")
		p.log.Debug("kept existing", "path", dst)
	}
	p.mu.Lock()
	s.state = stateCommitted
	delete(p.pending, s)
	s.dir.files.del(s.name)
	if ok {
		p.placed = append(p.placed, placed{rel: s.Rel, dev: p.dev, ino: s.ino})
	}
	p.mu.Unlock()
	if ok {
		m.count(s)
	} else {
		m.res.Existing++
	}
	m.done++
	if m.progress != nil {
		m.progress(m.done, m.total)
	}
	return nil
}

// count adds a placed file to the result.
func (m *merger) count(s *Staged) {
	switch s.How {
	case Linked:
		m.res.Linked++
	case Copied:
		m.res.Copied++
		m.res.Bytes += s.Size
	case Streamed:
		m.res.Streamed++
		m.res.Bytes += s.Size
	case LinkFile:
		m.res.Links++
	}
}

// checkExisting accepts an existing destination (s.name in the v2
// directory dirfd) holding what s would.
func checkExisting(s *Staged, dirfd int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, s.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if s.How != LinkFile {
		return checkExistingBlob(&st, s.Size)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: existing link is a %s, not a regular file", ErrConflict, modeType(st.Mode))
	}
	want := regpath.LinkContent(s.Digest)
	fd, err := openFile(dirfd, s.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	got, err := io.ReadAll(io.LimitReader(&fdReader{fd: fd}, 256))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: existing link holds %q, want %q", ErrConflict, got, want)
	}
	return nil
}

// Rollback removes what Commit created, for when the database transaction
// that should point at it fails, newest first. A file is removed only if it
// is still the inode Commit placed. A directory Commit moved in whole is
// first checked in place: when it still holds only what Commit moved in
// (same names, same file inodes), it is renamed back into the staging
// directory with one rename, so it leaves the v2 tree at once, and removed
// there; when something else was added to it meanwhile, its files are
// removed one by one as above and its directories only if empty, so what
// others added stays. Pre-existing files are never touched; what is left is
// logged. The removals are made durable with syncfs. Rollback forgets what
// it handled, so a second call does nothing.
func (p *Placer) Rollback(ctx context.Context) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	all := p.placed
	p.placed = nil
	p.mu.Unlock()

	var errs []error
	r := rollback{p: p}
	for i := len(all) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			p.mu.Lock()
			p.placed = append(all[:i+1], p.placed...)
			p.mu.Unlock()
			return errors.Join(append(errs, err)...)
		}
		if err := r.undo(all[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if r.files+r.dirs > 0 {
		// Make the removals durable too: a crash must not bring back
		// revision links the database knows nothing about.
		if err := p.syncfs(); err != nil {
			errs = append(errs, err)
		}
	}
	p.log.Info("rolled back registry storage", "files", r.files, "dirs", r.dirs)
	return errors.Join(errs...)
}

// rollback counts what Rollback removed.
type rollback struct {
	p           *Placer
	files, dirs int
}

func (r *rollback) undo(e placed) error {
	p := r.p
	path := p.abs(e.rel)
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return nil
	case err != nil:
		return &PathError{Op: "rolling back", Path: path, Err: err}
	case st.Ino != e.ino || st.Dev != e.dev:
		p.log.Warn("rollback: replaced since commit; leaving it", "path", path)
		return nil
	}
	if e.dir == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &PathError{Op: "rolling back", Path: path, Err: err}
		}
		crashPoint("rolled back file")
		r.files++
		return nil
	}
	if ok, err := onlyOurs(path, e.dir); err != nil {
		return &PathError{Op: "rolling back", Path: path, Err: err}
	} else if ok {
		if done, err := r.moveBack(path, e.dir); done || err != nil {
			return err
		}
	}
	p.log.Warn("rollback: directory holds files this run did not place; removing only this run's", "path", path)
	return r.removeEach(path, e.dir)
}

// moveBack renames the directory path (which held only what n records) into
// staging and removes it there. Should something have been added between
// the check and the rename, it renames it back (done false: remove one by
// one instead).
func (r *rollback) moveBack(path string, n *tnode) (done bool, err error) {
	p := r.p
	name, err := randomName("tree-")
	if err != nil {
		return false, err
	}
	tmp := filepath.Join(p.staging, name)
	err = renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, tmp, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		err = os.Rename(path, tmp) // tmp is a fresh random name
	}
	if err != nil {
		return false, &PathError{Op: "rolling back", Path: path, Err: err}
	}
	crashPoint("moved directory back")
	if ok, err := onlyOurs(tmp, n); err != nil || !ok {
		if rerr := renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); rerr != nil {
			// Keep it out of CleanStaging's reach: it holds another's files.
			kept := filepath.Join(p.staging, "kept-"+name)
			_ = os.Rename(tmp, kept)
			return true, &PathError{Op: "rolling back", Path: path,
				Err: fmt.Errorf("files were added while rolling back and could not be put back (%w); they are in %s", rerr, kept)}
		}
		return false, err
	}
	files, err := removeTree(tmp)
	if err != nil {
		// It is out of the v2 tree; CleanStaging removes the rest.
		p.log.Warn("rollback: removing a directory moved back into staging", "path", tmp, "err", err)
	}
	dirs := 0
	n.walk(func(*tnode) { dirs++ })
	r.files += files
	r.dirs += dirs
	return true, nil
}

// onlyOurs reports whether the directory path holds nothing but what n
// records: the same names, directories as directories, files with their
// staged inodes. What n records but is gone does not matter.
func onlyOurs(path string, n *tnode) (bool, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		child := filepath.Join(path, e.Name())
		if c, ok := n.dirs.get(e.Name()); ok && e.IsDir() {
			if ok, err := onlyOurs(child, c); !ok || err != nil {
				return false, err
			}
			continue
		}
		s, ok := n.files.get(e.Name())
		if !ok || !e.Type().IsRegular() {
			return false, nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(child, &st); err != nil {
			return false, err
		}
		if st.Ino != s.ino {
			return false, nil
		}
	}
	return true, nil
}

// removeEach removes, below the directory path, the files n records that
// are still their staged inodes, then the directories n records that are
// empty, deepest first.
func (r *rollback) removeEach(path string, n *tnode) error {
	var errs []error
	n.files.each(func(name string, s *Staged) {
		f := filepath.Join(path, name)
		var st unix.Stat_t
		if err := unix.Lstat(f, &st); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, &PathError{Op: "rolling back", Path: f, Err: err})
			}
			return
		}
		if st.Ino != s.ino {
			r.p.log.Warn("rollback: file was replaced since commit; leaving it", "path", f)
			return
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &PathError{Op: "rolling back", Path: f, Err: err})
			return
		}
		crashPoint("rolled back file")
		r.files++
	})
	n.dirs.each(func(name string, c *tnode) {
		var st unix.Stat_t
		d := filepath.Join(path, name)
		if err := unix.Lstat(d, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return
		}
		if err := r.removeEach(d, c); err != nil {
			errs = append(errs, err)
		}
	})
	if err := unix.Rmdir(path); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			r.p.log.Warn("rollback: directory not empty; leaving it", "path", path)
		} else if !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &PathError{Op: "rolling back", Path: path, Err: err})
		}
	} else {
		r.dirs++
	}
	return errors.Join(errs...)
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
