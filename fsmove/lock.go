package fsmove

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked means another harbor-import holds the data volume's lock.
var ErrLocked = errors.New("another harbor-import is running on this Harbor storage")

// Lock takes the exclusive lock of the registry storage at root (the file
// root/.harbor-import/lock, flock(2)), so only one harbor-import places
// files at a time; it must be held around CleanStaging, New and Commit. It
// waits up to wait for the lock (0: fail at once with ErrLocked, naming the
// holder's pid). The returned func releases it. The lock dies with the
// process, so a killed run never leaves it taken.
func Lock(ctx context.Context, root string, wait time.Duration) (func(), error) {
	dir := filepath.Join(root, ".harbor-import")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating lock directory: %w", err)
	}
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", p, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(p)
			f.Close()
			return nil, fmt.Errorf("%w (lock %s held by pid %s)", ErrLocked, p, strings.TrimSpace(string(holder)))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
