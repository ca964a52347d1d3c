package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// matDims returns the (rows, cols) of the last two dimensions of shape and
// the number of matrices before them.
func matDims(shape []int) (batch, rows, cols int) {
	n := len(shape)
	if n < 2 {
		panic(fmt.Sprintf("autodiff: matmul operand of shape %v is not a matrix", shape))
	}
	return tensor.Numel(shape[:n-2]), shape[n-2], shape[n-1]
}

// MatMul returns op(a)·op(b) over the last two dimensions, where op(X) is Xᵀ
// when the matching flag is set. a has shape [..., m, k] (or [..., k, m]
// with transA); b has the same leading dimensions as a, or none, in which
// case the one matrix b multiplies every matrix of a.
func (t *Tape[T]) MatMul(a, b *Var[T], transA, transB bool) *Var[T] {
	ba, ra, ca := matDims(a.Value.Shape)
	bb, rb, cb := matDims(b.Value.Shape)
	m, k := ra, ca
	if transA {
		m, k = ca, ra
	}
	k2, n := rb, cb
	if transB {
		k2, n = cb, rb
	}
	shared := len(b.Value.Shape) == 2
	if k != k2 || (!shared && (bb != ba || !tensor.SameShape(a.Value.Shape[:len(a.Value.Shape)-2], b.Value.Shape[:len(b.Value.Shape)-2]))) {
		panic(fmt.Sprintf("autodiff: matmul of %v (trans %v) by %v (trans %v)", a.Value.Shape, transA, b.Value.Shape, transB))
	}
	outShape := append(append([]int(nil), a.Value.Shape[:len(a.Value.Shape)-2]...), m, n)
	out := tensor.New[T](outShape...)
	be := t.Backend
	sa, sb, so := ra*ca, rb*cb, m*n
	if shared {
		sb = 0
	}
	if shared && !transA {
		// Fold the batch into the rows: one product.
		linalg.Gemm(be, false, transB, ba*m, n, k, 1, a.Value.Data, ca, b.Value.Data, cb, 0, out.Data, n)
	} else {
		for i := 0; i < ba; i++ {
			linalg.Gemm(be, transA, transB, m, n, k, 1, a.Value.Data[i*sa:], ca, b.Value.Data[i*sb:], cb, 0, out.Data[i*so:], n)
		}
	}
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		if a.needsGrad {
			// dA = dC·op(B)ᵀ, or its transpose when a was transposed.
			ga := gradBuf(a)
			if shared && !transA {
				linalg.Gemm(be, false, !transB, ba*m, k, n, 1, g, n, b.Value.Data, cb, 0, ga.Data, ca)
			} else {
				for i := 0; i < ba; i++ {
					if !transA {
						linalg.Gemm(be, false, !transB, m, k, n, 1, g[i*so:], n, b.Value.Data[i*sb:], cb, 0, ga.Data[i*sa:], ca)
					} else {
						linalg.Gemm(be, transB, true, k, m, n, 1, b.Value.Data[i*sb:], cb, g[i*so:], n, 0, ga.Data[i*sa:], ca)
					}
				}
			}
			a.accumulate(ga)
		}
		if b.needsGrad {
			// dB = op(A)ᵀ·dC, or its transpose when b was transposed;
			// summed over the batch when b is shared.
			gb := gradBuf(b)
			if shared && !transA {
				if !transB {
					linalg.Gemm(be, true, false, k, n, ba*m, 1, a.Value.Data, ca, g, n, 0, gb.Data, cb)
				} else {
					linalg.Gemm(be, true, false, n, k, ba*m, 1, g, n, a.Value.Data, ca, 0, gb.Data, cb)
				}
			} else {
				var beta T
				for i := 0; i < ba; i++ {
					if shared {
						beta = T(min(i, 1))
					}
					if !transB {
						linalg.Gemm(be, !transA, false, k, n, m, 1, a.Value.Data[i*sa:], ca, g[i*so:], n, beta, gb.Data[i*sb:], cb)
					} else {
						linalg.Gemm(be, true, transA, n, k, m, 1, g[i*so:], n, a.Value.Data[i*sa:], ca, beta, gb.Data[i*sb:], cb)
					}
				}
			}
			b.accumulate(gb)
		}
	}, a, b)
}

// Linear is a linear layer in Hugging Face layout, y = x·Wᵀ + b, and a named
// site that an Observer can watch. x has shape [..., in], w is [out, in] and
// b is [out] or nil. An empty site name makes it anonymous.
func (t *Tape[T]) Linear(site string, x, w, b *Var[T]) *Var[T] {
	in := x.Value.Dim(-1)
	if len(w.Value.Shape) != 2 || w.Value.Shape[1] != in {
		panic(fmt.Sprintf("autodiff: linear %q: input %v against weight %v", site, x.Value.Shape, w.Value.Shape))
	}
	outDim := w.Value.Shape[0]
	if b != nil && (len(b.Value.Shape) != 1 || b.Value.Shape[0] != outDim) {
		panic(fmt.Sprintf("autodiff: linear %q: bias %v for %d outputs", site, b.Value.Shape, outDim))
	}
	t.gradLeafAt(site, x)
	rows := x.Value.Rows()
	outShape := append(append([]int(nil), x.Value.Shape[:len(x.Value.Shape)-1]...), outDim)
	y := t.alloc(false, outShape...)
	if b != nil {
		for r := 0; r < rows; r++ {
			copy(y.Data[r*outDim:(r+1)*outDim], b.Value.Data)
		}
	}
	be := t.Backend
	beta := T(0)
	if b != nil {
		beta = 1
	}
	linalg.Gemm(be, false, true, rows, outDim, in, 1, x.Value.Data, in, w.Value.Data, in, beta, y.Data, outDim)
	t.observe(site, SiteInput, x.Value)
	t.observe(site, SiteOutput, y)
	if t.wants(site, SiteInputGrad) {
		t.OnGrad(x, func(g *tensor.Tensor[T]) { t.Observer.Observe(site, SiteInputGrad, g) })
	}
	return t.node(y, func(o *Var[T]) {
		g := o.Grad
		t.observe(site, SiteOutputGrad, g)
		if x.needsGrad {
			gx := t.gradBuf(x, false)
			linalg.Gemm(be, false, false, rows, in, outDim, 1, g.Data, outDim, w.Value.Data, in, 0, gx.Data, in)
			x.accumulate(gx)
		}
		if w.needsGrad {
			gw := gradBuf(w)
			linalg.Gemm(be, true, false, outDim, in, rows, 1, g.Data, outDim, x.Value.Data, in, 0, gw.Data, in)
			w.accumulate(gw)
		}
		if b != nil && b.needsGrad {
			gb := gradBuf(b)
			for r := 0; r < rows; r++ {
				row := g.Data[r*outDim : (r+1)*outDim]
				for j, v := range row {
					gb.Data[j] += v
				}
			}
			b.accumulate(gb)
		}
	}, x, w, b)
}
