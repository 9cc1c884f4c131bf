package fsmove_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harbor-import/harbor-import/fsmove"
)

func TestLock(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	unlock, err := fsmove.Lock(ctx, root, 0)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	// flock locks belong to the open file: a second open in this process conflicts too.
	_, err = fsmove.Lock(ctx, root, 0)
	if !errors.Is(err, fsmove.ErrLocked) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}
	done := make(chan error, 1)
	go func() {
		u, err := fsmove.Lock(ctx, root, 5*time.Second)
		if err == nil {
			u()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("waiting lock after release: %v", err)
	}
}
