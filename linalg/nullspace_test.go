package linalg

import (
	"math/rand/v2"
	"testing"
)

// TestNullSpaceIsIdentityUnderNoise: a gradient statistic whose rows sum to
// zero (as a classifier's output gradients do) is rank-deficient along the
// ones vector; with rounding noise far above the old ε regularisation, the
// map must still be the identity, not a reflection, on that direction.
func TestNullSpaceIsIdentityUnderNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const d, rows = 6, 50
	g := make([]float64, rows*d)
	for r := 0; r < rows; r++ {
		mean := 0.0
		for j := 0; j < d; j++ {
			g[r*d+j] = rng.NormFloat64()
			mean += g[r*d+j] / d
		}
		for j := 0; j < d; j++ {
			g[r*d+j] -= mean
		}
	}
	forEachBackend(t, func(t *testing.T, be Backend) {
		for trial := 0; trial < 20; trial++ {
			c := make([]float64, d*d)
			be.Dgemm(true, false, d, d, rows, 1, g, d, g, d, 0, c, d)
			norm := frobenius(c)
			for i := range c {
				c[i] += 1e-7 * norm * rng.NormFloat64() // float32-level noise
			}
			res, err := ProcrustesWith(be, c, d, d, ProcrustesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxAbsDiff(res.T, rectIdentity(d, d)); diff > 1e-5 {
				t.Fatalf("%s trial %d: map differs from the identity by %g", be.Name(), trial, diff)
			}
			if res.Rank != d-1 {
				t.Errorf("%s: rank %d, want %d", be.Name(), res.Rank, d-1)
			}
		}
	})
}
