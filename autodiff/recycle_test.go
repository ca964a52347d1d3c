package autodiff

import (
	"context"
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

// TestTrainArena: Train, whose steps take their buffers from one arena,
// takes the same steps as a loop of fresh tapes, on a transformer block
// (norms, attention, GELU, residuals) in float32.
func TestTrainArena(t *testing.T) {
	const B, N, d, heads, c = 3, 5, 8, 2, 4
	rng := rand.New(rand.NewPCG(7, 8))
	x := randT32(rng, B, N, d)
	labels := []int{0, 3, 1}
	init := map[string]*tensor.Tensor[float32]{
		"g": tensor.Full[float32](1, d), "beta": tensor.New[float32](d),
		"wq": randT32(rng, d, d), "wk": randT32(rng, d, d), "wv": randT32(rng, d, d),
		"w1": randT32(rng, 2*d, d), "w2": randT32(rng, d, 2*d), "head": randT32(rng, c, d),
	}
	names := []string{"g", "beta", "wq", "wk", "wv", "w1", "w2", "head"}
	newParams := func() map[string]*Var[float32] {
		ps := map[string]*Var[float32]{}
		for _, n := range names {
			ps[n] = Param(init[n].Clone())
		}
		return ps
	}
	list := func(ps map[string]*Var[float32]) []*Var[float32] {
		var l []*Var[float32]
		for _, n := range names {
			l = append(l, ps[n])
		}
		return l
	}
	step := func(ps map[string]*Var[float32]) func(int, *Tape[float32]) (*Var[float32], error) {
		return func(_ int, tp *Tape[float32]) (*Var[float32], error) {
			h := Const(x)
			a := tp.LayerNorm(h, ps["g"], ps["beta"], 1e-5)
			att := tp.Attention(tp.Linear("q", a, ps["wq"], nil), tp.Linear("k", a, ps["wk"], nil), tp.Linear("v", a, ps["wv"], nil), heads, heads, false)
			h = tp.Add(h, att)
			h = tp.Add(h, tp.Linear("w2", tp.GELU(tp.Linear("w1", h, ps["w1"], nil)), ps["w2"], nil))
			return tp.CrossEntropy(tp.Linear("head", tp.SelectToken(h, 0), ps["head"], nil), labels), nil
		}
	}
	be := linalg.MustDefault()
	const steps = 6
	arenaPs := newParams()
	got, err := Train(context.Background(), TrainConfig{Steps: steps, Backend: be}, list(arenaPs), NewAdamW[float32](0.05, 0), step(arenaPs))
	if err != nil {
		t.Fatal(err)
	}
	freshPs := newParams()
	opt := NewAdamW[float32](0.05, 0)
	fn := step(freshPs)
	for s := 0; s < steps; s++ {
		tp := NewTape[float32](be)
		loss, _ := fn(s, tp)
		tp.Backward(loss)
		opt.Step(list(freshPs))
		ZeroGrad(list(freshPs))
		if float64(loss.Value.Data[0]) != got[s] {
			t.Errorf("step %d: loss %v with the arena, %v with fresh tapes", s, got[s], loss.Value.Data[0])
		}
	}
	for _, n := range names {
		if !slices.Equal(arenaPs[n].Value.Data, freshPs[n].Value.Data) {
			t.Errorf("parameter %s differs after training", n)
		}
	}
}

func randT32(rng *rand.Rand, shape ...int) *tensor.Tensor[float32] {
	x := tensor.New[float32](shape...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64()) * 0.5
	}
	return x
}
