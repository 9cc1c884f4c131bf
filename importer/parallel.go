package importer

import (
	"context"
	"errors"
	"sync"
)

// inParallel calls do for each i below n that want (nil: all) accepts, on
// stageWorkers goroutines; fed, when not nil, is called in order after each
// i is handed out. The first failure stops the rest, and it is what
// inParallel returns (see firstFailure).
func inParallel(ctx context.Context, n uint32, want func(i uint32) bool, fed func(i uint32), do func(ctx context.Context, i uint32) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		fail firstFailure
		wg   sync.WaitGroup
	)
	ids := make(chan uint32, stageWorkers)
	for range stageWorkers {
		wg.Go(func() {
			for i := range ids {
				if ctx.Err() != nil {
					continue // stopped: drain what was handed out
				}
				if err := do(ctx, i); err != nil {
					fail.record(uint64(i), err)
					cancel()
				}
			}
		})
	}
feed:
	for i := range n {
		if want != nil && !want(i) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case ids <- i:
		case <-ctx.Done():
			break feed
		}
		if fed != nil {
			fed(i)
		}
	}
	close(ids)
	wg.Wait()
	if err := fail.get(); err != nil {
		return err
	}
	return ctx.Err() // nil, or the caller's context ended the feed
}

// firstFailure keeps, of the failures of workers that stop each other
// (the first one cancels the rest), the one to report: a real failure
// rather than the cancels it caused, and of real failures found at the
// same time the one of the lowest index (an entry's, a blob's), so that
// what is reported does not depend on scheduling more than it must.
type firstFailure struct {
	mu  sync.Mutex
	at  uint64
	err error
}

func (f *firstFailure) record(at uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	canceled := errors.Is(err, context.Canceled)
	if f.err == nil || (!canceled && (errors.Is(f.err, context.Canceled) || at < f.at)) {
		f.at, f.err = at, err
	}
}

// get returns the failure kept, nil if none.
func (f *firstFailure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
