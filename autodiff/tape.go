// Package autodiff is bico's reverse-mode automatic differentiation engine:
// a tape of operations on tensors with hand-written backward kernels that
// call the linear-algebra backend for every matrix product.
//
// A Tape records one forward pass. Parameters are Vars made with Param and
// live across tapes; their gradients accumulate in Var.Grad until zeroed.
// Intermediate Vars belong to the tape that made them.
package autodiff

import (
	"fmt"
	"sync"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// Float is the set of element types the engine computes in.
type Float = tensor.Float

// Var is a value on the tape: a tensor, its gradient once Backward has run,
// and how to send that gradient to the Vars it was computed from.
type Var[T Float] struct {
	Value *tensor.Tensor[T]
	// Grad is ∂loss/∂Value, allocated when the first gradient arrives.
	Grad *tensor.Tensor[T]

	needsGrad bool
	backward  func()                    // sends Grad to the inputs; nil for leaves
	onGrad    []func(*tensor.Tensor[T]) // called once Grad is final
}

// Param returns a leaf Var that collects a gradient: a trainable parameter.
func Param[T Float](value *tensor.Tensor[T]) *Var[T] {
	return &Var[T]{Value: value, needsGrad: true}
}

// Const returns a leaf Var that collects no gradient: an input or a frozen
// parameter.
func Const[T Float](value *tensor.Tensor[T]) *Var[T] {
	return &Var[T]{Value: value}
}

// NeedsGrad reports whether a gradient flows to v.
func (v *Var[T]) NeedsGrad() bool { return v.needsGrad }

// SetNeedsGrad turns gradient collection on or off for a leaf Var.
func (v *Var[T]) SetNeedsGrad(b bool) { v.needsGrad = b }

// Shape is the shape of v's value.
func (v *Var[T]) Shape() []int { return v.Value.Shape }

// ZeroGrad drops v's accumulated gradient.
func (v *Var[T]) ZeroGrad() { v.Grad = nil }

// accumulate adds g into v.Grad, taking ownership of g when v has no
// gradient yet (callers must not reuse g).
func (v *Var[T]) accumulate(g *tensor.Tensor[T]) {
	if v.Grad == nil {
		if !tensor.SameShape(g.Shape, v.Value.Shape) {
			g = g.View(v.Value.Shape...)
		}
		v.Grad = g
		return
	}
	v.Grad.AddInPlace(g)
}

// gradBuf returns a zeroed tensor shaped like v's value, for a backward
// kernel to fill and pass to accumulate.
func gradBuf[T Float](v *Var[T]) *tensor.Tensor[T] {
	return tensor.New[T](v.Value.Shape...)
}

// gradBuf is gradBuf from the tape's arena when v is an intermediate value
// (a leaf's gradient outlives the tape, so it never comes from the arena).
// With zero unset the contents are undefined: the kernel overwrites them.
func (t *Tape[T]) gradBuf(v *Var[T], zero bool) *tensor.Tensor[T] {
	if t.Arena == nil || v.backward == nil {
		return gradBuf(v)
	}
	return t.alloc(zero, v.Value.Shape...)
}

// alloc returns a tensor for an intermediate value of the tape: from the
// arena when the tape has one (zeroed when zero is set, else undefined),
// otherwise a new zero tensor.
func (t *Tape[T]) alloc(zero bool, shape ...int) *tensor.Tensor[T] {
	if t.Arena == nil {
		return tensor.New[T](shape...)
	}
	return tensor.FromSlice(t.allocSlice(tensor.Numel(shape), zero), shape...)
}

// allocSlice is alloc for a bare buffer of n elements.
func (t *Tape[T]) allocSlice(n int, zero bool) []T {
	if t.Arena == nil {
		return make([]T, n)
	}
	b := t.Arena.Get(n, zero)
	t.mu.Lock()
	t.owned = append(t.owned, b)
	t.mu.Unlock()
	return b
}

// Tape records the operations of one forward pass so that Backward can run
// them in reverse. A Tape is not safe for concurrent use.
type Tape[T Float] struct {
	// Backend computes every matrix product of the tape's operations.
	Backend linalg.Backend
	// Observer, when set, receives the activations and gradients of the
	// linear sites it asks for (see Observer).
	Observer Observer[T]
	// NoGrad makes the tape record nothing: a forward pass for inference.
	NoGrad bool
	// GradAtSites makes the input of every site whose output gradient the
	// Observer wants (Linear's input, Output's value) a gradient leaf when
	// it is not one already. With inputs that need no gradient and frozen
	// parameters, Backward then reaches down to the lowest such site and no
	// further, and the output gradients it gives are exact: every path from
	// a site's output to the loss runs through values that need gradients.
	// An input gradient (SiteInputGrad) is not: consumers of the input
	// recorded before it became a leaf do not add to it.
	GradAtSites bool
	// Arena, when set, provides the buffers of the tape's intermediate
	// values and gradients, and Release gives them back to it: a loop of
	// passes then reuses memory instead of allocating it. The values and
	// gradients of the tape's operations (everything but leaves) must not
	// be used after Release.
	Arena *tensor.Arena[T]
	// Recycle, in a NoGrad pass with an Arena, makes Mark give back to the
	// arena every buffer the tape has taken except the marked value's, so
	// that an inference pass holds one block's values at a time instead of
	// all of them. The values computed before a Mark, but for the marked
	// one, must not be used after it.
	Recycle bool

	nodes  []*Var[T]
	leaves []*Var[T] // leaves with gradient hooks
	mu     sync.Mutex
	owned  [][]T // buffers taken from Arena
}

// NewTape returns an empty tape computing on backend be.
func NewTape[T Float](be linalg.Backend) *Tape[T] {
	return &Tape[T]{Backend: be}
}

// node makes the result Var of an operation on inputs. When no input needs a
// gradient (or the tape records nothing), backward is dropped.
func (t *Tape[T]) node(value *tensor.Tensor[T], backward func(out *Var[T]), inputs ...*Var[T]) *Var[T] {
	out := &Var[T]{Value: value}
	if t.NoGrad {
		return out
	}
	for _, in := range inputs {
		if in != nil && in.needsGrad {
			out.needsGrad = true
			break
		}
	}
	if out.needsGrad {
		out.backward = func() { backward(out) }
		t.nodes = append(t.nodes, out)
	}
	return out
}

// OnGrad arranges for fn to be called with ∂loss/∂v once Backward has
// finished accumulating it. It does nothing when no gradient flows to v.
func (t *Tape[T]) OnGrad(v *Var[T], fn func(g *tensor.Tensor[T])) {
	if t.NoGrad || !v.needsGrad {
		return
	}
	if v.backward == nil && len(v.onGrad) == 0 {
		t.leaves = append(t.leaves, v)
	}
	v.onGrad = append(v.onGrad, fn)
}

// Backward computes the gradient of the scalar loss with respect to every
// Var on the tape that needs one, seeding ∂loss/∂loss = 1.
func (t *Tape[T]) Backward(loss *Var[T]) {
	if loss.Value.Numel() != 1 {
		panic(fmt.Sprintf("autodiff: Backward from a non-scalar of shape %v", loss.Value.Shape))
	}
	t.BackwardFrom(loss, tensor.Full[T](1, loss.Value.Shape...))
}

// BackwardFrom runs the tape in reverse from out with the given seed
// gradient ∂loss/∂out.
func (t *Tape[T]) BackwardFrom(out *Var[T], seed *tensor.Tensor[T]) {
	if !out.needsGrad {
		return
	}
	out.accumulate(seed)
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := t.nodes[i]
		if n.Grad == nil {
			continue
		}
		for _, fn := range n.onGrad {
			fn(n.Grad)
		}
		n.backward()
	}
	for _, l := range t.leaves {
		if l.Grad != nil {
			for _, fn := range l.onGrad {
				fn(l.Grad)
			}
		}
		l.onGrad = nil
	}
}

// recycleExcept gives back to the arena every buffer the tape has taken
// except keep's.
func (t *Tape[T]) recycleExcept(keep []T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.owned[:0]
	for _, b := range t.owned {
		if len(b) > 0 && len(keep) > 0 && &b[0] == &keep[0] {
			kept = append(kept, b)
			continue
		}
		t.Arena.Put(b)
	}
	clear(t.owned[len(kept):])
	t.owned = kept
}

// Release drops the tape's record so that its intermediate values can be
// collected, or reused when the tape has an Arena; parameters keep their
// gradients.
func (t *Tape[T]) Release() {
	t.nodes, t.leaves = nil, nil
	if t.Arena != nil {
		for _, b := range t.owned {
			t.Arena.Put(b)
		}
	}
	t.owned = nil
}
