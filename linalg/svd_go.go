package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// SVD computes the thin SVD with gonum.
func (goBackend) SVD(m, n int, a []float64) (u, s, vt []float64, err error) {
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(m, n, append([]float64(nil), a...)), mat.SVDThin) {
		return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix did not converge", m, n)
	}
	r := min(m, n)
	s = svd.Values(nil)
	var U, V mat.Dense
	svd.UTo(&U)
	svd.VTo(&V)
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
