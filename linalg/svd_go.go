package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/lapack"
	lapackgo "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// SVD computes the thin SVD with gonum (one-sided ?gesvd path in pure Go).
// It is slow for large matrices (about 10 s at 1024×1024); Procrustes with
// MethodPolar avoids it.
func (*goBackend) SVD(m, n int, a []float64) (u, s, vt []float64, err error) {
	if err := checkSVDArgs(m, n, len(a)); err != nil {
		return nil, nil, nil, err
	}
	r := min(m, n)
	if r == 0 {
		return make([]float64, m*r), make([]float64, r), make([]float64, r*n), nil
	}
	for i, v := range a[:m*n] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix: element %d is %v", m, n, i, v)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(m, n, append([]float64(nil), a[:m*n]...)), mat.SVDThin) {
		return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix did not converge", m, n)
	}
	s = svd.Values(nil)
	var U, V mat.Dense
	svd.UTo(&U) // m×r
	svd.VTo(&V) // n×r
	u = make([]float64, m*r)
	for i := 0; i < m; i++ {
		for j := 0; j < r; j++ {
			u[i*r+j] = U.At(i, j)
		}
	}
	vt = make([]float64, r*n)
	for i := 0; i < r; i++ {
		for j := 0; j < n; j++ {
			vt[i*n+j] = V.At(j, i)
		}
	}
	return u, s, vt, nil
}

// inverter is implemented by backends with their own matrix inverse.
type inverter interface {
	inverse(n int, a []float64) error
	inverseIfConditioned(n int, a []float64, maxKappa float64) (bool, error)
}

// invert replaces the row-major n×n matrix a by its inverse, with the
// backend's LAPACK when it has one and gonum's pure-Go LU otherwise.
func invert(be Backend, n int, a []float64) error {
	if n == 0 {
		return nil
	}
	if inv, ok := be.(inverter); ok {
		return inv.inverse(n, a)
	}
	_, err := invertIfConditioned(be, n, a, 0)
	return err
}

// invertIfConditioned is invert, except that with maxKappa > 0 it first
// estimates the 1-norm condition number from the LU factors and, when the
// estimate exceeds maxKappa, returns false and leaves a unchanged: the
// factorisation is the only work spent on a matrix too ill-conditioned for
// the caller.
func invertIfConditioned(be Backend, n int, a []float64, maxKappa float64) (bool, error) {
	if n == 0 {
		return true, nil
	}
	if inv, ok := be.(inverter); ok {
		return inv.inverseIfConditioned(n, a, maxKappa)
	}
	var impl lapackgo.Implementation
	ipiv := make([]int, n)
	lu := append([]float64(nil), a[:n*n]...)
	anorm := impl.Dlange(lapack.MaxColumnSum, n, n, lu, n, make([]float64, n))
	if !impl.Dgetrf(n, n, lu, n, ipiv) {
		return false, fmt.Errorf("linalg: inverse of a %d×%d matrix: exactly singular", n, n)
	}
	if maxKappa > 0 {
		rcond := impl.Dgecon(lapack.MaxColumnSum, n, lu, n, anorm, make([]float64, 4*n), make([]int, n))
		if !(rcond*maxKappa >= 1) {
			return false, nil
		}
	}
	copy(a, lu)
	var q [1]float64
	impl.Dgetri(n, a, n, ipiv, q[:], -1)
	work := make([]float64, max(int(q[0]), n))
	if !impl.Dgetri(n, a, n, ipiv, work, len(work)) {
		return false, fmt.Errorf("linalg: inverse of a %d×%d matrix: exactly singular", n, n)
	}
	return true, nil
}
