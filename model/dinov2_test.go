package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tensor"
	"testing"
)

// TestDINOv2MatchesTorchFixtures: a Dinov2ForImageClassification on images
// whose grid (4×3) is neither square nor the table's (3×3), so the
// positions are resampled upward without antialiasing, and a
// Dinov2WithRegistersForImageClassification (two registers) on 8×8 images,
// resampled downward with antialiasing, and a DINOv2 with giant's SwiGLU
// MLP (mlp.weights_in split on load into the gate and up sites); all
// against plain-torch forward passes written by
// testdata/make_dinov2_fixture.py.
func TestDINOv2MatchesTorchFixtures(t *testing.T) {
	for _, dir := range []string{"testdata/dinov2_fixture", "testdata/dinov2_with_registers_fixture", "testdata/dinov2_swiglu_fixture"} {
		t.Run(dir, func(t *testing.T) { checkTorchFixture(t, dir) })
	}
	// As many patches as the table (a 9×1 grid for 3×3), but not square:
	// resampled too, as transformers does.
	m, err := Load("testdata/dinov2_fixture")
	if err != nil {
		t.Fatal(err)
	}
	ck, err := safetensors.Open("testdata/dinov2_fixture/expected_9x1.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	x, xs, err := ck.Float32("pixel_values")
	if err != nil {
		t.Fatal(err)
	}
	want, ws, err := ck.Float32("logits")
	if err != nil {
		t.Fatal(err)
	}
	d := tensor.MaxAbsDiff(logits(t, m, tensor.FromSlice(x, xs...)), tensor.FromSlice(want, ws...))
	t.Logf("9×1 grid: max |Go - torch| = %.3g", d)
	if d > 1e-4 {
		t.Errorf("9×1 grid: logits differ from torch's by %g", d)
	}
}

// TestBicubicMatchesTorch: bicubicWeights against the matrices torch's
// F.interpolate(mode="bicubic", align_corners=False) applies, with and
// without antialias, shrinking, growing and at the same size
// (testdata/bicubic.json, written by make_dinov2_fixture.py).
func TestBicubicMatchesTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/bicubic.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		In, Out   int
		Antialias bool
		Weights   []float64
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		got := bicubicWeights(c.In, c.Out, c.Antialias)
		worst := 0.0
		for i, w := range c.Weights {
			worst = max(worst, math.Abs(got[i]-w))
		}
		if worst > 1e-9 {
			t.Errorf("%d → %d (antialias %v): weights differ from torch's by %.3g", c.In, c.Out, c.Antialias, worst)
		}
	}
}

// TestDINOv2Inputs: images of any size of at least a patch are taken, the
// table's own square grid reads it unresampled, and bad inputs are refused
// with their shapes.
func TestDINOv2Inputs(t *testing.T) {
	m, err := Load("testdata/dinov2_fixture")
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 12, 12}, {2, 3, 4, 40}, {1, 1, 9, 9}, {1, 12, 12}, {2, 3 * 12 * 12}} {
		if err := m.(InputChecker).CheckInput(shape); err != nil {
			t.Errorf("%v: %v", shape, err)
		}
	}
	for shape, want := range map[string][]int{
		"smaller than a patch": {1, 3, 3, 12},
		"channels":             {1, 2, 12, 12},
		"empty batch":          {0, 3, 12, 12},
		"flattened":            {1, 100},
	} {
		if err := m.(InputChecker).CheckInput(want); err == nil || !strings.Contains(err.Error(), shape) {
			t.Errorf("%v: error %v, want one naming %q", want, err, shape)
		}
	}
}

// TestDINOv2ConfigErrors: configurations bico cannot build are refused,
// naming the field.
func TestDINOv2ConfigErrors(t *testing.T) {
	raw, err := os.ReadFile("testdata/dinov2_fixture/config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	checkConfigErrors(t, cfg, []configError{
		{func(c map[string]any) { c["use_swiglu_ffn"] = "yes" }, "use_swiglu_ffn"},
		{func(c map[string]any) { c["image_size"] = []any{12, 8} }, "not a square grid"},
		{func(c map[string]any) { c["mlp_ratio"] = 0.01 }, "mlp_ratio"},
		{func(c map[string]any) { c["hidden_size"] = 9 }, "num_attention_heads"},
		{func(c map[string]any) { c["patch_size"] = 16 }, "patch_size"},
	})
}

// TestDINOv2VectorSpaces: LayerScale vectors live in the space of the
// output they scale, the final LayerNorm's in the last fc2's output space,
// the tokens and positions in the patch embedding's.
func TestDINOv2VectorSpaces(t *testing.T) {
	l1 := "dinov2_with_registers.encoder.layer.1"
	checkVectorSpaces(t, "testdata/dinov2_with_registers_fixture", map[string]string{
		l1 + ".layer_scale1.lambda1":                           l1 + ".attention.output.dense",
		l1 + ".layer_scale2.lambda1":                           l1 + ".mlp.fc2",
		l1 + ".norm2.bias":                                     l1 + ".norm2",
		"dinov2_with_registers.layernorm.weight":               l1 + ".mlp.fc2",
		"dinov2_with_registers.embeddings.register_tokens":     "dinov2_with_registers.embeddings.patch_embeddings.projection",
		"dinov2_with_registers.embeddings.mask_token":          "dinov2_with_registers.embeddings.patch_embeddings.projection",
		"dinov2_with_registers.embeddings.position_embeddings": "dinov2_with_registers.embeddings.patch_embeddings.projection",
	})
}

// TestBicubicRowsSumToOne: every output of the resampling, with and
// without antialias, is a weighted average (weights summing to one), down
// to grids of one cell either way.
func TestBicubicRowsSumToOne(t *testing.T) {
	for in := 1; in <= 40; in++ {
		for out := 1; out <= 40; out++ {
			for _, aa := range []bool{false, true} {
				w := bicubicWeights(in, out, aa)
				for i := 0; i < out; i++ {
					sum := 0.0
					for _, v := range w[i*in : (i+1)*in] {
						sum += v
					}
					if math.Abs(sum-1) > 1e-12 {
						t.Fatalf("%d → %d (antialias %v): output %d weights sum to %v", in, out, aa, i, sum)
					}
				}
			}
		}
	}
}

// TestDINOv2LoRA: a PEFT adapter of a DINOv2 classifier as image
// classifiers are LoRA-tuned (query and value, the classifier trained whole)
// merges by the definition W + (α/r)·B·A and round-trips through SaveLoRA.
func TestDINOv2LoRA(t *testing.T) {
	base, err := Load("testdata/dinov2_with_registers_fixture")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	const pre = "base_model.model."
	l := "dinov2_with_registers.encoder.layer.1.attention.attention."
	qa, qb := randTensor(rng, pre+l+"query.lora_A.weight", 2, 8), randTensor(rng, pre+l+"query.lora_B.weight", 8, 2)
	va, vb := randTensor(rng, pre+l+"value.lora_A.weight", 2, 8), randTensor(rng, pre+l+"value.lora_B.weight", 8, 2)
	head := randTensor(rng, pre+"classifier.modules_to_save.default.weight", 3, 16)
	in := writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": []any{"query", "value"},
		"modules_to_save": []any{"classifier"}}, []adapterTensor{qa, qb, va, vb, head})
	ft, err := ApplyLoRA(base, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a, b adapterTensor
	}{{"query", qa, qb}, {"value", va, vb}} {
		want := naiveMerge(base.Param(l+c.name+".weight").Value.Data, c.b, c.a, 2)
		for i, g := range ft.Param(l + c.name + ".weight").Value.Data {
			if math.Abs(float64(g)-want[i]) > 1e-5 {
				t.Fatalf("%s[%d]: %g, want %g", c.name, i, g, want[i])
			}
		}
	}
	if d := tensor.MaxAbsDiff(ft.Param("classifier.weight").Value, tensor.FromSlice(head.data, 3, 16)); d != 0 {
		t.Errorf("classifier differs from the adapter's by %g", d)
	}
	out := t.TempDir()
	if err := SaveLoRA(out, base, ft, AdapterOptions{Rank: 2, Whole: []string{"classifier.weight", "classifier.bias"}}, linalg.Go()); err != nil {
		t.Fatal(err)
	}
	back, err := ApplyLoRA(base, out)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, back, ft)
}
