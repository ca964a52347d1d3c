package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// alignedStatistic returns C = X_Aᵀ·X_B for representations related by the
// (semi-)orthogonal d_A×d_B map r, plus Gaussian noise of the given size on
// the dependent side, from n rows. For d_A ≤ d_B, X_A is random and
// X_B = X_A·R (so C = X_AᵀX_A·R); for d_A > d_B, X_B is random and
// X_A = X_B·Rᵀ (so C = R·X_BᵀX_B). Either way the Procrustes map is R.
func alignedStatistic(rng *rand.Rand, r []float64, dA, dB, n int, noise float64) []float64 {
	var xa, xb []float64
	if dA <= dB {
		xa = randMatrix(rng, n, dA)
		xb = mul(xa, r, n, dA, dB)
		for i := range xb {
			xb[i] += noise * rng.NormFloat64()
		}
	} else {
		xb = randMatrix(rng, n, dB)
		xa = mul(xb, transpose(r, dA, dB), n, dB, dA)
		for i := range xa {
			xa[i] += noise * rng.NormFloat64()
		}
	}
	return mul(transpose(xa, n, dA), xb, dA, n, dB)
}

func randPermutation(rng *rand.Rand, d int) []float64 {
	p := make([]float64, d*d)
	for i, j := range rng.Perm(d) {
		p[i*d+j] = 1
	}
	return p
}

func TestProcrustesRecoversMap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(11, 12))
		type tc struct {
			name   string
			dA, dB int
			r      []float64
		}
		cases := []tc{
			{"orthogonal", 24, 24, randOrthogonal(rng, 24, 24)},
			{"permutation", 24, 24, randPermutation(rng, 24)},
			{"semi-orthogonal dA<dB", 16, 27, randOrthogonal(rng, 16, 27)},
			{"semi-orthogonal dA>dB", 27, 16, randOrthogonal(rng, 27, 16)},
		}
		for _, c := range cases {
			for _, method := range []Method{MethodSVD, MethodPolar, MethodEig} {
				for _, noise := range []float64{0, 1e-3} {
					name := fmt.Sprintf("%s/%v/noise=%g", c.name, method, noise)
					n := 4 * max(c.dA, c.dB)
					stat := alignedStatistic(rng, c.r, c.dA, c.dB, n, noise)
					res, err := ProcrustesWith(be, stat, c.dA, c.dB, ProcrustesOptions{Method: method})
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					tol := 1e-8
					if noise > 0 {
						tol = 1e-2
					}
					if d := maxAbsDiff(res.T, c.r); d > tol {
						t.Errorf("%s: max |T − R| = %g > %g", name, d, tol)
					}
					if res.OrthError > 1e-10 {
						t.Errorf("%s: orthogonality error %g", name, res.OrthError)
					}
					if method == MethodSVD || method == MethodEig {
						if res.Rank != min(c.dA, c.dB) {
							t.Errorf("%s: rank %d", name, res.Rank)
						}
						if math.Abs(res.Quality-1) > 1e-8 {
							t.Errorf("%s: quality %v", name, res.Quality)
						}
					} else if res.Rank != -1 || !math.IsNaN(res.Quality) || res.Iterations < 1 {
						t.Errorf("%s: polar result rank %d quality %v iterations %d", name, res.Rank, res.Quality, res.Iterations)
					}
				}
			}
		}
	})
}

func TestPolarAgreesWithSVD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(13, 14))
		for _, sh := range [][2]int{{30, 30}, {20, 35}, {35, 20}, {1, 1}, {1, 6}, {6, 1}} {
			dA, dB := sh[0], sh[1]
			r := randOrthogonal(rng, dA, dB)
			c := alignedStatistic(rng, r, dA, dB, 3*max(dA, dB), 0.3)
			want, err := ProcrustesWith(be, c, dA, dB, ProcrustesOptions{Method: MethodSVD})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ProcrustesWith(be, c, dA, dB, ProcrustesOptions{Method: MethodPolar})
			if err != nil {
				t.Fatal(err)
			}
			// The polar path maps C + εE (ε = 1e-9·‖C‖_F), the SVD path C
			// itself: they agree to O(ε·cond(C)).
			if d := maxAbsDiff(got.T, want.T); d > 1e-7 {
				t.Errorf("%v: polar and SVD maps differ by %g (%d iterations)", sh, d, got.Iterations)
			}
			// Both polar iterations directly, without regularisation, and
			// Newton–Schulz also on square input.
			if dA == dB {
				tn, it, err := PolarNewton(be, c, dA, 1e-8, 50)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(tn, want.T); d > 1e-8 {
					t.Errorf("%v: PolarNewton differs by %g after %d steps", sh, d, it)
				}
			}
			ts, it, err := PolarNewtonSchulz(be, c, dA, dB, 1e-8, 200)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(ts, want.T); d > 1e-8 {
				t.Errorf("%v: PolarNewtonSchulz differs by %g after %d steps", sh, d, it)
			}
		}
		// Too few steps is an error.
		c := randMatrix(rng, 10, 6)
		if _, _, err := PolarNewtonSchulz(be, c, 10, 6, 1e-12, 2); err == nil {
			t.Error("PolarNewtonSchulz: no error after 2 steps")
		}
		if _, _, err := PolarNewton(be, randMatrix(rng, 8, 8), 8, 1e-14, 1); err == nil {
			t.Error("PolarNewton: no error after 1 step")
		}
		if _, _, err := PolarNewton(be, make([]float64, 9), 3, 1e-8, 10); err == nil {
			t.Error("PolarNewton: singular matrix accepted")
		}
	})
}

// TestProcrustesRankDeficient checks the completion of METHOD.md §3.5: for
// square C whose null space N is shared with Cᵀ, T is the identity on N.
func TestProcrustesRankDeficient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(15, 16))
		const d, k = 20, 4
		nb := randOrthogonal(rng, d, k) // d×k, orthonormal columns
		p := rectIdentity(d, d)         // P = I − N·Nᵀ
		nnT := mul(nb, transpose(nb, d, k), d, k, d)
		for i := range p {
			p[i] -= nnT[i]
		}
		c0 := alignedStatistic(rng, randOrthogonal(rng, d, d), d, d, 3*d, 0)
		c := mul(mul(p, c0, d, d, d), p, d, d, d)
		for _, method := range []Method{MethodSVD, MethodPolar} {
			res, err := ProcrustesWith(be, c, d, d, ProcrustesOptions{Method: method})
			if err != nil {
				t.Fatalf("%v: %v", method, err)
			}
			// The SVD resolves the ε-sized null block to about
			// u·‖C‖/ε ≈ 1e-7 with the default Eps.
			tol := 1e-7
			e := maxAbsDiff(mul(res.T, nb, d, d, k), nb)
			t.Logf("%v: max |T·N − N| = %.3g", method, e)
			if e > tol {
				t.Errorf("%v: T is not the identity on the null space: max |T·N − N| = %g", method, e)
			}
			if res.OrthError > 1e-9 {
				t.Errorf("%v: orthogonality error %g", method, res.OrthError)
			}
			// On the range, T is still optimal: tr(TᵀC) = ‖C‖_*.
			_, s, _, err := be.SVD(d, d, c)
			if err != nil {
				t.Fatal(err)
			}
			nuclear := 0.0
			for _, v := range s {
				nuclear += v
			}
			if q := dot(res.T, c) / nuclear; math.Abs(q-1) > 1e-8 {
				t.Errorf("%v: tr(TᵀC)/‖C‖_* = %v", method, q)
			}
			if method == MethodSVD {
				if res.Rank != d-k {
					t.Errorf("rank %d, want %d (singular values %v)", res.Rank, d-k, res.Singular)
				}
				if math.Abs(res.Quality-1) > 1e-8 {
					t.Errorf("quality %v", res.Quality)
				}
			}
		}

		// Rectangular, fewer rows than either width: rank = rows, T still
		// semi-orthogonal and optimal.
		const n = 8
		for _, sh := range [][2]int{{20, 14}, {14, 20}} {
			dA, dB := sh[0], sh[1]
			xa, xb := randMatrix(rng, n, dA), randMatrix(rng, n, dB)
			c := mul(transpose(xa, n, dA), xb, dA, n, dB)
			res, err := ProcrustesWith(be, c, dA, dB, ProcrustesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rank != n {
				t.Errorf("%v: rank %d, want %d", sh, res.Rank, n)
			}
			if res.OrthError > 1e-10 || math.Abs(res.Quality-1) > 1e-8 {
				t.Errorf("%v: orthogonality error %g, quality %v", sh, res.OrthError, res.Quality)
			}
		}

		// C = 0: the identity.
		res, err := ProcrustesWith(be, make([]float64, 6*4), 6, 4, ProcrustesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if maxAbsDiff(res.T, rectIdentity(6, 4)) != 0 || res.Rank != 0 {
			t.Errorf("C = 0: T = %v, rank %d", res.T, res.Rank)
		}
		// Bad input is an error.
		if _, err := Procrustes(be, make([]float64, 5), 2, 3); err == nil {
			t.Error("short input accepted")
		}
		if _, err := Procrustes(be, []float64{1, math.Inf(1), 0, 1}, 2, 2); err == nil {
			t.Error("Inf accepted")
		}
	})
}

// TestProcrustesNullCompletionIsLimit checks that the null-space completion
// of rank-deficient C, square or rectangular, is the limit of the map of
// C + εE as ε → 0, and hence the same on every backend.
func TestProcrustesNullCompletionIsLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const rows = 8
	// 16×16 completes 8 null directions from the cosine matrix, 24×24 its
	// 16 from the closed form in the 8 kept ones.
	for _, sh := range [][2]int{{20, 14}, {14, 20}, {16, 16}, {24, 24}} {
		dA, dB := sh[0], sh[1]
		xa, xb := randMatrix(rng, rows, dA), randMatrix(rng, rows, dB)
		c := mul(transpose(xa, rows, dA), xb, dA, rows, dB)
		creg := append([]float64(nil), c...)
		eps := 1e-9 * frobenius(c)
		for i := 0; i < min(dA, dB); i++ {
			creg[i*dB+i] += eps
		}
		want, err := polarSVD(Go(), creg, dA, dB)
		if err != nil {
			t.Fatal(err)
		}
		forEachBackend(t, func(t *testing.T, be Backend) {
			res, err := ProcrustesWith(be, c, dA, dB, ProcrustesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rank != rows {
				t.Errorf("%v: rank %d, want %d", sh, res.Rank, rows)
			}
			if d := maxAbsDiff(res.T, want); d > 1e-6 {
				t.Errorf("%v: map differs from the ε → 0 limit by %g", sh, d)
			}
		})
	}
}

// TestAutoAgreesWithSVD checks that MethodAuto returns MethodSVD's map:
// by Newton's iteration on a well-conditioned square statistic, by the SVD
// on a rank-deficient one, a rectangular one and a small one.
func TestAutoAgreesWithSVD(t *testing.T) {
	defer func(m int) { autoMinSize = m }(autoMinSize)
	autoMinSize = 256
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(21, 22))
		n := autoMinSize + 4
		full := alignedStatistic(rng, randOrthogonal(rng, n, n), n, n, 3*n, 0.3)
		// Rank n/2: half the rows.
		deficient := alignedStatistic(rng, randOrthogonal(rng, n, n), n, n, n/2, 0.3)
		rect := alignedStatistic(rng, randOrthogonal(rng, n, n-10), n, n-10, 3*n, 0.3)
		small := alignedStatistic(rng, randOrthogonal(rng, 40, 40), 40, 40, 120, 0.3)
		for _, tc := range []struct {
			name    string
			c       []float64
			dA, dB  int
			want    Method // on the pure-Go backend
			wantEig Method // on a backend with an eigensolver
		}{
			{"full rank", full, n, n, MethodPolar, MethodEig},
			{"rank deficient", deficient, n, n, MethodSVD, MethodEig},
			{"rectangular", rect, n, n - 10, MethodSVD, MethodSVD},
			{"small", small, 40, 40, MethodSVD, MethodSVD},
		} {
			want, err := ProcrustesWith(be, tc.c, tc.dA, tc.dB, ProcrustesOptions{Method: MethodSVD})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ProcrustesWith(be, tc.c, tc.dA, tc.dB, ProcrustesOptions{Method: MethodAuto})
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if _, ok := be.(eigSolver); ok {
				w = tc.wantEig
			}
			if got.Method != w {
				t.Errorf("%s: computed by %v, want %v", tc.name, got.Method, w)
			}
			if d := maxAbsDiff(got.T, want.T); d > 1e-10 {
				t.Errorf("%s: auto and SVD maps differ by %g", tc.name, d)
			}
			// The eigen path's null singular values, in the quality's
			// nuclear norm, are only accurate to about 1e-8·σ₁ each.
			qtol := 1e-10
			if got.Method == MethodEig && got.Rank < n {
				qtol = 1e-6
			}
			if got.Rank != want.Rank || math.Abs(got.Quality-want.Quality) > qtol {
				t.Errorf("%s: rank %d, quality %g; SVD: rank %d, quality %g", tc.name, got.Rank, got.Quality, want.Rank, want.Quality)
			}
		}
	})
}

// TestAutoLowRank checks MethodAuto's low-rank path against the SVD on
// statistics of rank 5 (square and both rectangular shapes, so that the
// null space is completed) and falls back on full-rank ones.
func TestAutoLowRank(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(23, 24))
		for _, sh := range [][2]int{{200, 200}, {220, 180}, {180, 220}} {
			dA, dB := sh[0], sh[1]
			lowRank := alignedStatistic(rng, randOrthogonal(rng, dA, dB), dA, dB, 5, 0.3)
			full := alignedStatistic(rng, randOrthogonal(rng, dA, dB), dA, dB, 3*max(dA, dB), 0.3)
			for _, tc := range []struct {
				name string
				c    []float64
				rank int
			}{{"rank 5", lowRank, 5}, {"full rank", full, min(dA, dB)}} {
				want, err := ProcrustesWith(be, tc.c, dA, dB, ProcrustesOptions{Method: MethodSVD})
				if err != nil {
					t.Fatal(err)
				}
				got, err := ProcrustesWith(be, tc.c, dA, dB, ProcrustesOptions{Method: MethodAuto})
				if err != nil {
					t.Fatal(err)
				}
				// The low-rank path samples fewer singular values (the
				// Newton path gives none).
				if lowPath := len(got.Singular) > 0 && len(got.Singular) < min(dA, dB); lowPath != (tc.rank == 5) {
					t.Errorf("%v %s: %d singular values: low-rank path %v", sh, tc.name, len(got.Singular), lowPath)
				}
				if got.Rank != tc.rank || want.Rank != tc.rank {
					t.Errorf("%v %s: rank %d (SVD %d), want %d", sh, tc.name, got.Rank, want.Rank, tc.rank)
				}
				if d := maxAbsDiff(got.T, want.T); d > 1e-9 {
					t.Errorf("%v %s: auto and SVD maps differ by %g", sh, tc.name, d)
				}
				if math.Abs(got.Quality-want.Quality) > 1e-9 || got.OrthError > 1e-9 {
					t.Errorf("%v %s: quality %g (SVD %g), orthogonality error %g", sh, tc.name, got.Quality, want.Quality, got.OrthError)
				}
			}
		}
	})
}

// TestAutoConditionLimit checks which way MethodAuto decides on square
// statistics of known condition number: Newton's iteration well inside
// the null threshold's limit (10⁶), the SVD near and beyond it, with the
// SVD's map (and rank) either way.
func TestAutoConditionLimit(t *testing.T) {
	defer func(m, e int) { autoMinSize, eigMinSize = m, e }(autoMinSize, eigMinSize)
	autoMinSize, eigMinSize = 128, 128
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(25, 26))
		n := 160
		for _, tc := range []struct {
			kappa float64
			want  Method
			rank  int
		}{
			{1e3, MethodPolar, n},
			{5e4, MethodPolar, n},
			{5e5, MethodSVD, n},     // inside the limit, but too close to trust an estimate
			{1e8, MethodSVD, n - 1}, // the smallest singular value below the null threshold
		} {
			if _, ok := be.(eigSolver); ok {
				tc.want = MethodEig // whatever the condition
			}
			u, v := randOrthogonal(rng, n, n), randOrthogonal(rng, n, n)
			s := make([]float64, n)
			for i := range s {
				// geometric from 1 down to 1/κ, the smallest alone at 1/κ
				s[i] = math.Pow(1e-2, float64(i)/float64(n-2))
			}
			s[n-1] = 1 / tc.kappa
			c := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					sum := 0.0
					for k := 0; k < n; k++ {
						sum += u[i*n+k] * s[k] * v[j*n+k]
					}
					c[i*n+j] = sum
				}
			}
			want, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodSVD})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodAuto})
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tc.want || got.Rank != tc.rank {
				t.Errorf("κ = %g: computed by %v with rank %d, want %v and %d", tc.kappa, got.Method, got.Rank, tc.want, tc.rank)
			}
			if d := maxAbsDiff(got.T, want.T); d > 1e-9 {
				t.Errorf("κ = %g: auto and SVD maps differ by %g", tc.kappa, d)
			}
		}
	})
}

// TestSkipOrthError checks that SkipOrthError changes only OrthError.
func TestSkipOrthError(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	const d = 12
	c := randMatrix(rng, d, d)
	for _, m := range []Method{MethodSVD, MethodPolar, MethodAuto} {
		full, err := ProcrustesWith(Go(), c, d, d, ProcrustesOptions{Method: m})
		if err != nil {
			t.Fatal(err)
		}
		skip, err := ProcrustesWith(Go(), c, d, d, ProcrustesOptions{Method: m, SkipOrthError: true})
		if err != nil {
			t.Fatal(err)
		}
		if !math.IsNaN(skip.OrthError) || full.OrthError > 1e-10 {
			t.Errorf("%v: OrthError %v with the option, %v without", m, skip.OrthError, full.OrthError)
		}
		if maxAbsDiff(skip.T, full.T) != 0 || skip.Rank != full.Rank {
			t.Errorf("%v: the option changed the map", m)
		}
	}
}

// TestBeyond checks the low-rank path's early stop on sampled spectra.
func TestBeyond(t *testing.T) {
	geometric := func(k int, rate float64) []float64 {
		s := make([]float64, k)
		for i := range s {
			s[i] = math.Pow(rate, float64(i))
		}
		return s
	}
	// Decaying by 10 every 8 indices: 1e-6 is reached at index 48.
	if beyond(geometric(32, math.Pow(0.1, 1.0/8)), 32, 1e-6, 64) {
		t.Error("a steep spectrum was given up")
	}
	if !beyond(geometric(32, math.Pow(0.1, 1.0/8)), 32, 1e-6, 40) {
		t.Error("a spectrum reaching the threshold past the limit was kept")
	}
	// A flat tail after a drop, as the MLP's output gradients have.
	s := geometric(64, 0.5)
	for i := 32; i < 64; i++ {
		s[i] = 1e-5 * (1 - float64(i)/1000)
	}
	if !beyond(s, 64, 1e-6, 384) {
		t.Error("a flat tail was sampled further")
	}
}
