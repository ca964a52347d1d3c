package transfer

import (
	"math"
	"slices"
	"strings"
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

// TestAlignRowsPrefixes: rows of models that say how many tokens precede
// their patch grid pair the common prefix (class token, then registers in
// order), leave out the other side's extra registers, and resample the
// source's grid to the target's.
func TestAlignRowsPrefixes(t *testing.T) {
	rows := func(batch, n, d int, base float32) *tensor.Tensor[float32] {
		x := tensor.New[float32](batch, n, d)
		for i := range x.Data {
			x.Data[i] = base + float32(i)
		}
		return x
	}
	token := func(x *tensor.Tensor[float32], b, i int) []float32 {
		n, d := x.Shape[1], x.Shape[2]
		return x.Data[(b*n+i)*d : (b*n+i+1)*d]
	}
	same := func(p, q []float32) bool { return slices.Equal(p, q) }
	for _, c := range []struct {
		name             string
		pa, nA, pb, nB   int
		wantRows, common int
	}{
		{"class token to two registers", 1, 5, 3, 7, 5, 1},
		{"two registers to four, grid 2×2 to 3×3", 3, 7, 5, 14, 12, 3},
		{"four registers to none said (a class token)", 5, 9, -1, 10, 10, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := rows(2, c.nA, 3, 0), rows(2, c.nB, 4, 1000)
			a2, b2, err := alignRows(a, b, c.pa, c.pb)
			if err != nil {
				t.Fatal(err)
			}
			if a2.Shape[1] != c.wantRows || b2.Shape[1] != c.wantRows || a2.Shape[2] != 3 || b2.Shape[2] != 4 {
				t.Fatalf("shapes %v and %v, want %d rows each", a2.Shape, b2.Shape, c.wantRows)
			}
			pb := c.pb
			if pb < 0 {
				pb = 1
			}
			for s := 0; s < 2; s++ {
				for i := 0; i < c.common; i++ {
					if !same(token(a2, s, i), token(a, s, i)) || !same(token(b2, s, i), token(b, s, i)) {
						t.Errorf("sample %d: prefix token %d moved", s, i)
					}
				}
				// The target's patches follow the common prefix unchanged.
				if !same(token(b2, s, c.common), token(b, s, pb)) || !same(token(b2, s, c.wantRows-1), token(b, s, c.nB-1)) {
					t.Errorf("sample %d: the target's patch rows changed", s)
				}
			}
		})
	}
	if _, _, err := alignRows(rows(1, 7, 2, 0), rows(1, 9, 2, 0), 3, 3); err == nil || !strings.Contains(err.Error(), "target: 9 tokens are not 3 prefix tokens") {
		t.Errorf("9 tokens after 3 prefix tokens: error %v", err)
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
