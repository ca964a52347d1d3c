package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// mustPanic fails t unless fn panics.
func mustPanic(t *testing.T, name string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	fn()
}

func TestBinaryGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ops := []struct {
		name string
		f    func(tp *Tape[float64], a, b *Var[float64]) *Var[float64]
	}{
		{"add", (*Tape[float64]).Add},
		{"sub", (*Tape[float64]).Sub},
		{"mul", (*Tape[float64]).Mul},
	}
	shapes := []struct {
		name string
		a, b []int
	}{
		{"same", []int{2, 3, 5}, []int{2, 3, 5}},
		{"bias", []int{2, 3, 5}, []int{5}},
		{"pos", []int{2, 3, 5}, []int{3, 5}},
		{"pos1", []int{2, 3, 5}, []int{1, 3, 5}},
		{"small-a", []int{5}, []int{2, 3, 5}},
		{"small-a-pos", []int{3, 5}, []int{2, 3, 5}},
		{"rank-lift", []int{3, 5}, []int{1, 3, 5}},
		{"scalar-b", []int{2, 3}, []int{}},
	}
	for _, op := range ops {
		for _, s := range shapes {
			checkGrad(t, op.name+"-"+s.name, []*tensor.Tensor[float64]{randT(rng, s.a...), randT(rng, s.b...)},
				func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
					return op.f(tp, in[0], in[1])
				})
		}
		// The same Var on both sides, and reused afterwards: gradients
		// handed over without a copy must still add up.
		checkGrad(t, op.name+"-self", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
			func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
				y := op.f(tp, in[0], in[0])
				return tp.Mul(op.f(tp, y, in[0]), tp.Add(y, in[0]))
			})
	}
}

func TestBinaryValue(t *testing.T) {
	tp := NewTape[float64](linalg.MustDefault())
	a := Const(tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 2, 1, 3))
	b := Const(tensor.FromSlice([]float64{10, 20, 30}, 3))
	for _, c := range []struct {
		name string
		got  *Var[float64]
		want []float64
	}{
		{"add", tp.Add(a, b), []float64{11, 22, 33, 14, 25, 36}},
		{"sub", tp.Sub(a, b), []float64{-9, -18, -27, -6, -15, -24}},
		{"subRev", tp.Sub(b, a), []float64{9, 18, 27, 6, 15, 24}},
		{"mul", tp.Mul(b, a), []float64{10, 40, 90, 40, 100, 180}},
		{"scale", tp.Scale(a, -0.5), []float64{-0.5, -1, -1.5, -2, -2.5, -3}},
		{"sum", tp.Sum(a), []float64{21}},
		{"mean", tp.Mean(a), []float64{3.5}},
	} {
		for i, w := range c.want {
			if c.got.Value.Data[i] != w {
				t.Errorf("%s = %v, want %v", c.name, c.got.Value.Data, c.want)
				break
			}
		}
	}
	if s := tp.Add(b, a).Value.Shape; !tensor.SameShape(s, []int{2, 1, 3}) {
		t.Errorf("add shape %v", s)
	}
	if s := tp.Sum(a).Value.Shape; len(s) != 0 {
		t.Errorf("sum shape %v, want scalar", s)
	}
	mustPanic(t, "add mismatch", func() { tp.Add(a, Const(tensor.New[float64](2))) })
	mustPanic(t, "mul mismatch", func() { tp.Mul(Const(tensor.New[float64](2, 3)), Const(tensor.New[float64](3, 2))) })
	mustPanic(t, "mean empty", func() { tp.Mean(Const(tensor.New[float64](0, 3))) })
}

func TestReductionsGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	checkGrad(t, "scale", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Scale(in[0], -1.7) })
	checkGrad(t, "sum", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Sum(in[0]) })
	checkGrad(t, "mean", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Mean(in[0]) })
	checkGrad(t, "mean-of-square", []*tensor.Tensor[float64]{randT(rng, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.Mean(tp.Mul(in[0], in[0]))
		})
}

// TestGradAccumulatesAcrossTapes checks that a parameter's gradient adds up
// over two tapes until zeroed.
func TestGradAccumulatesAcrossTapes(t *testing.T) {
	be := linalg.MustDefault()
	p := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	for range 2 {
		tp := NewTape[float64](be)
		tp.Backward(tp.Sum(tp.Add(p, p)))
		tp.Release()
	}
	for _, g := range p.Grad.Data {
		if math.Abs(g-4) > 0 {
			t.Fatalf("grad %v, want all 4", p.Grad.Data)
		}
	}
}

// opsNet exercises the element-wise, shape, norm, activation and loss ops
// together on inputs x [2,3,5], pos [3,5], gamma, beta [5], w [4,5], g2 [4].
func opsNet[T Float](tp *Tape[T], in []*Var[T], labels []int) *Var[T] {
	h := tp.Add(in[0], in[1])                                  // [2,3,5]
	h = tp.LayerNorm(h, in[2], in[3], 1e-5)                    // [2,3,5]
	h = tp.Add(tp.Linear("", h, in[4], nil), in[5])            // [2,3,4]
	a := tp.GELU(h)                                            // [2,3,4]
	b := tp.Mul(tp.SiLU(h), tp.Sigmoid(tp.Scale(h, 0.5)))      // [2,3,4]
	c := tp.Sub(tp.QuickGELU(h), tp.Tanh(tp.GELUTanh(h)))      // [2,3,4]
	h = tp.Add(tp.Add(a, b), tp.ReLU(c))                       // [2,3,4]
	h = tp.Reshape(tp.Permute(h, 1, 0, 2), 6, 4)               // [6,4]
	h = tp.RMSNorm(h, in[5], 1e-6)                             // [6,4]
	s := tp.Transpose(tp.Softmax(tp.Transpose(h, 0, 1)), 0, 1) // softmax over rows
	ce := tp.CrossEntropy(tp.Add(h, s), labels)
	return tp.Add(ce, tp.Mean(tp.LogSoftmax(h)))
}

// TestOpsFloat32Consistency runs opsNet in float32 and float64 and compares
// the loss and every gradient.
func TestOpsFloat32Consistency(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	be := linalg.MustDefault()
	inputs := []*tensor.Tensor[float64]{randT(rng, 2, 3, 5), randT(rng, 3, 5), randT(rng, 5), randT(rng, 5), randT(rng, 4, 5), randT(rng, 4)}
	labels := []int{0, 3, 1, 2, 2, 1}
	checkGrad(t, "opsNet", inputs, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return opsNet(tp, in, labels)
	})

	tp64 := NewTape[float64](be)
	v64 := make([]*Var[float64], len(inputs))
	for i, x := range inputs {
		v64[i] = Param(x.Clone())
	}
	l64 := opsNet(tp64, v64, labels)
	tp64.Backward(l64)

	tp32 := NewTape[float32](be)
	v32 := make([]*Var[float32], len(inputs))
	for i, x := range inputs {
		v32[i] = Param(tensor.Convert[float32](x))
	}
	l32 := opsNet(tp32, v32, labels)
	tp32.Backward(l32)

	if d := math.Abs(float64(l32.Value.Data[0]) - l64.Value.Data[0]); d > 1e-5 {
		t.Errorf("loss: float64 %g, float32 %g", l64.Value.Data[0], l32.Value.Data[0])
	}
	for i := range inputs {
		g64, g32 := v64[i].Grad, tensor.Convert[float64](v32[i].Grad)
		if d := tensor.MaxAbsDiff(g64, g32); d > 1e-4 {
			t.Errorf("grad %d: float32 differs by %g", i, d)
		}
	}
}
