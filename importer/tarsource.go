package importer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/harbor-import/harbor-import/internal/unlinked"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// tarSource is a tarball of a registry storage, read exactly once: blobs are
// streamed into Harbor's staging area (verified as they pass) and link files
// are read into the inventory.
//
// An import keeps nothing per blob: the placer's staging trees are the
// record of what the scan staged, and the planner's questions (is blob d
// here, how large, its content) are answered from the staged files. A
// 50,000-tag archive has ~170,000 blobs, which even the dry run's table
// (below) holds in ~5 MB next to the plan's own table of the same blobs.
// A dry run stages nothing, so it records what the scan learnt in blobs
// and spill.
type tarSource struct {
	path     string
	compress string
	prefix   string // path of the v2 root inside the archive, with a trailing '/'

	placer *fsmove.Placer // staging the blobs (nil: dry run)
	stager *tarStager     // staging them concurrently, while the scan runs
	staged int            // blobs the scan staged (none: nothing to discard)

	// Dry run only.
	blobs sumTable[sumPrefix, tarBlob] // 24 bytes per blob; see scanned
	// spill holds, back to back, each blob's sha256 sum followed by the
	// blob if it is JSON (manifests, configs), else its head, for the
	// planner and the scan's check for a second copy (tarBlob): an
	// unlinked temporary file (in scanEnv.tempDir) written through spillW
	// as the archive streams by and read with ReadAt.
	spill  *os.File
	spillW *bufio.Writer
	spillN int64
}

// tarBlob is what a dry run's scan learnt of one blob entry, in 16 bytes
// (its key in tarSource.blobs takes 8 more). Where a record held the
// blob's whole sum and head it took 72: 170,000 blobs (50,000 tags) keep
// 8 MB less. The spill file holds, from offset spill>>1, the blob's sha256
// sum and then what was kept of it: the whole blob when spill&1 is set (a
// JSON blob of at most maxJSONBlob bytes), else its first
// min(size, tarHeadLen) bytes, for content sniffing (icons).
type tarBlob struct {
	size  int64
	spill uint64
}

// whole reports whether the spill file holds the whole blob.
func (b tarBlob) whole() bool { return b.spill&1 != 0 }

// sumAt is where the spill file holds the blob's sum.
func (b tarBlob) sumAt() int64 { return int64(b.spill >> 1) }

// keptAt is where the spill file holds the blob (or its head).
func (b tarBlob) keptAt() int64 { return b.sumAt() + sha256.Size }

func openTar(p string) (*tarSource, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening source: %w", err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	s := &tarSource{path: p}
	switch {
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		s.compress = "gzip"
	case n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		s.compress = "zstd"
	case n >= 262 && string(head[257:262]) == "ustar":
		s.compress = ""
	default:
		return nil, fmt.Errorf("%w: %s is not a directory and not a tar, tar.gz or tar.zst archive", ErrNotRegistryStorage, p)
	}
	return s, nil
}

func (s *tarSource) describe() string {
	if s.compress == "" {
		return "tarball " + s.path
	}
	return fmt.Sprintf("tarball %s (%s)", s.path, s.compress)
}

func (s *tarSource) close() error {
	if s.spill != nil {
		return s.spill.Close() // unlinked: its space goes with it
	}
	return nil
}

// tailReader counts the bytes read through it and keeps a copy of the
// 512-byte block at a watched offset.
type tailReader struct {
	r     io.Reader
	n     int64
	at    int64
	block [512]byte
	got   int // bytes of block read so far
}

// watch starts keeping the block at offset at (at >= bytes read so far).
func (t *tailReader) watch(at int64) { t.at, t.got = at, 0 }

func (t *tailReader) Read(p []byte) (int, error) {
	k, err := t.r.Read(p)
	if t.got < len(t.block) && t.n+int64(k) > t.at+int64(t.got) {
		from := t.at + int64(t.got) - t.n // where the next byte of block is in p
		t.got += copy(t.block[t.got:], p[from:k])
	}
	t.n += int64(k)
	return k, err
}

// zero reports whether the watched block was read whole and is all zeros.
func (t *tailReader) zero() bool {
	return t.got == len(t.block) && t.block == [512]byte{}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (s *tarSource) scan(ctx context.Context, inv *inventory, env scanEnv) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("opening source: %w", err)
	}
	defer f.Close()
	ahead := newAheadReader(f)
	defer ahead.Close() // before f.Close
	cr := &countingReader{r: ahead}
	var r io.Reader = cr
	switch s.compress {
	case "gzip":
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUnsafeArchive, s.path, err)
		}
		defer zr.Close()
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(cr, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUnsafeArchive, s.path, err)
		}
		defer zr.Close()
		r = zr
	}
	s.placer = env.placer
	if s.placer != nil {
		s.stager = newTarStager(ctx, s.placer, s.path)
		defer s.stager.stop()
	}
	if s.placer == nil {
		if s.spill, err = unlinked.Create(env.tempDir, "harbor-import-json-*"); err != nil {
			return fmt.Errorf("keeping manifests and configs for planning: %w", err)
		}
		s.spillW = bufio.NewWriterSize(s.spill, 64<<10)
	}
	// tail keeps the block that follows the last entry: at the end it
	// must be tar's end-of-archive marker (zero bytes).
	tail := &tailReader{r: r}
	tr := tar.NewReader(tail)
	entries := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.stager.failed(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if !tail.zero() {
				// Every tar writer ends an archive with zero blocks.
				// archive/tar also reports a clean end after a complete
				// entry, or after a long name's extra header: the file
				// was cut there (a full disk, an interrupted copy), and
				// what follows would silently be missing from the import.
				return fmt.Errorf("%w: %s ends after %d entries without tar's end-of-archive marker: the file is cut short", ErrUnsafeArchive, s.path, entries)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %s after %d entries: %v", ErrUnsafeArchive, s.path, entries, err)
		}
		tail.watch(tail.n + (hdr.Size+511)&^511)
		entries++
		if env.progress != nil && entries%256 == 0 {
			env.progress(entries, cr.n)
		}
		name, err := cleanEntryName(hdr)
		if err != nil {
			return err
		}
		rel, ok := s.relative(name)
		if !ok {
			continue
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA { //nolint:staticcheck // old archives
			if err := checkLinkEntry(hdr, name); err != nil {
				return err
			}
			continue
		}
		spec, err := regpath.Parse(rel)
		if err != nil {
			continue // uploads, directories' other files: not imported
		}
		switch {
		case spec.Kind == regpath.BlobData:
			if err := s.scanBlob(ctx, entries, hdr, name, spec.Digest, tr, env); err != nil {
				return err
			}
		case wantsLink(spec.Kind):
			b, err := readLimited(tr, maxLinkFile, "link file "+name)
			if err != nil {
				return fmt.Errorf("%w: %s: entry %s: %v", ErrUnsafeArchive, s.path, name, err)
			}
			if err := inv.addLink(name, spec, b); err != nil {
				return err
			}
		}
	}
	if s.prefix == "" {
		return fmt.Errorf("%w: tarball %s holds no registry storage (no entry under docker/registry/v2/, v2/, blobs/ or repositories/)", ErrNotRegistryStorage, s.path)
	}
	if err := s.stager.wait(); err != nil {
		return err
	}
	if env.progress != nil {
		env.progress(entries, cr.n)
	}
	if s.spillW != nil {
		if err := s.spillW.Flush(); err != nil {
			return fmt.Errorf("keeping manifests and configs for planning: %w", err)
		}
		s.spillW = nil // the planner reads the spill file concurrently
	}
	return nil
}

// relative maps an archive entry name to a path relative to the v2 root,
// learning the root's prefix from the first entry that shows it.
func (s *tarSource) relative(name string) (string, bool) {
	if s.prefix == "" {
		for _, marker := range []string{"blobs/", "repositories/"} {
			i := -1
			switch {
			case strings.HasPrefix(name, marker):
				i = 0
			case strings.Contains(name, "/"+marker):
				i = strings.Index(name, "/"+marker) + 1
			}
			if i >= 0 {
				s.prefix = name[:i]
				if s.prefix == "" {
					s.prefix = "./"
				}
				break
			}
		}
		if s.prefix == "" {
			return "", false
		}
	}
	if s.prefix == "./" {
		return name, true
	}
	if !strings.HasPrefix(name, s.prefix) {
		return "", false
	}
	return name[len(s.prefix):], true
}

// cleanEntryName refuses names that could escape the tree.
func cleanEntryName(hdr *tar.Header) (string, error) {
	name := hdr.Name
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: entry name %q holds a NUL byte", ErrUnsafeArchive, name)
	}
	if path.IsAbs(name) || filepath.IsAbs(name) {
		return "", fmt.Errorf("%w: entry %q has an absolute path", ErrUnsafeArchive, name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: entry %q contains '..'", ErrUnsafeArchive, name)
		}
	}
	name = strings.TrimPrefix(path.Clean(name), "./")
	if name == "." {
		name = ""
	}
	return name, nil
}

// checkLinkEntry refuses symlinks and hardlinks that point outside the tree;
// others inside it are ignored (a registry storage holds none).
func checkLinkEntry(hdr *tar.Header, name string) error {
	if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
		return nil
	}
	target := hdr.Linkname
	if hdr.Typeflag == tar.TypeSymlink && !path.IsAbs(target) {
		target = path.Join(path.Dir(name), target)
	}
	if target = path.Clean(target); path.IsAbs(target) || target == ".." || strings.HasPrefix(target, "../") {
		return fmt.Errorf("%w: entry %q links outside the archive (to %q)", ErrUnsafeArchive, name, hdr.Linkname)
	}
	return nil
}

func (s *tarSource) scanBlob(ctx context.Context, entry int, hdr *tar.Header, name string, d digest.Digest, r io.Reader, env scanEnv) error {
	k, ok := sha256Key(d)
	if !ok {
		return fmt.Errorf("tar entry %s: unsupported digest %s", name, d)
	}
	// A tarball appended to twice holds a blob twice: the first copy counts.
	if s.placer != nil {
		if s.stager.pending(k) {
			return nil
		}
		if _, dup, err := s.placer.StagedBlob(d); dup || err != nil {
			return err
		}
	} else if b, err := s.scanned(&k); b != nil || err != nil {
		return err
	}
	if env.inHarbor != nil {
		has, err := env.inHarbor(d, hdr.Size)
		if err != nil || has {
			return err // tar.Reader skips the unread data
		}
	}
	if s.placer != nil && hdr.Size <= tarStageMax {
		// Read whole, staged (hashed, written) by a stager goroutine.
		if err := s.stager.stage(tarJob{entry: entry, name: name, d: d, k: k}, hdr.Size, r); err != nil {
			return err
		}
		s.staged++ // discardUnused discards it if the plan does not use it
		return nil
	}
	rec := &readErrRecorder{r: r}
	if s.placer != nil {
		_, err := s.placer.StageReader(ctx, d, hdr.Size, rec)
		if err != nil {
			return tarStageErr(s.path, name, err, rec.err != nil)
		}
		s.staged++ // discardUnused discards it if the plan does not use it
		return nil
	}
	at := s.spillN
	if err := s.keep(d, k[:]); err != nil {
		return err
	}
	kr := &keepReader{r: rec, w: s.spillW, json: hdr.Size <= maxJSONBlob}
	if err := hashCheck(d, hdr.Size, kr); err != nil {
		return fmt.Errorf("tar entry %s: %w", name, err)
	}
	if kr.err != nil {
		return fmt.Errorf("keeping blob %s for planning: %w", d, kr.err)
	}
	if kr.isObj { // hashCheck read it whole: kr.n == hdr.Size
		s.spillN += kr.n
		s.blobs.push(prefixOf(&k), tarBlob{size: hdr.Size, spill: uint64(at)<<1 | 1})
		return nil
	}
	if err := s.keep(d, kr.head[:kr.headN]); err != nil {
		return err
	}
	s.blobs.push(prefixOf(&k), tarBlob{size: hdr.Size, spill: uint64(at) << 1})
	return nil
}

// keep appends b, kept of blob d, to the spill file.
func (s *tarSource) keep(d digest.Digest, b []byte) error {
	n, err := s.spillW.Write(b)
	s.spillN += int64(n)
	if err != nil {
		return fmt.Errorf("keeping blob %s for planning: %w", d, err)
	}
	return nil
}

// tarStageErr is the error of staging the blob of the archive's entry name
// that failed with err; readFailed says reading the archive failed.
func tarStageErr(archive, name string, err error, readFailed bool) error {
	switch {
	case errors.Is(err, fsmove.ErrDigestMismatch):
		return fmt.Errorf("%w: tar entry %s: %w", ErrDigestMismatch, name, err)
	case readFailed || errors.Is(err, fsmove.ErrSizeMismatch):
		// The archive ended or broke inside the entry.
		return fmt.Errorf("%w: %s: tar entry %s: %w", ErrUnsafeArchive, archive, name, err)
	}
	return fmt.Errorf("tar entry %s: %w", name, err)
}

// tarStageMax is the largest blob entry the scan reads whole and hands to
// a stager goroutine; it streams larger ones itself. The bench corpus has
// 94% of its bytes in blobs of at most 1 MiB. Handing larger blobs over in
// 1 MiB pieces, hashed on yet another goroutine, gained nothing measurable
// on 20 blobs of 50 MB (1.5-2.1 s either way): writing them bounds it.
const tarStageMax = 1 << 20

// tarStager stages blob entries on stageWorkers goroutines while the scan
// reads on: hashing a blob and writing it cost more than reading it, and a
// scan doing all three used one core. Each entry waits in a buffer of
// tarStageMax bytes; at most stageWorkers+2 exist, which bounds how far
// the scan runs ahead. The zero (nil) *tarStager is a dry run's: nothing
// pending, nothing failed.
type tarStager struct {
	w       *workers[tarJob]
	archive string
	free    chan *[]byte
	made    int

	mu sync.Mutex
	// inflight holds the sums of the blobs handed out and not yet staged,
	// so that a second copy of one is known for what it is.
	inflight map[[32]byte]struct{}
}

type tarJob struct {
	entry int // the entry's number in the archive, for firstFailure
	name  string
	d     digest.Digest
	k     [32]byte
	buf   *[]byte
	n     int
}

func newTarStager(ctx context.Context, p *fsmove.Placer, archive string) *tarStager {
	st := &tarStager{archive: archive, free: make(chan *[]byte, stageWorkers+2), inflight: map[[32]byte]struct{}{}}
	// No queue: a blob waits in its buffer until a worker takes it.
	st.w = startWorkers(ctx, 0, func(ctx context.Context, j tarJob) error {
		defer st.done(j)
		if _, err := p.StageBytes(ctx, j.d, (*j.buf)[:j.n]); err != nil {
			return tarStageErr(archive, j.name, err, false)
		}
		return nil
	})
	return st
}

// done forgets job j as in flight and frees its buffer. (A job dropped
// because the work stopped keeps both: nothing asks for them again.)
func (st *tarStager) done(j tarJob) {
	st.mu.Lock()
	delete(st.inflight, j.k)
	st.mu.Unlock()
	st.give(j.buf)
}

// take returns a free buffer, waiting for one when all are in use.
func (st *tarStager) take() (*[]byte, error) {
	select {
	case b := <-st.free:
		return b, nil
	default:
	}
	if st.made < cap(st.free) {
		st.made++
		b := make([]byte, tarStageMax)
		return &b, nil
	}
	select {
	case b := <-st.free:
		return b, nil
	case <-st.w.ctx.Done():
		return nil, st.w.stopped()
	}
}

func (st *tarStager) give(b *[]byte) { st.free <- b }

// stage reads the blob entry j's data, size bytes of r (at most
// tarStageMax), into a free buffer and hands it to a stager goroutine. An
// archive that ends inside the entry is ErrUnsafeArchive.
func (st *tarStager) stage(j tarJob, size int64, r io.Reader) error {
	buf, err := st.take()
	if err != nil {
		return err
	}
	if _, err := io.ReadFull(r, (*buf)[:size]); err != nil {
		st.give(buf)
		return fmt.Errorf("%w: %s: tar entry %s: %w", ErrUnsafeArchive, st.archive, j.name, err)
	}
	j.buf, j.n = buf, int(size)
	st.mu.Lock()
	st.inflight[j.k] = struct{}{}
	st.mu.Unlock()
	if !st.w.add(uint64(j.entry), j) {
		st.done(j)
		return st.w.stopped()
	}
	return nil
}

// pending reports whether the blob of sum k is handed out, not yet staged.
func (st *tarStager) pending(k [32]byte) bool {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	_, ok := st.inflight[k]
	return ok
}

// failed returns a stager goroutine's failure, nil if none.
func (st *tarStager) failed() error {
	if st == nil {
		return nil
	}
	return st.w.fail.get()
}

// wait lets the goroutines stage what they were handed and returns the
// first failure (or why the work stopped).
func (st *tarStager) wait() error {
	if st == nil {
		return nil
	}
	return st.w.wait()
}

// stop ends the goroutines, abandoning what they were handed (the
// placer's Close removes what they staged).
func (st *tarStager) stop() { st.w.stop() }

// blob returns what a dry run's scan learnt of blob d, nil if nothing.
func (s *tarSource) blob(d digest.Digest) (*tarBlob, error) {
	k, ok := sha256Key(d)
	if !ok {
		return nil, nil
	}
	return s.scanned(&k)
}

// scanned returns what a dry run's scan learnt of the blob of sum k, nil if
// nothing. The table's key is 8 bytes of the sum, which blobs may share:
// the whole sum, read back from the spill file, confirms a match (one
// read of 32 bytes per hit, where keeping every sum whole took 4 MB more
// at 170,000 blobs).
func (s *tarSource) scanned(k *[32]byte) (*tarBlob, error) {
	var err error
	id, ok := s.blobs.lookupFunc(new(prefixOf(k)), func(id uint32) bool {
		if err != nil {
			return false
		}
		if s.spillW != nil { // still scanning: the sum may wait in the buffer
			if err = s.spillW.Flush(); err != nil {
				return false
			}
		}
		var sum [32]byte
		if _, err = s.spill.ReadAt(sum[:], s.blobs.at(id).sumAt()); err != nil {
			return false
		}
		return sum == *k
	})
	if err != nil {
		return nil, fmt.Errorf("reading back what the scan kept of blob %s: %w", sumDigest(*k), err)
	}
	if !ok {
		return nil, nil
	}
	return s.blobs.at(id), nil
}

// readErrRecorder remembers a failed read of the archive (not io.EOF).
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (e *readErrRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// keepReader passes a blob entry through, keeping its first tarHeadLen
// bytes in head and, when json is set and the blob looks like JSON (a
// first byte '{': isObj), copying it to w, counting the bytes in n; err is
// w's first error.
type keepReader struct {
	r     io.Reader
	w     io.Writer
	json  bool
	head  [tarHeadLen]byte
	headN int
	first bool
	isObj bool
	n     int64
	err   error
}

func (k *keepReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n == 0 {
		return n, err
	}
	if !k.first {
		k.first = true
		k.isObj = k.json && p[0] == '{'
	}
	if k.headN < tarHeadLen {
		k.headN += copy(k.head[k.headN:], p[:n])
	}
	if k.isObj && k.err == nil {
		var w int
		w, k.err = k.w.Write(p[:n])
		k.n += int64(w)
	}
	return n, err
}

// hashCheck reads r to its end, checking size and sha256 (dry run).
func hashCheck(d digest.Digest, size int64, r io.Reader) error {
	v := d.Verifier()
	n, err := io.Copy(v, r)
	if err != nil {
		return fmt.Errorf("%w: reading blob %s: %v", ErrUnsafeArchive, d, err)
	}
	if n != size {
		return fmt.Errorf("%w: blob %s: read %d bytes, want %d", ErrUnsafeArchive, d, n, size)
	}
	if !v.Verified() {
		return fmt.Errorf("%w: blob %s: content does not match its digest", ErrDigestMismatch, d)
	}
	return nil
}

func (s *tarSource) stat(d digest.Digest) (int64, bool, error) {
	if s.placer != nil {
		return s.placer.StagedBlob(d)
	}
	b, err := s.blob(d)
	if b == nil || err != nil {
		return 0, false, err
	}
	return b.size, true, nil
}

func (s *tarSource) read(_ context.Context, d digest.Digest) ([]byte, error) {
	if s.placer != nil {
		f, err := s.placer.OpenStagedBlob(d)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrMissingBlob, d)
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		// Verified as it was staged, from the archive.
		b, err := readLimited(f, maxJSONBlob, "blob "+string(d))
		if err != nil {
			return nil, fmt.Errorf("reading blob %s staged from the archive: %w", d, err)
		}
		return b, nil
	}
	b, err := s.blob(d)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %s", ErrMissingBlob, d)
	}
	if !b.whole() {
		return nil, errNotCaptured
	}
	buf := make([]byte, b.size)
	if _, err := s.spill.ReadAt(buf, b.keptAt()); err != nil {
		return nil, fmt.Errorf("reading blob %s kept from the archive: %w", d, err)
	}
	return buf, nil
}

// errNotCaptured: a dry run's scan let the blob pass by without keeping it
// (not JSON, or too large); the caller reads it from Harbor.
var errNotCaptured = errors.New("blob content not kept from the archive")

// stage does nothing: the scan staged the blob already.
func (s *tarSource) stage(context.Context, *fsmove.Placer, digest.Digest, int64, bool) error {
	return nil
}

// discardUnused discards the blobs the scan staged that the plan does not
// use, and forgets what a dry run's scan learnt of every blob.
func (s *tarSource) discardUnused(p *fsmove.Placer, used func(digest.Digest) bool) error {
	s.blobs = sumTable[sumPrefix, tarBlob]{}
	if s.placer == nil || s.staged == 0 {
		return nil
	}
	if _, err := p.DiscardBlobsExcept(used); err != nil {
		return fmt.Errorf("discarding the archive's blobs no artifact uses: %w", err)
	}
	return nil
}
