package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// unaryOps lists the element-wise activations by name.
var unaryOps = []struct {
	name string
	f    func(tp *Tape[float64], x *Var[float64]) *Var[float64]
}{
	{"gelu", (*Tape[float64]).GELU},
	{"gelu_tanh", (*Tape[float64]).GELUTanh},
	{"quick_gelu", (*Tape[float64]).QuickGELU},
	{"silu", (*Tape[float64]).SiLU},
	{"relu", (*Tape[float64]).ReLU},
	{"tanh", (*Tape[float64]).Tanh},
	{"sigmoid", (*Tape[float64]).Sigmoid},
	{"softmax", (*Tape[float64]).Softmax},
	{"logsoftmax", (*Tape[float64]).LogSoftmax},
}

func TestActivationGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, op := range unaryOps {
		x := randT(rng, 2, 3, 5)
		x.Scale(2)
		if op.name == "relu" {
			// Keep the check away from the kink at 0.
			for i, v := range x.Data {
				if math.Abs(v) < 0.1 {
					x.Data[i] = math.Copysign(0.1+math.Abs(v), v)
				}
			}
		}
		checkGrad(t, op.name, []*tensor.Tensor[float64]{x},
			func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return op.f(tp, in[0]) })
	}
	// Large logits: the stable forms must not overflow.
	big := randT(rng, 3, 4)
	for i := range big.Data {
		big.Data[i] += 500
	}
	checkGrad(t, "softmax-large", []*tensor.Tensor[float64]{big},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.Softmax(in[0]) })
	checkGrad(t, "logsoftmax-large", []*tensor.Tensor[float64]{big},
		func(tp *Tape[float64], in []*Var[float64]) *Var[float64] { return tp.LogSoftmax(in[0]) })
}

func TestActivationValue(t *testing.T) {
	tp := NewTape[float64](linalg.MustDefault())
	x := Const(tensor.FromSlice([]float64{1, -1, 0, 0.5, -2, 2}, 6))
	for _, c := range []struct {
		name string
		got  *Var[float64]
		want []float64
	}{
		{"gelu", tp.GELU(x), []float64{0.8413447460685429, -0.15865525393145707, 0}},
		{"gelu_tanh", tp.GELUTanh(x), []float64{0.8411919906082768, -0.1588080093917232, 0}},
		{"quick_gelu", tp.QuickGELU(x), []float64{0.8457957659328212, -(1 - 0.8457957659328212), 0, 0, 0, 1.9356586231442083}},
		{"silu", tp.SiLU(x), []float64{0.7310585786300049, -(1 - 0.7310585786300049), 0, 0, -0.2384058440442351}},
		{"relu", tp.ReLU(x), []float64{1, 0, 0, 0.5, 0, 2}},
		{"tanh", tp.Tanh(x), []float64{math.Tanh(1), -math.Tanh(1), 0, 0.46211715726000974}},
		{"sigmoid", tp.Sigmoid(x), []float64{0.7310585786300049, 1 - 0.7310585786300049, 0.5}},
	} {
		for i, w := range c.want {
			if w == 0 && i > 2 {
				continue // not checked
			}
			if math.Abs(c.got.Value.Data[i]-w) > 1e-12 {
				t.Errorf("%s(%g) = %.16g, want %.16g", c.name, x.Value.Data[i], c.got.Value.Data[i], w)
			}
		}
	}
	// The tanh form stays within 1e-3 of the exact GELU.
	g, gt := tp.GELU(x).Value.Data, tp.GELUTanh(x).Value.Data
	for i := range g {
		if math.Abs(g[i]-gt[i]) > 1e-3 {
			t.Errorf("gelu %g vs gelu_tanh %g", g[i], gt[i])
		}
	}
}

func TestActivationByName(t *testing.T) {
	tp := NewTape[float64](linalg.MustDefault())
	x := Const(tensor.FromSlice([]float64{-1.3, 0.7, 2.1}, 3))
	for name, want := range map[string]func(*Var[float64]) *Var[float64]{
		"gelu": tp.GELU, "gelu_python": tp.GELU,
		"gelu_new": tp.GELUTanh, "gelu_pytorch_tanh": tp.GELUTanh, "gelu_fast": tp.GELUTanh,
		"quick_gelu": tp.QuickGELU, "silu": tp.SiLU, "swish": tp.SiLU,
		"relu": tp.ReLU, "tanh": tp.Tanh, "sigmoid": tp.Sigmoid,
	} {
		f, err := tp.ActivationByName(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if CheckActivation(name) != nil {
			t.Errorf("CheckActivation(%q) fails", name)
		}
		if d := tensor.MaxAbsDiff(f(x).Value, want(x).Value); d != 0 {
			t.Errorf("%s: differs by %g", name, d)
		}
	}
	for _, bad := range []string{"", "GELU", "gelu_10", "leaky_relu"} {
		if f, err := tp.ActivationByName(bad); err == nil || f != nil {
			t.Errorf("%q: no error", bad)
		}
		if CheckActivation(bad) == nil {
			t.Errorf("CheckActivation(%q): no error", bad)
		}
	}
}

func TestSoftmaxValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	tp := NewTape[float64](linalg.MustDefault())
	x := randT(rng, 2, 3, 5)
	x.Scale(10)
	y := tp.Softmax(Const(x)).Value
	ly := tp.LogSoftmax(Const(x)).Value
	for r := range 6 {
		s := 0.0
		for j := range 5 {
			v := y.Data[r*5+j]
			if v < 0 || v > 1 {
				t.Errorf("softmax value %g", v)
			}
			if math.Abs(math.Log(v)-ly.Data[r*5+j]) > 1e-9 {
				t.Errorf("log(softmax) %g vs logsoftmax %g", math.Log(v), ly.Data[r*5+j])
			}
			s += v
		}
		if math.Abs(s-1) > 1e-12 {
			t.Errorf("row %d sums to %g", r, s)
		}
	}
	// Hand values: softmax(1, 2, 3) = e^(x − 3.40760596444438).
	got := tp.Softmax(Const(tensor.FromSlice([]float64{1, 2, 3}, 3))).Value.Data
	for i, v := range got {
		want := math.Exp(float64(i+1) - 3.40760596444438013)
		if math.Abs(v-want) > 1e-12 {
			t.Errorf("softmax[%d] = %g, want %g", i, v, want)
		}
	}
	// Huge values, and a fully masked row.
	inf := math.Inf(-1)
	z := tp.Softmax(Const(tensor.FromSlice([]float64{1000, 1001, inf, inf, inf, inf}, 2, 3))).Value.Data
	e := 1 / (1 + math.E)
	want := []float64{e, 1 - e, 0, 0, 0, 0}
	for i := range want {
		if math.Abs(z[i]-want[i]) > 1e-12 {
			t.Fatalf("softmax = %v, want %v", z, want)
		}
	}
	// A float32 softmax of large logits stays finite.
	tp32 := NewTape[float32](linalg.MustDefault())
	z32 := tp32.Softmax(Const(tensor.FromSlice([]float32{100, 90, 80}, 3))).Value
	if z32.FirstNonFinite() >= 0 {
		t.Errorf("float32 softmax %v", z32)
	}
}

// TestGELUFloat32 compares the float32 GELU (fast Φ) and its gradient with
// x·Φ(x) and Φ(x) + x·φ(x) in float64 (Φ from math.Erfc, accurate in the
// lower tail), over inputs covering both tails, on a tensor large enough to
// be split over threads.
func TestGELUFloat32(t *testing.T) {
	n := 3 * minGrain
	x := tensor.New[float32](n)
	g := tensor.New[float32](n)
	for i := range x.Data {
		x.Data[i] = float32(-14 + 28*float64(i)/float64(n))
		g.Data[i] = float32(1 + float64(i%7)/7)
	}
	tp := NewTape[float32](linalg.MustDefault())
	v := Param(x)
	y := tp.GELU(v)
	tp.BackwardFrom(y, g)
	for i, xf := range x.Data {
		xv := float64(xf)
		cdf := 0.5 * math.Erfc(-xv/math.Sqrt2)
		pdf := math.Exp(-xv*xv/2) / math.Sqrt(2*math.Pi)
		gv := float64(g.Data[i])
		for _, c := range []struct {
			what        string
			got, want   float64
			termsApprox float64 // the size of the terms summed
		}{{"value", float64(y.Value.Data[i]), xv * cdf, 0}, {"gradient", float64(v.Grad.Data[i]), gv * (cdf + xv*pdf), gv * (cdf + math.Abs(xv*pdf))}} {
			// float32 rounding of the result, the cancellation between the
			// gradient's two terms, and a tiny absolute slack for results
			// in float32's subnormal range.
			if d := math.Abs(c.got - c.want); d > 2e-7*math.Abs(c.want)+1e-8*c.termsApprox+1e-44 {
				t.Fatalf("GELU %s at x=%g: float32 %g, want %g", c.what, xv, c.got, c.want)
			}
		}
	}
}

// TestSwiGLU: SwiGLU(g, u) equals SiLU(g)·u in value and gradient, and
// passes the finite-difference check.
func TestSwiGLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	g, u := randT(rng, 2, 3, 4), randT(rng, 2, 3, 4)
	g.Scale(3)
	checkGrad(t, "swiglu", []*tensor.Tensor[float64]{g, u}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.SwiGLU(in[0], in[1])
	})
	tp := NewTape[float64](linalg.MustDefault())
	fused := tp.SwiGLU(Const(g), Const(u)).Value
	plain := tp.Mul(tp.SiLU(Const(g)), Const(u)).Value
	if d := tensor.MaxAbsDiff(fused, plain); d > 1e-15 {
		t.Errorf("SwiGLU differs from SiLU·up by %g", d)
	}
	// float32 agrees with float64 to float32 rounding.
	tp32 := NewTape[float32](linalg.MustDefault())
	g32, u32 := tensor.New[float32](g.Shape...), tensor.New[float32](u.Shape...)
	for i := range g.Data {
		g32.Data[i], u32.Data[i] = float32(g.Data[i]), float32(u.Data[i])
	}
	f32 := tp32.SwiGLU(Const(g32), Const(u32)).Value
	for i, v := range f32.Data {
		if math.Abs(float64(v)-fused.Data[i]) > 1e-6*(1+math.Abs(fused.Data[i])) {
			t.Fatalf("float32 SwiGLU %g, float64 %g", v, fused.Data[i])
		}
	}
}

// TestSwiGLUFloat32 compares the float32 SwiGLU (the assembly kernel where
// there is one) and its gradients with the float64 formulas over gate
// values covering both tails and NaN, on a tensor large enough to be split
// over threads, and checks the Go kernel against the same formulas.
func TestSwiGLUFloat32(t *testing.T) {
	n := 3*minGrain + 3 // a tail the vector kernel leaves to Go
	g, u, gy := tensor.New[float32](n), tensor.New[float32](n), tensor.New[float32](n)
	for i := range g.Data {
		g.Data[i] = float32(-40 + 80*float64(i)/float64(n))
		u.Data[i] = float32(0.5 + float64(i%11)/5)
		gy.Data[i] = float32(1 - float64(i%7)/5)
	}
	g.Data[17] = float32(math.NaN())
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	check := func(kernel string, y, dg, du []float32) {
		t.Helper()
		for i, gf := range g.Data {
			x, uv, gv := float64(gf), float64(u.Data[i]), float64(gy.Data[i])
			s := sig(x)
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"value", float64(y[i]), x * s * uv}, {"∂gate", float64(dg[i]), gv * uv * s * (1 + x*(1-s))}, {"∂up", float64(du[i]), gv * x * s}} {
				if math.IsNaN(c.want) != math.IsNaN(c.got) || math.Abs(c.got-c.want) > 2e-7*math.Abs(c.want)+1e-44 {
					t.Fatalf("%s SwiGLU %s at gate %g: float32 %g, want %g", kernel, c.what, x, c.got, c.want)
				}
			}
		}
	}
	tp := NewTape[float32](linalg.MustDefault())
	gv, uv := Param(g), Param(u)
	y := tp.SwiGLU(gv, uv)
	tp.BackwardFrom(y, gy)
	check("tape", y.Value.Data, gv.Grad.Data, uv.Grad.Data)
	yGo, dgGo, duGo := make([]float32, n), make([]float32, n), make([]float32, n)
	swigluFwdGo(g.Data, u.Data, yGo)
	swigluBwdGo(g.Data, u.Data, gy.Data, dgGo, duGo)
	check("Go", yGo, dgGo, duGo)
}

// TestLogSumExp32 compares the vector LogSumExp32 with log Σ exp in
// float64 (math.Exp) on rows of lengths around the vector width, a
// vocabulary-sized row, and rows with −∞, +∞ and NaN.
func TestLogSumExp32(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	ref := func(row []float32) float64 {
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		return m + math.Log(s)
	}
	scratch := make([]float32, 50000)
	for _, n := range []int{1, 3, 4, 5, 8, 13, 1000, 49152} {
		row := make([]float32, n)
		for i := range row {
			row[i] = float32(8 * rng.NormFloat64())
		}
		row[rng.IntN(n)] = float32(math.Inf(-1))
		if n == 1 {
			row[0] = 2.5
		}
		_, got := LogSumExp32(row, scratch)
		if want := ref(row); math.Abs(got-want) > 1e-12*math.Abs(want)+1e-12 {
			t.Errorf("length %d: %.17g, want %.17g", n, got, want)
		}
		if _, generic := LogSumExp(row); math.Abs(got-generic) > 1e-12*math.Abs(generic)+1e-12 {
			t.Errorf("length %d: %.17g, LogSumExp %.17g", n, got, generic)
		}
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	if _, got := LogSumExp32([]float32{1, inf, 2, 3, 4}, scratch); !math.IsInf(got, 1) {
		t.Errorf("row with +∞: %g, want +∞", got)
	}
	if _, got := LogSumExp32([]float32{1, 2, nan, 3, 4}, scratch); !math.IsNaN(got) {
		t.Errorf("row with NaN: %g, want NaN", got)
	}
	ninf := float32(math.Inf(-1))
	if _, got := LogSumExp32([]float32{ninf, ninf, ninf, ninf, ninf}, scratch); !math.IsInf(got, -1) {
		t.Errorf("row of −∞: %g, want −∞", got)
	}
}
