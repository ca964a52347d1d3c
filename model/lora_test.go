package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/safetensors"
)

// adapterTensor is one tensor of a test adapter.
type adapterTensor struct {
	name  string
	shape []int
	data  []float32
}

func randTensor(rng *rand.Rand, name string, shape ...int) adapterTensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return adapterTensor{name, shape, data}
}

// writeAdapter writes a PEFT adapter folder with the given config and
// tensors.
func writeAdapter(t *testing.T, cfg map[string]any, tensors []adapterTensor) string {
	t.Helper()
	dir := t.TempDir()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, AdapterConfigFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, a := range tensors {
		ts = append(ts, safetensors.F32(a.name, a.shape, a.data))
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// naiveMerge returns w + s·B·A by the definition, in float64.
func naiveMerge(w []float32, b, a adapterTensor, s float64) []float64 {
	r := a.shape[0]
	out, in := b.shape[0], len(a.data)/r
	m := make([]float64, len(w))
	for i := range out {
		for j := range in {
			sum := 0.0
			for k := range r {
				sum += float64(b.data[i*r+k]) * float64(a.data[k*in+j])
			}
			m[i*in+j] = float64(w[i*in+j]) + s*sum
		}
	}
	return m
}

func tinyCausalLlama(t *testing.T) Model {
	t.Helper()
	return mustBuild(t, LlamaConfig{VocabSize: 30, HiddenSize: 8, NumLayers: 2, NumHeads: 2, NumKVHeads: 1, IntermediateSize: 12, CausalLM: true}.Map(), 1)
}

// TestApplyLoRA merges an adapter with per-module rank and alpha, rsLoRA
// scaling, an embedding LoRA and a whole parameter, against the definition;
// every other parameter stays as it was.
func TestApplyLoRA(t *testing.T) {
	base := tinyCausalLlama(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const pre = "base_model.model."
	q0A, q0B := randTensor(rng, pre+"model.layers.0.self_attn.q_proj.lora_A.weight", 2, 8), randTensor(rng, pre+"model.layers.0.self_attn.q_proj.lora_B.weight", 8, 2)
	v1A, v1B := randTensor(rng, pre+"model.layers.1.self_attn.v_proj.lora_A.weight", 3, 8), randTensor(rng, pre+"model.layers.1.self_attn.v_proj.lora_B.weight", 4, 3)
	eA, eB := randTensor(rng, pre+"model.embed_tokens.lora_embedding_A", 2, 30), randTensor(rng, pre+"model.embed_tokens.lora_embedding_B", 8, 2)
	norm := randTensor(rng, pre+"model.norm.weight", 8)
	for _, rs := range []bool{false, true} {
		cfg := map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "use_rslora": rs,
			"rank_pattern": map[string]any{"v_proj": 3}, "alpha_pattern": map[string]any{"layers.1.self_attn.v_proj": 6}}
		dir := writeAdapter(t, cfg, []adapterTensor{q0A, q0B, v1A, v1B, eA, eB, norm})
		ft, err := ApplyLoRA(base, dir)
		if err != nil {
			t.Fatal(err)
		}
		scale := func(alpha float64, r int) float64 {
			if rs {
				return alpha / math.Sqrt(float64(r))
			}
			return alpha / float64(r)
		}
		want := map[string][]float64{
			"model.layers.0.self_attn.q_proj.weight": naiveMerge(base.Param("model.layers.0.self_attn.q_proj.weight").Value.Data, q0B, q0A, scale(4, 2)),
			"model.layers.1.self_attn.v_proj.weight": naiveMerge(base.Param("model.layers.1.self_attn.v_proj.weight").Value.Data, v1B, v1A, scale(6, 3)),
		}
		// The table [vocab, dim] gets (B·A)ᵀ: row i, column j is Σ_k B[j][k]·A[k][i].
		table := base.Param("model.embed_tokens.weight").Value.Data
		e := make([]float64, len(table))
		for i := range 30 {
			for j := range 8 {
				sum := 0.0
				for k := range 2 {
					sum += float64(eB.data[j*2+k]) * float64(eA.data[k*30+i])
				}
				e[i*8+j] = float64(table[i*8+j]) + scale(4, 2)*sum
			}
		}
		want["model.embed_tokens.weight"] = e
		want["model.norm.weight"] = make([]float64, 8)
		for i, v := range norm.data {
			want["model.norm.weight"][i] = float64(v)
		}
		for _, name := range base.ParamNames() {
			got := ft.Param(name).Value.Data
			w, changed := want[name]
			if !changed {
				for i, v := range base.Param(name).Value.Data {
					if got[i] != v {
						t.Fatalf("rslora %v: %s changed at %d, though the adapter does not touch it", rs, name, i)
					}
				}
				continue
			}
			for i := range got {
				if d := math.Abs(float64(got[i]) - w[i]); d > 1e-5*(1+math.Abs(w[i])) {
					t.Fatalf("rslora %v: %s[%d] = %g, want %g", rs, name, i, got[i], w[i])
				}
			}
		}
	}
}

// TestApplyLoRAErrors: what cannot be merged is refused, naming the file
// and the tensor or setting.
func TestApplyLoRAErrors(t *testing.T) {
	base := tinyCausalLlama(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const q = "base_model.model.model.layers.0.self_attn.q_proj"
	a, b := randTensor(rng, q+".lora_A.weight", 2, 8), randTensor(rng, q+".lora_B.weight", 8, 2)
	lora := map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 4}
	with := func(kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range lora {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	nan := randTensor(rng, q+".lora_A.weight", 2, 8)
	nan.data[5] = float32(math.NaN())
	for _, c := range []struct {
		name    string
		cfg     map[string]any
		tensors []adapterTensor
		want    string
	}{
		{"DoRA without magnitudes", with("use_dora", true), []adapterTensor{a, b}, "no DoRA magnitude"},
		{"magnitude without DoRA", lora, []adapterTensor{a, b, randTensor(rng, q+".lora_magnitude_vector", 8)}, "no use_dora"},
		{"magnitude size", with("use_dora", true), []adapterTensor{a, b, randTensor(rng, q+".lora_magnitude_vector", 5)}, "5 values for 8 output rows"},
		{"not LoRA", with("peft_type", "IA3"), []adapterTensor{a, b}, "peft_type"},
		{"PiSSA", with("init_lora_weights", "pissa_niter_4"), []adapterTensor{a, b}, "path_initial_model_for_weight_conversion"},
		{"rank", with("r", 4), []adapterTensor{a, b}, "rank 2, adapter_config.json says 4"},
		{"one factor", lora, []adapterTensor{a}, "only one of its two"},
		{"unknown module", lora, []adapterTensor{randTensor(rng, "base_model.model.model.layers.0.self_attn.x_proj.lora_A.weight", 2, 8), randTensor(rng, "base_model.model.model.layers.0.self_attn.x_proj.lora_B.weight", 8, 2)}, "x_proj"},
		{"shape", lora, []adapterTensor{a, randTensor(rng, q+".lora_B.weight", 5, 2)}, "B·A is 5×8"},
		{"NaN", lora, []adapterTensor{nan, b}, "element 5"},
		{"no prefix", lora, []adapterTensor{randTensor(rng, "model.norm.weight", 8)}, "no base_model.model. prefix"},
		{"new head", lora, []adapterTensor{randTensor(rng, "base_model.model.score.weight", 3, 8)}, `no parameter "score.weight"`},
	} {
		dir := writeAdapter(t, c.cfg, c.tensors)
		_, err := ApplyLoRA(base, dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: got %v, want an error naming %s and saying %q", c.name, err, dir, c.want)
		}
	}
}

// FuzzLoRAConfig: adapter_config.json's parser never panics, and what it
// accepts has positive ranks and alphas.
func FuzzLoRAConfig(f *testing.F) {
	for _, s := range []string{
		`{"peft_type":"LORA","r":8,"lora_alpha":16}`,
		`{"peft_type":"LORA","r":4,"lora_alpha":8,"use_rslora":true,"rank_pattern":{"v_proj":2},"alpha_pattern":{"q_proj":4}}`,
		`{"peft_type":"LORA","rank_pattern":{"(":2}}`, `{"peft_type":"LORA","use_dora":true}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseLoRAConfig(data)
		if err != nil {
			return
		}
		if r, s := c.scaling("model.layers.0.self_attn.v_proj"); r <= 0 || !(s > 0) || math.IsInf(s, 0) {
			t.Fatalf("accepted %q: rank %d, scaling %g", data, r, s)
		}
	})
}

// TestSaveLoRARoundTrip: the change an adapter makes, written back as an
// adapter by SaveLoRA (one rank for all modules, an embedding adapter
// included), merges to the same model; a change no adapter of that rank
// holds is refused by name.
func TestSaveLoRARoundTrip(t *testing.T) {
	base := tinyCausalLlama(t)
	rng := rand.New(rand.NewPCG(7, 8))
	const pre = "base_model.model."
	in := writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "rank_pattern": map[string]any{"v_proj": 3}}, []adapterTensor{
		randTensor(rng, pre+"model.layers.0.self_attn.q_proj.lora_A.weight", 2, 8), randTensor(rng, pre+"model.layers.0.self_attn.q_proj.lora_B.weight", 8, 2),
		randTensor(rng, pre+"model.layers.1.self_attn.v_proj.lora_A.weight", 3, 8), randTensor(rng, pre+"model.layers.1.self_attn.v_proj.lora_B.weight", 4, 3),
		randTensor(rng, pre+"model.embed_tokens.lora_embedding_A", 2, 30), randTensor(rng, pre+"model.embed_tokens.lora_embedding_B", 8, 2),
	})
	ft, err := ApplyLoRA(base, in)
	if err != nil {
		t.Fatal(err)
	}
	rank, _, err := AdapterRank(in)
	if err != nil || rank != 3 {
		t.Fatalf("AdapterRank: %d, %v; want 3", rank, err)
	}
	out := t.TempDir()
	if err := SaveLoRA(out, base, ft, AdapterOptions{Rank: rank, Fields: map[string]any{"task_type": "CAUSAL_LM"}}, linalg.Go()); err != nil {
		t.Fatal(err)
	}
	back, err := ApplyLoRA(base, out)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, back, ft)
	if err := SaveLoRA(t.TempDir(), base, ft, AdapterOptions{Rank: 1}, linalg.Go()); err == nil || !strings.Contains(err.Error(), "rank above 1") {
		t.Errorf("rank 1: %v, want a rank error", err)
	}
	ps := Params(ft)
	ps["model.norm.weight"] = ps["model.norm.weight"].Clone()
	ps["model.norm.weight"].Data[0] += 1
	normed, err := WithParams(ft, ps)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveLoRA(t.TempDir(), base, normed, AdapterOptions{Rank: rank}, linalg.Go()); err == nil || !strings.Contains(err.Error(), `"model.norm.weight" changes`) {
		t.Errorf("a changed norm: %v, want an error naming it", err)
	}
}

// TestApplyLoRANewHead: the usual LoRA fine-tune of an image classifier
// (LoRA on query and value, the classifier trained whole for 5 new classes
// as modules_to_save) merges onto a base with a 3-class head into a
// 5-class model; a head without its bias is refused.
func TestApplyLoRANewHead(t *testing.T) {
	base := mustBuild(t, ViTConfig{HiddenSize: 8, NumLayers: 1, NumHeads: 2, IntermediateSize: 12, ImageSize: 8, PatchSize: 4,
		NumChannels: 1, Labels: []string{"a", "b", "c"}}.Map(), 1)
	rng := rand.New(rand.NewPCG(9, 10))
	const q = "base_model.model.vit.encoder.layer.0.attention.attention.query"
	tensors := []adapterTensor{
		randTensor(rng, q+".lora_A.weight", 2, 8), randTensor(rng, q+".lora_B.weight", 8, 2),
		randTensor(rng, "base_model.model.classifier.modules_to_save.default.weight", 5, 8), randTensor(rng, "base_model.model.classifier.bias", 5),
	}
	ft, err := ApplyLoRA(base, writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 2}, tensors))
	if err != nil {
		t.Fatal(err)
	}
	if ft.NumLabels() != 5 {
		t.Fatalf("fine-tune has %d classes, want the adapter's 5", ft.NumLabels())
	}
	for i, v := range ft.Param("classifier.weight").Value.Data {
		if v != tensors[2].data[i] {
			t.Fatalf("classifier.weight[%d] = %g, want the adapter's %g", i, v, tensors[2].data[i])
		}
	}
	want := naiveMerge(base.Param("vit.encoder.layer.0.attention.attention.query.weight").Value.Data, tensors[1], tensors[0], 1)
	for i, v := range ft.Param("vit.encoder.layer.0.attention.attention.query.weight").Value.Data {
		if math.Abs(float64(v)-want[i]) > 1e-5 {
			t.Fatalf("query weight[%d] = %g, want %g", i, v, want[i])
		}
	}
	_, err = ApplyLoRA(base, writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 2}, tensors[:3]))
	if err == nil || !strings.Contains(err.Error(), "without its bias") {
		t.Errorf("a new head without its bias: %v", err)
	}
}

// TestApplyDoRA: a DoRA adapter's fine-tune is W + s·B·A with each output
// row rescaled to its magnitude, by the definition in float64.
func TestApplyDoRA(t *testing.T) {
	base := tinyCausalLlama(t)
	rng := rand.New(rand.NewPCG(13, 14))
	const q = "base_model.model.model.layers.1.self_attn.q_proj"
	a, b, m := randTensor(rng, q+".lora_A.weight", 2, 8), randTensor(rng, q+".lora_B.weight", 8, 2), randTensor(rng, q+".lora_magnitude_vector", 8)
	ft, err := ApplyLoRA(base, writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 3, "use_dora": true}, []adapterTensor{a, b, m}))
	if err != nil {
		t.Fatal(err)
	}
	v := naiveMerge(base.Param("model.layers.1.self_attn.q_proj.weight").Value.Data, b, a, 1.5)
	got := ft.Param("model.layers.1.self_attn.q_proj.weight").Value.Data
	for i := range 8 {
		norm := 0.0
		for j := range 8 {
			norm += v[i*8+j] * v[i*8+j]
		}
		for j := range 8 {
			want := float64(m.data[i]) * v[i*8+j] / math.Sqrt(norm)
			if d := math.Abs(float64(got[i*8+j]) - want); d > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("[%d][%d] = %g, want %g", i, j, got[i*8+j], want)
			}
		}
	}
}

// TestGPTNeoXLoRA: PEFT's LoRA on GPT-NeoX's fused query_key_value merges
// into the joined tensor, so each head's query, key and value rows get
// their rows of s·B·A; SaveLoRA writes the change as one query_key_value
// module again, whose merge gives back the fine-tune.
func TestGPTNeoXLoRA(t *testing.T) {
	base := mustBuild(t, GPTNeoXConfig{VocabSize: 30, HiddenSize: 8, NumLayers: 2, NumHeads: 2, RotaryPct: 0.5, CausalLM: true}.Map(), 1)
	rng := rand.New(rand.NewPCG(9, 10))
	const pre = "base_model.model."
	a := randTensor(rng, pre+"gpt_neox.layers.1.attention.query_key_value.lora_A.weight", 2, 8)
	b := randTensor(rng, pre+"gpt_neox.layers.1.attention.query_key_value.lora_B.weight", 24, 2)
	in := writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": []any{"query_key_value"}}, []adapterTensor{a, b})
	ft, err := ApplyLoRA(base, in)
	if err != nil {
		t.Fatal(err)
	}
	// The fused weight as the checkpoint holds it: head h's rows 12h…12h+3
	// its query, 12h+4… its key, 12h+8… its value (head width 4).
	fused := make([]float32, 24*8)
	for part, p := range neoxQKV {
		w := base.Param("gpt_neox.layers.1.attention." + p + ".weight").Value.Data
		for h := range 2 {
			for j := range 4 {
				copy(fused[((3*h+part)*4+j)*8:][:8], w[(h*4+j)*8:][:8])
			}
		}
	}
	want := naiveMerge(fused, b, a, 2)
	for part, p := range neoxQKV {
		got := ft.Param("gpt_neox.layers.1.attention." + p + ".weight").Value.Data
		for h := range 2 {
			for j := range 4 {
				for c := range 8 {
					g, w := float64(got[(h*4+j)*8+c]), want[((3*h+part)*4+j)*8+c]
					if math.Abs(g-w) > 1e-5 {
						t.Fatalf("%s head %d row %d column %d: %g, want %g", p, h, j, c, g, w)
					}
				}
			}
		}
	}
	out := t.TempDir()
	if err := SaveLoRA(out, base, ft, AdapterOptions{Rank: 2}, linalg.Go()); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(out, AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	f.Close()
	if len(names) != 2 || !strings.Contains(names[0], "query_key_value.lora_") {
		t.Errorf("adapter tensors %v, want query_key_value's two factors", names)
	}
	back, err := ApplyLoRA(base, out)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, back, ft)
}

// TestGPT2LoRA: PEFT's LoRA on GPT-2's Conv1D c_attn (fan_in_fan_out: the
// weight is stored [In, Out], B·A is [Out, In]) and mlp.c_fc merges into
// the transposed weight, the query taking c_attn's first n_embd outputs;
// SaveLoRA writes the change as c_attn and c_fc modules with
// fan_in_fan_out, whose merge gives back the fine-tune.
func TestGPT2LoRA(t *testing.T) {
	base := mustBuild(t, GPT2Config{VocabSize: 30, HiddenSize: 8, NumLayers: 2, NumHeads: 2, CausalLM: true}.Map(), 1)
	rng := rand.New(rand.NewPCG(11, 12))
	const pre = "base_model.model."
	a := randTensor(rng, pre+"transformer.h.1.attn.c_attn.lora_A.weight", 2, 8)
	b := randTensor(rng, pre+"transformer.h.1.attn.c_attn.lora_B.weight", 24, 2)
	fa := randTensor(rng, pre+"transformer.h.0.mlp.c_fc.lora_A.weight", 2, 8)
	fb := randTensor(rng, pre+"transformer.h.0.mlp.c_fc.lora_B.weight", 32, 2)
	in := writeAdapter(t, map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 2, "fan_in_fan_out": true, "target_modules": []any{"c_attn", "c_fc"}}, []adapterTensor{a, b, fa, fb})
	ft, err := ApplyLoRA(base, in)
	if err != nil {
		t.Fatal(err)
	}
	// c_attn's transpose [24, 8]: rows 0…7 the query's, 8…15 the key's,
	// 16…23 the value's.
	var qkv []float32
	for _, p := range neoxQKV {
		qkv = append(qkv, base.Param("transformer.h.1.attn."+p+".weight").Value.Data...)
	}
	want := naiveMerge(qkv, b, a, 1)
	for part, p := range neoxQKV {
		got := ft.Param("transformer.h.1.attn." + p + ".weight").Value.Data
		for i, g := range got {
			if w := want[part*64+i]; math.Abs(float64(g)-w) > 1e-5 {
				t.Fatalf("%s[%d]: %g, want %g", p, i, g, w)
			}
		}
	}
	wantFC := naiveMerge(base.Param("transformer.h.0.mlp.c_fc.weight").Value.Data, fb, fa, 1)
	for i, g := range ft.Param("transformer.h.0.mlp.c_fc.weight").Value.Data {
		if math.Abs(float64(g)-wantFC[i]) > 1e-5 {
			t.Fatalf("c_fc[%d]: %g, want %g", i, g, wantFC[i])
		}
	}
	out := t.TempDir()
	if err := SaveLoRA(out, base, ft, AdapterOptions{Rank: 2}, linalg.Go()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, AdapterConfigFile))
	if err != nil || !strings.Contains(string(raw), `"fan_in_fan_out": true`) || !strings.Contains(string(raw), `c_attn`) {
		t.Errorf("adapter config %s (%v), want fan_in_fan_out and the c_attn module", raw, err)
	}
	back, err := ApplyLoRA(base, out)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, back, ft)
}

// checkRoundTrip fails t unless every parameter of back, a fine-tune
// written as an adapter and merged again, equals ft's to 1e-5 (relative).
func checkRoundTrip(t *testing.T, back, ft Model) {
	t.Helper()
	for _, name := range ft.ParamNames() {
		got, want := back.Param(name).Value.Data, ft.Param(name).Value.Data
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%s[%d]: %g after the round trip, %g before", name, i, got[i], want[i])
			}
		}
	}
}
