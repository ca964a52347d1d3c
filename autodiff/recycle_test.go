package autodiff

import (
	"slices"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// TestRecycle: in an inference pass with Recycle set, Mark gives the
// buffers of the values before it back to the arena and keeps the marked
// value's; without Recycle (or with gradients) nothing goes back before
// Release.
func TestRecycle(t *testing.T) {
	for _, c := range []struct {
		name              string
		recycle, noGrad   bool
		wantHeldAfterMark bool
	}{
		{"recycle", true, true, true},
		{"no recycle", false, true, false},
		{"gradients", true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			arena := tensor.NewArena[float32]()
			tp := NewTape[float32](linalg.MustDefault())
			tp.NoGrad, tp.Arena, tp.Recycle = c.noGrad, arena, c.recycle
			x := Const(tensor.FromSlice([]float32{1, -2, 3, -4}, 2, 2))
			x.SetNeedsGrad(!c.noGrad)
			h := tp.Tanh(tp.Add(x, x))
			h = tp.Add(h, h)
			want := slices.Clone(h.Value.Data)
			tp.Mark("block", h)
			if held := arena.Held() > 0; held != c.wantHeldAfterMark {
				t.Errorf("after Mark the arena holds %d elements; want some: %v", arena.Held(), c.wantHeldAfterMark)
			}
			y := tp.Add(tp.Tanh(h), tp.Tanh(h)) // takes buffers from the arena
			if !slices.Equal(h.Value.Data, want) {
				t.Errorf("the marked value changed after Mark: %v, want %v", h.Value.Data, want)
			}
			if y.Value.Numel() != 4 {
				t.Fatalf("y has %d values", y.Value.Numel())
			}
			tp.Release()
			if arena.Held() == 0 {
				t.Error("Release gave nothing back")
			}
		})
	}
}
