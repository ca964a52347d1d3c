package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func ropeOf(x *tensor.Tensor[float64], heads, offset int, theta float64) *tensor.Tensor[float64] {
	return NewTape[float64](linalg.MustDefault()).RoPE(Const(x), heads, offset, theta).Value
}

func TestRoPEGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct {
		shape         []int
		heads, offset int
		theta         float64
	}{
		{[]int{2, 3, 8}, 2, 0, 10000},
		{[]int{2, 3, 12}, 3, 5, 500},
		{[]int{3, 6}, 1, 1, 10},
	} {
		checkGrad(t, "rope", []*tensor.Tensor[float64]{randT(rng, c.shape...)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.RoPE(in[0], c.heads, c.offset, c.theta)
		})
	}
	checkGrad(t, "rope with frequencies", []*tensor.Tensor[float64]{randT(rng, 2, 4, 12)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.RoPEFreqs(in[0], 2, 3, []float64{1.3, 0.2, 0.01})
	})
	checkGrad(t, "scaled partial rope", []*tensor.Tensor[float64]{randT(rng, 2, 4, 14)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.RoPEScaled(in[0], 2, 3, []float64{1.3, 0.2}, 1.7)
	})
	checkGrad(t, "partial rope", []*tensor.Tensor[float64]{randT(rng, 2, 4, 14)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.RoPEFreqs(in[0], 2, 3, []float64{1.3, 0.2})
	})
}

// TestRoPEPartial compares a partial, scaled rotation with GPT-NeoX's and
// LongRoPE's written out: the first r elements of each head rotate as a
// head of width r would (frequencies θ^(−2i/r)) and are multiplied by the
// scale, the others pass through.
func TestRoPEPartial(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	const B, N, heads, dh, r, offset, theta, scale = 2, 3, 2, 10, 4, 2, 10000.0, 1.3
	x := randT(rng, B, N, heads*dh)
	got := NewTape[float64](linalg.MustDefault()).RoPEScaled(Const(x), heads, offset, RoPEFrequencies(r, theta), scale).Value
	for row := 0; row < B*N; row++ {
		for h := 0; h < heads; h++ {
			head := x.Data[row*heads*dh+h*dh:][:dh]
			rot := tensor.FromSlice(append([]float64(nil), head[:r]...), 1, 1, r)
			want := append(ropeOf(rot, 1, offset+row%N, theta).Data, head[r:]...)
			for c := range r {
				want[c] *= scale
			}
			for c, w := range want {
				if g := got.Data[row*heads*dh+h*dh+c]; math.Abs(g-w) > 1e-12 {
					t.Fatalf("row %d head %d element %d: %g, want %g", row, h, c, g, w)
				}
			}
		}
	}
}

// TestRoPEFreqs: RoPE is RoPEFreqs with RoPEFrequencies, and halving every
// frequency is the same as halving the position.
func TestRoPEFreqs(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	x := randT(rng, 1, 4, 8)
	tp := NewTape[float64](linalg.MustDefault())
	freq := RoPEFrequencies(4, 100)
	if d := tensor.MaxAbsDiff(tp.RoPE(Const(x), 2, 0, 100).Value, tp.RoPEFreqs(Const(x), 2, 0, freq).Value); d != 0 {
		t.Errorf("RoPE and RoPEFreqs differ by %g", d)
	}
	half := []float64{freq[0] / 2, freq[1] / 2}
	// One token at position 6 with half the frequencies is at position 3
	// with full ones.
	one := tensor.FromSlice(x.Data[:8], 1, 1, 8)
	at2 := tp.RoPEFreqs(Const(one), 2, 6, half).Value
	at1 := tp.RoPEFreqs(Const(one), 2, 3, freq).Value
	if d := tensor.MaxAbsDiff(at2, at1); d > 1e-14 {
		t.Errorf("halved frequencies at offset 2 differ from offset 1 by %g", d)
	}
}

// TestRoPEHuggingFace compares with the Hugging Face formula written out:
// x·cos + rotate_half(x)·sin with cos, sin = cat(freqs, freqs).
func TestRoPEHuggingFace(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	const B, N, heads, dh, offset, theta = 2, 4, 3, 6, 7, 10000.0
	x := randT(rng, B, N, heads*dh)
	got := ropeOf(x, heads, offset, theta)
	for b := 0; b < B; b++ {
		for n := 0; n < N; n++ {
			for h := 0; h < heads; h++ {
				head := x.Data[(b*N+n)*heads*dh+h*dh:][:dh]
				for c := 0; c < dh; c++ {
					i := c % (dh / 2)
					freq := float64(offset+n) / math.Pow(theta, float64(2*i)/dh)
					var rot float64 // rotate_half(x) = cat(−x2, x1)
					if c < dh/2 {
						rot = -head[c+dh/2]
					} else {
						rot = head[c-dh/2]
					}
					want := head[c]*math.Cos(freq) + rot*math.Sin(freq)
					if g := got.Data[(b*N+n)*heads*dh+h*dh+c]; math.Abs(g-want) > 1e-12 {
						t.Fatalf("b%d n%d h%d c%d: %g, want %g", b, n, h, c, g, want)
					}
				}
			}
		}
	}
}

func TestRoPENormsAndIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	const B, N, heads, dh = 2, 5, 2, 8
	x := randT(rng, B, N, heads*dh)
	y := ropeOf(x, heads, 3, 10000)
	for r := 0; r < B*N; r++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < dh/2; i++ {
				a := r*heads*dh + h*dh + i
				b := a + dh/2
				nx := math.Hypot(x.Data[a], x.Data[b])
				ny := math.Hypot(y.Data[a], y.Data[b])
				if math.Abs(nx-ny) > 1e-12 {
					t.Fatalf("row %d head %d pair %d: norm %g became %g", r, h, i, nx, ny)
				}
			}
		}
	}
	// Position 0 is not rotated.
	z := ropeOf(x, heads, 0, 10000)
	for b := 0; b < B; b++ {
		row := x.Data[b*N*heads*dh:][:heads*dh]
		got := z.Data[b*N*heads*dh:][:heads*dh]
		for c := range row {
			if got[c] != row[c] {
				t.Fatalf("batch %d: position 0 changed element %d from %g to %g", b, c, row[c], got[c])
			}
		}
	}
}

// TestRoPERelative checks that ⟨R_m q, R_n k⟩ depends only on m − n.
func TestRoPERelative(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	const dh = 8
	q, k := randT(rng, 1, 1, dh), randT(rng, 1, 1, dh)
	dot := func(m, n int) float64 {
		a, b := ropeOf(q, 1, m, 10000), ropeOf(k, 1, n, 10000)
		s := 0.0
		for i := range a.Data {
			s += a.Data[i] * b.Data[i]
		}
		return s
	}
	for _, c := range [][2]int{{3, 1}, {1, 3}, {7, 7}, {10, 2}} {
		ref := dot(c[0], c[1])
		for _, shift := range []int{1, 5, 40} {
			if got := dot(c[0]+shift, c[1]+shift); math.Abs(got-ref) > 1e-9 {
				t.Errorf("positions %v shifted by %d: dot %g, want %g", c, shift, got, ref)
			}
		}
	}
	if math.Abs(dot(3, 1)-dot(1, 3)) < 1e-6 {
		t.Error("dot product does not depend on the sign of m − n")
	}
}

// TestRoPEOffset checks that the offset shifts positions: a token at index n
// with offset o is rotated like the token at index n+o with offset 0.
func TestRoPEOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	const heads, dh = 2, 4
	x := randT(rng, 1, 6, heads*dh)
	full := ropeOf(x, heads, 0, 10000)
	tail := tensor.FromSlice(append([]float64(nil), x.Data[4*heads*dh:]...), 1, 2, heads*dh)
	got := ropeOf(tail, heads, 4, 10000)
	if d := tensor.MaxAbsDiff(got, tensor.FromSlice(full.Data[4*heads*dh:], 1, 2, heads*dh)); d > 1e-12 {
		t.Errorf("offset rotation differs by %g", d)
	}
}

// TestRoPEBackwardInverts checks that the backward pass is the inverse
// rotation: back-propagating the output gives back the input.
func TestRoPEBackwardInverts(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	tp := NewTape[float64](linalg.MustDefault())
	x := Param(randT(rng, 2, 3, 12))
	y := tp.RoPE(x, 3, 9, 10000)
	tp.BackwardFrom(y, y.Value.Clone())
	if d := tensor.MaxAbsDiff(x.Grad, x.Value); d > 1e-12 {
		t.Errorf("inverse rotation of the output differs from the input by %g", d)
	}
}
