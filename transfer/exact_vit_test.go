package transfer

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

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
		for _, n := range []string{"query", "key"} {
			set(b+"attention.attention."+n+".weight", p.qk[l], res)
			set(b+"attention.attention."+n+".bias", p.qk[l])
		}
		set(b+"attention.attention.value.weight", p.v[l], res)
		set(b+"attention.attention.value.bias", p.v[l])
		set(b+"attention.output.dense.weight", res, p.v[l])
		set(b+"attention.output.dense.bias", res)
		set(b+"intermediate.dense.weight", p.mlp[l], res)
		set(b+"intermediate.dense.bias", p.mlp[l])
		set(b+"output.dense.weight", res, p.mlp[l])
		set(b+"output.dense.bias", res)
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

// TestBiCoRecoversPermutedViT: B is A with its residual stream, heads,
// within-head coordinates and MLP units permuted (functionally identical),
// so BiCo with α = 1 must return the correspondingly permuted τ_A and B's
// transferred model must reproduce A's fine-tuned logits.
func TestBiCoRecoversPermutedViT(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	perms := newVitPerms(rand.New(rand.NewPCG(4, 4)), 8, 2, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
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
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runMethodOpts(t, Models{a, aft, b}, calib, c.method, 1, c.opts)
			for name, w := range want {
				d := res.Delta[name]
				if d == nil {
					t.Errorf("%s: no delta", name)
					continue
				}
				if e := relErr(d, w); e > 2e-3 {
					t.Errorf("%s: transported delta differs from the permuted τ_A by %.3g (relative)", name, e)
				}
			}
			if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
				t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
			}
		})
	}
}

// TestTheseusCannotSeeExpansions: with activation statistics on the output
// side, an expansion layer (intermediate.dense maps width 8 to 12) has a
// rank-deficient output statistic, so the part of τ_A in its null space is
// lost even when B is an exact permutation of A. This is the case BiCo's
// output gradients exist for; every other site is exact.
func TestTheseusCannotSeeExpansions(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	perms := newVitPerms(rand.New(rand.NewPCG(4, 4)), 8, 2, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
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
	a := tinyViT(t, 1)
	perms := newVitPerms(rand.New(rand.NewPCG(4, 4)), 8, 2, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
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
