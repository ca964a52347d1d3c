package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// tokenDims checks that shape is [..., N, d] and returns the number of
// sequences, N, d and the pooled shape [..., d].
func tokenDims(op string, shape []int) (batch, n, d int, pooled []int) {
	r := len(shape)
	if r < 2 {
		panic(fmt.Sprintf("autodiff: %s of shape %v: want [..., N, d]", op, shape))
	}
	pooled = append(append([]int(nil), shape[:r-2]...), shape[r-1])
	return tensor.Numel(shape[:r-2]), shape[r-2], shape[r-1], pooled
}

// SelectToken picks token i of every sequence of x [..., N, d], giving
// [..., d]; a negative i counts from the end (−1 is the last token).
func (t *Tape[T]) SelectToken(x *Var[T], i int) *Var[T] {
	batch, n, _, _ := tokenDims("select token", x.Value.Shape)
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		panic(fmt.Sprintf("autodiff: select token %d of %v", i, x.Value.Shape))
	}
	idx := make([]int, batch)
	for b := range idx {
		idx[b] = i
	}
	return t.SelectTokens(x, idx)
}

// SelectTokens picks token idx[b] of sequence b of x [..., N, d], giving
// [..., d]: one index per sequence (len(idx) is the product of the leading
// dimensions), each in [0, N). A sequence classifier reads its last token
// that is not padding this way.
func (t *Tape[T]) SelectTokens(x *Var[T], idx []int) *Var[T] {
	batch, n, d, pooled := tokenDims("select tokens", x.Value.Shape)
	if len(idx) != batch {
		panic(fmt.Sprintf("autodiff: select tokens: %d indices for %d sequences of %v", len(idx), batch, x.Value.Shape))
	}
	for b, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("autodiff: select token %d of sequence %d of %v", i, b, x.Value.Shape))
		}
	}
	idx = append([]int(nil), idx...) // the caller may reuse its slice before Backward
	out := t.alloc(false, pooled...)
	for b, i := range idx {
		copy(out.Data[b*d:(b+1)*d], x.Value.Data[(b*n+i)*d:(b*n+i+1)*d])
	}
	return t.node(out, func(o *Var[T]) {
		gx := t.sparseGrad(x)
		g := o.Grad.Data
		for b, i := range idx {
			dst := gx[(b*n+i)*d : (b*n+i+1)*d]
			for j, v := range g[b*d : (b+1)*d] {
				dst[j] += v
			}
		}
	}, x)
}

// MeanTokens averages x [..., N, d] over its N tokens, giving [..., d].
func (t *Tape[T]) MeanTokens(x *Var[T]) *Var[T] {
	batch, n, d, pooled := tokenDims("mean tokens", x.Value.Shape)
	if n == 0 {
		panic(fmt.Sprintf("autodiff: mean of no tokens in %v", x.Value.Shape))
	}
	out := tensor.New[T](pooled...)
	inv := 1 / T(n)
	for b := 0; b < batch; b++ {
		dst := out.Data[b*d : (b+1)*d]
		for k := 0; k < n; k++ {
			for j, v := range x.Value.Data[(b*n+k)*d : (b*n+k+1)*d] {
				dst[j] += v
			}
		}
		for j := range dst {
			dst[j] *= inv
		}
	}
	return t.node(out, func(o *Var[T]) {
		gx := gradBuf(x)
		g := o.Grad.Data
		for b := 0; b < batch; b++ {
			src := g[b*d : (b+1)*d]
			for k := 0; k < n; k++ {
				dst := gx.Data[(b*n+k)*d : (b*n+k+1)*d]
				for j, v := range src {
					dst[j] = v * inv
				}
			}
		}
		x.accumulate(gx)
	}, x)
}
