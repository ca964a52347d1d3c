package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

func TestScore(t *testing.T) {
	logits := tensor.FromSlice([]float32{2, 0, 0, 0, 1, 0}, 2, 3)
	correct, counted, loss := score(logits, []int{0, 2})
	if correct != 1 || counted != 2 {
		t.Errorf("correct = %d of %d, want 1 of 2", correct, counted)
	}
	want := -math.Log(math.Exp(2)/(math.Exp(2)+2)) - math.Log(1/(2+math.E))
	if math.Abs(loss-want) > 1e-9 {
		t.Errorf("loss = %g, want %g", loss, want)
	}
	// An ignored row counts for nothing.
	correct, counted, loss = score(logits, []int{autodiff.Ignore, 2})
	if correct != 0 || counted != 1 || math.Abs(loss+math.Log(1/(2+math.E))) > 1e-9 {
		t.Errorf("with an ignored row: %d of %d correct, loss %g", correct, counted, loss)
	}
}

// TestEvaluateLanguageModel: a causal LM is scored per predicted token,
// the last token and padding not counted.
func TestEvaluateLanguageModel(t *testing.T) {
	pad := 0
	m, err := model.Build(model.LlamaConfig{VocabSize: 12, HiddenSize: 8, NumLayers: 1, NumHeads: 2, IntermediateSize: 8,
		PadTokenID: &pad, CausalLM: true}.Map(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromSlice([]float32{3, 4, 5, 0, 6, 7, 8, 9, 1, 2, 0, 0}, 3, 4)
	r, err := Evaluate(context.Background(), linalg.MustDefault(), m, x, []int{0, 0, 0}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 3 || r.Tokens != 2+3+1 || !(r.Loss > 0) {
		t.Errorf("result %+v, want 3 samples and 6 tokens", r)
	}
}

func TestEvaluate(t *testing.T) {
	// A classifier with zero weights and a bias favouring class 1.
	cfg := model.MLPConfig{InputSize: 4, Labels: []string{"a", "b", "c"}}.Map()
	params := map[string]*tensor.Tensor[float32]{
		"classifier.weight": tensor.New[float32](3, 4),
		"classifier.bias":   tensor.FromSlice([]float32{0, 1, 0}, 3),
	}
	m, err := model.Build(cfg, params, 0)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New[float32](5, 4)
	r, err := Evaluate(context.Background(), linalg.MustDefault(), m, x, []int{1, 1, 0, 2, 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 5 || math.Abs(r.Accuracy-0.6) > 1e-12 {
		t.Errorf("result %+v, want accuracy 0.6 over 5", r)
	}
	if _, err := Evaluate(context.Background(), linalg.MustDefault(), m, x, []int{1, 1, 0, 3, 1}, 2); err == nil || !strings.Contains(err.Error(), "3") {
		t.Errorf("label 3 for a 3-class head: error %v", err)
	}
}

// TestEvaluateWorkers: the score of a random vit does not depend on the
// thread count (so on how many workers share the batches), and hardly on
// the batch size, whether or not it divides the sample count; a cancelled
// context stops the evaluation.
func TestEvaluateWorkers(t *testing.T) {
	cfg := model.ViTConfig{HiddenSize: 16, NumLayers: 2, NumHeads: 2, IntermediateSize: 32, ImageSize: 8, PatchSize: 4,
		NumChannels: 1, LayerNormEps: 1e-6, Labels: []string{"a", "b", "c"}}.Map()
	m, err := model.Build(cfg, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 23
	x := tensor.New[float32](n, 1, 8, 8)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(3)
	}
	run := func(threads, batch int) Result {
		be, err := linalg.Share(linalg.MustDefault(), threads)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Evaluate(context.Background(), be, m, x, labels, batch)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	want := run(1, n)
	if want.N != n || want.Loss <= 0 {
		t.Fatalf("one worker: %+v", want)
	}
	// One plain pass over all samples (no arena, nothing recycled) scores
	// the same.
	tp := autodiff.NewTape[float32](linalg.MustDefault())
	tp.NoGrad = true
	c, _, l := score(m.Forward(tp, autodiff.Const(x)).Value, labels)
	if plain := (Result{Accuracy: float64(c) / n, Loss: l / n, N: n}); plain.Accuracy != want.Accuracy || math.Abs(plain.Loss-want.Loss) > 1e-5*want.Loss {
		t.Errorf("evaluation %+v, one plain pass %+v", want, plain)
	}
	for _, batch := range []int{1, 7, 16, 64} {
		one := run(1, batch)
		if one.N != n || one.Accuracy != want.Accuracy || math.Abs(one.Loss-want.Loss) > 1e-5*want.Loss {
			t.Errorf("batch %d: %+v, want %+v", batch, one, want)
		}
		for _, threads := range []int{2, 3, 4, 9} {
			if got := run(threads, batch); got != one {
				t.Errorf("batch %d: %d threads give %+v, one gives %+v", batch, threads, got, one)
			}
		}
	}
	if _, err := Evaluate(context.Background(), linalg.MustDefault(), m, tensor.New[float32](n, 1, 8, 9), labels, 4); err == nil {
		t.Error("8×9 images for an 8×8 vit: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, linalg.MustDefault(), m, x, labels, 4); err == nil {
		t.Error("a cancelled evaluation returned no error")
	}
}
