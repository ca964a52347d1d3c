package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// blockedSizes cross every block boundary of the Go GEMM (kc, mc, nc) and
// are large enough for the pool to split them.
var blockedSizes = [][3]int{{300, 40, 600}, {13, 3100, 20}, {200, 200, 300}, {6, 16, 257}, {97, 161, 5}}

// testBlocked compares a product against the float64 triple loop for every
// transposition, with strides wider than the rows.
func testBlocked[T Float](t *testing.T, gemm func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int), tol float64) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range blockedSizes {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				ra, ca := m, k
				if ta {
					ra, ca = k, m
				}
				rb, cb := k, n
				if tb {
					rb, cb = n, k
				}
				lda, ldb, ldc := ca+1, cb+3, n+2
				fill := func(rows, ld int) []T {
					x := make([]T, rows*ld)
					for i := range x {
						x[i] = T(rng.NormFloat64())
					}
					return x
				}
				a, b, c := fill(ra, lda), fill(rb, ldb), fill(m, ldc)
				want := append([]T(nil), c...)
				naiveGemm(ta, tb, m, n, k, 0.7, a, lda, b, ldb, -1.5, want, ldc)
				gemm(ta, tb, m, n, k, 0.7, a, lda, b, ldb, -1.5, c, ldc)
				if d := maxAbsDiff(c, want); !(d <= tol*math.Sqrt(float64(k))*math.Max(1, maxAbs(want))) {
					t.Errorf("%dx%dx%d tA=%v tB=%v: max |C − naive| = %g", m, n, k, ta, tb, d)
				}
				// Padding between rows is untouched.
				for i := 0; i < m; i++ {
					for j := n; j < ldc && i*ldc+j < len(c); j++ {
						if c[i*ldc+j] != want[i*ldc+j] {
							t.Fatalf("%dx%dx%d tA=%v tB=%v: padding C[%d][%d] written", m, n, k, ta, tb, i, j)
						}
					}
				}
			}
		}
	}
}

func TestGemmBlocked(t *testing.T) {
	for _, threads := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("go/%d", threads), func(t *testing.T) {
			be := GoThreads(threads)
			testBlocked[float32](t, be.Sgemm, 2e-6)
			testBlocked[float64](t, be.Dgemm, 1e-14)
		})
		t.Run(fmt.Sprintf("openblas/%d", threads), func(t *testing.T) {
			be := openblasOrSkip(t, threads)
			testBlocked[float32](t, be.Sgemm, 2e-6)
			testBlocked[float64](t, be.Dgemm, 1e-14)
		})
	}
}

// TestGemmPortableKernel runs the blocked product with the Go micro-kernels
// that serve CPUs without the assembly ones.
func TestGemmPortableKernel(t *testing.T) {
	s := &gemmShape[float32]{name: "go-4x8", mr: 4, nr: 8, kc: 64, mc: 16, nc: 128, kernel: goKernel[float32](4, 8)}
	d := &gemmShape[float64]{name: "go-4x4", mr: 4, nr: 4, kc: 64, mc: 16, nc: 128, kernel: goKernel[float64](4, 4)}
	p := newPool(2)
	testBlocked[float32](t, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		goGemm(p, s, "Sgemm", ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}, 2e-6)
	testBlocked[float64](t, func(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
		goGemm(p, d, "Dgemm", ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}, 1e-14)
}

// TestMicroKernels checks the active micro-kernels against the portable
// ones on one tile, for beta 0 (C not read: NaN there must vanish), 1 and
// another value, and k from 0 to past the unrolled loop.
func TestMicroKernels(t *testing.T) {
	t.Logf("kernels: %s, %s", sgemmShape.name, dgemmShape.name)
	checkKernel(t, sgemmShape, 1e-5)
	checkKernel(t, dgemmShape, 1e-13)
}

func checkKernel[T Float](t *testing.T, sh *gemmShape[T], tol float64) {
	rng := rand.New(rand.NewPCG(9, 10))
	mr, nr := sh.mr, sh.nr
	ref := goKernel[T](mr, nr)
	for _, k := range []int{0, 1, 3, 4, 5, 8, 17, 256} {
		for _, beta := range []T{0, 1, -0.25} {
			a, b := make([]T, max(k*mr, 1)), make([]T, max(k*nr, 1))
			for i := range a {
				a[i] = T(rng.NormFloat64())
			}
			for i := range b {
				b[i] = T(rng.NormFloat64())
			}
			ldc := nr + 3
			c := make([]T, mr*ldc)
			for i := range c {
				c[i] = T(rng.NormFloat64())
				if beta == 0 {
					c[i] = T(math.NaN())
				}
			}
			want := append([]T(nil), c...)
			ref(k, &a[0], &b[0], &want[0], ldc, 1.5, beta)
			sh.kernel(k, &a[0], &b[0], &c[0], ldc, 1.5, beta)
			for r := 0; r < mr; r++ {
				for j := 0; j < ldc; j++ {
					g, w := float64(c[r*ldc+j]), float64(want[r*ldc+j])
					if j >= nr {
						if !(g == w || (math.IsNaN(g) && math.IsNaN(w))) {
							t.Fatalf("%s k=%d beta=%v: wrote outside the tile at (%d, %d)", sh.name, k, beta, r, j)
						}
						continue
					}
					if !(math.Abs(g-w) <= tol*(1+math.Abs(w))) {
						t.Fatalf("%s k=%d beta=%v: C[%d][%d] = %g, want %g", sh.name, k, beta, r, j, g, w)
					}
				}
			}
		}
	}
}

// TestConcurrentSplit runs products of many shapes from many goroutines at
// once on backends with a small thread budget: pieces of split products and
// whole products interleave in the library; each result must match.
func TestConcurrentSplit(t *testing.T) {
	bes := []Backend{GoThreads(2)}
	if ob, err := LoadOpenBLAS(2); err == nil {
		bes = append(bes, ob)
	}
	for _, be := range bes {
		t.Run(be.Name(), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan string, 16)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 11))
					for it := 0; it < 6; it++ {
						m, n, k := 1+rng.IntN(300), 1+rng.IntN(300), 1+rng.IntN(300)
						a, b := make([]float32, m*k), make([]float32, k*n)
						for i := range a {
							a[i] = float32(rng.NormFloat64())
						}
						for i := range b {
							b[i] = float32(rng.NormFloat64())
						}
						c, want := make([]float32, m*n), make([]float32, m*n)
						naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
						be.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
						if d := maxAbsDiff(c, want); d > 1e-4*math.Sqrt(float64(k)) {
							errs <- fmt.Sprintf("goroutine %d: %dx%dx%d off by %g", g, m, n, k, d)
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
		})
	}
}
