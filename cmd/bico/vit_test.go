package main

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
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
	paths := map[string]model.Model{"a": a, "aft": aft, "b": build(12, 3)}
	for name, m := range paths {
		if err := model.Save(filepath.Join(dir, name), m, 0); err != nil {
			t.Fatal(err)
		}
	}
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
	if m.Type() != typ || m.Param(token).Value.Dim(-1) != 12 {
		t.Errorf("output is not the width-12 %s model", typ)
	}
	if msg, err := run(t, "eval", "--model", out, "--data", calib); err != nil || !strings.Contains(msg, "accuracy") {
		t.Errorf("eval: %v %s", err, msg)
	}
}
