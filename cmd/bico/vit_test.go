package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tensor"
)

// TestTransferViTResizesCalibration: ViT checkpoints of image size 8 with
// calibration images of 12×12 pixels: the images are resized to the
// model's size, and the transfer between widths 8 and 12 writes a ViT.
func TestTransferViTResizesCalibration(t *testing.T) {
	transferResizes(t, "vit", "vit.embeddings.cls_token", func(hidden int) map[string]any {
		return model.ViTConfig{HiddenSize: hidden, NumLayers: 2, NumHeads: 2, IntermediateSize: 2 * hidden, ImageSize: 8, PatchSize: 4,
			NumChannels: 1, Labels: []string{"a", "b", "c"}}.Map()
	})
}

// TestTransferCLIPResizesCalibration is TestTransferViTResizesCalibration
// for CLIP vision classifiers, whose image settings are in vision_config.
func TestTransferCLIPResizesCalibration(t *testing.T) {
	transferResizes(t, "clip", "vision_model.embeddings.class_embedding", func(hidden int) map[string]any {
		return model.CLIPVisionConfig{HiddenSize: hidden, NumLayers: 2, NumHeads: 2, IntermediateSize: 2 * hidden, ImageSize: 8, PatchSize: 4,
			NumChannels: 1, Labels: []string{"a", "b", "c"}}.Map()
	})
}

// transferResizes builds models of type typ from config(width), transfers
// from width 8 to width 12 with 12×12 calibration images, and checks that
// the output is the target's type and width (the last dimension of its
// parameter token).
func transferResizes(t *testing.T, typ, token string, config func(hidden int) map[string]any) {
	dir := t.TempDir()
	build := func(hidden int, seed uint64) model.Model {
		m, err := model.Build(config(hidden), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(8, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	paths := map[string]model.Model{"a": a, "aft": noisyCopy(t, a, rng), "b": build(12, 3)}
	for name, m := range paths {
		if err := model.Save(filepath.Join(dir, name), m, 0); err != nil {
			t.Fatal(err)
		}
	}
	calib := writeImageCalib(t, dir, rng)
	m, out := transferIn(t, dir, calib)
	if m.Type() != typ || m.Param(token).Value.Dim(-1) != 12 {
		t.Errorf("output is not the width-12 %s model", typ)
	}
	if msg, err := run(t, "eval", "--model", out, "--data", calib); err != nil || !strings.Contains(msg, "accuracy") {
		t.Errorf("eval: %v %s", err, msg)
	}
}

// TestTransferDINOv2ResizesCalibration is TestTransferViTResizesCalibration
// for DINOv2 classifiers.
func TestTransferDINOv2ResizesCalibration(t *testing.T) {
	transferResizes(t, "dinov2", "dinov2.embeddings.cls_token", func(hidden int) map[string]any {
		return dinov2Config("dinov2", hidden)
	})
}

func dinov2Config(mt string, hidden int) map[string]any {
	return model.SetLabels(map[string]any{
		"model_type": mt, "architectures": []any{"Dinov2ForImageClassification"},
		"hidden_size": hidden, "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_ratio": 2,
		"image_size": 8, "patch_size": 4, "num_channels": 1,
	}, []string{"a", "b", "c"})
}

// TestTransferDINOv2ToRegisters: a DINOv2 classifier's fine-tune moves to a
// wider DINOv2 with registers whose base, like the source's, is saved as
// transformers saves a Dinov2Model (no "dinov2." prefix, no classifier).
// The target's preprocessor_config.json crops the 12×12 calibration images
// to 8×8, a 2×2 grid read from the 3×3 position table resampled. The
// output is the target's type with the fine-tune's head, named as the
// target's classifier, and evaluates.
func TestTransferDINOv2ToRegisters(t *testing.T) {
	dir := t.TempDir()
	build := func(mt string, hidden int, seed uint64) model.Model {
		cfg := dinov2Config(mt, hidden)
		cfg["image_size"], cfg["num_register_tokens"] = 12, 2
		m, err := model.Build(cfg, nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := build("dinov2", 8, 1), build("dinov2_with_registers", 12, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	if err := model.Save(filepath.Join(dir, "aft"), noisyCopy(t, a, rng), 0); err != nil {
		t.Fatal(err)
	}
	saveHeadlessBase(t, filepath.Join(dir, "a"), a, "dinov2.", "Dinov2Model")
	saveHeadlessBase(t, filepath.Join(dir, "b"), b, "dinov2_with_registers.", "Dinov2WithRegistersModel")
	pp := `{"do_resize": true, "size": {"shortest_edge": 8}, "do_center_crop": true, "crop_size": {"height": 8, "width": 8}, "image_mean": [0.5], "image_std": [0.5]}`
	if err := os.WriteFile(filepath.Join(dir, "b", data.PreprocessorFile), []byte(pp), 0o644); err != nil {
		t.Fatal(err)
	}
	calib := writeImageCalib(t, dir, rng)
	m, out := transferIn(t, dir, calib)
	head := m.Param("classifier.weight")
	if m.Type() != "dinov2_with_registers" || head == nil || !slices.Equal(head.Value.Shape, []int{3, 24}) {
		t.Fatalf("output: a %s model, want dinov2_with_registers with a 3×24 classifier", m.Type())
	}
	if archs := m.Config()["architectures"]; fmt.Sprint(archs) != "[Dinov2WithRegistersForImageClassification]" {
		t.Errorf("output architectures %v, want the target's classifier", archs)
	}
	if msg, err := run(t, "eval", "--model", out, "--data", calib); err != nil || !strings.Contains(msg, "accuracy") {
		t.Errorf("eval: %v %s", err, msg)
	}
}

// saveHeadlessBase writes m to dir as a base-model checkpoint: its
// parameters but the classifier's, under their names without prefix, and a
// config without labels naming architecture arch.
func saveHeadlessBase(t *testing.T, dir string, m model.Model, prefix, arch string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var tensors []safetensors.Tensor
	for _, name := range m.ParamNames() {
		if !strings.HasPrefix(name, "classifier.") {
			stored := strings.TrimPrefix(name, prefix)
			tensors = append(tensors, safetensors.F32(stored, model.CheckpointShape(m, name), m.Param(name).Value.Data))
		}
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	cfg := m.Config()
	delete(cfg, "id2label")
	delete(cfg, "label2id")
	cfg["architectures"] = []any{arch}
	if err := model.WriteConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
}

// noisyCopy returns a with every parameter moved by noise of std 0.02: a
// stand-in fine-tune.
func noisyCopy(t *testing.T, a model.Model, rng *rand.Rand) model.Model {
	t.Helper()
	ps := map[string]*tensor.Tensor[float32]{}
	for n, v := range model.Params(a) {
		c := v.Clone()
		for i := range c.Data {
			c.Data[i] += 0.02 * float32(rng.NormFloat64())
		}
		ps[n] = c
	}
	aft, err := model.WithParams(a, ps)
	if err != nil {
		t.Fatal(err)
	}
	return aft
}

// writeImageCalib writes 30 random one-channel 12×12 images of 3 classes
// to dir/calib.safetensors and returns its path.
func writeImageCalib(t *testing.T, dir string, rng *rand.Rand) string {
	t.Helper()
	ds := &data.Dataset{Inputs: tensor.New[float32](30, 1, 12, 12), Labels: make([]int, 30), Classes: 3}
	for i := range ds.Inputs.Data {
		ds.Inputs.Data[i] = rng.Float32()
	}
	for i := range ds.Labels {
		ds.Labels[i] = i % 3
	}
	calib := filepath.Join(dir, "calib.safetensors")
	if err := data.SaveSafetensors(calib, ds); err != nil {
		t.Fatal(err)
	}
	return calib
}

// transferIn runs bico transfer from the checkpoints dir/a, dir/aft and
// dir/b with the calibration data calib (8 per class) into dir/out, and
// returns the output loaded and its path.
func transferIn(t *testing.T, dir, calib string) (model.Model, string) {
	t.Helper()
	out := filepath.Join(dir, "out")
	msg, err := run(t, "transfer", "--quiet", "--source-base", filepath.Join(dir, "a"), "--source-finetuned", filepath.Join(dir, "aft"),
		"--target-base", filepath.Join(dir, "b"), "--calib", calib, "--per-class", "8", "--out", out)
	if err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	return m, out
}
