// Package smallfile reads the small files a registry storage is made of
// (link files, manifests, configs) with the fewest system calls: openat,
// fstat, read, close. os.ReadFile also registers each file with the
// runtime poller (two fcntl and a failing epoll_ctl per file), which is a
// third of the calls when a storage of 5,000 tags is walked.
package smallfile

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrTooLarge is returned when the file holds more than the caller's max.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is returned for a symlink, directory, device or other file
// that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ReadBeneath is Read for rel, a slash-separated path of several components
// under the directory dirfd, resolved without following any symlink, at
// the last component or before it (a walk of the tree would not descend
// into a symlinked directory either). A component before the last that is
// missing, not a directory, or a symlink gives an error wrapping
// fs.ErrNotExist; a last component that is not a regular file gives
// ErrNotRegular, with st valid unless it is a symlink, so a caller can
// tell a directory from a device.
//
// One openat2(2) resolves the whole path where the kernel has it (5.6 and
// later); elsewhere, and to tell which component was a symlink, each
// directory is opened in turn.
func ReadBeneath(dirfd int, rel string, max int) (b []byte, st unix.Stat_t, err error) {
	fd, err := openBeneath(dirfd, rel)
	if err != nil {
		return nil, st, err
	}
	return readFD(fd, rel, max)
}

// noOpenat2 is set once openat2 turned out to be missing or forbidden (an
// old kernel, a seccomp profile).
var noOpenat2 atomic.Bool

func openBeneath(dirfd int, rel string) (int, error) {
	if !noOpenat2.Load() {
		how := unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		fd, err := unix.Openat2(dirfd, rel, &how)
		for errors.Is(err, unix.EINTR) {
			fd, err = unix.Openat2(dirfd, rel, &how)
		}
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
			return -1, &fs.PathError{Op: "open", Path: rel, Err: fs.ErrNotExist}
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
			noOpenat2.Store(true)
		case !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.EXDEV):
			return -1, &fs.PathError{Op: "open", Path: rel, Err: err}
		}
		// A symlink somewhere (ELOOP), or no openat2: the walk below
		// says which component it was.
	}
	dir, last := dirfd, rel
	closeDir := func() {
		if dir != dirfd {
			unix.Close(dir)
		}
	}
	defer func() { closeDir() }()
	for {
		name, rest, more := strings.Cut(last, "/")
		if !more {
			break
		}
		if name == "" || name == "." || name == ".." {
			return -1, &fs.PathError{Op: "open", Path: rel, Err: fs.ErrInvalid}
		}
		next, err := OpenDir(dir, name)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return -1, &fs.PathError{Op: "open", Path: rel, Err: fs.ErrNotExist}
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: rel, Err: err}
		}
		closeDir()
		dir, last = next, rest
	}
	fd, err := openat(dir, last)
	if errors.Is(err, unix.ELOOP) {
		return -1, &fs.PathError{Op: "open", Path: rel, Err: ErrNotRegular}
	}
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	return fd, nil
}

// OpenDir opens the directory name (relative to dirfd, or to the working
// directory when dirfd is unix.AT_FDCWD) read-only, without following a
// symlink at its last component, retrying on EINTR. Its errors are the
// system's: ENOENT, ENOTDIR (not a directory) or ELOOP (a symlink) when
// there is no such directory.
func OpenDir(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// Read reads the regular file name (relative to the directory dirfd, or
// to the working directory when dirfd is unix.AT_FDCWD) whole, when it
// holds at most max bytes, without following a symlink at the last
// component. st is the file's stat, valid when err is nil or wraps
// ErrTooLarge. Errors are *fs.PathError naming name.
func Read(dirfd int, name string, max int) (b []byte, st unix.Stat_t, err error) {
	fd, err := openat(dirfd, name)
	if errors.Is(err, unix.ELOOP) {
		// O_NOFOLLOW met a symlink.
		return nil, st, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	if err != nil {
		return nil, st, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return readFD(fd, name, max)
}

// readFD reads the open file fd, named name in errors, and closes it.
func readFD(fd int, name string, max int) (b []byte, st unix.Stat_t, err error) {
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, st, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, st, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	if st.Size > int64(max) {
		return nil, st, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: %d bytes, at most %d read", ErrTooLarge, st.Size, max)}
	}
	// One byte more than the size shows a file that grew since fstat.
	b = make([]byte, int(st.Size)+1)
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, st, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
		if n > max {
			return nil, st, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)}
		}
	}
	return b[:n:n], st, nil
}

// openat opens name read-only, without following a final symlink and
// without blocking on a FIFO, retrying on EINTR.
func openat(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
