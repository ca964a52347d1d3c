package transfer

import (
	"fmt"
	"math"
)

// Tunable is a method with a setting chosen, like α, on the held-out
// calibration samples: Finish tries every setting with the whole α grid.
type Tunable interface {
	Method
	// Settings names the settings, in the order DeltaWith takes them.
	Settings() []string
	// DeltaWith is Delta with setting i.
	DeltaWith(p *Prepared, i int) (Delta, []*Map, error)
}

// blendBetas are the blend weights bico-blend chooses from: 0 is bico,
// +Inf uses the activation statistic alone on the output side.
var blendBetas = []float64{0, 0.25, 0.5, 1, 2, 4, math.Inf(1)}

// blend is BiCo with the output map taken from a blend of both output-side
// statistics, C_out = Ĉ_grad + β·Ĉ_act (each scaled to unit Frobenius
// norm), β chosen on the held-out calibration samples (METHOD.md §7).
type blend struct{}

func init() { Register(blend{}) }

func (blend) Name() string { return "bico-blend" }

func (blend) Needs() Needs {
	return Needs{In: []Kind{InputAct}, Out: []Kind{OutputGrad, OutputAct}}
}

func (blend) Settings() []string {
	out := make([]string, len(blendBetas))
	for i, b := range blendBetas {
		out[i] = fmt.Sprintf("β=%g", b)
	}
	return out
}

// Delta is the delta of β = 1.
func (b blend) Delta(p *Prepared) (Delta, []*Map, error) { return b.DeltaWith(p, 3) }

func (b blend) DeltaWith(p *Prepared, i int) (Delta, []*Map, error) {
	beta := blendBetas[i]
	maps, err := p.Maps(InputAct, OutputGrad)
	if err != nil {
		return nil, nil, err
	}
	acts, err := p.Maps(InputAct, OutputAct)
	if err != nil {
		return nil, nil, err
	}
	// The blended statistics of every site first, mapped in parallel.
	combos := map[string]combo{}
	var all []combo
	for _, sp := range p.Pairs {
		if c, ok := b.outputCombo(p, sp, beta); ok {
			combos[sp.B.Name] = c
			all = append(all, c)
		}
	}
	if err := p.combinedMaps(all); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if beta > 0 && !math.IsInf(beta, 1) {
		// No other setting uses these maps; the delta keeps those it needs.
		defer p.forgetCombined(all)
	}
	return p.transportAll(b.Name(), func(sp SitePair) (*Map, *Map, error) {
		in := maps[StatKey{InputAct, sp.A.InSpace, sp.B.InSpace}]
		if c, ok := combos[sp.B.Name]; ok {
			out, err := p.combinedMap(c)
			return in, out, err
		}
		if beta == 0 {
			return in, maps[StatKey{OutputGrad, sp.A.OutSpace, sp.B.OutSpace}], nil
		}
		return in, acts[StatKey{OutputAct, sp.A.OutSpace, sp.B.OutSpace}], nil
	})
}

// outputCombo is the blended statistic whose map is site sp's output map
// with weight beta, and false when the map is a single statistic's (β = 0
// or +Inf without a shared query–key map).
func (blend) outputCombo(p *Prepared, sp SitePair, beta float64) (combo, bool) {
	if p.Options.SharedQK {
		weights := map[Kind]float64{OutputGrad: 1, OutputAct: beta}
		switch {
		case beta == 0:
			weights = map[Kind]float64{OutputGrad: 1}
		case math.IsInf(beta, 1):
			weights = map[Kind]float64{OutputAct: 1}
		}
		if c, ok := p.sharedQKCombo(sp, weights); ok {
			return c, true
		}
	}
	if beta == 0 || math.IsInf(beta, 1) || sp.A.OutSpace == "" || sp.B.OutSpace == "" {
		return combo{}, false // or the output is a vocabulary: no map
	}
	grad := StatKey{OutputGrad, sp.A.OutSpace, sp.B.OutSpace}
	act := StatKey{OutputAct, sp.A.OutSpace, sp.B.OutSpace}
	return combo{keys: []StatKey{grad, act}, weights: []float64{1, beta}}, true
}
