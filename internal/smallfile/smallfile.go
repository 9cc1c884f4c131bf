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

	"golang.org/x/sys/unix"
)

// ErrTooLarge is returned when the file holds more than the caller's max.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is returned for a symlink, directory, device or other file
// that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

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
