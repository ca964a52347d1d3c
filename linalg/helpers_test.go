package linalg

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// openblasOrSkip returns the OpenBLAS backend with the given thread count.
// When the library does not load the test is skipped, unless BICO_BLAS is
// "openblas", in which case it fails.
func openblasOrSkip(t testing.TB, threads int) *OpenBLASBackend {
	t.Helper()
	b, err := LoadOpenBLAS(threads)
	if err != nil {
		if os.Getenv(EnvVar) == "openblas" {
			t.Fatalf("%s=openblas but OpenBLAS does not load: %v", EnvVar, err)
		}
		t.Skipf("OpenBLAS not available: %v", err)
	}
	return b
}

// forEachBackend runs f as a subtest on the Go backend and, when it loads,
// on OpenBLAS.
func forEachBackend(t *testing.T, f func(t *testing.T, be Backend)) {
	t.Helper()
	t.Run("go", func(t *testing.T) { f(t, Go()) })
	t.Run("openblas", func(t *testing.T) { f(t, openblasOrSkip(t, 0)) })
}

func randMatrix(rng *rand.Rand, rows, cols int) []float64 {
	a := make([]float64, rows*cols)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	return a
}

// orthonormalRows makes the rows (rows ≤ cols) of the row-major a
// orthonormal by modified Gram–Schmidt, in place.
func orthonormalRows(a []float64, rows, cols int) {
	for i := 0; i < rows; i++ {
		ri := a[i*cols : (i+1)*cols]
		for j := 0; j < i; j++ {
			rj := a[j*cols : (j+1)*cols]
			d := dot(ri, rj)
			for k := range ri {
				ri[k] -= d * rj[k]
			}
		}
		n := frobenius(ri)
		for k := range ri {
			ri[k] /= n
		}
	}
}

func transpose(a []float64, rows, cols int) []float64 {
	t := make([]float64, len(a))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// randOrthogonal returns a random rows×cols matrix with orthonormal rows
// (rows ≤ cols) or orthonormal columns (rows ≥ cols).
func randOrthogonal(rng *rand.Rand, rows, cols int) []float64 {
	if rows <= cols {
		a := randMatrix(rng, rows, cols)
		orthonormalRows(a, rows, cols)
		return a
	}
	a := randMatrix(rng, cols, rows)
	orthonormalRows(a, cols, rows)
	return transpose(a, cols, rows)
}

// mul returns the row-major product of a (m×k) and b (k×n) by the naive loop.
func mul(a, b []float64, m, k, n int) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for l := 0; l < k; l++ {
			ail := a[i*k+l]
			for j := 0; j < n; j++ {
				c[i*n+j] += ail * b[l*n+j]
			}
		}
	}
	return c
}

// maxAbsDiff returns max |a−b| over the elements.
func maxAbsDiff[T Float](a, b []T) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func maxAbs[T Float](a []T) float64 {
	m := 0.0
	for _, v := range a {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// gramError returns max |G − I| for G = AᵀA (cols) or AAᵀ (rows).
func gramError(a []float64, rows, cols int, ofColumns bool) float64 {
	var g []float64
	n := rows
	if ofColumns {
		g = mul(transpose(a, rows, cols), a, cols, rows, cols)
		n = cols
	} else {
		g = mul(a, transpose(a, rows, cols), rows, cols, rows)
	}
	e := 0.0
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			want := 0.0
			if i == j {
				want = 1
			}
			e = max(e, math.Abs(g[i*n+j]-want))
		}
	}
	return e
}
