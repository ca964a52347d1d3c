package zoo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// Random streams, so that the batch order and the augmentation of one seed
// are independent draws.
const (
	streamOrder   = 0x7a6f6f2d6f726400 // "zoo-ord"
	streamAugment = 0x7a6f6f2d61756700 // "zoo-aug"
)

// forward runs m on a batch of inputs: the one place this package calls
// Model.Forward.
func forward(t *model.Tape, m model.Model, x *model.Tensor) *model.Var {
	return m.Forward(t, autodiff.Const(x))
}

// Pretrain builds r.Config with a random initialisation from r.InitSeed
// and trains every parameter on train with AdamW (see Recipe). The model's
// number of labels must equal train.Classes. progress, when not nil, is
// called after every step with the steps done and the total.
func Pretrain(ctx context.Context, r Recipe, train *data.Dataset, progress func(done, total int)) (model.Model, error) {
	cfg, err := r.configFor()
	if err != nil {
		return nil, err
	}
	m, err := model.Build(cfg, nil, r.InitSeed)
	if err != nil {
		return nil, fmt.Errorf("zoo: recipe %q: %w", r.Name, err)
	}
	if err := fit(ctx, m, r, train, progress); err != nil {
		return nil, err
	}
	return m, nil
}

// FineTune trains every parameter of a copy of base on train with AdamW
// (see Recipe; r.Config is ignored); base itself is never modified. When
// train has another number of classes than base's head, the copy gets a
// new head (model.ReplaceHead) initialised from r.InitSeed, with train's
// class names. A language model (model.TargetMaker) keeps its head: its
// targets are its inputs' next tokens.
func FineTune(ctx context.Context, base model.Model, r Recipe, train *data.Dataset, progress func(done, total int)) (model.Model, error) {
	m, err := model.Clone(base)
	if err != nil {
		return nil, fmt.Errorf("zoo: recipe %q: copying the base: %w", r.Name, err)
	}
	_, lm := m.(model.TargetMaker) // a language model's head is its vocabulary's
	if train != nil && !lm && train.Classes != m.NumLabels() {
		names := make([]string, train.Classes)
		for c := range names {
			names[c] = train.ClassName(c)
		}
		if m, err = model.ReplaceHead(m, names, r.InitSeed); err != nil {
			return nil, fmt.Errorf("zoo: recipe %q: %w", r.Name, err)
		}
	}
	if err := fit(ctx, m, r, train, progress); err != nil {
		return nil, err
	}
	return m, nil
}

// FewShotRecipe is the recipe FewShot trains with: full-batch steps (at
// most 256 samples per step, in a seeded order), AdamW at a constant
// learning rate lr without weight decay or augmentation, and the gradient
// norm clipped to 1.
func FewShotRecipe(steps int, lr float64, seed uint64) Recipe {
	return Recipe{
		Name:        "few-shot-ft",
		InitSeed:    seed,
		DataSeed:    seed,
		Steps:       steps,
		BatchSize:   256,
		LR:          lr,
		MinLRFactor: 1,
		MaxGradNorm: 1,
	}
}

// FewShot is the "few-shot-ft" baseline: a copy of base fine-tuned on the
// calibration samples alone (the same few samples the training-free methods
// see) for a fixed number of steps, with FewShotRecipe. base is not
// modified. Typical settings are 50–200 steps at lr 1e-4 to 1e-3.
func FewShot(ctx context.Context, base model.Model, samples *data.Dataset, steps int, lr float64, seed uint64) (model.Model, error) {
	return FineTune(ctx, base, FewShotRecipe(steps, lr, seed), samples, nil)
}

// fit trains m's parameters in place on train as r says.
func fit(ctx context.Context, m model.Model, r Recipe, train *data.Dataset, progress func(done, total int)) error {
	if train == nil {
		return fmt.Errorf("zoo: recipe %q: no training data", r.Name)
	}
	if err := train.Validate(); err != nil {
		return fmt.Errorf("zoo: recipe %q: %w", r.Name, err)
	}
	steps, batch, err := r.steps(train.Len())
	if err != nil {
		return err
	}
	if err := autodiff.CheckLabels(train.Labels, m.NumLabels()); err != nil {
		return fmt.Errorf("zoo: recipe %q: labels against the model's %d-class head: %w", r.Name, m.NumLabels(), err)
	}
	if err := model.CheckInput(m, append([]int{batch}, train.Inputs.Shape[1:]...)); err != nil {
		return fmt.Errorf("zoo: recipe %q: %w", r.Name, err)
	}
	be, err := linalg.FromContext(ctx)
	if err != nil {
		return fmt.Errorf("zoo: %w", err)
	}
	var params []*model.Var
	for _, name := range m.ParamNames() {
		if p := m.Param(name); p != nil {
			p.SetNeedsGrad(true)
			params = append(params, p)
		}
	}
	opt := autodiff.NewAdamW[float32](r.LR, r.WeightDecay)
	opt.NoDecay = func(p *model.Var) bool { return len(p.Value.Shape) < 2 }
	shift := 0
	if r.Augment && train.IsText() {
		return fmt.Errorf("zoo: recipe %q: augmentation shifts images, and the training data is token sequences", r.Name)
	}
	if r.Augment {
		shift = r.MaxShift
		if shift == 0 {
			shift = 2
		}
	}
	s := &sampler{ds: train, batch: batch, seed: r.DataSeed, shift: shift}
	cfg := autodiff.TrainConfig{
		Steps:       steps,
		Backend:     be,
		MaxGradNorm: r.MaxGradNorm,
		Schedule:    autodiff.WarmupCosine(r.Warmup, steps, r.MinLRFactor),
	}
	if progress != nil {
		cfg.Progress = func(p autodiff.Progress) error {
			progress(p.Step+1, p.Steps)
			return nil
		}
	}
	_, err = autodiff.Train(ctx, cfg, params, opt, func(step int, t *model.Tape) (*model.Var, error) {
		x, y := s.batchAt(step)
		return t.CrossEntropy(forward(t, m, x), model.Targets(m, x, y)), nil
	})
	if err != nil {
		return fmt.Errorf("zoo: training %q: %w", r.Name, err)
	}
	return nil
}

// sampler serves the mini-batches of a run: epoch e visits the samples in
// a permutation drawn from (seed, e) and cut into batches of batch samples
// (the last partial batch dropped); with shift > 0 each image of step s is
// translated by offsets drawn from (seed, s).
type sampler struct {
	ds    *data.Dataset
	batch int
	seed  uint64
	shift int

	epoch int
	perm  []int
}

func (s *sampler) batchAt(step int) (*model.Tensor, []int) {
	n := s.ds.Len()
	per := n / s.batch
	epoch, k := step/per, step%per
	if s.perm == nil || epoch != s.epoch {
		r := rand.New(rand.NewPCG(s.seed, streamOrder^uint64(epoch)))
		s.perm, s.epoch = r.Perm(n), epoch
	}
	idx := s.perm[k*s.batch : (k+1)*s.batch]
	shape := s.ds.Inputs.Shape
	size := tensor.Numel(shape[1:])
	x := tensor.New[float32](append([]int{len(idx)}, shape[1:]...)...)
	y := make([]int, len(idx))
	var r *rand.Rand
	if s.shift > 0 {
		r = rand.New(rand.NewPCG(s.seed^streamAugment, uint64(step)))
	}
	for b, i := range idx {
		src := s.ds.Inputs.Data[i*size : (i+1)*size]
		dst := x.Data[b*size : (b+1)*size]
		if r == nil {
			copy(dst, src)
		} else {
			dx := r.IntN(2*s.shift+1) - s.shift
			dy := r.IntN(2*s.shift+1) - s.shift
			Shift(dst, src, shape[1], shape[2], shape[3], dx, dy)
		}
		y[b] = s.ds.Labels[i]
	}
	return x, y
}

// Shift writes into dst the image src ([c, h, w] values) translated by dx
// pixels to the right and dy pixels down, filling the uncovered pixels
// with 0. dst and src must not overlap.
func Shift(dst, src []float32, c, h, w, dx, dy int) {
	clear(dst)
	x0, x1 := max(0, dx), min(w, w+dx) // destination columns
	if x0 >= x1 {
		return
	}
	for k := range c {
		for y := max(0, dy); y < min(h, h+dy); y++ {
			d := dst[(k*h+y)*w:]
			sRow := src[(k*h+y-dy)*w:]
			copy(d[x0:x1], sRow[x0-dx:x1-dx])
		}
	}
}

// paramsOf lists m's parameter tensors in ParamNames order (for tests and
// comparisons).
func paramsOf(m model.Model) []*model.Tensor {
	names := m.ParamNames()
	out := make([]*model.Tensor, 0, len(names))
	for _, n := range names {
		out = append(out, m.Param(n).Value)
	}
	return slices.Clip(out)
}
