package autodiff

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// blockShape is a pre-LN transformer block's size.
type blockShape struct {
	batch, tokens, width, heads, mlp int
}

// flops counts the block's forward and backward floating-point operations:
// the matrix products (2 per multiply-add) of the six linear layers and of
// attention, forward once and backward twice (input and weight gradients).
func (s blockShape) flops() float64 {
	rows := float64(s.batch * s.tokens)
	d, m, n := float64(s.width), float64(s.mlp), float64(s.tokens)
	linear := 2 * rows * (4*d*d + 2*d*m)
	attention := 2 * 2 * float64(s.batch) * n * n * d
	return 3 * (linear + attention)
}

func randParam(rng *rand.Rand, scale float32, shape ...int) *Var[float32] {
	t := tensor.New[float32](shape...)
	for i := range t.Data {
		t.Data[i] = scale * float32(rng.NormFloat64())
	}
	return Param(t)
}

// block records one pre-LN block: h + attn(LN(h)), then + MLP(LN(·)).
func block(tp *Tape[float32], h *Var[float32], p map[string]*Var[float32], heads int) *Var[float32] {
	a := tp.LayerNorm(h, p["ln1.w"], p["ln1.b"], 1e-12)
	q := tp.Linear("q", a, p["q.w"], p["q.b"])
	k := tp.Linear("k", a, p["k.w"], p["k.b"])
	v := tp.Linear("v", a, p["v.w"], p["v.b"])
	h = tp.Add(h, tp.Linear("o", tp.Attention(q, k, v, heads, heads, false), p["o.w"], p["o.b"]))
	m := tp.LayerNorm(h, p["ln2.w"], p["ln2.b"], 1e-12)
	m = tp.GELU(tp.Linear("fc1", m, p["fc1.w"], p["fc1.b"]))
	return tp.Add(h, tp.Linear("fc2", m, p["fc2.w"], p["fc2.b"]))
}

func blockParams(rng *rand.Rand, d, mlp int) map[string]*Var[float32] {
	p := map[string]*Var[float32]{}
	for _, n := range []string{"q", "k", "v", "o"} {
		p[n+".w"], p[n+".b"] = randParam(rng, 0.02, d, d), randParam(rng, 0, d)
	}
	p["fc1.w"], p["fc1.b"] = randParam(rng, 0.02, mlp, d), randParam(rng, 0, mlp)
	p["fc2.w"], p["fc2.b"] = randParam(rng, 0.02, d, mlp), randParam(rng, 0, d)
	for _, n := range []string{"ln1", "ln2"} {
		p[n+".w"], p[n+".b"] = Param(tensor.Full[float32](1, d)), randParam(rng, 0, d)
	}
	return p
}

// sgemmRate measures the backend's sgemm GFLOP/s at n×n×n (median of 3).
func sgemmRate(be linalg.Backend, n int) float64 {
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = 1e-3*float32(i%7), 1e-3*float32(i%5)
	}
	var times []float64
	for range 3 {
		start := time.Now()
		be.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		times = append(times, time.Since(start).Seconds())
	}
	return 2 * float64(n) * float64(n) * float64(n) / median(times) / 1e9
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// BenchmarkTransformerBlock times forward plus backward of one pre-LN block
// of ViT-B shape (batch 8, 197 tokens, width 768, 12 heads, MLP 3072) and
// reports GFLOP/s and its fraction of the same run's sgemm rate at 1024.
// A small shape runs too, for the pure-Go backend's sake.
func BenchmarkTransformerBlock(b *testing.B) {
	be := linalg.MustDefault()
	for _, s := range []blockShape{{8, 197, 768, 12, 3072}, {8, 50, 256, 4, 1024}} {
		b.Run(fmt.Sprintf("%s/b%d_n%d_d%d", be.Name(), s.batch, s.tokens, s.width), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			p := blockParams(rng, s.width, s.mlp)
			x := randParam(rng, 1, s.batch, s.tokens, s.width)
			ceiling := sgemmRate(be, 1024)
			b.ResetTimer()
			for range b.N {
				tp := NewTape[float32](be)
				out := block(tp, x, p, s.heads)
				tp.BackwardFrom(out, tensor.Full[float32](1, out.Value.Shape...))
				tp.Release()
				for _, v := range p {
					v.ZeroGrad()
				}
				x.ZeroGrad()
			}
			rate := s.flops() * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(rate, "GFLOP/s")
			b.ReportMetric(rate/ceiling, "of-sgemm")
			b.ReportMetric(ceiling, "sgemm-GFLOP/s")
		})
	}
}

// TestBlockGradient checks the composed block against finite differences
// in float64 on a small odd shape.
func TestBlockGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	names := []string{"ln1.w", "ln1.b", "q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "o.w", "o.b", "ln2.w", "ln2.b", "fc1.w", "fc1.b", "fc2.w", "fc2.b"}
	d, mlp := 6, 10
	shapes := map[string][]int{"q.w": {d, d}, "k.w": {d, d}, "v.w": {d, d}, "o.w": {d, d}, "fc1.w": {mlp, d}, "fc2.w": {d, mlp}, "fc1.b": {mlp}}
	inputs := []*tensor.Tensor[float64]{randT(rng, 2, 3, d)}
	for _, n := range names {
		shape, ok := shapes[n]
		if !ok {
			shape = []int{d}
		}
		inputs = append(inputs, randT(rng, shape...))
	}
	checkGrad(t, "pre-LN block", inputs, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		p := map[string]*Var[float64]{}
		for i, n := range names {
			p[n] = in[i+1]
		}
		a := tp.LayerNorm(in[0], p["ln1.w"], p["ln1.b"], 1e-5)
		q, k, v := tp.Linear("q", a, p["q.w"], p["q.b"]), tp.Linear("k", a, p["k.w"], p["k.b"]), tp.Linear("v", a, p["v.w"], p["v.b"])
		h := tp.Add(in[0], tp.Linear("o", tp.Attention(q, k, v, 2, 2, false), p["o.w"], p["o.b"]))
		m := tp.GELU(tp.Linear("fc1", tp.LayerNorm(h, p["ln2.w"], p["ln2.b"], 1e-5), p["fc1.w"], p["fc1.b"]))
		return tp.Add(h, tp.Linear("fc2", m, p["fc2.w"], p["fc2.b"]))
	})
}
