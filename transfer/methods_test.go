package transfer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// TestBiCoRecoversWiderMLP: B is A embedded in a wider model (extra hidden
// units with zero weights in and out, at permuted positions), so BiCo with
// α = 1 must place τ_A exactly on A's units and nothing elsewhere.
func TestBiCoRecoversWiderMLP(t *testing.T) {
	a := mlpModel(t, []int{16, 16}, 1)
	aft := perturbed(t, a, 2, 0.05)
	wide := mlpModel(t, []int{20, 24}, 5)
	rng := rand.New(rand.NewPCG(8, 8))
	// pos[i] is where A's unit i sits in B.
	pos0, pos1 := rng.Perm(20)[:16], rng.Perm(24)[:16]
	embed := func(src params) params {
		out := params{}
		for _, n := range wide.ParamNames() {
			out[n] = tensor.New[float32](wide.Param(n).Value.Shape...)
		}
		for i := 0; i < 16; i++ {
			for j := 0; j < 12; j++ {
				out["layers.0.weight"].Data[pos0[i]*12+j] = src["layers.0.weight"].Data[i*12+j]
			}
			out["layers.0.bias"].Data[pos0[i]] = src["layers.0.bias"].Data[i]
			for j := 0; j < 16; j++ {
				out["layers.1.weight"].Data[pos1[i]*20+pos0[j]] = src["layers.1.weight"].Data[i*16+j]
			}
			out["layers.1.bias"].Data[pos1[i]] = src["layers.1.bias"].Data[i]
			for c := 0; c < 4; c++ {
				out["classifier.weight"].Data[c*24+pos1[i]] = src["classifier.weight"].Data[c*16+i]
			}
		}
		copy(out["classifier.bias"].Data, src["classifier.bias"].Data)
		return out
	}
	b, err := model.WithParams(wide, embed(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
	calib := randomSamples(128, 4, 7, 12)
	if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
		t.Fatalf("the widened model is not functionally equal to the source: logits differ by %.3g", e)
	}
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	want := embed(taskVectors(t, a, aft))
	for name, w := range want {
		if e := relErr(res.Delta[name], w); e > 1e-3 {
			t.Errorf("%s: transported delta differs from the embedded τ_A by %.3g (relative)", name, e)
		}
	}
	if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 1e-3 {
		t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
	}
}

// TestNaiveOnSameModel: with B = A, naive transfer at α = 1 is θ_A^ft.
func TestNaiveOnSameModel(t *testing.T) {
	a := mlpModel(t, []int{16}, 1)
	aft := perturbed(t, a, 2, 0.05)
	res := runMethod(t, Models{a, aft, a}, randomSamples(32, 4, 1, 12), "naive", 1)
	for _, n := range a.ParamNames() {
		if e := tensor.MaxAbsDiff(res.Model.Param(n).Value, aft.Param(n).Value); e > 1e-6 {
			t.Errorf("%s: naive(α=1) differs from θ_A^ft by %g", n, e)
		}
	}
}

// TestEveryMethodOnSameModel: with B = A every bilinear method's maps are
// the identity, so each returns τ_A; gradfix keeps a subset of τ_A.
func TestEveryMethodOnSameModel(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	calib := randomSamples(64, 3, 9, 1, 8, 8)
	tau := taskVectors(t, a, aft)
	for _, name := range []string{"bico", "bico-grad", "theseus"} {
		res := runMethod(t, Models{a, aft, a}, calib, name, 1)
		for n, w := range tau {
			if e := relErr(res.Delta[n], w); e > 2e-3 {
				t.Errorf("%s: %s differs from τ_A by %.3g", name, n, e)
			}
		}
	}
	res := runMethod(t, Models{a, aft, a}, calib, "gradfix", 1)
	kept, total := 0, 0
	for n, w := range tau {
		for i, v := range res.Delta[n].Data {
			total++
			if v != 0 {
				kept++
				if v != w.Data[i] {
					t.Fatalf("gradfix changed %s[%d] from %g to %g", n, i, w.Data[i], v)
				}
			}
		}
	}
	if kept == 0 || kept == total {
		t.Errorf("gradfix kept %d of %d coordinates; want a proper subset", kept, total)
	}
}

// TestDeterministic: the same inputs give bitwise identical deltas.
func TestDeterministic(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	b := tinyViT(t, 7)
	calib := randomSamples(40, 3, 9, 1, 8, 8)
	r1 := runMethod(t, Models{a, aft, b}, calib, "bico", 2)
	r2 := runMethod(t, Models{a, aft, b}, calib, "bico", 2)
	for n, d := range r1.Delta {
		for i, v := range d.Data {
			if math.Float32bits(v) != math.Float32bits(r2.Delta[n].Data[i]) {
				t.Fatalf("%s[%d]: %g then %g", n, i, v, r2.Delta[n].Data[i])
			}
		}
	}
}

// TestShapeMismatchRefused: naive and gradfix refuse models of other
// widths with an error naming the parameter.
func TestShapeMismatchRefused(t *testing.T) {
	a := mlpModel(t, []int{16}, 1)
	aft := perturbed(t, a, 2, 0.05)
	b := mlpModel(t, []int{20}, 3)
	for _, name := range []string{"naive", "gradfix"} {
		m, _ := Lookup(name)
		p, err := Prepare(context.Background(), Models{a, aft, b}, randomSamples(16, 4, 1, 12), m.Needs(), Options{Backend: linalg.MustDefault()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Finish(context.Background(), p, m, Samples{}, 1, nil)
		if err == nil || !strings.Contains(err.Error(), "layers.0.weight") || !strings.Contains(err.Error(), "same shape") {
			t.Errorf("%s on different widths: error %v, want one naming layers.0.weight", name, err)
		}
	}
}

// TestBadCalibration: empty sets and labels outside a head are errors.
func TestBadCalibration(t *testing.T) {
	a := mlpModel(t, []int{16}, 1)
	aft := perturbed(t, a, 2, 0.05)
	m, _ := Lookup("bico")
	opts := Options{Backend: linalg.MustDefault()}
	empty := Samples{Inputs: tensor.New[float32](0, 12), Labels: nil}
	if _, err := Prepare(context.Background(), Models{a, aft, a}, empty, m.Needs(), opts); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty calibration set: error %v", err)
	}
	other := mlpModel(t, []int{16}, 3)
	cfg := model.MLPConfig{InputSize: 12, HiddenSizes: []int{16}, HiddenAct: "gelu", Labels: []string{"a", "b"}}.Map()
	twoClass, err := model.Build(cfg, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	// A fine-tune with a new label set is transferred (TestBiCoNewLabelSet),
	// but its labels must fit its own head.
	if p, err := Prepare(context.Background(), Models{a, twoClass, other}, randomSamples(8, 2, 1, 12), m.Needs(), opts); err != nil || p.Head == nil {
		t.Errorf("fine-tuned head of 2 labels, target of 4: error %v, want task heads", err)
	}
	if _, err := Prepare(context.Background(), Models{a, twoClass, other}, randomSamples(8, 4, 1, 12), m.Needs(), opts); err == nil || !strings.Contains(err.Error(), "fine-tuned source's head") {
		t.Errorf("labels 0–3 for a fine-tuned head of 2 labels: error %v", err)
	}
	bad := randomSamples(8, 4, 1, 12)
	bad.Labels[3] = 7
	if _, err := Prepare(context.Background(), Models{a, aft, a}, bad, m.Needs(), opts); err == nil || !strings.Contains(err.Error(), "7") {
		t.Errorf("label 7 for a 4-class head: error %v", err)
	}
}

// TestChooseAlpha picks the best held-out point and reports the curve.
func TestChooseAlpha(t *testing.T) {
	a := mlpModel(t, []int{16}, 1)
	aft := perturbed(t, a, 2, 0.3)
	calib := randomSamples(64, 4, 3, 12)
	// Labels the fine-tuned source predicts: transferring it helps.
	calib.Labels = argmax(logits(aft, calib.Inputs))
	m, _ := Lookup("naive")
	p, err := Prepare(context.Background(), Models{a, aft, a}, calib, m.Needs(), Options{Backend: linalg.MustDefault()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Finish(context.Background(), p, m, calib, -1, []float64{0, 0.5, 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Curve) != 3 || res.AlphaFrom != "held-out" {
		t.Fatalf("curve %v, chosen by %q", res.Curve, res.AlphaFrom)
	}
	if res.Alpha != 1 || res.Curve[2].Accuracy != 1 {
		t.Errorf("chose α = %g from %v; want 1 (accuracy 1)", res.Alpha, res.Curve)
	}
}

func argmax(x *tensor.Tensor[float32]) []int {
	c := x.Dim(-1)
	out := make([]int, x.Rows())
	for r := range out {
		best := 0
		for j := 1; j < c; j++ {
			if x.Data[r*c+j] > x.Data[r*c+best] {
				best = j
			}
		}
		out[r] = best
	}
	return out
}

func TestRelativeDepth(t *testing.T) {
	for _, c := range []struct {
		lA, lB int
		want   []int
	}{
		{4, 6, []int{0, 1, 1, 2, 2, 3}},
		{6, 4, []int{0, 2, 3, 5}},
		{4, 4, []int{0, 1, 2, 3}},
		{3, 1, []int{0}},
	} {
		got := RelativeDepth(c.lA, c.lB)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("RelativeDepth(%d, %d) = %v, want %v", c.lA, c.lB, got, c.want)
		}
	}
}

// TestBlockAlphaNeverWorseOnHeldOut: per-block α only keeps changes that
// lower the held-out loss, so the result is never worse there than the
// global α.
func TestBlockAlphaNeverWorseOnHeldOut(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.2)
	b := tinyViT(t, 5)
	calib, held := randomSamples(48, 3, 1, 1, 8, 8), randomSamples(24, 3, 2, 1, 8, 8)
	held.Labels = argmax(logits(aft, held.Inputs))
	m, _ := Lookup("bico")
	ctx := context.Background()
	var globalLoss float64
	for _, blockAlpha := range []bool{false, true} {
		p, err := Prepare(ctx, Models{a, aft, b}, calib, m.Needs(), Options{Backend: linalg.MustDefault(), BlockAlpha: blockAlpha})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Finish(ctx, p, m, held, -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := eval.Evaluate(ctx, linalg.MustDefault(), res.Model, held.Inputs, held.Labels, 64)
		if err != nil {
			t.Fatal(err)
		}
		if !blockAlpha {
			globalLoss = r.Loss
			continue
		}
		if r.Loss > globalLoss+1e-9 {
			t.Errorf("per-block α held-out loss %.6f > global α's %.6f", r.Loss, globalLoss)
		}
		if len(res.BlockAlpha) == 0 || !strings.Contains(res.Setting, "block α×") {
			t.Errorf("per-block α not reported: %+v %q", res.BlockAlpha, res.Setting)
		}
	}
}

// TestChooseAlphaInPlace: ChooseAlpha rewrites one candidate model for
// every α; its curve must be exactly that of a model built afresh for each
// α, for every architecture (a model caching anything derived from its
// weights would break this).
func TestChooseAlphaInPlace(t *testing.T) {
	grid := []float64{0.5, 2, 1}
	for _, tc := range []struct {
		name  string
		a, b  model.Model
		calib Samples
	}{
		{"mlp", mlpModel(t, []int{16}, 1), mlpModel(t, []int{16}, 2), randomSamples(12, 4, 3, 12)},
		{"vit", tinyViT(t, 1), tinyViT(t, 2), randomSamples(12, 3, 3, 1, 8, 8)},
		{"llama", tinyLlama(t, 1), tinyLlama(t, 2), tokenSamples(12, 6, 20, 3, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			delta := Delta{}
			aft := perturbed(t, tc.a, 9, 0.3)
			for _, name := range tc.b.ParamNames() {
				if name != "" && aft.Param(name) != nil {
					d := aft.Param(name).Value.Clone()
					for i, v := range tc.a.Param(name).Value.Data {
						d.Data[i] -= v
					}
					delta[name] = d
				}
			}
			_, curve, err := ChooseAlpha(context.Background(), tc.b, delta, tc.calib, grid, Options{Backend: linalg.MustDefault()})
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range grid {
				m, err := Apply(tc.b, delta, a, nil)
				if err != nil {
					t.Fatal(err)
				}
				r, err := eval.Evaluate(context.Background(), linalg.MustDefault(), m, tc.calib.Inputs, tc.calib.Labels, 256)
				if err != nil {
					t.Fatal(err)
				}
				if curve[i].Accuracy != r.Accuracy || curve[i].Loss != r.Loss {
					t.Errorf("α = %g: in place %+v, afresh accuracy %g loss %g", a, curve[i], r.Accuracy, r.Loss)
				}
			}
		})
	}
}
