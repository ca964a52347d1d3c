package linalg

import (
	"runtime"
	"sync"
)

// pool is the thread budget of one backend: at most threads serial kernels
// (pieces of a product, or whole LAPACK calls) run at once, whichever
// goroutines call the backend, and a large product is split over the
// threads that are free when it starts.
//
// Splitting in Go rather than inside the BLAS keeps the library single
// threaded: no second thread pool spinning beside the Go scheduler, and
// products called from several goroutines (attention heads, statistics)
// run side by side instead of queueing on a library-wide lock.
type pool struct {
	threads int
	tokens  chan struct{}
}

func newPool(threads int) *pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return &pool{threads: threads, tokens: make(chan struct{}, threads)}
}

// minPieceFlops is the least work (in FLOPs) worth a piece of its own: a
// few tens of microseconds of one thread, against about a microsecond to
// start a goroutine.
const minPieceFlops = 4 << 20

// acquire takes one thread, waiting for it.
func (p *pool) acquire() { p.tokens <- struct{}{} }

// release gives back one thread.
func (p *pool) release() { <-p.tokens }

// tryAcquire takes up to n more threads without waiting and returns how
// many it got.
func (p *pool) tryAcquire(n int) int {
	got := 0
	for got < n {
		select {
		case p.tokens <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

// serial runs fn on one thread of the budget.
func (p *pool) serial(fn func()) {
	p.acquire()
	defer p.release()
	fn()
}

// gemm runs an m×n product of depth k as pieces: kernel computes the block
// of rows [i0, i1) and columns [j0, j1) of C on the calling goroutine. The
// pieces cut C along its longer side, in multiples of align rows or
// columns, one per thread free when the product starts (at most the
// budget, and no piece under minPieceFlops).
func (p *pool) gemm(m, n, k, align int, kernel func(i0, i1, j0, j1 int)) {
	p.acquire()
	want := min(p.threads, int(2*float64(m)*float64(n)*float64(k)/minPieceFlops))
	byRows := m >= n
	long := n
	if byRows {
		long = m
	}
	want = min(want, (long+align-1)/align)
	pieces := 1
	if want > 1 {
		pieces += p.tryAcquire(want - 1)
	}
	if pieces == 1 {
		kernel(0, m, 0, n)
		p.release()
		return
	}
	// Cut long into pieces of whole align blocks, as evenly as possible.
	blocks := (long + align - 1) / align
	cut := func(i int) int { return min(long, (blocks*i/pieces)*align) }
	var wg sync.WaitGroup
	for i := 1; i < pieces; i++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			defer p.release()
			if byRows {
				kernel(lo, hi, 0, n)
			} else {
				kernel(0, m, lo, hi)
			}
		}(cut(i), cut(i+1))
	}
	if byRows {
		kernel(0, cut(1), 0, n)
	} else {
		kernel(0, m, 0, cut(1))
	}
	p.release()
	wg.Wait()
}

// gemmOffsets returns the offsets into a, b and c of the block of rows
// [i0, …) and columns [j0, …) of a row-major product C = op(A)·op(B).
func gemmOffsets(transA, transB bool, lda, ldb, ldc, i0, j0 int) (oa, ob, oc int) {
	if transA {
		oa = i0 // A is k×m: rows of C are columns of A
	} else {
		oa = i0 * lda
	}
	if transB {
		ob = j0 * ldb // B is n×k: columns of C are rows of B
	} else {
		ob = j0
	}
	return oa, ob, i0*ldc + j0
}
