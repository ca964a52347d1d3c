package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints r for people: each figure next to the reference it is
// measured against in the same run.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "bico bench: backend %s, %d threads, %s, %d CPUs\n", r.Backend, r.Threads, r.GoVersion, r.CPUs)
	if r.BLASConfig != "" {
		fmt.Fprintf(&b, "blas         %s\n", r.BLASConfig)
	}
	fmt.Fprintf(&b, "sgemm       ")
	for _, p := range r.Sgemm {
		fmt.Fprintf(&b, " %d: %.1f GFLOP/s ", p.N, p.GFLOPs)
	}
	fmt.Fprintf(&b, " → ceiling %.1f GFLOP/s\n", r.SgemmGFLOPs)
	if r.Small != nil {
		r.Small.writeText(&b, r.SgemmGFLOPs)
	}
	if r.PairResult != nil {
		r.PairResult.writeText(&b, r.SgemmGFLOPs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *PairResult) writeText(b *strings.Builder, ceiling float64) {
	fmt.Fprintf(b, "\n%s", p.Source)
	if p.Target != p.Source {
		fmt.Fprintf(b, " → %s", p.Target)
	}
	fmt.Fprintf(b, ", batch %d\n", p.Batch)
	runs := make([]string, len(p.CalibBatchSeconds))
	for i, s := range p.CalibBatchSeconds {
		runs[i] = fmt.Sprintf("%.3g", s)
	}
	fmt.Fprintf(b, "calibration  %.4g s/batch (median of %s), %.4g %s/s\n", p.CalibSecondsPerBatch, strings.Join(runs, " "), p.CalibImagesPerSecond, p.Unit)
	if p.CalibFLOPsPerBatch > 0 {
		fmt.Fprintf(b, "             %.4g GFLOP/batch → %.4g GFLOP/s = %.2f of the sgemm ceiling %.1f\n", p.CalibFLOPsPerBatch/1e9, p.CalibGFLOPs, p.CalibFractionOfSgemm, ceiling)
	}
	if len(p.ChangedRoles) > 0 {
		fmt.Fprintf(b, "             a fine-tune of %s only: %d of %d site pairs left out (no FLOPs counted)\n", strings.Join(p.ChangedRoles, ", "), p.SitesLeftOut, p.SitesLeftOut+p.Sites)
	}
	if p.CalibSecondsAtCeiling > 0 {
		fmt.Fprintf(b, "             at the ceiling a batch would take %.3g s\n", p.CalibSecondsAtCeiling)
	}
	if p.CalibProbeFraction > 0 {
		fmt.Fprintf(b, "             %.2f of sgemm probed around each batch (median; probes %s GFLOP/s)\n", p.CalibProbeFraction, floats(p.CalibProbeGFLOPs, "%.0f"))
	}
	if p.CalibCPUSecondsPerBatch > 0 {
		fmt.Fprintf(b, "             %.4g s of processor time per batch (%.2f processors busy)\n", p.CalibCPUSecondsPerBatch, p.CalibCPUSecondsPerBatch/p.CalibSecondsPerBatch)
	}
	if p.TaskHeadSeconds > 0 {
		fmt.Fprintf(b, "task head    %.4g s before the batches: a forward pass of both bases, for the fine-tune's new head\n", p.TaskHeadSeconds)
	}
	exact := ""
	if !p.PeakRSSExact {
		exact = " (process peak: could not reset)"
	}
	fmt.Fprintf(b, "memory       peak RSS %s%s = %.2f × budget %s (weights %s, one batch's activations %s, statistics %s)\n", byteSize(p.PeakRSSBytes), exact, p.PeakOverBudget,
		byteSize(p.MemoryBudgetBytes), byteSize(p.WeightBytes), byteSize(p.ActivationBytes), byteSize(p.StatisticBytes))
	if len(p.EvalRuns) > 0 {
		fmt.Fprintf(b, "evaluation   %d %s: %.4g s (median of %s), %.4g %s/s, %.4g GFLOP/s = %.2f of the sgemm ceiling\n",
			p.EvalSamples, p.Unit, p.EvalSeconds, floats(p.EvalRuns, "%.3g"), p.EvalImagesPerSecond, p.Unit, p.EvalGFLOPs, p.EvalFractionOfSgemm)
	}
	if len(p.TransferRuns) > 0 {
		fmt.Fprintf(b, "transfer     %d statistics, %d sites: %.4g s (median of %d; statistics %.3g, SVD/polar %.3g, transport %.3g)\n",
			p.Statistics, p.Sites, p.TransferSeconds, len(p.TransferRuns), p.TransferStatsSeconds, p.TransferMapsSeconds, p.TransferTransportSeconds)
		if len(p.TransferMapMethods) > 0 {
			fmt.Fprintf(b, "             maps by SVD %d, from CᵀC's eigenvectors %d, by Newton's polar iteration %d\n",
				p.TransferMapMethods["svd"], p.TransferMapMethods["eig"], p.TransferMapMethods["polar"])
		}
	}
	if p.TuneSeconds > 0 {
		fmt.Fprintf(b, "choosing α   %.4g s: every setting's maps and transport, %d held-out evaluations of %d %s\n", p.TuneSeconds, p.TuneEvaluations, p.EvalSamples, p.Unit)
	}
}

// byteSize formats a byte count in MB or GB.
func byteSize(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// floats formats xs with format, space-separated.
func floats(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}
