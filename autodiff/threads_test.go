package autodiff

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// TestRowOpsIgnoreThreads runs the row-wise operations that split their
// rows between threads on inputs large enough to be split, with one, two
// and five threads, and requires the same values and gradients to the
// last bit: the chunking of the parameter gradients must not depend on the
// thread count.
func TestRowOpsIgnoreThreads(t *testing.T) {
	const rows, heads, dh = 301, 4, 32
	d := heads * dh
	rng := rand.New(rand.NewPCG(1, 2))
	x, g := tensor.New[float32](1, rows, d), tensor.New[float32](1, rows, d)
	gamma, beta := tensor.New[float32](d), tensor.New[float32](d)
	for _, tt := range []*tensor.Tensor[float32]{x, g, gamma, beta} {
		for i := range tt.Data {
			tt.Data[i] = float32(rng.NormFloat64())
		}
	}
	freq := RoPEFrequencies(dh, 10000)
	ops := map[string]func(tp *Tape[float32], x, gamma, beta *Var[float32]) *Var[float32]{
		"rmsnorm": func(tp *Tape[float32], x, gamma, _ *Var[float32]) *Var[float32] { return tp.RMSNorm(x, gamma, 1e-6) },
		"layernorm": func(tp *Tape[float32], x, gamma, beta *Var[float32]) *Var[float32] {
			return tp.LayerNorm(x, gamma, beta, 1e-6)
		},
		"rope": func(tp *Tape[float32], x, _, _ *Var[float32]) *Var[float32] { return tp.RoPEFreqs(x, heads, 0, freq) },
	}
	for name, op := range ops {
		var want [][]float32
		for _, threads := range []int{1, 2, 5} {
			tp := NewTape[float32](linalg.GoThreads(threads))
			tp.Arena = tensor.NewArena[float32]()
			xv, gv, bv := Param(x.Clone()), Param(gamma.Clone()), Param(beta.Clone())
			y := op(tp, xv, gv, bv)
			tp.BackwardFrom(y, g)
			got := [][]float32{slices.Clone(y.Value.Data), xv.Grad.Data}
			if gv.Grad != nil {
				got = append(got, gv.Grad.Data)
			}
			if want == nil {
				want = got
				continue
			}
			for i := range want {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("%s with %d threads: output %d differs from one thread's", name, threads, i)
				}
			}
		}
	}
}
