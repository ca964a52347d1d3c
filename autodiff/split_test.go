package autodiff

import (
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func TestSplitConcatInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	tp := NewTape[float64](linalg.MustDefault())
	x := randT(rng, 2, 3, 7)
	parts := tp.Split(Const(x), 2, 4, 0, 1)
	want := [][]int{{2, 3, 2}, {2, 3, 4}, {2, 3, 0}, {2, 3, 1}}
	for i, p := range parts {
		if !tensor.SameShape(p.Value.Shape, want[i]) {
			t.Fatalf("piece %d: shape %v, want %v", i, p.Value.Shape, want[i])
		}
	}
	// Piece 1 of row r is columns 2..5 of row r.
	for r := 0; r < 6; r++ {
		for j := 0; j < 4; j++ {
			if parts[1].Value.Data[r*4+j] != x.Data[r*7+2+j] {
				t.Fatalf("piece 1 row %d column %d", r, j)
			}
		}
	}
	if d := tensor.MaxAbsDiff(tp.Concat(parts...).Value, x); d != 0 {
		t.Errorf("concat of split differs by %g", d)
	}
	a, b := randT(rng, 2, 3, 1), randT(rng, 2, 3, 5)
	back := tp.Split(tp.Concat(Const(a), Const(b)), 1, 5)
	if tensor.MaxAbsDiff(back[0].Value, a) != 0 || tensor.MaxAbsDiff(back[1].Value, b) != 0 {
		t.Error("split of concat differs")
	}
	for axis := -3; axis < 3; axis++ {
		n := x.Shape[(axis+3)%3]
		pieces := tp.SplitAxis(axis, Const(x), n-1, 1)
		if d := tensor.MaxAbsDiff(tp.ConcatAxis(axis, pieces...).Value, x); d != 0 {
			t.Errorf("axis %d: concat of split differs by %g", axis, d)
		}
	}
	toks := tp.ConcatTokens(Const(randT(rng, 2, 1, 7)), Const(x))
	if !tensor.SameShape(toks.Value.Shape, []int{2, 4, 7}) || toks.Value.Data[7] != x.Data[0] || toks.Value.Data[4*7+7] != x.Data[3*7] {
		t.Errorf("concat tokens: shape %v or placement wrong", toks.Value.Shape)
	}
}

func TestSplitConcatGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	// Unequal pieces recombined with a weight so each gets its own gradient;
	// one piece unused, one used twice.
	checkGrad(t, "split", []*tensor.Tensor[float64]{randT(rng, 2, 3, 7)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		p := tp.Split(in[0], 3, 2, 2)
		return tp.Concat(p[2], p[0], p[2])
	})
	for axis := 0; axis < 3; axis++ {
		checkGrad(t, "split axis", []*tensor.Tensor[float64]{randT(rng, 3, 4, 5)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			n := in[0].Value.Shape[axis]
			p := tp.SplitAxis(axis, in[0], 1, n-1)
			return tp.ConcatAxis(axis, p[1], p[0])
		})
	}
	checkGrad(t, "concat", []*tensor.Tensor[float64]{randT(rng, 2, 3, 2), randT(rng, 2, 3, 5), randT(rng, 2, 3, 1)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Concat(in[0], in[1], in[2], in[0])
	})
	checkGrad(t, "concat tokens", []*tensor.Tensor[float64]{randT(rng, 2, 1, 3), randT(rng, 2, 4, 3)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.ConcatTokens(in[0], in[1])
	})
}
