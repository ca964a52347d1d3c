package bench

import (
	"context"
	"testing"
	"time"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/transfer"
)

// BenchmarkPartialFineTune measures what leaving out the sites a fine-tune
// did not change saves: the calibration pass (two batches of 8) and the
// transfer step of BiCo for a full fine-tune and for a partial one, one
// after the other in the same run, on a SmolLM2-135M-shaped pair whose
// fine-tune changed only the query and value projections (the usual
// targets of a LoRA, merged), and on a ViT-B/16-shaped pair whose
// fine-tune changed only the head (a linear probe: the backward pass stops
// at the head). It reports each one's statistics, and partial over full for
// the statistics' memory, the calibration pass and the transfer step. It
// takes several minutes; run it with -benchtime 1x.
func BenchmarkPartialFineTune(b *testing.B) {
	for _, c := range []struct {
		name  string
		shape Arch
		roles []string
	}{
		{"smollm2-qv", SmolLM2, []string{"query", "value"}},
		{"vitb16-head", ViTB16, []string{"head"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			if testing.Short() {
				b.Skip("minutes; run without -short")
			}
			benchPartial(b, c.shape, c.roles)
		})
	}
}

func benchPartial(b *testing.B, s Arch, roles []string) {
	be := linalg.MustDefault()
	a, t, err := Models(s, s, 1)
	if err != nil {
		b.Fatal(err)
	}
	calib := Samples(s, 16, min(s.NumLabels(), 10), 2)
	bico, _ := transfer.Lookup("bico")
	type run struct {
		stats                     int
		statBytes                 int64
		calibSeconds, transferSec float64
	}
	measure := func(roles ...string) run {
		ft, err := FineTune(a, 9, roles...)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		p, err := transfer.Prepare(context.Background(), transfer.Models{SourceBase: a, SourceFinetuned: ft, TargetBase: t}, calib, bico.Needs(), transfer.Options{Backend: be, BatchSize: 8})
		if err != nil {
			b.Fatal(err)
		}
		r := run{stats: len(p.Stats), calibSeconds: time.Since(start).Seconds()}
		for _, st := range p.Stats {
			r.statBytes += 8 * int64(st.DA*st.DB+2*st.DA+2*st.DB)
		}
		start = time.Now()
		if _, _, err := bico.Delta(p); err != nil {
			b.Fatal(err)
		}
		r.transferSec = time.Since(start).Seconds()
		return r
	}
	for b.Loop() {
		full, part := measure(), measure(roles...)
		b.ReportMetric(float64(full.stats), "full-statistics")
		b.ReportMetric(float64(part.stats), "partial-statistics")
		b.ReportMetric(float64(part.statBytes)/float64(full.statBytes), "partial/full-stat-bytes")
		b.ReportMetric(full.calibSeconds, "full-calib-s")
		b.ReportMetric(part.calibSeconds/full.calibSeconds, "partial/full-calib")
		b.ReportMetric(full.transferSec, "full-transfer-s")
		b.ReportMetric(part.transferSec/full.transferSec, "partial/full-transfer")
	}
}
