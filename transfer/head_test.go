package transfer

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// newLabelViTs returns the permuted ViTs of permutedViT with heads as a real
// fine-tune has them: A and B keep pre-training heads of 3 and 5 classes,
// and A's fine-tune has a new head for the 2 classes "x" and "y". It also
// returns the fine-tune's body task vector, permuted into B's coordinates.
func newLabelViTs(t *testing.T) (a, aft, b model.Model, want params, perms vitPerms) {
	t.Helper()
	a, aftBody, b, perms := permutedViT(t)
	rng := rand.New(rand.NewPCG(7, 7))
	w := tensor.New[float32](2, 8)
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64())
	}
	var err error
	if aft, err = model.WithHead(aftBody, []string{"x", "y"}, w, nil); err != nil {
		t.Fatal(err)
	}
	if b, err = model.ReplaceHead(b, []string{"p", "q", "r", "s", "t"}, 11); err != nil {
		t.Fatal(err)
	}
	want = perms.apply(taskVectors(t, a, aftBody))
	delete(want, "classifier.weight")
	delete(want, "classifier.bias")
	return a, aft, b, want, perms
}

// TestBiCoNewLabelSet: the fine-tune has a head for new classes and the
// bases have heads for others. B is an exact permutation of A, so the
// target must get A's fine-tuned head in its own coordinates, the body
// must receive the permuted τ_A, and the transferred model must reproduce
// the fine-tuned source's logits.
func TestBiCoNewLabelSet(t *testing.T) {
	a, aft, b, want, perms := newLabelViTs(t)
	calib := randomSamples(64, 2, 9, 1, 8, 8)
	for _, method := range []string{"bico", "bico-blend"} {
		t.Run(method, func(t *testing.T) {
			res := runMethodOpts(t, Models{a, aft, b}, calib, method, 1, Options{})
			for name, w := range want {
				if e := relErr(res.Delta[name], w); e > 2e-3 {
					t.Errorf("%s: transported delta differs from the permuted τ_A by %.3g (relative)", name, e)
				}
			}
			head := permuteAxes(aft.Param("classifier.weight").Value, nil, perms.res)
			if e := relErr(res.Model.Param("classifier.weight").Value, head); e > 1e-4 {
				t.Errorf("target head differs from the fine-tuned head in B's coordinates by %.3g", e)
			}
			if got, _ := model.Labels(res.Model.Config()); !slices.Equal(got, []string{"x", "y"}) {
				t.Errorf("transferred model's labels are %q, want the fine-tune's [x y]", got)
			}
			if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
				t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
			}
		})
	}
}

// TestTaskHeadsReported: Prepare says which bases got the task's head, and
// gives none when the labels already agree.
func TestTaskHeadsReported(t *testing.T) {
	a, aft, b, _, _ := newLabelViTs(t)
	opts := Options{Backend: linalg.MustDefault(), BatchSize: 16}
	calib := randomSamples(32, 2, 9, 1, 8, 8)
	p, err := Prepare(context.Background(), Models{a, aft, b}, calib, bicoNeeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Head
	if h == nil || !h.SourceBase || !h.TargetBase || h.Map == nil || !slices.Equal(h.Labels, []string{"x", "y"}) {
		t.Fatalf("Prepared.Head = %+v; want both bases given the head of [x y], with the target's map", h)
	}
	if h.Map.Quality < 0.999 {
		t.Errorf("head input map quality %.6f on an exact permutation, want 1", h.Map.Quality)
	}
	if n := p.Models.TargetBase.NumLabels(); n != 2 {
		t.Errorf("the prepared target base has %d labels, want 2", n)
	}
	same, sameFT, sameB, _ := permutedViT(t)
	p, err = Prepare(context.Background(), Models{same, sameFT, sameB}, calib, bicoNeeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Head != nil || p.Models.TargetBase != sameB {
		t.Errorf("bases with the fine-tune's labels got a task head: %+v", p.Head)
	}
}

// TestNewLabelSetErrors: labels beyond the fine-tuned head are refused
// before any pass, naming that head.
func TestNewLabelSetErrors(t *testing.T) {
	a, aft, b, _, _ := newLabelViTs(t)
	opts := Options{Backend: linalg.MustDefault(), BatchSize: 16}
	_, err := Prepare(context.Background(), Models{a, aft, b}, randomSamples(16, 3, 9, 1, 8, 8), bicoNeeds, opts)
	if err == nil || !strings.Contains(err.Error(), "fine-tuned source's head") {
		t.Errorf("labels 0–2 against a 2-class fine-tuned head: error %v, want one naming the fine-tuned source's head", err)
	}
}

var bicoNeeds = bilinear{name: "bico", in: InputAct, out: OutputGrad}.Needs()

// TestBiCoHeadlessBases: bases loaded without a head (all zeros, see
// model.LoadOptions.MissingHead) get the task's head even when their
// labels agree with the fine-tune's, and BiCo recovers the permuted τ_A.
func TestBiCoHeadlessBases(t *testing.T) {
	a, aft, b, perms := permutedViT(t)
	labels, _ := model.Labels(a.Config())
	for _, m := range []*model.Model{&a, &b} {
		var err error
		if *m, err = model.WithHead(*m, labels, tensor.New[float32](len(labels), 8), nil); err != nil {
			t.Fatal(err)
		}
	}
	want := perms.apply(taskVectors(t, withHeadOf(t, a, aft), aft))
	delete(want, "classifier.weight")
	delete(want, "classifier.bias")
	calib := randomSamples(64, 3, 9, 1, 8, 8)
	res := runMethodOpts(t, Models{a, aft, b}, calib, "bico", 1, Options{})
	checkRecovered(t, res, want, aft, calib.Inputs, 2e-3)
}

// withHeadOf returns a with aft's head, so that taskVectors(withHeadOf,
// aft) is τ_A on the body and zero on the head.
func withHeadOf(t *testing.T, a, aft model.Model) model.Model {
	t.Helper()
	labels, _ := model.Labels(aft.Config())
	m, err := model.WithHead(a, labels, aft.Param("classifier.weight").Value, aft.Param("classifier.bias").Value)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMapAlignment: on an exact permutation every map of bico aligns the
// rows exactly (score 1); against an unrelated target no map does.
func TestMapAlignment(t *testing.T) {
	a, aft, b, _ := permutedViT(t)
	calib := randomSamples(64, 3, 9, 1, 8, 8)
	res := runMethodOpts(t, Models{a, aft, b}, calib, "bico", 1, Options{})
	for _, m := range res.Maps {
		if math.Abs(m.Alignment-1) > 1e-4 {
			t.Errorf("%s: alignment %.6f on a permuted copy, want 1", m.Key, m.Alignment)
		}
	}
	res = runMethodOpts(t, Models{a, aft, tinyViT(t, 3)}, calib, "bico", 1, Options{})
	for _, m := range res.Maps {
		if m.Key.A == "vit.embeddings.patches" {
			continue // the same pixels on both sides: 1 for any models
		}
		if m.Alignment <= 0 || m.Alignment > 0.99 {
			t.Errorf("%s: alignment %.6f against an unrelated target, want in (0, 0.99]", m.Key, m.Alignment)
		}
	}
}
