package transfer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
)

// vitPerms are the coordinate permutations that make a functionally
// identical copy of a ViT: the residual stream, and per block the heads,
// the within-head coordinates of query/key and of value, and the MLP
// hidden units.
type vitPerms struct {
	res        []int
	qk, v, mlp [][]int // per block, over the full width
}

func newVitPerms(rng *rand.Rand, d, heads, inter, layers int) vitPerms {
	dh := d / heads
	p := vitPerms{res: rng.Perm(d)}
	for l := 0; l < layers; l++ {
		hp, wq, wv := rng.Perm(heads), rng.Perm(dh), rng.Perm(dh)
		qk, v := make([]int, d), make([]int, d)
		for h := 0; h < heads; h++ {
			for j := 0; j < dh; j++ {
				qk[h*dh+j] = hp[h]*dh + wq[j]
				v[h*dh+j] = hp[h]*dh + wv[j]
			}
		}
		p.qk, p.v, p.mlp = append(p.qk, qk), append(p.v, v), append(p.mlp, rng.Perm(inter))
	}
	return p
}

// apply returns the permuted copy of a ViT parameter set.
func (p vitPerms) apply(src params) params {
	out := params{}
	res := p.res
	for name, v := range src {
		out[name] = v.Clone()
	}
	set := func(name string, perms ...[]int) { out[name] = permuteAxes(src[name], perms...) }
	pe := "vit.embeddings."
	set(pe+"patch_embeddings.projection.weight", res)
	set(pe+"patch_embeddings.projection.bias", res)
	set(pe+"cls_token", nil, nil, res)
	set(pe+"position_embeddings", nil, nil, res)
	for l := range p.qk {
		b := "vit.encoder.layer." + strconv.Itoa(l) + "."
		p.permuteBlock(set, l, b+"attention.attention.query", b+"attention.attention.key", b+"attention.attention.value",
			b+"attention.output.dense", b+"intermediate.dense", b+"output.dense")
		for _, n := range []string{"layernorm_before", "layernorm_after"} {
			set(b+n+".weight", res)
			set(b+n+".bias", res)
		}
	}
	set("vit.layernorm.weight", res)
	set("vit.layernorm.bias", res)
	set("classifier.weight", nil, res)
	return out
}

// permuteBlock permutes block l's linear layers (weights and biases) with
// p's permutations: the query and key rows by the block's query/key
// permutation, the value rows by its value permutation, the attention
// output's columns by that too and the MLP's hidden units by its MLP
// permutation, the residual stream's coordinates by p.res.
func (p vitPerms) permuteBlock(set func(name string, perms ...[]int), l int, query, key, value, out, mlpIn, mlpOut string) {
	res := p.res
	for _, n := range []string{query, key} {
		set(n+".weight", p.qk[l], res)
		set(n+".bias", p.qk[l])
	}
	set(value+".weight", p.v[l], res)
	set(value+".bias", p.v[l])
	set(out+".weight", res, p.v[l])
	set(out+".bias", res)
	set(mlpIn+".weight", p.mlp[l], res)
	set(mlpIn+".bias", p.mlp[l])
	set(mlpOut+".weight", res, p.mlp[l])
	set(mlpOut+".bias", res)
}

func tinyViT(t *testing.T, seed uint64) model.Model {
	t.Helper()
	cfg := model.ViTConfig{HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 12, ImageSize: 8, PatchSize: 4,
		NumChannels: 1, LayerNormEps: 1e-6, Labels: []string{"a", "b", "c"}}.Map()
	cfg["initializer_range"] = 0.3
	m, err := model.Build(cfg, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	// Random norm parameters, so that no statistic is degenerate.
	return perturbed(t, m, seed+100, 0.1)
}

// permutedViT returns the tiny ViT A, a fine-tuned A (A perturbed), and B:
// A with its residual stream, heads, within-head coordinates and MLP units
// permuted by perms, so functionally identical to A.
func permutedViT(t *testing.T) (a, aft, b model.Model, perms vitPerms) {
	t.Helper()
	a = tinyViT(t, 1)
	aft = perturbed(t, a, 2, 0.05)
	perms = newVitPerms(rand.New(rand.NewPCG(4, 4)), 8, 2, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
	return a, aft, b, perms
}

// TestBiCoRecoversPermutedViT: B is A with its residual stream, heads,
// within-head coordinates and MLP units permuted (functionally identical),
// so BiCo with α = 1 must return the correspondingly permuted τ_A and B's
// transferred model must reproduce A's fine-tuned logits.
func TestBiCoRecoversPermutedViT(t *testing.T) {
	a, aft, b, perms := permutedViT(t)
	calib := randomSamples(64, 3, 9, 1, 8, 8)
	if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
		t.Fatalf("the permuted ViT is not functionally equal to the source: logits differ by %.3g", e)
	}
	want := perms.apply(taskVectors(t, a, aft))
	for _, c := range []struct {
		name, method string
		opts         Options
	}{
		{"default", "bico", Options{}},
		{"shared-qk", "bico", Options{SharedQK: true}},
		{"blend shared-qk", "bico-blend", Options{SharedQK: true}},
		{"cka-pairing", "bico", Options{Pairing: PairCKA}},
		{"centred", "bico", Options{Center: true}},
		{"blend", "bico-blend", Options{}},
		{"per-site choice", "bico-site", Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runMethodOpts(t, Models{a, aft, b}, calib, c.method, 1, c.opts)
			checkRecovered(t, res, want, aft, calib.Inputs, 2e-3)
		})
	}
}

// TestTheseusCannotSeeExpansions: with activation statistics on the output
// side, an expansion layer (intermediate.dense maps width 8 to 12) has a
// rank-deficient output statistic, so the part of τ_A in its null space is
// lost even when B is an exact permutation of A. This is the case BiCo's
// output gradients exist for; every other site is exact.
func TestTheseusCannotSeeExpansions(t *testing.T) {
	a, aft, b, perms := permutedViT(t)
	res := runMethod(t, Models{a, aft, b}, randomSamples(64, 3, 9, 1, 8, 8), "theseus", 1)
	for name, w := range perms.apply(taskVectors(t, a, aft)) {
		e := relErr(res.Delta[name], w)
		if expansion := strings.Contains(name, "intermediate.dense"); expansion != (e > 2e-3) {
			t.Errorf("%s: theseus delta differs from the permuted τ_A by %.3g (expansion layer: %v)", name, e, expansion)
		}
	}
}

// TestBlockCKA: a functionally identical copy pairs every block with
// itself, at CKA 1.
func TestBlockCKA(t *testing.T) {
	a, _, b, _ := permutedViT(t)
	cka, err := BlockCKA(context.Background(), a, b, randomSamples(32, 3, 9, 1, 8, 8), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for j, i := range CKADepth(cka) {
		if i != j || math.Abs(cka[i][j]-1) > 1e-5 {
			t.Errorf("target block %d paired with %d at CKA %.6f; want itself at 1", j, i, cka[i][j])
		}
	}
}

// TestBlendSettingsRecoverPermutedViT: on a permuted copy every β of
// bico-blend recovers the permuted τ_A (β = ∞ but for the expansion
// layers); the blended maps, computed in
// parallel, equal those computed one at a time on one thread; and the maps
// of 0 < β < ∞ leave the cache once the setting's delta is built.
func TestBlendSettingsRecoverPermutedViT(t *testing.T) {
	a, aft, b, perms := permutedViT(t)
	want := perms.apply(taskVectors(t, a, aft))
	calib := randomSamples(64, 3, 9, 1, 8, 8)
	be, err := linalg.OpenThreads(linalg.MustDefault().Name(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, shared := range []bool{false, true} {
		opts := Options{Backend: be, BatchSize: 16, SharedQK: shared}
		p, err := Prepare(context.Background(), Models{a, aft, b}, calib, blend{}.Needs(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, setting := range (blend{}).Settings() {
			delta, maps, err := blend{}.DeltaWith(p, i)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				// β = ∞ maps outputs by activations alone, which cannot see
				// an expansion's null space (TestTheseusCannotSeeExpansions).
				if math.IsInf(blendBetas[i], 1) && strings.Contains(name, "intermediate.dense") {
					continue
				}
				if e := relErr(delta[name], w); e > 2e-3 {
					t.Errorf("shared q–k %v, %s: %s: delta differs from the permuted τ_A by %.3g", shared, setting, name, e)
				}
			}
			for _, m := range maps {
				if !strings.HasPrefix(m.Key.A, "sum(") {
					continue
				}
				if beta := blendBetas[i]; beta > 0 && !math.IsInf(beta, 1) && p.maps[m.Key] != nil {
					t.Errorf("%s: map %s is still cached", setting, m.Key)
				}
				one, err := p.serialCombined(m.Key)
				if err != nil {
					t.Fatal(err)
				}
				if e := maxDiff(one.T, m.T); e > 1e-12 {
					t.Errorf("%s: map %s differs from the one-thread map by %.3g", setting, m.Key, e)
				}
			}
		}
	}
}

// serialCombined recomputes, on one thread, the blended map named key.
func (p *Prepared) serialCombined(key StatKey) (*Map, error) {
	var found combo
	for _, sp := range p.Pairs {
		for _, beta := range blendBetas {
			if c, ok := (blend{}).outputCombo(p, sp, beta); ok && c.key() == key {
				found = c
			}
		}
	}
	if found.keys == nil {
		return nil, fmt.Errorf("no blend statistic is named %s", key)
	}
	sum, err := p.sumStat(found)
	if err != nil {
		return nil, err
	}
	be, err := linalg.OpenThreads(p.Options.Backend.Name(), 1)
	if err != nil {
		return nil, err
	}
	opts := p.Options
	opts.Whiten = 0
	m, _, _, err := timedMap(be, sum, opts)
	return m, err
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestSettingProgress: while a tunable method tries its settings, the
// stages it reports name the setting being tried, and afterwards they are
// reported as before.
func TestSettingProgress(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	b := tinyViT(t, 3)
	var stages []string
	opts := Options{Backend: linalg.MustDefault(), BatchSize: 16, Progress: func(stage string, done, total int) {
		if len(stages) == 0 || stages[len(stages)-1] != stage {
			stages = append(stages, stage)
		}
	}}
	p, err := Prepare(context.Background(), Models{a, aft, b}, randomSamples(32, 3, 9, 1, 8, 8), blend{}.Needs(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Finish(context.Background(), p, blend{}, randomSamples(8, 3, 10, 1, 8, 8), -1, []float64{0.5, 1}); err != nil {
		t.Fatal(err)
	}
	n := len(blendBetas)
	for _, want := range []string{
		fmt.Sprintf("β=0 (1/%d): maps", n),
		fmt.Sprintf("β=0 (1/%d): alpha", n),
		fmt.Sprintf("β=0.25 (2/%d): combined maps", n),
		fmt.Sprintf("β=+Inf (%d/%d): alpha", n, n),
	} {
		if !slices.Contains(stages, want) {
			t.Errorf("no stage %q among %q", want, stages)
		}
	}
	p.Options.Progress("after", 1, 1)
	if last := stages[len(stages)-1]; last != "after" {
		t.Errorf("after Finish a stage is reported as %q, want it unlabelled", last)
	}
}
