package transfer

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bico-dev/bico/linalg"
)

// Map is the orthogonal Procrustes map of one statistic: T (DA×DB) with
// orthonormal columns or rows, taking target coordinates to source ones
// (a_A ≈ T·a_B), so a source vector v moves to the target as Tᵀv.
type Map struct {
	Key    StatKey
	DA, DB int
	T      []float64
	// Rank is the numerical rank of the statistic.
	Rank int
	// Quality is tr(TᵀC)/‖C‖_*: 1 when C is exactly explained by T.
	Quality float64
	// Method says how T was computed: "svd" (a full SVD, or the leading
	// singular pairs of a low-rank statistic), "eig" (a square statistic
	// of 256 rows or more on OpenBLAS: the SVD's map from the
	// eigendecomposition of CᵀC, linalg.MethodEig) or "polar" (Newton's
	// iteration: --polar, or the pure-Go backend's well-conditioned
	// square statistics).
	Method string
	// Alignment is how well T maps the target's rows onto the source's:
	// Σ⟨a, T·b⟩ / √(Σ‖a‖²·Σ‖b‖²) = tr(TᵀC)/√(Σ‖a‖²·Σ‖b‖²) over the
	// calibration rows, from the statistic as accumulated (before centring
	// or whitening). It is 1 exactly when every source row is T times its
	// target row (up to one common scale) and near 0 when the rows are
	// unrelated; 0 when unknown (a blend of statistics). Quality, 1 for
	// any SVD map, says nothing of this.
	Alignment float64
}

// alignment is Map.Alignment of t for s, 0 when s has no sums of squares.
func alignment(t []float64, s *Stat) float64 {
	na, nb := 0.0, 0.0
	for _, v := range s.SqA {
		na += v
	}
	for _, v := range s.SqB {
		nb += v
	}
	if na <= 0 || nb <= 0 {
		return 0
	}
	tr := 0.0
	for i, v := range s.C {
		tr += t[i] * v
	}
	return tr / math.Sqrt(na*nb)
}

// statMatrix returns the statistic's matrix after the optional centring
// and partial whitening: s.C itself when there is neither (the caller must
// not modify it), else a new matrix.
func statMatrix(be linalg.Backend, s *Stat, center bool, p float64) ([]float64, error) {
	if !(center && s.Rows > 0) && p == 0 {
		return s.C, nil
	}
	c := append([]float64(nil), s.C...)
	if center && s.Rows > 0 {
		inv := 1 / float64(s.Rows)
		for i := 0; i < s.DA; i++ {
			for j := 0; j < s.DB; j++ {
				c[i*s.DB+j] -= s.SumA[i] * s.SumB[j] * inv
			}
		}
	}
	if p == 0 {
		return c, nil
	}
	ga, err := symPower(be, s.GramA, s.DA, -p)
	if err != nil {
		return nil, fmt.Errorf("statistic %s: source Gram matrix: %w", s.Key, err)
	}
	gb, err := symPower(be, s.GramB, s.DB, -p)
	if err != nil {
		return nil, fmt.Errorf("statistic %s: target Gram matrix: %w", s.Key, err)
	}
	tmp := make([]float64, s.DA*s.DB)
	be.Dgemm(false, false, s.DA, s.DB, s.DA, 1, ga, s.DA, c, s.DB, 0, tmp, s.DB)
	be.Dgemm(false, false, s.DA, s.DB, s.DB, 1, tmp, s.DB, gb, s.DB, 0, c, s.DB)
	return c, nil
}

// symPower returns G^q for a symmetric positive semi-definite n×n matrix,
// flooring eigenvalues at 1e-6 of the largest so that negative powers stay
// finite.
func symPower(be linalg.Backend, g []float64, n int, q float64) ([]float64, error) {
	u, s, _, err := be.SVD(n, n, g)
	if err != nil {
		return nil, err
	}
	floor := 1e-6 * s[0]
	if floor <= 0 {
		floor = 1
	}
	us := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			us[i*n+j] = u[i*n+j] * math.Pow(math.Max(s[j], floor), q)
		}
	}
	out := make([]float64, n*n)
	be.Dgemm(false, true, n, n, n, 1, us, n, u, n, 0, out, n)
	return out, nil
}

// computeMaps builds the maps of the statistics keys in parallel (see
// runMaps) and adds their time to tm. done is called as each map is
// finished, with the count so far.
func computeMaps(be linalg.Backend, stats map[StatKey]*Stat, keys []StatKey, opts Options, tm *Timing, done func(int)) (map[StatKey]*Map, error) {
	size := make([]int, len(keys))
	for i, k := range keys {
		s := stats[k]
		size[i] = s.DA * s.DB * min(s.DA, s.DB)
	}
	maps, err := runMaps(be.Threads(), size, func(i int) (*Map, float64, float64, error) {
		return timedMap(be, stats[keys[i]], opts)
	}, tm, done)
	if err != nil {
		return nil, err
	}
	out := make(map[StatKey]*Map, len(keys))
	for i, k := range keys {
		out[k] = maps[i]
	}
	return out, nil
}

// runMaps calls mapOf(i) for every i < len(size) on up to threads
// goroutines, largest size first so that the last to finish are small, and
// returns the maps in index order. mapOf returns a map and the seconds it
// spent preparing its statistic and computing the map; each map's products
// and SVD run on the backend's threads. The wall-clock time is added to tm,
// shared between statistics and maps in proportion to the workers' time on
// each. done is called as each map is finished, with the count so far. On
// an error no new map is started and the first error is returned.
func runMaps(threads int, size []int, mapOf func(i int) (m *Map, stat, proc float64, err error), tm *Timing, done func(int)) ([]*Map, error) {
	order := make([]int, len(size))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return size[order[i]] > size[order[j]] })
	var (
		mu               sync.Mutex
		out              = make([]*Map, len(size))
		finished         int
		firstErr         error
		statSum, procSum float64
		next             atomic.Int64
		wg               sync.WaitGroup
	)
	start := time.Now()
	work := func() {
		defer wg.Done()
		for {
			n := int(next.Add(1) - 1)
			if n >= len(order) {
				return
			}
			mu.Lock()
			failed := firstErr != nil
			mu.Unlock()
			if failed {
				return
			}
			i := order[n]
			m, stat, proc, err := mapOf(i)
			mu.Lock()
			statSum += stat
			procSum += proc
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil {
				out[i] = m
				finished++
				if done != nil {
					done(finished)
				}
			}
			mu.Unlock()
		}
	}
	workers := min(max(1, threads), len(order))
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go work()
	}
	wg.Wait()
	if wall := time.Since(start).Seconds(); statSum+procSum > 0 {
		tm.Statistics += wall * statSum / (statSum + procSum)
		tm.Maps += wall * procSum / (statSum + procSum)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// timedMap builds the Procrustes map of one statistic and says how long
// preparing the statistic's matrix and computing its map took.
func timedMap(be linalg.Backend, s *Stat, opts Options) (m *Map, stat, proc float64, err error) {
	start := time.Now()
	c, err := statMatrix(be, s, opts.Center, opts.Whiten)
	if err != nil {
		return nil, 0, 0, err
	}
	stat = time.Since(start).Seconds()
	start = time.Now()
	m, err = procrustesMap(be, s, c, opts)
	return m, stat, time.Since(start).Seconds(), err
}

// procrustesMap computes the map of statistic s from its matrix c.
func procrustesMap(be linalg.Backend, s *Stat, c []float64, opts Options) (*Map, error) {
	for i, v := range c {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("statistic %s: element %d is not finite", s.Key, i)
		}
	}
	// The SVD's map, by Newton's iteration where that is faster.
	po := linalg.ProcrustesOptions{Method: linalg.MethodAuto, SkipOrthError: true}
	if opts.Polar {
		po.Method = linalg.MethodPolar
	}
	r, err := linalg.ProcrustesWith(be, c, s.DA, s.DB, po)
	if err != nil {
		return nil, fmt.Errorf("statistic %s: %w", s.Key, err)
	}
	return &Map{Key: s.Key, DA: s.DA, DB: s.DB, T: r.T, Rank: r.Rank, Quality: r.Quality, Method: r.Method.String(), Alignment: alignment(r.T, s)}, nil
}
