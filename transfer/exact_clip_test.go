package transfer

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/bico-dev/bico/model"
)

// applyCLIP returns the permuted copy of a CLIP vision classifier's
// parameters, with the same permutations as vitPerms.apply.
func (p vitPerms) applyCLIP(src params) params {
	out := params{}
	res := p.res
	for name, v := range src {
		out[name] = v.Clone()
	}
	set := func(name string, perms ...[]int) { out[name] = permuteAxes(src[name], perms...) }
	v := "vision_model."
	set(v+"embeddings.patch_embedding.weight", res)
	set(v+"embeddings.class_embedding", res)
	set(v+"embeddings.position_embedding.weight", nil, res)
	for _, n := range []string{"pre_layrnorm", "post_layernorm"} {
		set(v+n+".weight", res)
		set(v+n+".bias", res)
	}
	for l := range p.qk {
		b := v + "encoder.layers." + strconv.Itoa(l) + "."
		p.permuteBlock(set, l, b+"self_attn.q_proj", b+"self_attn.k_proj", b+"self_attn.v_proj", b+"self_attn.out_proj", b+"mlp.fc1", b+"mlp.fc2")
		for _, n := range []string{"layer_norm1", "layer_norm2"} {
			set(b+n+".weight", res)
			set(b+n+".bias", res)
		}
	}
	set("classifier.weight", nil, res)
	return out
}

// TestBiCoRecoversPermutedCLIP: B is a CLIP vision classifier A with its
// residual stream, heads, within-head coordinates and MLP units permuted,
// so BiCo must return the permuted τ_A and B's transferred model A's
// fine-tuned logits; also when the bases have no head (CLIPModel
// checkpoints have no classifier).
//
// The classifier reads the mean of the last block's patch tokens with no
// norm in between, so the output gradients of the last block's fc2 span
// only the classifier's rows: with fewer labels than the width, its output
// map cannot be recovered from gradients (bico-blend's activation part
// can). Ten labels for a width of 8 make every map recoverable here.
func TestBiCoRecoversPermutedCLIP(t *testing.T) {
	cfg := model.CLIPVisionConfig{HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 12, ImageSize: 8, PatchSize: 4,
		NumChannels: 1, Labels: strings.Split("abcdefghij", "")}.Map()
	cfg["vision_config"].(map[string]any)["initializer_range"] = 0.3
	built, err := model.Build(cfg, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := perturbed(t, built, 101, 0.1)
	aft := perturbed(t, a, 2, 0.05)
	perms := newVitPerms(rand.New(rand.NewPCG(4, 4)), 8, 2, 12, 2)
	b, err := model.WithParams(a, perms.applyCLIP(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
	calib := randomSamples(128, 10, 9, 1, 8, 8)
	if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
		t.Fatalf("the permuted CLIP is not functionally equal to the source: logits differ by %.3g", e)
	}
	want := perms.applyCLIP(taskVectors(t, a, aft))
	check := func(t *testing.T, ms Models, skipHead bool) {
		res := runMethodOpts(t, ms, calib, "bico", 1, Options{})
		for name, w := range want {
			if name == "vision_model.post_layernorm.weight" || name == "vision_model.post_layernorm.bias" ||
				(skipHead && (name == "classifier.weight" || name == "classifier.bias")) {
				continue // post_layernorm does not reach the logits: no map sees it
			}
			if e := relErr(res.Delta[name], w); e > 2e-3 {
				t.Errorf("%s: transported delta differs from the permuted τ_A by %.3g (relative)", name, e)
			}
		}
		if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
			t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
		}
	}
	t.Run("same labels", func(t *testing.T) { check(t, Models{a, aft, b}, false) })
	t.Run("headless bases", func(t *testing.T) {
		labels, _ := model.Labels(a.Config())
		var ms Models
		ms.SourceFinetuned = aft
		for i, m := range []model.Model{a, b} {
			zero, err := model.WithHead(m, labels, model.Params(m)["classifier.weight"].Clone(), nil)
			if err != nil {
				t.Fatal(err)
			}
			clear(zero.Param("classifier.weight").Value.Data)
			if i == 0 {
				ms.SourceBase = zero
			} else {
				ms.TargetBase = zero
			}
		}
		check(t, ms, true)
	})
}
