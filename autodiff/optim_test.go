package autodiff

import (
	"context"
	"math"
	"testing"

	"github.com/bico-dev/bico/tensor"
)

// withGradient returns a parameter with the given value and gradient.
func withGradient(value, grad []float64) *Var[float64] {
	p := Param(tensor.FromSlice(append([]float64(nil), value...), len(value)))
	if grad != nil {
		p.Grad = tensor.FromSlice(append([]float64(nil), grad...), len(grad))
	}
	return p
}

func near(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s = %v, want %v", name, got, want)
			return
		}
	}
}

func TestAdamWHandSteps(t *testing.T) {
	opt := NewAdamW[float64](0.1, 0.01)
	p := withGradient([]float64{1, -2}, []float64{0.5, -0.1})
	frozen := withGradient([]float64{3}, nil)
	opt.Step([]*Var[float64]{p, frozen, p})
	// Step 1: m̂ = g, v̂ = g², so p ← p(1 − lr·wd) − lr·g/(|g| + eps).
	want := []float64{
		1*(1-0.001) - 0.1*0.5/(0.5+1e-8),
		-2*(1-0.001) + 0.1*0.1/(0.1+1e-8),
	}
	near(t, "adamw step 1", p.Value.Data, want, 1e-15)
	if frozen.Value.Data[0] != 3 {
		t.Error("a parameter without gradient moved")
	}
	// Step 2 with g = (−0.5, 0.3), by hand from the moments.
	p.Grad = tensor.FromSlice([]float64{-0.5, 0.3}, 2)
	g1, g2 := []float64{0.5, -0.1}, []float64{-0.5, 0.3}
	for i := range want {
		m := 0.9*0.1*g1[i] + 0.1*g2[i]
		v := 0.999*0.001*g1[i]*g1[i] + 0.001*g2[i]*g2[i]
		mh, vh := m/(1-0.81), v/(1-0.999*0.999)
		want[i] = want[i]*(1-0.001) - 0.1*mh/(math.Sqrt(vh)+1e-8)
	}
	opt.Step([]*Var[float64]{p})
	near(t, "adamw step 2", p.Value.Data, want, 1e-12)

	// NoDecay exempts a parameter from the decay.
	nd := NewAdamW[float64](0.1, 0.5)
	nd.NoDecay = func(*Var[float64]) bool { return true }
	q := withGradient([]float64{2}, []float64{1})
	nd.Step([]*Var[float64]{q})
	near(t, "adamw no decay", q.Value.Data, []float64{2 - 0.1/(1+1e-8)}, 1e-15)
}

// TestAdamWConverges minimises ½Σ w⊙(p − c)² with Train.
func TestAdamWConverges(t *testing.T) {
	c := Const(tensor.FromSlice([]float64{1.5, -2, 0.25, 3}, 4))
	w := Const(tensor.FromSlice([]float64{1, 10, 0.5, 2}, 4))
	p := Param(tensor.New[float64](4))
	opt := NewAdamW[float64](0.05, 0)
	losses, err := Train(context.Background(), TrainConfig{Steps: 600, Schedule: WarmupCosine(20, 600, 0.01)},
		[]*Var[float64]{p}, opt,
		func(_ int, tp *Tape[float64]) (*Var[float64], error) {
			d := tp.Sub(p, c)
			return tp.Scale(tp.Sum(tp.Mul(w, tp.Mul(d, d))), 0.5), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "adamw minimum", p.Value.Data, c.Value.Data, 1e-3)
	if losses[len(losses)-1] > 1e-5 || losses[len(losses)-1] >= losses[0] {
		t.Errorf("loss %g → %g", losses[0], losses[len(losses)-1])
	}
	if opt.LR != 0.05 {
		t.Errorf("learning rate not restored: %g", opt.LR)
	}
}

func TestSGDHandSteps(t *testing.T) {
	opt := &SGD[float64]{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1}
	p := withGradient([]float64{1, -1}, []float64{2, 0})
	opt.Step([]*Var[float64]{p})
	// d = g + 0.1p = (2.1, −0.1); b = d; p ← p − 0.1b.
	near(t, "sgd step 1", p.Value.Data, []float64{0.79, -0.99}, 1e-15)
	p.Grad = tensor.FromSlice([]float64{1, 1}, 2)
	opt.Step([]*Var[float64]{p})
	// d = (1.079, 0.901); b = 0.9·(2.1, −0.1) + d = (2.969, 0.811).
	near(t, "sgd step 2", p.Value.Data, []float64{0.79 - 0.2969, -0.99 - 0.0811}, 1e-15)

	plain := &SGD[float64]{LR: 0.5}
	q := withGradient([]float64{1}, []float64{4})
	plain.Step([]*Var[float64]{q})
	plain.Step([]*Var[float64]{q})
	near(t, "sgd plain", q.Value.Data, []float64{-3}, 0)
}

func TestClipGradNorm(t *testing.T) {
	a := withGradient([]float64{0, 0}, []float64{3, 4})
	b := withGradient([]float64{0}, []float64{12})
	none := withGradient([]float64{0}, nil)
	ps := []*Var[float64]{a, b, none, a}
	if n := GradNorm(ps); n != 13 {
		t.Fatalf("norm %g, want 13", n)
	}
	if n := ClipGradNorm(ps, 20); n != 13 || a.Grad.Data[0] != 3 {
		t.Fatalf("no-op clip: norm %g, grad %v", n, a.Grad.Data)
	}
	if n := ClipGradNorm(ps, 6.5); n != 13 {
		t.Fatalf("pre-clip norm %g, want 13", n)
	}
	if n := GradNorm(ps); math.Abs(n-6.5) > 1e-6 {
		t.Errorf("post-clip norm %g, want 6.5", n)
	}
	near(t, "clipped", b.Grad.Data, []float64{6}, 1e-6)
	if n := ClipGradNorm(ps, 0); math.Abs(n-6.5) > 1e-6 {
		t.Errorf("maxNorm 0 changed something: %g", n)
	}
	ZeroGrad(ps)
	if a.Grad != nil || b.Grad != nil {
		t.Error("ZeroGrad left gradients")
	}
	// float32 gradients.
	c := Param(tensor.FromSlice([]float32{0, 0}, 2))
	c.Grad = tensor.FromSlice([]float32{30, 40}, 2)
	if n := ClipGradNorm([]*Var[float32]{c}, 1); n != 50 || math.Abs(float64(c.Grad.Data[1])-0.8) > 1e-6 {
		t.Errorf("float32 clip: norm %g, grad %v", n, c.Grad.Data)
	}
}

func TestSchedules(t *testing.T) {
	s := WarmupCosine(4, 12, 0.1)
	near(t, "warmup", []float64{s(0), s(1), s(3)}, []float64{0.25, 0.5, 1}, 1e-15)
	near(t, "cosine", []float64{s(4), s(8), s(12), s(100)}, []float64{1, 0.55, 0.1, 0.1}, 1e-12)
	l := WarmupLinear(2, 10)
	near(t, "linear", []float64{l(0), l(1), l(2), l(6), l(10), l(11)}, []float64{0.5, 1, 1, 0.5, 0, 0}, 1e-15)
	if ConstantSchedule()(123) != 1 {
		t.Error("constant schedule")
	}
	for i := 1; i < 12; i++ {
		if i >= 4 && s(i) > s(i-1) {
			t.Errorf("cosine rises at %d", i)
		}
	}
}
