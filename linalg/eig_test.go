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
// matrices whose spectra make squaring hard (every singular value has close
// neighbours): condition numbers up to 10⁵, a null space of ten, and a
// spectrum running through the null threshold down to 1e-8. The maps must
// agree a hundred times more closely than the SVD map of the same matrix
// moves when each entry is rounded to float32 (relative noise 6e-8), the
// least noise a statistic accumulated in float32 carries, with the same
// rank and an orthogonal map. Measured ratios are in the log.
func TestEigMatchesSVD(t *testing.T) {
	be := openblasOrSkip(t, 1)
	rng := rand.New(rand.NewPCG(31, 32))
	n := 300
	withNull := append(logSpectrum(n-10, 1e3), make([]float64, 10)...)
	for _, tc := range []struct {
		name string
		s    []float64
		rank int
	}{
		{"κ 1e2", logSpectrum(n, 1e2), n},
		{"κ 1e4", logSpectrum(n, 1e4), n},
		{"κ 1e5", logSpectrum(n, 1e5), n},
		{"null space 10", withNull, n - 10},
		{"through the threshold", logSpectrum(n, 1e8), -1},
	} {
		c := spectrumMatrix(rng, tc.s)
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
		t.Logf("%s: rank %d (SVD %d), eig − svd %.2g, float32 noise %.2g (%.0f times larger)", tc.name, got.Rank, want.Rank, diff, noise, noise/diff)
		if got.Method != MethodEig {
			t.Errorf("%s: computed by %v", tc.name, got.Method)
		}
		if tc.rank >= 0 && (got.Rank != tc.rank || want.Rank != tc.rank) {
			t.Errorf("%s: rank %d (SVD %d), want %d", tc.name, got.Rank, want.Rank, tc.rank)
		}
		if !(diff <= noise/100) {
			t.Errorf("%s: eigen and SVD maps differ by %g, not far below the float32 noise %g", tc.name, diff, noise)
		}
		if !(got.OrthError <= 1e-12) {
			t.Errorf("%s: orthogonality error %g", tc.name, got.OrthError)
		}
		if math.Abs(got.Quality-want.Quality) > 1e-9 {
			t.Errorf("%s: quality %g, SVD %g", tc.name, got.Quality, want.Quality)
		}
		for i, s := range want.Singular {
			// Below the threshold squaring leaves σ only to about √ε·σ₁.
			tol := 1e-9
			if i >= want.Rank {
				tol = 3e-8
			}
			if math.Abs(got.Singular[i]-s) > tol*want.Singular[0] {
				t.Errorf("%s: singular value %d is %g, SVD %g", tc.name, i, got.Singular[i], s)
				break
			}
		}
	}
}

// TestEigWithoutSolver checks that MethodEig is the SVD on a backend
// without an eigensolver, and that MethodAuto takes the eigen path for large
// square statistics on one that has it, rank-deficient ones included.
func TestEigWithoutSolver(t *testing.T) {
	defer func(e int) { eigMinSize = e }(eigMinSize)
	eigMinSize = 100
	forEachBackend(t, func(t *testing.T, be Backend) {
		_, hasEig := be.(eigSolver)
		rng := rand.New(rand.NewPCG(33, 34))
		n := 120
		s := logSpectrum(n, 1e2)
		s[n-1] = 0
		c := spectrumMatrix(rng, s)
		want, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodSVD})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []Method{MethodEig, MethodAuto} {
			got, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: m})
			if err != nil {
				t.Fatal(err)
			}
			wantMethod := MethodSVD
			if hasEig {
				wantMethod = MethodEig
			}
			if got.Method != wantMethod || got.Rank != n-1 {
				t.Errorf("%v: computed by %v with rank %d, want %v and %d", m, got.Method, got.Rank, wantMethod, n-1)
			}
			if d := maxAbsDiff(got.T, want.T); d > 1e-10 {
				t.Errorf("%v: map differs from the SVD's by %g", m, d)
			}
		}
		// A norm whose square overflows goes to the SVD, with its map.
		huge := append([]float64(nil), c...)
		for i := range huge {
			huge[i] *= 1e200
		}
		got, err := ProcrustesWith(be, huge, n, n, ProcrustesOptions{Method: MethodEig})
		if err != nil {
			t.Fatal(err)
		}
		if got.Method != MethodSVD || maxAbsDiff(got.T, want.T) > 1e-10 {
			t.Errorf("‖C‖ = 1e200: computed by %v, differs from the SVD's map by %g", got.Method, maxAbsDiff(got.T, want.T))
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

// TestQRs checks the two orthonormalizations of eigSVD against each other
// and against what they promise: Cholesky QR gives orthonormal rows y′ with
// y = Rᵀ·y′ for an upper triangular R with a positive diagonal (so y·y′ᵀ is
// lower triangular with a positive diagonal), completeBasis the same first
// k vectors (Gram–Schmidt's, unique) completed to an orthogonal matrix.
func TestQRs(t *testing.T) {
	be := openblasOrSkip(t, 1)
	rng := rand.New(rand.NewPCG(37, 38))
	k, n := 30, 50
	y := randMatrix(rng, k, n)
	chol := append([]float64(nil), y...)
	ok, err := be.cholQR(k, n, chol)
	if err != nil || !ok {
		t.Fatalf("cholQR: %v, %v", ok, err)
	}
	if e := gramError(chol, k, n, false); e > 1e-13 {
		t.Errorf("Cholesky QR rows not orthonormal: %g", e)
	}
	l := mul(y, transpose(chol, k, n), k, n, k)
	for i := range k {
		if l[i*k+i] <= 0 {
			t.Errorf("R[%d][%d] = %g, want > 0", i, i, l[i*k+i])
		}
		for j := i + 1; j < k; j++ {
			if math.Abs(l[i*k+j]) > 1e-12 {
				t.Fatalf("y·y′ᵀ[%d][%d] = %g, want 0", i, j, l[i*k+j])
			}
		}
	}
	q := make([]float64, n*n)
	copy(q, y) // column-major n×n with y's rows as its first k columns
	if err := be.completeBasis(n, k, q); err != nil {
		t.Fatal(err)
	}
	if e := gramError(q, n, n, false); e > 1e-13 {
		t.Errorf("completeBasis not orthogonal: %g", e)
	}
	if d := maxAbsDiff(q[:k*n], chol); d > 1e-12 {
		t.Errorf("completeBasis and cholQR differ by %g", d)
	}
	// A rank-deficient y (a zero row: an exactly zero pivot) is refused by
	// Cholesky QR and left unchanged.
	clear(y[n : 2*n])
	dup := append([]float64(nil), y...)
	if ok, err := be.cholQR(k, n, dup); err != nil || ok || maxAbsDiff(dup, y) != 0 {
		t.Errorf("rank-deficient rows: ok %v, err %v, changed %v", ok, err, maxAbsDiff(dup, y) != 0)
	}
}
