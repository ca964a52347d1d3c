package memory

import "testing"

// TestPrefaultKeepsContents checks that Prefault leaves the values of a
// buffer, large or small, fresh or written, as they were.
func TestPrefaultKeepsContents(t *testing.T) {
	for _, n := range []int{0, 1, 1000, MinPrefault/8 + 12345} {
		b := make([]float64, n)
		for i := 0; i < n; i += 997 {
			b[i] = float64(i) + 0.5
		}
		Prefault(b)
		Prefault(b[min(n, 3):]) // unaligned start
		for i := range b {
			want := 0.0
			if i%997 == 0 {
				want = float64(i) + 0.5
			}
			if b[i] != want {
				t.Fatalf("n = %d: b[%d] = %v after Prefault, want %v", n, i, b[i], want)
			}
		}
	}
}
