package transfer

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
)

// TestInPartsMatchesOnePass: a transfer in parts (one calibration pass per
// run of blocks) gives the delta of one pass, for a ViT and a Llama, with
// bico and theseus, and the maps' reports of every part.
func TestInPartsMatchesOnePass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ms     Models
		calib  Samples
		method string
	}{
		{"vit bico", vitModels(t), randomSamples(12, 3, 3, 1, 8, 8), "bico"},
		{"vit theseus", vitModels(t), randomSamples(12, 3, 3, 1, 8, 8), "theseus"},
		{"llama bico", llamaModels(t), tokenSamples(12, 6, 20, 3, 3), "bico"},
		// The target's table takes the moved table and lm_head deltas,
		// which different parts compute.
		{"untied to tied llama bico", untiedToTied(t), tokenSamples(12, 6, 20, 3, 3), "bico"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := Lookup(tc.method)
			opts := Options{Backend: linalg.MustDefault(), BatchSize: 5}
			p, err := Prepare(context.Background(), tc.ms, tc.calib, m.Needs(), opts)
			if err != nil {
				t.Fatal(err)
			}
			want, wantMaps, err := m.Delta(p)
			if err != nil {
				t.Fatal(err)
			}
			// Statistics of at most 1 KiB: every block is a part.
			pp, cm, err := PrepareInParts(context.Background(), tc.ms, tc.calib, m, opts, 1024)
			if err != nil {
				t.Fatal(err)
			}
			if pp.Parts < 3 || len(pp.Stats) != 0 || len(pp.Pairs) != len(p.Pairs) {
				t.Fatalf("%d parts, %d statistics left, %d pairs (one pass: %d)", pp.Parts, len(pp.Stats), len(pp.Pairs), len(p.Pairs))
			}
			got, gotMaps, err := cm.Delta(pp)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Errorf("%d parameters in parts, %d in one pass", len(got), len(want))
			}
			for name, w := range want {
				g := got[name]
				if g == nil {
					t.Errorf("%s: no delta in parts", name)
					continue
				}
				for i, v := range w.Data {
					if math.Abs(float64(g.Data[i]-v)) > 1e-6*(1+math.Abs(float64(v))) {
						t.Errorf("%s[%d]: in parts %g, one pass %g", name, i, g.Data[i], v)
						break
					}
				}
			}
			res, err := Finish(context.Background(), pp, cm, Samples{}, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !(res.DeltaSeconds > 0) || res.Method != tc.method {
				t.Errorf("finished in parts: method %q, %g s of maps and transport", res.Method, res.DeltaSeconds)
			}
			if len(gotMaps) < len(wantMaps) {
				t.Errorf("%d maps reported in parts, %d in one pass", len(gotMaps), len(wantMaps))
			}
		})
	}
}

// TestInPartsRefusesTunable: bico-blend chooses β from every statistic at
// once, which parts do not keep.
func TestInPartsRefusesTunable(t *testing.T) {
	m, _ := Lookup("bico-blend")
	_, _, err := PrepareInParts(context.Background(), llamaModels(t), tokenSamples(6, 6, 20, 3, 3), m, Options{}, 1024)
	if err == nil || !strings.Contains(err.Error(), "use bico") {
		t.Errorf("bico-blend in parts: error %v, want one suggesting bico", err)
	}
}

// TestSplitPairs: runs keep blocks whole, stay under the limit when a block
// fits, and cover every pair once, in order.
func TestSplitPairs(t *testing.T) {
	ms := llamaModels(t)
	p, err := plan(context.Background(), ms, tokenSamples(6, 6, 20, 3, 3), Needs{In: []Kind{InputAct}, Out: []Kind{OutputGrad}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	one := splitPairs(p.Pairs, p.Needs, false, 0)
	if len(one) != 1 || len(one[0]) != len(p.Pairs) {
		t.Fatalf("no limit: %d runs", len(one))
	}
	for _, limit := range []int64{1, 3000, 6000, 1 << 20} {
		runs := splitPairs(p.Pairs, p.Needs, false, limit)
		var flat []SitePair
		blockRun := map[int]int{}
		for r, run := range runs {
			var bytes int64
			seen := map[StatKey]bool{}
			for _, sp := range run {
				for _, k := range pairStats(sp, p.Needs) {
					if !seen[k.key] {
						seen[k.key] = true
						bytes += statBytes(k.dA, k.dB, false)
					}
				}
				if b := sp.B.Block; b >= 0 {
					if prev, ok := blockRun[b]; ok && prev != r {
						t.Errorf("limit %d: block %d in runs %d and %d", limit, b, prev, r)
					}
					blockRun[b] = r
				}
			}
			blocks := map[int]bool{}
			for _, sp := range run {
				blocks[sp.B.Block] = true
			}
			if bytes > limit && len(blocks) > 1 {
				t.Errorf("limit %d: run %d of %d bytes spans %d blocks", limit, r, bytes, len(blocks))
			}
			flat = append(flat, run...)
		}
		if len(flat) != len(p.Pairs) {
			t.Fatalf("limit %d: %d pairs in the runs, want %d", limit, len(flat), len(p.Pairs))
		}
		for i := range flat {
			if flat[i].B.Name != p.Pairs[i].B.Name {
				t.Fatalf("limit %d: pair %d is %s, want %s", limit, i, flat[i].B.Name, p.Pairs[i].B.Name)
			}
		}
	}
}

// vitModels are a tiny ViT A, A fine-tuned (perturbed) and another ViT B.
func vitModels(t *testing.T) Models {
	a := tinyViT(t, 1)
	return Models{SourceBase: a, SourceFinetuned: perturbed(t, a, 7, 0.3), TargetBase: tinyViT(t, 2)}
}

// llamaModels are a tiny Llama A, A fine-tuned (perturbed) and another
// Llama B.
func llamaModels(t *testing.T) Models {
	a := tinyLlama(t, 1)
	return Models{SourceBase: a, SourceFinetuned: perturbed(t, a, 7, 0.3), TargetBase: tinyLlama(t, 2)}
}

// TestAutoPartBytes: a third of the memory not yet in use; no limit when
// the machine's memory is unknown.
func TestAutoPartBytes(t *testing.T) {
	if got := autoPartBytes(0, 5); got >= 0 {
		t.Errorf("unknown memory: %d, want no limit (negative)", got)
	}
	if got := autoPartBytes(30<<30, 6<<30); got != 8<<30 {
		t.Errorf("24 GiB free: %d, want 8 GiB", got)
	}
	if got := autoPartBytes(4<<30, 6<<30); got != 1 {
		t.Errorf("nothing free: %d, want 1 (one block per part)", got)
	}
}

// untiedToTied returns an untied causal Llama, a fine-tune of it and a tied
// causal Llama of another seed.
func untiedToTied(t *testing.T) Models {
	build := func(tied bool, seed uint64) model.Model {
		m, err := model.Build(model.LlamaConfig{VocabSize: 20, HiddenSize: 8, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 4,
			IntermediateSize: 12, CausalLM: true, TieEmbeddings: tied}.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(false, 1)
	return Models{a, perturbed(t, a, 2, 0.05), build(true, 3)}
}
