package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// svdResidual returns max |U·diag(s)·Vᵀ − A| / max(1, max |A|).
func svdResidual[T Float](u, s, vt, a []T, m, n int) float64 {
	r := min(m, n)
	d := 0.0
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			v := 0.0
			for l := 0; l < r; l++ {
				v += float64(u[i*r+l]) * float64(s[l]) * float64(vt[l*n+j])
			}
			d = max(d, math.Abs(v-float64(a[i*n+j])))
		}
	}
	return d / math.Max(1, maxAbs(a))
}

func checkSVD(t *testing.T, name string, u, s, vt, a []float64, m, n int, tol float64) {
	t.Helper()
	r := min(m, n)
	if len(u) != m*r || len(s) != r || len(vt) != r*n {
		t.Fatalf("%s: sizes u %d s %d vt %d, want %d %d %d", name, len(u), len(s), len(vt), m*r, r, r*n)
	}
	if d := svdResidual(u, s, vt, a, m, n); d > tol {
		t.Errorf("%s: |U·S·Vᵀ − A| = %g", name, d)
	}
	if r == 0 {
		return
	}
	if e := gramError(u, m, r, true); e > tol {
		t.Errorf("%s: UᵀU − I = %g", name, e)
	}
	if e := gramError(vt, r, n, false); e > tol {
		t.Errorf("%s: VᵀV − I = %g", name, e)
	}
	for i := range s {
		if s[i] < 0 || (i > 0 && s[i] > s[i-1]) {
			t.Errorf("%s: singular values not non-negative and decreasing: %v", name, s)
			break
		}
	}
}

func TestSVD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, sh := range [][2]int{{1, 1}, {12, 12}, {30, 7}, {7, 30}, {1, 5}, {5, 1}, {64, 48}, {0, 3}, {3, 0}} {
			m, n := sh[0], sh[1]
			name := fmt.Sprintf("%dx%d", m, n)
			a := randMatrix(rng, m, n)
			orig := append([]float64(nil), a...)
			u, s, vt, err := be.SVD(m, n, a)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if maxAbsDiff(a, orig) != 0 {
				t.Errorf("%s: SVD modified its input", name)
			}
			checkSVD(t, name, u, s, vt, a, m, n, 1e-12)
		}
		// A rank-2 matrix: trailing singular values vanish.
		x, y := randMatrix(rng, 20, 2), randMatrix(rng, 2, 15)
		a := mul(x, y, 20, 2, 15)
		u, s, vt, err := be.SVD(20, 15, a)
		if err != nil {
			t.Fatal(err)
		}
		checkSVD(t, "rank 2", u, s, vt, a, 20, 15, 1e-12)
		if s[2] > 1e-12*s[0] {
			t.Errorf("rank 2: s = %v", s[:4])
		}
		// Errors, not crashes.
		if _, _, _, err := be.SVD(3, 3, make([]float64, 8)); err == nil {
			t.Error("short input accepted")
		}
		bad := randMatrix(rng, 3, 3)
		bad[4] = math.NaN()
		if _, _, _, err := be.SVD(3, 3, bad); err == nil {
			t.Error("NaN input accepted")
		}
	})
}

func TestSVD32(t *testing.T) {
	ob := openblasOrSkip(t, 0)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sh := range [][2]int{{16, 16}, {33, 9}, {9, 33}} {
		m, n := sh[0], sh[1]
		a := make([]float32, m*n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		u, s, vt, err := ob.SVD32(m, n, a)
		if err != nil {
			t.Fatal(err)
		}
		if d := svdResidual(u, s, vt, a, m, n); d > 1e-5 {
			t.Errorf("%v: residual %g", sh, d)
		}
		r := min(m, n)
		u64, vt64 := make([]float64, len(u)), make([]float64, len(vt))
		for i, v := range u {
			u64[i] = float64(v)
		}
		for i, v := range vt {
			vt64[i] = float64(v)
		}
		if e := gramError(u64, m, r, true); e > 1e-5 {
			t.Errorf("%v: UᵀU − I = %g", sh, e)
		}
		if e := gramError(vt64, r, n, false); e > 1e-5 {
			t.Errorf("%v: VᵀV − I = %g", sh, e)
		}
	}
}
