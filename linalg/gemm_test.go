package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// naiveGemm computes C = alpha·op(A)·op(B) + beta·C by the triple loop in
// float64, with beta = 0 ignoring C's contents.
func naiveGemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	at := func(i, l int) float64 {
		if transA {
			return float64(a[l*lda+i])
		}
		return float64(a[i*lda+l])
	}
	bt := func(l, j int) float64 {
		if transB {
			return float64(b[j*ldb+l])
		}
		return float64(b[l*ldb+j])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for l := 0; l < k; l++ {
				s += at(i, l) * bt(l, j)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = T(v)
		}
	}
}

func testGemm[T Float](t *testing.T, be Backend, tol float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [][3]int{{1, 1, 1}, {7, 5, 3}, {17, 13, 29}, {33, 1, 8}, {1, 40, 9}, {65, 31, 70}, {5, 6, 0}}
	for _, sz := range sizes {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, betaCase := range []float64{0, 1, -0.7} {
					name := fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/beta=%v", m, n, k, ta, tb, betaCase)
					ra, ca := m, k
					if ta {
						ra, ca = k, m
					}
					rb, cb := k, n
					if tb {
						rb, cb = n, k
					}
					// Strides wider than the rows, and padding left untouched.
					lda, ldb, ldc := ca+3, cb+2, n+5
					fill := func(rows, ld int) []T {
						x := make([]T, max(rows*ld, 1))
						for i := range x {
							x[i] = T(rng.NormFloat64())
						}
						return x
					}
					a, b, c := fill(ra, lda), fill(rb, ldb), fill(m, ldc)
					if betaCase == 0 {
						// beta = 0 must overwrite C, NaNs included.
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								c[i*ldc+j] = T(math.NaN())
							}
						}
					}
					want := append([]T(nil), c...)
					alpha, beta := T(1.3), T(betaCase)
					naiveGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
					Gemm(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					scale := math.Max(1, maxAbs(want))
					if d := maxAbsDiff(c, want); !(d <= tol*scale*math.Max(1, float64(k))) {
						t.Errorf("%s: max |C − naive| = %g (scale %g)", name, d, scale)
					}
					_ = cb
				}
			}
		}
	}
}

func TestGemm(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		t.Run("float32", func(t *testing.T) { testGemm[float32](t, be, 1e-6) })
		t.Run("float64", func(t *testing.T) { testGemm[float64](t, be, 1e-14) })
	})
}

func TestGemmBadArgumentsPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		cases := map[string]func(){
			"short a": func() {
				be.Sgemm(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
			},
			"small ldc": func() {
				be.Dgemm(false, false, 4, 4, 4, 1, make([]float64, 16), 4, make([]float64, 16), 4, 0, make([]float64, 16), 3)
			},
			"transposed a stride": func() {
				be.Dgemm(true, false, 4, 4, 2, 1, make([]float64, 16), 2, make([]float64, 16), 4, 0, make([]float64, 16), 4)
			},
		}
		for name, f := range cases {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: no panic", name)
					}
				}()
				f()
			}()
		}
	})
}

func TestOpenBLASLoad(t *testing.T) {
	b := openblasOrSkip(t, 0)
	if b.Name() != "openblas" {
		t.Errorf("Name = %q", b.Name())
	}
	if got := b.Threads(); got < 1 || got > runtime.NumCPU() {
		t.Errorf("Threads = %d with NumCPU %d", got, runtime.NumCPU())
	}
	if !strings.Contains(b.Config(), "OpenBLAS") {
		t.Errorf("Config = %q", b.Config())
	}
	one := openblasOrSkip(t, 1)
	if one.Threads() != 1 {
		t.Errorf("Threads = %d, want 1", one.Threads())
	}
	t.Logf("%s: %s, %d threads", b.Library(), b.Config(), b.Threads())
}

func TestOpenBLASLoadErrorMessage(t *testing.T) {
	_, err := openOpenBLASNamed([]string{"libno-such-openblas.so.0"})
	if err == nil {
		t.Fatal("loading a missing library succeeded")
	}
	if !strings.Contains(err.Error(), "apt-get install libopenblas-dev") || !strings.Contains(err.Error(), "BICO_BLAS=go") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
}

func TestOpen(t *testing.T) {
	if b, err := Open("go"); err != nil || b.Name() != "go" {
		t.Errorf(`Open("go") = %v, %v`, b, err)
	}
	if _, err := Open("cuda"); err == nil {
		t.Error(`Open("cuda") succeeded`)
	}
	b, err := Open("auto")
	if err != nil {
		t.Fatalf(`Open("auto"): %v`, err)
	}
	if _, lerr := LoadOpenBLAS(0); (lerr == nil) != (b.Name() == "openblas") {
		t.Errorf(`Open("auto") = %s with OpenBLAS load error %v`, b.Name(), lerr)
	}
	switch env := os.Getenv(EnvVar); env {
	case "go", "openblas":
		d, err := Default()
		if err != nil {
			t.Fatalf("Default with %s=%s: %v", EnvVar, env, err)
		}
		if d.Name() != env {
			t.Errorf("Default with %s=%s is %s", EnvVar, env, d.Name())
		}
	}
}

// TestConcurrent calls both OpenBLAS thread settings and the Go backend from
// many goroutines at once; every result must match the serial one.
func TestConcurrent(t *testing.T) {
	ob1 := openblasOrSkip(t, 1)
	ob2 := openblasOrSkip(t, 2)
	bes := []Backend{ob1, ob2, Go()}
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 96
	a, b := randMatrix(rng, n, n), randMatrix(rng, n, n)
	want := mul(a, b, n, n, n)
	sv := randMatrix(rng, 40, 25)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			be := bes[g%len(bes)]
			for it := 0; it < 10; it++ {
				c := make([]float64, n*n)
				be.Dgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
				if d := maxAbsDiff(c, want); d > 1e-10 {
					errs <- fmt.Sprintf("%s/%d threads: Dgemm off by %g", be.Name(), be.Threads(), d)
					return
				}
				u, s, vt, err := be.SVD(40, 25, sv)
				if err != nil {
					errs <- err.Error()
					return
				}
				if d := svdResidual(u, s, vt, sv, 40, 25); d > 1e-12 {
					errs <- fmt.Sprintf("%s: SVD residual %g", be.Name(), d)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestBackendsAgree compares OpenBLAS with the Go backend on the same inputs.
func TestBackendsAgree(t *testing.T) {
	ob := openblasOrSkip(t, 0)
	gb := Go()
	rng := rand.New(rand.NewPCG(5, 6))
	rel := func(a, b []float64) float64 { return maxAbsDiff(a, b) / math.Max(maxAbs(b), 1e-300) }

	const m, n, k = 70, 45, 130
	a64, b64 := randMatrix(rng, m, k), randMatrix(rng, k, n)
	a32, b32 := make([]float32, len(a64)), make([]float32, len(b64))
	for i, v := range a64 {
		a32[i] = float32(v)
	}
	for i, v := range b64 {
		b32[i] = float32(v)
	}
	c1, c2 := make([]float32, m*n), make([]float32, m*n)
	ob.Sgemm(false, false, m, n, k, 1, a32, k, b32, n, 0, c1, n)
	gb.Sgemm(false, false, m, n, k, 1, a32, k, b32, n, 0, c2, n)
	d1, d2 := make([]float64, m*n), make([]float64, m*n)
	for i := range c1 {
		d1[i], d2[i] = float64(c1[i]), float64(c2[i])
	}
	if r := rel(d1, d2); r > 1e-5 {
		t.Errorf("Sgemm: relative difference %g", r)
	}
	e1, e2 := make([]float64, m*n), make([]float64, m*n)
	ob.Dgemm(false, false, m, n, k, 1, a64, k, b64, n, 0, e1, n)
	gb.Dgemm(false, false, m, n, k, 1, a64, k, b64, n, 0, e2, n)
	if r := rel(e1, e2); r > 1e-12 {
		t.Errorf("Dgemm: relative difference %g", r)
	}

	for _, sh := range [][2]int{{40, 40}, {50, 30}, {30, 50}} {
		c := randMatrix(rng, sh[0], sh[1])
		_, s1, _, err1 := ob.SVD(sh[0], sh[1], c)
		_, s2, _, err2 := gb.SVD(sh[0], sh[1], c)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if r := rel(s1, s2); r > 1e-5 {
			t.Errorf("SVD %v: singular values differ by %g relative", sh, r)
		}
		t1, err1 := Procrustes(ob, c, sh[0], sh[1])
		t2, err2 := Procrustes(gb, c, sh[0], sh[1])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if r := rel(t1, t2); r > 1e-5 {
			t.Errorf("Procrustes %v: maps differ by %g relative", sh, r)
		}
	}
}

func TestCoreTypeForFlags(t *testing.T) {
	cases := map[string]string{
		"processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl\n": "SKYLAKEX",
		"flags\t\t: fpu sse sse2 avx avx2 fma\n": "HASWELL",
		"flags\t\t: fpu sse sse2 sse3 avx\n":     "",
		"model name\t: x\n":                      "",
	}
	for info, want := range cases {
		if got := coreTypeForFlags(info); got != want {
			t.Errorf("coreTypeForFlags(%q) = %q, want %q", info, got, want)
		}
	}
}
