package transfer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSplitSumsMatchSerial checks that the sums split over goroutines give
// the serial sums bit for bit (each element summed in the same order).
func TestSplitSumsMatchSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const d, rows = 256, 600 // 153600 elements: two workers at grain 1<<16
	x := make([]float32, d*rows)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	one, two := make([]float64, d), make([]float64, d)
	sq1, sq2 := make([]float64, d), make([]float64, d)
	addRowSums(1, one, sq1, x, d)
	addRowSums(2, two, sq2, x, d)
	for j := range one {
		if one[j] != two[j] || sq1[j] != sq2[j] {
			t.Fatalf("column %d: sums %v and squares %v with one goroutine, %v and %v with two", j, one[j], sq1[j], two[j], sq2[j])
		}
		want := 0.0
		for r := range rows {
			v := float64(x[r*d+j])
			want += v * v
		}
		if math.Abs(sq1[j]-want) > 1e-9*want {
			t.Fatalf("column %d: sum of squares %v, want %v", j, sq1[j], want)
		}
	}
	a, b := make([]float64, len(x)), make([]float64, len(x))
	addFloat64(1, a, x)
	addFloat64(2, b, x)
	for i := range a {
		if a[i] != b[i] || a[i] != float64(x[i]) {
			t.Fatalf("element %d: %v and %v, want %v", i, a[i], b[i], float64(x[i]))
		}
	}
}
