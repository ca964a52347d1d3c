package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// GradCheck compares the gradients that the tape computes for f against
// central finite differences, in float64.
//
// f builds a computation from Vars holding inputs (each a Param) and returns
// its output. The output is reduced to a scalar with fixed random weights R
// (loss = Σ out ⊙ R), so every output element is checked. GradCheck returns
// the largest error over all input elements, measured as
// |analytic − numeric| / max(1, |numeric|), and which input it was found in.
func GradCheck(be linalg.Backend, inputs []*tensor.Tensor[float64], f func(t *Tape[float64], in []*Var[float64]) *Var[float64]) (maxErr float64, where string) {
	const eps = 1e-6
	rng := rand.New(rand.NewPCG(7, 11))
	run := func() (*Tape[float64], []*Var[float64], *Var[float64]) {
		t := NewTape[float64](be)
		vars := make([]*Var[float64], len(inputs))
		for i, x := range inputs {
			vars[i] = Param(x)
		}
		return t, vars, f(t, vars)
	}
	t, vars, out := run()
	r := tensor.New[float64](out.Value.Shape...)
	for i := range r.Data {
		r.Data[i] = rng.NormFloat64()
	}
	t.BackwardFrom(out, r.Clone())
	loss := func() float64 {
		_, _, o := run()
		s := 0.0
		for i, v := range o.Value.Data {
			s += v * r.Data[i]
		}
		return s
	}
	for i, x := range inputs {
		for j := range x.Data {
			orig := x.Data[j]
			x.Data[j] = orig + eps
			up := loss()
			x.Data[j] = orig - eps
			down := loss()
			x.Data[j] = orig
			num := (up - down) / (2 * eps)
			ana := 0.0
			if vars[i].Grad != nil {
				ana = vars[i].Grad.Data[j]
			}
			e := math.Abs(ana-num) / math.Max(1, math.Abs(num))
			if e > maxErr || math.IsNaN(e) {
				maxErr, where = e, fmt.Sprintf("input %d element %d: analytic %g, numeric %g", i, j, ana, num)
			}
		}
	}
	return maxErr, where
}
