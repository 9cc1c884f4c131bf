package fsmove

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options configure a Placer. Zero values mean the documented defaults.
type Options struct {
	// Root is the registry storage's rootdirectory, e.g. /data/harbor/registry
	// (harbor-facts §4.1); the v2 root is Root/docker/registry/v2. Required,
	// absolute, and must exist: a mistyped Root is refused rather than turned
	// into a new, empty storage the registry never reads.
	Root string
	// StagingDir holds the staging trees until Commit. Default Root/.harbor-import/staging.
	// It must be absolute, outside the v2 root, on the same filesystem and
	// mount as the v2 root (checked; else ErrNotSameFilesystem).
	StagingDir string
	// Owner of every file and directory placed. Default (nil) 10000:10000,
	// the uid/gid Harbor's registry runs as.
	Owner *Owner
	// Strategy for StageFile. Default Auto.
	Strategy Strategy
	// Logger receives debug and info records. Default (nil) discards.
	Logger *slog.Logger
}

// Owner is a numeric uid/gid pair.
type Owner struct{ UID, GID int }

// DefaultOwner is Harbor's registry user and group (harbor-facts §4.1).
var DefaultOwner = Owner{UID: 10000, GID: 10000}

// Strategy says how StageFile brings a source file into staging.
type Strategy int

const (
	// Auto hardlinks, and copies when the link fails with EXDEV, EPERM or EMLINK.
	Auto Strategy = iota
	// Link hardlinks and never copies.
	Link
	// Copy copies and never links.
	Copy
)

func (s Strategy) String() string {
	switch s {
	case Auto:
		return "auto"
	case Link:
		return "link"
	case Copy:
		return "copy"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Method says how a Staged file came to be.
type Method int

const (
	// Linked is a blob hardlinked from its source file.
	Linked Method = iota + 1
	// Copied is a blob copied from its source file.
	Copied
	// Streamed is a blob copied from a stream.
	Streamed
	// LinkFile is a registry link file written by StageLink.
	LinkFile
)

func (m Method) String() string {
	switch m {
	case Linked:
		return "linked"
	case Copied:
		return "copied"
	case Streamed:
		return "streamed"
	case LinkFile:
		return "link file"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

const (
	fileMode    os.FileMode = 0o644
	dirMode     os.FileMode = 0o755
	stagingMode os.FileMode = 0o700
)

// v2Rel is the v2 root below Root for the filesystem driver.
var v2Rel = filepath.Join("docker", "registry", "v2")

// tempRE matches the names of the flat staging temps of earlier versions:
// "<hex>.<random>.tmp" where hex is the blob digest's or link target's hex.
// CleanStaging still removes what a killed run of such a version left.
var tempRE = regexp.MustCompile(`^[0-9a-f]{64}\.[0-9a-f]{16}\.tmp$`)

// dirTempRE names the directories mkdirOwned makes before renaming them.
var dirTempRE = regexp.MustCompile(`^dir-[0-9]+\.tmp$`)

// Placer stages files and commits them into one registry storage. Stage*
// and Discard are safe for concurrent use; Commit, Rollback and Close
// serialise with each other.
type Placer struct {
	v2      string
	staging string
	owner   Owner
	strat   Strategy
	log     *slog.Logger

	dev         uint64 // st_dev of the v2 root (and of staging)
	v2fdMu      sync.RWMutex
	v2fd        int         // the v2 root, open until Close (-1 after); under v2fdMu
	syncMu      sync.Mutex  // syncStaged
	syncErr     error       // the first error syncStaged met; under syncMu
	noOpenat2   atomic.Bool // openat2(2) is missing (Linux < 5.6)
	noEmptyPath atomic.Bool // linkat AT_EMPTY_PATH is refused (no CAP_DAC_READ_SEARCH)

	opMu sync.Mutex // Commit, Rollback, Close

	mu    sync.Mutex // fields below, and the trees' counts
	pre   []*Staged  // links found in place by StageLink, for Commit to check again
	trees []*stree   // open staging trees, in the order Commit merges them
	// files holds the inode of every file staged (and not discarded) and
	// how it was made: Commit counts by it, and Rollback removes only
	// files that are still one of these inodes.
	files  inodeSet
	placed []placed // what Commit created, in order, for Rollback
	closed bool

	behind writeBehind // written blobs whose pages go once on disk
}

type resolved struct {
	root, v2, staging string
	owner             Owner
}

func resolve(opts Options) (resolved, error) {
	var r resolved
	if opts.Root == "" {
		return r, errors.New("fsmove: Options.Root is required")
	}
	if !filepath.IsAbs(opts.Root) {
		return r, fmt.Errorf("fsmove: Options.Root %q is not absolute", opts.Root)
	}
	r.root = filepath.Clean(opts.Root)
	r.v2 = filepath.Join(r.root, v2Rel)
	r.staging = filepath.Join(r.root, ".harbor-import", "staging")
	if opts.StagingDir != "" {
		if !filepath.IsAbs(opts.StagingDir) {
			return r, fmt.Errorf("fsmove: Options.StagingDir %q is not absolute", opts.StagingDir)
		}
		r.staging = filepath.Clean(opts.StagingDir)
	}
	if rel, err := filepath.Rel(r.v2, r.staging); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return r, fmt.Errorf("fsmove: staging directory %s is inside the v2 root %s", r.staging, r.v2)
	}
	r.owner = DefaultOwner
	if opts.Owner != nil {
		r.owner = *opts.Owner
	}
	if r.owner.UID < 0 || r.owner.GID < 0 {
		return r, fmt.Errorf("fsmove: invalid owner %d:%d", r.owner.UID, r.owner.GID)
	}
	return r, nil
}

// New checks opts, creates the v2 root's missing directories (0755, Owner)
// below an existing Root and the staging directory (0700), and checks that
// staging and the v2 root are one filesystem and one mount, so that rename
// works between them.
func New(ctx context.Context, opts Options) (*Placer, error) {
	r, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch opts.Strategy {
	case Auto, Link, Copy:
	default:
		return nil, fmt.Errorf("fsmove: unknown strategy %v", opts.Strategy)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(r.root)
	if err != nil {
		return nil, fmt.Errorf("checking registry root: %w", err)
	}
	if !fi.IsDir() {
		return nil, &PathError{Op: "checking registry root", Path: r.root, Err: syscall.ENOTDIR}
	}
	// The v2 root's own directories are not recorded for Rollback: an empty
	// v2 tree is what the registry would create itself.
	if err := os.MkdirAll(r.staging, stagingMode); err != nil {
		return nil, fmt.Errorf("creating staging directory: %w", err)
	}
	if err := sameMount(r.root, r.staging); err != nil {
		return nil, err
	}
	dir := r.root
	for _, c := range strings.Split(v2Rel, string(filepath.Separator)) {
		dir = filepath.Join(dir, c)
		made, err := mkdirOwned(dir, r.staging, r.owner)
		if err != nil {
			return nil, err
		}
		if made {
			log.Info("created registry storage directory", "path", dir)
		}
	}
	if err := sameMount(r.v2, r.staging); err != nil {
		return nil, err
	}
	v2fd, err := openFile(unix.AT_FDCWD, r.v2, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, &PathError{Op: "opening registry storage", Path: r.v2, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(v2fd, &st); err != nil {
		unix.Close(v2fd)
		return nil, &PathError{Op: "checking filesystem", Path: r.v2, Err: err}
	}
	return &Placer{
		dev:     st.Dev,
		v2fd:    v2fd,
		v2:      r.v2,
		staging: r.staging,
		owner:   r.owner,
		strat:   opts.Strategy,
		log:     log,
	}, nil
}

// V2Root returns the absolute path of the storage's v2 root.
func (p *Placer) V2Root() string { return p.v2 }

// StagingDir returns the absolute path of the staging directory.
func (p *Placer) StagingDir() string { return p.staging }

// Close removes the staged files of this Placer that were neither committed
// nor discarded, with their staging trees. Stage* and Commit fail with
// ErrClosed afterwards; Rollback still works. Close does not undo Commit.
func (p *Placer) Close() error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	p.closed = true
	for _, s := range p.pre {
		s.state = stateDiscarded
	}
	p.pre = nil
	trees := p.trees
	p.trees = nil
	p.mu.Unlock()
	defer p.behind.drain()
	p.v2fdMu.Lock()
	if p.v2fd >= 0 {
		unix.Close(p.v2fd)
		p.v2fd = -1
	}
	p.v2fdMu.Unlock()
	var errs []error
	removed := 0
	for _, t := range trees {
		t.users.Wait() // stagers still writing find the Placer closed and clean up
		p.mu.Lock()
		gone := t.gone
		t.gone = true
		p.mu.Unlock()
		if gone {
			continue
		}
		unix.Close(t.fd)
		n, err := removeTree(filepath.Join(p.staging, t.name))
		removed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("removing staging tree: %w", err))
		}
	}
	if removed > 0 {
		p.log.Debug("removed staged files", "count", removed)
	}
	return errors.Join(errs...)
}

// CleanStaging removes what killed runs left in the staging directory opts
// names: staging trees ("tree-<random>" directories, with everything in
// them), the directory temps of New ("dir-<n>.tmp") and the flat temps of
// earlier versions ("<hex>.<random>.tmp"); other entries are left alone.
// removed counts the files removed (a leftover holding none counts once).
// Call it while holding the import lock: it would also remove a running
// Placer's trees. A missing staging directory is not an error.
func CleanStaging(ctx context.Context, opts Options) (removed int, err error) {
	r, err := resolve(opts)
	if err != nil {
		return 0, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	entries, err := os.ReadDir(r.staging)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading staging directory: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		path := filepath.Join(r.staging, e.Name())
		switch {
		case e.IsDir() && treeRE.MatchString(e.Name()):
			n, err := removeTree(path)
			removed += max(n, 1)
			if err != nil {
				errs = append(errs, fmt.Errorf("removing staging leftover: %w", err))
			}
			continue
		case e.IsDir() && dirTempRE.MatchString(e.Name()), e.Type().IsRegular() && tempRE.MatchString(e.Name()):
		default:
			log.Debug("leaving unknown entry in staging directory", "name", e.Name())
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing staging leftover: %w", err))
			continue
		}
		removed++
	}
	if removed > 0 {
		log.Info("removed staging leftovers", "dir", r.staging, "count", removed)
	}
	return removed, errors.Join(errs...)
}

// mkdirOwned creates dir (mode 0755, owner) unless it exists; New makes
// the v2 root's own directories with it. An existing
// dir must be a real directory, not a symlink. made reports whether this call
// created it.
//
// The directory is made in the staging directory, given its owner and mode
// there, and renamed into place without replacing anything: a process
// killed at any moment leaves either no directory or one with the right
// owner, never a root-owned one that a re-run would take as it is. A
// leftover from a kill stays in staging, where CleanStaging removes it.
func mkdirOwned(dir, staging string, o Owner) (made bool, err error) {
	exists := func() (bool, error) {
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, &PathError{Op: "checking directory", Path: dir, Err: err}
		}
		if !fi.IsDir() {
			return false, &PathError{Op: "checking directory", Path: dir,
				Err: fmt.Errorf("%w: %s is not a directory", ErrConflict, fi.Mode().Type())}
		}
		return true, nil
	}
	if ok, err := exists(); ok || err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(staging, "dir-*.tmp")
	if err != nil {
		return false, &PathError{Op: "creating directory", Path: dir, Err: err}
	}
	crashPoint("directory temp made")
	if err := setOwnerMode(tmp, o, dirMode); err != nil {
		_ = os.Remove(tmp)
		return false, &PathError{Op: "creating directory", Path: dir, Err: err}
	}
	crashPoint("directory temp owned")
	err = renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE: a plain rename replaces only an empty
		// directory, so check first; the window is the registry creating
		// the same empty directory at the same instant.
		if ok, cerr := exists(); ok || cerr != nil {
			_ = os.Remove(tmp)
			return false, cerr
		}
		err = os.Rename(tmp, dir)
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		_ = os.Remove(tmp)
		_, cerr := exists()
		return false, cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return false, &PathError{Op: "creating directory", Path: dir, Err: err}
	}
	return true, nil
}

// setOwnerMode chowns (without following symlinks) and chmods path. The
// explicit chmod undoes the umask.
func setOwnerMode(path string, o Owner, mode os.FileMode) error {
	if err := os.Lchown(path, o.UID, o.GID); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// sameMount checks that rename(2) can move files from staging into v2: same
// st_dev, and where the kernel reports mount ids (statx STATX_MNT_ID, Linux
// 5.8+), the same mount (bind mounts of one filesystem share st_dev but
// rename between them fails with EXDEV).
func sameMount(v2, staging string) error {
	var a, b unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, v2, 0, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &a); err != nil {
		return &PathError{Op: "checking filesystem", Path: v2, Err: err}
	}
	if err := unix.Statx(unix.AT_FDCWD, staging, 0, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &b); err != nil {
		return &PathError{Op: "checking filesystem", Path: staging, Err: err}
	}
	if a.Dev_major != b.Dev_major || a.Dev_minor != b.Dev_minor {
		return fmt.Errorf("%w: %s is on device %d:%d, %s on %d:%d", ErrNotSameFilesystem,
			staging, b.Dev_major, b.Dev_minor, v2, a.Dev_major, a.Dev_minor)
	}
	if a.Mask&b.Mask&unix.STATX_MNT_ID != 0 && a.Mnt_id != b.Mnt_id {
		return fmt.Errorf("%w: %s and %s are different mounts (ids %d, %d) of one filesystem",
			ErrNotSameFilesystem, staging, v2, b.Mnt_id, a.Mnt_id)
	}
	return nil
}
