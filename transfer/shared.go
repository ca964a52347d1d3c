package transfer

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// combo is a weighted sum of statistics of equal shapes, each first scaled
// to unit Frobenius norm so that the weights alone decide their shares. Its
// map is computed like a statistic's.
type combo struct {
	keys    []StatKey
	weights []float64
}

// key names the summed statistic in the map cache.
func (c combo) key() StatKey {
	names := make([]string, len(c.keys))
	for i, k := range c.keys {
		names[i] = fmt.Sprintf("%g·%s %s|%s", c.weights[i], k.Kind, k.A, k.B)
	}
	return StatKey{Kind: c.keys[0].Kind, A: "sum(" + strings.Join(names, ", ") + ")", B: c.keys[len(c.keys)-1].B}
}

// sharedQKMap returns, for a query or key site, one output map shared by
// the block's query and key: the map of the sum of their statistics (each
// normalised by its Frobenius norm), since attention only sees their
// product. It returns nil for other sites, and for query and key of
// different widths (grouped-query attention).
func (p *Prepared) sharedQKMap(sp SitePair, kind Kind) (*Map, error) {
	return p.sharedQKBlend(sp, map[Kind]float64{kind: 1})
}

// sharedQKBlend is sharedQKMap for a weighted blend of statistic kinds:
// the map of Σ over query and key and over kinds of weight·Ĉ (each
// statistic scaled to unit Frobenius norm). It returns nil for sites that
// are not a block's query or key.
func (p *Prepared) sharedQKBlend(sp SitePair, weights map[Kind]float64) (*Map, error) {
	c, ok := p.sharedQKCombo(sp, weights)
	if !ok {
		return nil, nil
	}
	return p.combinedMap(c)
}

// sharedQKCombo is the sum of statistics whose map sharedQKBlend returns,
// and false for sites that are not a block's query or key.
func (p *Prepared) sharedQKCombo(sp SitePair, weights map[Kind]float64) (combo, bool) {
	if sp.B.Role != "query" && sp.B.Role != "key" {
		return combo{}, false
	}
	var qk []SitePair
	for _, o := range p.Pairs {
		if o.B.Block == sp.B.Block && (o.B.Role == "query" || o.B.Role == "key") {
			qk = append(qk, o)
		}
	}
	if len(qk) != 2 || qk[0].A.Out != qk[1].A.Out || qk[0].B.Out != qk[1].B.Out {
		// With fewer key-value heads than query heads (grouped-query
		// attention) the query and key widths differ: no shared map.
		return combo{}, false
	}
	var c combo
	for _, kind := range []Kind{OutputGrad, OutputAct, InputAct, InputGrad} {
		w, ok := weights[kind]
		if !ok {
			continue
		}
		for _, o := range qk {
			c.keys = append(c.keys, StatKey{kind, o.A.OutSpace, o.B.OutSpace})
			c.weights = append(c.weights, w)
		}
	}
	return c, len(c.keys) > 0
}

// combinedMap returns the map of c, computing it unless it is cached.
func (p *Prepared) combinedMap(c combo) (*Map, error) {
	if m, ok := p.maps[c.key()]; ok {
		return m, nil
	}
	if err := p.combinedMaps([]combo{c}); err != nil {
		return nil, err
	}
	return p.maps[c.key()], nil
}

// combinedMaps computes the maps of the sums cs that are not cached yet,
// in parallel as Maps does, and caches them. Each sum is built by the
// worker that maps it, so that only the sums being mapped are in memory.
func (p *Prepared) combinedMaps(cs []combo) error {
	if p.maps == nil {
		p.maps = map[StatKey]*Map{}
	}
	var todo []combo
	seen := map[StatKey]bool{}
	for _, c := range cs {
		k := c.key()
		if _, ok := p.maps[k]; ok || seen[k] {
			continue
		}
		seen[k] = true
		todo = append(todo, c)
	}
	if len(todo) == 0 {
		return nil
	}
	size := make([]int, len(todo))
	for i, c := range todo {
		s, ok := p.Stats[c.keys[0]]
		if !ok {
			return fmt.Errorf("no statistic %s to combine", c.keys[0])
		}
		size[i] = s.DA * s.DB * min(s.DA, s.DB)
	}
	opts := p.Options
	opts.Whiten = 0 // Gram matrices are not combined
	be := p.Options.Backend
	maps, err := runMaps(be.Threads(), size, func(i int) (*Map, float64, float64, error) {
		start := time.Now()
		sum, err := p.sumStat(todo[i])
		if err != nil {
			return nil, 0, 0, err
		}
		built := time.Since(start).Seconds()
		m, stat, proc, err := timedMap(be, sum, opts)
		return m, built + stat, proc, err
	}, &p.Timing, func(n int) { p.Options.progress("combined maps", n, len(todo)) })
	if err != nil {
		return err
	}
	for i, c := range todo {
		p.maps[c.key()] = maps[i]
	}
	return nil
}

// sumStat builds the statistic of c: Σ weight·C/‖C‖_F over its statistics,
// with their row sums scaled alike.
func (p *Prepared) sumStat(c combo) (*Stat, error) {
	var sum *Stat
	for ki, k := range c.keys {
		s, ok := p.Stats[k]
		if !ok {
			return nil, fmt.Errorf("no statistic %s to combine", k)
		}
		if sum == nil {
			sum = newStat(c.key(), s.DA, s.DB, false)
			sum.Rows = s.Rows
			sum.SqA, sum.SqB = nil, nil // no alignment score for a blend
		}
		if s.DA != sum.DA || s.DB != sum.DB {
			return nil, fmt.Errorf("statistics %s and %s differ in shape", c.keys[0], k)
		}
		scale := c.weights[ki] / frobenius(s.C)
		if math.IsInf(scale, 0) || math.IsNaN(scale) {
			continue
		}
		for i, v := range s.C {
			sum.C[i] += scale * v
		}
		for i, v := range s.SumA {
			sum.SumA[i] += scale * v
		}
		for i, v := range s.SumB {
			sum.SumB[i] += scale * v
		}
	}
	return sum, nil
}

// forgetCombined drops the cached maps of cs.
func (p *Prepared) forgetCombined(cs []combo) {
	for _, c := range cs {
		delete(p.maps, c.key())
	}
}

func frobenius(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}
