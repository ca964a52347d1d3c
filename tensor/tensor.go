// Package tensor holds dense, row-major, n-dimensional arrays of float32 or
// float64 and the shape helpers the engine needs.
package tensor

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/internal/memory"
)

// Float is the set of element types a Tensor holds.
type Float interface {
	~float32 | ~float64
}

// Tensor is a dense row-major array. Data holds Numel() elements; the last
// dimension is contiguous. A Tensor with an empty Shape is a scalar.
type Tensor[T Float] struct {
	Shape []int
	Data  []T
}

// New returns a zero tensor of the given shape.
func New[T Float](shape ...int) *Tensor[T] {
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: fresh[T](Numel(shape))}
}

// fresh returns n zero elements whose pages are mapped (see memory): a new
// tensor is about to be written.
func fresh[T Float](n int) []T {
	b := make([]T, n)
	memory.Prefault(b)
	return b
}

// FromSlice wraps data (not copied) as a tensor of the given shape. It panics
// if the sizes disagree: that is a programming error, not bad input.
func FromSlice[T Float](data []T, shape ...int) *Tensor[T] {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: data}
}

// Full returns a tensor of the given shape with every element v.
func Full[T Float](v T, shape ...int) *Tensor[T] {
	t := New[T](shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// Numel is the number of elements of a tensor of the given shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Numel is the number of elements of t.
func (t *Tensor[T]) Numel() int { return len(t.Data) }

// Dim is the size of dimension i; negative i counts from the end.
func (t *Tensor[T]) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Rows is the product of every dimension but the last: the number of rows
// when t is seen as a matrix of its last dimension.
func (t *Tensor[T]) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return len(t.Data) / t.Shape[len(t.Shape)-1]
}

// Clone returns a deep copy of t.
func (t *Tensor[T]) Clone() *Tensor[T] {
	data := fresh[T](len(t.Data))
	copy(data, t.Data)
	return &Tensor[T]{Shape: append([]int(nil), t.Shape...), Data: data}
}

// View returns a tensor sharing t's data with another shape of the same size.
// One dimension may be -1, inferred from the others.
func (t *Tensor[T]) View(shape ...int) *Tensor[T] {
	return &Tensor[T]{Shape: ResolveShape(len(t.Data), shape), Data: t.Data}
}

// ResolveShape replaces a single -1 in shape so that it holds n elements, and
// panics if shape cannot hold n elements.
func ResolveShape(n int, shape []int) []int {
	out := append([]int(nil), shape...)
	known, free := 1, -1
	for i, d := range out {
		if d == -1 {
			if free >= 0 {
				panic(fmt.Sprintf("tensor: shape %v has two -1", shape))
			}
			free = i
			continue
		}
		known *= d
	}
	if free >= 0 {
		if known == 0 || n%known != 0 {
			panic(fmt.Sprintf("tensor: cannot view %d values as %v", n, shape))
		}
		out[free] = n / known
	} else if known != n {
		panic(fmt.Sprintf("tensor: cannot view %d values as %v", n, shape))
	}
	return out
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Convert returns a copy of t with elements of type U.
func Convert[U, T Float](t *Tensor[T]) *Tensor[U] {
	out := New[U](t.Shape...)
	for i, v := range t.Data {
		out.Data[i] = U(v)
	}
	return out
}

// Zero sets every element of t to 0.
func (t *Tensor[T]) Zero() {
	clear(t.Data)
}

// AddInPlace adds src to t element-wise; the sizes must match.
func (t *Tensor[T]) AddInPlace(src *Tensor[T]) {
	if len(src.Data) != len(t.Data) {
		panic(fmt.Sprintf("tensor: add %v into %v", src.Shape, t.Shape))
	}
	d := t.Data
	for i, v := range src.Data {
		d[i] += v
	}
}

// Scale multiplies every element of t by s.
func (t *Tensor[T]) Scale(s T) {
	for i := range t.Data {
		t.Data[i] *= s
	}
}

// FirstNonFinite returns the index of the first NaN or infinite element of t,
// or -1 when all are finite.
func (t *Tensor[T]) FirstNonFinite() int {
	for i, v := range t.Data {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return i
		}
	}
	return -1
}

// MaxAbsDiff returns max |a_i − b_i| over matching elements.
func MaxAbsDiff[T Float](a, b *Tensor[T]) float64 {
	if len(a.Data) != len(b.Data) {
		panic(fmt.Sprintf("tensor: compare %v with %v", a.Shape, b.Shape))
	}
	m := 0.0
	for i := range a.Data {
		if d := math.Abs(float64(a.Data[i] - b.Data[i])); d > m || math.IsNaN(d) {
			m = d
		}
	}
	return m
}

// String shows the shape and the first few values, for debugging.
func (t *Tensor[T]) String() string {
	n := min(len(t.Data), 6)
	return fmt.Sprintf("Tensor%v%v", t.Shape, t.Data[:n])
}
