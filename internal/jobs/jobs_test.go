package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bico-dev/bico/linalg"
)

func TestRunEveryIndexOnce(t *testing.T) {
	be := linalg.GoThreads(4)
	for _, jobs := range []int{0, 1, 2, 3, 8} {
		var seen [50]atomic.Int32
		var running, most atomic.Int32
		err := Run(context.Background(), be, jobs, len(seen), func(ctx context.Context, i int) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			jbe, err := linalg.FromContext(ctx)
			if err != nil {
				return err
			}
			want := 4
			if jobs > 1 {
				want = 4 / jobs
			} else if jobs == 0 {
				want = 1 // four jobs, one thread each
			}
			if jbe.Threads() != max(want, 1) {
				return fmt.Errorf("job %d: backend with %d threads, want %d", i, jbe.Threads(), max(want, 1))
			}
			seen[i].Add(1)
			return nil
		})
		if err != nil {
			t.Fatalf("jobs %d: %v", jobs, err)
		}
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Errorf("jobs %d: index %d done %d times", jobs, i, seen[i].Load())
			}
		}
		limit := int32(jobs)
		if jobs == 0 {
			limit = 4
		}
		if most.Load() > limit {
			t.Errorf("jobs %d: %d ran at once", jobs, most.Load())
		}
	}
}

func TestRunStopsAtTheFirstError(t *testing.T) {
	be := linalg.GoThreads(2)
	var started atomic.Int32
	bad := errors.New("bad input 3")
	err := Run(context.Background(), be, 2, 1000, func(ctx context.Context, i int) error {
		started.Add(1)
		if i == 3 {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) {
		t.Fatalf("error %v, want %v", err, bad)
	}
	if started.Load() > 100 {
		t.Errorf("%d of 1000 started after index 3 failed", started.Load())
	}
}

func TestRunLimitFromContext(t *testing.T) {
	be := linalg.GoThreads(2)
	ctx := WithLimit(context.Background(), 1)
	var running, most atomic.Int32
	err := Run(ctx, be, 0, 20, func(ctx context.Context, i int) error {
		n := running.Add(1)
		defer running.Add(-1)
		if n > most.Load() {
			most.Store(n)
		}
		return nil
	})
	if err != nil || most.Load() != 1 {
		t.Errorf("limit 1: %d at once, error %v", most.Load(), err)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, linalg.GoThreads(2), 2, 10, func(context.Context, int) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// TestRunJobsOwnBackends checks that jobs running at the same time hold
// different backends. A backend runs at most its thread count of products
// at once, so jobs sharing a one-thread backend would take turns at every
// product (the zoo's two-job builds used 1.45 of 2 processors so).
func TestRunJobsOwnBackends(t *testing.T) {
	for _, name := range []string{"go", "openblas"} {
		be, err := linalg.OpenThreads(name, 2)
		if err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		var arrived sync.WaitGroup
		arrived.Add(2)
		held := make([]linalg.Backend, 2)
		err = Run(context.Background(), be, 2, 2, func(ctx context.Context, i int) error {
			jbe, err := linalg.FromContext(ctx)
			if err != nil {
				return err
			}
			held[i] = jbe
			arrived.Done()
			arrived.Wait() // both jobs are running now
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if held[0] == held[1] {
			t.Errorf("%s: two jobs running at once share one backend", name)
		}
		for i, jbe := range held {
			if jbe.Threads() != 1 || jbe.Name() != name {
				t.Errorf("%s: job %d has a %s backend of %d threads, want %s with 1", name, i, jbe.Name(), jbe.Threads(), name)
			}
		}
	}
}
