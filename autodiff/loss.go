package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// CheckLabels reports whether every label is a class index in
// [0, classes). Run it on labels that come from data before CrossEntropy,
// which treats a bad label as a programming error.
func CheckLabels(labels []int, classes int) error {
	if classes <= 0 {
		return fmt.Errorf("autodiff: %d classes", classes)
	}
	for i, l := range labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("autodiff: label %d at position %d is not a class index in [0, %d)", l, i, classes)
		}
	}
	return nil
}

// Ignore is the label of a row that CrossEntropy and Accuracy skip: a
// position with no next token to predict, or padding.
const Ignore = -1

// checkTargets is CheckLabels allowing Ignore.
func checkTargets(labels []int, classes int) error {
	for i, l := range labels {
		if l != Ignore && (l < 0 || l >= classes) {
			return fmt.Errorf("autodiff: label %d at position %d is not a class index in [0, %d)", l, i, classes)
		}
	}
	return nil
}

// CrossEntropy returns the mean over rows of −log softmax(logits)[label]:
// the classification loss, as a scalar (shape []). logits has shape [N, C]
// (or [..., C] with N rows in all) and labels holds N class indices, or
// Ignore for rows that do not count (the mean is over the others; 0 when
// no row counts). It panics when the sizes disagree or a label is out of
// range; validate labels from data with CheckLabels first.
func (t *Tape[T]) CrossEntropy(logits *Var[T], labels []int) *Var[T] {
	if len(logits.Value.Shape) == 0 {
		panic("autodiff: cross-entropy of a scalar")
	}
	c := logits.Value.Dim(-1)
	n := logits.Value.Rows()
	if n != len(labels) || n == 0 {
		panic(fmt.Sprintf("autodiff: cross-entropy of logits %v with %d labels", logits.Value.Shape, len(labels)))
	}
	if err := checkTargets(labels, c); err != nil {
		panic(err.Error())
	}
	// Rows in parallel (a language model's logits are tokens × vocabulary),
	// each row's loss kept and summed in order, so that the result does
	// not depend on the thread count.
	lse, loss := make([]float64, n), make([]float64, n)
	xd := logits.Value.Data
	grain := max(1, minGrain/c)
	parallelFor(t.threads(), n, grain, func(lo, hi int) {
		var scratch []float32
		for r := lo; r < hi; r++ {
			if labels[r] != Ignore {
				lse[r] = rowLogSumExp(xd[r*c:(r+1)*c], &scratch)
				loss[r] = lse[r] - float64(xd[r*c+labels[r]])
			}
		}
	})
	total, counted := 0.0, 0
	for r, l := range labels {
		if l != Ignore {
			total += loss[r]
			counted++
		}
	}
	out := tensor.New[T]()
	if counted > 0 {
		out.Data[0] = T(total / float64(counted))
	}
	return t.node(out, func(o *Var[T]) {
		if counted == 0 {
			logits.accumulate(t.gradBuf(logits, true))
			return
		}
		// Every row is written below: a language model's logits are
		// [tokens, vocabulary], so this buffer comes from the arena.
		gx := t.gradBuf(logits, false)
		k := float64(o.Grad.Data[0]) / float64(counted)
		parallelFor(t.threads(), n, grain, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row, dst := xd[r*c:(r+1)*c], gx.Data[r*c:(r+1)*c]
				if labels[r] == Ignore {
					clear(dst)
					continue
				}
				var buf [wide]float64
				for b := 0; b < c; b += wide {
					w := widen(buf[:], row[b:min(b+wide, c)])
					for j, v := range w {
						w[j] = k * expNonPos(v-lse[r])
					}
					narrow(dst[b:], w)
				}
				dst[labels[r]] -= T(k)
			}
		})
		logits.accumulate(gx)
	}, logits)
}

// Accuracy returns the fraction of rows of logits ([N, C], or [..., C] with
// N rows) whose largest entry (the first, on ties) is at the row's label,
// over the rows whose label is not Ignore; 0 when no row counts. It panics
// when the sizes disagree.
func Accuracy[T Float](logits *tensor.Tensor[T], labels []int) float64 {
	right, counted := AccuracyCounts(logits, labels)
	if counted == 0 {
		return 0
	}
	return float64(right) / float64(counted)
}

// AccuracyCounts returns how many rows of logits have their largest entry
// at their label, and how many rows count (label not Ignore).
func AccuracyCounts[T Float](logits *tensor.Tensor[T], labels []int) (right, counted int) {
	if len(logits.Shape) == 0 {
		panic("autodiff: accuracy of a scalar")
	}
	c := logits.Dim(-1)
	n := logits.Rows()
	if n != len(labels) {
		panic(fmt.Sprintf("autodiff: accuracy of logits %v with %d labels", logits.Shape, len(labels)))
	}
	for r := 0; r < n; r++ {
		if labels[r] == Ignore {
			continue
		}
		counted++
		if argmax(logits.Data[r*c:(r+1)*c]) == labels[r] {
			right++
		}
	}
	return right, counted
}

// argmax returns the index of the first largest element of row (NaN never
// wins), or -1 for an empty row.
func argmax[T Float](row []T) int {
	best := -1
	for j, v := range row {
		if v == v && (best < 0 || v > row[best]) {
			best = j
		}
	}
	return best
}
