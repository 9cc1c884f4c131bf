package importer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestInParallel(t *testing.T) {
	t.Run("visits every wanted index once, feeds in order", func(t *testing.T) {
		const n = 5000
		var mu sync.Mutex
		seen := map[uint32]int{}
		var fed []uint32
		err := inParallel(context.Background(), n, func(i uint32) bool { return i%3 != 0 },
			func(i uint32) { fed = append(fed, i) },
			func(_ context.Context, i uint32) error {
				mu.Lock()
				seen[i]++
				mu.Unlock()
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint32(n) {
			want := 0
			if i%3 != 0 {
				want = 1
			}
			if seen[i] != want {
				t.Fatalf("index %d done %d times, want %d", i, seen[i], want)
			}
		}
		for k := 1; k < len(fed); k++ {
			if fed[k] <= fed[k-1] {
				t.Fatalf("fed %d after %d: not in order", fed[k], fed[k-1])
			}
		}
		if len(fed) != len(seen) {
			t.Fatalf("fed %d indexes, did %d", len(fed), len(seen))
		}
	})

	t.Run("a failure stops the rest and is returned, not the cancels", func(t *testing.T) {
		bad := errors.New("bad blob")
		var done atomic.Int64
		err := inParallel(context.Background(), 100000, nil, nil, func(ctx context.Context, i uint32) error {
			done.Add(1)
			if i == 300 {
				return fmt.Errorf("blob %d: %w", i, bad)
			}
			if i > 300 {
				<-ctx.Done() // in flight when the failure came
				return fmt.Errorf("blob %d: %w", i, ctx.Err())
			}
			return nil
		})
		if !errors.Is(err, bad) || err.Error() != "blob 300: bad blob" {
			t.Fatalf("got %v, want blob 300's failure", err)
		}
		if n := done.Load(); n > 300+int64(stageWorkers) {
			t.Fatalf("%d indexes started after the failure at 300: the feed did not stop", n)
		}
	})

	t.Run("of two failures the lower index wins", func(t *testing.T) {
		started, failed := make(chan struct{}), make(chan struct{})
		err := inParallel(context.Background(), 2, nil, nil, func(_ context.Context, i uint32) error {
			if i == 1 {
				<-started
				close(failed)
				return errors.New("second")
			}
			close(started)
			<-failed // index 0, under way, fails after index 1 did
			return errors.New("first")
		})
		if err == nil || err.Error() != "first" {
			t.Fatalf("got %v, want the failure of index 0", err)
		}
	})

	t.Run("the caller's cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		err := inParallel(ctx, 1000, nil, func(i uint32) {
			if i == 10 {
				cancel()
			}
		}, func(context.Context, uint32) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}
