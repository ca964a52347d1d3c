package autodiff

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// regression is a small classification problem: a linear head on fixed
// random features, with labels from a hidden linear teacher.
type regression struct {
	x      *Var[float64]
	labels []int
	w, b   *Var[float64]
}

func newRegression(seed uint64) *regression {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	const n, d, c = 32, 6, 3
	x := randT(rng, n, d)
	teacher := randT(rng, c, d)
	labels := make([]int, n)
	for i := range labels {
		best := math.Inf(-1)
		for k := range c {
			s := 0.0
			for j := range d {
				s += x.Data[i*d+j] * teacher.Data[k*d+j]
			}
			if s > best {
				best, labels[i] = s, k
			}
		}
	}
	return &regression{x: Const(x), labels: labels, w: Param(tensor.New[float64](c, d)), b: Param(tensor.New[float64](c))}
}

func (r *regression) params() []*Var[float64] { return []*Var[float64]{r.w, r.b} }

func (r *regression) loss(_ int, tp *Tape[float64]) (*Var[float64], error) {
	return tp.CrossEntropy(tp.Linear("head", r.x, r.w, r.b), r.labels), nil
}

func TestTrainLearns(t *testing.T) {
	r := newRegression(61)
	var reports []Progress
	cfg := TrainConfig{
		Steps: 200, Backend: linalg.MustDefault(), MaxGradNorm: 1, Every: 50,
		Schedule: WarmupLinear(10, 200),
		Progress: func(p Progress) error { reports = append(reports, p); return nil },
	}
	losses, err := Train(context.Background(), cfg, r.params(), NewAdamW[float64](0.1, 0.01), r.loss)
	if err != nil {
		t.Fatal(err)
	}
	if len(losses) != 200 || math.Abs(losses[0]-math.Log(3)) > 1e-12 || losses[199] > 0.3*losses[0] {
		t.Errorf("%d losses, %g → %g", len(losses), losses[0], losses[len(losses)-1])
	}
	if r.w.Grad != nil || r.b.Grad != nil {
		t.Error("gradients left after training")
	}
	tp := NewTape[float64](linalg.MustDefault())
	tp.NoGrad = true
	if acc := Accuracy(tp.Linear("", r.x, r.w, r.b).Value, r.labels); acc < 0.9 {
		t.Errorf("training accuracy %g", acc)
	}
	if len(reports) != 4 || reports[0].Step != 49 || reports[3].Step != 199 || reports[3].Loss != losses[199] {
		t.Fatalf("progress reports %+v", reports)
	}
	if lr := reports[1].LR; math.Abs(lr-0.1*float64(200-99)/190) > 1e-12 {
		t.Errorf("scheduled LR %g", lr)
	}
	if reports[0].GradNorm <= 0 {
		t.Errorf("grad norm %g", reports[0].GradNorm)
	}
}

// plainOpt is an optimiser without a settable learning rate.
type plainOpt struct{ steps int }

func (o *plainOpt) Step([]*Var[float64]) { o.steps++ }

func TestTrainStops(t *testing.T) {
	r := newRegression(63)
	be := linalg.MustDefault()
	opt := &SGD[float64]{LR: 0.1}

	// ErrStop from the callback: no error, losses so far.
	losses, err := Train(context.Background(), TrainConfig{Steps: 10, Backend: be,
		Progress: func(p Progress) error {
			if p.Step == 2 {
				return ErrStop
			}
			return nil
		}}, r.params(), opt, r.loss)
	if err != nil || len(losses) != 3 {
		t.Errorf("ErrStop: %d losses, %v", len(losses), err)
	}

	// Another callback error is returned.
	boom := errors.New("boom")
	_, err = Train(context.Background(), TrainConfig{Steps: 10, Backend: be,
		Progress: func(Progress) error { return boom }}, r.params(), opt, r.loss)
	if !errors.Is(err, boom) {
		t.Errorf("callback error: %v", err)
	}

	// Cancellation is checked before each step.
	ctx, cancel := context.WithCancel(context.Background())
	losses, err = Train(ctx, TrainConfig{Steps: 10, Backend: be}, r.params(), opt,
		func(s int, tp *Tape[float64]) (*Var[float64], error) {
			if s == 4 {
				cancel()
			}
			return r.loss(s, tp)
		})
	if !errors.Is(err, context.Canceled) || len(losses) != 5 {
		t.Errorf("cancel: %d losses, %v", len(losses), err)
	}

	// A failing step is wrapped.
	_, err = Train(context.Background(), TrainConfig{Steps: 3, Backend: be}, r.params(), opt,
		func(s int, tp *Tape[float64]) (*Var[float64], error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("step error: %v", err)
	}

	// A non-finite loss stops without touching the parameters.
	before := r.w.Value.Clone()
	_, err = Train(context.Background(), TrainConfig{Steps: 3, Backend: be}, r.params(), opt,
		func(s int, tp *Tape[float64]) (*Var[float64], error) {
			l, _ := r.loss(s, tp)
			return tp.Scale(l, math.Inf(1)), nil
		})
	if err == nil || !strings.Contains(err.Error(), "loss is") || tensor.MaxAbsDiff(before, r.w.Value) != 0 {
		t.Errorf("infinite loss: %v", err)
	}

	// A loss that depends on no parameter, or is not a scalar.
	_, err = Train(context.Background(), TrainConfig{Steps: 3, Backend: be}, r.params(), opt,
		func(s int, tp *Tape[float64]) (*Var[float64], error) { return tp.Sum(r.x), nil })
	if err == nil {
		t.Error("constant loss: no error")
	}
	_, err = Train(context.Background(), TrainConfig{Steps: 3, Backend: be}, r.params(), opt,
		func(s int, tp *Tape[float64]) (*Var[float64], error) { return tp.Linear("", r.x, r.w, nil), nil })
	if err == nil {
		t.Error("non-scalar loss: no error")
	}

	// A schedule needs an LRSetter.
	po := &plainOpt{}
	_, err = Train(context.Background(), TrainConfig{Steps: 3, Backend: be, Schedule: ConstantSchedule()}, r.params(), po, r.loss)
	if err == nil || po.steps != 0 {
		t.Errorf("schedule without LRSetter: %v after %d steps", err, po.steps)
	}
	losses, err = Train(context.Background(), TrainConfig{Steps: 3, Backend: be}, r.params(), po, r.loss)
	if err != nil || po.steps != 3 || len(losses) != 3 {
		t.Errorf("plain optimiser: %v after %d steps", err, po.steps)
	}
}
