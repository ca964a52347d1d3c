package transfer

import (
	"fmt"
	"math"
	"strings"
)

// sharedQKMap returns, for a query or key site, one output map shared by
// the block's query and key: the map of the sum of their statistics (each
// normalised by its Frobenius norm), since attention only sees their
// product. It returns nil for other sites.
func (p *Prepared) sharedQKMap(sp SitePair, kind Kind) (*Map, error) {
	return p.sharedQKBlend(sp, map[Kind]float64{kind: 1})
}

// sharedQKBlend is sharedQKMap for a weighted blend of statistic kinds:
// the map of Σ over query and key and over kinds of weight·Ĉ (each
// statistic scaled to unit Frobenius norm). It returns nil for sites that
// are not a block's query or key.
func (p *Prepared) sharedQKBlend(sp SitePair, weights map[Kind]float64) (*Map, error) {
	if sp.B.Role != "query" && sp.B.Role != "key" {
		return nil, nil
	}
	var qk []SitePair
	for _, o := range p.Pairs {
		if o.B.Block == sp.B.Block && (o.B.Role == "query" || o.B.Role == "key") {
			qk = append(qk, o)
		}
	}
	if len(qk) != 2 {
		return nil, nil
	}
	var (
		keys []StatKey
		ws   []float64
	)
	for _, kind := range []Kind{OutputGrad, OutputAct, InputAct, InputGrad} {
		w, ok := weights[kind]
		if !ok {
			continue
		}
		for _, o := range qk {
			keys = append(keys, StatKey{kind, o.A.OutSpace, o.B.OutSpace})
			ws = append(ws, w)
		}
	}
	return p.combinedMap(keys, ws)
}

// combinedMap computes (once) the map of a weighted sum of statistics of
// equal shapes, each first scaled to unit Frobenius norm so that the
// weights alone decide their shares.
func (p *Prepared) combinedMap(keys []StatKey, weights []float64) (*Map, error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = fmt.Sprintf("%g·%s %s|%s", weights[i], k.Kind, k.A, k.B)
	}
	joint := StatKey{Kind: keys[0].Kind, A: "sum(" + strings.Join(names, ", ") + ")", B: keys[len(keys)-1].B}
	if m, ok := p.maps[joint]; ok {
		return m, nil
	}
	var sum *Stat
	for ki, k := range keys {
		s, ok := p.Stats[k]
		if !ok {
			return nil, fmt.Errorf("no statistic %s to combine", k)
		}
		if sum == nil {
			sum = newStat(joint, s.DA, s.DB, false)
			sum.Rows = s.Rows
		}
		if s.DA != sum.DA || s.DB != sum.DB {
			return nil, fmt.Errorf("statistics %s and %s differ in shape", keys[0], k)
		}
		scale := weights[ki] / frobenius(s.C)
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
	opts := p.Options
	opts.Whiten = 0 // Gram matrices are not combined
	m, err := computeMap(p.Options.Backend, sum, opts, &p.Timing)
	if err != nil {
		return nil, err
	}
	if p.maps == nil {
		p.maps = map[StatKey]*Map{}
	}
	p.maps[joint] = m
	return m, nil
}

func frobenius(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}
