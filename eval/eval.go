// Package eval measures a model on labelled data: accuracy and mean
// cross-entropy loss.
package eval

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// Result is a model's score on a labelled set. For a classifier it counts
// samples; for a causal language model (model.TargetMaker) it counts the
// tokens it predicts, each sequence's next tokens.
type Result struct {
	Accuracy float64 `json:"accuracy"`         // fraction of samples (or tokens) predicted correctly
	Loss     float64 `json:"loss"`             // mean cross-entropy per sample (or token)
	N        int     `json:"n"`                // number of samples
	Tokens   int     `json:"tokens,omitempty"` // number of tokens predicted, for a language model
}

// maxWorkers is the most forward passes Evaluate runs at once.
const maxWorkers = 8

// Evaluate runs m without gradients over inputs ([N, ...]) and scores its
// logits against labels. The samples are cut into batches of at most
// batch/8 (at least 8 batches when there are 8 samples), which up to 8
// workers share, each running whole forward passes on its part of be's
// threads: on a few cores that keeps every core busy where splitting each
// operation between them would leave them waiting on each other. So batch
// bounds the samples in flight at once, and with it the memory.
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
	if err := model.CheckInputs(m, inputs); err != nil {
		// Forward would panic, in a worker where no caller can recover.
		return Result{}, fmt.Errorf("eval: inputs %v: %w", inputs.Shape, err)
	}
	if batch <= 0 {
		batch = 128
	}
	// The batches do not depend on the thread count, so that neither does
	// the score: a row's logits can change in the last bits with the
	// composition of its batch.
	size := max(1, min(batch/maxWorkers, (n+maxWorkers-1)/maxWorkers))
	batches := (n + size - 1) / size
	workers := min(max(1, be.Threads()), maxWorkers, batches)
	// Each worker has a backend of its own: a backend's threads are a
	// budget its products share.
	bes := []linalg.Backend{be}
	if workers > 1 {
		bes = make([]linalg.Backend, workers)
		for w := range bes {
			var err error
			if bes[w], err = linalg.Share(be, be.Threads()/workers); err != nil {
				return Result{}, err
			}
		}
	}
	per := inputs.Numel() / n
	correct, counted := make([]int, batches), make([]int, batches)
	loss := make([]float64, batches)
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func(be linalg.Backend) {
			defer wg.Done()
			// The worker's passes reuse their buffers, one block's at a
			// time: fresh memory costs page faults, and when the caller
			// holds a large heap (calibration statistics) the collector
			// runs too seldom to hand back the last pass's.
			arena := tensor.NewArena[float32]()
			for {
				b := int(next.Add(1) - 1)
				if b >= batches || ctx.Err() != nil {
					return
				}
				i, j := b*size, min((b+1)*size, n)
				x := tensor.FromSlice(inputs.Data[i*per:j*per], append([]int{j - i}, inputs.Shape[1:]...)...)
				t := autodiff.NewTape[float32](be)
				t.NoGrad, t.Arena, t.Recycle = true, arena, true
				logits := m.Forward(t, autodiff.Const(x)).Value
				correct[b], counted[b], loss[b] = score(logits, model.Targets(m, x, labels[i:j]))
				t.Release()
			}
		}(bes[w])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var r Result
	rows := 0
	for b := range batches {
		r.Accuracy += float64(correct[b])
		r.Loss += loss[b]
		rows += counted[b]
	}
	if rows > 0 {
		r.Accuracy /= float64(rows)
		r.Loss /= float64(rows)
	}
	r.N = n
	if _, ok := m.(model.TargetMaker); ok {
		r.Tokens = rows
	}
	return r, nil
}

// score returns the number of rows whose largest logit is the label, the
// number of rows that count (label not autodiff.Ignore) and their summed
// cross-entropy, computed in float64.
func score(logits *tensor.Tensor[float32], labels []int) (correct, counted int, loss float64) {
	c := logits.Dim(-1)
	scratch := make([]float32, c)
	for r, y := range labels {
		if y == autodiff.Ignore {
			continue
		}
		counted++
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
		_, lse := autodiff.LogSumExp32(row, scratch)
		loss += lse - float64(row[y])
	}
	return correct, counted, loss
}
