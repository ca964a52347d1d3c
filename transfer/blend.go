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
	return p.transportAll(b.Name(), func(sp SitePair) (*Map, *Map, error) {
		in := maps[StatKey{InputAct, sp.A.InSpace, sp.B.InSpace}]
		grad := StatKey{OutputGrad, sp.A.OutSpace, sp.B.OutSpace}
		act := StatKey{OutputAct, sp.A.OutSpace, sp.B.OutSpace}
		if p.Options.SharedQK {
			weights := map[Kind]float64{OutputGrad: 1, OutputAct: beta}
			switch {
			case beta == 0:
				weights = map[Kind]float64{OutputGrad: 1}
			case math.IsInf(beta, 1):
				weights = map[Kind]float64{OutputAct: 1}
			}
			shared, err := p.sharedQKBlend(sp, weights)
			if err != nil || shared != nil {
				return in, shared, err
			}
		}
		switch {
		case beta == 0:
			return in, maps[grad], nil
		case math.IsInf(beta, 1):
			return in, acts[act], nil
		}
		out, err := p.combinedMap([]StatKey{grad, act}, []float64{1, beta})
		return in, out, err
	})
}
