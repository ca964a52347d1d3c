package experiment

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/transfer"
)

// SiteAlignment is how well the source's and the target's rows of one
// statistic can be aligned by an orthogonal map: the normalised Procrustes
// score
//
//	‖C‖_* / √(Σ‖a‖² · Σ‖b‖²),  C = Σ a bᵀ,
//
// which is 1 exactly when the target's rows are an orthogonal (or
// semi-orthogonal) image of the source's, b = Tᵀa for every row, and near 0
// when they are unrelated. (A map's own Quality, tr(TᵀC)/‖C‖_*, is 1 by
// construction for the SVD solution and says nothing about the data.)
type SiteAlignment struct {
	Family    string  `json:"family"`
	Pair      string  `json:"pair"`
	Task      string  `json:"task"`
	K         int     `json:"k"`
	Seed      uint64  `json:"seed"`
	Statistic string  `json:"statistic"`
	Kind      string  `json:"kind"`
	SpaceB    string  `json:"space_target"`
	Rank      int     `json:"rank"`
	Score     float64 `json:"score"`
	// Centered is the same score of the centred rows (the mean row of
	// each side removed), which a large common mean (ReLU activations are
	// never negative) cannot inflate.
	Centered float64 `json:"score_centered"`
}

// Alignment measures, on the statistics part of the K-per-class
// calibration samples of seed, the alignment score of every statistic of
// the four kinds (input and output activations, input and output
// gradients) of a pair's sites.
func Alignment(ctx context.Context, family string, p Pair, k int, seed uint64) ([]SiteAlignment, error) {
	be := p.Options.Backend
	if be == nil {
		be = linalg.MustDefault()
	}
	calib, err := data.PerClass(p.CalibPool, k, seed)
	if err != nil {
		return nil, err
	}
	stats, _, _, err := split(calib, seed)
	if err != nil {
		return nil, err
	}
	opts := p.Options
	opts.Backend = be
	// A whitening power > 0 makes Prepare accumulate the Gram matrices,
	// whose traces are Σ‖a‖² and Σ‖b‖²; no map is computed from them here.
	opts.Whiten = 1e-12
	opts.Progress = nil
	needs := transfer.Needs{In: []transfer.Kind{transfer.InputAct, transfer.InputGrad}, Out: []transfer.Kind{transfer.OutputAct, transfer.OutputGrad}}
	prep, err := transfer.Prepare(ctx, transfer.Models{SourceBase: p.Source, SourceFinetuned: p.SourceFT, TargetBase: p.Target}, samples(stats), needs, opts)
	if err != nil {
		return nil, fmt.Errorf("%s %s: alignment: %w", p.Name, p.Task, err)
	}
	var out []SiteAlignment
	for key, s := range prep.Stats {
		score, rank, err := procrustesScore(be, s, false)
		if err != nil {
			return nil, fmt.Errorf("%s %s: alignment of %s: %w", p.Name, p.Task, key, err)
		}
		centred, _, err := procrustesScore(be, s, true)
		if err != nil {
			return nil, fmt.Errorf("%s %s: alignment of %s: %w", p.Name, p.Task, key, err)
		}
		out = append(out, SiteAlignment{
			Family: family, Pair: p.Name, Task: p.Task, K: k, Seed: seed,
			Statistic: key.String(), Kind: key.Kind.String(), SpaceB: key.B, Rank: rank, Score: score, Centered: centred,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Statistic < out[j].Statistic })
	return out, nil
}

// AlignmentGrid runs Alignment for every pair and task of the grid at its
// largest K and first seed.
func AlignmentGrid(ctx context.Context, g Grid) ([]SiteAlignment, error) {
	b := g.Family
	pairs, tasks := g.Pairs, g.Tasks
	if pairs == nil {
		pairs = DefaultPairs
	}
	if tasks == nil {
		tasks = b.Tasks
	}
	if len(g.Ks) == 0 || len(g.Seeds) == 0 {
		return nil, fmt.Errorf("experiment: alignment needs calibration sizes and seeds")
	}
	k := g.Ks[0]
	for _, x := range g.Ks {
		k = max(k, x)
	}
	progress := g.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	stage := "alignment " + b.Family.Name
	var out []SiteAlignment
	for i, ps := range pairs {
		src, tgt := b.Bases[ps.Source], b.Bases[ps.Target]
		if src == nil || tgt == nil {
			return nil, fmt.Errorf("experiment: family %s has no models for pair %s", b.Family.Name, ps.Name())
		}
		for j, task := range tasks {
			srcFT := b.FineTuned[ps.Source][task]
			if srcFT == nil {
				return nil, fmt.Errorf("experiment: family %s has no fine-tune of %s on %q", b.Family.Name, ps.Source, task)
			}
			p := Pair{Name: ps.Name(), Task: task, Source: src.Model, SourceFT: srcFT.Model, Target: tgt.Model, CalibPool: b.TaskTrain[task], Options: g.Options}
			al, err := Alignment(ctx, b.Family.Name, p, k, g.Seeds[0])
			if err != nil {
				return nil, err
			}
			out = append(out, al...)
			progress(stage, i*len(tasks)+j+1, len(pairs)*len(tasks))
		}
	}
	return out, nil
}

// procrustesScore is ‖C‖_* / √(Σ‖a‖²·Σ‖b‖²) of a statistic, of its
// centred rows when center is set, with the numerical rank of C.
func procrustesScore(be linalg.Backend, s *transfer.Stat, center bool) (float64, int, error) {
	c := s.C
	var ta, tb float64
	for i := range s.DA {
		ta += s.GramA[i*s.DA+i]
	}
	for i := range s.DB {
		tb += s.GramB[i*s.DB+i]
	}
	if center && s.Rows > 0 {
		n := float64(s.Rows)
		c = make([]float64, len(s.C))
		for i := range s.DA {
			for j := range s.DB {
				c[i*s.DB+j] = s.C[i*s.DB+j] - s.SumA[i]*s.SumB[j]/n
			}
		}
		for _, v := range s.SumA {
			ta -= v * v / n
		}
		for _, v := range s.SumB {
			tb -= v * v / n
		}
	}
	r, err := linalg.ProcrustesWith(be, c, s.DA, s.DB, linalg.ProcrustesOptions{Method: linalg.MethodSVD})
	if err != nil {
		return 0, 0, err
	}
	var nuc float64
	for _, v := range r.Singular {
		nuc += v
	}
	if !(ta > 0 && tb > 0) {
		return math.NaN(), r.Rank, nil
	}
	return nuc / math.Sqrt(ta*tb), r.Rank, nil
}

// ReusableAlignment returns the scores of earlier runs for every pair and
// task of the grid, at its largest K and first seed, when old holds them
// all (with centred scores), else nil.
func ReusableAlignment(old []SiteAlignment, g Grid) []SiteAlignment {
	if len(old) == 0 || g.Family == nil || len(g.Ks) == 0 || len(g.Seeds) == 0 {
		return nil
	}
	pairs, tasks := g.Pairs, g.Tasks
	if pairs == nil {
		pairs = DefaultPairs
	}
	if tasks == nil {
		tasks = g.Family.Tasks
	}
	k := g.Ks[0]
	for _, x := range g.Ks {
		k = max(k, x)
	}
	var out []SiteAlignment
	for _, ps := range pairs {
		for _, task := range tasks {
			n := 0
			for _, a := range old {
				if a.Family == g.Family.Family.Name && a.Pair == ps.Name() && a.Task == task && a.K == k && a.Seed == g.Seeds[0] && a.Centered != 0 {
					out = append(out, a)
					n++
				}
			}
			if n == 0 {
				return nil
			}
		}
	}
	return out
}
