package transfer

import (
	"fmt"
	"math"
	"time"

	"github.com/bico-dev/bico/linalg"
)

// Map is the orthogonal Procrustes map of one statistic: T (DA×DB) with
// orthonormal columns or rows, taking target coordinates to source ones
// (a_A ≈ T·a_B), so a source vector v moves to the target as Tᵀv.
type Map struct {
	Key    StatKey
	DA, DB int
	T      []float64
	// Rank is the numerical rank of the statistic.
	Rank int
	// Quality is tr(TᵀC)/‖C‖_*: 1 when C is exactly explained by T.
	Quality float64
}

// statMatrix returns the statistic's matrix after the optional centring
// and partial whitening.
func statMatrix(be linalg.Backend, s *Stat, center bool, p float64) ([]float64, error) {
	c := append([]float64(nil), s.C...)
	if center && s.Rows > 0 {
		inv := 1 / float64(s.Rows)
		for i := 0; i < s.DA; i++ {
			for j := 0; j < s.DB; j++ {
				c[i*s.DB+j] -= s.SumA[i] * s.SumB[j] * inv
			}
		}
	}
	if p == 0 {
		return c, nil
	}
	ga, err := symPower(be, s.GramA, s.DA, -p)
	if err != nil {
		return nil, fmt.Errorf("statistic %s: source Gram matrix: %w", s.Key, err)
	}
	gb, err := symPower(be, s.GramB, s.DB, -p)
	if err != nil {
		return nil, fmt.Errorf("statistic %s: target Gram matrix: %w", s.Key, err)
	}
	tmp := make([]float64, s.DA*s.DB)
	be.Dgemm(false, false, s.DA, s.DB, s.DA, 1, ga, s.DA, c, s.DB, 0, tmp, s.DB)
	be.Dgemm(false, false, s.DA, s.DB, s.DB, 1, tmp, s.DB, gb, s.DB, 0, c, s.DB)
	return c, nil
}

// symPower returns G^q for a symmetric positive semi-definite n×n matrix,
// flooring eigenvalues at 1e-6 of the largest so that negative powers stay
// finite.
func symPower(be linalg.Backend, g []float64, n int, q float64) ([]float64, error) {
	u, s, _, err := be.SVD(n, n, g)
	if err != nil {
		return nil, err
	}
	floor := 1e-6 * s[0]
	if floor <= 0 {
		floor = 1
	}
	us := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			us[i*n+j] = u[i*n+j] * math.Pow(math.Max(s[j], floor), q)
		}
	}
	out := make([]float64, n*n)
	be.Dgemm(false, true, n, n, n, 1, us, n, u, n, 0, out, n)
	return out, nil
}

// computeMap builds the Procrustes map of one statistic, adding the time
// spent preparing the statistic's matrix and computing its map to tm.
func computeMap(be linalg.Backend, s *Stat, opts Options, tm *Timing) (*Map, error) {
	start := time.Now()
	c, err := statMatrix(be, s, opts.Center, opts.Whiten)
	if err != nil {
		return nil, err
	}
	tm.Statistics += time.Since(start).Seconds()
	start = time.Now()
	defer func() { tm.Maps += time.Since(start).Seconds() }()
	for i, v := range c {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("statistic %s: element %d is not finite", s.Key, i)
		}
	}
	po := linalg.ProcrustesOptions{Method: linalg.MethodSVD}
	if opts.Polar {
		po.Method = linalg.MethodPolar
	}
	r, err := linalg.ProcrustesWith(be, c, s.DA, s.DB, po)
	if err != nil {
		return nil, fmt.Errorf("statistic %s: %w", s.Key, err)
	}
	return &Map{Key: s.Key, DA: s.DA, DB: s.DB, T: r.T, Rank: r.Rank, Quality: r.Quality}, nil
}
