package linalg

import (
	"fmt"
	"math"
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
)

// String returns "svd" or "polar".
func (m Method) String() string {
	switch m {
	case MethodSVD:
		return "svd"
	case MethodPolar:
		return "polar"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Defaults of ProcrustesOptions.
const (
	// DefaultEps is the regularisation ε/‖C‖_F: the map is that of C + εE.
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
	// Eps is the regularisation relative to ‖C‖_F: the map is computed from
	// C + ε·E with ε = Eps·‖C‖_F and E the d_A×d_B identity (ones on the
	// leading min(d_A, d_B) diagonal). For square C this makes T the
	// identity on the null space that C shares with Cᵀ, and fixes T
	// deterministically wherever C is rank-deficient (METHOD.md §3.5).
	// 0 means DefaultEps; a negative value disables the regularisation.
	// Statistics accumulated from float32 data carry rounding noise of
	// about 1e-7·‖C‖ in their null space; raise Eps above that (say 1e-5)
	// if the null-space completion must dominate the noise.
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
	// Singular holds the singular values of C + εE in decreasing order
	// (MethodSVD only). They are within ε of those of C.
	Singular []float64
	// Quality is tr(TᵀC)/‖C‖_*, with the nuclear norm ‖C‖_* taken as the
	// sum of Singular. It is at most 1 up to ε-level terms; 1 means T
	// attains the optimum. With the exact SVD map it is 1 − O(ε·d/‖C‖_*),
	// so it flags numerical trouble rather than poor alignment. 1 when
	// C = 0; NaN with MethodPolar (the nuclear norm needs the SVD); see
	// OrthError there.
	Quality float64
	// OrthError is ‖TᵀT − I‖_F (d_A ≥ d_B) or ‖TTᵀ − I‖_F (d_A < d_B).
	OrthError float64
	// Iterations is the number of polar iterations (MethodPolar only).
	Iterations int
}

// Procrustes returns the row-major d_A×d_B map T = U·Vᵀ from the thin SVD of
// the row-major d_A×d_B matrix c (regularised as described at
// ProcrustesOptions.Eps). It is ProcrustesWith with default options.
func Procrustes(be Backend, c []float64, dA, dB int) ([]float64, error) {
	res, err := ProcrustesWith(be, c, dA, dB, ProcrustesOptions{})
	if err != nil {
		return nil, err
	}
	return res.T, nil
}

// ProcrustesWith computes the orthogonal Procrustes map of the row-major
// d_A×d_B statistic c (c is not modified): T = polar factor of C + εE,
// i.e. U·Vᵀ from the thin SVD C + εE = U·Σ·Vᵀ, with the rank and quality
// diagnostics of ProcrustesResult.
func ProcrustesWith(be Backend, c []float64, dA, dB int, opt ProcrustesOptions) (ProcrustesResult, error) {
	res := ProcrustesResult{Method: opt.Method, Rank: -1, Quality: math.NaN()}
	if err := checkMatrix("Procrustes", c, dA, dB); err != nil {
		return res, err
	}
	if be == nil {
		return res, fmt.Errorf("linalg: Procrustes: nil backend")
	}
	if opt.Method != MethodSVD && opt.Method != MethodPolar {
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

	switch opt.Method {
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
	res.OrthError = orthError(be, res.T, dA, dB)
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
	x := make([]float64, n*n)
	copy(x, c[:n*n])
	y := make([]float64, n*n)
	sqrtN := math.Sqrt(float64(n))
	scale := true
	delta := math.Inf(1)
	for iters = 1; iters <= maxIter; iters++ {
		copy(y, x)
		if err := invert(be, n, y); err != nil {
			return nil, iters, fmt.Errorf("linalg: PolarNewton: %w", err)
		}
		zeta := 1.0
		if scale {
			zeta = math.Sqrt(frobenius(y) / frobenius(x))
		}
		if math.IsNaN(zeta) || math.IsInf(zeta, 0) || zeta == 0 {
			return nil, iters, fmt.Errorf("linalg: PolarNewton: the matrix is singular to working precision")
		}
		// x ← (ζ·x + yᵀ/ζ)/2, with y = x⁻¹.
		delta = 0
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				old := x[i*n+j]
				v := 0.5 * (zeta*old + y[j*n+i]/zeta)
				d := v - old
				delta += d * d
				x[i*n+j] = v
			}
		}
		delta = math.Sqrt(delta) / sqrtN
		if math.IsNaN(delta) {
			return nil, iters, fmt.Errorf("linalg: PolarNewton: NaN at step %d", iters)
		}
		if delta <= tol {
			return x, iters, nil
		}
		if delta < 1e-2 {
			scale = false
		}
	}
	return x, maxIter, fmt.Errorf("linalg: PolarNewton did not converge in %d steps (last step %.3g > %g)", maxIter, delta, tol)
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
//	T = U₁·V₁ᵀ + U₀·polar(U₀ᵀ·E·V₀)·V₀ᵀ,
//
// which is the limit of the map of C + εE as ε → 0, computed without
// letting rounding noise in the null space decide it. For square C whose
// left and right null spaces coincide (a gradient statistic whose rows all
// sum to zero, a Gram matrix of rank-deficient rows) it is the identity
// there, as METHOD.md §3.5 asks.
func procrustesSVD(be Backend, c []float64, dA, dB int, nullTol float64, res *ProcrustesResult) error {
	r := min(dA, dB)
	u, s, vt, err := be.SVD(dA, dB, c[:dA*dB])
	if err != nil {
		return fmt.Errorf("linalg: Procrustes: %w", err)
	}
	res.Singular = s
	keep := 0
	for keep < r && s[keep] > nullTol*s[0] {
		keep++
	}
	res.T = make([]float64, dA*dB)
	be.Dgemm(false, false, dA, dB, keep, 1, u, r, vt, dB, 0, res.T, dB)
	if n := r - keep; n > 0 {
		completeNull(be, u[keep:], vt[keep*dB:], dA, dB, r, n, res.T)
	}
	res.Rank = keep
	nuclear := 0.0
	for _, v := range s {
		nuclear += v
	}
	res.Quality = dot(res.T, c[:dA*dB]) / nuclear
	return nil
}

// completeNull adds U₀·polar(U₀ᵀ·E·V₀)·V₀ᵀ to t, where u0 holds the n null
// columns of U (row stride r) and v0t the n null rows of Vᵀ (stride dB).
func completeNull(be Backend, u0, v0t []float64, dA, dB, r, n int, t []float64) {
	// M = U₀ᵀ·E·V₀: E keeps the leading min(dA, dB) = r coordinates.
	m := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			sum := 0.0
			for k := 0; k < r; k++ {
				sum += u0[k*r+i] * v0t[j*dB+k]
			}
			m[i*n+j] = sum
		}
	}
	x, _, yt, err := be.SVD(n, n, m)
	if err != nil {
		return // leave the null space unmapped rather than fail
	}
	p := make([]float64, n*n)
	be.Dgemm(false, false, n, n, n, 1, x, n, yt, n, 0, p, n)
	up := make([]float64, dA*n)
	be.Dgemm(false, false, dA, n, n, 1, u0, r, p, n, 0, up, n)
	be.Dgemm(false, false, dA, dB, n, 1, up, n, v0t, dB, 1, t, dB)
}
