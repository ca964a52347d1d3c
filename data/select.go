package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ErrHeldOutTooSmall is returned (wrapped) by SplitHeldOut when no class has
// two samples, so a held-out part cannot be formed without leaving a class
// out of the statistics part. Callers choosing α automatically can test it
// with errors.Is and fall back to a fixed α.
var ErrHeldOutTooSmall = errors.New("held-out split needs at least 2 samples in some class")

// classIndices returns, for each class, the indices of its samples in
// increasing order.
func classIndices(ds *Dataset) ([][]int, error) {
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	idx := make([][]int, ds.Classes)
	for i, l := range ds.Labels {
		idx[l] = append(idx[l], i)
	}
	return idx, nil
}

// classShuffle returns a permutation of class c's indices that depends only
// on seed, c and the indices themselves.
func classShuffle(idx []int, seed uint64, c int, stream uint64) []int {
	p := slices.Clone(idx)
	r := rand.New(rand.NewPCG(seed, stream^uint64(c)*0x9e3779b97f4a7c15))
	r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

const (
	streamPerClass = 0x5045524b // "PERK"
	streamHeldOut  = 0x484f4c44 // "HOLD"
)

// PerClass selects k samples of every class, chosen at random with the
// given seed: the same dataset, k and seed always give the same samples.
// The selected samples keep their relative order in ds. A class with fewer
// than k samples is an error naming it.
func PerClass(ds *Dataset, k int, seed uint64) (*Dataset, error) {
	if k <= 0 {
		return nil, fmt.Errorf("data: per-class selection of %d samples", k)
	}
	byClass, err := classIndices(ds)
	if err != nil {
		return nil, err
	}
	var pick []int
	for c, idx := range byClass {
		if len(idx) < k {
			return nil, fmt.Errorf("data: class %d (%q) has %d samples, fewer than the %d per class asked for", c, ds.ClassName(c), len(idx), k)
		}
		pick = append(pick, classShuffle(idx, seed, c, streamPerClass)[:k]...)
	}
	slices.Sort(pick)
	return ds.Subset(pick), nil
}

// SplitHeldOut splits ds into a statistics part and a held-out part (for
// choosing α), stratified by class and deterministic in seed. A class of n
// samples sends round(fraction·n) of them, chosen at random, to the
// held-out part, but always at least one and at most n−1 when n ≥ 2, so
// every class with two or more samples appears in both parts. A class with
// a single sample (K = 1) keeps it in the statistics part: the statistics
// must see every class. When that leaves the held-out part empty (every
// class has at most one sample) the result is an error wrapping
// ErrHeldOutTooSmall: K ≥ 2 per class is needed to choose α on held-out
// data. Both parts keep the relative order of ds. fraction must lie in
// (0, 1).
func SplitHeldOut(ds *Dataset, fraction float64, seed uint64) (stats, heldOut *Dataset, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("data: held-out fraction %v, want a value in (0, 1)", fraction)
	}
	byClass, err := classIndices(ds)
	if err != nil {
		return nil, nil, err
	}
	var s, h []int
	for c, idx := range byClass {
		n := len(idx)
		m := 0
		if n >= 2 {
			m = min(max(int(math.Round(fraction*float64(n))), 1), n-1)
		}
		p := classShuffle(idx, seed, c, streamHeldOut)
		h = append(h, p[:m]...)
		s = append(s, p[m:]...)
	}
	if len(h) == 0 {
		return nil, nil, fmt.Errorf("data: %w (largest class has %d); use a fixed α or at least 2 samples per class", ErrHeldOutTooSmall, slices.Max(append(ds.ClassCounts(), 0)))
	}
	slices.Sort(s)
	slices.Sort(h)
	return ds.Subset(s), ds.Subset(h), nil
}

// Shuffle returns the samples of ds in a random order that depends only on
// seed.
func Shuffle(ds *Dataset, seed uint64) *Dataset {
	r := rand.New(rand.NewPCG(seed, 0x53485546)) // "SHUF"
	return ds.Subset(r.Perm(ds.Len()))
}
