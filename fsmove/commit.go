package fsmove

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/harbor-import/harbor-import/internal/smallfile"
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
// directory moved in whole.
type placed struct {
	rel      string // below the v2 root
	dev, ino uint64
	dir      bool
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

// Commit makes every staged file visible in the v2 tree. Staging already
// gave every file and directory its owner and mode. Link files that
// StageLink found in place are read again first: still there, they count as
// Existing; gone or changed, they are staged now. Then Commit
//
//  1. calls syncfs, so every staged byte, inode and directory is durable;
//  2. merges each staging tree into the v2 tree, top-down, reading it back
//     with getdents and never replacing anything (renameat2
//     RENAME_NOREPLACE): a directory that the v2 tree lacks is moved in
//     whole with one rename, one that it has is descended into, and each
//     file is renamed into an existing directory. An existing destination
//     is kept when it is the same blob size or an identical link file (the
//     staged copy is dropped and counted as Existing); otherwise Commit
//     fails with ErrSizeMismatch or ErrConflict. A symlink, or any other
//     non-directory, where a directory must be is ErrConflict: Commit never
//     follows a symlink in the v2 tree;
//  3. calls syncfs again, so the names are durable before Commit returns.
//
// Every file and every directory moved in whole that Commit creates is
// recorded for Rollback. When Commit fails, what it placed so far stays
// (call Rollback to remove it) and the rest stays staged for a later
// Commit. progress, when not nil, is called with the files handled so far
// and in all: after each file placed or dropped on its own, and at the end.
func (p *Placer) Commit(ctx context.Context, progress func(done, total int)) (res Result, err error) {
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
	var pre []*Staged
	for _, s := range p.pre {
		if s.state == statePending {
			s.state = stateCommitting
			pre = append(pre, s)
		}
	}
	p.pre = nil
	p.mu.Unlock()

	var sealed []*stree
	defer func() {
		if err != nil {
			p.unseal(sealed, pre)
		}
	}()

	// Link files that were in place when staged: still there (Existing),
	// or staged now.
	done := 0
	for _, s := range pre {
		if p.hasLink(s) {
			p.mu.Lock()
			s.state = stateCommitted
			p.mu.Unlock()
			res.Existing++
			done++
			continue
		}
		if err := p.stageLate(ctx, s); err != nil {
			return res, err
		}
	}

	p.mu.Lock()
	sealed = p.trees
	p.trees = nil
	for _, t := range sealed {
		t.sealed = true
	}
	p.mu.Unlock()
	total := done
	for _, t := range sealed {
		t.users.Wait()
		total += t.staged.files()
	}
	if done > 0 && progress != nil {
		progress(done, total)
	}
	if total == done {
		p.mu.Lock()
		for _, t := range sealed {
			p.dropTree(t, true) // empty: what was staged in it was discarded
		}
		p.mu.Unlock()
		return res, nil
	}

	// 1. staged data durable before any name appears in the v2 tree.
	if err := p.syncStaged(); err != nil {
		return res, err
	}
	crashPoint("synced staging")
	p.behind.drain() // on disk now: their pages go without a wait

	// 2. merge the trees into place.
	v2fd, err := openFile(unix.AT_FDCWD, p.v2, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return res, &PathError{Op: "placing", Path: p.v2, Err: err}
	}
	defer unix.Close(v2fd)
	m := &merger{p: p, ctx: ctx, res: &res, done: done, total: total, progress: progress}
	for _, t := range sealed {
		if t.gone {
			continue
		}
		if err := m.mergeTree(t, v2fd); err != nil {
			return res, err
		}
	}
	if progress != nil && m.done < total {
		progress(total, total)
	}

	// 3. names durable before the caller writes rows that point at them.
	if err := p.syncStaged(); err != nil {
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
	s.pre = false
	if err := p.writeLink(s); err != nil {
		s.pre = true
		return err
	}
	p.mu.Lock()
	s.state = statePending
	p.mu.Unlock()
	p.log.Debug("link gone since staged; staged it", "rel", s.Rel())
	return nil
}

// unseal hands the trees of a failed Commit back for staging and a later
// Commit, with their counts taken again from what is left in them; the
// links found in place that were not checked are pending again.
func (p *Placer) unseal(sealed []*stree, pre []*Staged) {
	for _, t := range sealed {
		if !t.gone {
			if err := p.recount(t); err != nil {
				p.log.Warn("counting what is left in a staging tree", "tree", t.name, "err", err)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range pre {
		if s.pre && s.state == stateCommitting {
			s.state = statePending
			p.pre = append(p.pre, s)
		}
	}
	var keep []*stree
	for _, t := range sealed {
		if !t.gone {
			t.sealed = false
			keep = append(keep, t)
		}
	}
	p.trees = append(keep, p.trees...)
}

// recount sets t's counts to the files and directories left in it (after a
// Commit failed part of the way through it).
func (p *Placer) recount(t *stree) error {
	var c tally
	dirs := 0
	err := walkTree(t.fd, "", func(dirfd int, _ string, e dirent) error {
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		p.mu.Lock()
		how, _ := p.files.how(st.Ino)
		p.mu.Unlock()
		c.add(how, st.Size, 1)
		return nil
	}, func(int, string, dirent) error { dirs++; return nil })
	p.mu.Lock()
	t.staged = c
	p.mu.Unlock()
	t.dirs.Store(int64(dirs))
	return err
}

// renameat2 is a variable so a test can take the fallback path.
var renameat2 = unix.Renameat2

// merger merges sealed staging trees into the v2 tree.
type merger struct {
	p        *Placer
	ctx      context.Context
	t        *stree
	res      *Result
	done     int
	total    int
	progress func(done, total int)
	// descended counts the staging directories of t merged into existing
	// ones (created by others, not by this Commit).
	descended int
}

// mergeTree merges t into the v2 root (open as v2fd) and removes it. Its
// counts, less the files dropped as Existing, are what it placed.
func (m *merger) mergeTree(t *stree, v2fd int) error {
	p := m.p
	m.t, m.descended = t, 0
	if err := m.merge(t.fd, v2fd, ""); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := t.staged
	m.res.Linked += c.linked
	m.res.Copied += c.copied
	m.res.Streamed += c.streamed
	m.res.Links += c.links
	m.res.Bytes += c.bytes
	m.res.DirsCreated += int(t.dirs.Load()) - m.descended
	t.staged = tally{}
	t.dirs.Store(0)
	p.dropTree(t, true)
	return nil
}

// merge merges the staging directory sfd (rel below the tree root, "" or
// ending in '/') into the v2 directory v2fd: its subdirectories first, then
// its files.
func (m *merger) merge(sfd, v2fd int, rel string) error {
	ents, err := readDirents(sfd)
	if err != nil {
		return &PathError{Op: "reading staging directory", Path: filepath.Join(m.p.staging, m.t.name, filepath.FromSlash(rel)), Err: err}
	}
	for _, e := range ents {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		if !e.isDir() {
			if err := m.placeFile(sfd, v2fd, rel, e.name); err != nil {
				return err
			}
			continue
		}
		if moved, err := m.moveDir(sfd, v2fd, rel, e.name); err != nil || moved {
			if err != nil {
				return err
			}
			continue
		}
		crel := rel + e.name
		cv2, err := openDir(v2fd, e.name)
		if err != nil {
			return &PathError{Op: "placing", Path: m.p.abs(crel), Err: err}
		}
		csfd, err := openDir(sfd, e.name)
		if err != nil {
			unix.Close(cv2)
			return &PathError{Op: "placing", Path: filepath.Join(m.p.staging, m.t.name, filepath.FromSlash(crel)), Err: err}
		}
		err = m.merge(csfd, cv2, crel+"/")
		unix.Close(csfd)
		unix.Close(cv2)
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(sfd, e.name, unix.AT_REMOVEDIR); err != nil {
			m.p.log.Warn("removing merged staging directory", "path", filepath.Join(m.p.staging, m.t.name, filepath.FromSlash(crel)), "err", err)
		}
		m.descended++
	}
	return nil
}

// moveDir renames the staging directory name (in sfd) into the v2
// directory v2fd unless that holds name already (moved false: descend).
func (m *merger) moveDir(sfd, v2fd int, rel, name string) (moved bool, err error) {
	p := m.p
	crel := rel + name
	err = renameat2(sfd, name, v2fd, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE: a plain rename replaces only an empty
		// directory, so check first; the window is the registry creating
		// the same empty directory at the same instant.
		var there unix.Stat_t
		switch serr := unix.Fstatat(v2fd, name, &there, unix.AT_SYMLINK_NOFOLLOW); {
		case serr == nil:
			err = unix.EEXIST
		case errors.Is(serr, unix.ENOENT):
			err = unix.Renameat(sfd, name, v2fd, name)
		default:
			err = serr
		}
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return false, nil
	}
	if err != nil {
		return false, &PathError{Op: "placing", Path: p.abs(crel), Err: err}
	}
	crashPoint("moved directory")
	// Its inode, for Rollback. Should this fail (it cannot, short of
	// someone replacing a non-empty directory in this instant), inode 0
	// makes Rollback leave the directory where it is.
	var st unix.Stat_t
	if err := unix.Fstatat(v2fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		p.log.Warn("checking a directory just placed", "path", p.abs(crel), "err", err)
		st = unix.Stat_t{}
	}
	p.mu.Lock()
	p.placed = append(p.placed, placed{rel: crel, dev: p.dev, ino: st.Ino, dir: true})
	p.mu.Unlock()
	p.log.Debug("placed directory", "path", p.abs(crel))
	return true, nil
}

// placeFile renames the staged file name (in sfd) into the v2 directory
// v2fd without replacing anything, or drops it when an acceptable
// destination is there.
func (m *merger) placeFile(sfd, v2fd int, rel, name string) error {
	p := m.p
	crel := rel + name
	dst := p.abs(crel)
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &PathError{Op: "placing", Path: dst, Digest: relDigest(crel), Err: err}
	}
	p.mu.Lock()
	how, known := p.files.how(st.Ino)
	p.mu.Unlock()
	if !known {
		how = LinkFile
		if name == "data" {
			how = Streamed
		}
	}
	err := renameat2(sfd, name, v2fd, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here: link(2) never replaces either.
		if err = unix.Linkat(sfd, name, v2fd, name, 0); err == nil {
			if rerr := unix.Unlinkat(sfd, name, 0); rerr != nil {
				p.log.Warn("removing staged file after link", "path", filepath.Join(p.staging, m.t.name, filepath.FromSlash(crel)), "err", rerr)
			}
		}
	}
	switch {
	case err == nil:
		crashPoint("placed file")
		p.log.Debug("placed", "path", dst, "how", how)
		p.mu.Lock()
		p.placed = append(p.placed, placed{rel: crel, dev: p.dev, ino: st.Ino})
		p.mu.Unlock()
	case !errors.Is(err, unix.EEXIST):
		return &PathError{Op: "placing", Path: dst, Digest: relDigest(crel), Err: err}
	default:
		if err := checkExisting(how, sfd, v2fd, name, &st); err != nil {
			return &PathError{Op: "placing", Path: dst, Digest: relDigest(crel), Err: err}
		}
		if err := unix.Unlinkat(sfd, name, 0); err != nil {
			p.log.Warn("removing staged file", "path", filepath.Join(p.staging, m.t.name, filepath.FromSlash(crel)), "err", err)
		}
		crashPoint("dropped staged file")
		p.log.Debug("kept existing", "path", dst)
		p.mu.Lock()
		p.files.drop(st.Ino)
		m.t.staged.add(how, st.Size, -1)
		p.mu.Unlock()
		m.res.Existing++
	}
	m.done++
	if m.progress != nil {
		m.progress(m.done, m.total)
	}
	return nil
}

// relDigest is the digest a storage path names, for messages ("" if none).
func relDigest(rel string) digest.Digest {
	spec, err := regpath.Parse(rel)
	if err != nil {
		return ""
	}
	return spec.Digest
}

// checkExisting accepts an existing destination (name in the v2 directory
// v2fd) holding what the staged file name in sfd (stat st, made as how)
// would: a blob of the same size, or a link file with the same content.
func checkExisting(how Method, sfd, v2fd int, name string, st *unix.Stat_t) error {
	var there unix.Stat_t
	if err := unix.Fstatat(v2fd, name, &there, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if how != LinkFile {
		return checkExistingBlob(&there, st.Size)
	}
	if there.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: existing link is a %s, not a regular file", ErrConflict, modeType(there.Mode))
	}
	want, err := readSmall(sfd, name)
	if err != nil {
		return err
	}
	got, err := readSmall(v2fd, name)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: existing link holds %q, want %q", ErrConflict, got, want)
	}
	return nil
}

// readSmall reads the regular file name in dirfd, a link file: one of
// more than 256 bytes is no link file and reads as ErrConflict.
func readSmall(dirfd int, name string) ([]byte, error) {
	b, _, err := smallfile.Read(dirfd, name, 256)
	if errors.Is(err, smallfile.ErrTooLarge) {
		return nil, fmt.Errorf("%w: existing link: %w", ErrConflict, err)
	}
	return b, err
}

// Release is for when the rows naming the placed files are committed: what
// Commit placed stays for good (a later Rollback removes nothing), and the
// record of it (a path per placed file or directory, an entry per staged
// inode) is freed. Files staged after it are tracked as before.
func (p *Placer) Release() {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.placed = nil
	if len(p.trees) == 0 && len(p.pre) == 0 {
		p.files = inodeSet{} // nothing staged left to describe
	}
}

// Rollback removes what Commit created, for when the database transaction
// that should point at it fails, newest first. A file is removed only if it
// is still an inode this Placer staged. A directory Commit moved in whole
// is first checked in place: when it still holds only files this Placer
// staged, it is renamed back into the staging directory with one rename,
// so it leaves the v2 tree at once, and removed there; when something else
// was added to it meanwhile, this Placer's files are removed one by one and
// its directories only if empty, so what others added stays. Pre-existing
// files are never touched; what is left is logged. The removals are made
// durable with syncfs. Rollback forgets what it handled, so a second call
// does nothing.
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
	if !e.dir {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &PathError{Op: "rolling back", Path: path, Err: err}
		}
		crashPoint("rolled back file")
		r.files++
		return nil
	}
	if ok, _, err := p.onlyOurs(path); err != nil {
		return &PathError{Op: "rolling back", Path: path, Err: err}
	} else if ok {
		if done, err := r.moveBack(path); done || err != nil {
			return err
		}
	}
	p.log.Warn("rollback: directory holds files this run did not place; removing only this run's", "path", path)
	return r.removeEach(path)
}

// moveBack renames the directory path (which held only this Placer's
// files) into staging and removes it there. Should something have been
// added between the check and the rename, it renames it back (done false:
// remove one by one instead).
func (r *rollback) moveBack(path string) (done bool, err error) {
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
	ok, dirs, err := p.onlyOurs(tmp)
	if err != nil || !ok {
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
	r.files += files
	r.dirs += dirs + 1
	return true, nil
}

// ours reports whether the file name in dirfd is a regular file whose inode
// this Placer staged.
func (p *Placer) ours(dirfd int, name string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Dev != p.dev {
		return false, nil
	}
	p.mu.Lock()
	_, ok := p.files.how(st.Ino)
	p.mu.Unlock()
	return ok, nil
}

// errNotOurs stops onlyOurs' walk at the first file this Placer did not
// stage.
var errNotOurs = errors.New("not staged by this placer")

// onlyOurs reports whether the directory path holds nothing but
// directories and files this Placer staged, and counts the directories
// below it.
func (p *Placer) onlyOurs(path string) (ok bool, dirs int, err error) {
	fd, err := openDir(unix.AT_FDCWD, path)
	if err != nil {
		return false, 0, err
	}
	defer unix.Close(fd)
	err = walkTree(fd, "", func(dirfd int, _ string, e dirent) error {
		if ours, err := p.ours(dirfd, e.name); err != nil || !ours {
			if err == nil {
				err = errNotOurs
			}
			return err
		}
		return nil
	}, func(int, string, dirent) error { dirs++; return nil })
	if errors.Is(err, errNotOurs) {
		return false, 0, nil
	}
	return err == nil, dirs, err
}

// removeEach removes, below the directory path, the files this Placer
// staged, then the directories that are empty, deepest first, and path
// itself when empty.
func (r *rollback) removeEach(path string) error {
	fd, err := openDir(unix.AT_FDCWD, path)
	if err != nil {
		return &PathError{Op: "rolling back", Path: path, Err: err}
	}
	var errs []error
	err = walkTree(fd, "", func(dirfd int, rel string, e dirent) error {
		f := filepath.Join(path, filepath.FromSlash(rel))
		ours, err := r.p.ours(dirfd, e.name)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, &PathError{Op: "rolling back", Path: f, Err: err})
			}
			return nil
		}
		if !ours {
			r.p.log.Warn("rollback: not placed by this run; leaving it", "path", f)
			return nil
		}
		if err := unix.Unlinkat(dirfd, e.name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &PathError{Op: "rolling back", Path: f, Err: err})
			return nil
		}
		crashPoint("rolled back file")
		r.files++
		return nil
	}, func(parentfd int, rel string, e dirent) error {
		if err := unix.Unlinkat(parentfd, e.name, unix.AT_REMOVEDIR); err == nil {
			r.dirs++
		}
		return nil
	})
	unix.Close(fd)
	if err != nil {
		errs = append(errs, &PathError{Op: "rolling back", Path: path, Err: err})
	}
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

// Flush makes what is staged so far durable: the syncfs(2) that Commit
// starts with. Commit still syncs, so Flush changes no guarantee; it moves
// the wait for the disk earlier, beside other work. Files staged while it
// runs may wait for it (harbor-import stopped flushing a tarball's blobs
// while it plans and stages its link files: bench/HISTORY.md). It is safe
// to call from any goroutine while files are staged. An error it returns
// fails every later Commit too.
func (p *Placer) Flush() error { return p.syncStaged() }

// syncStaged calls syncfs(2) on the v2 root's descriptor that New opened.
// Linux (5.8+) reports to a descriptor the write-back errors of its
// filesystem since it was opened, once: through New's descriptor nothing
// that failed after New goes unreported, also when it failed before this
// call. A reported error sticks, and every later call returns it: the
// data it concerns is lost.
func (p *Placer) syncStaged() error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.syncErr != nil {
		return p.syncErr
	}
	p.v2fdMu.RLock()
	defer p.v2fdMu.RUnlock()
	if p.v2fd < 0 {
		return ErrClosed
	}
	if err := unix.Syncfs(p.v2fd); err != nil {
		p.syncErr = &PathError{Op: "syncing", Path: p.v2, Err: err}
	}
	return p.syncErr
}

// syncfs calls syncfs(2) on a descriptor of its own (Rollback, which also
// runs after Close).
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
