package experiment

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Cell is the mean of a method's records on one task of a pair, at one
// calibration size, over seeds.
type Cell struct {
	Family, Variant, Pair, Task, Method string
	K                                   int
	Seeds                               int
	Accuracy, Std                       float64 // mean and standard deviation over seeds
	ZeroShot, Ceiling                   float64
	Alpha                               float64 // mean chosen α (0 for few-shot-ft)
}

// GapClosed is (accuracy − zero-shot) / (ceiling − zero-shot) on this task
// (NaN when the ceiling equals the zero-shot accuracy).
func (c Cell) GapClosed() float64 { return gap(c.Accuracy, c.ZeroShot, c.Ceiling) }

func gap(acc, zs, ceil float64) float64 {
	if ceil == zs {
		return math.NaN()
	}
	return (acc - zs) / (ceil - zs)
}

// Summary is a method on a pair at one calibration size, over tasks.
type Summary struct {
	Family, Variant, Pair, Method string
	K                             int
	Tasks                         int
	// Accuracy, ZeroShot and Ceiling are means over tasks (each task's
	// accuracy being the mean over seeds).
	Accuracy, ZeroShot, Ceiling float64
	// GapClosed is (mean accuracy − mean zero-shot) / (mean ceiling − mean
	// zero-shot): the gap closed of the task averages, which no single task
	// whose ceiling is close to its zero-shot can dominate.
	GapClosed float64
	// Normalized is the mean over tasks of accuracy / ceiling.
	Normalized float64
}

type cellKey struct {
	family, variant, pair, task, method string
	k                                   int
}

// Cells averages rows over seeds, in the order the rows first show each
// cell.
func Cells(rows []Row) []Cell {
	idx := map[cellKey]int{}
	var cells []Cell
	var accs [][]float64
	for _, r := range rows {
		key := cellKey{r.Family, r.Variant, r.Pair, r.Task, r.Method, r.K}
		i, ok := idx[key]
		if !ok {
			i = len(cells)
			idx[key] = i
			cells = append(cells, Cell{Family: r.Family, Variant: r.Variant, Pair: r.Pair, Task: r.Task, Method: r.Method, K: r.K, ZeroShot: r.ZeroShot, Ceiling: r.Ceiling})
			accs = append(accs, nil)
		}
		c := &cells[i]
		c.Seeds++
		c.Alpha += r.Alpha
		accs[i] = append(accs[i], r.Accuracy)
	}
	for i := range cells {
		c := &cells[i]
		c.Alpha /= float64(c.Seeds)
		c.Accuracy, c.Std = meanStd(accs[i])
	}
	return cells
}

func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) > 1 {
		for _, x := range xs {
			std += (x - mean) * (x - mean)
		}
		std = math.Sqrt(std / float64(len(xs)-1))
	}
	return mean, std
}

type sumKey struct {
	family, variant, pair, method string
	k                             int
}

// Summarize averages cells over tasks. Every summary of one family,
// variant, pair and K should cover the same tasks; Tasks says how many.
func Summarize(cells []Cell) []Summary {
	idx := map[sumKey]int{}
	var out []Summary
	for _, c := range cells {
		key := sumKey{c.Family, c.Variant, c.Pair, c.Method, c.K}
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, Summary{Family: c.Family, Variant: c.Variant, Pair: c.Pair, Method: c.Method, K: c.K})
		}
		s := &out[i]
		s.Tasks++
		s.Accuracy += c.Accuracy
		s.ZeroShot += c.ZeroShot
		s.Ceiling += c.Ceiling
		if c.Ceiling > 0 {
			s.Normalized += c.Accuracy / c.Ceiling
		}
	}
	for i := range out {
		s := &out[i]
		n := float64(s.Tasks)
		s.Accuracy /= n
		s.ZeroShot /= n
		s.Ceiling /= n
		s.Normalized /= n
		s.GapClosed = gap(s.Accuracy, s.ZeroShot, s.Ceiling)
	}
	return out
}

// Check verifies the robust properties a run must have whatever the
// numbers: every method of methods has a record for every pair, task, K and
// seed of the rows where it can run (naive and gradfix only where source
// and target share their shapes, which sameShape tells by pair name), and on
// every pair, averaged over tasks, K and seeds, bico scores above the
// target's zero-shot accuracy. It returns every violation found.
func Check(rows []Row, methods []string, sameShape func(family, pair string) bool) []string {
	type unit struct {
		family, variant, pair, task string
		k                           int
		seed                        uint64
	}
	have := map[unit]map[string]bool{}
	var units []unit
	for _, r := range rows {
		u := unit{r.Family, r.Variant, r.Pair, r.Task, r.K, r.Seed}
		if have[u] == nil {
			have[u] = map[string]bool{}
			units = append(units, u)
		}
		have[u][r.Method] = true
	}
	var problems []string
	for _, u := range units {
		for _, m := range methods {
			if needsSameShape(m) && !sameShape(u.family, u.pair) {
				continue
			}
			if !have[u][m] {
				problems = append(problems, fmt.Sprintf("%s %s %s task %s K=%d seed %d: no %s record", u.family, u.variant, u.pair, u.task, u.k, u.seed, m))
			}
		}
	}
	if slices.Contains(methods, "bico") {
		type pk struct{ family, variant, pair string }
		acc, zs := map[pk]float64{}, map[pk]float64{}
		n := map[pk]int{}
		var order []pk
		for _, r := range rows {
			if r.Method != "bico" {
				continue
			}
			k := pk{r.Family, r.Variant, r.Pair}
			if n[k] == 0 {
				order = append(order, k)
			}
			acc[k] += r.Accuracy
			zs[k] += r.ZeroShot
			n[k]++
		}
		for _, k := range order {
			a, z := acc[k]/float64(n[k]), zs[k]/float64(n[k])
			if !(a > z) {
				problems = append(problems, fmt.Sprintf("%s %s %s: bico's average accuracy %.4f is not above the target's zero-shot average %.4f", k.family, k.variant, k.pair, a, z))
			}
		}
	}
	return problems
}

// methodOrder sorts method names: zero-shot first, the training-free
// methods in AllMethods order, then few-shot-ft, then anything else by name.
func methodOrder(a, b string) int {
	rank := func(m string) int {
		if i := slices.Index(AllMethods, m); i >= 0 {
			return i
		}
		if m == FewShotFT {
			return len(AllMethods)
		}
		return len(AllMethods) + 1
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b)
}
