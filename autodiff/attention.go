package autodiff

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// Attention is fused multi-head scaled dot-product attention,
// softmax(Q Kᵀ/√dh) V, per batch element and head.
//
// q has shape [B, N, heads·dh] and k, v have shape [B, M, kvHeads·dh] (v may
// have its own head width dv: [B, M, kvHeads·dv]), in the Hugging Face
// head-major layout where head h occupies columns h·dh … (h+1)·dh. heads must
// be a multiple of kvHeads: with fewer kv heads (grouped-query or multi-query
// attention) query head h reads kv head h / (heads/kvHeads). The output has
// shape [B, N, heads·dv] in the same layout, ready for the output projection.
//
// With causal set, query i sees keys j ≤ i + (M − N): the queries are the
// last N positions of the M keys (M = N for plain self-attention, M > N when
// earlier keys are cached). A query row that sees no key at all (possible
// only when N > M) outputs zeros.
//
// The attention probabilities are kept for the backward pass: B·heads·N·M
// elements.
func (t *Tape[T]) Attention(q, k, v *Var[T], heads, kvHeads int, causal bool) *Var[T] {
	return t.AttentionWith(q, k, v, heads, kvHeads, AttentionOptions{Causal: causal})
}

// AttentionOptions say which keys each query of AttentionWith sees and how
// the scores are bent.
type AttentionOptions struct {
	// Causal: query i sees keys j ≤ i + (M − N), as for Attention.
	Causal bool
	// Window, with Causal, is a sliding window: each query sees at most
	// the last Window of those keys, its own included (transformers'
	// sliding_window: j > i − Window). 0: no window.
	Window int
	// KeyLengths, when set, holds for each of the B sequences how many of
	// its keys any query sees, the first ones: the rest are padding (an
	// encoder's right-padded batch). Nil: every key.
	KeyLengths []int
	// SoftCap soft-caps the scaled scores before the softmax, s ←
	// c·tanh(s/c) (Gemma 2's attn_logit_softcapping); 0: none. The
	// backward pass then computes the scores again rather than keep them.
	SoftCap float64
}

// AttentionWith is Attention with the options o.
func (t *Tape[T]) AttentionWith(q, k, v *Var[T], heads, kvHeads int, o AttentionOptions) *Var[T] {
	causal, c := o.Causal, o.SoftCap
	if o.Window < 0 || o.Window > 0 && !causal {
		panic(fmt.Sprintf("autodiff: attention window %d (causal %v): want a positive window of causal attention, or 0", o.Window, causal))
	}
	mask := rowMask{causal: causal, window: o.Window, keys: -1}
	qs, ks, vs := q.Value.Shape, k.Value.Shape, v.Value.Shape
	if len(qs) != 3 || len(ks) != 3 || len(vs) != 3 || qs[0] != ks[0] || ks[0] != vs[0] || ks[1] != vs[1] {
		panic(fmt.Sprintf("autodiff: attention of q %v, k %v, v %v: want [B, N, ·], [B, M, ·], [B, M, ·]", qs, ks, vs))
	}
	if heads <= 0 || kvHeads <= 0 || heads%kvHeads != 0 {
		panic(fmt.Sprintf("autodiff: attention with %d heads and %d kv heads", heads, kvHeads))
	}
	B, N, M := qs[0], qs[1], ks[1]
	if o.KeyLengths != nil && len(o.KeyLengths) != B {
		panic(fmt.Sprintf("autodiff: attention over %d sequences with %d key lengths", B, len(o.KeyLengths)))
	}
	maskOf := func(b int) rowMask {
		m := mask
		if o.KeyLengths != nil {
			m.keys = o.KeyLengths[b]
		}
		return m
	}
	if qs[2] == 0 || qs[2]%heads != 0 || ks[2] != qs[2]/heads*kvHeads || vs[2] == 0 || vs[2]%kvHeads != 0 || M == 0 {
		panic(fmt.Sprintf("autodiff: attention of q %v, k %v, v %v with %d heads and %d kv heads", qs, ks, vs, heads, kvHeads))
	}
	dh, dv := qs[2]/heads, vs[2]/kvHeads
	group := heads / kvHeads
	// Leading dimensions: the row strides of the per-head views.
	ldq, ldk, ldv, ldo := heads*dh, kvHeads*dh, kvHeads*dv, heads*dv
	scale := T(1 / math.Sqrt(float64(dh)))
	be := t.Backend

	// Offsets of the (b, h) views in q, k, v and the output.
	offsets := func(b, h int) (qo, ko, vo, oo int) {
		g := h / group
		return b*N*ldq + h*dh, b*M*ldk + g*dh, b*M*ldv + g*dv, b*N*ldo + h*dv
	}

	keep := !t.NoGrad && (q.needsGrad || k.needsGrad || v.needsGrad)
	threads := t.threads()
	var probs []T
	if keep {
		probs = t.allocSlice(B*heads*N*M, false)
	} else {
		probs = t.allocSlice(min(threads, B*heads)*N*M, false) // scratch of each worker
	}
	out := t.alloc(false, B, N, heads*dv)
	// The (b, h) pairs are independent: workers take them in turn, each
	// product on one thread of the backend.
	parallelTasks(threads, B*heads, func(w, bh int) {
		b, h := bh/heads, bh%heads
		qo, ko, vo, oo := offsets(b, h)
		p := probs[w*N*M:][:N*M]
		if keep {
			p = probs[bh*N*M:][:N*M]
		}
		// S = Q Kᵀ·scale on the strided head views.
		linalg.Gemm(be, false, true, N, M, dh, scale, q.Value.Data[qo:], ldq, k.Value.Data[ko:], ldk, 0, p, M)
		if c > 0 {
			for i, x := range p {
				p[i] = T(c * math.Tanh(float64(x)/c))
			}
		}
		softmaxRowsMasked(p, N, M, maskOf(b))
		// O = P V.
		linalg.Gemm(be, false, false, N, dv, M, 1, p, M, v.Value.Data[vo:], ldv, 0, out.Data[oo:], ldo)
	})
	if !keep {
		return t.node(out, nil)
	}
	return t.node(out, func(o *Var[T]) {
		var gq, gk, gv *tensor.Tensor[T]
		if q.needsGrad {
			gq = t.gradBuf(q, false) // every head's columns are written
		}
		if k.needsGrad {
			gk = t.gradBuf(k, true) // heads of a group add into it
		}
		if v.needsGrad {
			gv = t.gradBuf(v, true)
		}
		g := o.Grad.Data
		var ds, raw []T
		if gq != nil || gk != nil {
			ds = t.allocSlice(min(threads, B*kvHeads)*N*M, false) // scratch of each worker
			if c > 0 {
				raw = t.allocSlice(min(threads, B*kvHeads)*N*M, false)
			}
		}
		// Tasks are (b, kv head) groups: the query heads of a group add
		// into the same dK and dV, so one worker handles them in turn.
		parallelTasks(threads, B*kvHeads, func(w, bg int) {
			b, kvh := bg/kvHeads, bg%kvHeads
			for h := kvh * group; h < (kvh+1)*group; h++ {
				qo, ko, vo, oo := offsets(b, h)
				p := probs[(b*heads+h)*N*M:][:N*M]
				if gv != nil {
					// dV += Pᵀ dO, summed over the query heads of the group.
					linalg.Gemm(be, true, false, M, dv, N, 1, p, M, g[oo:], ldo, 1, gv.Data[vo:], ldv)
				}
				if ds == nil {
					continue
				}
				d := ds[w*N*M:][:N*M]
				// dP = dO Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)).
				linalg.Gemm(be, false, true, N, M, dv, 1, g[oo:], ldo, v.Value.Data[vo:], ldv, 0, d, M)
				for i := 0; i < N; i++ {
					pr, dr := p[i*M:(i+1)*M], d[i*M:(i+1)*M]
					var dot T
					for j, pv := range pr {
						dot += pv * dr[j]
					}
					for j, pv := range pr {
						dr[j] = pv * (dr[j] - dot)
					}
				}
				if raw != nil {
					// Through the cap: dS ← dS·(1 − tanh²(S/c)), S computed again.
					r := raw[w*N*M:][:N*M]
					linalg.Gemm(be, false, true, N, M, dh, scale, q.Value.Data[qo:], ldq, k.Value.Data[ko:], ldk, 0, r, M)
					for j, x := range r {
						th := math.Tanh(float64(x) / c)
						d[j] *= T(1 - th*th)
					}
				}
				if gq != nil {
					// dQ = dS K·scale.
					linalg.Gemm(be, false, false, N, dh, M, scale, d, M, k.Value.Data[ko:], ldk, 0, gq.Data[qo:], ldq)
				}
				if gk != nil {
					// dK += dSᵀ Q·scale, summed over the query heads of the group.
					linalg.Gemm(be, true, false, M, dh, N, scale, d, M, q.Value.Data[qo:], ldq, 1, gk.Data[ko:], ldk)
				}
			}
		})
		if gq != nil {
			q.accumulate(gq)
		}
		if gk != nil {
			k.accumulate(gk)
		}
		if gv != nil {
			v.accumulate(gv)
		}
	}, q, k, v)
}

// rowMask says which columns of a row of scores a query sees.
type rowMask struct {
	causal bool
	window int
	keys   int // the columns from keys on are padding; −1: none
}

// visible returns the columns [lo, hi) that row i of an n×m score matrix
// sees: with causal set, j ≤ i + (m − n), and with a window, the last
// window of those.
func (r rowMask) visible(i, n, m int) (lo, hi int) {
	hi = m
	if r.causal {
		hi = min(m, max(0, i+m-n+1))
	}
	if r.window > 0 {
		lo = max(0, hi-r.window)
	}
	if r.keys >= 0 {
		hi = min(hi, r.keys)
	}
	return lo, hi
}

// softmaxRowsMasked replaces each row of the n×m row-major scores s by its
// softmax over the columns mask leaves visible, stabilised by the row
// maximum; the other columns become 0, and a row with no column left
// becomes all zeros.
func softmaxRowsMasked[T Float](s []T, n, m int, mask rowMask) {
	if s32, ok := any(s).([]float32); ok {
		softmaxRowsMasked32(s32, n, m, mask)
		return
	}
	for i := 0; i < n; i++ {
		row := s[i*m : (i+1)*m]
		lo, hi := mask.visible(i, n, m)
		if hi <= lo {
			clear(row)
			continue
		}
		mx := row[lo]
		for _, x := range row[lo+1 : hi] {
			mx = max(mx, x)
		}
		var sum float64
		for j := lo; j < hi; j++ {
			e := math.Exp(float64(row[j] - mx))
			row[j] = T(e)
			sum += e
		}
		inv := T(1 / sum)
		for j := lo; j < hi; j++ {
			row[j] *= inv
		}
		clear(row[:lo])
		clear(row[hi:])
	}
}

// maxOf32Go is the largest of x (NaN if any is NaN), on four running
// maxima: one alone waits on each step of the builtin max, which checks for
// NaN. x must not be empty.
func maxOf32Go(x []float32) float32 {
	m0, m1, m2, m3 := x[0], x[0], x[0], x[0]
	i := 1
	for ; i+4 <= len(x); i += 4 {
		m0, m1 = max(m0, x[i]), max(m1, x[i+1])
		m2, m3 = max(m2, x[i+2]), max(m3, x[i+3])
	}
	for ; i < len(x); i++ {
		m0 = max(m0, x[i])
	}
	return max(max(m0, m1), max(m2, m3))
}

// softmaxRowsMasked32 is softmaxRowsMasked on float32 scores, with
// expNonPos for the exponentials (the arguments are at most 0).
func softmaxRowsMasked32(s []float32, n, m int, mask rowMask) {
	for i := 0; i < n; i++ {
		row := s[i*m : (i+1)*m]
		lo, hi := mask.visible(i, n, m)
		if hi <= lo {
			clear(row)
			continue
		}
		sum := expShift32(row[lo:hi], maxOf32(row[lo:hi]))
		inv := float32(1 / sum)
		for j := lo; j < hi; j++ {
			row[j] *= inv
		}
		clear(row[:lo])
		clear(row[hi:])
	}
}
