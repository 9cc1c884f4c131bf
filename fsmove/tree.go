package fsmove

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/harbor-import/harbor-import/internal/smallfile"
)

// treeRE matches the names of staging trees, "tree-<random>". A tree that
// Rollback moved back out of the v2 tree has such a name too.
var treeRE = regexp.MustCompile(`^tree-[0-9a-f]{16}$`)

// stree is one private staging tree, <staging>/tree-<random>, whose content
// mirrors the v2 layout: a file staged for "blobs/sha256/ab/<hex>/data" is
// <tree>/blobs/sha256/ab/<hex>/data. Its directories are made with mkdir and
// owned and moded while still in staging, where nobody else looks.
//
// The tree on disk is the record of what is staged: the Placer keeps no
// node per directory or file (a 50,000-tag import stages ~400,000 files in
// as many directories), only counts, and the inode and Method of each
// staged file (Placer.files). Commit reads the tree back with getdents.
// A file that goes (Discard, a failed stage) takes the directories it
// leaves empty with it, under dirMu; a stager holds dirMu shared from making
// its directories until its file exists in them.
//
// The fields below dirs change only under Placer.mu.
type stree struct {
	name string // "tree-<random>"
	fd   int    // the tree's root directory, open while the tree exists

	// What mkdir alone does not give a directory, learnt from a probe
	// directory made when the tree was created: the owner (unless the
	// placer runs as Owner) and the mode (a umask other than 022, or a
	// setgid staging directory).
	dirChown, dirChmod bool

	dirMu sync.RWMutex
	users sync.WaitGroup // stagers and discards working in this tree
	dirs  atomic.Int64   // directories below the root (made and not removed)

	active int   // users now
	staged tally // the files in the tree now, by Method
	sealed bool  // taken by a running Commit
	gone   bool  // removed from disk
}

// tally counts staged files by Method, and the bytes of the copied and
// streamed ones.
type tally struct {
	linked, copied, streamed, links int
	bytes                           int64
}

func (c *tally) add(how Method, size int64, sign int) {
	switch how {
	case Linked:
		c.linked += sign
	case Copied:
		c.copied += sign
		c.bytes += int64(sign) * size
	case Streamed:
		c.streamed += sign
		c.bytes += int64(sign) * size
	case LinkFile:
		c.links += sign
	}
}

func (c *tally) files() int { return c.linked + c.copied + c.streamed + c.links }

// randomName returns prefix followed by 16 random hex digits.
func randomName(prefix string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// newTree creates an empty staging tree and appends it to p.trees. Caller
// holds p.mu.
func (p *Placer) newTree() (*stree, error) {
	name, err := randomName("tree-")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(p.staging, name)
	if err := unix.Mkdir(dir, uint32(stagingMode)); err != nil {
		return nil, &PathError{Op: "creating staging tree", Path: dir, Err: err}
	}
	fd, err := openDir(unix.AT_FDCWD, dir)
	if err != nil {
		_ = unix.Rmdir(dir)
		return nil, &PathError{Op: "creating staging tree", Path: dir, Err: err}
	}
	t := &stree{name: name, fd: fd}
	if err := t.probe(p.owner); err != nil {
		unix.Close(fd)
		_ = os.RemoveAll(dir)
		return nil, &PathError{Op: "creating staging tree", Path: dir, Err: err}
	}
	p.trees = append(p.trees, t)
	return t, nil
}

// probe makes and removes one directory the way mkdirs makes them, to learn
// whether directories need a chown and a chmod after mkdir.
func (t *stree) probe(o Owner) error {
	const name = "probe"
	if err := unix.Mkdirat(t.fd, name, uint32(dirMode)); err != nil {
		return err
	}
	crashPoint("probe directory made")
	var st unix.Stat_t
	err := unix.Fstatat(t.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if rerr := unix.Unlinkat(t.fd, name, unix.AT_REMOVEDIR); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	t.dirChown = int(st.Uid) != o.UID || int(st.Gid) != o.GID
	t.dirChmod = st.Mode&0o7777 != uint32(dirMode)
	return nil
}

// errTaken: the staging tree already holds the name (or a file where a
// directory must be); the stage moves on to the next tree.
var errTaken = errors.New("taken in this staging tree")

// stageIn stages s in the first open tree where s.Rel() is free (a new tree
// when none is): it makes the missing parent directories there (mode 0755,
// Owner) and calls create, which makes the file exclusively and returns
// errTaken when the name exists. Two stages of one destination thus never
// collide: the second lands in another tree, and Commit, merging that tree
// after the first, finds the destination taken. On success s belongs to its
// tree, with a user counted there until the caller's finish; on error
// nothing is left of it.
func (p *Placer) stageIn(s *Staged, create func(t *stree) error) error {
	dirs := strings.Split(path.Dir(s.Rel()), "/")
	var tried []*stree
	for {
		t, err := p.pickTree(tried)
		if err != nil {
			return err
		}
		tried = append(tried, t)
		t.dirMu.RLock()
		err = p.mkdirs(t, dirs)
		if err == nil {
			err = create(t)
		}
		t.dirMu.RUnlock()
		if err == nil {
			s.tree = t
			return nil
		}
		if _, rerr := p.removeStaged(t, s.Rel(), false); rerr != nil {
			p.log.Warn("removing empty staging directories", "tree", t.name, "rel", s.Rel(), "err", rerr)
		}
		p.release(t)
		if !errors.Is(err, errTaken) {
			return err
		}
	}
}

// pickTree returns the first open tree not in tried, creating one when
// there is none, with a user counted until release.
func (p *Placer) pickTree(tried []*stree) (*stree, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	for _, t := range p.trees {
		if !slices.Contains(tried, t) {
			p.use(t)
			return t, nil
		}
	}
	t, err := p.newTree()
	if err != nil {
		return nil, err
	}
	p.use(t)
	return t, nil
}

// use counts a user of t. Caller holds p.mu.
func (p *Placer) use(t *stree) {
	t.active++
	t.users.Add(1)
}

// release ends a use of t; an open tree left with nothing staged in it
// goes.
func (p *Placer) release(t *stree) {
	p.mu.Lock()
	t.active--
	if t.active == 0 && !t.sealed && !t.gone && t.staged.files() == 0 {
		p.dropTree(t, false)
	}
	p.mu.Unlock()
	t.users.Done()
}

// removeStaged removes the file rel from t (with file false only the
// directories) and then its directories while they are empty. removed
// reports whether the file was there.
func (p *Placer) removeStaged(t *stree, rel string, file bool) (removed bool, err error) {
	t.dirMu.Lock()
	defer t.dirMu.Unlock()
	if file {
		err = unix.Unlinkat(t.fd, rel, 0)
		switch {
		case errors.Is(err, unix.ENOENT):
		case err != nil:
			return false, err
		default:
			removed = true
		}
	}
	for dir := path.Dir(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
		err := unix.Unlinkat(t.fd, dir, unix.AT_REMOVEDIR)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTDIR) {
			break
		}
		if err != nil {
			return removed, err
		}
		t.dirs.Add(-1)
	}
	return removed, nil
}

// mkdirs makes the directories dirs (each a component below the last) in
// t where they are missing: mkdir 0755, then chown and chmod where the
// probe said so, *at calls relative to the tree. A non-directory in the
// way is errTaken. Directories are never removed while the tree is open, so
// one that exists stays.
//
// The deepest directory is tried first and its parents only when it
// cannot be made (ENOENT): a file's parent usually exists already (a blob's
// two-hex-digit directory, a repository's _manifests/revisions/sha256), so
// a staged file costs one mkdirat instead of one per component, each of
// which would walk the path again from the tree's root.
func (p *Placer) mkdirs(t *stree, dirs []string) error {
	have := len(dirs) // components that exist, once the probe ends
probe:
	for ; have > 0; have-- {
		rel := strings.Join(dirs[:have], "/")
		err := unix.Mkdirat(t.fd, rel, uint32(dirMode))
		switch {
		case err == nil:
			if err := p.madeDir(t, rel); err != nil {
				return err
			}
			break probe
		case errors.Is(err, unix.EEXIST):
			break probe
		case errors.Is(err, unix.ENOENT):
			// A parent is missing too.
		case errors.Is(err, unix.ENOTDIR):
			return errTaken
		default:
			return p.dirError(t, rel, err)
		}
	}
	for i := have + 1; i <= len(dirs); i++ {
		rel := strings.Join(dirs[:i], "/")
		err := unix.Mkdirat(t.fd, rel, uint32(dirMode))
		switch {
		case errors.Is(err, unix.EEXIST):
			continue // made meanwhile by another stage
		case errors.Is(err, unix.ENOTDIR):
			return errTaken
		case err != nil:
			return p.dirError(t, rel, err)
		}
		if err := p.madeDir(t, rel); err != nil {
			return err
		}
	}
	return nil
}

// dirError is mkdirs' error for the directory rel of t.
func (p *Placer) dirError(t *stree, rel string, err error) error {
	return &PathError{Op: "creating staging directory", Path: filepath.Join(p.staging, t.name, filepath.FromSlash(rel)), Err: err}
}

// madeDir counts the directory rel that mkdirs just made in t and gives it
// the owner and mode the probe said it lacks.
func (p *Placer) madeDir(t *stree, rel string) error {
	t.dirs.Add(1)
	var err error
	if t.dirChown {
		crashPoint("staging directory made")
		err = unix.Fchownat(t.fd, rel, p.owner.UID, p.owner.GID, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil && t.dirChmod {
		crashPoint("staging directory chowned")
		err = unix.Fchmodat(t.fd, rel, uint32(dirMode), 0)
	}
	if err != nil {
		return p.dirError(t, rel, err)
	}
	return nil
}

// dropTree removes t, whose root directory should be empty, from disk and
// from p.trees, and reports whether it went. One that is not empty stays,
// unless force: then it is given up all the same, with a warning (Close or
// CleanStaging removes it). Caller holds p.mu, and t has no users.
func (p *Placer) dropTree(t *stree, force bool) bool {
	if t.gone {
		return true
	}
	dir := filepath.Join(p.staging, t.name)
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		if !force {
			return false
		}
		p.log.Warn("removing staging tree", "path", dir, "err", err)
	}
	t.gone = true
	unix.Close(t.fd)
	if i := slices.Index(p.trees, t); i >= 0 {
		p.trees = slices.Delete(p.trees, i, i+1)
	}
	return true
}

// dirent is one entry of a directory as getdents(2) reports it.
type dirent struct {
	name string
	ino  uint64
	typ  uint8 // unix.DT_*
}

func (e dirent) isDir() bool { return e.typ == unix.DT_DIR }

// readDirents returns the entries of the open directory fd (without "."
// and ".."), directories first, each group sorted by name. Where the
// filesystem does not report types (DT_UNKNOWN) it asks fstatat.
func readDirents(fd int) ([]dirent, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	bp := direntPool.Get().(*[]byte)
	defer direntPool.Put(bp)
	buf := *bp
	var out []dirent
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			if len(b) < 19 {
				return nil, errors.New("short directory entry")
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, errors.New("bad directory entry length")
			}
			e := dirent{ino: binary.NativeEndian.Uint64(b[0:8]), typ: b[18]}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			e.name = string(name)
			if e.typ == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					return nil, err
				}
				if st.Mode&unix.S_IFMT == unix.S_IFDIR {
					e.typ = unix.DT_DIR
				} else if st.Mode&unix.S_IFMT == unix.S_IFREG {
					e.typ = unix.DT_REG
				}
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if di, dj := out[i].isDir(), out[j].isDir(); di != dj {
			return di
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

var direntPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// walkTree calls file for every non-directory below the open directory fd
// (rel is its path, "" or ending in '/'), and dir for every directory after
// its content, deepest first. It stops at the first error.
func walkTree(fd int, rel string, file func(dirfd int, rel string, e dirent) error, dir func(parentfd int, rel string, e dirent) error) error {
	ents, err := readDirents(fd)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.isDir() {
			if err := file(fd, rel+e.name, e); err != nil {
				return err
			}
			continue
		}
		cfd, err := openDir(fd, e.name)
		if err != nil {
			return err
		}
		err = walkTree(cfd, rel+e.name+"/", file, dir)
		unix.Close(cfd)
		if err != nil {
			return err
		}
		if dir != nil {
			if err := dir(fd, rel+e.name, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTree removes a tree from disk whatever it holds and returns the
// number of files (non-directories) it removed. Symlinks are removed, never
// followed.
func removeTree(dir string) (files int, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.IsDir() {
			n, err := removeTree(path)
			files += n
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		crashPoint("removed staged file")
		files++
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return files, errors.Join(errs...)
}

// openDir opens the directory name relative to dirfd without following a
// symlink there.
func openDir(dirfd int, name string) (int, error) {
	fd, err := smallfile.OpenDir(dirfd, name)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		typ := "non-directory"
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			typ = modeType(st.Mode).String()
		}
		return -1, fmt.Errorf("%w: %s is a %s, not a directory", ErrConflict, name, typ)
	}
	return fd, err
}

// modeType returns the type bits of a stat mode as an os.FileMode.
func modeType(m uint32) os.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return os.ModeDir
	case unix.S_IFLNK:
		return os.ModeSymlink
	case unix.S_IFIFO:
		return os.ModeNamedPipe
	case unix.S_IFSOCK:
		return os.ModeSocket
	case unix.S_IFCHR:
		return os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		return os.ModeDevice
	}
	return 0
}
