package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func TestPoolValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	const B, N, d = 2, 3, 4
	x := randT(rng, B, N, d)
	tp := NewTape[float64](linalg.MustDefault())
	first := tp.SelectToken(Const(x), 0).Value
	last := tp.SelectToken(Const(x), -1).Value
	mean := tp.MeanTokens(Const(x)).Value
	picked := tp.SelectTokens(Const(x), []int{2, 1}).Value
	for _, v := range []*tensor.Tensor[float64]{first, last, mean} {
		if !tensor.SameShape(v.Shape, []int{B, d}) {
			t.Fatalf("shape %v, want [%d %d]", v.Shape, B, d)
		}
	}
	for b := 0; b < B; b++ {
		for j := 0; j < d; j++ {
			s := 0.0
			for n := 0; n < N; n++ {
				s += x.Data[(b*N+n)*d+j]
			}
			if math.Abs(mean.Data[b*d+j]-s/N) > 1e-15 {
				t.Errorf("mean[%d,%d] = %g, want %g", b, j, mean.Data[b*d+j], s/N)
			}
			if want := x.Data[(b*N+2-b)*d+j]; picked.Data[b*d+j] != want {
				t.Errorf("SelectTokens[%d,%d] = %g, want %g", b, j, picked.Data[b*d+j], want)
			}
			if first.Data[b*d+j] != x.Data[b*N*d+j] || last.Data[b*d+j] != x.Data[(b*N+N-1)*d+j] {
				t.Errorf("selected token wrong at [%d,%d]", b, j)
			}
		}
	}
}

func TestPoolGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	for _, i := range []int{0, 2, -2} {
		checkGrad(t, "select token", []*tensor.Tensor[float64]{randT(rng, 2, 3, 4)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.SelectToken(in[0], i)
		})
	}
	checkGrad(t, "select tokens", []*tensor.Tensor[float64]{randT(rng, 3, 4, 2)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.SelectTokens(in[0], []int{3, 0, 1})
	})
	// Two picks of the same token add their gradients.
	checkGrad(t, "select tokens twice", []*tensor.Tensor[float64]{randT(rng, 2, 3, 2)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Concat(tp.SelectTokens(in[0], []int{2, 1}), tp.SelectTokens(in[0], []int{2, 0}))
	})
	checkGrad(t, "mean tokens", []*tensor.Tensor[float64]{randT(rng, 2, 3, 4)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.MeanTokens(in[0])
	})
	// Both pools of one input: the sparse and dense gradients add up.
	checkGrad(t, "select and mean", []*tensor.Tensor[float64]{randT(rng, 3, 5)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Concat(tp.MeanTokens(in[0]), tp.SelectToken(in[0], 1), tp.SelectToken(in[0], 1))
	})
}
