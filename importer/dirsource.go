package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/harbor-import/harbor-import/internal/smallfile"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// dirSource is a registry storage directory; blobs are hardlinked or copied
// from it straight into Harbor's staging area.
type dirSource struct {
	root, v2 string
	// pre holds what the prefetcher read ahead of the planner.
	pre prefetched
}

func (s *dirSource) describe() string {
	if s.root == s.v2 {
		return "directory " + s.root
	}
	return fmt.Sprintf("directory %s (v2 root %s)", s.root, s.v2)
}

func (s *dirSource) close() error { return nil }

// discardUnused does nothing: a directory's blobs are staged as the plan
// asks for them.
func (s *dirSource) discardUnused(*fsmove.Placer, func(digest.Digest) bool) error { return nil }

// scanWorkers walk repository trees concurrently: on a cold cache the walk
// waits on the disk, and parallel requests keep it busy.
const scanWorkers = 8

func (s *dirSource) scan(ctx context.Context, inv *inventory, env scanEnv) error {
	repos := filepath.Join(s.v2, "repositories")
	if !isDir(repos) {
		return nil // a storage with blobs but no repository imports nothing
	}
	tops, err := os.ReadDir(repos)
	if err != nil {
		return fmt.Errorf("reading source: %w", err)
	}
	// Workers walk the top-level directories, each into an inventory of
	// its own (a repository lies under one top directory); this goroutine
	// merges them in directory order, so the first error does not depend
	// on scheduling. A walk finished out of order waits as the inventory
	// entries it will become, not as the link files it read.
	type result struct {
		part *inventory
		err  error
	}
	ready := make([]chan result, len(tops))
	for i := range ready {
		ready[i] = make(chan result, 1)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: workers stop early on an error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Int64
	work := make(chan int)
	for range min(scanWorkers, len(tops)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if ctx.Err() != nil {
					ready[i] <- result{err: ctx.Err()}
					continue
				}
				part, err := s.walkRepos(filepath.Join(repos, tops[i].Name()))
				if n := done.Add(int64(part.linkFiles)); env.progress != nil {
					env.progress(int(n), 0)
				}
				ready[i] <- result{part, err}
			}
		}()
	}
	go func() {
		defer close(work)
		for i := range tops {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for i := range tops {
		var r result
		select {
		case r = <-ready[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		inv.merge(r.part)
	}
	return nil
}

// walkRepos reads the tag and revision links under dir, a directory of
// repositories/, into an inventory.
//
// It lists only the directories that name something: repositories,
// _manifests/tags and _manifests/revisions/<alg>. Each link file below
// them is opened by its path (tags/<tag>/current/link,
// revisions/<alg>/<hex>/link), not found by listing the two directories
// above it. That spares the open, two getdents and close of each of those
// directories, two for every tag and one for every revision; the disk
// reads the same blocks, but each of those calls was a blocking system
// call on a cold cache (5,000 tags, cold: the scan took 1.66 s listing
// every directory, 0.85 s so). What it reads is what a walk of
// the whole tree would: no symlinked directory is entered, a symlink or
// device named link is corrupt, a link path regpath.Parse does not take
// is ignored; upload sessions (_uploads), layer links (_layers, rewritten
// from the manifests) and tag history (_manifests/tags/<tag>/index) are
// not read.
func (s *dirSource) walkRepos(dir string) (*inventory, error) {
	out := newInventory()
	return out, s.walkNamespace(out, dir)
}

// walkNamespace walks dir, a repository or a directory of them.
func (s *dirSource) walkNamespace(out *inventory, dir string) error {
	ents, err := listDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch {
		case !e.IsDir(): // a file, or a symlink: not walked
		case e.Name() == "_manifests":
			if err := s.walkManifests(out, filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		case strings.HasPrefix(e.Name(), "_"): // _layers, _uploads; no repository name starts so
		default:
			if err := s.walkNamespace(out, filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkManifests reads the revision links, then the tags' current links, of
// a repository's _manifests directory (the order a sorted walk meets them).
func (s *dirSource) walkManifests(out *inventory, dir string) error {
	algs, err := listDir(filepath.Join(dir, "revisions"))
	if err != nil {
		return err
	}
	for _, alg := range algs {
		if !alg.IsDir() {
			continue
		}
		algDir := filepath.Join(dir, "revisions", alg.Name())
		if err := s.readLinks(out, algDir, "/link"); err != nil {
			return err
		}
	}
	return s.readLinks(out, filepath.Join(dir, "tags"), "/current/link")
}

// readLinks reads <entry><suffix> for each directory entry of dir.
func (s *dirSource) readLinks(out *inventory, dir, suffix string) error {
	f, err := openDir(dir)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	ents, err := sortedEntries(f)
	if err != nil {
		return err
	}
	dirfd := int(f.Fd())
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name() + suffix
		p := filepath.Join(dir, name)
		spec, err := regpath.Parse(filepath.ToSlash(p[len(s.v2)+1:]))
		if err != nil || !wantsLink(spec.Kind) {
			continue
		}
		b, st, err := smallfile.ReadBeneath(dirfd, name, maxLinkFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // no link file, or a symlink on its way
		case errors.Is(err, smallfile.ErrNotRegular) && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			continue // a directory called link holds no link
		case errors.Is(err, smallfile.ErrNotRegular):
			return fmt.Errorf("%w: link file %s is not a regular file", ErrCorruptSource, p)
		case err != nil:
			return fmt.Errorf("reading link file %s: %w", p, err)
		}
		if err := out.addLink(p, spec, b); err != nil {
			return err
		}
	}
	return nil
}

// listDir lists the directory dir, sorted by name, without following a
// symlink at its last component: nothing for a dir that is missing, not a
// directory or a symlink.
func listDir(dir string) ([]fs.DirEntry, error) {
	f, err := openDir(dir)
	if f == nil || err != nil {
		return nil, err
	}
	defer f.Close()
	return sortedEntries(f)
}

// sortedEntries lists the open directory f, sorted by name.
func sortedEntries(f *os.File) ([]fs.DirEntry, error) {
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("reading source: %w", err)
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// openDir opens the directory dir without following a symlink at its last
// component; nil and no error when there is no such directory.
func openDir(dir string) (*os.File, error) {
	fd, err := smallfile.OpenDir(unix.AT_FDCWD, dir)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading source: %w", &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	// A blocking descriptor: os.NewFile does not register it with the poller.
	return os.NewFile(uintptr(fd), dir), nil
}

func (s *dirSource) blobPath(d digest.Digest) (string, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return "", err
	}
	return filepath.Join(s.v2, filepath.FromSlash(rel)), nil
}

func (s *dirSource) stat(d digest.Digest) (int64, bool, error) {
	if size, ok := s.pre.size(d); ok {
		return size, true, nil
	}
	p, err := s.blobPath(d)
	if err != nil {
		return 0, false, err
	}
	fi, err := os.Lstat(p)
	if os.IsNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading source blob %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, false, fmt.Errorf("source blob %s: %s is not a regular file", d, p)
	}
	return fi.Size(), true, nil
}

func (s *dirSource) read(_ context.Context, d digest.Digest) ([]byte, error) {
	if b := s.pre.take(d); b != nil {
		if err := verifyBytes(d, b); err == nil {
			return b, nil
		}
		// A mismatch is reported by reading the file again, below.
	}
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	b, _, err := smallfile.Read(unix.AT_FDCWD, p, maxJSONBlob)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", d, err)
	}
	if err := verifyBytes(d, b); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

func (s *dirSource) stage(ctx context.Context, p *fsmove.Placer, d digest.Digest, size int64, verify bool) error {
	src, err := s.blobPath(d)
	if err != nil {
		return err
	}
	_, err = p.StageFile(ctx, d, size, src, verify)
	if errors.Is(err, fsmove.ErrDigestMismatch) {
		return fmt.Errorf("%w: staging %s: %w", ErrDigestMismatch, strings.TrimPrefix(src, s.root+"/"), err)
	}
	if err != nil {
		return fmt.Errorf("staging %s: %w", strings.TrimPrefix(src, s.root+"/"), err)
	}
	return nil
}

// prefetchWorkers read manifests and configs and stat layers ahead of the
// planner, which goes through them one by one: on a cold page cache each
// read waits for the disk, and several requests in flight hide that wait.
const prefetchWorkers = 8

// prefetchBudget bounds the manifest and config bytes held for the planner;
// past it the prefetcher still warms the page cache but keeps nothing.
const prefetchBudget = 16 << 20

// prefetchWindow is how many tags past the repository being planned the
// prefetcher may go: far enough to keep the disk busy, near enough that
// what it learns is used (and dropped) soon, whatever the storage's size.
const prefetchWindow = 512

// window lets a producer run at most a given distance ahead of a consumer.
type window struct {
	mu      sync.Mutex
	cond    sync.Cond
	allowed int
	stopped bool
}

func newWindow(size int) *window {
	w := &window{allowed: size}
	w.cond.L = &w.mu
	return w
}

// wait blocks until item i is within the window, false once stopped.
func (w *window) wait(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i >= w.allowed && !w.stopped {
		w.cond.Wait()
	}
	return !w.stopped
}

// advance moves the window n items on.
func (w *window) advance(n int) {
	w.mu.Lock()
	w.allowed += n
	w.mu.Unlock()
	w.cond.Broadcast()
}

func (w *window) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cond.Broadcast()
}

// prefetched is what the prefetcher learnt: regular blob files' sizes
// (keyed by the sha256 itself), the manifests it visited, and small JSON
// blobs' content, each size and content handed out once. It is kept in two
// generations that the planner rotates as it moves on (moved): what the
// planner never asks for (the size of a layer its plan knows already, a
// manifest planned in an earlier repository) is dropped two rotations
// later, so what is held stays within a few windows of tags, whatever
// the storage's size. Anything dropped is read from disk again.
type prefetched struct {
	win  *window
	mu   sync.Mutex
	gens [2]prefetchGen // [0] the newest; under mu
	// since is how many tags the planner moved on since the last
	// rotation; held the content bytes of both generations. Under mu.
	since int
	held  int64
}

type prefetchGen struct {
	sizes   map[[32]byte]int64
	seen    map[[32]byte]bool
	content map[digest.Digest][]byte
	held    int64
}

// prefetchRotation is how many tags the planner moves on between two
// rotations: twice the window, so anything the prefetcher learns is still
// there when the planner reaches the tag it was read for.
const prefetchRotation = 2 * prefetchWindow

func (p *prefetched) size(d digest.Digest) (int64, bool) {
	k, ok := sha256Key(d)
	if !ok {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.gens {
		if size, ok := p.gens[i].sizes[k]; ok {
			delete(p.gens[i].sizes, k)
			return size, true
		}
	}
	return 0, false
}

func (p *prefetched) setSize(d digest.Digest, size int64) {
	k, ok := sha256Key(d)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g := &p.gens[0]
	if g.sizes == nil {
		g.sizes = map[[32]byte]int64{}
	}
	g.sizes[k] = size
}

// firstVisit reports whether the manifest d is visited for the first time
// (in the generations kept).
func (p *prefetched) firstVisit(d digest.Digest) bool {
	k, ok := sha256Key(d)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gens[0].seen[k] || p.gens[1].seen[k] {
		return false
	}
	g := &p.gens[0]
	if g.seen == nil {
		g.seen = map[[32]byte]bool{}
	}
	g.seen[k] = true
	return true
}

// keep holds b, blob d's content, for the planner if the budget allows.
func (p *prefetched) keep(d digest.Digest, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held+int64(len(b)) > prefetchBudget {
		return
	}
	g := &p.gens[0]
	if g.content == nil {
		g.content = map[digest.Digest][]byte{}
	}
	g.content[d] = b
	g.held += int64(len(b))
	p.held += int64(len(b))
}

func (p *prefetched) take(d digest.Digest) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.gens {
		g := &p.gens[i]
		if b, ok := g.content[d]; ok {
			delete(g.content, d)
			g.held -= int64(len(b))
			p.held -= int64(len(b))
			return b
		}
	}
	return nil
}

// moved records that the planner starts a repository of tags tags,
// rotating the generations first when it has moved far enough since the
// last rotation.
func (p *prefetched) moved(tags int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since >= prefetchRotation {
		p.held -= p.gens[1].held
		p.gens[1], p.gens[0] = p.gens[0], prefetchGen{}
		p.since = 0
	}
	p.since += tags
}

// reset drops everything.
func (p *prefetched) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gens, p.since, p.held = [2]prefetchGen{}, 0, 0
}

// startRepo tells the prefetcher that the planner starts a repository of
// tags tags (in inventory.sortedRepos order).
func (s *dirSource) startRepo(tags int) {
	if w := s.pre.win; w != nil {
		s.pre.moved(tags)
		w.advance(tags)
	}
}

// prefetch starts reading, in the planner's order (sorted repositories and
// tags), every tagged manifest, its config and children, and stats their
// layers. The returned func stops it. Anything it cannot read is left for
// the planner, which reports it.
func (s *dirSource) prefetch(ctx context.Context, inv *inventory) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	win := newWindow(prefetchWindow)
	s.pre.win = win
	work := make(chan digest.Digest, prefetchWorkers)
	var wg sync.WaitGroup
	for range prefetchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				s.prefetchManifest(ctx, d, 0)
			}
		}()
	}
	// The planner takes repositories out of inv as it goes (the window
	// counts their tags), so their sizes are noted before it starts.
	repos := inv.sortedRepos()
	sizes := make([]int, len(repos))
	for k, r := range repos {
		sizes[k] = len(inv.repos[r].tags)
	}
	go func() {
		defer close(work)
		i := 0
		for k, r := range repos {
			targets := inv.tagTargets(r)
			if targets == nil {
				i += sizes[k] // planned already: too late to read ahead
				continue
			}
			for _, d := range targets {
				if i++; !win.wait(i) {
					return
				}
				select {
				case work <- d:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		win.stop()
		wg.Wait()
		// The plan holds what the placement needs (dirSource.stat falls
		// back to lstat).
		s.pre.reset()
	}
}

func (s *dirSource) prefetchManifest(ctx context.Context, d digest.Digest, depth int) {
	if !s.pre.firstVisit(d) || ctx.Err() != nil || depth > 4 {
		return
	}
	raw := s.prefetchBlob(d, true)
	if raw == nil {
		return
	}
	var m struct {
		Config    *struct{ Digest digest.Digest }
		Layers    []struct{ Digest digest.Digest }
		Manifests []struct{ Digest digest.Digest }
	}
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	if m.Config != nil && m.Config.Digest.Validate() == nil {
		s.prefetchBlob(m.Config.Digest, true)
	}
	for _, l := range m.Layers {
		if l.Digest.Validate() == nil {
			s.prefetchBlob(l.Digest, false)
		}
	}
	for _, c := range m.Manifests {
		if c.Digest.Validate() == nil {
			s.prefetchManifest(ctx, c.Digest, depth+1)
		}
	}
}

// prefetchBlob stats blob d and, when read, reads it (a JSON blob the
// planner will want), keeping it while the budget allows. It returns the
// content read, or nil.
func (s *dirSource) prefetchBlob(d digest.Digest, read bool) []byte {
	p, err := s.blobPath(d)
	if err != nil {
		return nil
	}
	if !read {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			s.pre.setSize(d, fi.Size())
		}
		return nil
	}
	b, st, err := smallfile.Read(unix.AT_FDCWD, p, maxJSONBlob)
	if err == nil || errors.Is(err, smallfile.ErrTooLarge) {
		s.pre.setSize(d, st.Size)
	}
	if err != nil {
		return nil
	}
	s.pre.keep(d, b)
	return b
}
