package bench

import (
	"context"
	"testing"
	"time"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/transfer"
)

// BenchmarkPartialFineTune measures what leaving out the sites a fine-tune
// did not change saves, on a SmolLM2-135M-shaped pair: the calibration
// pass (two batches of 8 sequences) and the transfer step of BiCo for a
// full fine-tune and for one that changed only the query and value
// projections (the usual targets of a LoRA, merged), one after the other
// in the same run. It reports each one's statistics, and partial over full
// for the statistics' memory, the calibration pass and the transfer step.
// It takes a few minutes; run it with -benchtime 1x.
func BenchmarkPartialFineTune(b *testing.B) {
	be := linalg.MustDefault()
	s := SmolLM2
	a, t, err := Models(s, s, 1)
	if err != nil {
		b.Fatal(err)
	}
	calib := Samples(s, 16, s.NumLabels(), 2)
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
		full, part := measure(), measure("query", "value")
		b.ReportMetric(float64(full.stats), "full-statistics")
		b.ReportMetric(float64(part.stats), "qv-statistics")
		b.ReportMetric(float64(part.statBytes)/float64(full.statBytes), "qv/full-stat-bytes")
		b.ReportMetric(full.calibSeconds, "full-calib-s")
		b.ReportMetric(part.calibSeconds/full.calibSeconds, "qv/full-calib")
		b.ReportMetric(full.transferSec, "full-transfer-s")
		b.ReportMetric(part.transferSec/full.transferSec, "qv/full-transfer")
	}
}
