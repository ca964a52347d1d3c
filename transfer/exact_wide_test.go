package transfer

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// TestBiCoRecoversWiderViTMLP: B is A with every block's MLP embedded in a
// wider one (16 hidden units instead of 12; the extra units have zero
// weights in and out, and A's units sit at permuted positions), so B is
// functionally A and BiCo with α = 1 must put τ_A exactly on A's units.
func TestBiCoRecoversWiderViTMLP(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	cfg := a.Config()
	cfg["intermediate_size"] = 16
	rng := rand.New(rand.NewPCG(6, 6))
	pos := [][]int{rng.Perm(16)[:12], rng.Perm(16)[:12]}
	embed := func(src params) params {
		out := params{}
		for n, v := range src {
			out[n] = v.Clone()
		}
		for l, p := range pos {
			b := "vit.encoder.layer." + strconv.Itoa(l) + "."
			in, bias, back := tensor.New[float32](16, 8), tensor.New[float32](16), tensor.New[float32](8, 16)
			for i, at := range p {
				copy(in.Data[at*8:at*8+8], src[b+"intermediate.dense.weight"].Data[i*8:i*8+8])
				bias.Data[at] = src[b+"intermediate.dense.bias"].Data[i]
				for r := 0; r < 8; r++ {
					back.Data[r*16+at] = src[b+"output.dense.weight"].Data[r*12+i]
				}
			}
			out[b+"intermediate.dense.weight"], out[b+"intermediate.dense.bias"], out[b+"output.dense.weight"] = in, bias, back
		}
		return out
	}
	b, err := model.Build(cfg, embed(model.Params(a)), 0)
	if err != nil {
		t.Fatal(err)
	}
	calib := randomSamples(64, 3, 9, 1, 8, 8)
	if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
		t.Fatalf("the widened ViT is not functionally equal to the source: logits differ by %.3g", e)
	}
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	for name, w := range embed(taskVectors(t, a, aft)) {
		if e := relErr(res.Delta[name], w); e > 2e-3 {
			t.Errorf("%s: transported delta differs from the embedded τ_A by %.3g (relative)", name, e)
		}
	}
	if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
		t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
	}
}
