package autodiff

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/bico-dev/bico/tensor"
)

// unary applies f element-wise; df(x, y) is f′(x) given y = f(x). Both run
// in float64 on each element.
func (t *Tape[T]) unary(x *Var[T], f func(float64) float64, df func(x, y float64) float64) *Var[T] {
	out := t.alloc(false, x.Value.Shape...)
	xd := x.Value.Data
	parallelFor(t.threads(), len(xd), minGrain/4, func(lo, hi int) {
		var xs [wide]float64
		for b := lo; b < hi; b += wide {
			e := min(b+wide, hi)
			w := widen(xs[:e-b], xd[b:e])
			for i, v := range w {
				w[i] = f(v)
			}
			narrow(out.Data[b:e], w)
		}
	})
	return t.node(out, func(o *Var[T]) {
		gx := t.gradBuf(x, false)
		yd, gd := o.Value.Data, o.Grad.Data
		parallelFor(t.threads(), len(gd), minGrain/4, func(lo, hi int) {
			var xs, ys, gs [wide]float64
			for b := lo; b < hi; b += wide {
				e := min(b+wide, hi)
				xw, yw, gw := widen(xs[:e-b], xd[b:e]), widen(ys[:e-b], yd[b:e]), widen(gs[:e-b], gd[b:e])
				for i, g := range gw {
					gw[i] = g * df(xw[i], yw[i])
				}
				narrow(gx.Data[b:e], gw)
			}
		})
		x.accumulate(gx)
	}, x)
}

// swigluFwd sets y[i] = g[i]·σ(g[i])·u[i]: with the assembly kernel for
// float32 where there is one.
func swigluFwd[T Float](g, u, y []T) {
	if g32, ok := any(g).([]float32); ok {
		swigluFwd32(g32, any(u).([]float32), any(y).([]float32))
		return
	}
	swigluFwdGo(g, u, y)
}

// swigluBwd sets, with s = σ(g[i]), dg[i] = gy[i]·u[i]·s·(1 + g[i](1 − s))
// (∂/∂gate) and du[i] = gy[i]·g[i]·s (∂/∂up).
func swigluBwd[T Float](g, u, gy, dg, du []T) {
	if g32, ok := any(g).([]float32); ok {
		swigluBwd32(g32, any(u).([]float32), any(gy).([]float32), any(dg).([]float32), any(du).([]float32))
		return
	}
	swigluBwdGo(g, u, gy, dg, du)
}

// swigluFwdGo is swigluFwd in Go, in float64.
func swigluFwdGo[T Float](g, u, y []T) {
	var gs, us [wide]float64
	for b := 0; b < len(g); b += wide {
		e := min(b+wide, len(g))
		gw, uw := widen(gs[:], g[b:e]), widen(us[:], u[b:e])
		for i, x := range gw {
			gw[i] = x * sigmoid(x) * uw[i]
		}
		narrow(y[b:e], gw)
	}
}

// swigluBwdGo is swigluBwd in Go, in float64.
func swigluBwdGo[T Float](g, u, gy, dg, du []T) {
	var xs, us, ys, ds [wide]float64
	for b := 0; b < len(g); b += wide {
		e := min(b+wide, len(g))
		xw, uw, yw := widen(xs[:], g[b:e]), widen(us[:], u[b:e]), widen(ys[:], gy[b:e])
		dw := ds[:e-b]
		for i, x := range xw {
			gyi, s := yw[i], sigmoid(x)
			dw[i] = gyi * uw[i] * s * (1 + x*(1-s))
			yw[i] = gyi * x * s
		}
		narrow(dg[b:e], dw)
		narrow(du[b:e], yw)
	}
}

// wide is the number of float32 values the element-wise kernels widen to
// float64 at a time. Widening in a loop of its own, apart from the
// arithmetic, keeps each conversion from waiting on the last element's
// result: an x86 conversion writes only part of its register, so when it
// sits in the same loop as a long computation (an exponential) every
// element waits for the one before, which made SwiGLU three times slower.
const wide = 64

// widen writes src into dst as float64 values and returns dst.
func widen[T Float](dst []float64, src []T) []float64 {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float64(v)
	}
	return dst
}

// narrow rounds src into dst.
func narrow[T Float](dst []T, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = T(v)
	}
}

// sigmoid is 1/(1+e^−x), computed without overflow, with the fast
// exponential expNonPos (a few float64 roundings from exact).
func sigmoid(x float64) float64 {
	e := expNonPos(-math.Abs(x))
	// 1/(1+e) for x ≥ 0 and e/(1+e) below, chosen by the sign bit without
	// a branch: the signs of a layer's inputs are random, and a mispredicted
	// branch cost a third of the time.
	neg := uint64(int64(math.Float64bits(x)) >> 63) // all ones when x < 0
	num := math.Float64frombits(math.Float64bits(1)&^neg | math.Float64bits(e)&neg)
	return num / (1 + e)
}

const (
	invSqrt2    = 0.70710678118654752440 // 1/√2
	invSqrt2Pi  = 0.39894228040143267794 // 1/√(2π)
	sqrt2OverPi = 0.79788456080286535588 // √(2/π)
	geluCubic   = 0.044715
	quickAlpha  = 1.702
)

// GELU is the exact Gaussian error linear unit x·Φ(x) =
// ½x(1 + erf(x/√2)), Hugging Face's "gelu". On float32 tapes Φ comes from
// normCDFPDF (relative error a few parts in 1e9, far below float32
// rounding), float64 tapes use math.Erf.
func (t *Tape[T]) GELU(x *Var[T]) *Var[T] {
	if xs, ok := any(x.Value.Data).([]float32); ok {
		return t.gelu32(x, xs)
	}
	return t.unary(x,
		func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x*invSqrt2)) },
		func(x, _ float64) float64 {
			return 0.5*(1+math.Erf(x*invSqrt2)) + x*invSqrt2Pi*math.Exp(-0.5*x*x)
		})
}

// gelu32 is GELU on float32 values xs (x's data): y = x·Φ(x), and in the
// backward pass ∂y/∂x = Φ(x) + x·φ(x).
func (t *Tape[T]) gelu32(x *Var[T], xs []float32) *Var[T] {
	out := t.alloc(false, x.Value.Shape...)
	ys := any(out.Data).([]float32)
	parallelFor(t.threads(), len(xs), minGrain, func(lo, hi int) {
		geluFwd32(xs[lo:hi], ys[lo:hi])
	})
	return t.node(out, func(o *Var[T]) {
		gx := t.gradBuf(x, false)
		gs, dst := any(o.Grad.Data).([]float32), any(gx.Data).([]float32)
		parallelFor(t.threads(), len(gs), minGrain, func(lo, hi int) {
			geluBwd32(xs[lo:hi], gs[lo:hi], dst[lo:hi])
		})
		x.accumulate(gx)
	}, x)
}

// GELUTanh is the tanh approximation of GELU,
// ½x(1 + tanh(√(2/π)(x + 0.044715x³))): Hugging Face's "gelu_new",
// "gelu_pytorch_tanh" and "gelu_fast".
func (t *Tape[T]) GELUTanh(x *Var[T]) *Var[T] {
	return t.unary(x,
		func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(sqrt2OverPi*(x+geluCubic*x*x*x)))
		},
		func(x, _ float64) float64 {
			th := math.Tanh(sqrt2OverPi * (x + geluCubic*x*x*x))
			return 0.5*(1+th) + 0.5*x*(1-th*th)*sqrt2OverPi*(1+3*geluCubic*x*x)
		})
}

// QuickGELU is x·σ(1.702x), CLIP's "quick_gelu".
func (t *Tape[T]) QuickGELU(x *Var[T]) *Var[T] {
	return t.unary(x,
		func(x float64) float64 { return x * sigmoid(quickAlpha*x) },
		func(x, _ float64) float64 {
			s := sigmoid(quickAlpha * x)
			return s + quickAlpha*x*s*(1-s)
		})
}

// SiLU is x·σ(x), also called swish.
func (t *Tape[T]) SiLU(x *Var[T]) *Var[T] {
	return t.unary(x,
		func(x float64) float64 { return x * sigmoid(x) },
		func(x, _ float64) float64 {
			s := sigmoid(x)
			return s * (1 + x*(1-s))
		})
}

// SwiGLU is SiLU(gate)·up element-wise, the gated unit of a Llama MLP
// (act(gate_proj(x))·up_proj(x) with act "silu"), as one operation: it
// keeps no intermediate value and makes one pass forward and one back.
// gate and up must have the same shape.
func (t *Tape[T]) SwiGLU(gate, up *Var[T]) *Var[T] {
	if !tensor.SameShape(gate.Value.Shape, up.Value.Shape) {
		panic(fmt.Sprintf("autodiff: swiglu of gate %v and up %v", gate.Value.Shape, up.Value.Shape))
	}
	out := t.alloc(false, gate.Value.Shape...)
	gd, ud := gate.Value.Data, up.Value.Data
	parallelFor(t.threads(), len(gd), minGrain/4, func(lo, hi int) {
		swigluFwd(gd[lo:hi], ud[lo:hi], out.Data[lo:hi])
	})
	return t.node(out, func(o *Var[T]) {
		if !gate.needsGrad && !up.needsGrad {
			return
		}
		// The kernel writes both gradients; one not needed goes to scratch.
		gg, gu := t.gradBuf(gate, false), t.gradBuf(up, false)
		gy := o.Grad.Data
		parallelFor(t.threads(), len(gd), minGrain/4, func(lo, hi int) {
			swigluBwd(gd[lo:hi], ud[lo:hi], gy[lo:hi], gg.Data[lo:hi], gu.Data[lo:hi])
		})
		if gate.needsGrad {
			gate.accumulate(gg)
		}
		if up.needsGrad {
			up.accumulate(gu)
		}
	}, gate, up)
}

// ReLU is max(x, 0); its derivative at 0 is taken as 0.
func (t *Tape[T]) ReLU(x *Var[T]) *Var[T] {
	return t.unary(x,
		func(x float64) float64 { return max(x, 0) },
		func(x, _ float64) float64 {
			if x > 0 {
				return 1
			}
			return 0
		})
}

// Tanh is the hyperbolic tangent.
func (t *Tape[T]) Tanh(x *Var[T]) *Var[T] {
	return t.unary(x, math.Tanh, func(_, y float64) float64 { return 1 - y*y })
}

// Sigmoid is the logistic function σ(x) = 1/(1+e^−x).
func (t *Tape[T]) Sigmoid(x *Var[T]) *Var[T] {
	return t.unary(x, sigmoid, func(_, y float64) float64 { return y * (1 - y) })
}

// activations maps Hugging Face hidden_act names to the tape's functions.
var activations = map[string]string{
	"gelu":              "GELU",
	"gelu_python":       "GELU",
	"gelu_new":          "GELUTanh",
	"gelu_pytorch_tanh": "GELUTanh",
	"gelu_fast":         "GELUTanh",
	"quick_gelu":        "QuickGELU",
	"silu":              "SiLU",
	"swish":             "SiLU",
	"relu":              "ReLU",
	"tanh":              "Tanh",
	"sigmoid":           "Sigmoid",
}

// CheckActivation reports whether name is a Hugging Face hidden_act value
// that ActivationByName knows, for validating a configuration before any
// tape exists.
func CheckActivation(name string) error {
	if _, ok := activations[name]; ok {
		return nil
	}
	names := make([]string, 0, len(activations))
	for n := range activations {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("autodiff: unknown activation %q (known: %s)", name, strings.Join(names, ", "))
}

// ActivationByName returns the tape's activation for a Hugging Face
// hidden_act name: "gelu" (and "gelu_python"), "gelu_new",
// "gelu_pytorch_tanh" and "gelu_fast" (the tanh approximation),
// "quick_gelu", "silu" and "swish", "relu", "tanh", "sigmoid". An unknown
// name is an error, not a panic: names come from config files.
func (t *Tape[T]) ActivationByName(name string) (func(*Var[T]) *Var[T], error) {
	if err := CheckActivation(name); err != nil {
		return nil, err
	}
	switch activations[name] {
	case "GELU":
		return t.GELU, nil
	case "GELUTanh":
		return t.GELUTanh, nil
	case "QuickGELU":
		return t.QuickGELU, nil
	case "SiLU":
		return t.SiLU, nil
	case "ReLU":
		return t.ReLU, nil
	case "Tanh":
		return t.Tanh, nil
	default:
		return t.Sigmoid, nil
	}
}

// Softmax returns the softmax of x over its last dimension, computed stably
// (the row maximum is subtracted) in float64. A row that is entirely −∞
// (fully masked) gives zeros rather than NaN.
func (t *Tape[T]) Softmax(x *Var[T]) *Var[T] {
	if len(x.Value.Shape) == 0 {
		panic("autodiff: softmax of a scalar")
	}
	d := x.Value.Dim(-1)
	rows := x.Value.Rows()
	out := tensor.New[T](x.Value.Shape...)
	for r := 0; r < rows; r++ {
		row, o := x.Value.Data[r*d:(r+1)*d], out.Data[r*d:(r+1)*d]
		m, lse := LogSumExp(row)
		if math.IsInf(m, -1) {
			continue
		}
		for j, v := range row {
			o[j] = T(math.Exp(float64(v) - lse))
		}
	}
	return t.node(out, func(o *Var[T]) {
		gx := gradBuf(x)
		g, y := o.Grad.Data, o.Value.Data
		for r := 0; r < rows; r++ {
			gr, yr := g[r*d:(r+1)*d], y[r*d:(r+1)*d]
			s := 0.0
			for j, v := range gr {
				s += float64(v) * float64(yr[j])
			}
			dst := gx.Data[r*d : (r+1)*d]
			for j, v := range gr {
				dst[j] = T(float64(yr[j]) * (float64(v) - s))
			}
		}
		x.accumulate(gx)
	}, x)
}

// LogSoftmax returns log(softmax(x)) over the last dimension, computed
// stably in float64.
func (t *Tape[T]) LogSoftmax(x *Var[T]) *Var[T] {
	if len(x.Value.Shape) == 0 {
		panic("autodiff: logsoftmax of a scalar")
	}
	d := x.Value.Dim(-1)
	rows := x.Value.Rows()
	out := tensor.New[T](x.Value.Shape...)
	for r := 0; r < rows; r++ {
		row, o := x.Value.Data[r*d:(r+1)*d], out.Data[r*d:(r+1)*d]
		_, lse := LogSumExp(row)
		for j, v := range row {
			o[j] = T(float64(v) - lse)
		}
	}
	return t.node(out, func(o *Var[T]) {
		gx := gradBuf(x)
		g, y := o.Grad.Data, o.Value.Data
		for r := 0; r < rows; r++ {
			gr, yr := g[r*d:(r+1)*d], y[r*d:(r+1)*d]
			s := 0.0
			for _, v := range gr {
				s += float64(v)
			}
			dst := gx.Data[r*d : (r+1)*d]
			for j, v := range gr {
				dst[j] = T(float64(v) - math.Exp(float64(yr[j]))*s)
			}
		}
		x.accumulate(gx)
	}, x)
}

// LogSumExp32 is LogSumExp for a float32 row, with the vector kernels
// where there are some: the exponentials go to scratch (at least len(row)
// values), and their sum is kept in float64.
func LogSumExp32(row, scratch []float32) (m, lse float64) {
	if len(row) == 0 {
		return math.Inf(-1), math.Inf(-1)
	}
	mx := maxOf32(row)
	if m = float64(mx); math.IsInf(m, 0) || m != m {
		return m, m
	}
	sc := scratch[:len(row)]
	copy(sc, row)
	return m, m + math.Log(expShift32(sc, mx))
}

// rowLogSumExp is LogSumExp of row, by LogSumExp32 for float32 rows with
// *scratch (grown as needed) for the exponentials.
func rowLogSumExp[T Float](row []T, scratch *[]float32) float64 {
	if r32, ok := any(row).([]float32); ok {
		if len(*scratch) < len(r32) {
			*scratch = make([]float32, len(r32))
		}
		_, lse := LogSumExp32(r32, *scratch)
		return lse
	}
	_, lse := LogSumExp(row)
	return lse
}

// LogSumExp returns the maximum of row and log Σ exp(row), in float64 with
// the fast exponential.
func LogSumExp[T Float](row []T) (m, lse float64) {
	m = math.Inf(-1)
	for _, v := range row {
		m = max(m, float64(v))
	}
	if math.IsInf(m, 0) {
		return m, m
	}
	s := 0.0
	var buf [wide]float64
	for b := 0; b < len(row); b += wide {
		for _, v := range widen(buf[:], row[b:min(b+wide, len(row))]) {
			s += expNonPos(v - m)
		}
	}
	return m, m + math.Log(s)
}
