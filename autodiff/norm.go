package autodiff

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/tensor"
)

// checkNormParam panics unless p is nil or a vector of length d.
func checkNormParam[T Float](op, name string, p *Var[T], d int) {
	if p != nil && (len(p.Value.Shape) != 1 || p.Value.Shape[0] != d) {
		panic(fmt.Sprintf("autodiff: %s: %s of shape %v for feature size %d", op, name, p.Value.Shape, d))
	}
}

// LayerNorm normalises x over its last dimension d, as torch.nn.LayerNorm:
// y = (x − mean) / sqrt(var + eps) · gamma + beta, with the biased
// (population) variance. x has shape [..., d]; gamma and beta are [d] or
// nil (scale 1, shift 0). Row statistics are computed in float64.
func (t *Tape[T]) LayerNorm(x, gamma, beta *Var[T], eps float64) *Var[T] {
	if len(x.Value.Shape) == 0 {
		panic("autodiff: layernorm of a scalar")
	}
	d := x.Value.Dim(-1)
	checkNormParam("layernorm", "gamma", gamma, d)
	checkNormParam("layernorm", "beta", beta, d)
	rows := x.Value.Rows()
	out := t.alloc(false, x.Value.Shape...)
	mean := make([]float64, rows)
	rstd := make([]float64, rows)
	xd := x.Value.Data
	grain := max(1, minGrain/max(d, 1))
	parallelFor(t.threads(), rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xd[r*d : (r+1)*d]
			m := 0.0
			for _, v := range row {
				m += float64(v)
			}
			m /= float64(d)
			s := 0.0
			for _, v := range row {
				c := float64(v) - m
				s += c * c
			}
			rs := 1 / math.Sqrt(s/float64(d)+eps)
			mean[r], rstd[r] = m, rs
			o := out.Data[r*d : (r+1)*d]
			for j, v := range row {
				y := (float64(v) - m) * rs
				if gamma != nil {
					y *= float64(gamma.Value.Data[j])
				}
				if beta != nil {
					y += float64(beta.Value.Data[j])
				}
				o[j] = T(y)
			}
		}
	})
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		var gx *tensor.Tensor[T]
		if x.needsGrad {
			gx = t.gradBuf(x, false)
		}
		needGG := gamma != nil && gamma.needsGrad
		needGB := beta != nil && beta.needsGrad
		// Rows go in fixed chunks; each chunk sums its parameter gradients
		// into its own slot, and the slots are added in order, so that the
		// result does not depend on the number of threads.
		chunks := (rows + normChunk - 1) / normChunk
		var pg, pb []float64
		if needGG {
			pg = make([]float64, chunks*d)
		}
		if needGB {
			pb = make([]float64, chunks*d)
		}
		threads := t.threadsFor(rows * d)
		ghs := make([][]float64, threads)
		parallelTasks(threads, chunks, func(w, c int) {
			var wg, wb []float64
			if needGG {
				wg = pg[c*d : (c+1)*d]
			}
			if needGB {
				wb = pb[c*d : (c+1)*d]
			}
			if ghs[w] == nil {
				ghs[w] = make([]float64, d)
			}
			gh := ghs[w] // ∂loss/∂x̂ for one row
			for r := c * normChunk; r < min(rows, (c+1)*normChunk); r++ {
				row, gr := xd[r*d:(r+1)*d], g[r*d:(r+1)*d]
				m, rs := mean[r], rstd[r]
				s1, s2 := 0.0, 0.0
				for j, v := range row {
					xh := (float64(v) - m) * rs
					gj := float64(gr[j])
					if wg != nil {
						wg[j] += gj * xh
					}
					if wb != nil {
						wb[j] += gj
					}
					if gamma != nil {
						gj *= float64(gamma.Value.Data[j])
					}
					gh[j] = gj
					s1 += gj
					s2 += gj * xh
				}
				if gx == nil {
					continue
				}
				s1 /= float64(d)
				s2 /= float64(d)
				dst := gx.Data[r*d : (r+1)*d]
				for j, v := range row {
					xh := (float64(v) - m) * rs
					dst[j] = T(rs * (gh[j] - s1 - xh*s2))
				}
			}
		})
		gg, gb := sumChunks(pg, d), sumChunks(pb, d)
		if gx != nil {
			x.accumulate(gx)
		}
		if gg != nil {
			gamma.accumulate(fromFloat64[T](gg, d))
		}
		if gb != nil {
			beta.accumulate(fromFloat64[T](gb, d))
		}
	}, x, gamma, beta)
}

// RMSNorm normalises x over its last dimension d by its root mean square,
// as LLaMA's LlamaRMSNorm: y = x / sqrt(mean(x²) + eps) · gamma. x has
// shape [..., d]; gamma is [d] or nil (scale 1). Row statistics are
// computed in float64.
func (t *Tape[T]) RMSNorm(x, gamma *Var[T], eps float64) *Var[T] {
	if len(x.Value.Shape) == 0 {
		panic("autodiff: rmsnorm of a scalar")
	}
	d := x.Value.Dim(-1)
	checkNormParam("rmsnorm", "gamma", gamma, d)
	rows := x.Value.Rows()
	out := t.alloc(false, x.Value.Shape...)
	rinv := make([]float64, rows)
	xd := x.Value.Data
	parallelFor(t.threadsFor(rows*d), rows, max(1, minGrain/max(d, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xd[r*d : (r+1)*d]
			s := 0.0
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			ri := 1 / math.Sqrt(s/float64(d)+eps)
			rinv[r] = ri
			o := out.Data[r*d : (r+1)*d]
			for j, v := range row {
				y := float64(v) * ri
				if gamma != nil {
					y *= float64(gamma.Value.Data[j])
				}
				o[j] = T(y)
			}
		}
	})
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		var gx *tensor.Tensor[T]
		if x.needsGrad {
			gx = t.gradBuf(x, false)
		}
		// As in LayerNorm, rows go in fixed chunks whose gamma gradients are
		// added in order, whatever the number of threads.
		chunks := (rows + normChunk - 1) / normChunk
		var pg []float64
		if gamma != nil && gamma.needsGrad {
			pg = make([]float64, chunks*d)
		}
		threads := t.threadsFor(rows * d)
		ghs := make([][]float64, threads)
		parallelTasks(threads, chunks, func(w, c int) {
			var wg []float64
			if pg != nil {
				wg = pg[c*d : (c+1)*d]
			}
			if ghs[w] == nil {
				ghs[w] = make([]float64, d)
			}
			gh := ghs[w] // ∂loss/∂x̂ for one row
			for r := c * normChunk; r < min(rows, (c+1)*normChunk); r++ {
				row, gr := xd[r*d:(r+1)*d], g[r*d:(r+1)*d]
				ri := rinv[r]
				s := 0.0
				for j, v := range row {
					xh := float64(v) * ri
					gj := float64(gr[j])
					if wg != nil {
						wg[j] += gj * xh
					}
					if gamma != nil {
						gj *= float64(gamma.Value.Data[j])
					}
					gh[j] = gj
					s += gj * xh
				}
				if gx == nil {
					continue
				}
				s /= float64(d)
				dst := gx.Data[r*d : (r+1)*d]
				for j, v := range row {
					dst[j] = T(ri * (gh[j] - float64(v)*ri*s))
				}
			}
		})
		if gx != nil {
			x.accumulate(gx)
		}
		if pg != nil {
			gamma.accumulate(fromFloat64[T](sumChunks(pg, d), d))
		}
	}, x, gamma)
}

// normChunk is the number of rows whose parameter gradients a norm's
// backward pass sums together before adding them up in order.
const normChunk = 32

// sumChunks adds up the consecutive d-vectors of p in order; nil for nil.
func sumChunks(p []float64, d int) []float64 {
	if p == nil {
		return nil
	}
	out := make([]float64, d)
	for off := 0; off < len(p); off += d {
		for j, v := range p[off : off+d] {
			out[j] += v
		}
	}
	return out
}

// fromFloat64 converts float64 sums to a tensor of the given shape.
func fromFloat64[T Float](v []float64, shape ...int) *tensor.Tensor[T] {
	out := tensor.New[T](shape...)
	for i, x := range v {
		out.Data[i] = T(x)
	}
	return out
}
