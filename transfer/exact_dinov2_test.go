package transfer

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/bico-dev/bico/model"
)

// applyDINOv2 returns the permuted copy of a DINOv2 classifier's parameters
// (prefix pre), with the permutations of vitPerms.apply; LayerScale vectors
// follow the residual stream, and the classifier's inputs (the class token
// beside the patch tokens' mean) it on both halves.
func (p vitPerms) applyDINOv2(src params, pre string) params {
	out := params{}
	res := p.res
	for name, v := range src {
		out[name] = v.Clone()
	}
	set := func(name string, perms ...[]int) {
		if _, ok := src[name]; ok {
			out[name] = permuteAxes(src[name], perms...)
		}
	}
	e := pre + ".embeddings."
	set(e+"patch_embeddings.projection.weight", res)
	set(e+"patch_embeddings.projection.bias", res)
	set(e+"cls_token", nil, nil, res)
	set(e+"mask_token", nil, res)
	set(e+"register_tokens", nil, nil, res)
	set(e+"position_embeddings", nil, nil, res)
	for l := range p.qk {
		b := pre + ".encoder.layer." + strconv.Itoa(l) + "."
		mlpIn, mlpOut := b+"mlp.fc1", b+"mlp.fc2"
		if _, swiglu := src[b+"mlp.weights_out.weight"]; swiglu {
			mlpIn, mlpOut = b+"mlp.weights_in.up", b+"mlp.weights_out"
			set(b+"mlp.weights_in.gate.weight", p.mlp[l], res)
			set(b+"mlp.weights_in.gate.bias", p.mlp[l])
		}
		p.permuteBlock(set, l, b+"attention.attention.query", b+"attention.attention.key", b+"attention.attention.value",
			b+"attention.output.dense", mlpIn, mlpOut)
		for _, n := range []string{"norm1", "norm2"} {
			set(b+n+".weight", res)
			set(b+n+".bias", res)
		}
		set(b+"layer_scale1.lambda1", res)
		set(b+"layer_scale2.lambda1", res)
	}
	set(pre+".layernorm.weight", res)
	set(pre+".layernorm.bias", res)
	pooled := append(append([]int{}, res...), res...)
	for i := len(res); i < len(pooled); i++ {
		pooled[i] += len(res)
	}
	set("classifier.weight", nil, pooled)
	return out
}

// TestBiCoRecoversPermutedDINOv2: B is a DINOv2 classifier A (with and
// without register tokens, and with giant's SwiGLU MLP) with its residual stream, heads, within-head
// coordinates and MLP units permuted, so BiCo must return the permuted τ_A
// (LayerScale vectors, mask and register tokens included) and B's
// transferred model A's fine-tuned logits. The calibration images (12×8
// pixels for a table of 2×2 patches) read the position table resampled,
// so its delta reaches it through the resampling.
func TestBiCoRecoversPermutedDINOv2(t *testing.T) {
	for _, c := range []struct {
		name, mt  string
		registers int
		swiglu    bool
	}{{"dinov2", "dinov2", 0, false}, {"with registers", "dinov2_with_registers", 2, false}, {"swiglu", "dinov2", 0, true}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := map[string]any{
				"model_type": c.mt, "architectures": []any{"Dinov2ForImageClassification"},
				"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_ratio": 1.5,
				"image_size": 8, "patch_size": 4, "num_channels": 1, "initializer_range": 0.3,
				"layerscale_value": 0.7, "num_register_tokens": c.registers, "use_swiglu_ffn": c.swiglu,
			}
			if c.swiglu {
				cfg["mlp_ratio"] = 2.25 // 18 units, two thirds of them rounded up to 16
			}
			cfg = model.SetLabels(cfg, []string{"a", "b", "c"})
			built, err := model.Build(cfg, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			a := perturbed(t, built, 101, 0.1)
			aft := perturbed(t, a, 2, 0.05)
			units := 12
			if c.swiglu {
				units = 16
			}
			perms := newVitPerms(rand.New(rand.NewPCG(4, 4)), 8, 2, units, 2)
			b, err := model.WithParams(a, perms.applyDINOv2(model.Params(a), c.mt))
			if err != nil {
				t.Fatal(err)
			}
			calib := randomSamples(64, 3, 9, 1, 12, 8)
			if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
				t.Fatalf("the permuted DINOv2 is not functionally equal to the source: logits differ by %.3g", e)
			}
			want := perms.applyDINOv2(taskVectors(t, a, aft), c.mt)
			for _, method := range []string{"bico", "bico-blend"} {
				res := runMethodOpts(t, Models{a, aft, b}, calib, method, 1, Options{})
				checkRecovered(t, res, want, aft, calib.Inputs, 2e-3)
			}
		})
	}
}
