package transfer

import (
	"context"
	"fmt"
	"maps"

	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// DefaultAlphas is the grid α is chosen from when it is not fixed. The
// orthogonal transport loses magnitude, so the grid reaches well above 1.
var DefaultAlphas = []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 10}

// AlphaPoint is the held-out score of θ_B + α·ΔB for one α.
type AlphaPoint struct {
	Alpha    float64 `json:"alpha"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
}

// better reports whether a beats b: higher accuracy, then lower loss.
func (a AlphaPoint) better(b AlphaPoint) bool {
	if a.Accuracy != b.Accuracy {
		return a.Accuracy > b.Accuracy
	}
	return a.Loss < b.Loss
}

// Apply returns a new model θ_B + α·Δ with the target's architecture. The
// target itself is not changed. config, when not nil, replaces the target's
// configuration (for example to carry the fine-tuned head's labels).
func Apply(target model.Model, delta Delta, alpha float64, config map[string]any) (model.Model, error) {
	params := map[string]*tensor.Tensor[float32]{}
	for _, name := range target.ParamNames() {
		v := target.Param(name).Value.Clone()
		if d, ok := delta[name]; ok {
			if d.Numel() != v.Numel() {
				return nil, fmt.Errorf("delta for %q has %d values, the parameter %v", name, d.Numel(), v.Shape)
			}
			a := float32(alpha)
			for i, x := range d.Data {
				v.Data[i] += a * x
			}
		}
		if i := v.FirstNonFinite(); i >= 0 {
			return nil, fmt.Errorf("parameter %q element %d is not finite after the transfer (α = %g)", name, i, alpha)
		}
		params[name] = v
	}
	for name := range delta {
		if target.Param(name) == nil {
			return nil, fmt.Errorf("delta for %q, which the target does not have", name)
		}
	}
	if config == nil {
		config = target.Config()
	}
	return model.Build(maps.Clone(config), params, 0)
}

// reapply sets every parameter of m that delta changes to θ_B + α·Δ, from
// target's value: m becomes Apply(target, delta, alpha, …) when it was made
// by Apply from target and delta with another α.
func reapply(m, target model.Model, delta Delta, alpha float64) error {
	a := float32(alpha)
	for name, d := range delta {
		dst, src := m.Param(name).Value, target.Param(name).Value
		for i, x := range d.Data {
			dst.Data[i] = src.Data[i] + a*x
		}
		if i := dst.FirstNonFinite(); i >= 0 {
			return fmt.Errorf("parameter %q element %d is not finite after the transfer (α = %g)", name, i, alpha)
		}
	}
	return nil
}

// ChooseAlpha scores θ_B + α·Δ on the held-out samples for every α of the
// grid and returns the best point (highest accuracy, then lowest loss) with
// the whole curve.
func ChooseAlpha(ctx context.Context, target model.Model, delta Delta, heldout Samples, grid []float64, opts Options) (AlphaPoint, []AlphaPoint, error) {
	opts = opts.withDefaults()
	if heldout.Len() == 0 {
		return AlphaPoint{}, nil, fmt.Errorf("choosing α needs held-out calibration samples, and there are none")
	}
	var best AlphaPoint
	curve := make([]AlphaPoint, 0, len(grid))
	// One candidate model serves every α: its delta parameters are
	// rewritten in place, so that the grid leaves no model-sized garbage
	// behind (11 copies of a language model's weights otherwise).
	var m model.Model
	for i, a := range grid {
		var err error
		if m == nil {
			m, err = Apply(target, delta, a, nil)
		} else {
			err = reapply(m, target, delta, a)
		}
		if err != nil {
			return AlphaPoint{}, nil, err
		}
		r, err := eval.Evaluate(ctx, opts.Backend, m, heldout.Inputs, heldout.Labels, 256)
		if err != nil {
			return AlphaPoint{}, nil, err
		}
		pt := AlphaPoint{Alpha: a, Accuracy: r.Accuracy, Loss: r.Loss}
		curve = append(curve, pt)
		if i == 0 || pt.better(best) {
			best = pt
		}
		opts.progress("alpha", i+1, len(grid))
	}
	return best, curve, nil
}
