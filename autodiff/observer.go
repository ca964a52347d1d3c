package autodiff

import "github.com/bico-dev/bico/tensor"

// SiteKind names what an Observer sees at a linear site.
type SiteKind int

const (
	// SiteInput is the site's input activation x, seen in the forward pass.
	SiteInput SiteKind = iota
	// SiteOutput is the site's output y = x Wᵀ + b, seen in the forward pass.
	SiteOutput
	// SiteOutputGrad is ∂loss/∂y, seen in the backward pass.
	SiteOutputGrad
	// SiteInputGrad is ∂loss/∂x (the whole gradient at the input tensor,
	// from every consumer), seen in the backward pass.
	SiteInputGrad
)

// String names the kind.
func (k SiteKind) String() string {
	switch k {
	case SiteInput:
		return "input"
	case SiteOutput:
		return "output"
	case SiteOutputGrad:
		return "output-grad"
	case SiteInputGrad:
		return "input-grad"
	}
	return "unknown"
}

// Observer receives, batch by batch, the activations and gradients of the
// named linear sites of a model: what BiCo's statistics are built from.
//
// Observe is called with tensors whose last dimension is the feature
// dimension and whose leading dimensions are the rows (batch × tokens,
// as shaped by the model). The tensor is only valid during the call: an
// observer that keeps rows must copy them. The tape keeps no extra copy for
// a kind that no observer wants.
type Observer[T Float] interface {
	Wants(site string, kind SiteKind) bool
	Observe(site string, kind SiteKind, x *tensor.Tensor[T])
}

// wants reports whether the tape's observer asks for kind at site.
func (t *Tape[T]) wants(site string, kind SiteKind) bool {
	return site != "" && t.Observer != nil && t.Observer.Wants(site, kind)
}

// observe hands x to the observer when it asks for kind at site.
func (t *Tape[T]) observe(site string, kind SiteKind, x *tensor.Tensor[T]) {
	if t.wants(site, kind) {
		t.Observer.Observe(site, kind, x)
	}
}

// Mark shows v's value to the observer as the SiteOutput of the named site
// without any computation: for activations that are not the output of a
// linear layer (block outputs, used for layer pairing by CKA). Models mark
// the output of each block; with Recycle set, the buffers of the values
// before it go back to the arena.
func (t *Tape[T]) Mark(site string, v *Var[T]) *Var[T] {
	t.observe(site, SiteOutput, v.Value)
	if t.Recycle && t.NoGrad && t.Arena != nil {
		t.recycleExcept(v.Value.Data)
	}
	return v
}

// Output shows v to the observer as the output of the named site, a layer
// that is not a Linear (a token-embedding lookup): its value now, as
// SiteOutput, and ∂loss/∂v in the backward pass, as SiteOutputGrad. The
// gradient is seen only when one flows to v (v needs a gradient).
func (t *Tape[T]) Output(site string, v *Var[T]) *Var[T] {
	t.gradLeafAt(site, v)
	t.observe(site, SiteOutput, v.Value)
	if t.wants(site, SiteOutputGrad) {
		t.OnGrad(v, func(g *tensor.Tensor[T]) { t.Observer.Observe(site, SiteOutputGrad, g) })
	}
	return v
}

// gradLeafAt makes v a gradient leaf when the tape has GradAtSites and the
// observer wants the output gradient of site, so that gradients flow from
// there (see Tape.GradAtSites).
func (t *Tape[T]) gradLeafAt(site string, v *Var[T]) {
	if t.GradAtSites && !t.NoGrad && !v.needsGrad && t.wants(site, SiteOutputGrad) {
		v.needsGrad = true
	}
}
