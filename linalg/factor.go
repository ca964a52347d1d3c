package linalg

import (
	"fmt"
	"math"
)

// LowRank returns factors b (m×r, row-major) and a (r×n) whose product is
// the best rank-r approximation of the row-major m×n d, from a randomized
// SVD with r+8 samples, the singular values split evenly (b = U·√Σ,
// a = √Σ·Vᵀ), and tail: the first singular value left out over the largest
// (0 for a zero d). tail is zero up to rounding when d has rank at most r.
func LowRank(be Backend, d []float64, m, n, r int) (b, a []float64, tail float64, err error) {
	if r <= 0 || m <= 0 || n <= 0 || len(d) < m*n {
		return nil, nil, 0, fmt.Errorf("linalg: LowRank: rank %d of a %d×%d matrix of %d elements", r, m, n, len(d))
	}
	k := min(r+8, m, n)
	var u, s, vt []float64
	if m >= n {
		u, s, vt, err = randomizedSVD(be, d, m, n, k)
	} else {
		// The range finder wants a tall matrix: factor dᵀ = V·Σ·Uᵀ.
		var v, ut []float64
		v, s, ut, err = randomizedSVD(be, transposeOf(d, m, n), n, m, k)
		u, vt = transposeOf(ut, k, m), transposeOf(v, n, k)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	r = min(r, k)
	if s[0] > 0 && r < k {
		tail = s[r] / s[0]
	}
	b, a = make([]float64, m*r), make([]float64, r*n)
	for j := range r {
		w := math.Sqrt(s[j])
		for i := range m {
			b[i*r+j] = u[i*k+j] * w
		}
		for i := range n {
			a[j*n+i] = vt[j*n+i] * w
		}
	}
	return b, a, tail, nil
}
