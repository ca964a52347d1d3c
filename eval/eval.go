// Package eval measures a model on labelled data: accuracy and mean
// cross-entropy loss.
package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// Result is a model's score on a labelled set.
type Result struct {
	Accuracy float64 `json:"accuracy"` // fraction of samples classified correctly
	Loss     float64 `json:"loss"`     // mean cross-entropy
	N        int     `json:"n"`        // number of samples
}

// Evaluate runs m without gradients over inputs ([N, ...]) in batches of
// batch samples and scores its logits against labels.
func Evaluate(ctx context.Context, be linalg.Backend, m model.Model, inputs *tensor.Tensor[float32], labels []int, batch int) (Result, error) {
	n := len(labels)
	if n == 0 {
		return Result{}, fmt.Errorf("eval: no samples")
	}
	if inputs.Shape[0] != n {
		return Result{}, fmt.Errorf("eval: %d inputs but %d labels", inputs.Shape[0], n)
	}
	if err := autodiff.CheckLabels(labels, m.NumLabels()); err != nil {
		return Result{}, fmt.Errorf("eval: labels against the model's %d-class head: %w", m.NumLabels(), err)
	}
	if batch <= 0 {
		batch = 128
	}
	per := inputs.Numel() / n
	var correct int
	var loss float64
	for i := 0; i < n; i += batch {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		j := min(i+batch, n)
		x := tensor.FromSlice(inputs.Data[i*per:j*per], append([]int{j - i}, inputs.Shape[1:]...)...)
		t := autodiff.NewTape[float32](be)
		t.NoGrad = true
		logits := m.Forward(t, autodiff.Const(x)).Value
		c, l := score(logits, labels[i:j])
		correct += c
		loss += l
	}
	return Result{Accuracy: float64(correct) / float64(n), Loss: loss / float64(n), N: n}, nil
}

// score returns the number of rows whose largest logit is the label and the
// summed cross-entropy, computed in float64.
func score(logits *tensor.Tensor[float32], labels []int) (correct int, loss float64) {
	c := logits.Dim(-1)
	for r, y := range labels {
		row := logits.Data[r*c : (r+1)*c]
		best, mx := 0, math.Inf(-1)
		for j, v := range row {
			if float64(v) > mx {
				best, mx = j, float64(v)
			}
		}
		if best == y {
			correct++
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		loss += mx + math.Log(s) - float64(row[y])
	}
	return correct, loss
}
