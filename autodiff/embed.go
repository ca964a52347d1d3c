package autodiff

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// CheckIDs reports the first token id outside [0, vocab), for validating
// input before Embedding (which panics on such an id).
func CheckIDs(ids []int, vocab int) error {
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return fmt.Errorf("autodiff: token id %d at position %d is outside the vocabulary of %d", id, i, vocab)
		}
	}
	return nil
}

// Embedding gathers the rows of table [V, d] for ids into a tensor of shape
// [shape..., d]; shape must hold len(ids) elements (one -1 is inferred) and
// defaults to [len(ids)]. Its backward pass adds each output row's gradient
// into the table's gradient at its id. Every id must be in [0, V): see
// CheckIDs.
func (t *Tape[T]) Embedding(table *Var[T], ids []int, shape ...int) *Var[T] {
	ts := table.Value.Shape
	if len(ts) != 2 {
		panic(fmt.Sprintf("autodiff: embedding table of shape %v", ts))
	}
	vocab, d := ts[0], ts[1]
	if len(shape) == 0 {
		shape = []int{len(ids)}
	}
	shape = tensor.ResolveShape(len(ids), shape)
	if err := CheckIDs(ids, vocab); err != nil {
		panic(err)
	}
	ids = append([]int(nil), ids...) // the caller may reuse its slice before Backward
	out := t.alloc(false, append(shape, d)...)
	for r, id := range ids {
		copy(out.Data[r*d:(r+1)*d], table.Value.Data[id*d:(id+1)*d])
	}
	return t.node(out, func(o *Var[T]) {
		gt := sparseGrad(table)
		g := o.Grad.Data
		for r, id := range ids {
			dst := gt[id*d : (id+1)*d]
			for j, v := range g[r*d : (r+1)*d] {
				dst[j] += v
			}
		}
	}, table)
}

// Patches cuts images [B, C, H, W] into non-overlapping patch×patch squares
// and returns them as tokens [B, (H/p)·(W/p), C·p·p]: patches in row-major
// order over the grid, each flattened in (channel, row, column) order. A
// Hugging Face patch-embedding Conv2d weight [hidden, C, p, p] viewed as
// [hidden, C·p·p] therefore maps the patches to the convolution's output:
// patch embedding is Patches followed by Linear. Like the stride-p
// convolution, it drops the last H mod p rows and W mod p columns.
func (t *Tape[T]) Patches(images *Var[T], patch int) *Var[T] {
	s := images.Value.Shape
	if len(s) != 4 || patch <= 0 || s[2] < patch || s[3] < patch {
		panic(fmt.Sprintf("autodiff: patches of size %d from images %v (want [B, C, H, W])", patch, s))
	}
	B, C, H, W := s[0], s[1], s[2], s[3]
	p := patch
	gh, gw := H/p, W/p
	L, D := gh*gw, C*p*p
	out := t.alloc(false, B, L, D)
	// Each p-element run of an image row lands in one patch, contiguously.
	each := func(fn func(img, tok int)) {
		for b := 0; b < B; b++ {
			for py := 0; py < gh; py++ {
				for px := 0; px < gw; px++ {
					tok := (b*L + py*gw + px) * D
					for c := 0; c < C; c++ {
						for ky := 0; ky < p; ky++ {
							img := ((b*C+c)*H+py*p+ky)*W + px*p
							fn(img, tok+(c*p+ky)*p)
						}
					}
				}
			}
		}
	}
	src := images.Value.Data
	each(func(img, tok int) { copy(out.Data[tok:tok+p], src[img:img+p]) })
	return t.node(out, func(o *Var[T]) {
		gi := t.gradBuf(images, true)
		g := o.Grad.Data
		each(func(img, tok int) { copy(gi.Data[img:img+p], g[tok:tok+p]) })
		images.accumulate(gi)
	}, images)
}

// PrependToken puts the token tok (d values: shape [d], [1, d] or [1, 1, d])
// before the N tokens of every sequence of x [..., N, d], giving
// [..., N+1, d]: a class token. The gradient of tok sums over the batch.
func (t *Tape[T]) PrependToken(x *Var[T], tok *Var[T]) *Var[T] {
	s := x.Value.Shape
	if len(s) < 2 || tok.Value.Numel() != s[len(s)-1] {
		panic(fmt.Sprintf("autodiff: prepend token %v to %v", tok.Value.Shape, s))
	}
	n, d := s[len(s)-2], s[len(s)-1]
	batch := tensor.Numel(s[:len(s)-2])
	oshape := append([]int(nil), s...)
	oshape[len(s)-2] = n + 1
	out := t.alloc(false, oshape...)
	in, so := n*d, (n+1)*d // elements per sequence in x and out
	for b := 0; b < batch; b++ {
		copy(out.Data[b*so:b*so+d], tok.Value.Data)
		copy(out.Data[b*so+d:(b+1)*so], x.Value.Data[b*in:(b+1)*in])
	}
	return t.node(out, func(o *Var[T]) {
		g := o.Grad.Data
		if x.needsGrad {
			gx := t.gradBuf(x, false)
			for b := 0; b < batch; b++ {
				copy(gx.Data[b*in:(b+1)*in], g[b*so+d:(b+1)*so])
			}
			x.accumulate(gx)
		}
		if tok.needsGrad {
			gt := gradBuf(tok)
			for b := 0; b < batch; b++ {
				for j, v := range g[b*so : b*so+d] {
					gt.Data[j] += v
				}
			}
			tok.accumulate(gt)
		}
	}, x, tok)
}
