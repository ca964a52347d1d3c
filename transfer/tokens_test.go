package transfer

import (
	"math"
	"testing"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

func TestResampleGrid(t *testing.T) {
	// Same size: the identity.
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	dst := make([]float32, 9)
	ResampleGrid(dst, src, 3, 3, 1)
	for i := range src {
		if dst[i] != src[i] {
			t.Fatalf("same-size resample changed cell %d: %v", i, dst)
		}
	}
	// A linear ramp stays a ramp (interior cells are interpolated exactly).
	ramp := make([]float32, 16)
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			ramp[y*4+x] = float32(x)
		}
	}
	up := make([]float32, 64)
	ResampleGrid(up, ramp, 4, 8, 1)
	for x := 1; x < 7; x++ {
		want := (float64(x)+0.5)*0.5 - 0.5
		if got := float64(up[3*8+x]); math.Abs(got-want) > 1e-6 {
			t.Errorf("upsampled ramp at x=%d: %g, want %g", x, got, want)
		}
	}
}

func TestAlignTokensKeepsClassToken(t *testing.T) {
	src := tensor.New[float32](2, 5, 3) // class token + 2×2 grid
	for i := range src.Data {
		src.Data[i] = float32(i)
	}
	out, err := alignTokens(src, 17) // class token + 4×4 grid
	if err != nil {
		t.Fatal(err)
	}
	if out.Shape[1] != 17 {
		t.Fatalf("shape %v", out.Shape)
	}
	for b := 0; b < 2; b++ {
		for j := 0; j < 3; j++ {
			if out.Data[b*17*3+j] != src.Data[b*5*3+j] {
				t.Errorf("class token of sample %d changed", b)
			}
		}
	}
	if _, err := alignTokens(src.View(2, 5*3/5, 5), 7); err == nil {
		t.Error("token counts 3 → 7 (no square grid) gave no error")
	}
}

// TestTransferAcrossPatchSizes: source and target with different patch
// sizes (5 and 17 tokens) transfer with every token rule, and the position
// table is interpolated to the target's length.
func TestTransferAcrossPatchSizes(t *testing.T) {
	build := func(patch int, seed uint64) model.Model {
		cfg := model.ViTConfig{HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 12, ImageSize: 8, PatchSize: patch,
			NumChannels: 1, Labels: []string{"a", "b", "c"}}.Map()
		m, err := model.Build(cfg, nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(4, 1)
	aft := perturbed(t, a, 2, 0.05)
	b := build(2, 3)
	calib := randomSamples(24, 3, 9, 1, 8, 8)
	for _, rule := range []TokenRule{TokensResample, TokensClass, TokensMean} {
		res := runMethodOpts(t, Models{a, aft, b}, calib, "bico", 1, Options{Tokens: rule})
		pos := res.Delta["vit.embeddings.position_embeddings"]
		if pos == nil || pos.Dim(1) != 17 {
			t.Fatalf("%s: position delta %v, want 17 rows", rule, pos)
		}
		for name, d := range res.Delta {
			if i := d.FirstNonFinite(); i >= 0 {
				t.Errorf("%s: %s element %d not finite", rule, name, i)
			}
		}
	}
}
