package linalg

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// goBackend is the pure-Go backend: its own blocked, packed GEMM (with
// assembly micro-kernels where the CPU has them, see gemm_go.go) split
// over a pool of goroutines, and gonum's LAPACK for the SVD and inverse,
// whose matrix products go through that GEMM too (see routeGonumBLAS).
type goBackend struct {
	pool *pool
}

// Go returns the pure-Go backend, using GOMAXPROCS threads.
func Go() Backend { return GoThreads(0) }

// GoThreads returns the pure-Go backend using the given number of threads
// (0: GOMAXPROCS).
func GoThreads(threads int) Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	be := &goBackend{pool: newPool(threads)}
	routeGonumBLAS(be)
	return be
}

func (*goBackend) Name() string { return "go" }

// Threads is the number of goroutines one product is split over.
func (g *goBackend) Threads() int { return g.pool.threads }

// Kernel names the micro-kernels in use, e.g. "avx2-6x16/avx2-6x8".
func (g *goBackend) Kernel() string { return sgemmShape.name + "/" + dgemmShape.name }

func (g *goBackend) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	goGemm(g.pool, sgemmShape, "Sgemm", transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (g *goBackend) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	goGemm(g.pool, dgemmShape, "Dgemm", transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// goGemm checks a product's arguments and runs it on the pool.
func goGemm[T Float](p *pool, sh *gemmShape[T], name string, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(name, transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	p.gemm(m, n, k, max(sh.mr, sh.nr), func(i0, i1, j0, j1 int) {
		oa, ob, oc := gemmOffsets(transA, transB, lda, ldb, ldc, i0, j0)
		gemmSerial(sh, transA, transB, i1-i0, j1-j0, k, alpha, a[oa:], lda, b[ob:], ldb, beta, c[oc:], ldc)
	})
}

// goBLAS is gonum's pure-Go BLAS with its matrix product replaced by the Go
// backend's: gonum's LAPACK (the Go backend's SVD and inverse) spends most
// of its blocked algorithms' work in Dgemm.
type goBLAS struct {
	gonum.Implementation
	be *goBackend
}

func (g goBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	g.be.Dgemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

var useGoBLAS sync.Once

// routeGonumBLAS makes gonum's LAPACK call be's Dgemm, once per process
// (blas64.Use sets gonum's process-wide implementation; bico has no other
// user of it).
func routeGonumBLAS(be *goBackend) {
	useGoBLAS.Do(func() { blas64.Use(goBLAS{be: be}) })
}
