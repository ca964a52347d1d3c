package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// Reshape returns a with another shape of the same size; one dimension may
// be -1, inferred from the others. The result shares a's data: writing to
// one writes to the other.
func (t *Tape[T]) Reshape(a *Var[T], shape ...int) *Var[T] {
	out := a.Value.View(shape...)
	return t.node(out, func(o *Var[T]) {
		// The gradient is o's seen in a's shape, copied: accumulate takes
		// ownership, and later gradients of a must not write into o.Grad.
		g := t.gradBuf(a, false)
		copy(g.Data, o.Grad.Data)
		a.accumulate(g)
	}, a)
}

// Permute returns a with its dimensions reordered: dimension i of the
// result is dimension perm[i] of a. perm must be a permutation of
// 0..rank−1; negative entries count from the end. The result is a copy.
func (t *Tape[T]) Permute(a *Var[T], perm ...int) *Var[T] {
	shape := a.Value.Shape
	p := normPerm(shape, perm)
	data, outShape := permuteData(a.Value.Data, shape, p)
	inv := make([]int, len(p))
	for i, d := range p {
		inv[d] = i
	}
	return t.node(tensor.FromSlice(data, outShape...), func(o *Var[T]) {
		g, _ := permuteData(o.Grad.Data, outShape, inv)
		a.accumulate(tensor.FromSlice(g, shape...))
	}, a)
}

// Transpose returns a with dimensions i and j swapped (negative indices
// count from the end). The result is a copy.
func (t *Tape[T]) Transpose(a *Var[T], i, j int) *Var[T] {
	n := len(a.Value.Shape)
	i, j = normAxis(n, i, "transpose"), normAxis(n, j, "transpose")
	perm := make([]int, n)
	for k := range perm {
		perm[k] = k
	}
	perm[i], perm[j] = j, i
	return t.Permute(a, perm...)
}

// normAxis resolves a possibly negative axis of a rank-n tensor.
func normAxis(n, axis int, op string) int {
	if axis < 0 {
		axis += n
	}
	if axis < 0 || axis >= n {
		panic(fmt.Sprintf("autodiff: %s: axis out of range for rank %d", op, n))
	}
	return axis
}

// normPerm resolves negative entries of perm and checks that it permutes
// the dimensions of shape.
func normPerm(shape, perm []int) []int {
	n := len(shape)
	if len(perm) != n {
		panic(fmt.Sprintf("autodiff: permute of %v by %v: wrong length", shape, perm))
	}
	p := make([]int, n)
	seen := make([]bool, n)
	for i, d := range perm {
		if d < 0 {
			d += n
		}
		if d < 0 || d >= n || seen[d] {
			panic(fmt.Sprintf("autodiff: permute of %v by %v: not a permutation", shape, perm))
		}
		seen[d] = true
		p[i] = d
	}
	return p
}

// permuteData returns src (a row-major array of the given shape) with its
// dimensions reordered by perm, and the new shape.
func permuteData[T Float](src []T, shape, perm []int) ([]T, []int) {
	n := len(shape)
	outShape := make([]int, n)
	stride := make([]int, n) // stride in src of each output dimension
	inStride := 1
	inStrides := make([]int, n)
	for d := n - 1; d >= 0; d-- {
		inStrides[d] = inStride
		inStride *= shape[d]
	}
	for i, d := range perm {
		outShape[i] = shape[d]
		stride[i] = inStrides[d]
	}
	dst := make([]T, len(src))
	if len(dst) == 0 {
		return dst, outShape
	}
	if n == 0 {
		copy(dst, src)
		return dst, outShape
	}
	// Walk the output in rows of its last dimension, keeping the source
	// offset of the row start as an odometer over the other dimensions.
	last, ls := outShape[n-1], stride[n-1]
	idx := make([]int, n-1)
	off := 0
	for o := 0; o < len(dst); o += last {
		row := dst[o : o+last]
		if ls == 1 {
			copy(row, src[off:off+last])
		} else {
			s := off
			for j := range row {
				row[j] = src[s]
				s += ls
			}
		}
		for d := n - 2; d >= 0; d-- {
			idx[d]++
			off += stride[d]
			if idx[d] < outShape[d] {
				break
			}
			off -= stride[d] * outShape[d]
			idx[d] = 0
		}
	}
	return dst, outShape
}
