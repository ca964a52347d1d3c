package linalg

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ebitengine/purego"
)

// benchBackends returns the backends to benchmark: OpenBLAS (when it loads)
// and Go.
func benchBackends(b *testing.B) []Backend {
	bes := []Backend{}
	if ob, err := OpenBLAS(0); err == nil {
		bes = append(bes, ob)
	} else {
		b.Logf("OpenBLAS not benchmarked: %v", err)
	}
	return append(bes, Go())
}

// BenchmarkSgemm measures C = A·B for n×n float32 matrices.
func BenchmarkSgemm(b *testing.B) {
	for _, be := range benchBackends(b) {
		for _, n := range []int{256, 1024, 2048} {
			b.Run(fmt.Sprintf("%s/%d", be.Name(), n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				x, y, z := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
				for i := range x {
					x[i], y[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				}
				if n >= 2048 && be.Name() == "go" {
					// Estimate from a half-size product and skip when one
					// operation would take over 10 s.
					h := n / 2
					t0 := time.Now()
					be.Sgemm(false, false, h, h, h, 1, x, h, y, h, 0, z, h)
					if est := 8 * time.Since(t0); est > 10*time.Second {
						b.Skipf("pure Go at %d: about %v per operation", n, est.Round(time.Second))
					}
				}
				be.Sgemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n) // warm up
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					be.Sgemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
				}
				sec := time.Since(start).Seconds()
				b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkCallOverhead shows the per-call cost of small float32 products.
func BenchmarkCallOverhead(b *testing.B) {
	for _, be := range benchBackends(b) {
		for _, n := range []int{16, 64} {
			b.Run(fmt.Sprintf("%s/%d", be.Name(), n), func(b *testing.B) {
				x, y, z := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
				for i := range x {
					x[i], y[i] = 1, 1
				}
				for i := 0; i < b.N; i++ {
					be.Sgemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
				}
			})
		}
	}
}

// BenchmarkDgemm is BenchmarkSgemm in float64, at 1024.
func BenchmarkDgemm(b *testing.B) {
	for _, be := range benchBackends(b) {
		const n = 1024
		b.Run(fmt.Sprintf("%s/%d", be.Name(), n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x, y, z := randMatrix(rng, n, n), randMatrix(rng, n, n), make([]float64, n*n)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				be.Dgemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
			}
			sec := time.Since(start).Seconds()
			b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/sec/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSVD measures the thin SVD of an n×n float64 matrix (dgesdd on
// OpenBLAS). The Go backend at 1024 takes about 10 s per operation and is
// skipped with -short.
func BenchmarkSVD(b *testing.B) {
	for _, be := range benchBackends(b) {
		for _, n := range []int{256, 1024} {
			b.Run(fmt.Sprintf("%s/%d", be.Name(), n), func(b *testing.B) {
				if be.Name() == "go" && n >= 1024 && testing.Short() {
					b.Skip("slow in pure Go; run without -short")
				}
				a := randMatrix(rand.New(rand.NewPCG(2, 2)), n, n)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, _, _, err := be.SVD(n, n, a); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkProcrustes compares the SVD and polar paths at 512.
func BenchmarkProcrustes(b *testing.B) {
	for _, be := range benchBackends(b) {
		const n = 512
		rng := rand.New(rand.NewPCG(3, 3))
		c := alignedStatistic(rng, randOrthogonal(rng, n, n), n, n, 2*n, 0.1)
		for _, m := range []Method{MethodSVD, MethodPolar} {
			b.Run(fmt.Sprintf("%s/%v/%d", be.Name(), m, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: m}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMapMethods times, single-threaded on OpenBLAS (as maps computed
// side by side run), three ways to the SVD's Procrustes map of the
// cross-covariance of 2n Gaussian rows (condition numbers in the
// thousands): the SVD itself, Newton's polar iteration and the eigen path
// (MethodEig), and reports each one's time over the SVD's in the same run
// (newton/svd, eig/svd): the measurements behind AutoMinSize and
// eigMinSize. n = 3072 (the MLP statistics of ViT-B/16) is skipped with
// -short.
func BenchmarkMapMethods(b *testing.B) {
	be, err := OpenBLAS(1)
	if err != nil {
		b.Skipf("OpenBLAS: %v", err)
	}
	for _, n := range []int{128, 256, 512, 768, 1536, 3072} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 1536 && testing.Short() {
				b.Skip("large; run without -short")
			}
			rng := rand.New(rand.NewPCG(4, uint64(n)))
			x, y := randMatrix(rng, 2*n, n), randMatrix(rng, 2*n, n)
			c := make([]float64, n*n)
			be.Dgemm(true, false, n, n, 2*n, 1, x, n, y, n, 0, c, n)
			var svd, newton, eig time.Duration
			iters := 0
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodSVD}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				_, it, err := PolarNewton(be, c, n, DefaultPolarTol, DefaultPolarMaxIter)
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				r, err := ProcrustesWith(be, c, n, n, ProcrustesOptions{Method: MethodEig, SkipOrthError: true})
				if err != nil || r.Method != MethodEig {
					b.Fatalf("eig: %v, computed by %v", err, r.Method)
				}
				svd, newton, eig, iters = svd+t1.Sub(t0), newton+t2.Sub(t1), eig+time.Since(t2), it
			}
			b.ReportMetric(svd.Seconds()/float64(b.N), "svd-s/op")
			b.ReportMetric(newton.Seconds()/svd.Seconds(), "newton/svd")
			b.ReportMetric(eig.Seconds()/svd.Seconds(), "eig/svd")
			b.ReportMetric(float64(iters), "newton-steps")
		})
	}
}

// BenchmarkSVDScaling measures what bounds the transfer step, whose time
// is almost all SVDs (one per statistic, computed side by side on
// single-threaded backends, as transfer's maps are). At each size it times,
// on single-threaded OpenBLAS, one float64 product n×n·n×n and one SVD
// alone, then two of each at once on two goroutines, and reports the SVD's
// time (svd-s), how many products one SVD costs (svd/dgemm), and the
// throughput gained by running two side by side (2·alone/pair: 2 when both
// cores are used fully, 1 when the second adds nothing). A polar method
// made of products must beat svd/dgemm products' worth of work to be
// faster than the SVD. n = 3072 (the MLP statistics of ViT-B/16) is
// skipped with -short.
func BenchmarkSVDScaling(b *testing.B) {
	for _, n := range []int{768, 1536, 3072} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 1536 && testing.Short() {
				b.Skip("large; run without -short")
			}
			bes := [2]Backend{}
			for i := range bes {
				be, err := OpenBLAS(1)
				if err != nil {
					b.Skipf("OpenBLAS: %v", err)
				}
				bes[i] = be
			}
			rng := rand.New(rand.NewPCG(5, uint64(n)))
			x := [2][]float64{randMatrix(rng, n, n), randMatrix(rng, n, n)}
			z := [2][]float64{make([]float64, n*n), make([]float64, n*n)}
			gemm := func(i int) { bes[i].Dgemm(false, false, n, n, n, 1, x[i], n, x[1-i], n, 0, z[i], n) }
			svd := func(i int) {
				if _, _, _, err := bes[i].SVD(n, n, x[i]); err != nil {
					b.Error(err)
				}
			}
			var gemmOne, gemmTwo, svdOne, svdTwo time.Duration
			for i := 0; i < b.N; i++ {
				gemmOne += timeRuns(gemm, 1)
				gemmTwo += timeRuns(gemm, 2)
				svdOne += timeRuns(svd, 1)
				svdTwo += timeRuns(svd, 2)
			}
			b.ReportMetric(svdOne.Seconds()/float64(b.N), "svd-s")
			b.ReportMetric(svdOne.Seconds()/gemmOne.Seconds(), "svd/dgemm")
			b.ReportMetric(2*svdOne.Seconds()/svdTwo.Seconds(), "svd-pair-speedup")
			b.ReportMetric(2*gemmOne.Seconds()/gemmTwo.Seconds(), "dgemm-pair-speedup")
		})
	}
}

// timeRuns runs f(0), …, f(k−1) on k goroutines at once and returns the
// wall time until all have returned.
func timeRuns(f func(int), k int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range k {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
	return time.Since(t0)
}

// BenchmarkSVDStages splits LAPACK's SVD (single-threaded OpenBLAS) into
// its stages on a random n×n matrix: the bidiagonal reduction (dgebrd),
// forming its two orthogonal factors (dorgbr), the bidiagonal SVD with
// vectors (dbdsdc) and the products that apply them, and reports each
// stage's share of the SVD's time (which dgesdd spends on about the same
// stages), with the reduction's GFLOP/s (8n³/3 flops) against dgemm's. The
// reduction runs at a fraction of dgemm's rate because half of its work is
// matrix–vector products; it is the part a faster SVD would replace.
func BenchmarkSVDStages(b *testing.B) {
	for _, n := range []int{768, 1536, 3072} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 1536 && testing.Short() {
				b.Skip("large; run without -short")
			}
			be, err := LoadOpenBLAS(1)
			if err != nil {
				b.Skipf("OpenBLAS: %v", err)
			}
			st, err := bindSVDStages(be.Library())
			if err != nil {
				b.Skip(err)
			}
			a0 := randMatrix(rand.New(rand.NewPCG(6, uint64(n))), n, n)
			var svd, brd, org, bd, gemm time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, _, _, err := be.SVD(n, n, a0); err != nil {
					b.Fatal(err)
				}
				svd += time.Since(t0)
				s := st.run(b, n, a0)
				brd, org, bd = brd+s[0], org+s[1], bd+s[2]
				c := make([]float64, n*n)
				t0 = time.Now()
				be.Dgemm(false, false, n, n, n, 1, a0, n, a0, n, 0, c, n)
				gemm += time.Since(t0)
			}
			nf := float64(n)
			b.ReportMetric(svd.Seconds()/float64(b.N), "svd-s")
			b.ReportMetric(brd.Seconds()/svd.Seconds(), "dgebrd/svd")
			b.ReportMetric(org.Seconds()/svd.Seconds(), "dorgbr/svd")
			b.ReportMetric(bd.Seconds()/svd.Seconds(), "dbdsdc/svd")
			b.ReportMetric(2*gemm.Seconds()/svd.Seconds(), "2dgemm/svd")
			b.ReportMetric(8*nf*nf*nf/3*float64(b.N)/brd.Seconds()/1e9, "dgebrd-GFLOP/s")
			b.ReportMetric(2*nf*nf*nf*float64(b.N)/gemm.Seconds()/1e9, "dgemm-GFLOP/s")
		})
	}
}

// svdStages holds the LAPACK routines BenchmarkSVDStages times, which the
// backend itself does not bind.
type svdStages struct {
	dgebrd func(m, n *int32, a *float64, lda *int32, d, e, tauq, taup, work *float64, lwork, info *int32)
	dorgbr func(vect *byte, m, n, k *int32, a *float64, lda *int32, tau, work *float64, lwork, info *int32, vectLen uintptr)
	dbdsdc func(uplo, compq *byte, n *int32, d, e, u *float64, ldu *int32, vt *float64, ldvt *int32, q *float64, iq *int32, work *float64, iwork, info *int32, uploLen, compqLen uintptr)
}

// bindSVDStages binds svdStages from the already loaded library.
func bindSVDStages(path string) (*svdStages, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, err
	}
	st := &svdStages{}
	for _, s := range []struct {
		fptr any
		name string
	}{{&st.dgebrd, "dgebrd_"}, {&st.dorgbr, "dorgbr_"}, {&st.dbdsdc, "dbdsdc_"}} {
		addr, err := purego.Dlsym(h, s.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		purego.RegisterFunc(s.fptr, addr)
	}
	return st, nil
}

// run times the reduction, the forming of both factors and the bidiagonal
// SVD of a copy of the n×n matrix a0.
func (st *svdStages) run(b *testing.B, n int, a0 []float64) [3]time.Duration {
	var out [3]time.Duration
	N, info := int32(n), int32(0)
	a := append([]float64(nil), a0...)
	d, e, tq, tp := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	lw := int32(64 * n)
	work := make([]float64, lw)
	t0 := time.Now()
	st.dgebrd(&N, &N, &a[0], &N, &d[0], &e[0], &tq[0], &tp[0], &work[0], &lw, &info)
	out[0] = time.Since(t0)
	q, p := append([]float64(nil), a...), a
	vq, vp := byte('Q'), byte('P')
	t0 = time.Now()
	st.dorgbr(&vq, &N, &N, &N, &q[0], &N, &tq[0], &work[0], &lw, &info, 1)
	st.dorgbr(&vp, &N, &N, &N, &p[0], &N, &tp[0], &work[0], &lw, &info, 1)
	out[1] = time.Since(t0)
	u, vt := make([]float64, n*n), make([]float64, n*n)
	iwork := make([]int32, 8*n)
	bwork := make([]float64, 3*n*n+4*n)
	up, ci := byte('U'), byte('I')
	t0 = time.Now()
	st.dbdsdc(&up, &ci, &N, &d[0], &e[0], &u[0], &N, &vt[0], &N, nil, nil, &bwork[0], &iwork[0], &info, 1, 1)
	out[2] = time.Since(t0)
	if info != 0 {
		b.Fatalf("dbdsdc: info %d", info)
	}
	return out
}
