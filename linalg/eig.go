package linalg

import (
	"fmt"
	"math"
)

// The SVD map of a square statistic from the eigendecomposition of CᵀC.
//
// procrustesSVD's map of a square C needs C's singular vectors only: the
// leading ones (above the null threshold) as vectors, the rest as the
// subspaces they span. LAPACK's symmetric eigensolver (dsyevd) takes a
// third of the time of its SVD (dgesdd) on the same matrix (4.4 s against
// 12.9 s at n = 3072, one thread): its reduction to tridiagonal form reads
// half the matrix per step where the SVD's bidiagonal reduction reads all
// of it, and both are bound by memory. eigSVD therefore takes
//
//	CᵀC = V·Λ·Vᵀ (dsyevd), σᵢ = √λᵢ,
//	U₁ = C·V₁·Σ₁⁻¹ for the kept directions, orthonormalized in order of
//	decreasing σ by a Cholesky QR (a Householder QR if that fails),
//
// and hands U₁, Σ, V to the SVD path's map and null-space completion (the
// form that needs no basis U₀ of the rest). The products around the
// eigensolver run at dgemm's rate: at n = 3072 on one thread, dsyevd 4.7 s
// and the rest about 3 s, against 13–14 s for dgesdd's map.
//
// Squaring C costs accuracy in the directions of its smallest singular
// values. dsyevd is backward stable for CᵀC, so the factors are those of a
// C whose Gram matrix is off by about ε·σ₁²: the map's entries between
// directions i and j move by about ε·σ₁²/(σᵢ·σⱼ), where the SVD's move by
// ε·σ₁/(σᵢ+σⱼ), and near-equal singular values near the null threshold
// (σ = NullTol·σ₁, 1e-6·σ₁ by default) mix more than in the SVD. A
// statistic accumulated from float32 rows carries rounding noise of about
// 1e-7·‖C‖ or more (see DefaultNullTol), which moves the SVD's own map in
// those same directions. TestEigMatchesSVD checks that the eigen path's
// difference from the SVD's map stays a hundred times below what rounding
// C's entries to float32 does, on matrices with close singular values down
// to κ = 10⁵, a null space, and a spectrum running through the threshold.
// On the 99 statistics of 768 rows of the bench's random ViT-B/16 pair
// (spectra dense around the threshold: ranks 250 to 768) the difference was
// below the change in the SVD's map between the statistic accumulated in
// batches of 8 and of 4 (float32 rounding alone) on every one, by a median
// factor of 396 and at least 1.15, with the same ranks
// (bench.BenchmarkEigAgainstRounding, 3 minutes). Directions whose σ lies within
// about a relative 1e-4 of the threshold may be kept by one method and
// completed by the other, where that noise moves σ by 10%.

// eigSolver is implemented by backends with the LAPACK routines eigSVD
// uses.
type eigSolver interface {
	// symEig returns the eigenvalues w of the symmetric n×n matrix a in
	// ascending order and the eigenvectors as the rows of the row-major
	// n×n z (row i belongs to w[i]); a is not modified.
	symEig(n int, a []float64) (w, z []float64, err error)
	// gram sets g (n×n) to alpha·XᵀX for the row-major m×n x, both
	// triangles.
	gram(m, n int, alpha float64, x, g []float64)
	// cholQR orthonormalizes the rows of the row-major k×n y in place,
	// by Cholesky QR: y ← R⁻ᵀ·y with RᵀR = y·yᵀ (R upper triangular with
	// a positive diagonal, so row j keeps its component along itself, as
	// Gram–Schmidt would). It returns false, y unchanged, when y·yᵀ is not
	// numerically positive definite.
	cholQR(k, n int, y []float64) (bool, error)
	// completeBasis replaces the column-major n×n a, whose first k
	// columns are linearly independent, by an orthogonal matrix Q whose
	// first k columns are those columns orthonormalized in order
	// (a_j = Σ_{i≤j} R_ij·q_i with R_jj > 0, as Gram–Schmidt gives them).
	completeBasis(n, k int, a []float64) error
}

// procrustesEig fills res with procrustesSVD's map of the square n×n c,
// computed from eigSVD's factors (by the SVD itself when c's norm is so
// large or small that CᵀC would overflow or underflow).
func procrustesEig(be Backend, eig eigSolver, c []float64, n int, nullTol float64, res *ProcrustesResult) error {
	if scale := 1 / frobenius(c[:n*n]); !(scale*scale > 0 && !math.IsInf(scale*scale, 0)) {
		// ‖C‖ beyond 1e±154: CᵀC would not be representable.
		res.Method = MethodSVD
		return procrustesSVD(be, c, n, n, nullTol, res)
	}
	u, s, vt, haveU0, err := eigSVD(be, eig, c, n, nullTol)
	if err != nil {
		return fmt.Errorf("linalg: Procrustes: %w", err)
	}
	res.Method = MethodEig
	return mapFromSVD(be, c, u, s, vt, n, n, nullTol, haveU0, res)
}

// eigSVD returns an SVD c = u·diag(s)·vt of the square row-major n×n c
// from the eigendecomposition of CᵀC, in the layout of Backend.SVD. Only
// the columns of u for singular values above nullTol·s[0] are singular
// vectors. The others are zero (haveU0 false) when U₁ could be
// orthonormalized by Cholesky QR, the usual case: the map's completion
// then needs U₁ alone. Otherwise (a Householder QR) they are an orthonormal
// basis of the space U₁ leaves.
//
// Cholesky QR suffices because U₁ is nearly orthonormal already:
// U₁ᵀU₁ = Σ₁⁻¹·V₁ᵀ·(CᵀC)·V₁·Σ₁⁻¹ = I + O(ε·σ₁²/σ²) with σ above the null
// threshold, so its condition number is 1 + O(ε/NullTol²) and one pass
// leaves an orthogonality error of order ε.
func eigSVD(be Backend, eig eigSolver, c []float64, n int, nullTol float64) (u, s, vt []float64, haveU0 bool, err error) {
	scale := 1 / frobenius(c[:n*n]) // keeps CᵀC near 1 whatever C's scale
	g := make([]float64, n*n)
	eig.gram(n, n, scale*scale, c, g)
	w, z, err := eig.symEig(n, g)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("eigendecomposition of CᵀC: %w", err)
	}
	// Decreasing order: σᵢ = √λ/scale, V's rows in the same order.
	s, vt = make([]float64, n), z
	for i := range n / 2 {
		a, b := vt[i*n:i*n+n], vt[(n-1-i)*n:(n-i)*n]
		for j := range a {
			a[j], b[j] = b[j], a[j]
		}
	}
	for i := range n {
		s[i] = math.Sqrt(max(w[n-1-i], 0)) / scale
	}
	keep := 1
	for keep < n && s[keep] > nullTol*s[0] {
		keep++
	}
	// U₁ᵀ = Σ₁⁻¹·V₁ᵀ·Cᵀ (keep×n row-major) is U₁ column-major.
	y := g[:keep*n]
	for i := range keep {
		f := 1 / s[i]
		for j, v := range vt[i*n : i*n+n] {
			y[i*n+j] = v * f
		}
	}
	q := make([]float64, n*n)
	be.Dgemm(false, true, keep, n, n, 1, y, n, c, n, 0, q, n)
	ok, err := eig.cholQR(keep, n, q[:keep*n])
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("orthonormalizing C·V: %w", err)
	}
	if !ok {
		if err := eig.completeBasis(n, keep, q); err != nil {
			return nil, nil, nil, false, fmt.Errorf("orthonormalizing C·V: %w", err)
		}
	}
	// q is U₁ᵀ (and U₀ᵀ) row-major: u is its transpose.
	return transposeOf(q, n, n), s, vt, !ok, nil
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
// MethodEig on a backend with an eigensolver (smaller ones go to the SVD).
// BenchmarkMapMethods measures the eigen path's time over the SVD's
// (single-threaded OpenBLAS 0.3.21, AVX-512, full-rank statistics), in one
// run at f6b7d56: n = 128 0.80, 256 0.68, 512 0.74, 768 0.71, 1536 0.57,
// 3072 0.57. Tests lower it.
var eigMinSize = 256

// procrustesEigResult is ProcrustesWith for square n×n c by the eigen path.
func procrustesEigResult(be Backend, eig eigSolver, c []float64, n int, opt ProcrustesOptions, res ProcrustesResult) (ProcrustesResult, error) {
	if err := procrustesEig(be, eig, c, n, nullTol(opt), &res); err != nil {
		return res, err
	}
	res.OrthError = orthErrorUnless(opt.SkipOrthError, be, res.T, n, n)
	return res, nil
}

// completeBasis orthonormalizes the first k columns of the column-major
// n×n a in order and completes them to an orthogonal Q (dgeqrf, dorgqr,
// one thread), with the signs of Q's first k columns set so that R's
// diagonal is positive.
func (o *OpenBLASBackend) completeBasis(n, k int, a []float64) error {
	if n == 0 {
		return nil
	}
	if k < 1 || k > n || len(a) < n*n {
		return fmt.Errorf("linalg: completeBasis: %d of %d columns, %d elements", k, n, len(a))
	}
	if n > math.MaxInt32/64 {
		return fmt.Errorf("linalg: QR of a %d×%d matrix: too large for 32-bit LAPACK", n, k)
	}
	var (
		ln, lk = int32(n), int32(k)
		lwork  = int32(-1)
		info   int32
		q      [1]float64
	)
	tau := make([]float64, k)
	o.pool.acquire()
	defer o.pool.release()
	o.lib.dgeqrf(&ln, &lk, &a[0], &ln, &tau[0], &q[0], &lwork, &info)
	if info != 0 {
		return fmt.Errorf("linalg: dgeqrf workspace query for a %d×%d matrix failed: info=%d", n, k, info)
	}
	lwork = int32(max(q[0], float64(n)))
	work := make([]float64, lwork)
	o.lib.dgeqrf(&ln, &lk, &a[0], &ln, &tau[0], &work[0], &lwork, &info)
	if info != 0 {
		return fmt.Errorf("linalg: dgeqrf rejected argument %d for a %d×%d matrix", -info, n, k)
	}
	negative := make([]bool, k)
	for j := range k {
		negative[j] = a[j*n+j] < 0
	}
	lwork = -1
	o.lib.dorgqr(&ln, &ln, &lk, &a[0], &ln, &tau[0], &q[0], &lwork, &info)
	if info == 0 {
		if need := int32(q[0]); need > int32(len(work)) {
			work = make([]float64, need)
		}
		lwork = int32(len(work))
		o.lib.dorgqr(&ln, &ln, &lk, &a[0], &ln, &tau[0], &work[0], &lwork, &info)
	}
	if info != 0 {
		return fmt.Errorf("linalg: dorgqr for a %d×%d matrix: info=%d", n, n, info)
	}
	for j, neg := range negative {
		if neg {
			col := a[j*n : j*n+n]
			for i := range col {
				col[i] = -col[i]
			}
		}
	}
	return nil
}

// cholQR orthonormalizes the rows of the row-major k×n y by Cholesky QR
// (dsyrk, dpotrf, dtrsm, one thread).
func (o *OpenBLASBackend) cholQR(k, n int, y []float64) (bool, error) {
	if k == 0 {
		return true, nil
	}
	if len(y) < k*n || k > math.MaxInt32/64 || n > math.MaxInt32/64 {
		return false, fmt.Errorf("linalg: Cholesky QR of %d rows of %d: %d elements", k, n, len(y))
	}
	g := make([]float64, k*k)
	o.pool.acquire()
	defer o.pool.release()
	// G = y·yᵀ, upper triangle (row-major).
	o.lib.dsyrk(cblasRowMajor, cblasUpper, cblasNoTrans, int32(k), int32(n), 1, &y[0], int32(n), 0, &g[0], int32(k))
	// The row-major upper triangle is LAPACK's column-major lower one:
	// dpotrf('L') gives L with G = L·Lᵀ, which read row-major is R = Lᵀ,
	// upper, with G = Rᵀ·R.
	var (
		uplo = byte('L')
		lk   = int32(k)
		info int32
	)
	o.lib.dpotrf(&uplo, &lk, &g[0], &lk, &info, 1)
	if info > 0 {
		return false, nil
	} else if info < 0 {
		return false, fmt.Errorf("linalg: dpotrf rejected argument %d", -info)
	}
	// y ← R⁻ᵀ·y: solve Rᵀ·X = y.
	o.lib.dtrsm(cblasRowMajor, cblasLeft, cblasUpper, cblasTrans, cblasNonUnit, int32(k), int32(n), 1, &g[0], int32(k), &y[0], int32(n))
	return true, nil
}
