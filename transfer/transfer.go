// Package transfer moves a fine-tune's task vector τ_A = θ_A^ft − θ_A from a
// source model to a target model of another pre-training (and possibly
// another width or depth) without training: BiCo and its baselines, as
// specified in METHOD.md.
//
// A transfer has an expensive part, Prepare (one forward and backward pass
// of both base models over the calibration samples, accumulating
// statistics), and a cheap part, a Method's Delta (Procrustes maps and
// transport) followed by Apply (θ_B + α·ΔB). One Prepared serves every α and
// every method whose needs it covers. When the statistics do not fit in
// memory at once, PrepareInParts collects them a run of blocks at a time,
// one calibration pass per run, and computes the delta as it goes.
package transfer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bico-dev/bico/model"
)

// Result is a finished transfer.
type Result struct {
	Method string
	// Setting is the setting of a Tunable method chosen on the held-out
	// samples (empty for other methods), and the per-block α factors when
	// Options.BlockAlpha is set.
	Setting string
	// BlockAlpha is each block's multiple of Alpha (Options.BlockAlpha);
	// Delta then holds the scaled delta and Model is θ_B + Delta.
	BlockAlpha map[int]float64
	// Model is θ_B + α·ΔB.
	Model model.Model
	Delta Delta
	Alpha float64
	// AlphaFrom says how α was chosen: "fixed" or "held-out".
	AlphaFrom string
	// Curve is the held-out score for every α of the grid (empty when α was
	// fixed).
	Curve []AlphaPoint
	// Maps are the Procrustes maps the method used, with their quality.
	Maps []*Map
	// DeltaSeconds is the time spent on maps and transport, AlphaSeconds on
	// choosing α.
	DeltaSeconds, AlphaSeconds float64
}

// Finish completes a transfer with one method from a prepared pass: it
// computes ΔB, then uses the fixed alpha, or (alpha < 0) chooses α on the
// held-out samples from grid (DefaultAlphas when nil).
func Finish(ctx context.Context, p *Prepared, method Method, heldout Samples, alpha float64, grid []float64) (*Result, error) {
	if err := covers(p.Needs, method.Needs()); err != nil {
		return nil, fmt.Errorf("%s: %w", method.Name(), err)
	}
	if grid == nil {
		grid = DefaultAlphas
	}
	if alpha >= 0 {
		grid = []float64{alpha}
	}
	settings := []string{""}
	if t, ok := method.(Tunable); ok && heldout.Len() > 0 {
		settings = t.Settings()
	}
	var res *Result
	var best AlphaPoint
	for i, setting := range settings {
		restore := p.labelProgress(setting, i, len(settings))
		r, pt, err := finishSetting(ctx, p, method, i, setting, heldout, grid, alpha >= 0)
		restore()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method.Name(), err)
		}
		if res == nil || pt.better(best) {
			res, best = r, pt
		}
	}
	if p.Options.BlockAlpha && alpha < 0 && heldout.Len() > 0 {
		factors, scaled, err := refineBlockAlpha(ctx, p, res.Delta, res.Alpha, heldout)
		if err != nil {
			return nil, fmt.Errorf("%s: per-block α: %w", method.Name(), err)
		}
		res.Delta, res.BlockAlpha = scaled, factors
		res.Setting = strings.TrimSpace(res.Setting + " " + describeFactors(factors))
		res.Model, err = Apply(p.Models.TargetBase, scaled, 1, OutputConfig(p.Models))
		return res, err
	}
	var err error
	res.Model, err = Apply(p.Models.TargetBase, res.Delta, res.Alpha, OutputConfig(p.Models))
	return res, err
}

// labelProgress makes the stages reported while setting i of n is tried
// name it ("β=0.5 (4/7): alpha"), and returns the function that undoes
// that.
func (p *Prepared) labelProgress(setting string, i, n int) (restore func()) {
	prev := p.Options.Progress
	if prev == nil || setting == "" || n < 2 {
		return func() {}
	}
	label := fmt.Sprintf("%s (%d/%d): ", setting, i+1, n)
	p.Options.Progress = func(stage string, done, total int) { prev(label+stage, done, total) }
	return func() { p.Options.Progress = prev }
}

// finishSetting computes one setting's delta and its α: fixed, or the best
// of the grid on the held-out samples. With several settings (a Tunable
// method) a fixed α is still scored, so that the setting can be chosen.
func finishSetting(ctx context.Context, p *Prepared, method Method, i int, setting string, heldout Samples, grid []float64, fixed bool) (*Result, AlphaPoint, error) {
	start := time.Now()
	var delta Delta
	var maps []*Map
	var err error
	if t, ok := method.(Tunable); ok && setting != "" {
		delta, maps, err = t.DeltaWith(p, i)
	} else {
		delta, maps, err = method.Delta(p)
	}
	if err != nil {
		return nil, AlphaPoint{}, err
	}
	res := &Result{Method: method.Name(), Setting: setting, Delta: delta, Maps: maps, DeltaSeconds: time.Since(start).Seconds()}
	if c, ok := method.(computed); ok {
		res.DeltaSeconds += c.seconds
	}
	start = time.Now()
	defer func() { res.AlphaSeconds = time.Since(start).Seconds() }()
	if fixed && setting == "" {
		res.Alpha, res.AlphaFrom = grid[0], "fixed"
		return res, AlphaPoint{Alpha: grid[0]}, nil
	}
	best, curve, err := ChooseAlpha(ctx, p.Models.TargetBase, delta, heldout, grid, p.Options)
	if err != nil {
		return nil, AlphaPoint{}, err
	}
	res.Alpha, res.Curve = best.Alpha, curve
	res.AlphaFrom = "held-out"
	if fixed {
		res.AlphaFrom = "fixed"
	}
	return res, best, nil
}

// covers checks that the statistics collected (have) include what a method
// needs.
func covers(have, need Needs) error {
	for _, k := range need.In {
		if !hasKind(have.In, k) {
			return fmt.Errorf("the calibration pass collected no input-side %s statistics", k)
		}
	}
	for _, k := range need.Out {
		if !hasKind(have.Out, k) {
			return fmt.Errorf("the calibration pass collected no output-side %s statistics", k)
		}
	}
	if need.ParamGrad && !have.ParamGrad {
		return fmt.Errorf("the calibration pass collected no parameter gradients")
	}
	return nil
}

// OutputConfig is the target's configuration carrying the fine-tuned
// source's head labels (id2label, label2id) and architectures (a base
// model's "ViTModel" becomes the fine-tune's "ViTForImageClassification")
// when it has them. Across model types the fine-tune's task goes with the
// target's class name: a Qwen2ForCausalLM fine-tune moved to a Qwen3 base
// ("Qwen3Model") is a Qwen3ForCausalLM, as tools that pick the model's
// code by its architecture (vLLM, say) need.
func OutputConfig(ms Models) map[string]any {
	cfg := map[string]any{}
	tgt := ms.TargetBase.Config()
	for k, v := range tgt {
		cfg[k] = v
	}
	src := ms.SourceFinetuned.Config()
	for _, k := range []string{"id2label", "label2id", "architectures"} {
		if v, ok := src[k]; ok {
			cfg[k] = v
		}
	}
	if src["model_type"] != tgt["model_type"] {
		if arch, ok := retargetArchitecture(firstArchitecture(src), firstArchitecture(tgt)); ok {
			cfg["architectures"] = []any{arch}
		}
	}
	return cfg
}

// firstArchitecture returns the first name of cfg's architectures, or "".
func firstArchitecture(cfg map[string]any) string {
	archs, _ := cfg["architectures"].([]any)
	if len(archs) == 0 {
		return ""
	}
	a, _ := archs[0].(string)
	return a
}

// retargetArchitecture returns the class of target's family for
// fine-tune's task: the part of fine-tune from "For" on ("ForCausalLM")
// after target's family name (what precedes "For", "LMHeadModel" or
// "Model" in it: "Qwen3ForCausalLM", "Dinov2WithRegistersModel"). It
// returns false when either name does not have that form.
func retargetArchitecture(fineTune, target string) (string, bool) {
	i := strings.Index(fineTune, "For")
	if i <= 0 {
		return "", false
	}
	family := target
	if j := strings.Index(target, "For"); j > 0 {
		family = target[:j]
	} else if f, ok := strings.CutSuffix(target, "LMHeadModel"); ok {
		family = f
	} else if f, ok := strings.CutSuffix(target, "Model"); ok {
		family = f
	}
	if family == "" || family == target {
		return "", false
	}
	return family + fineTune[i:], true
}

// NeedsOf merges the needs of several methods, for one Prepare that serves
// them all.
func NeedsOf(ms ...Method) Needs {
	var n Needs
	for _, m := range ms {
		n = n.merge(m.Needs())
	}
	return n
}
