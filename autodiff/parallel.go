package autodiff

import (
	"sync"
	"sync/atomic"
)

// threads is the number of goroutines the tape's own loops (element-wise
// kernels, norms, attention heads) may use: the backend's thread budget.
func (t *Tape[T]) threads() int {
	if t.Backend == nil {
		return 1
	}
	return max(1, t.Backend.Threads())
}

// threadsFor is threads for a loop over n elements: 1 when n is too small
// to share.
func (t *Tape[T]) threadsFor(n int) int {
	if n < 2*minGrain {
		return 1
	}
	return t.threads()
}

// minGrain is the least number of elements worth a goroutine of its own in
// a memory-bound loop.
const minGrain = 1 << 14

// parallelFor calls fn on contiguous ranges [lo, hi) that cover [0, n),
// using up to threads goroutines (the caller's among them) and ranges of at
// least grain items. Small loops run on the caller alone.
func parallelFor(threads, n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := min(threads, n/max(grain, 1))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(n*w/workers, n*(w+1)/workers)
	}
	fn(0, n/workers)
	wg.Wait()
}

// parallelTasks calls fn(worker, i) for every i in [0, n) on up to threads
// goroutines that take tasks in order as they finish the previous one;
// worker in [0, threads) names the goroutine, for per-worker scratch.
func parallelTasks(threads, n int, fn func(worker, i int)) {
	workers := min(threads, n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	work := func(w int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			fn(w, i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			work(w)
		}(w)
	}
	work(0)
	wg.Wait()
}
