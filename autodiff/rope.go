package autodiff

import (
	"fmt"
	"math"
)

// RoPE applies rotary position embeddings in the LLaMA / Hugging Face
// convention ("rotate_half") to x of shape [..., N, heads·dh], usually
// [B, N, heads·dh] queries or keys before Attention.
//
// Within each head, element i and element i + dh/2 (i < dh/2) form a pair
// rotated by the angle p·θ^(−2i/dh), where p = offset + n is the position of
// token n: out_i = x_i cos − x_{i+dh/2} sin and
// out_{i+dh/2} = x_{i+dh/2} cos + x_i sin. dh must be even. The angles are
// computed in float64 and rounded to T (Hugging Face computes them in
// float32, so float32 results can differ from it by the rounding of the
// angle at large positions).
//
// The backward pass applies the inverse rotation to the gradient.
func (t *Tape[T]) RoPE(x *Var[T], heads int, offset int, theta float64) *Var[T] {
	shape := x.Value.Shape
	if len(shape) < 2 || heads <= 0 || shape[len(shape)-1]%heads != 0 {
		panic(fmt.Sprintf("autodiff: rope of %v with %d heads", shape, heads))
	}
	dh := shape[len(shape)-1] / heads
	if dh == 0 || dh%2 != 0 || !(theta > 0) {
		panic(fmt.Sprintf("autodiff: rope of %v with %d heads (head width %d, want even), theta %g", shape, heads, dh, theta))
	}
	return t.RoPEFreqs(x, heads, offset, RoPEFrequencies(dh, theta))
}

// RoPEFrequencies returns the dh/2 angular frequencies θ^(−2i/dh) of
// rotary embeddings of head width dh: RoPE's, before any scaling.
func RoPEFrequencies(dh int, theta float64) []float64 {
	f := make([]float64, dh/2)
	for i := range f {
		f[i] = math.Pow(theta, -float64(2*i)/float64(dh))
	}
	return f
}

// RoPEFreqs is RoPE with the angular frequency of each pair given: pair i
// of the token at position p is rotated by p·freq[i]. Scaled variants
// (Llama 3's rope_scaling) change the frequencies.
//
// With fewer than dh/2 frequencies the rotation is partial, as GPT-NeoX's
// rotary_pct makes it: the first r = 2·len(freq) elements of each head
// rotate, element i with element i + r/2, and the other dh − r pass
// through unchanged.
func (t *Tape[T]) RoPEFreqs(x *Var[T], heads int, offset int, freq []float64) *Var[T] {
	return t.RoPEScaled(x, heads, offset, freq, 1)
}

// RoPEScaled is RoPEFreqs with the rotated elements also multiplied by
// scale, as LongRoPE's attention factor multiplies the cosines and sines
// (elements a partial rotation leaves alone are not scaled).
func (t *Tape[T]) RoPEScaled(x *Var[T], heads int, offset int, freq []float64, scale float64) *Var[T] {
	shape := x.Value.Shape
	if len(shape) < 2 || heads <= 0 || shape[len(shape)-1]%heads != 0 {
		panic(fmt.Sprintf("autodiff: rope of %v with %d heads", shape, heads))
	}
	width := shape[len(shape)-1]
	dh := width / heads
	if dh == 0 || 2*len(freq) > dh || len(freq) == 0 || offset < 0 {
		panic(fmt.Sprintf("autodiff: rope of %v with %d heads (head width %d), %d frequencies, offset %d", shape, heads, dh, len(freq), offset))
	}
	n := shape[len(shape)-2]
	half := len(freq)
	cos := make([]T, n*half)
	sin := make([]T, n*half)
	for i, f := range freq {
		for p := 0; p < n; p++ {
			s, c := math.Sincos(float64(offset+p) * f)
			cos[p*half+i], sin[p*half+i] = T(scale*c), T(scale*s)
		}
	}
	out := t.alloc(false, shape...)
	t.ropeRotate(out.Data, x.Value.Data, cos, sin, n, heads, dh)
	return t.node(out, func(o *Var[T]) {
		// The rotation is orthogonal: its transpose is the rotation by
		// −angle (times the same scale).
		neg := make([]T, len(sin))
		for i, s := range sin {
			neg[i] = -s
		}
		gx := t.gradBuf(x, false)
		t.ropeRotate(gx.Data, o.Grad.Data, cos, neg, n, heads, dh)
		x.accumulate(gx)
	}, x)
}

// ropeRotate is ropeRotate over the rows of src split between the tape's
// threads.
func (t *Tape[T]) ropeRotate(dst, src, cos, sin []T, n, heads, dh int) {
	width := heads * dh
	rows := len(src) / width
	parallelFor(t.threadsFor(len(src)), rows, max(1, minGrain/width), func(lo, hi int) {
		ropeRotate(dst[lo*width:hi*width], src[lo*width:hi*width], cos, sin, n, heads, dh, lo)
	})
}

// ropeRotate writes into dst the rotation of src (rows of heads·dh values,
// n consecutive rows per sequence, the first of them row first) by the
// per-position tables cos and sin of n·half values each: the first 2·half
// elements of each head rotate, the rest are copied.
func ropeRotate[T Float](dst, src, cos, sin []T, n, heads, dh, first int) {
	width, half := heads*dh, len(cos)/n
	rows := len(src) / width
	for r := 0; r < rows; r++ {
		p := (first + r) % n
		c, s := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		for h := 0; h < heads; h++ {
			base := r*width + h*dh
			copy(dst[base+2*half:base+dh], src[base+2*half:base+dh])
			x1, x2 := src[base:base+half], src[base+half:base+2*half]
			y1, y2 := dst[base:base+half], dst[base+half:base+2*half]
			for i := range half {
				a, b := x1[i], x2[i]
				y1[i] = a*c[i] - b*s[i]
				y2[i] = b*c[i] + a*s[i]
			}
		}
	}
}
