package bench

import (
	"context"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/transfer"
)

// BenchmarkEigAgainstRounding measures what linalg/eig.go states about
// MethodEig on real statistics: on the bench's ViT-B/16 pair (24 images),
// each statistic of 768 rows is accumulated in batches of 8 and again in
// batches of 4, which differ by float32 rounding only. For each it compares
// the eigen path's difference from the SVD's map (on the batch-8
// statistic) with the change of the SVD's map between the two
// accumulations, and reports the smallest and the median ratio of the
// latter over the former (above 1: the eigen path moves the map less than
// rounding does) and how many ranks differ. It takes a few minutes; run it
// with -benchtime 1x.
func BenchmarkEigAgainstRounding(b *testing.B) {
	be, err := linalg.OpenBLAS(0)
	if err != nil {
		b.Skipf("OpenBLAS: %v", err)
	}
	s := ViTB16
	a, t, err := Models(s, s, 2)
	if err != nil {
		b.Fatal(err)
	}
	calib := Samples(s, 24, 1000, 1)
	ft := fineTuned(b, a)
	m, _ := transfer.Lookup("bico")
	stats := func(batch int) map[transfer.StatKey]*transfer.Stat {
		p, err := transfer.Prepare(context.Background(), transfer.Models{SourceBase: a, SourceFinetuned: ft, TargetBase: t}, calib, m.Needs(), transfer.Options{Backend: be, BatchSize: batch})
		if err != nil {
			b.Fatal(err)
		}
		return p.Stats
	}
	for b.Loop() {
		s8, s4 := stats(8), stats(4)
		single, _ := linalg.OpenBLAS(1)
		var ratios []float64
		rankDiffs := 0
		for k, st := range s8 {
			n := st.DA
			if n != 768 || st.DB != n {
				continue
			}
			svd := procrustes(b, single, st.C, n, linalg.MethodSVD)
			eig := procrustes(b, single, st.C, n, linalg.MethodEig)
			ref := procrustes(b, single, s4[k].C, n, linalg.MethodSVD)
			if eig.Rank != svd.Rank {
				rankDiffs++
			}
			if d := rms(eig.T, svd.T); d > 0 {
				ratios = append(ratios, rms(ref.T, svd.T)/d)
			}
		}
		sort.Float64s(ratios)
		if len(ratios) == 0 {
			b.Fatal("no statistic of 768 rows")
		}
		b.ReportMetric(float64(len(ratios)), "statistics")
		b.ReportMetric(ratios[0], "min-ratio")
		b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
		b.ReportMetric(float64(rankDiffs), "rank-diffs")
	}
}

func procrustes(b *testing.B, be linalg.Backend, c []float64, n int, m linalg.Method) linalg.ProcrustesResult {
	r, err := linalg.ProcrustesWith(be, slices.Clone(c), n, n, linalg.ProcrustesOptions{Method: m})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// rms is the root-mean-square difference of a and b per row of an n×n
// map: ‖a − b‖_F/√n.
func rms(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s / math.Sqrt(float64(len(a))))
}
