//go:build !amd64

package autodiff

const useAVX2 = false

// geluFwd32 sets y[i] = x[i]·Φ(x[i]).
func geluFwd32(x, y []float32) { geluFwdGo(x, y) }

// geluBwd32 sets dx[i] = g[i]·(Φ(x[i]) + x[i]·φ(x[i])).
func geluBwd32(x, g, dx []float32) { geluBwdGo(x, g, dx) }

// expShift32 sets x[i] = e^(x[i] − shift), for x[i] ≤ shift, and returns
// the sum of the results.
func expShift32(x []float32, shift float32) float64 { return expShiftGo(x, shift) }

// maxOf32 is the largest of x (NaN if any is NaN); x must not be empty.
func maxOf32(x []float32) float32 { return maxOf32Go(x) }

// swigluFwd32 sets y[i] = g[i]·σ(g[i])·u[i].
func swigluFwd32(g, u, y []float32) { swigluFwdGo(g, u, y) }

// swigluBwd32 sets, with s = σ(g[i]), dg[i] = gy[i]·u[i]·s·(1 + g[i](1 − s))
// and du[i] = gy[i]·g[i]·s.
func swigluBwd32(g, u, gy, dg, du []float32) { swigluBwdGo(g, u, gy, dg, du) }
