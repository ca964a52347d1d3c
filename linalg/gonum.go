package linalg

import (
	"runtime"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// goBackend is the pure-Go backend on gonum's BLAS.
type goBackend struct {
	impl gonum.Implementation
}

// Go returns the pure-Go backend.
func Go() Backend { return goBackend{} }

func (goBackend) Name() string { return "go" }

// Threads is GOMAXPROCS: gonum splits large products over that many goroutines.
func (goBackend) Threads() int { return runtime.GOMAXPROCS(0) }

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

func (g goBackend) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g.impl.Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (g goBackend) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	g.impl.Dgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
