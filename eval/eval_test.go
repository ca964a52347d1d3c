package eval

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

func TestScore(t *testing.T) {
	logits := tensor.FromSlice([]float32{2, 0, 0, 0, 1, 0}, 2, 3)
	correct, loss := score(logits, []int{0, 2})
	if correct != 1 {
		t.Errorf("correct = %d, want 1", correct)
	}
	want := -math.Log(math.Exp(2)/(math.Exp(2)+2)) - math.Log(1/(2+math.E))
	if math.Abs(loss-want) > 1e-9 {
		t.Errorf("loss = %g, want %g", loss, want)
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
