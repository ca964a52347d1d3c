package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func TestNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	checkGrad(t, "layernorm", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5), randT(rng, 5), randT(rng, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.LayerNorm(in[0], in[1], in[2], 1e-5)
		})
	checkGrad(t, "layernorm-nil", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.LayerNorm(in[0], nil, nil, 1e-5) })
	checkGrad(t, "layernorm-gamma", []*tensor.Tensor[float64]{randT(rng, 7, 5), randT(rng, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.LayerNorm(in[0], in[1], nil, 1e-5)
		})
	checkGrad(t, "layernorm-beta", []*tensor.Tensor[float64]{randT(rng, 5), randT(rng, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.LayerNorm(in[0], nil, in[1], 1e-5)
		})
	checkGrad(t, "rmsnorm", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5), randT(rng, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.RMSNorm(in[0], in[1], 1e-6) })
	checkGrad(t, "rmsnorm-nil", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.RMSNorm(in[0], nil, 1e-6) })
	// Frozen gamma (a Const) with a trainable input.
	gamma := randT(rng, 5)
	checkGrad(t, "layernorm-frozen", []*tensor.Tensor[float64]{randT(rng, 3, 5)},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.LayerNorm(in[0], Const(gamma), nil, 1e-5)
		})
}

func TestLayerNormValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	tp := NewTape[float64](linalg.MustDefault())
	x := randT(rng, 2, 3, 7)
	x.Scale(5)
	y := tp.LayerNorm(Const(x), nil, nil, 0).Value
	for r := range 6 {
		row := y.Data[r*7 : (r+1)*7]
		m, v := 0.0, 0.0
		for _, a := range row {
			m += a
		}
		m /= 7
		for _, a := range row {
			v += (a - m) * (a - m)
		}
		v /= 7
		if math.Abs(m) > 1e-12 || math.Abs(v-1) > 1e-12 {
			t.Errorf("row %d: mean %g var %g", r, m, v)
		}
	}
	// [1, 2, 3]: mean 2, var 2/3; x̂ = (−1, 0, 1)·√1.5.
	g := Const(tensor.FromSlice([]float64{2, 3, 4}, 3))
	b := Const(tensor.FromSlice([]float64{1, 1, -1}, 3))
	got := tp.LayerNorm(Const(tensor.FromSlice([]float64{1, 2, 3}, 1, 3)), g, b, 0).Value.Data
	s := math.Sqrt(1.5)
	want := []float64{-2*s + 1, 1, 4*s - 1}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("layernorm = %v, want %v", got, want)
		}
	}
}

func TestRMSNormValue(t *testing.T) {
	tp := NewTape[float64](linalg.MustDefault())
	// mean(x²) = 30/4 = 7.5.
	x := Const(tensor.FromSlice([]float64{1, 2, 3, 4}, 1, 4))
	g := Const(tensor.FromSlice([]float64{1, 2, 1, 0.5}, 4))
	got := tp.RMSNorm(x, g, 0.5).Value.Data
	r := 1 / math.Sqrt(8)
	want := []float64{r, 4 * r, 3 * r, 2 * r}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("rmsnorm = %v, want %v", got, want)
		}
	}
	mustPanic(t, "bad gamma", func() { tp.RMSNorm(x, Const(tensor.New[float64](3)), 1e-6) })
	mustPanic(t, "bad beta", func() { tp.LayerNorm(x, nil, Const(tensor.New[float64](4, 1)), 1e-6) })
}
