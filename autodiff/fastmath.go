package autodiff

import "math"

// Fast scalar approximations for the float32 kernels, where math.Exp and
// math.Erf (accurate to float64 rounding and several times slower) dominate
// the element-wise work of a transformer: the exact GELU of every MLP and
// the softmax of every attention head. Both are accurate to a few parts in
// 1e9, well below float32 rounding (6e-8). float64 tapes keep the exact
// GELU. The exponential of non-positive arguments, expNonPos, is within a
// few float64 roundings of math.Exp and serves every tape: in sigmoid (so
// SiLU, SwiGLU and QuickGELU) and in the cross-entropy.

const (
	log2e  = 1.44269504088896340736 // 1/ln 2
	ln2    = 0.69314718055994530942
	minExp = -708.0 // e^w is subnormal or zero below this
)

// exp2Table holds 2^(j/64) for j = 0 … 63.
var exp2Table = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// exp2Coef are the Taylor coefficients of 2^f = e^(f·ln 2) around 0,
// (ln 2)^i / i!, for |f| ≤ 1/128: the truncation error of degree 5 is under
// (ln 2/128)^6/6! ≈ 4e-17 relative.
var exp2Coef = func() (c [6]float64) {
	c[0] = 1
	for i := 1; i < len(c); i++ {
		c[i] = c[i-1] * ln2 / float64(i)
	}
	return c
}()

// expNonPos returns e^w for w ≤ 0, to within a few float64 rounding
// errors, and 0 for w below minExp (where e^w is not a normal float64). It
// writes 64·w·log₂e = 64n + j + 64f with integers n and 0 ≤ j < 64 and
// |f| ≤ 1/128, so that e^w = 2^n · 2^(j/64) · 2^f: the exponent bits, a
// table and a short polynomial, evaluated in Estrin's order to keep the
// dependency chain short.
func expNonPos(w float64) float64 {
	if w < minExp {
		return 0
	}
	if w != w {
		return w // NaN
	}
	y := w * (64 * log2e)
	k := int64(y - 0.5) // ⌈y − ½⌉ for y ≤ 0: |y − k| ≤ ½
	f := (y - float64(k)) * (1.0 / 64)
	c := &exp2Coef
	f2 := f * f
	p := (c[0] + c[1]*f) + f2*(c[2]+c[3]*f) + f2*f2*(c[4]+c[5]*f)
	return p * exp2Table[k&63] * math.Float64frombits(uint64((k>>6)+1023)<<52)
}

// erfcCoef are the coefficients of Q in erfc(z) = t·e^(−z²)·Q(t),
// t = 1/(1 + z/2), z ≥ 0, from a relative least-squares fit of degree 10
// on z ∈ [0, 10] (relative error 3.5e-9 over that range).
var erfcCoef = [11]float64{
	0.28208835548501027,
	0.28225587957189763,
	0.24514768716037619,
	0.18575657657546171,
	0.05435295381574673,
	0.036538560657673844,
	-0.023611901366139755,
	-0.28797816548538385,
	0.38040514937432302,
	-0.19066193172170343,
	0.035706839375866856,
}

// normCDFPDF returns Φ(x) and φ(x), the standard normal distribution and
// density functions, with relative errors of a few parts in 1e9 (Φ also in
// its lower tail).
func normCDFPDF(x float64) (cdf, pdf float64) {
	z := math.Abs(x) * invSqrt2
	z = min(z, 10) // beyond, Φ is 0 or 1 and φ 0 to float32 precision
	t := 1 / (1 + 0.5*z)
	e := expNonPos(-z * z)
	// Q(t) in Estrin's order.
	c := &erfcCoef
	t2 := t * t
	t4 := t2 * t2
	t8 := t4 * t4
	q := ((c[0] + c[1]*t) + t2*(c[2]+c[3]*t)) +
		t4*((c[4]+c[5]*t)+t2*(c[6]+c[7]*t)) +
		t8*((c[8]+c[9]*t)+t2*c[10])
	half := 0.5 * t * e * q // ½erfc(|x|/√2) = Φ(−|x|)
	if x < 0 {
		cdf = half
	} else {
		cdf = 1 - half
	}
	return cdf, e * invSqrt2Pi
}

// geluFwdGo is geluFwd32 in Go.
func geluFwdGo(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		cdf, _ := normCDFPDF(float64(v))
		y[i] = float32(float64(v) * cdf)
	}
}

// geluBwdGo is geluBwd32 in Go.
func geluBwdGo(x, g, dx []float32) {
	g, dx = g[:len(x)], dx[:len(x)]
	for i, v := range x {
		xv := float64(v)
		cdf, pdf := normCDFPDF(xv)
		dx[i] = float32(float64(g[i]) * (cdf + xv*pdf))
	}
}

// expShiftGo is expShift32 in Go.
func expShiftGo(x []float32, shift float32) float64 {
	s := 0.0
	for i, v := range x {
		e := expNonPos(float64(v) - float64(shift))
		x[i] = float32(e)
		s += e
	}
	return s
}
