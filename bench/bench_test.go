package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/transfer"
)

// counting wraps a backend and counts the FLOPs of its float32 products.
type counting struct {
	linalg.Backend
	flops atomic.Int64
}

func (c *counting) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cc []float32, ldc int) {
	c.flops.Add(2 * int64(m) * int64(n) * int64(k))
	c.Backend.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc)
}

// TestCalibFLOPs checks the analytic count against the products the
// calibration pass really runs, for equal shapes and for a target with
// another patch size (and so another token count).
// fineTuned is FineTune(m) for a test: every site of a transfer from it
// has a non-zero task vector.
func fineTuned(tb testing.TB, m model.Model) model.Model {
	tb.Helper()
	ft, err := FineTune(m, 9)
	if err != nil {
		tb.Fatal(err)
	}
	return ft
}

func TestCalibFLOPs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, tgt Arch
	}{
		{"same", Small, Small},
		{"patch 7 to 4", Shape{Hidden: 32, Layers: 2, Heads: 2, MLP: 48, Image: 28, Patch: 7, Channels: 1, Classes: 5}, Shape{Hidden: 48, Layers: 3, Heads: 4, MLP: 64, Image: 28, Patch: 4, Channels: 1, Classes: 5}},
		{"llama", SmallLLM, SmallLLM},
		{"llama tied, wider and deeper", LLM{Hidden: 32, Layers: 2, Heads: 4, KVHeads: 1, MLP: 40, Vocab: 50, Seq: 9, Tied: true}, LLM{Hidden: 48, Layers: 3, Heads: 6, KVHeads: 2, MLP: 64, Vocab: 50, Seq: 9, Tied: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const batch = 3
			be := &counting{Backend: linalg.MustDefault()}
			a, b, err := Models(tc.src, tc.tgt, 1)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := transfer.Lookup("bico")
			calib := Samples(tc.src, batch, min(5, tc.src.NumLabels()), 2)
			p, err := transfer.Prepare(context.Background(), transfer.Models{SourceBase: a, SourceFinetuned: fineTuned(t, a), TargetBase: b}, calib, m.Needs(), transfer.Options{Backend: be, BatchSize: batch})
			if err != nil {
				t.Fatal(err)
			}
			got, want := float64(be.flops.Load()), CalibFLOPs(tc.src, tc.tgt, batch)
			if got != want {
				t.Errorf("counted %g FLOPs, CalibFLOPs says %g (ratio %.4f)", got, want, got/want)
			}
			// The statistics' memory is what the pass allocated for them.
			var bytes int64
			for _, st := range p.Stats {
				bytes += 8 * int64(len(st.C)+len(st.SumA)+len(st.SumB)+len(st.SqA)+len(st.SqB))
			}
			if want := StatBytes(tc.src, tc.tgt); bytes != want {
				t.Errorf("the statistics hold %d bytes, StatBytes says %d", bytes, want)
			}
		})
	}
}

// TestForwardFLOPs checks the analytic count against the products an
// evaluation really runs (on one thread, so that it keeps the counting
// backend instead of giving each worker one of its own).
func TestForwardFLOPs(t *testing.T) {
	one, err := linalg.Share(linalg.MustDefault(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Arch{Small, SmallLLM} {
		be := &counting{Backend: one}
		_, b, err := Models(s, s, 1)
		if err != nil {
			t.Fatal(err)
		}
		held := Samples(s, 5, s.NumLabels(), 2)
		if _, err := eval.Evaluate(context.Background(), be, b, held.Inputs, held.Labels, 256); err != nil {
			t.Fatal(err)
		}
		if got, want := float64(be.flops.Load()), s.ForwardFLOPs(5); got != want {
			t.Errorf("%s: counted %g FLOPs, ForwardFLOPs says %g (ratio %.4f)", s, got, want, got/want)
		}
	}
}

func TestParams(t *testing.T) {
	if got := ViTB16.Params(); got != 86_567_656 {
		t.Errorf("ViT-B/16 has %d parameters, want 86567656 (transformers' count)", got)
	}
	if got := SmolLM2.Params(); got != 134_515_008 {
		t.Errorf("SmolLM2-135M has %d parameters, want 134515008 (transformers' count)", got)
	}
	for _, s := range []Arch{Small, SmallLLM, LLM{Hidden: 32, Layers: 2, Heads: 4, KVHeads: 1, MLP: 40, Vocab: 50, Seq: 9, Tied: true}} {
		a, _, err := Models(s, s, 1)
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for _, name := range a.ParamNames() {
			n += int64(a.Param(name).Value.Numel())
		}
		if n != s.Params() {
			t.Errorf("%s has %d parameters, Params says %d", s, n, s.Params())
		}
	}
}

// TestRunSmallTune times choosing α with bico-blend on the small pair:
// every β with the whole α grid.
func TestRunSmallTune(t *testing.T) {
	res, err := Run(context.Background(), Options{SgemmSizes: []int{128}, SgemmRepeats: 2, SkipMain: true, SmallBatches: 1, SmallTransferRep: 1,
		EvalSamples: 4, EvalRepeats: 1, Method: "bico-blend", Tune: true})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Small
	m, _ := transfer.Lookup("bico-blend")
	settings := len(m.(transfer.Tunable).Settings())
	if !(s.TuneSeconds > 0) || s.TuneEvaluations != settings*len(transfer.DefaultAlphas) {
		t.Errorf("tune %g s, %d evaluations; want %d settings × %d α", s.TuneSeconds, s.TuneEvaluations, settings, len(transfer.DefaultAlphas))
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "choosing α") {
		t.Errorf("text output lacks the choice of α:\n%s", text.String())
	}
	if _, err := Run(context.Background(), Options{SgemmSizes: []int{128}, SgemmRepeats: 1, SkipMain: true, SmallBatches: 1, SmallTransferRep: 1,
		EvalSamples: -1, Tune: true}); err == nil {
		t.Error("tuning without held-out samples: no error")
	}
}

// TestRunSmall runs the whole bench on the small pair only, quickly.
func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Options{SgemmSizes: []int{128}, SgemmRepeats: 2, SkipMain: true, SmallBatches: 2, SmallTransferRep: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.PairResult != nil || res.Small == nil {
		t.Fatalf("main %v, small %v: want only the small pair", res.PairResult, res.Small)
	}
	s := res.Small
	for name, v := range map[string]float64{
		"sgemm": res.SgemmGFLOPs, "seconds per batch": s.CalibSecondsPerBatch, "GFLOP/s": s.CalibGFLOPs,
		"fraction": s.CalibFractionOfSgemm, "transfer": s.TransferSeconds, "maps": s.TransferMapsSeconds,
		"evaluation": s.EvalSeconds, "evaluation GFLOP/s": s.EvalGFLOPs, "evaluation fraction": s.EvalFractionOfSgemm,
	} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %g, want a positive figure", name, v)
		}
	}
	// The time at the ceiling is the batch time scaled by the fraction.
	if got, want := s.CalibSecondsAtCeiling, s.CalibSecondsPerBatch*s.CalibFractionOfSgemm; math.Abs(got-want) > 1e-9*want {
		t.Errorf("seconds at the ceiling %g, want %g (batch %g s at %g of the ceiling)", got, want, s.CalibSecondsPerBatch, s.CalibFractionOfSgemm)
	}
	if len(s.CalibBatchSeconds) != 2 || s.Statistics == 0 || s.Sites == 0 {
		t.Errorf("batches %v, %d statistics, %d sites", s.CalibBatchSeconds, s.Statistics, s.Sites)
	}
	if s.PeakRSSBytes <= 0 || s.MemoryBudgetBytes <= 0 {
		t.Errorf("peak RSS %d, budget %d", s.PeakRSSBytes, s.MemoryBudgetBytes)
	}
	if parts := s.WeightBytes + s.ActivationBytes + s.StatisticBytes; parts != s.MemoryBudgetBytes || s.StatisticBytes <= 0 {
		t.Errorf("budget %d, its parts %d + %d + %d", s.MemoryBudgetBytes, s.WeightBytes, s.ActivationBytes, s.StatisticBytes)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sgemm", "calibration", "of the sgemm ceiling", "at the ceiling a batch would take", "peak RSS", "transfer"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"backend", "sgemm_gflops", "small"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, js)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %g, want %g", tc.in, got, tc.want)
		}
	}
}

// BenchmarkCalibration times one calibration batch (source and target
// forward and backward, every statistic accumulated) per operation and
// reports the counted GFLOP/s. The ViT-B/16 shape needs about 6 GB and is
// skipped with -short.
func BenchmarkCalibration(b *testing.B) {
	for _, tc := range []struct {
		name  string
		shape Shape
	}{{"small", Small}, {"vit-b16", ViTB16}} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.name == "vit-b16" && testing.Short() {
				b.Skip("ViT-B/16 needs about 6 GB; run without -short")
			}
			const batch = 8
			be := linalg.MustDefault()
			a, m, err := Models(tc.shape, tc.shape, 1)
			if err != nil {
				b.Fatal(err)
			}
			bico, _ := transfer.Lookup("bico")
			// One warm-up batch, then b.N timed ones in one pass.
			calib := Samples(tc.shape, batch*(b.N+1), tc.shape.Classes, 2)
			var start time.Time
			opts := transfer.Options{Backend: be, BatchSize: batch, Progress: func(stage string, done, total int) {
				if stage == "calibration" && done == batch {
					b.ResetTimer()
					start = time.Now()
				}
			}}
			if _, err := transfer.Prepare(context.Background(), transfer.Models{SourceBase: a, SourceFinetuned: fineTuned(b, a), TargetBase: m}, calib, bico.Needs(), opts); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(CalibFLOPs(tc.shape, tc.shape, batch)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkTransfer times the transfer step (every map and the transport)
// of the small pair after a calibration pass of four batches.
func BenchmarkTransfer(b *testing.B) {
	be := linalg.MustDefault()
	a, m, err := Models(Small, Small, 1)
	if err != nil {
		b.Fatal(err)
	}
	bico, _ := transfer.Lookup("bico")
	p, err := transfer.Prepare(context.Background(), transfer.Models{SourceBase: a, SourceFinetuned: fineTuned(b, a), TargetBase: m}, Samples(Small, 32, 10, 2), bico.Needs(), transfer.Options{Backend: be, BatchSize: 8})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.ForgetMaps()
		if _, _, err := bico.Delta(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRunSmallNewLabels: with a new label set the task-head pass is timed
// apart, and every calibration batch is still timed.
func TestRunSmallNewLabels(t *testing.T) {
	res, err := Run(context.Background(), Options{SgemmSizes: []int{128}, SgemmRepeats: 1, SkipMain: true, SmallBatches: 3,
		SkipTransfer: true, EvalSamples: -1, NewLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Small
	if !(s.TaskHeadSeconds > 0) || len(s.CalibBatchSeconds) != 3 {
		t.Errorf("task head %g s, %d batch times; want a positive time and 3 batches", s.TaskHeadSeconds, len(s.CalibBatchSeconds))
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "task head") {
		t.Errorf("text output lacks the task head:\n%s", text.String())
	}
}

// TestFits: a pair whose budget exceeds the machine is refused with its
// figures; one that fits is not.
func TestFits(t *testing.T) {
	llama1B := LLM{Hidden: 2048, Layers: 16, Heads: 32, KVHeads: 8, MLP: 8192, Vocab: 128256, Seq: 128, Tied: true}
	if err := fits(SmolLM2, SmolLM2, 8, 24<<30); err != nil {
		t.Errorf("SmolLM2-135M on 24 GiB: %v", err)
	}
	err := fits(llama1B, llama1B, 8, 24<<30)
	if err == nil || !strings.Contains(err.Error(), "statistics") || !strings.Contains(err.Error(), "24.00 GB this machine has") {
		t.Errorf("Llama-3.2-1B's shape on 24 GiB: error %v, want one with the statistics' size", err)
	}
	if err := fits(llama1B, llama1B, 8, 0); err != nil {
		t.Errorf("unknown memory: %v", err)
	}
}

// TestRunSmallPartial: with Changed, the stand-in fine-tune changes only
// the head, the transfer leaves the other pairs out, the budget counts the
// statistics collected, and no FLOPs are counted; an unknown role is an
// error naming the roles there are.
func TestRunSmallPartial(t *testing.T) {
	res, err := Run(context.Background(), Options{SgemmSizes: []int{128}, SgemmRepeats: 1, SkipMain: true, SmallBatches: 1, SmallTransferRep: 1,
		EvalSamples: -1, Changed: []string{"head"}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Small
	if s.SitesLeftOut == 0 || s.Sites != 1 || s.StatisticBytes >= StatBytes(Small, Small) || s.CalibFLOPsPerBatch != 0 || s.CalibFractionOfSgemm != 0 {
		t.Errorf("%d pairs kept, %d left out, statistics %d bytes (all: %d), %g FLOPs counted", s.Sites, s.SitesLeftOut, s.StatisticBytes, StatBytes(Small, Small), s.CalibFLOPsPerBatch)
	}
	if s.MemoryBudgetBytes != s.WeightBytes+s.ActivationBytes+s.StatisticBytes {
		t.Errorf("budget %d is not weights + activations + statistics collected", s.MemoryBudgetBytes)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "a fine-tune of head only") || strings.Contains(text.String(), "GFLOP/batch") {
		t.Errorf("text output:\n%s", text.String())
	}
	if _, err := Run(context.Background(), Options{SgemmSizes: []int{128}, SgemmRepeats: 1, SkipMain: true, SmallBatches: 1,
		EvalSamples: -1, Changed: []string{"lora"}}); err == nil || !strings.Contains(err.Error(), "its roles: patch") {
		t.Errorf("unknown role: %v", err)
	}
}
