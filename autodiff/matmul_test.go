package autodiff

import (
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// randT returns a tensor of the given shape with standard normal entries.
func randT(rng *rand.Rand, shape ...int) *tensor.Tensor[float64] {
	t := tensor.New[float64](shape...)
	for i := range t.Data {
		t.Data[i] = rng.NormFloat64()
	}
	return t
}

const gradTol = 1e-6

func checkGrad(t *testing.T, name string, inputs []*tensor.Tensor[float64], f func(tp *Tape[float64], in []*Var[float64]) *Var[float64]) {
	t.Helper()
	e, where := GradCheck(linalg.MustDefault(), inputs, f)
	if e > gradTol {
		t.Errorf("%s: gradient error %.3g at %s", name, e, where)
	}
}

func TestMatMulGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name   string
		a, b   []int
		tA, tB bool
	}{
		{"plain", []int{3, 5}, []int{5, 7}, false, false},
		{"transA", []int{5, 3}, []int{5, 7}, true, false},
		{"transB", []int{3, 5}, []int{7, 5}, false, true},
		{"both", []int{5, 3}, []int{7, 5}, true, true},
		{"batched", []int{2, 3, 3, 5}, []int{2, 3, 5, 4}, false, false},
		{"batchedTB", []int{2, 3, 5}, []int{2, 4, 5}, false, true},
		{"batchedTA", []int{2, 5, 3}, []int{2, 5, 4}, true, false},
		{"shared", []int{2, 3, 5}, []int{5, 4}, false, false},
		{"sharedTB", []int{2, 3, 5}, []int{4, 5}, false, true},
		{"sharedTA", []int{2, 5, 3}, []int{5, 4}, true, false},
		{"sharedTATB", []int{2, 5, 3}, []int{4, 5}, true, true},
	} {
		checkGrad(t, c.name, []*tensor.Tensor[float64]{randT(rng, c.a...), randT(rng, c.b...)},
			func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
				return tp.MatMul(in[0], in[1], c.tA, c.tB)
			})
	}
}

func TestMatMulValue(t *testing.T) {
	tp := NewTape[float64](linalg.MustDefault())
	a := Const(tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 2, 3))
	b := Const(tensor.FromSlice([]float64{1, 0, 0, 1, 1, 1}, 3, 2))
	got := tp.MatMul(a, b, false, false).Value.Data
	want := []float64{4, 5, 10, 11}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("matmul = %v, want %v", got, want)
		}
	}
}

func TestLinearGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	checkGrad(t, "linear", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5), randT(rng, 4, 5), randT(rng, 4)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.Linear("site", in[0], in[1], in[2])
		})
	checkGrad(t, "linear-nobias", []*tensor.Tensor[float64]{randT(rng, 7, 5), randT(rng, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.Linear("", in[0], in[1], nil)
		})
}

type recorder struct {
	seen map[SiteKind]*tensor.Tensor[float64]
}

func (r *recorder) Wants(site string, kind SiteKind) bool { return site == "s" }
func (r *recorder) Observe(site string, kind SiteKind, x *tensor.Tensor[float64]) {
	r.seen[kind] = x.Clone()
}

func TestLinearObserver(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tp := NewTape[float64](linalg.MustDefault())
	rec := &recorder{seen: map[SiteKind]*tensor.Tensor[float64]{}}
	tp.Observer = rec
	x := Param(randT(rng, 4, 3))
	w := Param(randT(rng, 2, 3))
	y := tp.Linear("s", x, w, nil)
	// Two consumers of x: the input gradient must be the total.
	z := tp.Linear("other", x, Param(randT(rng, 2, 3)), nil)
	seed := randT(rng, 4, 2)
	tp.BackwardFrom(y, seed)
	_ = z
	if tensor.MaxAbsDiff(rec.seen[SiteInput], x.Value) != 0 {
		t.Error("input not observed")
	}
	if tensor.MaxAbsDiff(rec.seen[SiteOutput], y.Value) != 0 {
		t.Error("output not observed")
	}
	if tensor.MaxAbsDiff(rec.seen[SiteOutputGrad], seed) != 0 {
		t.Error("output gradient not observed")
	}
	if rec.seen[SiteInputGrad] == nil || tensor.MaxAbsDiff(rec.seen[SiteInputGrad], x.Grad) != 0 {
		t.Error("input gradient not observed")
	}
}

func TestOutputObserver(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tp := NewTape[float64](linalg.MustDefault())
	rec := &recorder{seen: map[SiteKind]*tensor.Tensor[float64]{}}
	tp.Observer = rec
	table := randT(rng, 5, 3)
	// A frozen table: the rows become a leaf that needs a gradient, as a
	// model does in a calibration pass.
	e := tp.Embedding(Const(table), []int{4, 0, 4, 2}, 2, 2)
	e.SetNeedsGrad(true)
	e = tp.Output("s", e)
	y := tp.Linear("other", e, Param(randT(rng, 2, 3)), nil)
	seed := randT(rng, 2, 2, 2)
	tp.BackwardFrom(y, seed)
	if tensor.MaxAbsDiff(rec.seen[SiteOutput], e.Value) != 0 {
		t.Error("output not observed")
	}
	if rec.seen[SiteOutputGrad] == nil || tensor.MaxAbsDiff(rec.seen[SiteOutputGrad], e.Grad) != 0 {
		t.Error("output gradient not observed")
	}
	if rec.seen[SiteInput] != nil {
		t.Error("an input observed at a site that has none")
	}
}

// TestGradAtSites: with constant inputs and weights, a tape with
// GradAtSites runs the backward pass from the loss down to site "s" (whose
// output gradient the observer wants) and no further: the gradient there
// is the one a pass from a gradient-collecting input gives, and the
// layer below it gets none.
func TestGradAtSites(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x, w0, w1, w2 := randT(rng, 4, 3), randT(rng, 5, 3), randT(rng, 6, 5), randT(rng, 2, 6)
	seed := randT(rng, 4, 2)
	run := func(atSites bool) (*recorder, *Var[float64], *Var[float64]) {
		tp := NewTape[float64](linalg.MustDefault())
		rec := &recorder{seen: map[SiteKind]*tensor.Tensor[float64]{}}
		tp.Observer, tp.GradAtSites = rec, atSites
		in := Const(x)
		in.SetNeedsGrad(!atSites)
		h := tp.ReLU(tp.Linear("below", in, Const(w0), nil))
		y := tp.Linear("s", h, Const(w1), nil)
		out := tp.Linear("above", tp.ReLU(y), Const(w2), nil)
		tp.BackwardFrom(out, seed)
		return rec, in, h
	}
	full, _, _ := run(false)
	cut, in, h := run(true)
	if g := cut.seen[SiteOutputGrad]; g == nil || tensor.MaxAbsDiff(g, full.seen[SiteOutputGrad]) > 1e-12 {
		t.Fatalf("output gradient at the site: %v, want %v", g, full.seen[SiteOutputGrad])
	}
	if in.Grad != nil || h.Grad == nil {
		t.Errorf("gradients reached the input (%v) or not the site's input (%v)", in.Grad != nil, h.Grad != nil)
	}
}
