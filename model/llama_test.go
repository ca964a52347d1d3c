package model

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/tensor"
)

// randTokens returns n sequences of t random token ids below vocab.
func randTokens(seed uint64, n, t, vocab int) *Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New[float32](n, t)
	for i := range x.Data {
		x.Data[i] = float32(rng.IntN(vocab))
	}
	return x
}

// tinyLlama is a small LlamaForSequenceClassification configuration.
func tinyLlama() map[string]any {
	pad := 0
	return LlamaConfig{VocabSize: 30, HiddenSize: 8, NumLayers: 2, NumHeads: 2, NumKVHeads: 1,
		IntermediateSize: 12, PadTokenID: &pad, Labels: []string{"a", "b", "c"}}.Map()
}

// TestLlamaBaseCheckpoints: a LlamaModel checkpoint (names without
// "model.", no score) and a LlamaForCausalLM checkpoint (an lm_head) load
// as bases with MissingHead, with the fixture's body.
func TestLlamaBaseCheckpoints(t *testing.T) {
	full, err := Load("testdata/llama_fixture")
	if err != nil {
		t.Fatal(err)
	}
	for _, layout := range []string{"LlamaModel", "LlamaForCausalLM"} {
		t.Run(layout, func(t *testing.T) {
			dir := t.TempDir()
			cfg := full.Config()
			cfg["architectures"] = []any{layout}
			delete(cfg, "id2label")
			delete(cfg, "label2id")
			if err := WriteConfig(dir, cfg); err != nil {
				t.Fatal(err)
			}
			params := map[string]*Tensor{}
			var names []string
			for _, n := range full.ParamNames() {
				if n == "score.weight" {
					continue
				}
				stored := n
				if layout == "LlamaModel" {
					stored = strings.TrimPrefix(n, "model.")
				}
				params[stored] = full.Param(n).Value
				names = append(names, stored)
			}
			if layout == "LlamaForCausalLM" {
				params["lm_head.weight"] = tensor.New[float32](40, 16)
				names = append(names, "lm_head.weight")
			}
			writeST(t, filepath.Join(dir, "model.safetensors"), names, params)
			if layout == "LlamaModel" {
				if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `"score.weight"`) {
					t.Errorf("Load: error %v, want the missing score", err)
				}
			} else if lm, err := Load(dir); err != nil || lm.NumLabels() != 40 {
				t.Errorf("Load of a causal LM: %v, want its 40 vocabulary logits", err)
			}
			base, err := LoadWith(dir, LoadOptions{MissingHead: true, Architecture: "LlamaForSequenceClassification"})
			if err != nil {
				t.Fatal(err)
			}
			if base.NumLabels() != 2 {
				t.Errorf("base has %d labels, want transformers' default 2", base.NumLabels())
			}
			for _, n := range []string{"model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight"} {
				if d := tensor.MaxAbsDiff(base.Param(n).Value, full.Param(n).Value); d != 0 {
					t.Errorf("%s differs by %g", n, d)
				}
			}
		})
	}
}

func TestLlamaConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"kv heads", func(c map[string]any) { c["num_key_value_heads"] = 3 }, "num_key_value_heads"},
		{"odd head_dim", func(c map[string]any) { c["head_dim"] = 3 }, "a head of 3"},
		{"rope_scaling", func(c map[string]any) { c["rope_scaling"] = map[string]any{"rope_type": "mrope", "factor": 4.0} }, `rope_scaling type "mrope"`},
		{"llama3 factors", func(c map[string]any) {
			c["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0}
		}, "want 0 < low < high"},
		{"window", func(c map[string]any) { c["model_type"], c["sliding_window"] = "mistral", 0 }, "sliding_window 0"},
		{"pad", func(c map[string]any) { c["pad_token_id"] = -2 }, "pad_token_id"},
		{"activation", func(c map[string]any) { c["hidden_act"] = "swish2" }, "hidden_act"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyLlama()
			c.edit(cfg)
			if _, err := Build(cfg, nil, 1); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

func TestLlamaInputs(t *testing.T) {
	m, err := Build(tinyLlama(), nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if PadTokenID(m) != 0 {
		t.Errorf("PadTokenID = %d, want 0", PadTokenID(m))
	}
	for _, c := range []struct {
		x    *Tensor
		want string
	}{
		{tensor.FromSlice([]float32{1, 2, 30}, 1, 3), "not a token id below vocab_size 30"},
		{tensor.FromSlice([]float32{1, 2.5}, 1, 2), "is 2.5"},
		{tensor.FromSlice([]float32{1, 2}, 2), "want token ids [B, T]"},
	} {
		if err := CheckInputs(m, c.x); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckInputs(%v): %v, want an error with %q", c.x.Data, err, c.want)
		}
	}
	pad := Padding(m, tensor.FromSlice([]float32{5, 7, 0, 0, 4, 6, 8, 1}, 2, 4))
	if want := []bool{false, false, true, true, false, false, false, false}; !slices.Equal(pad, want) {
		t.Errorf("padding %v, want %v", pad, want)
	}
	if Padding(m, tensor.FromSlice([]float32{5, 7}, 1, 2)) != nil {
		t.Error("padding flags for a batch without padding")
	}
	// Padding after a sequence's last token does not change its logits:
	// the attention is causal and the head reads the last real token.
	short := logits(t, m, tensor.FromSlice([]float32{5, 7, 9}, 1, 3))
	padded := logits(t, m, tensor.FromSlice([]float32{5, 7, 9, 0, 0, 4, 7, 9, 1, 2}, 2, 5))
	if d := tensor.MaxAbsDiff(short, tensor.FromSlice(padded.Data[:3], 1, 3)); d > 1e-6 {
		t.Errorf("padding changed the logits by %g", d)
	}
}

// TestLlamaObservedSites: every site's rows, including the embedding's
// output and output gradient through Tape.Output.
func TestLlamaObservedSites(t *testing.T) {
	m := mustBuild(t, tinyLlama(), 1)
	rec := &recorder{map[string][]int{}, map[string][]int{}, map[string][]int{}}
	tp := autodiff.NewTape[float32](backend(t))
	tp.Observer = rec
	in := autodiff.Const(randTokens(2, 2, 5, 30))
	in.SetNeedsGrad(true)
	y := m.Forward(tp, in)
	tp.Backward(tp.CrossEntropy(y, []int{0, 1}))
	for _, s := range m.Sites() {
		in, out, g := rec.in[s.Name], rec.out[s.Name], rec.grad[s.Name]
		if s.IsTable() != (in == nil) || out == nil || out[len(out)-1] != s.Out || !slices.Equal(g, out) {
			t.Errorf("site %s: saw input %v, output %v, output grad %v; want widths %d → %d", s.Name, in, out, g, s.In, s.Out)
		}
		if s.Role != "head" && !slices.Equal(out[:2], []int{2, 5}) {
			t.Errorf("site %s: rows %v, want [2, 5] tokens", s.Name, out)
		}
	}
	if rec.out["model.layers.1"] == nil {
		t.Error("block outputs not marked")
	}
}

// TestLlamaCausalLM: a causal LM's targets are the next tokens (padding and
// the last position ignored), its lm_head maps to the vocabulary (no output
// space), and a tied model has no lm_head parameter.
func TestLlamaCausalLM(t *testing.T) {
	pad := 0
	cfg := LlamaConfig{VocabSize: 30, HiddenSize: 8, NumLayers: 1, NumHeads: 2, IntermediateSize: 12, PadTokenID: &pad, CausalLM: true}.Map()
	m := mustBuild(t, cfg, 1)
	x := tensor.FromSlice([]float32{5, 7, 9, 0, 4, 6, 8, 1}, 2, 4)
	ig := autodiff.Ignore
	if got, want := Targets(m, x, []int{0, 0}), []int{7, 9, ig, ig, 6, 8, 1, ig}; !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
	if l := logits(t, m, x); !slices.Equal(l.Shape, []int{8, 30}) || m.NumLabels() != 30 {
		t.Errorf("logits %v, %d labels; want [8 30], the vocabulary", l.Shape, m.NumLabels())
	}
	head := m.Sites()[len(m.Sites())-1]
	if head.Name != "lm_head" || head.OutSpace != "" || head.InSpace != "model.norm" {
		t.Errorf("last site %+v, want lm_head from model.norm to the vocabulary", head)
	}
	cfg["tie_word_embeddings"] = true
	tied := mustBuild(t, cfg, 1)
	if lm := tied.Sites()[len(tied.Sites())-1]; tied.Param("lm_head.weight") != nil || !lm.Tied || lm.Weight != "model.embed_tokens.weight" {
		t.Errorf("a tied model has an lm_head of its own, or its site %+v is not the embedding table's", lm)
	}
}

// TestYaRNOptions: YaRN's attention factor is 0.1·ln factor + 1 by default,
// the ratio of two such with mscale and mscale_all_dim (1 when they are
// equal, as DeepSeek's), or attention_factor as given; truncate false
// leaves the correction range unrounded, which changes the blend.
func TestYaRNOptions(t *testing.T) {
	rope := func(extra map[string]any) rotary {
		rs := map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1000.0}
		for k, v := range extra {
			rs[k] = v
		}
		r, err := ropeOf(map[string]any{"rope_scaling": rs}, "full_attention", 8, 10000, 1)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := rope(nil); math.Abs(r.scale-(0.1*math.Log(4)+1)) > 1e-12 {
		t.Errorf("default attention factor %g", r.scale)
	}
	if r := rope(map[string]any{"mscale": 1.0, "mscale_all_dim": 1.0}); r.scale != 1 {
		t.Errorf("equal mscale and mscale_all_dim: attention factor %g, want 1", r.scale)
	}
	if r := rope(map[string]any{"attention_factor": 1.5}); r.scale != 1.5 {
		t.Errorf("given attention factor: %g", r.scale)
	}
	rounded, exact := rope(nil), rope(map[string]any{"truncate": false})
	if slices.Equal(rounded.freq, exact.freq) {
		t.Errorf("truncate false gave the rounded range's frequencies %v", exact.freq)
	}
	// Beyond the range every pair interpolates: f/4.
	base := autodiff.RoPEFrequencies(8, 10000)
	if got := rounded.freq[3]; math.Abs(got-base[3]/4) > 1e-15 {
		t.Errorf("last pair %g, want %g", got, base[3]/4)
	}
	if got := rounded.freq[0]; got != base[0] {
		t.Errorf("first pair %g, want it kept, %g", got, base[0])
	}
}

// TestDynamicNTK: rope_scaling "dynamic" leaves sequences up to
// max_position_embeddings as they are and rotates longer ones with the base
// θ·(factor·T/max − (factor − 1))^(d/(d−2)), as transformers does.
func TestDynamicNTK(t *testing.T) {
	cfg := tinyLlama()
	cfg["max_position_embeddings"] = 4
	plain, err := Build(cfg, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	cfg["rope_scaling"] = map[string]any{"rope_type": "dynamic", "factor": 2.0}
	dyn, err := Build(cfg, Params(plain), 0)
	if err != nil {
		t.Fatal(err)
	}
	short, long := randTokens(3, 2, 4, 30), randTokens(4, 2, 7, 30)
	if d := tensor.MaxAbsDiff(logits(t, dyn, short), logits(t, plain, short)); d != 0 {
		t.Errorf("4 tokens, within max_position_embeddings: logits differ by %g", d)
	}
	if d := tensor.MaxAbsDiff(logits(t, dyn, long), logits(t, plain, long)); d == 0 {
		t.Error("7 tokens, beyond max_position_embeddings: logits unchanged")
	}
	r := dyn.(*llamaModel).rope
	got := r.ntk.frequencies(7)
	base := 10000 * math.Pow(2.0*7/4-1, 4.0/2)
	for i, f := range autodiff.RoPEFrequencies(4, base) {
		if math.Abs(got[i]-f) > 1e-15 {
			t.Errorf("frequency %d for 7 tokens: %g, want %g", i, got[i], f)
		}
	}
}
