package autodiff

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
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
			for i, v := range y.Value.Data {
				if w := 2 * float32(math.Tanh(float64(want[i]))); math.Abs(float64(v-w)) > 1e-6 {
					t.Errorf("y[%d] = %v, want %v", i, v, w)
				}
			}
			tp.Release()
			if arena.Held() == 0 {
				t.Error("Release gave nothing back")
			}
		})
	}
}

// TestTrainArena: Train, whose steps take their buffers from one arena,
// takes the same steps as a loop of fresh tapes, on a pre-LN transformer
// block (norms, attention, GELU, residuals) in float32.
func TestTrainArena(t *testing.T) {
	const B, N, d, mlp, heads = 3, 5, 8, 16, 2
	labels := []int{0, 3, 1}
	// Two identical sets of parameters, from one seed.
	params := func() (map[string]*Var[float32], []*Var[float32]) {
		p := blockParams(rand.New(rand.NewPCG(7, 8)), d, mlp)
		names := slices.Sorted(maps.Keys(p))
		l := make([]*Var[float32], len(names))
		for i, n := range names {
			l[i] = p[n]
		}
		return p, l
	}
	x := randParam(rand.New(rand.NewPCG(9, 10)), 0.5, B, N, d).Value
	step := func(p map[string]*Var[float32]) func(int, *Tape[float32]) (*Var[float32], error) {
		return func(_ int, tp *Tape[float32]) (*Var[float32], error) {
			h := block(tp, Const(x), p, heads)
			return tp.CrossEntropy(tp.SelectToken(h, 0), labels), nil
		}
	}
	be := linalg.MustDefault()
	const steps = 6
	arenaP, arenaL := params()
	got, err := Train(context.Background(), TrainConfig{Steps: steps, Backend: be}, arenaL, NewAdamW[float32](0.05, 0), step(arenaP))
	if err != nil {
		t.Fatal(err)
	}
	freshP, freshL := params()
	opt := NewAdamW[float32](0.05, 0)
	fn := step(freshP)
	for s := 0; s < steps; s++ {
		tp := NewTape[float32](be)
		loss, _ := fn(s, tp)
		tp.Backward(loss)
		opt.Step(freshL)
		ZeroGrad(freshL)
		if float64(loss.Value.Data[0]) != got[s] {
			t.Errorf("step %d: loss %v with the arena, %v with fresh tapes", s, got[s], loss.Value.Data[0])
		}
	}
	for i := range arenaL {
		if !slices.Equal(arenaL[i].Value.Data, freshL[i].Value.Data) {
			t.Errorf("parameter %d differs after training", i)
		}
	}
}
