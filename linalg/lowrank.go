package linalg

import (
	"math"
	"math/rand/v2"

	lapackgo "gonum.org/v1/gonum/lapack/gonum"
)

// The SVD map of a statistic of low numerical rank without a full SVD.
//
// A statistic built from fewer independent rows than its width (output
// gradients of a classifier over a few calibration images, say) has rank r
// far below min(d_A, d_B). procrustesSVD's map depends only on the r
// leading singular pairs: T = U₁V₁ᵀ plus the null-space completion
// polar(P_A·E·V₀)·V₀ᵀ, and that completion has a closed form in U₁ and V₁
// (see lowRankCompletion). The r pairs come from a randomized range finder
// with power iterations (Halko, Martinsson and Tropp), whose error in the
// leading pairs is at most about (σ_{k+1}/σ_r)^(2q+1) for k samples and q
// power iterations: the path is taken only when the sampled spectrum shows
// a gap that makes this negligible (σ_k ≤ lowRankGap·σ_r, σ_r the smallest
// singular value above the null threshold and σ_k below it), so the map
// agrees with the SVD's to rounding. The
// cost is O(d_A·d_B·k) against the SVD's O(d_A·d_B·min(d_A, d_B)) (two
// SVDs when the null space needs completing).

const (
	// lowRankStart is the first number of samples tried (at most a quarter
	// of min(d_A, d_B)); each further attempt doubles it while it is at most
	// an eighth of min(d_A, d_B) and the spectrum sampled so far decays
	// (σ_k ≤ lowRankDecay·σ₁): a full-rank statistic costs one attempt.
	lowRankStart = 64
	lowRankDecay = 1e-3
	// lowRankPower is the number of power iterations.
	lowRankPower = 2
	// lowRankGap bounds the last sampled singular value relative to the
	// smallest one kept, so that after the power iterations the leading
	// pairs are accurate to rounding: (1e-3)^(2·2+1) = 1e-15.
	lowRankGap = 1e-3
)

// procrustesLowRank tries the low-rank path for c (d_A×d_B). It fills res
// and returns true when c's numerical rank is small enough; false (res
// untouched) sends the caller on. Either way it returns tail, the last
// singular value it sampled over the first (1 when it sampled none): when
// that is at most NullTol, c has a null space and no full-rank method
// applies.
func procrustesLowRank(be Backend, c []float64, dA, dB int, nullTol float64, res *ProcrustesResult) (ok bool, tail float64, err error) {
	if dA < dB {
		// T(C) = T(Cᵀ)ᵀ: the completion is the same problem transposed.
		ct := transposeOf(c, dA, dB)
		var rt ProcrustesResult
		ok, tail, err := procrustesLowRank(be, ct, dB, dA, nullTol, &rt)
		if !ok || err != nil {
			return ok, tail, err
		}
		res.T = transposeOf(rt.T, dB, dA)
		res.Rank, res.Singular, res.Quality = rt.Rank, rt.Singular, dot(res.T, c[:dA*dB])/sum(rt.Singular)
		return true, tail, nil
	}
	n := dB // = min(d_A, d_B)
	k0 := min(lowRankStart, n/4)
	tail = 1
	for k := k0; k >= 8 && k <= max(n/8, k0); k *= 2 {
		u, s, vt, err := randomizedSVD(be, c, dA, dB, k)
		if err != nil {
			return false, tail, err
		}
		if s[0] == 0 {
			return false, tail, nil
		}
		tail = s[k-1] / s[0]
		if s[k-1] > lowRankDecay*s[0] {
			return false, tail, nil // not of low rank
		}
		if s[k-1] > nullTol*s[0] {
			if beyond(s, k, nullTol, max(n/8, k0)) {
				return false, tail, nil
			}
			continue // the rank may exceed k
		}
		r := 0
		for r < k && s[r] > nullTol*s[0] {
			r++
		}
		if s[k-1] > lowRankGap*s[r-1] {
			return false, tail, nil // no clear gap after the kept directions
		}
		// U₁ (d_A×r) is the first r columns of u (d_A×k); V₁ᵀ the first r
		// rows of vt.
		u1 := leadingColumns(u, dA, k, r)
		v1t := vt[:r*dB]
		t, ok, err := lowRankCompletion(be, u1, v1t, dA, dB, r)
		if err != nil || !ok {
			return false, tail, err
		}
		be.Dgemm(false, false, dA, dB, r, 1, u1, r, v1t, dB, 1, t, dB)
		res.T, res.Rank, res.Singular = t, r, s
		res.Quality = dot(t, c[:dA*dB]) / sum(s)
		return true, tail, nil
	}
	return false, tail, nil
}

// beyond reports whether the sampled spectrum s (k values, decreasing)
// would, decaying on from its last value at the rate of its second half,
// stay above nullTol·s[0] past index limit: the rank is then too large for
// the low-rank path, and sampling further would only cost time. (A flat
// tail of thousands of small directions, as output gradients of the
// MLP hidden layer have, stops the doubling after two samples.)
func beyond(s []float64, k int, nullTol float64, limit int) bool {
	half := k / 2
	if half < 1 || s[half-1] <= 0 {
		return false
	}
	rate := s[k-1] / s[half-1] // over k − half indices
	if rate >= 1 {
		return true
	}
	more := math.Log(nullTol*s[0]/s[k-1]) / math.Log(rate) * float64(k-half)
	return float64(k-1)+more > float64(limit)
}

// randomizedSVD returns the leading k singular triplets of the row-major
// d_A×d_B matrix c from a randomized range finder with lowRankPower power
// iterations: u (d_A×k), s (k, decreasing), vt (k×d_B). The random test
// matrix comes from a fixed seed, so results are reproducible.
func randomizedSVD(be Backend, c []float64, dA, dB, k int) (u, s, vt []float64, err error) {
	rng := rand.New(rand.NewPCG(0x6c6f77, uint64(k))) // "low"
	omega := make([]float64, dB*k)
	for i := range omega {
		omega[i] = rng.NormFloat64()
	}
	y := make([]float64, dA*k) // C·Ω, then its orthonormal basis
	z := make([]float64, dB*k) // Cᵀ·Q
	be.Dgemm(false, false, dA, k, dB, 1, c, dB, omega, k, 0, y, k)
	orthonormalize(y, dA, k)
	for q := 0; q < lowRankPower; q++ {
		be.Dgemm(true, false, dB, k, dA, 1, c, dB, y, k, 0, z, k)
		orthonormalize(z, dB, k)
		be.Dgemm(false, false, dA, k, dB, 1, c, dB, z, k, 0, y, k)
		orthonormalize(y, dA, k)
	}
	// B = Qᵀ·C (k×d_B) = Ub·Σ·Vᵀ, so C ≈ (Q·Ub)·Σ·Vᵀ.
	b := make([]float64, k*dB)
	be.Dgemm(true, false, k, dB, dA, 1, y, k, c, dB, 0, b, dB)
	ub, s, vt, err := be.SVD(k, dB, b)
	if err != nil {
		return nil, nil, nil, err
	}
	u = make([]float64, dA*k)
	be.Dgemm(false, false, dA, k, k, 1, y, k, ub, k, 0, u, k)
	return u, s, vt, nil
}

// orthonormalize replaces the row-major m×k matrix a (m ≥ k) by the Q of
// its thin QR factorization (gonum's Householder QR; its matrix products go
// through the Go backend's GEMM when that is in use).
func orthonormalize(a []float64, m, k int) {
	var impl lapackgo.Implementation
	tau := make([]float64, k)
	work := make([]float64, 1)
	impl.Dgeqrf(m, k, a, k, tau, work, -1)
	work = make([]float64, max(int(work[0]), k))
	impl.Dgeqrf(m, k, a, k, tau, work, len(work))
	impl.Dorgqr(m, k, k, a, k, tau, work, -1)
	if need := int(work[0]); need > len(work) {
		work = make([]float64, need)
	}
	impl.Dorgqr(m, k, k, a, k, tau, work, len(work))
}

// lowRankCompletion returns T₀ = polar(P_A·E·V₀)·V₀ᵀ for d_A ≥ d_B, the
// null-space part of procrustesSVD's map, from U₁ (d_A×r) and V₁ᵀ (r×d_B)
// alone: with M = U₁ᵀ·E·(I − V₁V₁ᵀ) = P·S·Rᵀ (r×d_B, thin SVD),
//
//	T₀ = P_A·E·(I − V₁V₁ᵀ) + (P_A·E·R)·D·Rᵀ,  D = diag((1 − sᵢ²)^(−½) − 1),
//
// because W = P_A·E·V₀ has WᵀW = I − KᵀK with K = U₁ᵀ·E·V₀ = M·V₀, so
// polar(W) = W·(WᵀW)^(−½) is W plus a rank-r correction along R. It
// returns false when some sᵢ is 1 to rounding: W is rank deficient and its
// polar factor not unique (the SVD path then decides).
func lowRankCompletion(be Backend, u1, v1t []float64, dA, dB, r int) ([]float64, bool, error) {
	// x = E·(I − V₁V₁ᵀ): E is the identity on the leading d_B rows.
	x := make([]float64, dA*dB)
	be.Dgemm(true, false, dB, dB, r, -1, v1t, dB, v1t, dB, 0, x, dB)
	for i := 0; i < dB; i++ {
		x[i*dB+i]++
	}
	// M = U₁ᵀ·x (r×d_B), then x ← P_A·x = x − U₁·M.
	m := make([]float64, r*dB)
	be.Dgemm(true, false, r, dB, dA, 1, u1, r, x, dB, 0, m, dB)
	be.Dgemm(false, false, dA, dB, r, -1, u1, r, m, dB, 1, x, dB)
	_, s, rt, err := be.SVD(r, dB, m)
	if err != nil {
		return nil, false, err
	}
	d := make([]float64, len(s))
	for i, v := range s {
		if !(v < 1-1e-10) {
			return nil, false, nil
		}
		d[i] = 1/math.Sqrt((1-v)*(1+v)) - 1
	}
	// per = P_A·E·R (d_A×r): E·R is Rᵀ transposed on the leading rows.
	kr := len(s)
	per := make([]float64, dA*kr)
	for i := 0; i < dB; i++ {
		for j := 0; j < kr; j++ {
			per[i*kr+j] = rt[j*dB+i]
		}
	}
	g := make([]float64, r*kr)
	be.Dgemm(true, false, r, kr, dA, 1, u1, r, per, kr, 0, g, kr)
	be.Dgemm(false, false, dA, kr, r, -1, u1, r, g, kr, 1, per, kr)
	// x += per·D·Rᵀ.
	for i := 0; i < dA; i++ {
		row := per[i*kr : (i+1)*kr]
		for j := range row {
			row[j] *= d[j]
		}
	}
	be.Dgemm(false, false, dA, dB, kr, 1, per, kr, rt, dB, 1, x, dB)
	return x, true, nil
}

// leadingColumns returns the first k columns of the row-major rows×stride
// matrix a, as a rows×k matrix.
func leadingColumns(a []float64, rows, stride, k int) []float64 {
	out := make([]float64, rows*k)
	for i := 0; i < rows; i++ {
		copy(out[i*k:(i+1)*k], a[i*stride:i*stride+k])
	}
	return out
}

// transposeOf returns the transpose (cols×rows) of the row-major rows×cols a.
func transposeOf(a []float64, rows, cols int) []float64 {
	t := make([]float64, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

func sum(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}
