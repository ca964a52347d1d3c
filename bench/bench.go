// Package bench measures bico where its users wait, against the machine's
// limit: the sgemm throughput of the linear-algebra backend (the ceiling),
// the calibration pass (forward and backward of a source and a target vit
// with every site's BiCo cross-covariances accumulated) and the transfer
// step (the Procrustes map of every distinct statistic and the transport of
// every site). The bench command prints what Run returns.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/internal/memory"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/transfer"
)

// Options says what Run measures. The zero value of a field takes its
// default.
type Options struct {
	// Backend computes everything (default linalg.Default()).
	Backend linalg.Backend
	// SgemmSizes are the sizes of the square sgemm measured for the
	// ceiling (default 1024 and 2048); SgemmRepeats the timed runs of each
	// (default 5, median taken).
	SgemmSizes   []int
	SgemmRepeats int
	// Main is the pair measured first, and reported at the top level
	// (default ViT-B/16 for both source and target); MainTarget its target
	// shape when it differs from the source.
	Main, MainTarget Arch
	// Small is the second pair (default Small for both); SkipSmall and
	// SkipMain leave a pair out.
	Small, SmallTarget  Arch
	SkipMain, SkipSmall bool
	// Batch is the calibration batch size (default 8); Batches the number
	// of timed calibration batches per pair (default 3 for the main pair,
	// SmallBatches, default 10, for the small one). The per-batch time is
	// their median.
	Batch, Batches, SmallBatches int
	// SkipTransfer leaves out the transfer step; TransferRepeats is the
	// number of timed transfer steps (default 1 for the main pair, 5 for
	// the small one), median taken.
	SkipTransfer                      bool
	TransferRepeats, SmallTransferRep int
	// EvalSamples is the number of held-out images whose scoring by the
	// target is timed (default 16; negative: none), as choosing α does for
	// every candidate; EvalRepeats the timed passes (default 3, median).
	EvalSamples, EvalRepeats int
	// SgemmProbe is the size of the sgemm measured before and after each
	// calibration batch (default 1024; negative: none), see
	// PairResult.CalibProbeGFLOPs.
	SgemmProbe int
	// Method is the transfer method timed (default "bico").
	Method string
	// Tune also times what a transfer does after the calibration pass when
	// it chooses α itself: every setting of the method (bico-blend's β)
	// with the whole α grid scored on EvalSamples held-out images.
	Tune bool
	// Polar computes maps by polar iteration instead of the SVD.
	Polar bool
	// NewLabels gives the fine-tune a new 10-class head, unlike the bases',
	// so that the transfer first gives the bases the task's head: one more
	// forward pass of both (PairResult.TaskHeadSeconds).
	NewLabels bool
	// Changed, when set, makes the source's stand-in fine-tune change only
	// the weights and biases of the sites of these roles (FineTune), as a
	// LoRA on them does, so that the transfer leaves the other sites out.
	// The memory budget then counts the statistics the pass collected, and
	// no FLOPs are counted (a full fine-tune's count would overstate the
	// work).
	Changed []string
	// Seed draws the random weights and calibration data.
	Seed uint64
	// Log, when set, is told what is being measured.
	Log func(format string, args ...any)
}

func (o Options) withDefaults() (Options, error) {
	if o.Backend == nil {
		be, err := linalg.Default()
		if err != nil {
			return o, err
		}
		o.Backend = be
	}
	if len(o.SgemmSizes) == 0 {
		o.SgemmSizes = []int{1024, 2048}
	}
	if o.SgemmRepeats <= 0 {
		o.SgemmRepeats = 5
	}
	def := func(s, d Arch) Arch {
		if s == nil {
			return d
		}
		return s
	}
	o.Main = def(o.Main, ViTB16)
	o.MainTarget = def(o.MainTarget, o.Main)
	o.Small = def(o.Small, Small)
	o.SmallTarget = def(o.SmallTarget, o.Small)
	for _, s := range []Arch{o.Main, o.MainTarget, o.Small, o.SmallTarget} {
		if err := s.Validate(); err != nil {
			return o, err
		}
	}
	for _, p := range [][2]Arch{{o.Main, o.MainTarget}, {o.Small, o.SmallTarget}} {
		if err := pairable(p[0], p[1]); err != nil {
			return o, err
		}
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Batches <= 0 {
		o.Batches = 3
	}
	if o.SmallBatches <= 0 {
		o.SmallBatches = 10
	}
	if o.TransferRepeats <= 0 {
		o.TransferRepeats = 1
	}
	if o.SmallTransferRep <= 0 {
		o.SmallTransferRep = 5
	}
	if o.Method == "" {
		o.Method = "bico"
	}
	if o.SgemmProbe == 0 {
		o.SgemmProbe = 1024
	}
	if o.EvalSamples == 0 {
		o.EvalSamples = 16
	}
	if o.EvalRepeats <= 0 {
		o.EvalRepeats = 3
	}
	return o, nil
}

func (o Options) log(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// SgemmPoint is the throughput of one square sgemm size.
type SgemmPoint struct {
	N      int     `json:"n"`
	GFLOPs float64 `json:"gflops"`
}

// Result is what Run measured. The main pair's figures are at the top level
// (embedded), the small pair's under Small.
type Result struct {
	Backend string `json:"backend"`
	// BLASConfig is the BLAS library's build description, when it has one
	// (OpenBLAS: version, kernels and thread limit).
	BLASConfig string `json:"blas_config,omitempty"`
	Threads    int    `json:"threads"`
	GoVersion  string `json:"go_version"`
	CPUs       int    `json:"cpus"`
	// Sgemm is the throughput at each size; SgemmGFLOPs the best of them,
	// the ceiling the calibration pass is compared with.
	Sgemm       []SgemmPoint `json:"sgemm"`
	SgemmGFLOPs float64      `json:"sgemm_gflops"`
	*PairResult
	Small *PairResult `json:"small,omitempty"`
}

// PairResult holds the figures of one source→target pair.
type PairResult struct {
	// Family is the models' family ("vit", "llama"); Unit what a sample
	// is ("images", "sequences"): the CalibImagesPerSecond and
	// EvalImagesPerSecond count them.
	Family string `json:"family"`
	Unit   string `json:"unit"`
	Source Arch   `json:"source"`
	Target Arch   `json:"target"`
	Batch  int    `json:"batch"`
	// CalibBatchSeconds are the times of the calibration batches, in
	// order; CalibSecondsPerBatch is their median.
	CalibBatchSeconds    []float64 `json:"calib_batch_seconds"`
	CalibSecondsPerBatch float64   `json:"calib_seconds_per_batch"`
	CalibImagesPerSecond float64   `json:"calib_images_per_second"`
	// CalibFLOPsPerBatch counts the matrix products of one batch (see
	// CalibFLOPs); CalibGFLOPs is that count over the median batch time,
	// and CalibFractionOfSgemm its ratio to the sgemm ceiling.
	CalibFLOPsPerBatch   float64 `json:"calib_flops_per_batch"`
	CalibGFLOPs          float64 `json:"calib_gflops"`
	CalibFractionOfSgemm float64 `json:"calib_fraction_of_sgemm"`
	// CalibSecondsAtCeiling is the time of one batch's counted products at
	// the sgemm ceiling: the least any implementation could take here.
	CalibSecondsAtCeiling float64 `json:"calib_seconds_at_ceiling,omitempty"`
	// CalibProbeGFLOPs are sgemm throughputs (SgemmProbe, median of three)
	// measured before the first batch and after each, and
	// CalibBatchFractions each batch's throughput over the mean of the
	// probes around it: on a shared machine whose load changes, the ratio
	// of figures measured a few seconds apart. CalibProbeFraction is their
	// median.
	CalibProbeGFLOPs    []float64 `json:"calib_probe_gflops,omitempty"`
	CalibBatchFractions []float64 `json:"calib_batch_fractions,omitempty"`
	CalibProbeFraction  float64   `json:"calib_probe_fraction,omitempty"`
	// TaskHeadSeconds is the forward pass of both bases that gives them the
	// fine-tune's head (Options.NewLabels), before the calibration batches.
	TaskHeadSeconds float64 `json:"task_head_seconds,omitempty"`
	// CalibCPUSecondsPerBatch is the median processor time (user and
	// system, all threads) the process used per batch: the batch time
	// times the processors it kept busy.
	CalibCPUSecondsPerBatch float64 `json:"calib_cpu_seconds_per_batch,omitempty"`
	// PeakRSSBytes is the peak resident memory of the process during the
	// calibration pass (models included); MemoryBudgetBytes the weights of
	// both models, one batch's activations and the statistics (see
	// MemoryBudget), and PeakOverBudget their ratio. PeakRSSExact is false
	// when the peak could not be reset before the pass (then it is the
	// process's peak so far).
	PeakRSSBytes      int64 `json:"peak_rss_bytes"`
	PeakRSSExact      bool  `json:"peak_rss_exact"`
	MemoryBudgetBytes int64 `json:"memory_budget_bytes"`
	// WeightBytes, ActivationBytes and StatisticBytes are the budget's
	// parts: both models' weights, one batch's activations (an estimate)
	// and the statistics' float64 sums.
	WeightBytes     int64   `json:"weight_bytes"`
	ActivationBytes int64   `json:"activation_bytes"`
	StatisticBytes  int64   `json:"statistic_bytes"`
	PeakOverBudget  float64 `json:"peak_over_budget"`
	// EvalSeconds is the median time the target takes to score
	// EvalSamples held-out images (eval.Evaluate, as choosing α does for
	// every candidate α and setting); EvalGFLOPs its counted forward
	// matrix-product FLOPs (Shape.ForwardFLOPs) over that time, and
	// EvalFractionOfSgemm their fraction of the sgemm ceiling.
	EvalSamples         int       `json:"eval_samples,omitempty"`
	EvalSeconds         float64   `json:"eval_seconds,omitempty"`
	EvalRuns            []float64 `json:"eval_runs,omitempty"`
	EvalImagesPerSecond float64   `json:"eval_images_per_second,omitempty"`
	EvalGFLOPs          float64   `json:"eval_gflops,omitempty"`
	EvalFractionOfSgemm float64   `json:"eval_fraction_of_sgemm,omitempty"`
	// TuneSeconds is the time of the whole choice (Options.Tune): maps,
	// transport and scoring for every setting and α; TuneEvaluations the
	// held-out evaluations in it.
	TuneSeconds     float64 `json:"tune_seconds,omitempty"`
	TuneEvaluations int     `json:"tune_evaluations,omitempty"`
	// Statistics and Sites count the distinct statistics and the site
	// pairs of the transfer step; SitesLeftOut the pairs the fine-tune did
	// not change (Options.Changed), ChangedRoles its roles.
	Statistics   int      `json:"statistics"`
	Sites        int      `json:"sites"`
	SitesLeftOut int      `json:"sites_left_out,omitempty"`
	ChangedRoles []string `json:"changed_roles,omitempty"`
	// TransferSeconds is the median time of the transfer step (the
	// method's Delta: maps and transport); its split is into preparing the
	// statistics' matrices, their SVD or polar maps and the transport.
	TransferSeconds          float64   `json:"transfer_seconds"`
	TransferRuns             []float64 `json:"transfer_runs,omitempty"`
	TransferStatsSeconds     float64   `json:"transfer_stats_seconds"`
	TransferMapsSeconds      float64   `json:"transfer_maps_seconds"`
	TransferTransportSeconds float64   `json:"transfer_transport_seconds"`
	// TransferMapMethods counts the maps by how they were computed
	// ("svd", "eig", "polar": linalg.Method's names).
	TransferMapMethods map[string]int `json:"transfer_map_methods,omitempty"`
}

// Run measures the sgemm ceiling, then the calibration pass and the
// transfer step of the small pair and of the main pair.
func Run(ctx context.Context, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	be := opts.Backend
	res := &Result{Backend: be.Name(), Threads: be.Threads(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	if c, ok := be.(interface{ Config() string }); ok {
		res.BLASConfig = c.Config()
	}
	for _, n := range opts.SgemmSizes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opts.log("sgemm %d", n)
		g := SgemmGFLOPs(be, n, opts.SgemmRepeats)
		res.Sgemm = append(res.Sgemm, SgemmPoint{N: n, GFLOPs: g})
		res.SgemmGFLOPs = max(res.SgemmGFLOPs, g)
	}
	if !opts.SkipSmall {
		res.Small, err = RunPair(ctx, opts.Small, opts.SmallTarget, opts.SmallBatches, opts.SmallTransferRep, res.SgemmGFLOPs, opts)
		if err != nil {
			return nil, err
		}
	}
	if !opts.SkipMain {
		res.PairResult, err = RunPair(ctx, opts.Main, opts.MainTarget, opts.Batches, opts.TransferRepeats, res.SgemmGFLOPs, opts)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// SgemmGFLOPs returns the median throughput of repeats n×n×n float32
// products C = A·B on be, after one untimed warm-up product.
func SgemmGFLOPs(be linalg.Backend, n, repeats int) float64 {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	be.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
	times := make([]float64, max(repeats, 1))
	for i := range times {
		start := time.Now()
		be.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		times[i] = time.Since(start).Seconds()
	}
	return 2 * float64(n) * float64(n) * float64(n) / Median(times) / 1e9
}

// Median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// RunPair measures one pair: a calibration pass of batches batches (each
// batch timed) and repeats transfer steps, comparing throughput with the
// given sgemm ceiling (GFLOP/s).
// newLabels are the classes of the fine-tune's head with Options.NewLabels.
var newLabels = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}

func RunPair(ctx context.Context, src, tgt Arch, batches, repeats int, ceiling float64, opts Options) (*PairResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := pairable(src, tgt); err != nil {
		return nil, err
	}
	if len(opts.Changed) == 0 {
		// (A partial fine-tune's statistics are known after the pairing:
		// the transfer checks them before the pass.)
		if err := fits(src, tgt, opts.Batch, memory.Available()); err != nil {
			return nil, err
		}
	}
	r := &PairResult{Family: src.Family(), Unit: src.Unit(), Source: src, Target: tgt, Batch: opts.Batch}
	opts.log("building %s → %s", src, tgt)
	a, b, err := Models(src, tgt, opts.Seed+1)
	if err != nil {
		return nil, err
	}
	ft, classes := a, min(src.NumLabels(), tgt.NumLabels())
	if opts.NewLabels {
		if src.NumLabels() == 0 {
			return nil, fmt.Errorf("bench: %s: a new label set needs a classifier", src)
		}
		classes = len(newLabels)
		if ft, err = model.ReplaceHead(a, newLabels, opts.Seed+3); err != nil {
			return nil, err
		}
	}
	if ft, err = FineTune(ft, opts.Seed+4, opts.Changed...); err != nil {
		return nil, err
	}
	calib := Samples(src, opts.Batch*batches, classes, opts.Seed)
	method, err := transfer.Lookup(opts.Method)
	if err != nil {
		return nil, err
	}
	topts := transfer.Options{Backend: opts.Backend, BatchSize: opts.Batch, Polar: opts.Polar}
	probe := func() {
		if opts.SgemmProbe > 0 {
			r.CalibProbeGFLOPs = append(r.CalibProbeGFLOPs, SgemmGFLOPs(opts.Backend, opts.SgemmProbe, 3))
		}
	}
	var cpuSec []float64
	last, lastCPU := time.Now(), CPUSeconds()
	start := time.Now()
	topts.Progress = func(stage string, done, total int) {
		if stage == "task head" && done == total {
			r.TaskHeadSeconds = time.Since(start).Seconds()
			last, lastCPU = time.Now(), CPUSeconds()
		}
		if stage != "calibration" {
			return
		}
		now, nowCPU := time.Now(), CPUSeconds()
		r.CalibBatchSeconds = append(r.CalibBatchSeconds, now.Sub(last).Seconds())
		cpuSec = append(cpuSec, nowCPU-lastCPU)
		opts.log("calibration batch %d/%d: %.3f s (%.3f s of processor time)", len(r.CalibBatchSeconds), batches, now.Sub(last).Seconds(), nowCPU-lastCPU)
		probe()
		last, lastCPU = time.Now(), CPUSeconds()
	}
	opts.log("calibration: %d batches of %d", batches, opts.Batch)
	probe()
	r.PeakRSSExact = resetPeakRSS()
	start = time.Now()
	last, lastCPU = start, CPUSeconds()
	p, err := transfer.Prepare(ctx, transfer.Models{SourceBase: a, SourceFinetuned: ft, TargetBase: b}, calib, method.Needs(), topts)
	if err != nil {
		return nil, err
	}
	r.PeakRSSBytes = PeakRSS()
	r.WeightBytes = 4 * (src.Params() + tgt.Params())
	r.ActivationBytes = max(src.ActivationBytes(opts.Batch), tgt.ActivationBytes(opts.Batch))
	r.StatisticBytes = StatBytes(src, tgt)
	if len(opts.Changed) > 0 {
		r.ChangedRoles, r.SitesLeftOut, r.StatisticBytes = opts.Changed, len(p.Unchanged), collectedBytes(p.Stats)
	}
	r.MemoryBudgetBytes = r.WeightBytes + r.ActivationBytes + r.StatisticBytes
	r.PeakOverBudget = float64(r.PeakRSSBytes) / float64(r.MemoryBudgetBytes)
	r.CalibSecondsPerBatch = Median(r.CalibBatchSeconds)
	r.CalibImagesPerSecond = float64(opts.Batch) / r.CalibSecondsPerBatch
	if len(opts.Changed) == 0 {
		r.CalibFLOPsPerBatch = CalibFLOPs(src, tgt, opts.Batch)
		r.CalibGFLOPs = r.CalibFLOPsPerBatch / r.CalibSecondsPerBatch / 1e9
	}
	if ceiling > 0 && r.CalibFLOPsPerBatch > 0 {
		r.CalibFractionOfSgemm = r.CalibGFLOPs / ceiling
		r.CalibSecondsAtCeiling = r.CalibFLOPsPerBatch / ceiling / 1e9
	}
	r.CalibCPUSecondsPerBatch = Median(cpuSec)
	if pr := r.CalibProbeGFLOPs; len(pr) == len(r.CalibBatchSeconds)+1 && r.CalibFLOPsPerBatch > 0 {
		for i, s := range r.CalibBatchSeconds {
			r.CalibBatchFractions = append(r.CalibBatchFractions, r.CalibFLOPsPerBatch/s/1e9/((pr[i]+pr[i+1])/2))
		}
		r.CalibProbeFraction = Median(r.CalibBatchFractions)
	}
	r.Statistics, r.Sites = len(p.Stats), len(p.Pairs)
	if opts.EvalSamples > 0 {
		if err := r.timeEval(ctx, b, tgt, ceiling, opts); err != nil {
			return nil, err
		}
	}
	if opts.SkipTransfer {
		return r, nil
	}
	p.Options.Progress = nil
	var splits []transfer.Timing
	for i := 0; i < repeats; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.ForgetMaps()
		p.Timing = transfer.Timing{}
		start := time.Now()
		_, maps, err := method.Delta(p)
		if err != nil {
			return nil, err
		}
		r.TransferMapMethods = map[string]int{}
		seen := map[transfer.StatKey]bool{}
		for _, m := range maps {
			if !seen[m.Key] {
				seen[m.Key] = true
				r.TransferMapMethods[m.Method]++
			}
		}
		sec := time.Since(start).Seconds()
		opts.log("transfer step %d/%d: %.3f s (statistics %.3f, maps %.3f, transport %.3f)", i+1, repeats, sec, p.Timing.Statistics, p.Timing.Maps, p.Timing.Transport)
		r.TransferRuns = append(r.TransferRuns, sec)
		splits = append(splits, p.Timing)
	}
	r.TransferSeconds = Median(r.TransferRuns)
	// The split of the run closest to the median.
	best := 0
	for i, s := range r.TransferRuns {
		if abs(s-r.TransferSeconds) < abs(r.TransferRuns[best]-r.TransferSeconds) {
			best = i
		}
	}
	r.TransferStatsSeconds = splits[best].Statistics
	r.TransferMapsSeconds = splits[best].Maps
	r.TransferTransportSeconds = splits[best].Transport
	if opts.Tune {
		if err := r.timeTune(ctx, p, method, tgt, opts); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// timeTune times transfer.Finish choosing α (and the method's setting) on
// opts.EvalSamples held-out images of shape s, from no cached map.
func (r *PairResult) timeTune(ctx context.Context, p *transfer.Prepared, method transfer.Method, s Arch, opts Options) error {
	if opts.EvalSamples <= 0 {
		return fmt.Errorf("bench: timing the choice of α needs held-out samples")
	}
	held := Samples(s, opts.EvalSamples, s.NumLabels(), opts.Seed+2)
	p.ForgetMaps()
	evals := 0
	p.Options.Progress = func(stage string, done, total int) {
		if strings.HasSuffix(stage, "alpha") {
			evals++
		}
	}
	opts.log("choosing α with %s: every setting and α on %d held-out %s", method.Name(), opts.EvalSamples, s.Unit())
	start := time.Now()
	if _, err := transfer.Finish(ctx, p, method, held, -1, nil); err != nil {
		return err
	}
	r.TuneSeconds = time.Since(start).Seconds()
	r.TuneEvaluations = evals
	p.Options.Progress = nil
	return nil
}

// timeEval times the target m (of shape s) scoring opts.EvalSamples random
// held-out images, opts.EvalRepeats times.
func (r *PairResult) timeEval(ctx context.Context, m model.Model, s Arch, ceiling float64, opts Options) error {
	held := Samples(s, opts.EvalSamples, s.NumLabels(), opts.Seed+2)
	opts.log("evaluation: %d passes over %d %s", opts.EvalRepeats, opts.EvalSamples, s.Unit())
	for i := 0; i < opts.EvalRepeats; i++ {
		start := time.Now()
		if _, err := eval.Evaluate(ctx, opts.Backend, m, held.Inputs, held.Labels, 256); err != nil {
			return err
		}
		r.EvalRuns = append(r.EvalRuns, time.Since(start).Seconds())
	}
	r.EvalSamples = opts.EvalSamples
	r.EvalSeconds = Median(r.EvalRuns)
	r.EvalImagesPerSecond = float64(opts.EvalSamples) / r.EvalSeconds
	r.EvalGFLOPs = s.ForwardFLOPs(opts.EvalSamples) / r.EvalSeconds / 1e9
	if ceiling > 0 {
		r.EvalFractionOfSgemm = r.EvalGFLOPs / ceiling
	}
	return nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// fits refuses a pair whose memory budget (weights, one batch's
// activations and statistics) exceeds the available bytes (0: unknown), so
// that a shape too large for the machine fails at once with its figures
// rather than being killed minutes into the pass.
func fits(src, tgt Arch, batch int, available int64) error {
	budget := MemoryBudget(src, tgt, batch)
	if available <= 0 || budget <= available {
		return nil
	}
	return fmt.Errorf("bench: %s → %s needs at least %s (weights %s, statistics %s, one batch's activations %s), more than the %s this machine has",
		src, tgt, byteSize(budget), byteSize(4*(src.Params()+tgt.Params())), byteSize(StatBytes(src, tgt)),
		byteSize(max(src.ActivationBytes(batch), tgt.ActivationBytes(batch))), byteSize(available))
}

// collectedBytes is the memory of the statistics a pass collected, counted
// as StatBytes counts them.
func collectedBytes(stats map[transfer.StatKey]*transfer.Stat) int64 {
	var n int64
	for _, st := range stats {
		n += int64(st.DA)*int64(st.DB) + 2*int64(st.DA) + 2*int64(st.DB)
	}
	return 8 * n
}
