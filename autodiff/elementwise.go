package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// Binary element-wise operations (Add, Sub, Mul) broadcast over leading
// dimensions: the operand with fewer elements must have a shape that, once
// its leading 1s are dropped, is a suffix of the other operand's shape. A
// bias [d] thus broadcasts to [B, N, d], a position table [N, d] or
// [1, N, d] to [B, N, d]. The gradient of the broadcast operand is summed
// over the dimensions it was repeated along.

// trimOnes drops the leading 1s of shape.
func trimOnes(shape []int) []int {
	for len(shape) > 0 && shape[0] == 1 {
		shape = shape[1:]
	}
	return shape
}

// hasSuffix reports whether shape ends with suffix.
func hasSuffix(shape, suffix []int) bool {
	if len(suffix) > len(shape) {
		return false
	}
	return tensor.SameShape(shape[len(shape)-len(suffix):], suffix)
}

// broadcastShape returns the output shape of a binary element-wise
// operation on shapes a and b, or panics when they do not broadcast.
func broadcastShape(op string, a, b []int) []int {
	na, nb := tensor.Numel(a), tensor.Numel(b)
	big, small := a, b
	if nb > na || (nb == na && len(b) > len(a)) {
		big, small = b, a
	}
	if !hasSuffix(big, trimOnes(small)) {
		panic(fmt.Sprintf("autodiff: %s of %v and %v: shapes do not broadcast", op, a, b))
	}
	out := append([]int(nil), big...)
	// A small operand of higher rank (through leading 1s) lifts the rank.
	for len(out) < len(small) {
		out = append([]int{1}, out...)
	}
	return out
}

// blocks calls fn for each block of blk consecutive output elements, with
// the offsets of the matching elements of a (na elements) and b (nb
// elements): one of na, nb equals n, the other divides it.
func blocks(n, na, nb int, fn func(off, offA, offB, blk int)) {
	blk := min(na, nb)
	if n == 0 || blk == 0 {
		return
	}
	for off := 0; off < n; off += blk {
		fn(off, off%na, off%nb, blk)
	}
}

// reduceGrad returns g (n elements) summed, block by block, onto a new
// tensor of the given shape with m elements (m divides n); a copy of g when
// m == n (accumulate takes ownership of its argument, and o.Grad may be a
// caller's seed). Sums run in float64.
func reduceGrad[T Float](g []T, shape []int) *tensor.Tensor[T] {
	m := tensor.Numel(shape)
	if m == len(g) {
		return tensor.FromSlice(append([]T(nil), g...), shape...)
	}
	acc := make([]float64, m)
	if m > 0 {
		for off := 0; off < len(g); off += m {
			for j, v := range g[off : off+m] {
				acc[j] += float64(v)
			}
		}
	}
	out := tensor.New[T](shape...)
	for j, v := range acc {
		out.Data[j] = T(v)
	}
	return out
}

// reduceGrad is reduceGrad onto v's shape, copying into the tape's arena
// when v is an intermediate value of the same size as g.
func (t *Tape[T]) reduceGrad(g []T, v *Var[T]) *tensor.Tensor[T] {
	if t.Arena == nil || v.backward == nil || len(g) != v.Value.Numel() {
		return reduceGrad(g, v.Value.Shape)
	}
	out := t.gradBuf(v, false)
	copy(out.Data, g)
	return out
}

// Add returns a + b element-wise, broadcasting the smaller operand over the
// leading dimensions of the larger (see the rules above).
func (t *Tape[T]) Add(a, b *Var[T]) *Var[T] {
	return t.addSub("add", a, b, 1)
}

// Sub returns a − b element-wise, with Add's broadcasting rules.
func (t *Tape[T]) Sub(a, b *Var[T]) *Var[T] {
	return t.addSub("sub", a, b, -1)
}

// addSub computes a + sign·b.
func (t *Tape[T]) addSub(op string, a, b *Var[T], sign T) *Var[T] {
	shape := broadcastShape(op, a.Value.Shape, b.Value.Shape)
	out := t.alloc(false, shape...)
	ad, bd, od := a.Value.Data, b.Value.Data, out.Data
	blocks(len(od), len(ad), len(bd), func(off, oa, ob, blk int) {
		o, x, y := od[off:off+blk], ad[oa:oa+blk], bd[ob:ob+blk]
		if sign > 0 {
			for j := range o {
				o[j] = x[j] + y[j]
			}
		} else {
			for j := range o {
				o[j] = x[j] - y[j]
			}
		}
	})
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		if b.needsGrad {
			gb := t.reduceGrad(g, b)
			if sign < 0 {
				gb.Scale(-1)
			}
			b.accumulate(gb)
		}
		if a.needsGrad {
			a.accumulate(t.reduceGrad(g, a))
		}
	}, a, b)
}

// Mul returns a ⊙ b element-wise, with Add's broadcasting rules.
func (t *Tape[T]) Mul(a, b *Var[T]) *Var[T] {
	shape := broadcastShape("mul", a.Value.Shape, b.Value.Shape)
	out := tensor.New[T](shape...)
	ad, bd, od := a.Value.Data, b.Value.Data, out.Data
	blocks(len(od), len(ad), len(bd), func(off, oa, ob, blk int) {
		o, x, y := od[off:off+blk], ad[oa:oa+blk], bd[ob:ob+blk]
		for j := range o {
			o[j] = x[j] * y[j]
		}
	})
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		// mulGrad returns g ⊙ other, reduced onto the shape of in.
		mulGrad := func(in, other *Var[T]) *tensor.Tensor[T] {
			prod := make([]T, len(g))
			od := other.Value.Data
			blocks(len(g), len(g), len(od), func(off, _, ob, blk int) {
				p, x, y := prod[off:off+blk], g[off:off+blk], od[ob:ob+blk]
				for j := range p {
					p[j] = x[j] * y[j]
				}
			})
			if len(in.Value.Data) == len(g) {
				return tensor.FromSlice(prod, in.Value.Shape...)
			}
			return reduceGrad(prod, in.Value.Shape)
		}
		if a.needsGrad {
			a.accumulate(mulGrad(a, b))
		}
		if b.needsGrad {
			b.accumulate(mulGrad(b, a))
		}
	}, a, b)
}

// Scale returns s·a.
func (t *Tape[T]) Scale(a *Var[T], s T) *Var[T] {
	out := a.Value.Clone()
	out.Scale(s)
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Clone()
		g.Scale(s)
		a.accumulate(g)
	}, a)
}

// Sum returns the sum of every element of a as a scalar (shape []),
// accumulated in float64.
func (t *Tape[T]) Sum(a *Var[T]) *Var[T] {
	return t.sumScaled(a, 1)
}

// Mean returns the mean of every element of a as a scalar (shape []),
// accumulated in float64. It panics on an empty tensor.
func (t *Tape[T]) Mean(a *Var[T]) *Var[T] {
	n := a.Value.Numel()
	if n == 0 {
		panic(fmt.Sprintf("autodiff: mean of an empty tensor of shape %v", a.Value.Shape))
	}
	return t.sumScaled(a, 1/float64(n))
}

// sumScaled returns k·Σa as a scalar.
func (t *Tape[T]) sumScaled(a *Var[T], k float64) *Var[T] {
	s := 0.0
	for _, v := range a.Value.Data {
		s += float64(v)
	}
	out := tensor.New[T]()
	out.Data[0] = T(s * k)
	return t.node(out, func(o *Var[T]) {
		a.accumulate(tensor.Full(T(float64(o.Grad.Data[0])*k), a.Value.Shape...))
	}, a)
}
