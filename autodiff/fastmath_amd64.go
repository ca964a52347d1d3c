package autodiff

import "golang.org/x/sys/cpu"

// useAVX2 says whether the assembly kernels of fastmath_amd64.s run.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func geluFwdAVX2(x, y *float32, n int)

//go:noescape
func geluBwdAVX2(x, gr, dx *float32, n int)

//go:noescape
func swigluFwdAVX2(gate, up, y *float32, n int)

//go:noescape
func swigluBwdAVX2(gate, up, gy, dg, du *float32, n int)

//go:noescape
func expShiftAVX2(x *float32, n int, shift float32) float64

//go:noescape
func maxAVX2(x *float32, n int) float32

// maxOf32 is the largest of x (NaN if any is NaN); x must not be empty.
func maxOf32(x []float32) float32 {
	if !useAVX2 || len(x) < 8 {
		return maxOf32Go(x)
	}
	n := len(x) &^ 7
	m := maxAVX2(&x[0], n)
	for _, v := range x[n:] {
		m = max(m, v)
	}
	return m
}

// geluFwd32 sets y[i] = x[i]·Φ(x[i]).
func geluFwd32(x, y []float32) {
	y = y[:len(x)]
	n := 0
	if useAVX2 {
		n = len(x) &^ 3
		if n > 0 {
			geluFwdAVX2(&x[0], &y[0], n)
		}
	}
	geluFwdGo(x[n:], y[n:])
}

// geluBwd32 sets dx[i] = g[i]·(Φ(x[i]) + x[i]·φ(x[i])).
func geluBwd32(x, g, dx []float32) {
	g, dx = g[:len(x)], dx[:len(x)]
	n := 0
	if useAVX2 {
		n = len(x) &^ 3
		if n > 0 {
			geluBwdAVX2(&x[0], &g[0], &dx[0], n)
		}
	}
	geluBwdGo(x[n:], g[n:], dx[n:])
}

// expShift32 sets x[i] = e^(x[i] − shift), for x[i] ≤ shift, and returns
// the sum of the results.
func expShift32(x []float32, shift float32) float64 {
	n, s := 0, 0.0
	if useAVX2 {
		n = len(x) &^ 3
		if n > 0 {
			s = expShiftAVX2(&x[0], n, shift)
		}
	}
	return s + expShiftGo(x[n:], shift)
}

// swigluFwd32 sets y[i] = g[i]·σ(g[i])·u[i].
func swigluFwd32(g, u, y []float32) {
	u, y = u[:len(g)], y[:len(g)]
	n := 0
	if useAVX2 {
		n = len(g) &^ 3
		if n > 0 {
			swigluFwdAVX2(&g[0], &u[0], &y[0], n)
		}
	}
	swigluFwdGo(g[n:], u[n:], y[n:])
}

// swigluBwd32 sets, with s = σ(g[i]), dg[i] = gy[i]·u[i]·s·(1 + g[i](1 − s))
// and du[i] = gy[i]·g[i]·s.
func swigluBwd32(g, u, gy, dg, du []float32) {
	u, gy, dg, du = u[:len(g)], gy[:len(g)], dg[:len(g)], du[:len(g)]
	n := 0
	if useAVX2 {
		n = len(g) &^ 3
		if n > 0 {
			swigluBwdAVX2(&g[0], &u[0], &gy[0], &dg[0], &du[0], n)
		}
	}
	swigluBwdGo(g[n:], u[n:], gy[n:], dg[n:], du[n:])
}
