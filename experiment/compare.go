// Package experiment measures transfer methods against each other on model
// pairs whose answers are known: the target's zero-shot accuracy, few-shot
// fine-tuning on the same calibration samples, and the target fine-tuned on
// the full task (the ceiling). The demo and `bico experiment` run it.
package experiment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
)

// Pair is a source/target pair of base models with their fine-tunes on one
// task: the source's gives τ_A, the target's is the ceiling.
type Pair struct {
	Name       string // e.g. "v1→v2"
	Task       string
	Source     model.Model
	SourceFT   model.Model
	Target     model.Model
	TargetFT   model.Model
	CalibPool  *data.Dataset // labelled task samples the calibration set is drawn from
	Test       *data.Dataset // evaluation split, never used to choose anything
	ZeroShot   *eval.Result  // target on Test, when already known
	Ceiling    *eval.Result  // target fine-tune on Test, when already known
	Options    transfer.Options
	AlphaGrid  []float64 // nil: transfer.DefaultAlphas
	FewShotLRs []float64 // learning rates tried for few-shot-ft (nil: 1e-3)
}

// Record is one measured result: a method on a pair and task with a
// calibration size and seed. It is what results.json lists.
type Record struct {
	Pair      string  `json:"pair"`
	Task      string  `json:"task"`
	Method    string  `json:"method"`
	K         int     `json:"k"`
	Seed      uint64  `json:"seed"`
	Alpha     float64 `json:"alpha"`
	AlphaFrom string  `json:"alpha_chosen_by"`
	Setting   string  `json:"setting,omitempty"` // a tunable method's setting, chosen on held-out
	Accuracy  float64 `json:"accuracy"`
	Loss      float64 `json:"loss"`
	ZeroShot  float64 `json:"zero_shot"`
	Ceiling   float64 `json:"ceiling"`
	GapClosed float64 `json:"gap_closed"` // (accuracy − zero-shot) / (ceiling − zero-shot)
	Normal    float64 `json:"normalized_accuracy"`
	Seconds   float64 `json:"seconds"`
	Calib     int     `json:"calib_samples"`
	HeldOut   int     `json:"heldout_samples"`
	// Curve is the held-out α curve, when α was chosen.
	Curve []transfer.AlphaPoint `json:"alpha_curve,omitempty"`
	// Maps is the per-statistic alignment quality of the method's maps.
	Maps []MapQuality `json:"maps,omitempty"`
}

// MapQuality is one Procrustes map's diagnostics.
type MapQuality struct {
	Statistic string  `json:"statistic"`
	Rank      int     `json:"rank"`
	Quality   float64 `json:"quality"`
}

// FewShotFT names the few-shot fine-tuning baseline in records.
const FewShotFT = "few-shot-ft"

// Run measures every method (and few-shot-ft when fewShot is set) on the
// pair with K calibration samples per class drawn with seed. Methods that
// cannot run on the pair (naive and gradfix across widths or depths) are
// skipped, not failed.
func Run(ctx context.Context, p Pair, methods []string, k int, seed uint64, fewShot bool, progress func(string, int, int)) ([]Record, error) {
	be := p.Options.Backend
	if be == nil {
		be = linalg.MustDefault()
		p.Options.Backend = be
	}
	if err := p.baselines(ctx, be); err != nil {
		return nil, err
	}
	calib, err := data.PerClass(p.CalibPool, k, seed)
	if err != nil {
		return nil, err
	}
	stats, held, alphaFrom, err := split(calib, seed)
	if err != nil {
		return nil, err
	}
	var ms []transfer.Method
	for _, name := range methods {
		m, err := transfer.Lookup(name)
		if err != nil {
			return nil, err
		}
		if needsSameShape(name) && !sameShapes(p.Source, p.Target) {
			continue
		}
		ms = append(ms, m)
	}
	base := Record{Pair: p.Name, Task: p.Task, K: k, Seed: seed, ZeroShot: p.ZeroShot.Accuracy, Ceiling: p.Ceiling.Accuracy, Calib: stats.Len(), HeldOut: held.Len()}
	var out []Record
	if len(ms) > 0 {
		start := time.Now()
		opts := p.Options
		opts.Progress = progress
		prep, err := transfer.Prepare(ctx, transfer.Models{SourceBase: p.Source, SourceFinetuned: p.SourceFT, TargetBase: p.Target}, samples(stats), transfer.NeedsOf(ms...), opts)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", p.Name, p.Task, err)
		}
		shared := time.Since(start).Seconds() / float64(len(ms))
		for _, m := range ms {
			start := time.Now()
			res, err := transfer.Finish(ctx, prep, m, samples(held), -1, p.AlphaGrid)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.Name, p.Task, err)
			}
			r, err := eval.Evaluate(ctx, be, res.Model, p.Test.Inputs, p.Test.Labels, 256)
			if err != nil {
				return nil, err
			}
			rec := base
			rec.Method, rec.Alpha, rec.AlphaFrom, rec.Curve, rec.Setting = m.Name(), res.Alpha, alphaFrom, res.Curve, res.Setting
			rec.Seconds = shared + time.Since(start).Seconds()
			for _, mp := range res.Maps {
				rec.Maps = append(rec.Maps, MapQuality{Statistic: mp.Key.String(), Rank: mp.Rank, Quality: mp.Quality})
			}
			out = append(out, rec.score(r))
		}
	}
	if fewShot {
		rec, err := p.fewShot(ctx, be, stats, held, base)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// score fills in a record's accuracy and the summaries derived from it.
func (r Record) score(res eval.Result) Record {
	r.Accuracy, r.Loss = res.Accuracy, res.Loss
	if gap := r.Ceiling - r.ZeroShot; gap != 0 {
		r.GapClosed = (r.Accuracy - r.ZeroShot) / gap
	}
	if r.Ceiling > 0 {
		r.Normal = r.Accuracy / r.Ceiling
	}
	return r
}

// baselines evaluates the target zero-shot and the ceiling unless known.
func (p *Pair) baselines(ctx context.Context, be linalg.Backend) error {
	if p.ZeroShot == nil {
		r, err := eval.Evaluate(ctx, be, p.Target, p.Test.Inputs, p.Test.Labels, 256)
		if err != nil {
			return fmt.Errorf("zero-shot: %w", err)
		}
		p.ZeroShot = &r
	}
	if p.Ceiling == nil {
		r, err := eval.Evaluate(ctx, be, p.TargetFT, p.Test.Inputs, p.Test.Labels, 256)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		p.Ceiling = &r
	}
	return nil
}

// fewShotSteps are the step counts few-shot-ft chooses from on the
// held-out calibration samples.
var fewShotSteps = []int{25, 50, 100, 200}

// fewShot fine-tunes the target on the statistics part of the calibration
// samples, choosing the number of steps and the learning rate on the
// held-out part, and scores the chosen model on the test split.
func (p *Pair) fewShot(ctx context.Context, be linalg.Backend, stats, held *data.Dataset, base Record) (Record, error) {
	start := time.Now()
	lrs := p.FewShotLRs
	if lrs == nil {
		lrs = []float64{1e-3}
	}
	var best model.Model
	bestScore := transfer.AlphaPoint{Accuracy: -1}
	for _, lr := range lrs {
		for _, steps := range fewShotSteps {
			m, err := zoo.FewShot(ctx, p.Target, stats, steps, lr, base.Seed)
			if err != nil {
				return Record{}, fmt.Errorf("few-shot-ft: %w", err)
			}
			r, err := eval.Evaluate(ctx, be, m, held.Inputs, held.Labels, 256)
			if err != nil {
				return Record{}, err
			}
			if r.Accuracy > bestScore.Accuracy || (r.Accuracy == bestScore.Accuracy && r.Loss < bestScore.Loss) {
				best, bestScore = m, transfer.AlphaPoint{Alpha: float64(steps), Accuracy: r.Accuracy, Loss: r.Loss}
			}
		}
	}
	r, err := eval.Evaluate(ctx, be, best, p.Test.Inputs, p.Test.Labels, 256)
	if err != nil {
		return Record{}, err
	}
	rec := base
	rec.Method, rec.AlphaFrom = FewShotFT, fmt.Sprintf("steps %g chosen on held-out", bestScore.Alpha)
	rec.Seconds = time.Since(start).Seconds()
	return rec.score(r), nil
}

// split divides the calibration samples into the statistics part and the
// held-out part α is chosen on. With one sample per class there is no
// held-out part: α is then chosen on the calibration samples themselves,
// and the record says so.
func split(calib *data.Dataset, seed uint64) (stats, held *data.Dataset, from string, err error) {
	stats, held, err = data.SplitHeldOut(calib, 0.25, seed)
	if errors.Is(err, data.ErrHeldOutTooSmall) {
		return calib, calib, "calibration samples (K=1: no held-out part)", nil
	}
	return stats, held, "held-out calibration", err
}

func samples(ds *data.Dataset) transfer.Samples {
	return transfer.Samples{Inputs: ds.Inputs, Labels: ds.Labels}
}

func needsSameShape(method string) bool { return method == "naive" || method == "gradfix" }

// sameShapes reports whether two models have identical parameter shapes.
func sameShapes(a, b model.Model) bool {
	an, bn := a.ParamNames(), b.ParamNames()
	if len(an) != len(bn) {
		return false
	}
	for _, n := range an {
		pb := b.Param(n)
		if pb == nil || !tensor.SameShape(a.Param(n).Value.Shape, pb.Value.Shape) {
			return false
		}
	}
	return true
}
