package autodiff

import (
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func TestShapeGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	checkGrad(t, "reshape", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Reshape(in[0], 5, -1) })
	// The input is used both directly and through a reshape.
	checkGrad(t, "reshape-reuse", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			r := tp.Reshape(in[0], 6, 5)
			r2 := tp.Reshape(in[0], 2, 15)
			return tp.Add(tp.Mul(tp.Reshape(r, 2, 3, 5), in[0]), tp.Reshape(tp.Scale(r2, 3), 2, 3, 5))
		})
	checkGrad(t, "permute", []*tensor.Tensor[float64]{randT(rng, 2, 3, 4, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Permute(in[0], 2, 0, 3, 1) })
	checkGrad(t, "permute-last", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Permute(in[0], 1, 0, -1) })
	checkGrad(t, "transpose", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Transpose(in[0], -1, -2) })
	checkGrad(t, "transpose-reuse", []*tensor.Tensor[float64]{randT(rng, 3, 3)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.Mul(tp.Transpose(in[0], 0, 1), in[0])
		})
}

// TestPermuteValue compares Permute with direct index arithmetic.
func TestPermuteValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	tp := NewTape[float64](linalg.MustDefault())
	x := randT(rng, 2, 3, 4, 5)
	y := tp.Permute(Const(x), 2, 0, 3, 1).Value
	if !tensor.SameShape(y.Shape, []int{4, 2, 5, 3}) {
		t.Fatalf("shape %v", y.Shape)
	}
	for a := range 2 {
		for b := range 3 {
			for c := range 4 {
				for d := range 5 {
					want := x.Data[((a*3+b)*4+c)*5+d]
					got := y.Data[((c*2+a)*5+d)*3+b]
					if got != want {
						t.Fatalf("y[%d,%d,%d,%d] = %g, want %g", c, a, d, b, got, want)
					}
				}
			}
		}
	}
	m := tp.Transpose(Const(tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 2, 3)), 0, 1).Value
	want := []float64{1, 4, 2, 5, 3, 6}
	for i := range want {
		if m.Data[i] != want[i] || !tensor.SameShape(m.Shape, []int{3, 2}) {
			t.Fatalf("transpose = %v, want %v", m, want)
		}
	}
	r := tp.Reshape(Const(x), -1, 5)
	if !tensor.SameShape(r.Value.Shape, []int{24, 5}) || &r.Value.Data[0] != &x.Data[0] {
		t.Errorf("reshape %v does not share data", r.Value.Shape)
	}
	mustPanic(t, "bad perm", func() { tp.Permute(Const(x), 0, 0, 1, 2) })
	mustPanic(t, "short perm", func() { tp.Permute(Const(x), 0, 1) })
	mustPanic(t, "bad axis", func() { tp.Transpose(Const(x), 0, 4) })
	mustPanic(t, "bad reshape", func() { tp.Reshape(Const(x), 7, -1) })
}

// TestSeedUntouched checks that gradients flowing through Reshape and Add
// never write into the seed passed to BackwardFrom.
func TestSeedUntouched(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	tp := NewTape[float64](linalg.MustDefault())
	x := Param(randT(rng, 2, 3))
	y := tp.Add(tp.Reshape(tp.Add(x, x), 3, 2), tp.Reshape(x, 3, 2))
	seed := randT(rng, 3, 2)
	keep := seed.Clone()
	tp.BackwardFrom(y, seed)
	if tensor.MaxAbsDiff(seed, keep) != 0 {
		t.Error("seed modified")
	}
	for i, g := range x.Grad.Data {
		if g != 3*keep.Data[i] {
			t.Fatalf("grad %v, want 3·seed %v", x.Grad.Data, keep.Data)
		}
	}
}
