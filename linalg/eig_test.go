package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// spectrumMatrix returns U·diag(s)·Vᵀ for random orthogonal n×n U and V.
func spectrumMatrix(rng *rand.Rand, s []float64) []float64 {
	n := len(s)
	u, v := randOrthogonal(rng, n, n), randOrthogonal(rng, n, n)
	us := make([]float64, n*n)
	for i := range n {
		for k := range n {
			us[i*n+k] = u[i*n+k] * s[k]
		}
	}
	return mul(us, transpose(v, n, n), n, n, n)
}

// rmsDiff is ‖a − b‖_F/√n for n×n a and b.
func rmsDiff(a, b []float64, n int) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s / float64(n))
}

// logSpectrum returns n singular values from 1 down to 1/κ, evenly spaced
// in logarithm.
func logSpectrum(n int, kappa float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Pow(kappa, -float64(i)/float64(n-1))
	}
	return s
}

// TestEigMatchesSVD checks MethodEig against the SVD's map on square
// matrices of condition number up to 10⁵ (every singular value a pair of
// close neighbours, the hard case for squaring): the maps must agree a
// thousand times more closely than the SVD map of the same matrix moves
// when each entry is rounded to float32 (relative noise 6e-8), the
// smallest change a statistic accumulated in float32 carries. Measured:
// 1e-13, 1e-10, 7e-9 against 3e-7, 1e-5, 7e-5.
func TestEigMatchesSVD(t *testing.T) {
	be := openblasOrSkip(t, 1)
	rng := rand.New(rand.NewPCG(31, 32))
	n := 300
	for _, kappa := range []float64{1e2, 1e4, 1e5} {
		c := spectrumMatrix(rng, logSpectrum(n, kappa))
		want, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodSVD})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodEig})
		if err != nil {
			t.Fatal(err)
		}
		noisy := append([]float64(nil), c...)
		for i := range noisy {
			noisy[i] *= 1 + 6e-8*rng.NormFloat64()
		}
		ref, err := ProcrustesWith(be, noisy, n, n, ProcrustesOptions{Method: MethodSVD})
		if err != nil {
			t.Fatal(err)
		}
		diff, noise := rmsDiff(got.T, want.T, n), rmsDiff(ref.T, want.T, n)
		t.Logf("κ = %g: %d refinement steps, eig − svd %.2g, float32 noise %.2g", kappa, got.Iterations, diff, noise)
		if got.Method != MethodEig || got.Rank != n {
			t.Errorf("κ = %g: computed by %v with rank %d, want eig and %d", kappa, got.Method, got.Rank, n)
		}
		if !(diff <= noise/1000) {
			t.Errorf("κ = %g: eigen and SVD maps differ by %g, not far below the float32 noise %g", kappa, diff, noise)
		}
		if !(got.OrthError <= 1e-11) {
			t.Errorf("κ = %g: orthogonality error %g", kappa, got.OrthError)
		}
		if math.Abs(got.Quality-want.Quality) > 1e-12 {
			t.Errorf("κ = %g: quality %g, SVD %g", kappa, got.Quality, want.Quality)
		}
		for i, s := range want.Singular {
			if math.Abs(got.Singular[i]-s) > 1e-9*want.Singular[0] {
				t.Errorf("κ = %g: singular value %d is %g, SVD %g", kappa, i, got.Singular[i], s)
				break
			}
		}
	}
}

// TestEigFallsBack checks that MethodEig leaves to the SVD the matrices
// whose smallest singular value is near or below the null threshold, and
// gives the SVD's map and rank for them; and that on a backend without an
// eigensolver it is the SVD.
func TestEigFallsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		_, hasEig := be.(symEigener)
		rng := rand.New(rand.NewPCG(33, 34))
		n := 120
		for _, tc := range []struct {
			smallest float64
			eig      bool
			rank     int
		}{
			{1e-3, true, n},
			{2 * DefaultNullTol, false, n}, // within eigMargin of the threshold
			{0, false, n - 1},
		} {
			s := logSpectrum(n, 1e2)
			s[n-1] = tc.smallest
			c := spectrumMatrix(rng, s)
			want, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodSVD})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodEig})
			if err != nil {
				t.Fatal(err)
			}
			wantMethod := MethodSVD
			if tc.eig && hasEig {
				wantMethod = MethodEig
			}
			if got.Method != wantMethod || got.Rank != tc.rank {
				t.Errorf("σₙ = %g: computed by %v with rank %d, want %v and %d", tc.smallest, got.Method, got.Rank, wantMethod, tc.rank)
			}
			if d := maxAbsDiff(got.T, want.T); d > 1e-10 {
				t.Errorf("σₙ = %g: eig and SVD maps differ by %g", tc.smallest, d)
			}
		}
	})
}

// TestSymEig checks the eigensolver and the Gram product it is used with:
// A·zᵢ = wᵢ·zᵢ with orthonormal zᵢ and ascending wᵢ, and gram against Dgemm.
func TestSymEig(t *testing.T) {
	be := openblasOrSkip(t, 1)
	rng := rand.New(rand.NewPCG(35, 36))
	m, n := 70, 50
	x := randMatrix(rng, m, n)
	g := make([]float64, n*n)
	be.gram(m, n, 0.5, x, g)
	want := make([]float64, n*n)
	be.Dgemm(true, false, n, n, m, 0.5, x, n, x, n, 0, want, n)
	if d := maxAbsDiff(g, want); d > 1e-12 {
		t.Errorf("gram differs from Dgemm by %g", d)
	}
	w, z, err := be.symEig(n, g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if i > 0 && w[i] < w[i-1] {
			t.Errorf("eigenvalues not ascending at %d: %g < %g", i, w[i], w[i-1])
		}
		zi := z[i*n : i*n+n]
		az := mul(g, zi, n, n, 1)
		for j := range n {
			if d := math.Abs(az[j] - w[i]*zi[j]); d > 1e-11*w[n-1] {
				t.Fatalf("eigenpair %d: residual %g", i, d)
			}
		}
	}
	if e := gramError(z, n, n, false); e > 1e-12 {
		t.Errorf("eigenvectors not orthonormal: %g", e)
	}
	nan := append([]float64(nil), g...)
	nan[7] = math.NaN()
	if _, _, err := be.symEig(n, nan); err == nil {
		t.Error("NaN element: no error")
	}
}
