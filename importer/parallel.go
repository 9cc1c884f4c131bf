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
	w := startWorkers(ctx, stageWorkers, func(ctx context.Context, i uint32) error { return do(ctx, i) })
	for i := range n {
		if want != nil && !want(i) {
			continue
		}
		if !w.add(uint64(i), i) {
			break
		}
		if fed != nil {
			fed(i)
		}
	}
	return w.wait()
}

// workers call do for each job handed to add, on stageWorkers goroutines,
// until wait; up to queue jobs wait for a free worker before add blocks.
// The first failure stops the rest (see firstFailure).
type workers[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan job[T]
	wg     sync.WaitGroup
	fail   firstFailure
	done   func() error // wait's result, computed once
}

// job is one piece of work and where it stands among the others (the
// order in which failures found at the same time are reported).
type job[T any] struct {
	at  uint64
	val T
}

func startWorkers[T any](ctx context.Context, queue int, do func(ctx context.Context, v T) error) *workers[T] {
	w := &workers[T]{jobs: make(chan job[T], queue)}
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.done = sync.OnceValue(func() error {
		close(w.jobs)
		w.wg.Wait()
		defer w.cancel()
		return w.stopped()
	})
	for range stageWorkers {
		w.wg.Go(func() {
			for j := range w.jobs {
				if w.ctx.Err() != nil {
					continue // stopped: drain what was handed out
				}
				if err := do(w.ctx, j.val); err != nil {
					w.fail.record(j.at, err)
					w.cancel()
				}
			}
		})
	}
	return w
}

// add hands v, at position at, to a worker as soon as one is free. It
// reports false, handing nothing, once the work has stopped (a failure, or
// the context ended).
func (w *workers[T]) add(at uint64, v T) bool {
	if w.ctx.Err() != nil {
		return false
	}
	select {
	case w.jobs <- job[T]{at, v}:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// stopped is why the work stopped: the failure kept, else the context's
// error (nil while it runs).
func (w *workers[T]) stopped() error {
	if err := w.fail.get(); err != nil {
		return err
	}
	return w.ctx.Err()
}

// wait waits for the jobs handed out and returns the failure kept, else
// the context's error (nil unless it ended). No job may be added after it;
// later calls return the same.
func (w *workers[T]) wait() error { return w.done() }

// stop ends the work: jobs not started are dropped, and stop returns once
// the running ones have returned. No job may be added after it.
func (w *workers[T]) stop() {
	w.cancel()
	_ = w.done()
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
