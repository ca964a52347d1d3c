package linalg

import (
	"fmt"
	"math"
)

// The SVD map of a square statistic from the eigendecomposition of CᵀC.
//
// For square C of full numerical rank, MethodSVD's map is the orthogonal
// polar factor T = C·(CᵀC)^(-1/2). LAPACK's symmetric eigensolver (dsyevd)
// takes a third of the time of its SVD (dgesdd) on the same matrix (4.4 s
// against 12.9 s at n = 3072, one thread), because its reduction to
// tridiagonal form reads half the matrix per step where the SVD's
// bidiagonal reduction reads all of it, and both are bound by memory.
// The products around it (CᵀC, (CᵀC)^(-1/2) from the eigenvectors, the
// product with C and the refinement below) are matrix products at dgemm's
// rate.
//
// Squaring C costs accuracy in the directions of its smallest singular
// values: dsyevd is backward stable for CᵀC, so the computed map is that
// of a C whose Gram matrix is off by about ε·σ₁², which moves the map's
// entries between directions i and j by about ε·σ₁²/(σᵢ·σⱼ) where the SVD
// moves them by ε·σ₁/(σᵢ+σⱼ). The path is therefore taken only when every
// singular value is well above the null threshold (σₙ ≥ eigMargin·NullTol·σ₁),
// where that error is at most about ε/(eigMargin·NullTol)² ≈ 1e-5 at the
// default NullTol and far below what the float32 rounding of an accumulated
// statistic (about 1e-7·‖C‖, see DefaultNullTol) already does to the map:
// 1e-7·σ₁/(σᵢ+σⱼ), five times larger at the worst pair and relatively more
// everywhere else. TestEigMatchesSVD measures both on ill-conditioned
// matrices. The loss of orthogonality it causes (TᵀT = I + O(ε·κ²)) is
// removed by Newton–Schulz steps T ← T·(3I − TᵀT)/2, which converge
// quadratically to the nearest orthogonal matrix.

const (
	// eigMargin is how far above the null threshold σₙ must lie for the
	// eigen path: the computed eigenvalues of CᵀC carry an absolute error
	// of about ε·σ₁², so a margin keeps the rank decision the SVD's.
	eigMargin = 4
	// eigOrthTol is the orthogonality the refinement brings T to:
	// ‖TᵀT − I‖_F/√n.
	eigOrthTol = 1e-12
	// eigMaxRefine bounds the Newton–Schulz steps.
	eigMaxRefine = 4
)

// symEigener is implemented by backends with a symmetric eigensolver.
type symEigener interface {
	// symEig returns the eigenvalues w of the symmetric n×n matrix a in
	// ascending order and the eigenvectors as the rows of the row-major
	// n×n z (row i belongs to w[i]); a is not modified.
	symEig(n int, a []float64) (w, z []float64, err error)
	// gram sets g (n×n) to alpha·XᵀX for the row-major m×n x, both
	// triangles.
	gram(m, n int, alpha float64, x, g []float64)
}

// procrustesEig fills res with the SVD map of the square n×n c computed
// from the eigendecomposition of CᵀC, and returns true; it returns false,
// leaving res alone, when c's smallest singular value is too close to the
// null threshold for that (then C may have a null space, which the SVD
// path completes).
func procrustesEig(be Backend, eig symEigener, c []float64, n int, nullTol float64, res *ProcrustesResult) (bool, error) {
	scale := 1 / frobenius(c[:n*n]) // T is invariant to scaling C; keep CᵀC near 1
	g := make([]float64, n*n)
	eig.gram(n, n, scale*scale, c, g)
	w, z, err := eig.symEig(n, g)
	if err != nil {
		return false, fmt.Errorf("linalg: Procrustes: eigendecomposition of CᵀC: %w", err)
	}
	top := w[n-1]
	if lim := eigMargin * nullTol; !(top > 0 && w[0] > lim*lim*top) {
		return false, nil
	}
	// (s²·CᵀC)^(-1/2) = Yᵀ·Y with the rows yᵢ = zᵢ·wᵢ^(-1/4).
	for i := range n {
		f := 1 / math.Sqrt(math.Sqrt(w[i]))
		row := z[i*n : i*n+n]
		for j := range row {
			row[j] *= f
		}
	}
	eig.gram(n, n, 1, z, g)
	// T = C·(CᵀC)^(-1/2) = s·C·(s²·CᵀC)^(-1/2).
	t := make([]float64, n*n)
	be.Dgemm(false, false, n, n, n, scale, c, n, g, n, 0, t, n)
	t, steps := refineOrthogonal(be, eig, t, z, g, n)

	res.T, res.Method, res.Iterations, res.Rank = t, MethodEig, steps, n
	res.Singular = make([]float64, n)
	nuclear := 0.0
	for i := range n {
		s := math.Sqrt(w[n-1-i]) / scale
		res.Singular[i] = s
		nuclear += s
	}
	res.Quality = dot(t, c[:n*n]) / nuclear
	return true, nil
}

// refineOrthogonal applies Newton–Schulz steps T ← T·(3I − TᵀT)/2 to the
// n×n t, nearly orthogonal, until ‖TᵀT − I‖_F/√n is at most eigOrthTol
// (checked, or implied by the quadratic convergence from the last check),
// using tmp and s (n×n each) as scratch. It returns the refined matrix
// (t or tmp) and the number of steps.
func refineOrthogonal(be Backend, eig symEigener, t, tmp, s []float64, n int) ([]float64, int) {
	sqrtN := math.Sqrt(float64(n))
	for step := 0; step < eigMaxRefine; step++ {
		eig.gram(n, n, 1, t, s)
		e := 0.0
		for i := range n {
			s[i*n+i]--
			for _, v := range s[i*n : i*n+n] {
				e += v * v
			}
		}
		e = math.Sqrt(e) / sqrtN
		if e <= eigOrthTol {
			return t, step
		}
		// S ← (3I − TᵀT)/2 = I − (TᵀT − I)/2.
		for i := range s {
			s[i] *= -0.5
		}
		for i := range n {
			s[i*n+i]++
		}
		be.Dgemm(false, false, n, n, n, 1, t, n, s, n, 0, tmp, n)
		t, tmp = tmp, t
		if e*e <= eigOrthTol {
			// The step leaves an error of about 3e²/4.
			return t, step + 1
		}
	}
	return t, eigMaxRefine
}

// gram sets g to alpha·XᵀX with dsyrk on one thread, then mirrors the
// triangle it computed.
func (o *OpenBLASBackend) gram(m, n int, alpha float64, x, g []float64) {
	checkGemm("gram", true, false, n, n, m, len(x), n, len(x), n, len(g), n)
	if n == 0 {
		return
	}
	if m == 0 {
		clear(g[:n*n])
		return
	}
	// Row-major: C = alpha·Aᵀ·A with A m×n (lda n) is cblas_dsyrk(RowMajor,
	// Upper, Trans, n, m, ...), which writes the upper triangle.
	o.pool.acquire()
	o.lib.dsyrk(cblasRowMajor, cblasUpper, cblasTrans, int32(n), int32(m), alpha, &x[0], int32(n), 0, &g[0], int32(n))
	o.pool.release()
	mirrorUpper(g, n)
}

// mirrorUpper copies the upper triangle of the row-major n×n a into its
// lower triangle.
func mirrorUpper(a []float64, n int) {
	const tile = 64
	for i0 := 0; i0 < n; i0 += tile {
		for j0 := 0; j0 <= i0; j0 += tile {
			for i := i0; i < min(i0+tile, n); i++ {
				for j := j0; j < min(j0+tile, i); j++ {
					a[i*n+j] = a[j*n+i]
				}
			}
		}
	}
}

// symEig computes all eigenvalues and eigenvectors of the symmetric n×n a
// with LAPACK's divide-and-conquer dsyevd on one thread. A symmetric
// matrix is its own transpose, so the row-major array is the column-major
// matrix; dsyevd returns the eigenvectors as columns of a column-major
// array, which are the rows of the row-major one.
func (o *OpenBLASBackend) symEig(n int, a []float64) (w, z []float64, err error) {
	if len(a) < n*n {
		return nil, nil, fmt.Errorf("linalg: eigendecomposition of a %d×%d matrix: %d elements", n, n, len(a))
	}
	if n > math.MaxInt32/8 {
		return nil, nil, fmt.Errorf("linalg: eigendecomposition of a %d×%d matrix: too large for 32-bit LAPACK", n, n)
	}
	w, z = make([]float64, n), make([]float64, n*n)
	if n == 0 {
		return w, z, nil
	}
	for i, v := range a[:n*n] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("linalg: eigendecomposition of a %d×%d matrix: element %d is %v", n, n, i, v)
		}
	}
	copy(z, a[:n*n])
	var (
		jobz, uplo = byte('V'), byte('L')
		ln         = int32(n)
		lwork      = int32(-1)
		liwork     = int32(-1)
		info       int32
		qw         [1]float64
		qi         [1]int32
	)
	o.pool.acquire()
	defer o.pool.release()
	o.lib.dsyevd(&jobz, &uplo, &ln, &z[0], &ln, &w[0], &qw[0], &lwork, &qi[0], &liwork, &info, 1, 1)
	if info != 0 {
		return nil, nil, fmt.Errorf("linalg: dsyevd workspace query for a %d×%d matrix failed: info=%d", n, n, info)
	}
	size := math.Ceil(qw[0]*(1+1e-9)) + 1
	if size > math.MaxInt32 {
		return nil, nil, fmt.Errorf("linalg: eigendecomposition of a %d×%d matrix: workspace too large for 32-bit LAPACK", n, n)
	}
	lwork, liwork = int32(size), max(qi[0], 1)
	work, iwork := make([]float64, lwork), make([]int32, liwork)
	o.lib.dsyevd(&jobz, &uplo, &ln, &z[0], &ln, &w[0], &work[0], &lwork, &iwork[0], &liwork, &info, 1, 1)
	switch {
	case info > 0:
		return nil, nil, fmt.Errorf("linalg: eigendecomposition of a %d×%d matrix did not converge (dsyevd info=%d)", n, n, info)
	case info < 0:
		return nil, nil, fmt.Errorf("linalg: dsyevd rejected argument %d for a %d×%d matrix", -info, n, n)
	}
	return w, z, nil
}

// eigMinSize is the least size of square statistic MethodAuto maps by
// MethodEig on a backend with an eigensolver. BenchmarkMapMethods
// measures the eigen path's time over the SVD's (single-threaded OpenBLAS
// 0.3.21, AVX-512): n = 128 0.92, 256 0.59, 512 0.60, 768 0.69, 1536 0.52,
// 3072 0.56. Tests lower it.
var eigMinSize = 256

// procrustesEigOrSVD is ProcrustesWith for square n×n c by the eigen path,
// or by the SVD when c's smallest singular value is too close to the null
// threshold for it.
func procrustesEigOrSVD(be Backend, eig symEigener, c []float64, n int, opt ProcrustesOptions, res ProcrustesResult) (ProcrustesResult, error) {
	ok, err := procrustesEig(be, eig, c, n, nullTol(opt), &res)
	if err != nil {
		return res, err
	}
	if !ok {
		res.Method = MethodSVD
		if err := procrustesSVD(be, c, n, n, nullTol(opt), &res); err != nil {
			return res, err
		}
	}
	res.OrthError = orthErrorUnless(opt.SkipOrthError, be, res.T, n, n)
	return res, nil
}
