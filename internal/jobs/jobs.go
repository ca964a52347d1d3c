// Package jobs runs independent pieces of work side by side, each with its
// own share of the machine's threads.
//
// Small models (the zoo's) keep two threads of one product busy poorly:
// their matrices are too small to split. Running independent trainings or
// experiment cells side by side, one thread each, uses the machine better.
package jobs

import (
	"context"
	"sync"

	"github.com/bico-dev/bico/linalg"
)

// limitKey is the context key of the default number of jobs.
type limitKey struct{}

// WithLimit returns a copy of ctx under which Run, when not given a number
// of jobs, runs up to n (n ≤ 0: one per thread of its backend).
func WithLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, limitKey{}, n)
}

// Run calls do(ctx, i) for every i in [0, n) on up to jobs goroutines
// (jobs ≤ 0: the limit ctx carries, else one per thread of be). With more
// than one job, each goroutine's context carries a backend of its own, of
// be's kind with an equal share of be's threads (linalg.NewContext), so
// work that takes its backend from the context (linalg.FromContext)
// neither oversubscribes the machine nor waits for another job's products;
// with one job, do runs in order on ctx with be itself.
//
// The first error cancels the work not yet started; Run waits for the rest
// and returns the error of the lowest index that failed.
func Run(ctx context.Context, be linalg.Backend, jobs, n int, do func(ctx context.Context, i int) error) error {
	if jobs <= 0 {
		jobs, _ = ctx.Value(limitKey{}).(int)
	}
	if jobs <= 0 {
		jobs = be.Threads()
	}
	jobs = min(jobs, n)
	if jobs <= 1 {
		ctx = linalg.NewContext(ctx, be)
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := do(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	// One backend per worker: a backend lets at most its thread count of
	// calls run at once, so workers sharing one would queue for it.
	shares := make([]linalg.Backend, jobs)
	for w := range shares {
		share, err := linalg.Share(be, be.Threads()/jobs)
		if err != nil {
			return err
		}
		shares[w] = share
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		jctx := linalg.NewContext(ctx, shares[w])
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[i] = do(jctx, i); errs[i] != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return context.Cause(ctx)
}
