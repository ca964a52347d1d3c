// Package linalg holds bico's dense linear-algebra backend: matrix products
// and singular value decompositions over row-major matrices, served either by
// OpenBLAS (loaded at run time, no cgo) or by pure Go (gonum), and the
// orthogonal Procrustes maps built on them.
package linalg

import (
	"fmt"
	"os"
	"sync"
)

// Float is the set of element types the engine computes in.
type Float interface {
	~float32 | ~float64
}

// Backend is a set of dense kernels over row-major matrices.
//
// All matrices are row-major with an explicit leading dimension (the stride
// between rows). Implementations are safe for concurrent use.
type Backend interface {
	// Name is "openblas" or "go".
	Name() string
	// Threads is the number of threads the backend uses for one product.
	Threads() int
	// Sgemm computes C = alpha·op(A)·op(B) + beta·C in float32, where op(A)
	// is m×k and op(B) is k×n; op(X) is Xᵀ when the matching flag is set.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// Dgemm is Sgemm in float64.
	Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
	// SVD computes the thin singular value decomposition A = U·diag(s)·Vᵀ of
	// the row-major m×n matrix a, which is not modified. With r = min(m, n),
	// u is m×r, s has r values in decreasing order and vt is r×n.
	SVD(m, n int, a []float64) (u, s, vt []float64, err error)
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C with the backend's kernel for T.
func Gemm[T Float](be Backend, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	switch a := any(a).(type) {
	case []float32:
		be.Sgemm(transA, transB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		be.Dgemm(transA, transB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	default:
		panic(fmt.Sprintf("linalg: Gemm on unsupported element type %T", a))
	}
}

// EnvVar is the environment variable that selects the backend:
// "auto" (the default: OpenBLAS when it loads, pure Go otherwise),
// "openblas" or "go".
const EnvVar = "BICO_BLAS"

var (
	defaultOnce    sync.Once
	defaultBackend Backend
	defaultErr     error
)

// Default returns the process-wide backend chosen by BICO_BLAS. It is
// resolved once; an error means the requested backend cannot be used.
func Default() (Backend, error) {
	defaultOnce.Do(func() {
		defaultBackend, defaultErr = Open(os.Getenv(EnvVar))
	})
	return defaultBackend, defaultErr
}

// MustDefault is Default for tests and programs that cannot continue without
// a backend; it panics with the selection error.
func MustDefault() Backend {
	b, err := Default()
	if err != nil {
		panic(err)
	}
	return b
}

// Open returns the backend named by name: "", "auto", "openblas" or "go".
func Open(name string) (Backend, error) {
	return OpenThreads(name, 0)
}

// OpenThreads is Open with a thread count for each product (0: every CPU).
func OpenThreads(name string, threads int) (Backend, error) {
	if threads < 0 {
		return nil, fmt.Errorf("linalg: negative thread count %d", threads)
	}
	switch name {
	case "", "auto":
		if b, err := OpenBLAS(threads); err == nil {
			return b, nil
		}
		return GoThreads(threads), nil
	case "openblas":
		return OpenBLAS(threads)
	case "go":
		return GoThreads(threads), nil
	default:
		return nil, fmt.Errorf("linalg: %s=%q: want auto, openblas or go", EnvVar, name)
	}
}
