package fsmove

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// treeRE matches the names of staging trees, "tree-<random>". A tree that
// Rollback moved back out of the v2 tree has such a name too.
var treeRE = regexp.MustCompile(`^tree-[0-9a-f]{16}$`)

// stree is one private staging tree, <staging>/tree-<random>, whose content
// mirrors the v2 layout: a file staged for "blobs/sha256/ab/<hex>/data" is
// <tree>/blobs/sha256/ab/<hex>/data. Its directories are made with mkdir and
// owned and moded while still in staging, where nobody else looks. The
// in-memory nodes are authoritative: a directory exists on disk exactly when
// it has a node, and every node below the root holds at least one file
// (empty directories are removed as soon as they become empty).
//
// The nodes of an open tree (Placer.trees) change only under Placer.mu.
// Commit seals trees by taking them out of Placer.trees; it then owns them.
type stree struct {
	name string // "tree-<random>"
	fd   int    // the tree's root directory, open while the tree exists
	root *tnode

	// What mkdir alone does not give a directory, learnt from a probe
	// directory made when the tree was created: the owner (unless the
	// placer runs as Owner) and the mode (a umask other than 022, or a
	// setgid staging directory).
	dirChown, dirChmod bool

	users sync.WaitGroup // stagers with a reservation in this tree
	gone  bool           // removed from disk; under Placer.mu
}

// tnode is a directory of a staging tree. A 50,000-tag import stages
// ~400,000 directories, most holding one entry: a node keeps no path (rel
// computes it) and small entry lists instead of maps.
type tnode struct {
	name   string
	parent *tnode
	dirs   entries[*tnode]
	files  entries[*Staged]
}

func newNode(parent *tnode, name string) *tnode {
	return &tnode{name: name, parent: parent}
}

// rel is the node's '/'-separated path below the tree root, the same below
// the v2 root ("" for the root).
func (n *tnode) rel() string {
	if n.parent == nil {
		return ""
	}
	size, depth := 0, 0
	for x := n; x.parent != nil; x = x.parent {
		size += len(x.name) + 1
		depth++
	}
	b := make([]byte, size-1)
	end := len(b)
	for x := n; x.parent != nil; x = x.parent {
		start := end - len(x.name)
		copy(b[start:end], x.name)
		if start > 0 {
			b[start-1] = '/'
		}
		end = start - 1
	}
	return string(b)
}

func (n *tnode) empty() bool { return n.dirs.len() == 0 && n.files.len() == 0 }

// walk calls fn for n and every directory below it, parents first.
func (n *tnode) walk(fn func(*tnode)) {
	fn(n)
	n.dirs.each(func(_ string, c *tnode) { c.walk(fn) })
}

// smallEntries is how many entries a directory node keeps in a slice
// before it switches to a map.
const smallEntries = 16

// entries maps names to values: a short slice while small (most staging
// directories hold one entry), a map beyond smallEntries.
type entries[T any] struct {
	small []entry[T]
	big   map[string]T
}

type entry[T any] struct {
	name string
	v    T
}

func (e *entries[T]) len() int {
	if e.big != nil {
		return len(e.big)
	}
	return len(e.small)
}

func (e *entries[T]) get(name string) (T, bool) {
	if e.big != nil {
		v, ok := e.big[name]
		return v, ok
	}
	for _, x := range e.small {
		if x.name == name {
			return x.v, true
		}
	}
	var zero T
	return zero, false
}

func (e *entries[T]) set(name string, v T) {
	if e.big != nil {
		e.big[name] = v
		return
	}
	for i := range e.small {
		if e.small[i].name == name {
			e.small[i].v = v
			return
		}
	}
	if len(e.small) < smallEntries {
		e.small = append(e.small, entry[T]{name, v})
		return
	}
	e.big = make(map[string]T, 2*smallEntries)
	for _, x := range e.small {
		e.big[x.name] = x.v
	}
	e.big[name] = v
	e.small = nil
}

func (e *entries[T]) del(name string) {
	if e.big != nil {
		delete(e.big, name)
		return
	}
	for i := range e.small {
		if e.small[i].name == name {
			e.small = append(e.small[:i], e.small[i+1:]...)
			if len(e.small) == 0 {
				e.small = nil
			}
			return
		}
	}
}

// each calls fn for every entry, in no particular order; fn may delete
// the entry it is given.
func (e *entries[T]) each(fn func(name string, v T)) {
	if e.big != nil {
		for k, v := range e.big {
			fn(k, v)
		}
		return
	}
	for _, x := range slices.Clone(e.small) {
		fn(x.name, x.v)
	}
}

// sortedNames returns the names, sorted.
func (e *entries[T]) sortedNames() []string {
	out := make([]string, 0, e.len())
	e.each(func(name string, _ T) { out = append(out, name) })
	sort.Strings(out)
	return out
}

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
	t := &stree{name: name, fd: fd, root: newNode(nil, "")}
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

// fits reports whether a file rel (split into dirs and name) can be staged
// in t: no staged file is in the way of its directories, and nothing
// holds its name yet.
func (t *stree) fits(dirs []string, name string) bool {
	n := t.root
	for _, c := range dirs {
		if _, ok := n.files.get(c); ok {
			return false
		}
		next, ok := n.dirs.get(c)
		if !ok {
			return true
		}
		n = next
	}
	_, isFile := n.files.get(name)
	_, isDir := n.dirs.get(name)
	return !isFile && !isDir
}

// reserve takes s.Rel for s in the first open tree where it is free (a new
// tree when none is), creating its missing parent directories there with
// mode 0755 and Owner. Two stages of one destination thus never collide:
// the second lands in another tree, and Commit, merging that tree after the
// first, finds the destination taken. On success s is counted as a user of
// its tree until finish. Caller holds p.mu.
func (p *Placer) reserve(s *Staged) error {
	comps := strings.Split(s.Rel, "/")
	dirs, name := comps[:len(comps)-1], comps[len(comps)-1]
	for i := 0; ; i++ {
		if i == len(p.trees) {
			if _, err := p.newTree(); err != nil {
				return err
			}
		}
		t := p.trees[i]
		if !t.fits(dirs, name) {
			continue
		}
		n, err := p.mkdirs(t, dirs)
		if err != nil {
			return err
		}
		n.files.set(name, s)
		s.tree, s.dir, s.name = t, n, name
		t.users.Add(1)
		return nil
	}
}

// mkdirs returns the node of dirs in t, creating the missing directories
// (mkdir 0755, then chown and chmod where the probe said so; *at calls
// relative to the tree). On failure what it created is removed again.
// Caller holds p.mu.
func (p *Placer) mkdirs(t *stree, dirs []string) (*tnode, error) {
	n := t.root
	for _, c := range dirs {
		if next, ok := n.dirs.get(c); ok {
			n = next
			continue
		}
		next := newNode(n, c)
		rel := next.rel()
		err := unix.Mkdirat(t.fd, rel, uint32(dirMode))
		if err == nil && t.dirChown {
			crashPoint("staging directory made")
			err = unix.Fchownat(t.fd, rel, p.owner.UID, p.owner.GID, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil && t.dirChmod {
			crashPoint("staging directory chowned")
			err = unix.Fchmodat(t.fd, rel, uint32(dirMode), 0)
		}
		if err != nil {
			path := filepath.Join(p.staging, t.name, filepath.FromSlash(rel))
			if !errors.Is(err, unix.EEXIST) {
				_ = unix.Unlinkat(t.fd, rel, unix.AT_REMOVEDIR)
			}
			p.prune(t, n)
			return nil, &PathError{Op: "creating staging directory", Path: path, Err: err}
		}
		n.dirs.set(c, next)
		n = next
	}
	return n, nil
}

// unstage removes s from its tree (its file too when created), and the
// directories that become empty. Caller holds p.mu.
func (p *Placer) unstage(s *Staged, created bool) error {
	var err error
	if created {
		if err = unix.Unlinkat(s.tree.fd, s.Rel, 0); errors.Is(err, unix.ENOENT) {
			err = nil
		}
	}
	s.dir.files.del(s.name)
	p.prune(s.tree, s.dir)
	return err
}

// prune removes n and its parents while they are empty; an empty tree goes
// altogether. Caller holds p.mu.
func (p *Placer) prune(t *stree, n *tnode) {
	for n.parent != nil && n.empty() {
		rel := n.rel()
		if err := unix.Unlinkat(t.fd, rel, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
			p.log.Warn("removing empty staging directory", "tree", t.name, "rel", rel, "err", err)
			return
		}
		n.parent.dirs.del(n.name)
		n = n.parent
	}
	if n.parent == nil && n.empty() {
		p.dropTree(t)
	}
}

// dropTree removes an empty tree from disk and from p.trees. Caller holds
// p.mu.
func (p *Placer) dropTree(t *stree) {
	if t.gone {
		return
	}
	t.gone = true
	unix.Close(t.fd)
	dir := filepath.Join(p.staging, t.name)
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		p.log.Warn("removing staging tree", "path", dir, "err", err)
	}
	for i, o := range p.trees {
		if o == t {
			p.trees = append(p.trees[:i], p.trees[i+1:]...)
			break
		}
	}
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
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
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
