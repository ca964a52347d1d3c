package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func TestCrossEntropyGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	labels := []int{0, 4, 2, 2}
	checkGrad(t, "ce", []*tensor.Tensor[float64]{randT(rng, 4, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.CrossEntropy(in[0], labels) })
	lead := []int{1, 0, 2, 2, 1, 0}
	checkGrad(t, "ce-leading", []*tensor.Tensor[float64]{randT(rng, 2, 3, 3)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.CrossEntropy(in[0], lead) })
	// Ignored rows count neither in the mean nor in the gradient.
	ignored := []int{1, Ignore, 2, 0, Ignore, 0}
	checkGrad(t, "ce-ignore", []*tensor.Tensor[float64]{randT(rng, 2, 3, 3)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.CrossEntropy(in[0], ignored) })
	// Through a linear head with a bias broadcast.
	checkGrad(t, "ce-head", []*tensor.Tensor[float64]{randT(rng, 4, 3), randT(rng, 5, 3), randT(rng, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.CrossEntropy(tp.Add(tp.MatMul(in[0], in[1], false, true), in[2]), labels)
		})
}

func TestCrossEntropyValue(t *testing.T) {
	tp := NewTape[float64](linalg.MustDefault())
	const C = 7
	uniform := Const(tensor.Full[float64](3.25, 4, C))
	if got := tp.CrossEntropy(uniform, []int{0, 6, 3, 3}).Value.Data[0]; math.Abs(got-math.Log(C)) > 1e-12 {
		t.Errorf("uniform cross-entropy %g, want log %d = %g", got, C, math.Log(C))
	}
	// Rows (1, 2, 3) with label 2 and (3, 2, 1) with label 2.
	x := Const(tensor.FromSlice([]float64{1, 2, 3, 3, 2, 1}, 2, 3))
	got := tp.CrossEntropy(x, []int{2, 2}).Value
	want := (0.40760596444438013 + 2.40760596444438013) / 2
	if len(got.Shape) != 0 || math.Abs(got.Data[0]-want) > 1e-12 {
		t.Errorf("cross-entropy %v, want %g", got, want)
	}
	// Matches the mean of −LogSoftmax at the labels.
	ls := tp.LogSoftmax(x).Value.Data
	if d := math.Abs(got.Data[0] + (ls[2]+ls[5])/2); d > 1e-12 {
		t.Errorf("cross-entropy differs from logsoftmax by %g", d)
	}
	// Large logits stay finite in float32.
	tp32 := NewTape[float32](linalg.MustDefault())
	l32 := tp32.CrossEntropy(Const(tensor.FromSlice([]float32{1000, 0, -1000}, 1, 3)), []int{2}).Value.Data[0]
	if math.Abs(float64(l32)-2000) > 1e-2 {
		t.Errorf("float32 cross-entropy %g, want 2000", l32)
	}
	mustPanic(t, "bad label", func() { tp.CrossEntropy(x, []int{2, 3}) })
	mustPanic(t, "negative label", func() { tp.CrossEntropy(x, []int{-2, 0}) })
	// An ignored row does not count: the loss of the other row alone.
	if got := tp.CrossEntropy(x, []int{Ignore, 2}).Value.Data[0]; math.Abs(got-2.40760596444438013) > 1e-12 {
		t.Errorf("cross-entropy with an ignored row %g, want the other row's 2.4076", got)
	}
	if got := tp.CrossEntropy(x, []int{Ignore, Ignore}).Value.Data[0]; got != 0 {
		t.Errorf("cross-entropy of ignored rows only %g, want 0", got)
	}
	if acc := Accuracy(x.Value, []int{Ignore, 0}); acc != 1 {
		t.Errorf("accuracy over the counted row %g, want 1", acc)
	}
	mustPanic(t, "label count", func() { tp.CrossEntropy(x, []int{0}) })
}

func TestCheckLabels(t *testing.T) {
	if err := CheckLabels([]int{0, 1, 2}, 3); err != nil {
		t.Error(err)
	}
	if err := CheckLabels(nil, 3); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		labels  []int
		classes int
	}{{[]int{0, 3}, 3}, {[]int{-1}, 3}, {[]int{0}, 0}} {
		if CheckLabels(c.labels, c.classes) == nil {
			t.Errorf("CheckLabels(%v, %d): no error", c.labels, c.classes)
		}
	}
}

func TestAccuracy(t *testing.T) {
	logits := tensor.FromSlice([]float32{
		0.1, 0.9, 0.0, // 1
		2, 2, 1, // tie: 0
		-1, -3, -0.5, // 2
		0, 0, 0, // tie: 0
	}, 4, 3)
	if got := Accuracy(logits, []int{1, 0, 2, 1}); got != 0.75 {
		t.Errorf("accuracy %g, want 0.75", got)
	}
	if got := Accuracy(tensor.New[float64](0, 3), nil); got != 0 {
		t.Errorf("empty accuracy %g", got)
	}
	nan := float32(math.NaN())
	if got := Accuracy(tensor.FromSlice([]float32{nan, 1, 0}, 1, 3), []int{1}); got != 1 {
		t.Errorf("NaN logit won: accuracy %g", got)
	}
	mustPanic(t, "label count", func() { Accuracy(logits, []int{1}) })
}
