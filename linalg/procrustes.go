package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Method selects how ProcrustesWith computes the map.
type Method int

const (
	// MethodSVD takes the thin SVD C = U·Σ·Vᵀ and returns U·Vᵀ. It is exact
	// for any C and gives the numerical rank. The default.
	MethodSVD Method = iota
	// MethodPolar computes the same map as the orthogonal polar factor of C
	// by iteration, without an SVD: the scaled Newton iteration for square C
	// (PolarNewton), Newton–Schulz for rectangular C (PolarNewtonSchulz).
	// It is only accurate and fast when C is well conditioned; on
	// rank-deficient or ill-conditioned C it is slow (Newton–Schulz) and
	// its null-space completion is only as good as the conditioning allows.
	MethodPolar
	// MethodAuto gives MethodSVD's map (to rounding), computed the
	// fastest way that keeps that accuracy:
	//
	//   - for C of low numerical rank (a sampled spectrum that drops below
	//     NullTol·σ₁ within a small fraction of min(d_A, d_B), with a clear
	//     gap), from its leading singular pairs found by a randomized range
	//     finder, and a closed form of the null-space completion (see
	//     lowrank.go): O(d_A·d_B·k) instead of one or two full SVDs;
	//   - for square C of at least AutoMinSize rows whose condition number
	//     is safely below 1/NullTol (no sampled singular value at or below
	//     NullTol·σ₁ in the low-rank attempt, the LU factors' 1-norm
	//     estimate at most 1/NullTol, then power estimates of σ₁ and σₙ after
	//     the first step at most 1/(10·NullTol)), by the scaled Newton
	//     iteration: such a C has no singular value at or below NullTol·σ₁,
	//     so MethodSVD would return its polar factor U·Vᵀ, which Newton's
	//     iteration computes (backward stably) with LU factors and
	//     triangular solves only, against the SVD's bidiagonal reduction,
	//     half of it matrix–vector work;
	//   - otherwise by MethodSVD.
	//
	// On a backend with a symmetric eigensolver (OpenBLAS) square C of at
	// least 256 rows that are not of low rank go to MethodEig instead of
	// the last two.
	MethodAuto
	// MethodEig computes MethodSVD's map of a square C from an SVD taken
	// from the symmetric eigendecomposition of CᵀC (see eigSVD): 0.55–0.75
	// of the SVD's time on C of 256 rows or more. Its map differs from
	// the SVD's by less than float32 rounding of the statistic changes the
	// SVD's map (see eig.go for the measurements). Its singular values at
	// or below the null threshold are only accurate to about √ε·σ₁
	// (1.5e-8·σ₁). Rectangular C, and every C on a backend without a
	// symmetric eigensolver (pure Go), go to MethodSVD.
	MethodEig
)

// AutoMinSize is the least size of square statistic MethodAuto computes by
// Newton's iteration on a backend with LAPACK but no symmetric eigensolver
// (64 on the pure-Go one, whose SVD is slow; OpenBLAS takes MethodEig
// from 256 rows instead). BenchmarkMapMethods measures it (single-threaded
// OpenBLAS 0.3.21, AVX-512, cross-covariances of Gaussian rows, Newton with
// Byers–Xu scaling in 7 steps). Newton's time over the SVD's, measured so
// on this machine while it ran other work: n = 768 0.93, n = 1024 0.80,
// n = 1536 0.75 (the SVD tends to win at 768 on an idle machine).
const AutoMinSize = 1024

// autoMinSize is AutoMinSize, lowered by tests.
var autoMinSize = AutoMinSize

// goAutoMinSize is MethodAuto's threshold on the pure-Go backend, whose
// SVD (gonum's QR iteration on the bidiagonal, plane rotations applied to
// both factors) is much slower than its inverse: n = 128, SVD 16 ms,
// Newton 5 ms; n = 256, 99 and 24 ms; n = 768, 6.2 and 1.0 s.
const goAutoMinSize = 64

// autoThreshold is the least size MethodAuto uses Newton's iteration for
// on be.
func autoThreshold(be Backend) int {
	if _, ok := be.(*goBackend); ok {
		return min(autoMinSize, goAutoMinSize)
	}
	return autoMinSize
}

// String returns "svd", "polar", "auto" or "eig".
func (m Method) String() string {
	switch m {
	case MethodSVD:
		return "svd"
	case MethodPolar:
		return "polar"
	case MethodAuto:
		return "auto"
	case MethodEig:
		return "eig"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Defaults of ProcrustesOptions.
const (
	// DefaultEps is MethodPolar's regularisation ε/‖C‖_F: its map is that
	// of C + εE.
	DefaultEps = 1e-9
	// DefaultNullTol is the relative singular value below which MethodSVD
	// treats a direction as null (above float32 accumulation noise).
	DefaultNullTol = 1e-6
	// DefaultPolarTol is the convergence tolerance of the polar iterations.
	DefaultPolarTol = 1e-7
	// DefaultPolarMaxIter bounds the polar iterations.
	DefaultPolarMaxIter = 100
)

// ProcrustesOptions tunes ProcrustesWith; the zero value gives the defaults.
type ProcrustesOptions struct {
	// Method is MethodSVD (default) or MethodPolar.
	Method Method
	// Eps (MethodPolar only) is the regularisation relative to ‖C‖_F: the
	// iteration runs on C + ε·E with ε = Eps·‖C‖_F and E the d_A×d_B
	// identity (ones on the leading min(d_A, d_B) diagonal), which for
	// square C makes T the identity on the null space that C shares with
	// Cᵀ (METHOD.md §3.5) and keeps the iteration away from exact
	// singularity. Statistics accumulated from float32 data carry rounding
	// noise of about 1e-7·‖C‖ in their null space, which this ε does not
	// dominate: on rank-deficient C prefer MethodSVD (see NullTol), or
	// raise Eps above the noise (say 1e-5). 0 means DefaultEps; a negative
	// value disables the regularisation.
	Eps float64
	// NullTol (MethodSVD): singular directions with σᵢ ≤ NullTol·σ₁ are
	// taken as the null space of C, where T is completed by the limit of
	// the map of C + εE as ε → 0 (see procrustesSVD). It must exceed the
	// rounding noise of C: statistics accumulated from float32 rows carry
	// about 1e-7·‖C‖. 0 means DefaultNullTol; negative disables it.
	NullTol float64
	// Tol and MaxIter control MethodPolar (see PolarNewton and
	// PolarNewtonSchulz). 0 means DefaultPolarTol and DefaultPolarMaxIter.
	Tol     float64
	MaxIter int
	// SkipOrthError leaves ProcrustesResult.OrthError at NaN instead of
	// computing it, which costs a product of 2n³ flops for n×n C (about
	// 3% of the time of a map at n = 3072).
	SkipOrthError bool
}

// ProcrustesResult is the map of ProcrustesWith and its diagnostics.
type ProcrustesResult struct {
	// T is the row-major d_A×d_B map maximising tr(Tᵀ·C) over orthogonal
	// (d_A = d_B) or semi-orthogonal (TᵀT = I or TTᵀ = I) matrices.
	T []float64
	// Method is the method used.
	Method Method
	// Eps is the absolute regularisation ε added along E.
	Eps float64
	// Rank is the numerical rank of C: the number of singular values above
	// NullTol·σ₁; -1 with MethodPolar, which does not compute them.
	Rank int
	// Singular holds the singular values of C in decreasing order
	// (MethodSVD only).
	Singular []float64
	// Quality is tr(TᵀC)/‖C‖_*, with the nuclear norm ‖C‖_* taken as the
	// sum of Singular. It is at most 1; 1 means T attains the optimum.
	// The SVD map attains it by construction (up to the null directions
	// below NullTol), so Quality flags numerical trouble rather than poor
	// alignment. 1 when C = 0; NaN with MethodPolar (the nuclear norm needs
	// the SVD); see OrthError there.
	Quality float64
	// OrthError is ‖TᵀT − I‖_F (d_A ≥ d_B) or ‖TTᵀ − I‖_F (d_A < d_B);
	// NaN with SkipOrthError.
	OrthError float64
	// Iterations is the number of polar iterations (MethodPolar only).
	Iterations int
}

// Procrustes returns the row-major d_A×d_B map T = U·Vᵀ from the thin SVD of
// the row-major d_A×d_B matrix c, completed on its null space as described
// at procrustesSVD. It is ProcrustesWith with default options.
func Procrustes(be Backend, c []float64, dA, dB int) ([]float64, error) {
	res, err := ProcrustesWith(be, c, dA, dB, ProcrustesOptions{})
	if err != nil {
		return nil, err
	}
	return res.T, nil
}

// ProcrustesWith computes the orthogonal Procrustes map of the row-major
// d_A×d_B statistic c (c is not modified), the maximiser of tr(TᵀC): with
// MethodSVD U₁·V₁ᵀ from the thin SVD plus the null-space completion of
// procrustesSVD, with MethodPolar the polar factor of C + εE by iteration;
// with the rank and quality diagnostics of ProcrustesResult.
func ProcrustesWith(be Backend, c []float64, dA, dB int, opt ProcrustesOptions) (ProcrustesResult, error) {
	res := ProcrustesResult{Method: opt.Method, Rank: -1, Quality: math.NaN()}
	if err := checkMatrix("Procrustes", c, dA, dB); err != nil {
		return res, err
	}
	if be == nil {
		return res, fmt.Errorf("linalg: Procrustes: nil backend")
	}
	if opt.Method != MethodSVD && opt.Method != MethodPolar && opt.Method != MethodAuto && opt.Method != MethodEig {
		return res, fmt.Errorf("linalg: Procrustes: unknown method %v", opt.Method)
	}
	eps := opt.Eps
	if eps == 0 {
		eps = DefaultEps
	}
	eps = max(eps, 0)
	tol := opt.Tol
	if tol == 0 {
		tol = DefaultPolarTol
	}
	maxIter := opt.MaxIter
	if maxIter == 0 {
		maxIter = DefaultPolarMaxIter
	}

	r := min(dA, dB)
	normF := frobenius(c[:dA*dB])
	if r == 0 || normF == 0 {
		// Every T attains tr(TᵀC) = 0: take the identity, as εE would.
		res.T = rectIdentity(dA, dB)
		res.Rank, res.Quality = 0, 1
		if opt.Method == MethodSVD {
			res.Singular = make([]float64, r)
		}
		return res, nil
	}
	creg := c[:dA*dB]
	if opt.Method == MethodPolar {
		res.Eps = eps * normF
		creg = make([]float64, dA*dB)
		copy(creg, c[:dA*dB])
		for i := 0; i < r; i++ {
			creg[i*dB+i] += res.Eps
		}
	}

	if opt.Method == MethodAuto {
		res.Method = MethodSVD
		tail := 1.0
		if nt := nullTol(opt); nt > 0 {
			ok, t, err := procrustesLowRank(be, c, dA, dB, nt, &res)
			if err != nil {
				return res, fmt.Errorf("linalg: Procrustes: %w", err)
			}
			if ok {
				res.OrthError = orthErrorUnless(opt.SkipOrthError, be, res.T, dA, dB)
				return res, nil
			}
			tail = t
		}
		// A sampled singular value at or below NullTol·σ₁ means a null
		// space, which Newton's condition test would only find after an
		// LU factorization.
		eig, hasEig := be.(eigSolver)
		if hasEig && dA == dB && dA >= eigMinSize {
			return procrustesEigResult(be, eig, c, dA, opt, res)
		}
		if !hasEig && dA == dB && dA >= autoThreshold(be) && nullTol(opt) > 0 && tail > nullTol(opt) {
			t, iters, err := newtonPolar(be, c[:dA*dB], dA, tol, maxIter, 1/nullTol(opt))
			if err == nil {
				// The SVD's map is U·Vᵀ, attaining tr(TᵀC) = ‖C‖_*.
				res.T, res.Iterations, res.Method = t, iters, MethodPolar
				res.Rank, res.Quality = dA, 1
				res.OrthError = orthErrorUnless(opt.SkipOrthError, be, res.T, dA, dB)
				return res, nil
			}
		}
	}
	if opt.Method == MethodEig {
		res.Method = MethodSVD
		if eig, ok := be.(eigSolver); ok && dA == dB {
			return procrustesEigResult(be, eig, c, dA, opt, res)
		}
	}
	switch res.Method {
	case MethodSVD:
		if err := procrustesSVD(be, c, dA, dB, nullTol(opt), &res); err != nil {
			return res, err
		}
	case MethodPolar:
		var err error
		if dA == dB {
			res.T, res.Iterations, err = PolarNewton(be, creg, dA, tol, maxIter)
		} else {
			res.T, res.Iterations, err = PolarNewtonSchulz(be, creg, dA, dB, tol, maxIter)
		}
		if err != nil {
			return res, fmt.Errorf("linalg: Procrustes: %w", err)
		}
	}
	res.OrthError = orthErrorUnless(opt.SkipOrthError, be, res.T, dA, dB)
	return res, nil
}

// PolarNewtonSchulz returns the orthogonal polar factor of the row-major
// d_A×d_B matrix c (the U·Vᵀ of its SVD) by the Newton–Schulz iteration
// X ← X·(3I − XᵀX)/2 (or (3I − XXᵀ)·X/2 when d_A < d_B, so the Gram matrix
// is the smaller one), started from X = c/s with s = min(‖c‖_F,
// √(‖c‖₁‖c‖_∞)) ≥ ‖c‖₂. All products go through be.Dgemm.
//
// It stops once the iterate's orthogonality residual ‖XᵀX − I‖_F/√r,
// r = min(d_A, d_B), is at most tol, after one more step, so the result is
// accurate to about tol² (down to rounding). Each step multiplies a small
// singular value by 1.5, so the number of steps grows like
// log₁.₅(s/σ_min): the iteration suits well-conditioned, full-rank c.
// It returns the last iterate and an error when maxIter steps do not
// suffice, and the number of steps taken.
func PolarNewtonSchulz(be Backend, c []float64, dA, dB int, tol float64, maxIter int) (t []float64, iters int, err error) {
	if err := checkMatrix("PolarNewtonSchulz", c, dA, dB); err != nil {
		return nil, 0, err
	}
	r := min(dA, dB)
	if r == 0 {
		return []float64{}, 0, nil
	}
	s := min(frobenius(c[:dA*dB]), math.Sqrt(norm1(c, dA, dB)*normInf(c, dA, dB)))
	if s == 0 {
		return nil, 0, fmt.Errorf("linalg: PolarNewtonSchulz: the zero matrix has no polar factor")
	}
	x := make([]float64, dA*dB)
	for i, v := range c[:dA*dB] {
		x[i] = v / s
	}
	next := make([]float64, dA*dB)
	g := make([]float64, r*r)
	sqrtR := math.Sqrt(float64(r))
	res := math.Inf(1)
	for iters = 1; iters <= maxIter; iters++ {
		// g = XᵀX (d_A ≥ d_B) or XXᵀ, then g ← (3I − g)/2 and X ← X·g or g·X.
		if dA >= dB {
			be.Dgemm(true, false, r, r, dA, 1, x, dB, x, dB, 0, g, r)
		} else {
			be.Dgemm(false, true, r, r, dB, 1, x, dB, x, dB, 0, g, r)
		}
		res = 0
		for i := 0; i < r; i++ {
			for j := 0; j < r; j++ {
				v := g[i*r+j]
				if i == j {
					v--
				}
				res += v * v
				g[i*r+j] = -v / 2
			}
			g[i*r+i]++
		}
		res = math.Sqrt(res) / sqrtR
		if math.IsNaN(res) || res > 3 {
			return x, iters, fmt.Errorf("linalg: PolarNewtonSchulz diverged at step %d (residual %g)", iters, res)
		}
		if dA >= dB {
			be.Dgemm(false, false, dA, dB, dB, 1, x, dB, g, r, 0, next, dB)
		} else {
			be.Dgemm(false, false, dA, dB, dA, 1, g, r, x, dB, 0, next, dB)
		}
		x, next = next, x
		if res <= tol {
			return x, iters, nil
		}
	}
	return x, maxIter, fmt.Errorf("linalg: PolarNewtonSchulz did not converge in %d steps (orthogonality residual %.3g > %g): the matrix is ill-conditioned or rank-deficient; use MethodSVD", maxIter, res, tol)
}

// PolarNewton returns the orthogonal polar factor of the row-major n×n
// matrix c by the scaled Newton iteration X ← (ζX + (ζX)^{-T})/2 with
// Higham's Frobenius-norm scaling ζ = (‖X⁻¹‖_F/‖X‖_F)^{1/2}, dropped once
// the iteration settles. Each step inverts X (LU with partial pivoting: the
// backend's LAPACK, or gonum's in pure Go); convergence is quadratic and
// takes under about ten steps even for condition numbers near 1e9.
//
// It stops when a step changes X by at most tol (‖ΔX‖_F/√n), so the result
// is accurate to about tol² times the conditioning, down to rounding. It
// returns an error when c is singular to working precision or maxIter
// steps do not suffice, and the number of steps taken.
func PolarNewton(be Backend, c []float64, n int, tol float64, maxIter int) (t []float64, iters int, err error) {
	if err := checkMatrix("PolarNewton", c, n, n); err != nil {
		return nil, 0, err
	}
	if n == 0 {
		return []float64{}, 0, nil
	}
	return newtonPolar(be, c, n, tol, maxIter, 0)
}

// errIllConditioned stops newtonPolar when the matrix is worse
// conditioned than its caller accepts.
var errIllConditioned = fmt.Errorf("linalg: PolarNewton: condition number above the limit")

// newtonPolar is PolarNewton on a checked matrix. With maxKappa > 0 it
// gives up with errIllConditioned when the 2-norm condition number σ₁/σₙ
// may exceed maxKappa: at once when the LU factors' 1-norm estimate
// exceeds maxKappa (κ₂ is then likely, though not certain, to exceed it
// too; a matrix turned away only costs its caller the SVD, a wasted
// inverse costs as much as a Newton step), and after the first inversion
// when the power estimates of σ₁ and 1/σₙ put it above
// maxKappa/kappaMargin (the estimates are lower bounds, so the margin keeps
// every accepted matrix well inside the limit).
//
// The steps use Byers and Xu's scaling (SIAM J. Matrix Anal. Appl. 30,
// 2008), which needs only those two estimates and brings the iteration to
// double precision in about six steps for condition numbers up to 10⁶.
func newtonPolar(be Backend, c []float64, n int, tol float64, maxIter int, maxKappa float64) (t []float64, iters int, err error) {
	x := make([]float64, n*n)
	copy(x, c[:n*n])
	y := make([]float64, n*n)
	sqrtN := math.Sqrt(float64(n))
	delta := math.Inf(1)
	var zeta, next float64
	for iters = 1; iters <= maxIter; iters++ {
		copy(y, x)
		if iters == 1 && maxKappa > 0 {
			// Give up after the LU factors when even their condition
			// estimate is too large: the inverse would be wasted.
			ok, err := invertIfConditioned(be, n, y, maxKappa)
			if err != nil {
				return nil, iters, fmt.Errorf("linalg: PolarNewton: %w", err)
			}
			if !ok {
				return nil, iters, errIllConditioned
			}
		} else if err := invert(be, n, y); err != nil {
			return nil, iters, fmt.Errorf("linalg: PolarNewton: %w", err)
		}
		if iters == 1 {
			alpha := spectralNormEstimate(be, x, n)    // ≈ σ₁
			beta := 1 / spectralNormEstimate(be, y, n) // ≈ σₙ
			if maxKappa > 0 && !(alpha <= maxKappa/kappaMargin*beta) {
				return nil, iters, errIllConditioned
			}
			zeta = 1 / math.Sqrt(alpha*beta)
			next = math.Sqrt(2 * math.Sqrt(alpha*beta) / (alpha + beta))
		} else {
			zeta, next = next, 1/math.Sqrt((next+1/next)/2)
		}
		if math.IsNaN(zeta) || math.IsInf(zeta, 0) || zeta == 0 {
			return nil, iters, fmt.Errorf("linalg: PolarNewton: the matrix is singular to working precision")
		}
		// x ← (ζ·x + yᵀ/ζ)/2, with y = x⁻¹.
		delta = math.Sqrt(newtonStep(x, y, n, zeta)) / sqrtN
		if math.IsNaN(delta) {
			return nil, iters, fmt.Errorf("linalg: PolarNewton: NaN at step %d", iters)
		}
		if delta <= tol {
			return x, iters, nil
		}
	}
	return x, maxIter, fmt.Errorf("linalg: PolarNewton did not converge in %d steps (last step %.3g > %g)", maxIter, delta, tol)
}

// kappaMargin is how far below its limit newtonPolar keeps the estimated
// condition number.
const kappaMargin = 10

// spectralNormEstimate returns a lower bound of ‖A‖₂ for the row-major n×n
// a, close to it in practice: the largest Ritz value of a block of eight
// vectors after four steps of the power iteration on AᵀA, started from a
// fixed random block (so results are reproducible). It costs a few passes
// over a, as matrix products.
func spectralNormEstimate(be Backend, a []float64, n int) float64 {
	const block, steps = 8, 4
	p := min(block, n)
	rng := rand.New(rand.NewPCG(0x6e6f726d, uint64(n))) // "norm"
	v := make([]float64, n*p)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	z := make([]float64, n*p)
	for q := 0; q < steps; q++ {
		orthonormalize(v, n, p)
		be.Dgemm(false, false, n, p, n, 1, a, n, v, p, 0, z, p)
		be.Dgemm(true, false, n, p, n, 1, a, n, z, p, 0, v, p)
	}
	orthonormalize(v, n, p)
	be.Dgemm(false, false, n, p, n, 1, a, n, v, p, 0, z, p)
	// ‖A·V‖₂ for orthonormal V: the largest singular value of the n×p z.
	g := make([]float64, p*p)
	be.Dgemm(true, false, p, p, n, 1, z, p, z, p, 0, g, p)
	_, s, _, err := be.SVD(p, p, g)
	if err != nil || len(s) == 0 {
		return fastFrobenius(a) // an upper bound instead: the caller stays safe
	}
	return math.Sqrt(s[0])
}

// newtonStep sets x ← (ζ·x + yᵀ/ζ)/2 for n×n matrices and returns the
// squared Frobenius norm of the change. It walks both in square tiles so
// that the transposed reads of y stay in cache.
func newtonStep(x, y []float64, n int, zeta float64) float64 {
	const tile = 32
	a, b := 0.5*zeta, 0.5/zeta
	sum := 0.0
	for i0 := 0; i0 < n; i0 += tile {
		for j0 := 0; j0 < n; j0 += tile {
			for i := i0; i < min(i0+tile, n); i++ {
				row := x[i*n : i*n+n]
				for j := j0; j < min(j0+tile, n); j++ {
					old := row[j]
					v := a*old + b*y[j*n+i]
					d := v - old
					sum += d * d
					row[j] = v
				}
			}
		}
	}
	return sum
}

// fastFrobenius is the Euclidean norm of x by a plain sum of squares,
// falling back to frobenius when that overflows or underflows.
func fastFrobenius(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	if s == 0 || math.IsInf(s, 0) || s < 1e-290 {
		return frobenius(x)
	}
	return math.Sqrt(s)
}

// orthErrorUnless is orthError, or NaN when skip is set.
func orthErrorUnless(skip bool, be Backend, t []float64, dA, dB int) float64 {
	if skip {
		return math.NaN()
	}
	return orthError(be, t, dA, dB)
}

// orthError returns ‖TᵀT − I‖_F or ‖TTᵀ − I‖_F, whichever Gram is smaller.
func orthError(be Backend, t []float64, dA, dB int) float64 {
	r := min(dA, dB)
	if r == 0 {
		return 0
	}
	g := make([]float64, r*r)
	if dA >= dB {
		be.Dgemm(true, false, r, r, dA, 1, t, dB, t, dB, 0, g, r)
	} else {
		be.Dgemm(false, true, r, r, dB, 1, t, dB, t, dB, 0, g, r)
	}
	for i := 0; i < r; i++ {
		g[i*r+i]--
	}
	return frobenius(g)
}

// checkMatrix validates a row-major rows×cols matrix argument.
func checkMatrix(name string, c []float64, rows, cols int) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("linalg: %s: negative dimension %d×%d", name, rows, cols)
	}
	if len(c) < rows*cols {
		return fmt.Errorf("linalg: %s: a %d×%d matrix needs %d elements, have %d", name, rows, cols, rows*cols, len(c))
	}
	for i, v := range c[:rows*cols] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("linalg: %s: element (%d, %d) is %v", name, i/cols, i%cols, v)
		}
	}
	return nil
}

// rectIdentity returns the row-major rows×cols matrix with ones on the
// leading diagonal.
func rectIdentity(rows, cols int) []float64 {
	e := make([]float64, rows*cols)
	for i := 0; i < min(rows, cols); i++ {
		e[i*cols+i] = 1
	}
	return e
}

// frobenius returns the Euclidean norm of x, guarding against overflow.
func frobenius(x []float64) float64 {
	scale, ssq := 0.0, 1.0
	for _, v := range x {
		if v == 0 {
			continue
		}
		a := math.Abs(v)
		if scale < a {
			ssq = 1 + ssq*(scale/a)*(scale/a)
			scale = a
		} else {
			ssq += (a / scale) * (a / scale)
		}
	}
	return scale * math.Sqrt(ssq)
}

// dot returns Σ xᵢyᵢ over len(x) elements.
func dot(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// norm1 is the maximum absolute column sum of the row-major rows×cols c.
func norm1(c []float64, rows, cols int) float64 {
	sums := make([]float64, cols)
	for i := 0; i < rows; i++ {
		for j, v := range c[i*cols : i*cols+cols] {
			sums[j] += math.Abs(v)
		}
	}
	m := 0.0
	for _, v := range sums {
		m = max(m, v)
	}
	return m
}

// normInf is the maximum absolute row sum of the row-major rows×cols c.
func normInf(c []float64, rows, cols int) float64 {
	m := 0.0
	for i := 0; i < rows; i++ {
		s := 0.0
		for _, v := range c[i*cols : i*cols+cols] {
			s += math.Abs(v)
		}
		m = max(m, s)
	}
	return m
}

func nullTol(opt ProcrustesOptions) float64 {
	switch {
	case opt.NullTol == 0:
		return DefaultNullTol
	case opt.NullTol < 0:
		return 0
	}
	return opt.NullTol
}

// procrustesSVD fills res with the SVD map of c. With C = U·Σ·Vᵀ (thin,
// r = min(d_A, d_B) columns) split into the directions above the null
// threshold (U₁, V₁) and those at or below it (U₀, V₀), the map is
//
//	T = U₁·V₁ᵀ + polar(P_A·E·V₀)·V₀ᵀ   (d_A ≥ d_B)
//	T = U₁·V₁ᵀ + U₀·polar(U₀ᵀ·E·P_B)   (d_A < d_B)
//
// with P_A = I − U₁U₁ᵀ and P_B = I − V₁V₁ᵀ the projectors on the full left
// and right null spaces. This is the limit of the map of C + εE as ε → 0,
// computed without letting rounding noise in the null space decide it. For
// square C both lines equal U₀·polar(U₀ᵀ·V₀)·V₀ᵀ, and where C's left and
// right null spaces coincide (a gradient statistic whose rows all sum to
// zero, a Gram matrix of rank-deficient rows) the map is the identity
// there, as METHOD.md §3.5 asks. For rectangular C the null columns of the
// thin SVD are an arbitrary part of the larger null space; projecting E
// instead makes the completion independent of the SVD routine (and so of
// the backend).
func procrustesSVD(be Backend, c []float64, dA, dB int, nullTol float64, res *ProcrustesResult) error {
	u, s, vt, err := be.SVD(dA, dB, c[:dA*dB])
	if err != nil {
		return fmt.Errorf("linalg: Procrustes: %w", err)
	}
	return mapFromSVD(be, c, u, s, vt, dA, dB, nullTol, true, res)
}

// mapFromSVD fills res with procrustesSVD's map of c from the thin SVD
// c = u·diag(s)·vt. With haveU0 false only u's columns for the kept
// directions are set (the rest may be anything), and the completion works
// from them alone.
func mapFromSVD(be Backend, c, u, s, vt []float64, dA, dB int, nullTol float64, haveU0 bool, res *ProcrustesResult) error {
	r := min(dA, dB)
	res.Singular = s
	keep := 0
	for keep < r && s[keep] > nullTol*s[0] {
		keep++
	}
	res.T = make([]float64, dA*dB)
	be.Dgemm(false, false, dA, dB, keep, 1, u, r, vt, dB, 0, res.T, dB)
	if keep < r {
		if err := completeNull(be, u, vt, dA, dB, keep, haveU0, res.T); err != nil {
			return fmt.Errorf("linalg: Procrustes: null-space completion: %w", err)
		}
	}
	res.Rank = keep
	nuclear := 0.0
	for _, v := range s {
		nuclear += v
	}
	res.Quality = dot(res.T, c[:dA*dB]) / nuclear
	return nil
}

// completeNull adds the null-space part of procrustesSVD's map to t, from
// the thin SVD factors u (d_A×r) and vt (r×d_B) of which the first keep
// directions are kept. haveU0 says whether u's other columns are set.
func completeNull(be Backend, u, vt []float64, dA, dB, keep int, haveU0 bool, t []float64) error {
	r := min(dA, dB)
	n := r - keep
	if dA == dB {
		done, err := completeNullSquare(be, u, vt, dA, keep, haveU0, t)
		if done || err != nil {
			return err
		}
		// Without U₀: the d_A ≥ d_B form below, which needs U₁ only.
	}
	if dA >= dB {
		// W = E·V₀ (d_A×n): row k < d_B is row k of V₀, i.e. column k of V₀ᵀ.
		v0t := vt[keep*dB:]
		w := make([]float64, dA*n)
		for k := 0; k < dB; k++ {
			for j := 0; j < n; j++ {
				w[k*n+j] = v0t[j*dB+k]
			}
		}
		// W ← P_A·W = W − U₁·(U₁ᵀ·W).
		if keep > 0 {
			z := make([]float64, keep*n)
			be.Dgemm(true, false, keep, n, dA, 1, u, r, w, n, 0, z, n)
			be.Dgemm(false, false, dA, n, keep, -1, u, r, z, n, 1, w, n)
		}
		p, err := polarSVD(be, w, dA, n)
		if err != nil {
			return err
		}
		be.Dgemm(false, false, dA, dB, n, 1, p, n, v0t, dB, 1, t, dB)
		return nil
	}
	// W = U₀ᵀ·E (n×d_B): column k < d_A is row k of U₀.
	w := make([]float64, n*dB)
	for k := 0; k < dA; k++ {
		for i := 0; i < n; i++ {
			w[i*dB+k] = u[k*r+keep+i]
		}
	}
	// W ← W·P_B = W − (W·V₁)·V₁ᵀ.
	if keep > 0 {
		z := make([]float64, n*keep)
		be.Dgemm(false, true, n, keep, dB, 1, w, dB, vt, dB, 0, z, keep)
		be.Dgemm(false, false, n, dB, keep, -1, z, keep, vt, dB, 1, w, dB)
	}
	p, err := polarSVD(be, w, n, dB)
	if err != nil {
		return err
	}
	be.Dgemm(false, false, dA, dB, n, 1, u[keep:], r, p, dB, 1, t, dB)
	return nil
}

// completeNullSquare is completeNull for square C, where U holds a full
// basis and P_A·E·V₀ = U₀·(U₀ᵀ·V₀): the completion is U₀·polar(K)·V₀ᵀ with
// the n₀×n₀ matrix K = U₀ᵀ·V₀ of the cosines between the left and right null
// spaces. Its SVD is cheaper than that of the n×n₀ matrix P_A·E·V₀, whose
// bidiagonal reduction works on n rows instead of n₀. When few directions
// are kept (keep²·n < n₀³), lowRankCompletion's closed form, whose SVD is
// keep×n, is cheaper still. Without U₀ (haveU0 false) it does only the
// latter, and returns false when that does not apply.
func completeNullSquare(be Backend, u, vt []float64, n, keep int, haveU0 bool, t []float64) (bool, error) {
	n0 := n - keep
	if fk, fn := float64(keep), float64(n0); keep > 0 && fk*fk*float64(n) < fn*fn*fn {
		t0, ok, err := lowRankCompletion(be, leadingColumns(u, n, n, keep), vt[:keep*n], n, n, keep)
		if err != nil {
			return false, err
		}
		if ok {
			for i, v := range t0 {
				t[i] += v
			}
			return true, nil
		}
	}
	if !haveU0 {
		return false, nil
	}
	u0, v0t := u[keep:], vt[keep*n:] // U₀ (n×n₀, row stride n) and V₀ᵀ (n₀×n)
	k := make([]float64, n0*n0)
	be.Dgemm(true, true, n0, n0, n, 1, u0, n, v0t, n, 0, k, n0)
	z, err := polarSVD(be, k, n0, n0)
	if err != nil {
		return false, err
	}
	uz := make([]float64, n*n0)
	be.Dgemm(false, false, n, n0, n0, 1, u0, n, z, n0, 0, uz, n0)
	be.Dgemm(false, false, n, n, n0, 1, uz, n0, v0t, n, 1, t, n)
	return true, nil
}

// polarSVD returns the polar factor X·Yᵀ of the row-major m×n matrix a from
// its thin SVD a = X·Σ·Yᵀ.
func polarSVD(be Backend, a []float64, m, n int) ([]float64, error) {
	x, _, yt, err := be.SVD(m, n, a)
	if err != nil {
		return nil, err
	}
	k := min(m, n)
	p := make([]float64, m*n)
	be.Dgemm(false, false, m, n, k, 1, x, k, yt, n, 0, p, n)
	return p, nil
}
