package transfer

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// blockAlphaFactors are the multiples of the global α that refineBlockAlpha
// tries for each block.
var blockAlphaFactors = []float64{0, 0.5, 1.5, 2}

// paramBlocks maps every parameter of m that belongs to a linear site or a
// vector to its block index (−1 for the embeddings and the head).
func paramBlocks(m model.Model) map[string]int {
	out := map[string]int{}
	for _, s := range m.Sites() {
		out[s.Weight] = s.Block
		if s.Bias != "" {
			out[s.Bias] = s.Block
		}
	}
	for _, v := range m.Vectors() {
		out[v.Name] = v.Block
	}
	return out
}

// refineBlockAlpha gives each block its own α (METHOD.md §7): starting from
// the global α, it tries each block's α at the factors of
// blockAlphaFactors in turn, keeping a change when it lowers the held-out
// loss. It returns the per-block factors and the scaled delta (at α = 1).
func refineBlockAlpha(ctx context.Context, p *Prepared, delta Delta, alpha float64, heldout Samples) (map[int]float64, Delta, error) {
	blockOf := paramBlocks(p.Models.TargetBase)
	var blocks []int
	seen := map[int]bool{}
	for _, b := range blockOf {
		if !seen[b] {
			seen[b] = true
			blocks = append(blocks, b)
		}
	}
	sort.Ints(blocks)
	factor := map[int]float64{}
	for _, b := range blocks {
		factor[b] = 1
	}
	score := func() (float64, error) {
		m, err := Apply(p.Models.TargetBase, scaleDelta(delta, blockOf, factor, alpha), 1, nil)
		if err != nil {
			return 0, err
		}
		r, err := eval.Evaluate(ctx, p.Options.Backend, m, heldout.Inputs, heldout.Labels, 256)
		return r.Loss, err
	}
	best, err := score()
	if err != nil {
		return nil, nil, err
	}
	for _, b := range blocks {
		for _, f := range blockAlphaFactors {
			old := factor[b]
			factor[b] = f
			loss, err := score()
			if err != nil {
				return nil, nil, err
			}
			if loss < best {
				best = loss
			} else {
				factor[b] = old
			}
		}
	}
	return factor, scaleDelta(delta, blockOf, factor, alpha), nil
}

// scaleDelta returns delta with every parameter scaled by α times its
// block's factor.
func scaleDelta(delta Delta, blockOf map[string]int, factor map[int]float64, alpha float64) Delta {
	out := Delta{}
	for name, d := range delta {
		f, ok := factor[blockOf[name]]
		if !ok {
			f = 1
		}
		s := tensor.New[float32](d.Shape...)
		k := float32(alpha * f)
		for i, v := range d.Data {
			s.Data[i] = k * v
		}
		out[name] = s
	}
	return out
}

// describeFactors renders per-block factors as "block α×: emb 1, 0 1.5, ...".
func describeFactors(f map[int]float64) string {
	var keys []int
	for b := range f {
		keys = append(keys, b)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, b := range keys {
		name := fmt.Sprint(b)
		if b < 0 {
			name = "emb/head"
		}
		parts[i] = fmt.Sprintf("%s %g", name, f[b])
	}
	return "block α×: " + strings.Join(parts, ", ")
}
