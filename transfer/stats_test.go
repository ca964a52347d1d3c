package transfer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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

// TestCheckMemory: statistics that cannot fit beside the models are refused
// before any is allocated, with their size and the largest named.
func TestCheckMemory(t *testing.T) {
	stats := map[StatKey]*Stat{}
	for i, d := range []int{8192, 8192, 2048} {
		k := StatKey{Kind: InputAct, A: fmt.Sprintf("layers.%d.mlp", i), B: fmt.Sprintf("layers.%d.mlp", i)}
		stats[k] = &Stat{Key: k, DA: d, DB: d}
	}
	const gib = 1 << 30
	// 2·8192²·8 + 2048²·8 bytes and the row sums: just over 1.03 GiB.
	if err := checkMemory(stats, false, 2*gib, gib/2, adviceOnePass); err != nil {
		t.Errorf("1.03 GiB of statistics and 0.5 GiB in use on 2 GiB: %v", err)
	}
	if err := checkMemory(stats, false, 0, 100*gib, adviceOnePass); err != nil {
		t.Errorf("unknown memory: %v", err)
	}
	err := checkMemory(stats, false, 2*gib, gib, adviceOnePass)
	if err == nil {
		t.Fatal("1.03 GiB of statistics and 1 GiB in use on 2 GiB: no error")
	}
	for _, want := range []string{"need 1.0 GiB", "3 statistics", "2 of them, are 8192×8192", "layers.0.mlp", "use bico, whose statistics can be collected in parts", "2.0 GiB this machine has"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Gram matrices (whitening) count too.
	if err := checkMemory(stats, true, 2*gib, gib/2, adviceOnePass); err == nil {
		t.Error("with Gram matrices the statistics double, but no error")
	}
}

// BenchmarkRowSums times addRowSums and addFloat64 on one batch of
// ViT-B/16 MLP rows (8 images × 197 tokens × 3072), one thread, in
// nanoseconds per element.
func BenchmarkRowSums(b *testing.B) {
	const d, rows = 3072, 8 * 197
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, d*rows)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	sum, sq := make([]float64, d), make([]float64, d)
	b.Run("rowsums", func(b *testing.B) {
		for b.Loop() {
			addRowSums(1, sum, sq, x, d)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/element")
	})
	acc := make([]float64, len(x))
	b.Run("add", func(b *testing.B) {
		for b.Loop() {
			addFloat64(1, acc, x)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/element")
	})
}
