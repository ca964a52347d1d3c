package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// naiveAttention is the reference: plain loops over batch, head, query and
// key, in float64.
func naiveAttention(q, k, v *tensor.Tensor[float64], heads, kvHeads int, causal bool) *tensor.Tensor[float64] {
	return naiveAttentionWith(q, k, v, heads, kvHeads, AttentionOptions{Causal: causal})
}

// naiveAttentionWith is naiveAttention with a sliding window (query i sees
// keys j with j > i + (M − N) − window) and the scores soft-capped at
// o.SoftCap (c·tanh(s/c)).
func naiveAttentionWith(q, k, v *tensor.Tensor[float64], heads, kvHeads int, o AttentionOptions) *tensor.Tensor[float64] {
	causal, c := o.Causal, o.SoftCap
	B, N, M := q.Shape[0], q.Shape[1], k.Shape[1]
	dh, dv := q.Shape[2]/heads, v.Shape[2]/kvHeads
	out := tensor.New[float64](B, N, heads*dv)
	at := func(x *tensor.Tensor[float64], b, i, col int) float64 {
		return x.Data[(b*x.Shape[1]+i)*x.Shape[2]+col]
	}
	for b := 0; b < B; b++ {
		for h := 0; h < heads; h++ {
			g := h / (heads / kvHeads)
			for i := 0; i < N; i++ {
				s := make([]float64, M)
				mx := math.Inf(-1)
				for j := 0; j < M; j++ {
					if causal && j > i+M-N || o.Window > 0 && j <= i+M-N-o.Window || o.KeyLengths != nil && j >= o.KeyLengths[b] {
						s[j] = math.Inf(-1)
						continue
					}
					for c := 0; c < dh; c++ {
						s[j] += at(q, b, i, h*dh+c) * at(k, b, j, g*dh+c)
					}
					s[j] /= math.Sqrt(float64(dh))
					if c > 0 {
						s[j] = c * math.Tanh(s[j]/c)
					}
					mx = math.Max(mx, s[j])
				}
				if math.IsInf(mx, -1) {
					continue // no visible key: zeros
				}
				z := 0.0
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					z += s[j]
				}
				for c := 0; c < dv; c++ {
					acc := 0.0
					for j := 0; j < M; j++ {
						acc += s[j] / z * at(v, b, j, g*dv+c)
					}
					out.Data[(b*N+i)*heads*dv+h*dv+c] = acc
				}
			}
		}
	}
	return out
}

type attnCase struct {
	B, N, M, heads, kvHeads, dh, dv int
	causal                          bool
}

func (c attnCase) String() string {
	return fmt.Sprintf("B%d N%d M%d h%d kv%d dh%d dv%d causal=%v", c.B, c.N, c.M, c.heads, c.kvHeads, c.dh, c.dv, c.causal)
}

var attnCases = []attnCase{
	{2, 3, 5, 4, 2, 3, 3, false},
	{2, 3, 5, 4, 2, 3, 3, true},
	{2, 3, 3, 2, 2, 3, 3, true},
	{1, 4, 4, 3, 3, 2, 2, false},
	{2, 3, 5, 4, 1, 3, 2, true}, // multi-query, dv ≠ dh
	{1, 5, 3, 2, 1, 2, 2, true}, // N > M: the first rows see no key
}

func TestAttentionValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	be := linalg.MustDefault()
	for _, c := range attnCases {
		q := randT(rng, c.B, c.N, c.heads*c.dh)
		k := randT(rng, c.B, c.M, c.kvHeads*c.dh)
		v := randT(rng, c.B, c.M, c.kvHeads*c.dv)
		want := naiveAttention(q, k, v, c.heads, c.kvHeads, c.causal)
		for _, noGrad := range []bool{false, true} {
			tp := NewTape[float64](be)
			tp.NoGrad = noGrad
			got := tp.Attention(Param(q), Param(k), Param(v), c.heads, c.kvHeads, c.causal)
			if !tensor.SameShape(got.Value.Shape, want.Shape) {
				t.Fatalf("%v: shape %v, want %v", c, got.Value.Shape, want.Shape)
			}
			if d := tensor.MaxAbsDiff(got.Value, want); d > 1e-12 {
				t.Errorf("%v (nograd %v): differs from the naive reference by %g", c, noGrad, d)
			}
		}
	}
}

func TestAttentionGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, c := range attnCases {
		inputs := []*tensor.Tensor[float64]{
			randT(rng, c.B, c.N, c.heads*c.dh),
			randT(rng, c.B, c.M, c.kvHeads*c.dh),
			randT(rng, c.B, c.M, c.kvHeads*c.dv),
		}
		checkGrad(t, "attention "+c.String(), inputs, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.Attention(in[0], in[1], in[2], c.heads, c.kvHeads, c.causal)
		})
	}
}

// TestAttentionWith checks sliding windows, key padding and soft-capped
// scores against
// the naive reference, and their gradients by finite differences; the cap
// (1.5) is small enough to bend the scores.
func TestAttentionWith(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	be := linalg.MustDefault()
	for _, c := range attnCases {
		inputs := []*tensor.Tensor[float64]{
			randT(rng, c.B, c.N, c.heads*c.dh),
			randT(rng, c.B, c.M, c.kvHeads*c.dh),
			randT(rng, c.B, c.M, c.kvHeads*c.dv),
		}
		for _, x := range inputs[:2] {
			for i := range x.Data {
				x.Data[i] *= 3 // scores of several units, which the cap bends
			}
		}
		keys := make([]int, c.B)
		for b := range keys {
			keys[b] = c.M - b // the second sequence has a padding key
		}
		opts := []AttentionOptions{{Causal: c.causal, SoftCap: 1.5}}
		if c.B > 1 {
			opts = append(opts, AttentionOptions{Causal: c.causal, KeyLengths: keys})
		}
		if c.causal {
			opts = append(opts, AttentionOptions{Causal: true, Window: 2}, AttentionOptions{Causal: true, Window: 1, SoftCap: 1.5})
		}
		plain := naiveAttention(inputs[0], inputs[1], inputs[2], c.heads, c.kvHeads, c.causal)
		for _, o := range opts {
			name := fmt.Sprintf("%v window %d cap %g keys %v", c, o.Window, o.SoftCap, o.KeyLengths)
			want := naiveAttentionWith(inputs[0], inputs[1], inputs[2], c.heads, c.kvHeads, o)
			for _, noGrad := range []bool{false, true} {
				tp := NewTape[float64](be)
				tp.NoGrad = noGrad
				got := tp.AttentionWith(Const(inputs[0]), Const(inputs[1]), Const(inputs[2]), c.heads, c.kvHeads, o)
				if d := tensor.MaxAbsDiff(got.Value, want); d > 1e-12 {
					t.Errorf("%s: differs from the naive reference by %g", name, d)
				}
			}
			if d := tensor.MaxAbsDiff(want, plain); d < 1e-3 {
				t.Errorf("%s: the options change the output by only %g", name, d)
			}
			checkGrad(t, "attention "+name, inputs, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
				return tp.AttentionWith(in[0], in[1], in[2], c.heads, c.kvHeads, o)
			})
		}
	}
}

// TestAttentionPartialGrad checks the kernels that skip some inputs.
func TestAttentionPartialGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	be := linalg.MustDefault()
	q, k, v := randT(rng, 2, 3, 8), randT(rng, 2, 5, 4), randT(rng, 2, 5, 4)
	seed := randT(rng, 2, 3, 8)
	full := NewTape[float64](be)
	vq, vk, vv := Param(q), Param(k), Param(v)
	full.BackwardFrom(full.Attention(vq, vk, vv, 4, 2, true), seed.Clone())
	for mask := 1; mask < 8; mask++ {
		tp := NewTape[float64](be)
		vars := []*Var[float64]{Const(q), Const(k), Const(v)}
		for i := range vars {
			vars[i].SetNeedsGrad(mask&(1<<i) != 0)
		}
		tp.BackwardFrom(tp.Attention(vars[0], vars[1], vars[2], 4, 2, true), seed.Clone())
		for i, ref := range []*Var[float64]{vq, vk, vv} {
			if mask&(1<<i) == 0 {
				if vars[i].Grad != nil {
					t.Errorf("mask %b: input %d got a gradient", mask, i)
				}
				continue
			}
			if d := tensor.MaxAbsDiff(vars[i].Grad, ref.Grad); d > 1e-12 {
				t.Errorf("mask %b: input %d gradient differs by %g", mask, i, d)
			}
		}
	}
}

// TestAttentionCausalMasks checks that changing a key and value never
// changes the outputs of the queries that must not see it.
func TestAttentionCausalMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	be := linalg.MustDefault()
	const B, N, M, heads, kv, dh = 2, 3, 5, 4, 2, 3
	q, k, v := randT(rng, B, N, heads*dh), randT(rng, B, M, kv*dh), randT(rng, B, M, kv*dh)
	run := func(k, v *tensor.Tensor[float64]) *tensor.Tensor[float64] {
		return NewTape[float64](be).Attention(Const(q), Const(k), Const(v), heads, kv, true).Value
	}
	base := run(k, v)
	for j := 0; j < M; j++ {
		k2, v2 := k.Clone(), v.Clone()
		for b := 0; b < B; b++ {
			for c := 0; c < kv*dh; c++ {
				k2.Data[(b*M+j)*kv*dh+c] += 3
				v2.Data[(b*M+j)*kv*dh+c] -= 2
			}
		}
		got := run(k2, v2)
		for b := 0; b < B; b++ {
			for i := 0; i < N; i++ {
				row := (b*N + i) * heads * dh
				d := 0.0
				for c := 0; c < heads*dh; c++ {
					d = math.Max(d, math.Abs(got.Data[row+c]-base.Data[row+c]))
				}
				visible := j <= i+M-N
				if !visible && d != 0 {
					t.Errorf("query %d changed by %g when future key %d changed", i, d, j)
				}
				if visible && d == 0 {
					t.Errorf("query %d unchanged when visible key %d changed", i, j)
				}
			}
		}
	}
}

// TestAttentionFusedQKV runs the usual decoder block head: a fused qkv
// projection split into q, k and v, rotary embeddings, attention.
func TestAttentionFusedQKV(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	const heads, kv, dh = 4, 2, 2
	inputs := []*tensor.Tensor[float64]{randT(rng, 2, 3, 5), randT(rng, (heads+2*kv)*dh, 5)}
	checkGrad(t, "fused qkv", inputs, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		qkv := tp.Linear("qkv", in[0], in[1], nil)
		p := tp.Split(qkv, heads*dh, kv*dh, kv*dh)
		q := tp.RoPE(p[0], heads, 2, 10000)
		k := tp.RoPE(p[1], kv, 2, 10000)
		return tp.Attention(q, k, p[2], heads, kv, true)
	})
}

// TestFloat32Consistency runs a small attention stack in float32 and float64
// and compares values and gradients.
func TestFloat32Consistency(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	be := linalg.MustDefault()
	const B, C, H, W, p, d, heads, kv, V = 2, 3, 4, 6, 2, 8, 2, 1, 7
	img := randT(rng, B, C, H, W)
	wp := randT(rng, d, C*p*p)
	cls := randT(rng, d)
	table := randT(rng, V, d)
	wqkv := randT(rng, (heads+2*kv)*d/heads, d)
	seed := randT(rng, B, d)
	ids := []int{3, 1, 6, 0, 3, 2}

	type result struct {
		out   []float64
		grads [][]float64
	}
	run64 := func() result {
		tp := NewTape[float64](be)
		vars := []*Var[float64]{Param(img.Clone()), Param(wp.Clone()), Param(cls.Clone()), Param(table.Clone()), Param(wqkv.Clone())}
		out := consistencyNet(tp, vars, ids)
		tp.BackwardFrom(out, seed.Clone())
		r := result{out: out.Value.Data}
		for _, v := range vars {
			r.grads = append(r.grads, v.Grad.Data)
		}
		return r
	}
	run32 := func() result {
		tp := NewTape[float32](be)
		var vars []*Var[float32]
		for _, x := range []*tensor.Tensor[float64]{img, wp, cls, table, wqkv} {
			vars = append(vars, Param(tensor.Convert[float32](x)))
		}
		out := consistencyNet(tp, vars, ids)
		tp.BackwardFrom(out, tensor.Convert[float32](seed))
		r := result{out: tensor.Convert[float64](out.Value).Data}
		for _, v := range vars {
			r.grads = append(r.grads, tensor.Convert[float64](v.Grad).Data)
		}
		return r
	}
	a, b := run64(), run32()
	cmp := func(name string, x, y []float64) {
		scale := 0.0
		for _, v := range x {
			scale = math.Max(scale, math.Abs(v))
		}
		for i := range x {
			if d := math.Abs(x[i] - y[i]); d > 1e-4*math.Max(1, scale) {
				t.Errorf("%s[%d]: float64 %g, float32 %g", name, i, x[i], y[i])
				return
			}
		}
	}
	cmp("output", a.out, b.out)
	for i := range a.grads {
		cmp(fmt.Sprintf("grad %d", i), a.grads[i], b.grads[i])
	}
}

// consistencyNet exercises every op of this family: image patches with a
// class token, token embeddings, concatenation, fused qkv, RoPE, attention
// and pooling.
func consistencyNet[T Float](tp *Tape[T], in []*Var[T], ids []int) *Var[T] {
	const p, heads, kv = 2, 2, 1
	d := in[1].Value.Shape[0]
	img := tp.Linear("patch", tp.Patches(in[0], p), in[1], nil) // [B, 6, d]
	img = tp.PrependToken(img, in[2])                           // [B, 7, d]
	txt := tp.Embedding(in[3], ids, 2, -1)                      // [B, 3, d]
	x := tp.ConcatTokens(img, txt)                              // [B, 10, d]
	parts := tp.Split(tp.Linear("qkv", x, in[4], nil), d, d/heads*kv, d/heads*kv)
	q := tp.RoPE(parts[0], heads, 1, 10000)
	k := tp.RoPE(parts[1], kv, 1, 10000)
	a := tp.Attention(q, k, parts[2], heads, kv, true)
	halves := tp.Split(a, d/2, d/2)
	return tp.Concat(tp.MeanTokens(halves[0]), tp.SelectToken(halves[1], -1)) // [B, d]
}
