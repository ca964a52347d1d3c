package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tensor"
)

// TestLoadLegacyLayerNormNames: older checkpoints (bert-base-uncased's)
// name a LayerNorm's weight and bias gamma and beta, which transformers
// renames when it loads them; so does Load. The checkpoint here is a
// BertForPreTraining one: no classifier, an extra cls head.
func TestLoadLegacyLayerNormNames(t *testing.T) {
	m, err := Build(BertConfig{VocabSize: 20, HiddenSize: 8, NumLayers: 1, NumHeads: 2, IntermediateSize: 8, MaxPositions: 12}.Map(), nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var tensors []safetensors.Tensor
	for _, name := range m.ParamNames() {
		if strings.HasPrefix(name, "classifier.") {
			continue
		}
		stored := strings.Replace(strings.Replace(name, "LayerNorm.weight", "LayerNorm.gamma", 1), "LayerNorm.bias", "LayerNorm.beta", 1)
		tensors = append(tensors, safetensors.F32(stored, CheckpointShape(m, name), m.Param(name).Value.Data))
	}
	tensors = append(tensors, safetensors.F32("cls.predictions.bias", []int{20}, make([]float32, 20)))
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	cfg := m.Config()
	cfg["model_type"], cfg["architectures"] = "bert", []any{"BertForPreTraining"}
	if err := WriteConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := LoadWith(dir, LoadOptions{MissingHead: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range m.ParamNames() {
		if strings.HasPrefix(name, "classifier.") {
			continue
		}
		if d := tensor.MaxAbsDiff(got.Param(name).Value, m.Param(name).Value); d != 0 {
			t.Errorf("%s loads %g away from what was written", name, d)
		}
	}
}
