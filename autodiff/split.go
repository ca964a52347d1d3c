package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// sparseGrad returns the data of v's gradient for a backward kernel that
// adds into only part of it (a gather's scatter-add), allocating a zeroed
// gradient when none has arrived yet. It is accumulate without a full-size
// temporary: the caller adds, never overwrites.
func sparseGrad[T Float](v *Var[T]) []T {
	if v.Grad == nil {
		v.Grad = gradBuf(v)
	}
	return v.Grad.Data
}

// sparseGrad is sparseGrad with a new gradient from the tape's arena.
func (t *Tape[T]) sparseGrad(v *Var[T]) []T {
	if v.Grad == nil {
		v.Grad = t.gradBuf(v, true)
	}
	return v.Grad.Data
}

// resolveAxis turns a possibly negative axis into an index into a shape of
// the given rank, panicking when it is out of range.
func resolveAxis(op string, axis, rank int) int {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		panic(fmt.Sprintf("autodiff: %s: axis %d of a rank-%d tensor", op, axis, rank))
	}
	return a
}

// Split cuts x along its last dimension into consecutive pieces of the given
// sizes, which must add up to that dimension: for example a fused qkv
// projection into q, k and v.
func (t *Tape[T]) Split(x *Var[T], sizes ...int) []*Var[T] {
	return t.SplitAxis(-1, x, sizes...)
}

// SplitAxis is Split along any axis; a negative axis counts from the end.
func (t *Tape[T]) SplitAxis(axis int, x *Var[T], sizes ...int) []*Var[T] {
	shape := x.Value.Shape
	ax := resolveAxis("split", axis, len(shape))
	total := 0
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("autodiff: split of %v into negative size %d", shape, s))
		}
		total += s
	}
	if total != shape[ax] {
		panic(fmt.Sprintf("autodiff: split of %v along axis %d into sizes %v adding to %d", shape, ax, sizes, total))
	}
	outer := tensor.Numel(shape[:ax])
	inner := tensor.Numel(shape[ax+1:])
	row := shape[ax] * inner // elements of x per outer index
	outs := make([]*Var[T], len(sizes))
	off := 0
	for i, s := range sizes {
		w, start := s*inner, off*inner // piece width and offset within a row
		oshape := append([]int(nil), shape...)
		oshape[ax] = s
		val := tensor.New[T](oshape...)
		src := x.Value.Data
		for r := 0; r < outer; r++ {
			copy(val.Data[r*w:(r+1)*w], src[r*row+start:r*row+start+w])
		}
		outs[i] = t.node(val, func(o *Var[T]) {
			gx := sparseGrad(x)
			g := o.Grad.Data
			for r := 0; r < outer; r++ {
				dst := gx[r*row+start : r*row+start+w]
				for j, v := range g[r*w : (r+1)*w] {
					dst[j] += v
				}
			}
		}, x)
		off += s
	}
	return outs
}

// Concat joins xs along their last dimension; every other dimension must
// agree. It is the inverse of Split.
func (t *Tape[T]) Concat(xs ...*Var[T]) *Var[T] {
	return t.ConcatAxis(-1, xs...)
}

// ConcatTokens joins xs of shape [..., N_i, d] along the token dimension
// (the second to last) into [..., ΣN_i, d].
func (t *Tape[T]) ConcatTokens(xs ...*Var[T]) *Var[T] {
	return t.ConcatAxis(-2, xs...)
}

// ConcatAxis joins xs along the given axis (negative counts from the end);
// all must have the same rank and agree on every other dimension.
func (t *Tape[T]) ConcatAxis(axis int, xs ...*Var[T]) *Var[T] {
	if len(xs) == 0 {
		panic("autodiff: concat of nothing")
	}
	first := xs[0].Value.Shape
	ax := resolveAxis("concat", axis, len(first))
	oshape := append([]int(nil), first...)
	oshape[ax] = 0
	for _, x := range xs {
		s := x.Value.Shape
		ok := len(s) == len(first)
		for d := 0; ok && d < len(s); d++ {
			ok = d == ax || s[d] == first[d]
		}
		if !ok {
			panic(fmt.Sprintf("autodiff: concat along axis %d of %v and %v", ax, first, s))
		}
		oshape[ax] += s[ax]
	}
	outer := tensor.Numel(first[:ax])
	inner := tensor.Numel(first[ax+1:])
	row := oshape[ax] * inner
	out := tensor.New[T](oshape...)
	starts := make([]int, len(xs))
	off := 0
	for i, x := range xs {
		starts[i] = off
		w := x.Value.Shape[ax] * inner
		for r := 0; r < outer; r++ {
			copy(out.Data[r*row+off:r*row+off+w], x.Value.Data[r*w:(r+1)*w])
		}
		off += w
	}
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		for i, x := range xs {
			if !x.needsGrad {
				continue
			}
			gx := gradBuf(x)
			w := x.Value.Shape[ax] * inner
			for r := 0; r < outer; r++ {
				copy(gx.Data[r*w:(r+1)*w], g[r*row+starts[i]:r*row+starts[i]+w])
			}
			x.accumulate(gx)
		}
	}, xs...)
}
