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

// TestTransformers5RoPEConfig: transformers 5 writes rope_parameters (with
// rope_theta inside, or one object per kind of layer) instead of
// rope_theta, rope_scaling and Gemma 3's rope_local_base_freq, and
// layer_types instead of sliding_window_pattern. The fixtures rewritten so
// give the same logits.
func TestTransformers5RoPEConfig(t *testing.T) {
	for _, c := range []struct {
		dir     string
		rewrite func(cfg map[string]any)
	}{
		{"testdata/llama3_fixture", func(cfg map[string]any) {
			rp := cfg["rope_scaling"].(map[string]any)
			rp["rope_theta"] = cfg["rope_theta"]
			cfg["rope_parameters"] = rp
			delete(cfg, "rope_scaling")
			delete(cfg, "rope_theta")
		}},
		{"testdata/gemma3_lm_fixture", func(cfg map[string]any) {
			cfg["rope_parameters"] = map[string]any{
				"full_attention":    map[string]any{"rope_theta": cfg["rope_theta"], "rope_type": "default"},
				"sliding_attention": map[string]any{"rope_theta": cfg["rope_local_base_freq"], "rope_type": "default"},
			}
			cfg["layer_types"] = []any{"sliding_attention", "full_attention"}
			cfg["_sliding_window_pattern"] = cfg["sliding_window_pattern"]
			for _, k := range []string{"rope_theta", "rope_local_base_freq", "sliding_window_pattern"} {
				delete(cfg, k)
			}
		}},
	} {
		m, err := Load(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg := m.Config()
		cfg["model_type"] = m.Type()
		c.rewrite(cfg)
		v5, err := Build(cfg, Params(m), 0)
		if err != nil {
			t.Fatalf("%s as transformers 5 writes it: %v", c.dir, err)
		}
		ids := tensor.FromSlice([]float32{1, 5, 9, 2, 7, 3, 4}, 1, 7)
		if d := tensor.MaxAbsDiff(logits(t, v5, ids), logits(t, m, ids)); d != 0 {
			t.Errorf("%s: logits differ by %g with rope_parameters", c.dir, d)
		}
	}
}
