package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpNonPos(t *testing.T) {
	worst := 0.0
	for w := 0.0; w > -700; w -= 0.0137 {
		got, want := expNonPos(w), math.Exp(w)
		worst = max(worst, math.Abs(got/want-1))
	}
	if worst > 1e-9 {
		t.Errorf("expNonPos: worst relative error %g", worst)
	}
	if expNonPos(-800) != 0 || expNonPos(0) != 1 {
		t.Errorf("expNonPos(-800) = %g, expNonPos(0) = %g", expNonPos(-800), expNonPos(0))
	}
}

func TestNormCDFPDF(t *testing.T) {
	worstCDF, worstPDF := 0.0, 0.0
	for x := -13.0; x <= 13; x += 0.00173 {
		cdf, pdf := normCDFPDF(x)
		wantCDF := 0.5 * math.Erfc(-x/math.Sqrt2)
		wantPDF := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
		worstCDF = max(worstCDF, math.Abs(cdf/wantCDF-1))
		worstPDF = max(worstPDF, math.Abs(pdf/wantPDF-1))
	}
	if worstCDF > 1e-8 || worstPDF > 1e-8 {
		t.Errorf("worst relative errors: Φ %g, φ %g", worstCDF, worstPDF)
	}
}

func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i-2048) / 512
	}
	y := make([]float32, len(x))
	b.Run("kernel", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			geluFwd32(x, y)
		}
	})
	b.Run("go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			geluFwdGo(x, y)
		}
	})
	b.Run("erf", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j, v := range x {
				y[j] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)*invSqrt2)))
			}
		}
	})
}

// TestVectorKernels compares the kernels used on float32 data (assembly
// where the CPU has it) with the Go versions and with float64 references.
func TestVectorKernels(t *testing.T) {
	t.Logf("AVX2 kernels: %v", useAVX2)
	const n = 1003 // not a multiple of 4: the tail runs in Go
	x, g := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(-14 + 28*float64(i)/n)
		g[i] = float32(0.5 + float64(i%5)/3)
	}
	y, yGo := make([]float32, n), make([]float32, n)
	geluFwd32(x, y)
	geluFwdGo(x, yGo)
	dx, dxGo := make([]float32, n), make([]float32, n)
	geluBwd32(x, g, dx)
	geluBwdGo(x, g, dxGo)
	for i := range x {
		if d := math.Abs(float64(y[i] - yGo[i])); d > 1.2e-7*math.Abs(float64(yGo[i]))+1e-44 {
			t.Fatalf("GELU(%g): %g, Go %g", x[i], y[i], yGo[i])
		}
		if d := math.Abs(float64(dx[i] - dxGo[i])); d > 1.2e-7*math.Abs(float64(dxGo[i]))+1e-44 {
			t.Fatalf("GELU'(%g): %g, Go %g", x[i], dx[i], dxGo[i])
		}
	}
	e := make([]float32, n)
	for i := range e {
		e[i] = float32(-750 + 750*float64(i)/n)
	}
	e2 := append([]float32(nil), e...)
	want := 0.0
	for _, v := range e {
		want += math.Exp(float64(v) - 0.5)
	}
	orig := append([]float32(nil), e...)
	s, sGo := expShift32(e, 0.5), expShiftGo(e2, 0.5)
	if math.Abs(s/want-1) > 1e-12 || math.Abs(sGo/want-1) > 1e-12 {
		t.Errorf("sum of exponentials %g (Go %g), want %g", s, sGo, want)
	}
	for i, v := range e {
		ref := float32(math.Exp(float64(orig[i]) - 0.5))
		if d := math.Abs(float64(v) - float64(ref)); d > 1.2e-7*float64(ref)+1e-44 {
			t.Fatalf("exponential %d: %g, Go %g", i, v, ref)
		}
	}
}

// TestMaxOf32 checks maxOf32 against a sequential builtin max on rows of
// every length up to 40, with NaN, ±Inf and signed zeros among the values.
func TestMaxOf32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	for trial := 0; trial < 2000; trial++ {
		x := make([]float32, 1+trial%40)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.IntN(50) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
		want := x[0]
		for _, v := range x[1:] {
			want = max(want, v)
		}
		for _, f := range []struct {
			name string
			fn   func([]float32) float32
		}{{"maxOf32", maxOf32}, {"maxOf32Go", maxOf32Go}} {
			got := f.fn(x)
			if got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
				t.Fatalf("%s(%v) = %v, want %v", f.name, x, got, want)
			}
		}
	}
}

// BenchmarkSoftmaxRows times the attention softmax on one head's 197×197
// scores (ViT-B/16), against the same rows with the builtin max in one
// running maximum and the Go exponential.
func BenchmarkSoftmaxRows(b *testing.B) {
	const n = 197
	orig := make([]float32, n*n)
	for i := range orig {
		orig[i] = float32((i*7919)%1000)/100 - 5
	}
	s := make([]float32, n*n)
	b.Run("kernel", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			copy(s, orig)
			softmaxRowsMasked32(s, n, n, rowMask{keys: -1})
		}
	})
	b.Run("go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			copy(s, orig)
			for r := 0; r < n; r++ {
				row := s[r*n : (r+1)*n]
				mx := row[0]
				for _, x := range row[1:] {
					mx = max(mx, x)
				}
				inv := float32(1 / expShiftGo(row, mx))
				for j := range row {
					row[j] *= inv
				}
			}
		}
	})
}
