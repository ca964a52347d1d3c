package linalg

import (
	"math/rand/v2"
	"testing"
)

// TestLowRank: a product of rank 5 is factored exactly at rank 5 (tail at
// rounding) and not at rank 3 (the tail says so), wide and tall, on every
// backend.
func TestLowRank(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, dims := range [][2]int{{40, 25}, {25, 40}} {
			m, n := dims[0], dims[1]
			d := mul(randMatrix(rng, m, 5), randMatrix(rng, 5, n), m, 5, n)
			b, a, tail, err := LowRank(be, d, m, n, 5)
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxAbsDiff(mul(b, a, m, 5, n), d); diff > 1e-10*maxAbs(d) || tail > 1e-12 {
				t.Errorf("%d×%d at rank 5: product differs by %g, tail %g", m, n, diff, tail)
			}
			if _, _, tail, _ := LowRank(be, d, m, n, 3); tail < 1e-3 {
				t.Errorf("%d×%d at rank 3: tail %g, want the left-out singular values seen", m, n, tail)
			}
		}
	})
}
