package transfer

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

type params = map[string]*tensor.Tensor[float32]

// perturbed returns m's parameters plus small random noise: a stand-in for
// a fine-tune, so that τ_A is non-zero on every parameter.
func perturbed(t *testing.T, m model.Model, seed uint64, scale float32) model.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	ps := params{}
	for _, n := range m.ParamNames() {
		v := m.Param(n).Value.Clone()
		for i := range v.Data {
			v.Data[i] += scale * float32(rng.NormFloat64())
		}
		ps[n] = v
	}
	out, err := model.WithParams(m, ps)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// randomSamples returns n inputs of the given per-sample shape with
// standard normal entries and random labels below classes.
func randomSamples(n, classes int, seed uint64, shape ...int) Samples {
	rng := rand.New(rand.NewPCG(seed, 5))
	x := tensor.New[float32](append([]int{n}, shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return Samples{Inputs: x, Labels: labels}
}

// permuteAxes returns src with axis k re-indexed by perms[k] (nil: kept):
// out[..., i, ...] = src[..., perm[i], ...]. Axes beyond len(perms) are kept.
func permuteAxes(src *tensor.Tensor[float32], perms ...[]int) *tensor.Tensor[float32] {
	out := tensor.New[float32](src.Shape...)
	shape := src.Shape
	idx := make([]int, len(shape))
	for o := range out.Data {
		rem := o
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k] = rem % shape[k]
			rem /= shape[k]
		}
		s := 0
		for k := range shape {
			i := idx[k]
			if k < len(perms) && perms[k] != nil {
				i = perms[k][i]
			}
			s = s*shape[k] + i
		}
		out.Data[o] = src.Data[s]
	}
	return out
}

// lastAxis builds perms for a tensor of rank r that permute only its last
// axis with p.
func lastAxis(r int, p []int) [][]int {
	perms := make([][]int, r)
	perms[r-1] = p
	return perms
}

// taskVectors returns τ of every parameter of a (fine-tuned minus base).
func taskVectors(t *testing.T, base, ft model.Model) params {
	out := params{}
	for _, n := range ft.ParamNames() {
		tau := ft.Param(n).Value.Clone()
		for i, v := range base.Param(n).Value.Data {
			tau.Data[i] -= v
		}
		out[n] = tau
	}
	return out
}

// relErr is max|a−b| / max|b|.
func relErr(a, b *tensor.Tensor[float32]) float64 {
	m := 0.0
	for _, v := range b.Data {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return tensor.MaxAbsDiff(a, b) / math.Max(m, 1e-12)
}

// checkRecovered fails t unless res holds every delta of want within tol
// (relative) and its model gives aft's logits on x within tol: what a
// transfer to an exact copy of the source must do.
func checkRecovered(t *testing.T, res *Result, want params, aft model.Model, x *tensor.Tensor[float32], tol float64) {
	t.Helper()
	for name, w := range want {
		d := res.Delta[name]
		if d == nil {
			t.Errorf("%s: no delta", name)
			continue
		}
		if e := relErr(d, w); e > tol {
			t.Errorf("%s: transported delta differs from the permuted τ_A by %.3g (relative)", name, e)
		}
	}
	if e := relErr(logits(res.Model, x), logits(aft, x)); e > tol {
		t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
	}
}

// runMethod prepares and finishes one method with a fixed α.
func runMethod(t *testing.T, ms Models, calib Samples, method string, alpha float64) *Result {
	t.Helper()
	return runMethodOpts(t, ms, calib, method, alpha, Options{})
}

// runMethodOpts is runMethod with options (backend and batch size are set).
func runMethodOpts(t *testing.T, ms Models, calib Samples, method string, alpha float64, opts Options) *Result {
	t.Helper()
	m, err := Lookup(method)
	if err != nil {
		t.Fatal(err)
	}
	opts.Backend, opts.BatchSize = linalg.MustDefault(), 16
	p, err := Prepare(context.Background(), ms, calib, m.Needs(), opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Finish(context.Background(), p, m, Samples{}, alpha, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// logits runs m on the inputs without gradients.
func logits(m model.Model, x *tensor.Tensor[float32]) *tensor.Tensor[float32] {
	tp := newInferenceTape()
	return m.Forward(tp, autodiff.Const(x)).Value
}

func newInferenceTape() *model.Tape {
	tp := autodiff.NewTape[float32](linalg.MustDefault())
	tp.NoGrad = true
	return tp
}

func randPerm(rng *rand.Rand, n int) []int { return rng.Perm(n) }

func mlpModel(t *testing.T, hidden []int, seed uint64) model.Model {
	t.Helper()
	cfg := model.MLPConfig{InputSize: 12, HiddenSizes: hidden, HiddenAct: "gelu", Labels: []string{"a", "b", "c", "d"}}.Map()
	m, err := model.Build(cfg, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBiCoRecoversPermutedMLP: B is A with its hidden units permuted, so
// BiCo with α = 1 must return exactly the permuted τ_A.
func TestBiCoRecoversPermutedMLP(t *testing.T) {
	a := mlpModel(t, []int{16, 16}, 1)
	aft := perturbed(t, a, 2, 0.05)
	rng := rand.New(rand.NewPCG(3, 3))
	p0, p1 := randPerm(rng, 16), randPerm(rng, 16)
	pa := model.Params(a)
	pb := params{
		"layers.0.weight":   permuteAxes(pa["layers.0.weight"], p0),
		"layers.0.bias":     permuteAxes(pa["layers.0.bias"], p0),
		"layers.1.weight":   permuteAxes(pa["layers.1.weight"], p1, p0),
		"layers.1.bias":     permuteAxes(pa["layers.1.bias"], p1),
		"classifier.weight": permuteAxes(pa["classifier.weight"], nil, p1),
		"classifier.bias":   pa["classifier.bias"].Clone(),
	}
	b, err := model.WithParams(a, pb)
	if err != nil {
		t.Fatal(err)
	}
	calib := randomSamples(128, 4, 7, 12)
	if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
		t.Fatalf("the permuted model is not functionally equal to the source: logits differ by %.3g", e)
	}
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	for _, m := range res.Maps {
		t.Logf("%s rank %d quality %.6f", m.Key, m.Rank, m.Quality)
		if m.DA == 4 {
			t.Logf("%v", m.T)
		}
	}
	tau := taskVectors(t, a, aft)
	want := params{
		"layers.0.weight":   permuteAxes(tau["layers.0.weight"], p0),
		"layers.0.bias":     permuteAxes(tau["layers.0.bias"], p0),
		"layers.1.weight":   permuteAxes(tau["layers.1.weight"], p1, p0),
		"layers.1.bias":     permuteAxes(tau["layers.1.bias"], p1),
		"classifier.weight": permuteAxes(tau["classifier.weight"], nil, p1),
		"classifier.bias":   tau["classifier.bias"],
	}
	checkRecovered(t, res, want, aft, calib.Inputs, 1e-3)
}
