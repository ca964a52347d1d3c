package linalg

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
)

// openblasNames are the shared-library names tried, in order, by OpenBLAS.
var openblasNames = []string{"libopenblas.so.0", "libopenblas.so", "libopenblas.0.dylib", "libopenblas.dylib"}

// CBLAS enumerations (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
	cblasUpper    = 121
	cblasLeft     = 141
	cblasNonUnit  = 131
)

// coreTypeEnv is the variable that overrides OpenBLAS's choice of kernels.
const coreTypeEnv = "OPENBLAS_CORETYPE"

// openblasCoreType returns the OPENBLAS_CORETYPE to load the library with,
// or "" to leave the choice to OpenBLAS. A DYNAMIC_ARCH OpenBLAS picks its
// kernels by CPU model number and falls back to the SSE3 "Prescott" kernels
// on models newer than itself: Debian's 0.3.21 on a current Xeon runs sgemm
// about 25 times slower than it can. Unless the user set the variable, pick
// by the instruction sets the CPU reports instead (Linux on amd64): the
// SkylakeX kernels with AVX-512, the Haswell ones with AVX2 and FMA.
func openblasCoreType() string {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return ""
	}
	if _, set := os.LookupEnv(coreTypeEnv); set {
		return ""
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	return coreTypeForFlags(string(info))
}

// coreTypeForFlags chooses the kernels from the text of /proc/cpuinfo.
func coreTypeForFlags(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		flags := strings.Fields(value)
		has := func(names ...string) bool {
			for _, n := range names {
				if !slices.Contains(flags, n) {
					return false
				}
			}
			return true
		}
		switch {
		case has("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"):
			return "SKYLAKEX"
		case has("avx2", "fma"):
			return "HASWELL"
		}
		return ""
	}
	return ""
}

// openblasLib is the loaded library: its bound entry points.
type openblasLib struct {
	path string

	sgemm func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	dgemm func(order, transA, transB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
	dsyrk func(order, uplo, trans, n, k int32, alpha float64, a *float64, lda int32, beta float64, c *float64, ldc int32)
	dtrsm func(order, side, uplo, trans, diag, m, n int32, alpha float64, a *float64, lda int32, b *float64, ldb int32)
	// Fortran LAPACK: column-major, every argument by reference, plus the
	// hidden length of the character argument jobz.
	sgesdd func(jobz *byte, m, n *int32, a *float32, lda *int32, s, u *float32, ldu *int32, vt *float32, ldvt *int32, work *float32, lwork, iwork, info *int32, jobzLen uintptr)
	dgesdd func(jobz *byte, m, n *int32, a *float64, lda *int32, s, u *float64, ldu *int32, vt *float64, ldvt *int32, work *float64, lwork, iwork, info *int32, jobzLen uintptr)
	dgetrf func(m, n *int32, a *float64, lda, ipiv, info *int32)
	dgetri func(n *int32, a *float64, lda, ipiv *int32, work *float64, lwork, info *int32)
	dgetrs func(trans *byte, n, nrhs *int32, a *float64, lda, ipiv *int32, b *float64, ldb, info *int32, transLen uintptr)
	dsyevd func(jobz, uplo *byte, n *int32, a *float64, lda *int32, w, work *float64, lwork, iwork, liwork, info *int32, jobzLen, uploLen uintptr)
	dpotrf func(uplo *byte, n *int32, a *float64, lda, info *int32, uploLen uintptr)
	dgeqrf func(m, n *int32, a *float64, lda *int32, tau, work *float64, lwork, info *int32)
	dorgqr func(m, n, k *int32, a *float64, lda *int32, tau, work *float64, lwork, info *int32)
	dgecon func(norm *byte, n *int32, a *float64, lda *int32, anorm, rcond, work *float64, iwork, info *int32, normLen uintptr)

	setNumThreads func(n int32)
	getNumThreads func() int32
	getConfig     func() string
}

var (
	libOnce sync.Once
	libBLAS *openblasLib
	libErr  error
)

// loadOpenBLAS opens and binds the library once per process.
func loadOpenBLAS() (*openblasLib, error) {
	libOnce.Do(func() {
		libBLAS, libErr = openOpenBLASNamed(openblasNames)
	})
	return libBLAS, libErr
}

// openOpenBLASNamed opens the first of names that loads and binds it; the
// error says how to fix a missing library.
func openOpenBLASNamed(names []string) (*openblasLib, error) {
	lib, err := bindOpenBLAS(names)
	if err != nil {
		return nil, fmt.Errorf("linalg: cannot use OpenBLAS: %w; install it with: apt-get install libopenblas-dev (or set %s=go)", err, EnvVar)
	}
	return lib, nil
}

func bindOpenBLAS(names []string) (*openblasLib, error) {
	if runtime.GOOS == "windows" {
		return nil, errors.New("loading OpenBLAS is not supported on windows")
	}
	var (
		handle uintptr
		errs   []string
		lib    = new(openblasLib)
	)
	if core := openblasCoreType(); core != "" {
		// Only the library's initialisation reads it; keep the
		// environment as it was for everyone else.
		defer setenvWhileLoading(coreTypeEnv, core)()
	}
	// Without it the library starts a server thread per CPU when loaded;
	// bico runs it single-threaded (below), and those idle threads would
	// only spin beside the Go scheduler's.
	defer setenvWhileLoading("OPENBLAS_NUM_THREADS", "1")()
	for _, name := range names {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			handle, lib.path = h, name
			break
		}
		errs = append(errs, err.Error())
	}
	if handle == 0 {
		return nil, fmt.Errorf("%s not found (%s)", names[0], strings.Join(errs, "; "))
	}
	syms := []struct {
		fptr any
		name string
	}{
		{&lib.sgemm, "cblas_sgemm"},
		{&lib.dgemm, "cblas_dgemm"},
		{&lib.dsyrk, "cblas_dsyrk"},
		{&lib.dtrsm, "cblas_dtrsm"},
		{&lib.sgesdd, "sgesdd_"},
		{&lib.dgesdd, "dgesdd_"},
		{&lib.dgetrf, "dgetrf_"},
		{&lib.dgetri, "dgetri_"},
		{&lib.dgetrs, "dgetrs_"},
		{&lib.dgecon, "dgecon_"},
		{&lib.dsyevd, "dsyevd_"},
		{&lib.dpotrf, "dpotrf_"},
		{&lib.dgeqrf, "dgeqrf_"},
		{&lib.dorgqr, "dorgqr_"},
		{&lib.setNumThreads, "openblas_set_num_threads"},
		{&lib.getNumThreads, "openblas_get_num_threads"},
		{&lib.getConfig, "openblas_get_config"},
	}
	for _, s := range syms {
		addr, err := purego.Dlsym(handle, s.name)
		if err != nil || addr == 0 {
			return nil, fmt.Errorf("%s has no symbol %s (is it an OpenBLAS build with LAPACK?)", lib.path, s.name)
		}
		purego.RegisterFunc(s.fptr, addr)
	}
	// bico runs the library single-threaded and parallelises in Go (see
	// pool): no second thread pool competes with the Go scheduler, and
	// concurrent callers each run their own serial call.
	lib.setNumThreads(1)
	return lib, nil
}

// setenvWhileLoading sets the environment variable key to value and returns
// the function that restores its previous state.
func setenvWhileLoading(key, value string) (restore func()) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		return func() {}
	}
	return func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	}
}

// OpenBLASBackend is the backend on OpenBLAS, loaded at run time with purego
// (no cgo). The library itself runs single-threaded (it is told so with
// openblas_set_num_threads(1) when loaded); the backend splits each large
// product over up to Threads goroutines, each running a serial OpenBLAS
// call on its block, and lets at most Threads calls run at once whichever
// goroutines make them. LAPACK factorisations (the SVD, the LU of the
// inverse) run on one thread each, concurrently when called from several
// goroutines; the inverse's triangular solves are split like a product. It
// is safe for concurrent use.
type OpenBLASBackend struct {
	lib  *openblasLib
	pool *pool
}

// OpenBLAS returns the OpenBLAS backend using the given number of threads
// (0: runtime.NumCPU()). The library (libopenblas.so.0, else
// libopenblas.so) is loaded once per process, with OPENBLAS_CORETYPE chosen
// from the CPU's instruction sets unless it is set (see openblasCoreType);
// the error says how to install it.
func OpenBLAS(threads int) (Backend, error) {
	b, err := LoadOpenBLAS(threads)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// LoadOpenBLAS is OpenBLAS returning the concrete type, which also offers
// SVD32 and Config.
func LoadOpenBLAS(threads int) (*OpenBLASBackend, error) {
	if threads < 0 {
		return nil, fmt.Errorf("linalg: OpenBLAS: negative thread count %d", threads)
	}
	lib, err := loadOpenBLAS()
	if err != nil {
		return nil, err
	}
	return &OpenBLASBackend{lib: lib, pool: newPool(threads)}, nil
}

// Name returns "openblas".
func (o *OpenBLASBackend) Name() string { return "openblas" }

// Threads returns the number of threads the backend runs OpenBLAS calls on.
func (o *OpenBLASBackend) Threads() int { return o.pool.threads }

// Library returns the name the shared library was opened by.
func (o *OpenBLASBackend) Library() string { return o.lib.path }

// Config returns OpenBLAS's build description (openblas_get_config), for
// example "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
func (o *OpenBLASBackend) Config() string {
	return o.lib.getConfig()
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C in float32 with cblas_sgemm.
func (o *OpenBLASBackend) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Sgemm", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	ta, tb := cblasTrans32(transA), cblasTrans32(transB)
	o.pool.gemm(m, n, k, 16, func(i0, i1, j0, j1 int) {
		oa, ob, oc := gemmOffsets(transA, transB, lda, ldb, ldc, i0, j0)
		o.lib.sgemm(cblasRowMajor, ta, tb, int32(i1-i0), int32(j1-j0), int32(k),
			alpha, &a[oa], int32(lda), &b[ob], int32(ldb), beta, &c[oc], int32(ldc))
	})
}

// Dgemm computes C = alpha·op(A)·op(B) + beta·C in float64 with cblas_dgemm.
func (o *OpenBLASBackend) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm("Dgemm", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	ta, tb := cblasTrans32(transA), cblasTrans32(transB)
	o.pool.gemm(m, n, k, 8, func(i0, i1, j0, j1 int) {
		oa, ob, oc := gemmOffsets(transA, transB, lda, ldb, ldc, i0, j0)
		o.lib.dgemm(cblasRowMajor, ta, tb, int32(i1-i0), int32(j1-j0), int32(k),
			alpha, &a[oa], int32(lda), &b[ob], int32(ldb), beta, &c[oc], int32(ldc))
	})
}

func cblasTrans32(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

// SVD computes the thin SVD of the row-major m×n matrix a with LAPACK's
// divide-and-conquer dgesdd (jobz='S'). In the rare case that dgesdd does
// not converge, it falls back to the pure-Go SVD (gonum's), slower but
// independent of that failure.
func (o *OpenBLASBackend) SVD(m, n int, a []float64) (u, s, vt []float64, err error) {
	u, s, vt, err = gesdd(o, m, n, a, o.lib.dgesdd)
	if errors.Is(err, errNoConvergence) {
		return Go().SVD(m, n, a)
	}
	return u, s, vt, err
}

// errNoConvergence marks a LAPACK SVD that did not converge (info > 0).
var errNoConvergence = errors.New("did not converge")

// SVD32 is SVD in float32 (sgesdd): the thin SVD A = U·diag(s)·Vᵀ of the
// row-major m×n matrix a, with u m×r, s of length r (decreasing) and vt r×n,
// r = min(m, n). It is not part of Backend.
func (o *OpenBLASBackend) SVD32(m, n int, a []float32) (u, s, vt []float32, err error) {
	return gesdd(o, m, n, a, o.lib.sgesdd)
}

// gesdd runs ?gesdd on a row-major matrix. A row-major m×n array is the
// column-major n×m matrix Aᵀ; LAPACK factors Aᵀ = U'·Σ·V'ᵀ, so A = V'·Σ·U'ᵀ.
// U' (n×r column-major, ld n) laid out in memory is exactly vt (r×n
// row-major), and V'ᵀ (r×m column-major, ld r) is exactly u (m×r row-major).
func gesdd[T Float](o *OpenBLASBackend, m, n int, a []T,
	call func(jobz *byte, m, n *int32, a *T, lda *int32, s, u *T, ldu *int32, vt *T, ldvt *int32, work *T, lwork, iwork, info *int32, jobzLen uintptr),
) (u, s, vt []T, err error) {
	if err := checkSVDArgs(m, n, len(a)); err != nil {
		return nil, nil, nil, err
	}
	r := min(m, n)
	u, s, vt = make([]T, m*r), make([]T, r), make([]T, r*n)
	if r == 0 {
		return u, s, vt, nil
	}
	if m > math.MaxInt32 || n > math.MaxInt32 || 8*r > math.MaxInt32 {
		return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix: too large for 32-bit LAPACK", m, n)
	}
	work := make([]T, m*n+1) // the copy of A, which gesdd destroys, and one slot for the query
	acopy, query := work[:m*n], work[m*n:]
	for i, v := range a[:m*n] {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix: element %d is %v", m, n, i, v)
		}
		acopy[i] = v
	}
	var (
		jobz = byte('S')
		lm   = int32(n) // rows of Aᵀ
		ln   = int32(m) // columns of Aᵀ
		lda  = int32(n)
		ldu  = int32(n)
		ldvt = int32(r)
		lw   = int32(-1)
		info int32
	)
	iwork := make([]int32, 8*r)

	o.pool.acquire()
	defer o.pool.release()
	call(&jobz, &lm, &ln, &acopy[0], &lda, &s[0], &vt[0], &ldu, &u[0], &ldvt, &query[0], &lw, &iwork[0], &info, 1)
	if info != 0 {
		return nil, nil, nil, fmt.Errorf("linalg: gesdd workspace query for a %d×%d matrix failed: info=%d", m, n, info)
	}
	// The size comes back as a floating-point number; round up generously so
	// that float32 rounding of a large size cannot make it too small.
	size := math.Ceil(float64(query[0])*(1+1e-6)) + 1
	if size > math.MaxInt32 {
		return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix: workspace of %.0f elements is too large for 32-bit LAPACK", m, n, size)
	}
	lw = int32(size)
	buf := make([]T, int(lw))
	call(&jobz, &lm, &ln, &acopy[0], &lda, &s[0], &vt[0], &ldu, &u[0], &ldvt, &buf[0], &lw, &iwork[0], &info, 1)
	switch {
	case info > 0:
		return nil, nil, nil, fmt.Errorf("linalg: SVD of a %d×%d matrix: %w (gesdd info=%d)", m, n, errNoConvergence, info)
	case info < 0:
		return nil, nil, nil, fmt.Errorf("linalg: gesdd rejected argument %d for a %d×%d matrix", -info, m, n)
	}
	return u, s, vt, nil
}

// inverse replaces the row-major n×n matrix a by its inverse: the LU
// factors (dgetrf), then dgetri, on one thread. Inversion commutes with
// transposition, so the column-major view of the same memory needs no
// special handling. (Solving LU·Z = I with dgetrs, its right-hand sides
// split over the free threads, costs 8n³/3 flops against dgetri's 2n³;
// single-threaded, as maps computed side by side run, dgetri measured 1.71 s
// against 2.27 s for one Newton polar decomposition at n = 1536.)
func (o *OpenBLASBackend) inverse(n int, a []float64) error {
	_, err := o.inverseIfConditioned(n, a, 0)
	return err
}

// inverseIfConditioned is inverse, but when maxKappa > 0 it first estimates
// the condition number from the LU factors (dgecon, 1-norm, O(n²)) and
// returns false, leaving a unchanged, when the estimate exceeds maxKappa.
func (o *OpenBLASBackend) inverseIfConditioned(n int, a []float64, maxKappa float64) (bool, error) {
	if n == 0 {
		return true, nil
	}
	if n > math.MaxInt32/64 {
		return false, fmt.Errorf("linalg: inverse of a %d×%d matrix: too large for 32-bit LAPACK", n, n)
	}
	var (
		ln   = int32(n)
		info int32
	)
	ipiv := make([]int32, n)
	lu := make([]float64, n*n)
	copy(lu, a[:n*n])
	// LAPACK sees the transpose: its 1-norm is a's largest row sum.
	anorm := normInf(a, n, n)
	o.pool.acquire()
	o.lib.dgetrf(&ln, &ln, &lu[0], &ln, &ipiv[0], &info)
	var rcond float64
	if info == 0 && maxKappa > 0 {
		norm := byte('1')
		work := make([]float64, 4*n)
		iwork := make([]int32, n)
		var cinfo int32
		o.lib.dgecon(&norm, &ln, &lu[0], &ln, &anorm, &rcond, &work[0], &iwork[0], &cinfo, 1)
	}
	o.pool.release()
	if info > 0 {
		return false, fmt.Errorf("linalg: inverse of a %d×%d matrix: exactly singular (dgetrf info=%d)", n, n, info)
	} else if info < 0 {
		return false, fmt.Errorf("linalg: dgetrf rejected argument %d", -info)
	}
	if maxKappa > 0 && !(rcond*maxKappa >= 1) {
		return false, nil
	}
	// dgetri inverts in place from the factors: 2n³ flops in all against
	// 8n³/3 for solving against the identity.
	copy(a[:n*n], lu)
	lwork := int32(-1)
	var q [1]float64
	o.pool.acquire()
	o.lib.dgetri(&ln, &a[0], &ln, &ipiv[0], &q[0], &lwork, &info)
	if info == 0 {
		lwork = int32(max(int(q[0]), n))
		work := make([]float64, lwork)
		o.lib.dgetri(&ln, &a[0], &ln, &ipiv[0], &work[0], &lwork, &info)
	}
	o.pool.release()
	if info != 0 {
		return false, fmt.Errorf("linalg: inverse of a %d×%d matrix: dgetri info=%d", n, n, info)
	}
	return true, nil
}

// checkGemm panics, as the reference BLAS would report, when the arguments of
// a row-major gemm do not describe matrices inside the given slices. It is
// what keeps a bad call from writing outside Go memory in C.
func checkGemm(name string, transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("linalg: %s: negative dimension m=%d n=%d k=%d", name, m, n, k))
	}
	check := func(what string, rows, cols, ld, length int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("linalg: %s: ld%s=%d < max(1, %d)", name, what, ld, cols))
		}
		if ld > math.MaxInt32 {
			panic(fmt.Sprintf("linalg: %s: ld%s=%d does not fit a 32-bit int", name, what, ld))
		}
		if rows > 0 && cols > 0 && length < (rows-1)*ld+cols {
			panic(fmt.Sprintf("linalg: %s: %s has %d elements, a %d×%d matrix with stride %d needs %d", name, what, length, rows, cols, ld, (rows-1)*ld+cols))
		}
	}
	if m > math.MaxInt32 || n > math.MaxInt32 || k > math.MaxInt32 {
		panic(fmt.Sprintf("linalg: %s: dimension m=%d n=%d k=%d does not fit a 32-bit int", name, m, n, k))
	}
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	check("a", ra, ca, lda, lenA)
	check("b", rb, cb, ldb, lenB)
	check("c", m, n, ldc, lenC)
}

// scaleMatrix sets C = beta·C; beta = 0 clears C (NaNs included), as BLAS does.
func scaleMatrix[T Float](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// checkSVDArgs validates the arguments of Backend.SVD.
func checkSVDArgs(m, n, length int) error {
	if m < 0 || n < 0 {
		return fmt.Errorf("linalg: SVD: negative dimension %d×%d", m, n)
	}
	if length < m*n {
		return fmt.Errorf("linalg: SVD: a %d×%d matrix needs %d elements, have %d", m, n, m*n, length)
	}
	return nil
}
