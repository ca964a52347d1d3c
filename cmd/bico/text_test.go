package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tokenizer"
)

// textFixture writes a Llama sequence classifier (source base, fine-tune
// with pad token 0) and a target base saved as transformers' LlamaModel
// (no "model." prefix, no score, no pad token), with a JSONL calibration
// file of input_ids and string labels.
func textFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), aft: filepath.Join(dir, "aft"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "calib.jsonl")}
	pad := 0
	labels := []string{"neg", "pos", "neu"}
	build := func(seed uint64, pad *int) model.Model {
		m, err := model.Build(model.LlamaConfig{VocabSize: 24, HiddenSize: 8, NumLayers: 2, NumHeads: 2, NumKVHeads: 1,
			IntermediateSize: 12, PadTokenID: pad, Labels: labels}.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(1, &pad)
	rng := rand.New(rand.NewPCG(2, 2))
	aft := fineTuned(t, a, rng)
	for dir, m := range map[string]model.Model{f.a: a, f.aft: aft} {
		if err := model.Save(dir, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The target: a LlamaModel checkpoint.
	b := build(3, nil)
	var tensors []safetensors.Tensor
	for _, name := range b.ParamNames() {
		if name != "score.weight" {
			tensors = append(tensors, safetensors.F32(strings.TrimPrefix(name, "model."), model.CheckpointShape(b, name), b.Param(name).Value.Data))
		}
	}
	if err := os.MkdirAll(f.b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(f.b, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	cfg := b.Config()
	delete(cfg, "id2label")
	delete(cfg, "label2id")
	cfg["architectures"] = []any{"LlamaModel"}
	if err := model.WriteConfig(f.b, cfg); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := 0; i < 60; i++ {
		ids := make([]int, 3+rng.IntN(5))
		for j := range ids {
			ids[j] = 1 + rng.IntN(23)
		}
		raw, _ := json.Marshal(map[string]any{"input_ids": ids, "label": labels[i%3]})
		lines = append(lines, string(raw))
	}
	if err := os.WriteFile(f.calib, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTransferLlamaText: bico transfer and bico eval on a text model with
// JSONL calibration data; the headless target gets the task's head and pad
// token, and the output is a LlamaForSequenceClassification.
func TestTransferLlamaText(t *testing.T) {
	f := textFixture(t)
	out := filepath.Join(f.dir, "out")
	if msg, err := run(t, f.transferArgs(out, "--per-class", "12")...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	cfg, err := model.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := model.Labels(cfg)
	if strings.Join(labels, ",") != "neg,pos,neu" || fmt.Sprint(cfg["architectures"]) != "[LlamaForSequenceClassification]" || fmt.Sprint(cfg["pad_token_id"]) != "0" {
		t.Errorf("output config: labels %q, architectures %v, pad_token_id %v; want the fine-tune's", labels, cfg["architectures"], cfg["pad_token_id"])
	}
	msg, err := run(t, "eval", "--model", out, "--data", f.calib, "--json")
	if err != nil || !strings.Contains(msg, `"n":60`) {
		t.Errorf("eval of the output: %v %s", err, msg)
	}
	// Text needs a tokenizer, shifted tasks are for images, and token ids
	// must be in the vocabulary.
	bad := filepath.Join(f.dir, "bad.jsonl")
	for _, c := range []struct{ content, spec, want string }{
		{`{"text": "a b", "label": "neg"}`, bad, "tokenizer.json"},
		{`{"input_ids": [1, 2], "label": "neg"}`, bad + "@invert", "apply to images"},
		{`{"input_ids": [1, 99], "label": "neg"}`, bad, "not a token id below vocab_size 24"},
	} {
		if err := os.WriteFile(bad, []byte(c.content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if msg, err := run(t, "eval", "--model", out, "--data", c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval --data %s (%s): %v %s; want an error with %q", c.spec, c.content, err, msg, c.want)
		}
	}
}

// TestTransferCausalLM: a causal language model's fine-tune moves to
// another base with unlabelled JSONL text; eval reports next-token scores.
func TestTransferCausalLM(t *testing.T) {
	dir := t.TempDir()
	pad := 0
	rng := rand.New(rand.NewPCG(5, 5))
	build := func(seed uint64) model.Model {
		m, err := model.Build(model.LlamaConfig{VocabSize: 24, HiddenSize: 8, NumLayers: 2, NumHeads: 2, NumKVHeads: 1,
			IntermediateSize: 12, PadTokenID: &pad, CausalLM: true}.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(1)
	aft := fineTuned(t, a, rng)
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), aft: filepath.Join(dir, "aft"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "text.jsonl")}
	for d, m := range map[string]model.Model{f.a: a, f.aft: aft, f.b: build(3)} {
		if err := model.Save(d, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	writeTokenLines(t, f.calib, rng)
	out := filepath.Join(dir, "out")
	if msg, err := run(t, f.transferArgs(out, "--per-class", "24")...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	cfg, err := model.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg["architectures"]) != "[LlamaForCausalLM]" {
		t.Errorf("output architectures %v", cfg["architectures"])
	}
	msg, err := run(t, "eval", "--model", out, "--data", f.calib)
	if err != nil || !strings.Contains(msg, "perplexity") || !strings.Contains(msg, "of 30 sequences") {
		t.Errorf("eval of the output: %v %s", err, msg)
	}

	// The fine-tune as a PEFT LoRA adapter on the query and value
	// projections (bfloat16, as adapters usually are): merged onto the
	// source base, it leaves every other site out of the transfer.
	lora := filepath.Join(dir, "lora")
	var tensors []safetensors.Tensor
	for l := range 2 {
		for _, proj := range []string{"q_proj", "v_proj"} {
			name := fmt.Sprintf("base_model.model.model.layers.%d.self_attn.%s", l, proj)
			out := a.Param(fmt.Sprintf("model.layers.%d.self_attn.%s.weight", l, proj)).Value.Shape[0]
			A, B := make([]float32, 4*8), make([]float32, out*4)
			for i := range A {
				A[i] = float32(rng.NormFloat64())
			}
			for i := range B {
				B[i] = 0.1 * float32(rng.NormFloat64())
			}
			tensors = append(tensors, safetensors.BF16(name+".lora_A.weight", []int{4, 8}, A), safetensors.BF16(name+".lora_B.weight", []int{out, 4}, B))
		}
	}
	if err := os.MkdirAll(lora, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(lora, model.AdapterWeightsFile), tensors, nil); err != nil {
		t.Fatal(err)
	}
	adapterCfg := `{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}`
	if err := os.WriteFile(filepath.Join(lora, model.AdapterConfigFile), []byte(adapterCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := run(t, "inspect", lora); err != nil || !strings.Contains(msg, "PEFT LoRA adapter (largest rank 4, lora_alpha 8") {
		t.Errorf("inspect of the adapter: %v\n%s", err, msg)
	}
	args := f.transferArgs(filepath.Join(dir, "out-lora"), "--per-class", "24")
	args[5] = lora
	msg, err = run(t, args...)
	if err != nil {
		t.Fatalf("transfer of a LoRA adapter: %v\n%s", err, msg)
	}
	// 2 layers × (q, k, v, o, gate, up, down) + embedding + lm_head = 16
	// pairs, of which q and v of each layer are kept.
	if !strings.Contains(msg, "12 of 16 site pairs were left out") {
		t.Errorf("LoRA transfer output:\n%s", msg)
	}

	// --save-lora writes the same transfer as an adapter of B, which
	// merged onto B gives the full model the run above wrote.
	adapterOut := filepath.Join(dir, "out-lora-adapter")
	args = f.transferArgs(adapterOut, "--per-class", "24", "--save-lora", "--dtype", "float32")
	args[5] = lora
	if msg, err := run(t, args...); err != nil {
		t.Fatalf("transfer --save-lora: %v\n%s", err, msg)
	}
	full, err := model.Load(filepath.Join(dir, "out-lora"))
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, mergedOnto(t, f.b, adapterOut), full, 1e-5, "B with the written adapter", "the full output")
	// By default the adapter is written in the source adapter's bfloat16.
	args = f.transferArgs(filepath.Join(dir, "out-lora-bf16"), "--per-class", "24", "--save-lora")
	args[5] = lora
	if msg, err := run(t, args...); err != nil {
		t.Fatalf("transfer --save-lora: %v\n%s", err, msg)
	}
	if d, err := model.StoredDtype(filepath.Join(dir, "out-lora-bf16")); err != nil || d != safetensors.DtypeBF16 {
		t.Errorf("adapter written as %s (%v), want BF16 as the source adapter", d, err)
	}
	sameParams(t, mergedOnto(t, f.b, filepath.Join(dir, "out-lora-bf16")), full, 1e-2, "B with the bfloat16 adapter", "the full output")
	// bico eval scores the adapter on B as it scores the full output.
	want, err := run(t, "eval", "--model", filepath.Join(dir, "out-lora"), "--data", f.calib)
	if err != nil {
		t.Fatal(err)
	}
	got, err := run(t, "eval", "--model", adapterOut, "--base", f.b, "--data", f.calib)
	if err != nil || !strings.Contains(got, "perplexity") || got[strings.Index(got, " on "):] != want[strings.Index(want, " on "):] {
		t.Errorf("eval of the adapter on B: %v\n%s\nwant as the full output's:\n%s", err, got, want)
	}
	if _, err := run(t, "eval", "--model", adapterOut, "--data", f.calib); err == nil || !strings.Contains(err.Error(), "--base") {
		t.Errorf("eval of an adapter without --base: %v", err)
	}
	args = f.transferArgs(filepath.Join(dir, "out-full-as-lora"), "--per-class", "24", "--save-lora")
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "not a LoRA adapter") {
		t.Errorf("--save-lora with a full fine-tune: %v", err)
	}
}

// TestTransferClassifierFromCausalBases: bases published as causal LMs
// (an lm_head, no score) serve a sequence-classification fine-tune.
func TestTransferClassifierFromCausalBases(t *testing.T) {
	f := textFixture(t)
	for _, dir := range []string{f.a, f.b} {
		m, err := model.LoadWith(dir, model.LoadOptions{MissingHead: true, Architecture: "LlamaForSequenceClassification"})
		if err != nil {
			t.Fatal(err)
		}
		tensors := []safetensors.Tensor{safetensors.F32("lm_head.weight", []int{24, 8}, make([]float32, 24*8))}
		for _, name := range m.ParamNames() {
			if name != "score.weight" {
				tensors = append(tensors, safetensors.F32(name, model.CheckpointShape(m, name), m.Param(name).Value.Data))
			}
		}
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
			t.Fatal(err)
		}
		cfg := m.Config()
		cfg["architectures"] = []any{"LlamaForCausalLM"}
		delete(cfg, "id2label")
		delete(cfg, "label2id")
		if err := model.WriteConfig(dir, cfg); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(f.dir, "out")
	if msg, err := run(t, f.transferArgs(out, "--per-class", "12")...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	if msg, err := run(t, "eval", "--model", out, "--data", f.calib, "--json"); err != nil || !strings.Contains(msg, `"n":60`) {
		t.Errorf("eval of the output: %v %s", err, msg)
	}
}

// TestEvalTokenizesText: text lines are tokenised with the model folder's
// tokenizer.json (a Llama-2-style fixture of the tokenizer package).
func TestEvalTokenizesText(t *testing.T) {
	dir := t.TempDir()
	tok, err := tokenizer.Load("../../tokenizer/testdata/llama2.json")
	if err != nil {
		t.Fatal(err)
	}
	pad := 0
	m, err := model.Build(model.LlamaConfig{VocabSize: tok.VocabSize(), HiddenSize: 8, NumLayers: 1, NumHeads: 2,
		IntermediateSize: 8, PadTokenID: &pad, Labels: []string{"neg", "pos"}}.Map(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	mdir := filepath.Join(dir, "m")
	if err := model.Save(mdir, m, 0); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../tokenizer/testdata/llama2.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mdir, "tokenizer.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	calib := filepath.Join(dir, "reviews.jsonl")
	text := `{"text": "The film was a delight.", "label": "pos"}` + "\n" + `{"text": "Dull, and far too long.", "label": "neg"}` + "\n"
	if err := os.WriteFile(calib, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := run(t, "eval", "--model", mdir, "--data", calib, "--json")
	if err != nil || !strings.Contains(msg, `"n":2`) {
		t.Fatalf("eval: %v %s", err, msg)
	}
	// The same ids given as input_ids score the same.
	var lines []string
	for _, s := range []string{"The film was a delight.", "Dull, and far too long."} {
		ids, err := tok.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		label := map[bool]string{true: "pos", false: "neg"}[strings.HasPrefix(s, "The")]
		b, _ := json.Marshal(map[string]any{"input_ids": ids, "label": label})
		lines = append(lines, string(b))
	}
	ids := filepath.Join(dir, "ids.jsonl")
	if err := os.WriteFile(ids, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	msg2, err := run(t, "eval", "--model", mdir, "--data", ids, "--json")
	if err != nil {
		t.Fatal(err)
	}
	strip := func(s string) string { return s[strings.Index(s, `"accuracy"`):] }
	if strip(msg) != strip(msg2) {
		t.Errorf("text and its input_ids score differently:\n%s\n%s", msg, msg2)
	}
}

// TestTransferAcrossTokenizers: a source whose tokenizer.json differs from
// the target's reads the calibration text in its own ids. Where both
// tokenise alike, the transfer is the one-tokenizer transfer; where the
// source numbers tokens otherwise or splits text otherwise, the transfer
// runs on the matched rows and says how many matched; Llama 2's tokenizer
// against Llama 3's (another vocabulary) moves the embedding rows of the
// tokens both have. Text given as input_ids cannot be read by both.
func TestTransferAcrossTokenizers(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("../../tokenizer/testdata/llama2.json")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pad := 0
	build := func(vocab int, seed uint64) model.Model {
		m, err := model.Build(model.LlamaConfig{VocabSize: vocab, HiddenSize: 8, NumLayers: 1, NumHeads: 2,
			IntermediateSize: 8, PadTokenID: &pad, CausalLM: true}.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(tok.VocabSize(), 1)
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), aft: filepath.Join(dir, "aft"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "text.jsonl")}
	for d, m := range map[string]model.Model{f.a: a, f.aft: fineTuned(t, a, rand.New(rand.NewPCG(7, 7))), f.b: build(tok.VocabSize(), 3)} {
		if err := model.Save(d, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.b, "tokenizer.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range []string{"The film was a delight.", "Dull, and far too long.", "The actors were fine.", "A quiet, slow story."} {
		b, _ := json.Marshal(map[string]any{"text": s})
		lines = append(lines, string(b))
	}
	if err := os.WriteFile(f.calib, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string { return f.transferArgs(out, "--per-class", "4", "--alpha", "1") }
	// The transfer with the target's tokenizer alone.
	one := filepath.Join(dir, "out-one")
	if msg, err := run(t, args(one)...); err != nil || strings.Contains(msg, "tokenise text differently") {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	// edit returns the target's tokenizer.json changed by change.
	edit := func(change func(m map[string]any)) []byte {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		change(doc["model"].(map[string]any))
		b, err := json.MarshalIndent(doc, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name   string
		source []byte
		want   string // in the output
	}{
		{"reformatted", edit(func(map[string]any) {}), "53 of the target's 53 calibration tokens line up"},
		{"ids swapped", edit(func(m map[string]any) {
			v := m["vocab"].(map[string]any)
			v["▁t"], v["he"] = v["he"], v["▁t"]
		}), "; 684 of its 684 vocabulary entries have a source token"},
		{"a merge less", edit(func(m map[string]any) {
			m["merges"] = m["merges"].([]any)[1:] // "▁ t"
		}), "52 of the target's 53 calibration tokens line up"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(f.aft, "tokenizer.json"), c.source, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			msg, err := run(t, args(out)...)
			if err != nil || !strings.Contains(msg, c.want) {
				t.Fatalf("transfer: %v\n%s\nwant %q", err, msg, c.want)
			}
			if c.name == "reformatted" {
				got, err1 := model.Load(out)
				want, err2 := model.Load(one)
				if err := errors.Join(err1, err2); err != nil {
					t.Fatal(err)
				}
				sameParams(t, got, want, 1e-6, "the transfer with both tokenizers", "with the target's alone")
			}
		})
	}
	// Llama 3's tokenizer for the target: another vocabulary, byte-level
	// tokens. The embedding rows of the target's tokens that Llama 2's
	// vocabulary lacks keep B's values; the others change.
	raw3, err := os.ReadFile("../../tokenizer/testdata/llama3.json")
	if err != nil {
		t.Fatal(err)
	}
	tok3, err := tokenizer.Parse(raw3)
	if err != nil {
		t.Fatal(err)
	}
	b3 := build(tok3.VocabSize(), 3)
	if err := model.Save(f.b, b3, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.b, "tokenizer.json"), raw3, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.aft, "tokenizer.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out3 := filepath.Join(dir, "out-llama3")
	msg, err := run(t, args(out3)...)
	if err != nil || !strings.Contains(msg, "vocabulary entries have a source token") {
		t.Fatalf("transfer from Llama 2's tokenizer to Llama 3's: %v\n%s", err, msg)
	}
	t.Log(msg)
	got, err := model.Load(out3)
	if err != nil {
		t.Fatal(err)
	}
	vocab, _ := vocabMap(tok, tok3, tok3.VocabSize())
	d := got.Param("model.embed_tokens.weight").Value.Data
	e := b3.Param("model.embed_tokens.weight").Value.Data
	changed, lacking := 0, 0
	for j, i := range vocab {
		same := slices.Equal(d[j*8:(j+1)*8], e[j*8:(j+1)*8])
		if i < 0 {
			lacking++
			if !same {
				t.Fatalf("target token %d, which Llama 2's vocabulary lacks, got a delta", j)
			}
		} else if !same {
			changed++
		}
	}
	if lacking == 0 || changed < len(vocab)/2 {
		t.Errorf("%d of %d embedding rows changed, %d tokens without a source token", changed, len(vocab), lacking)
	}
	if err := os.WriteFile(f.calib, []byte(`{"input_ids": [1, 5, 9]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, args(filepath.Join(dir, "out-ids"))...); err == nil || !strings.Contains(err.Error(), "tokenise text differently") {
		t.Errorf("input_ids with two tokenizers: %v", err)
	}
	// A target without a pad token takes its tokenizer's token of the
	// fine-tune's pad token's name; Llama 3's tokenizer has no "<unk>".
	cfg, err := model.ReadConfig(f.b)
	if err != nil {
		t.Fatal(err)
	}
	delete(cfg, "pad_token_id")
	if err := model.WriteConfig(f.b, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, args(filepath.Join(dir, "out-nopad"))...); err == nil || !strings.Contains(err.Error(), `no "<unk>"`) || !strings.Contains(err.Error(), "pad_token_id") {
		t.Errorf("a target without a pad token: %v", err)
	}
}

// TestTransferRoBERTa: a RoBERTa sentiment fine-tune moves to a wider
// RoBERTa base, both bases published as RobertaForMaskedLM checkpoints
// (no classifier, an lm_head the classifier ignores), with text tokenised
// by RoBERTa's byte-level tokenizer: the bases get the fine-tune's two-layer
// head, and the output is a RobertaForSequenceClassification that scores
// text.
func TestTransferRoBERTa(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("../../tokenizer/testdata/roberta.json")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pad, _ := tok.TokenID("<pad>")
	labels := []string{"neg", "pos"}
	build := func(hidden, heads int, seed uint64) model.Model {
		m, err := model.Build(model.BertConfig{RoBERTa: true, VocabSize: tok.VocabSize(), HiddenSize: hidden, NumLayers: 1, NumHeads: heads,
			IntermediateSize: 8, MaxPositions: pad + 40, PadTokenID: &pad, Labels: labels}.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// saveBase writes m as a RobertaForMaskedLM checkpoint.
	saveBase := func(d string, m model.Model) {
		var tensors []safetensors.Tensor
		for _, name := range m.ParamNames() {
			if !strings.HasPrefix(name, "classifier.") {
				tensors = append(tensors, safetensors.F32(name, model.CheckpointShape(m, name), m.Param(name).Value.Data))
			}
		}
		tensors = append(tensors, safetensors.F32("lm_head.bias", []int{tok.VocabSize()}, make([]float32, tok.VocabSize())))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := safetensors.Write(filepath.Join(d, "model.safetensors"), tensors, nil); err != nil {
			t.Fatal(err)
		}
		cfg := m.Config()
		delete(cfg, "id2label")
		delete(cfg, "label2id")
		cfg["architectures"] = []any{"RobertaForMaskedLM"}
		if err := model.WriteConfig(d, cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "tokenizer.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := build(8, 2, 1)
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), aft: filepath.Join(dir, "aft"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "reviews.jsonl")}
	saveBase(f.a, a)
	saveBase(f.b, build(12, 3, 3))
	if err := model.Save(f.aft, fineTuned(t, a, rand.New(rand.NewPCG(8, 8))), 0); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, s := range []string{"The film was a delight.", "Dull, and far too long.", "The actors were fine.", "A quiet, slow story.",
		"We loved every minute.", "It was a waste of time.", "What a happy day.", "The plot made no sense."} {
		b, _ := json.Marshal(map[string]any{"text": s, "label": labels[(i+1)%2]})
		lines = append(lines, string(b))
	}
	if err := os.WriteFile(f.calib, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if msg, err := run(t, f.transferArgs(out, "--per-class", "4", "--alpha", "1")...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := model.Labels(m.Config()); !slices.Equal(got, labels) || m.Param("classifier.dense.weight").Value.Shape[0] != 12 {
		t.Errorf("output: labels %q, classifier.dense %v", got, m.Param("classifier.dense.weight").Value.Shape)
	}
	// The output carries the target's tokenizer, so eval reads the text.
	if got, err := os.ReadFile(filepath.Join(out, "tokenizer.json")); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("the output's tokenizer.json is not the target's: %v", err)
	}
	msg, err := run(t, "eval", "--model", out, "--data", f.calib, "--json")
	if err != nil || !strings.Contains(msg, `"n":8`) {
		t.Errorf("eval of the output: %v %s", err, msg)
	}

	// The fine-tune as PEFT writes a sequence-classification LoRA: query
	// and value adapted, the classifier (dense and out_proj) whole in
	// modules_to_save. --save-lora writes the transfer as such an adapter
	// of B, the target's task head whole, which merged onto B gives the
	// full output.
	ft, err := model.Load(f.aft)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(10, 10))
	var tensors []safetensors.Tensor
	for _, proj := range []string{"query", "value"} {
		name := "base_model.model.roberta.encoder.layer.0.attention.self." + proj
		A, B := make([]float32, 2*8), make([]float32, 8*2)
		for i := range A {
			A[i], B[i] = float32(rng.NormFloat64()), 0.1*float32(rng.NormFloat64())
		}
		tensors = append(tensors, safetensors.F32(name+".lora_A.weight", []int{2, 8}, A), safetensors.F32(name+".lora_B.weight", []int{8, 2}, B))
	}
	for _, p := range []string{"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias"} {
		tensors = append(tensors, safetensors.F32("base_model.model."+p, ft.Param(p).Value.Shape, ft.Param(p).Value.Data))
	}
	lora := filepath.Join(dir, "lora")
	if err := os.MkdirAll(lora, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(lora, model.AdapterWeightsFile), tensors, nil); err != nil {
		t.Fatal(err)
	}
	adapterCfg := `{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["query", "value"], "modules_to_save": ["classifier"], "task_type": "SEQ_CLS"}`
	if err := os.WriteFile(filepath.Join(lora, model.AdapterConfigFile), []byte(adapterCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	fullOut, adapterOut := filepath.Join(dir, "out-lora-full"), filepath.Join(dir, "out-lora")
	for _, c := range []struct {
		out   string
		extra []string
	}{{fullOut, nil}, {adapterOut, []string{"--save-lora"}}} {
		args := f.transferArgs(c.out, append([]string{"--per-class", "4", "--alpha", "1"}, c.extra...)...)
		args[5] = lora
		if msg, err := run(t, args...); err != nil {
			t.Fatalf("transfer of the adapter %v: %v\n%s", c.extra, err, msg)
		}
	}
	full, err := model.Load(fullOut)
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.LoadWith(f.b, model.LoadOptions{MissingHead: true, Architecture: "RobertaForSequenceClassification"})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = model.ApplyLoRA(b, adapterOut); err != nil {
		t.Fatal(err)
	}
	sameParams(t, b, full, 1e-5, "B with the written adapter", "the full output")
}

// TestTransferBertToRoBERTa: a fine-tune of an uncased BERT (WordPiece)
// moves to a RoBERTa base (byte-level BPE, cased): each reads the text in
// its own tokens, which line up by their text, case aside.
func TestTransferBertToRoBERTa(t *testing.T) {
	dir := t.TempDir()
	load := func(name string) ([]byte, *tokenizer.Tokenizer) {
		raw, err := os.ReadFile("../../tokenizer/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokenizer.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return raw, tok
	}
	rawA, tokA := load("bert.json")
	rawB, tokB := load("roberta.json")
	padA, _ := tokA.TokenID("[PAD]")
	padB, _ := tokB.TokenID("<pad>")
	labels := []string{"neg", "pos"}
	build := func(c model.BertConfig, seed uint64) model.Model {
		c.HiddenSize, c.NumLayers, c.NumHeads, c.IntermediateSize, c.Labels = 8, 1, 2, 8, labels
		m, err := model.Build(c.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(model.BertConfig{VocabSize: tokA.VocabSize(), MaxPositions: 64, PadTokenID: &padA}, 1)
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), aft: filepath.Join(dir, "aft"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "reviews.jsonl")}
	for d, m := range map[string]model.Model{f.a: a, f.aft: fineTuned(t, a, rand.New(rand.NewPCG(9, 9))),
		f.b: build(model.BertConfig{RoBERTa: true, VocabSize: tokB.VocabSize(), MaxPositions: padB + 64, PadTokenID: &padB}, 3)} {
		if err := model.Save(d, m, 0); err != nil {
			t.Fatal(err)
		}
		raw := rawA
		if d == f.b {
			raw = rawB
		}
		if err := os.WriteFile(filepath.Join(d, "tokenizer.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for i, s := range []string{"The film was a delight.", "Dull, and far too long.", "The actors were fine.", "A quiet, slow story."} {
		b, _ := json.Marshal(map[string]any{"text": s, "label": labels[i%2]})
		lines = append(lines, string(b))
	}
	if err := os.WriteFile(f.calib, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	msg, err := run(t, f.transferArgs(out, "--per-class", "2", "--alpha", "1")...)
	if err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	t.Log(msg)
	var matched, total int
	if i := strings.Index(msg, "differently ("); i < 0 {
		t.Fatalf("no tokenizer line:\n%s", msg)
	} else if _, err := fmt.Sscanf(msg[strings.Index(msg[i:], "): ")+i+3:], "%d of the target's %d", &matched, &total); err != nil || matched < total*3/4 {
		t.Errorf("%d of %d tokens lined up (%v), want most", matched, total, err)
	}
	if msg, err := run(t, "eval", "--model", out, "--data", f.calib); err != nil {
		t.Errorf("eval of the output: %v %s", err, msg)
	}
	// The target keeps its own pad token (RoBERTa's positions count from
	// it), not the fine-tune's [PAD].
	if cfg, err := model.ReadConfig(out); err != nil || fmt.Sprint(cfg["pad_token_id"]) != fmt.Sprint(padB) {
		t.Errorf("the output's pad_token_id is %v (%v), want the target's %d", cfg["pad_token_id"], err, padB)
	}
}

// TestTransferFusedLoRA: a LoRA fine-tune of a fused attention projection,
// GPT-NeoX's query_key_value (Pythia), GPT-2's Conv1D c_attn (stored
// [In, Out], PEFT's fan_in_fan_out) and Phi-3's qkv_proj, moves to a base
// of another seed. The
// query, key and value sites split from it are kept and the others left
// out; the full output holds the fused tensor under its checkpoint name in
// its checkpoint shape, and --save-lora writes the transfer as an adapter
// of B's fused module, which merged onto B gives the full output.
func TestTransferFusedLoRA(t *testing.T) {
	pad := 0
	phi3 := model.LlamaConfig{VocabSize: 24, HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 12, PadTokenID: &pad, CausalLM: true}.Map()
	phi3["model_type"] = "phi3"
	for _, c := range []struct {
		name, module string // the fused module, %d its block
		cfg          map[string]any
		fileShape    []int // the fused weight's shape on file
		pairs        int   // site pairs
		leftOut      int   // of them left out
	}{
		{"gpt_neox", "gpt_neox.layers.%d.attention.query_key_value",
			model.GPTNeoXConfig{VocabSize: 24, HiddenSize: 8, NumLayers: 2, NumHeads: 2, RotaryPct: 0.5, PadTokenID: &pad, CausalLM: true}.Map(), []int{24, 8}, 14, 8},
		{"gpt2", "transformer.h.%d.attn.c_attn",
			model.GPT2Config{VocabSize: 24, HiddenSize: 8, NumLayers: 2, NumHeads: 2, PadTokenID: &pad, CausalLM: true}.Map(), []int{8, 24}, 14, 7},
		{"phi3", "model.layers.%d.self_attn.qkv_proj", phi3, []int{24, 8}, 16, 10},
	} {
		t.Run(c.name, func(t *testing.T) { checkFusedLoRA(t, c.cfg, c.module, c.fileShape, c.pairs, c.leftOut) })
	}
}

func checkFusedLoRA(t *testing.T, cfg map[string]any, module string, fileShape []int, pairs, leftOut int) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(6, 6))
	build := func(seed uint64) model.Model {
		m, err := model.Build(cfg, nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "text.jsonl")}
	for d, m := range map[string]model.Model{f.a: build(1), f.b: build(3)} {
		if err := model.Save(d, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	writeTokenLines(t, f.calib, rng)
	f.aft = filepath.Join(dir, "lora")
	var tensors []safetensors.Tensor
	for l := range 2 {
		name := "base_model.model." + fmt.Sprintf(module, l)
		A, B := make([]float32, 4*8), make([]float32, 24*4)
		for i := range A {
			A[i] = float32(rng.NormFloat64())
		}
		for i := range B {
			B[i] = 0.1 * float32(rng.NormFloat64())
		}
		tensors = append(tensors, safetensors.F32(name+".lora_A.weight", []int{4, 8}, A), safetensors.F32(name+".lora_B.weight", []int{24, 4}, B))
	}
	if err := os.MkdirAll(f.aft, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(f.aft, model.AdapterWeightsFile), tensors, nil); err != nil {
		t.Fatal(err)
	}
	short := module[strings.LastIndex(module, ".")+1:]
	adapterCfg := fmt.Sprintf(`{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": [%q], "task_type": "CAUSAL_LM"}`, short)
	if err := os.WriteFile(filepath.Join(f.aft, model.AdapterConfigFile), []byte(adapterCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	msg, err := run(t, f.transferArgs(out, "--per-class", "24")...)
	if err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	// 2 blocks × (query, key, value, attention output, MLP in, MLP out) +
	// embedding + lm_head = 14 pairs (16 with Phi-3's gated MLP), of which
	// query, key and value are kept, and GPT-2's lm_head, tied to the
	// embedding.
	if !strings.Contains(msg, fmt.Sprintf("%d of %d site pairs were left out", leftOut, pairs)) {
		t.Errorf("transfer output:\n%s", msg)
	}
	ck, err := safetensors.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	info, fused := ck.Info(fmt.Sprintf(module, 1) + ".weight")
	_, split := ck.Info(strings.TrimSuffix(fmt.Sprintf(module, 1), short) + "query.weight")
	ck.Close()
	if !fused || split || !slices.Equal(info.Shape, fileShape) {
		t.Errorf("output checkpoint: fused weight %v of shape %v, split query %v; want the fused tensor only, of shape %v", fused, info.Shape, split, fileShape)
	}
	adapterOut := filepath.Join(dir, "out-adapter")
	if msg, err := run(t, f.transferArgs(adapterOut, "--per-class", "24", "--save-lora")...); err != nil {
		t.Fatalf("transfer --save-lora: %v\n%s", err, msg)
	}
	full, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, mergedOnto(t, f.b, adapterOut), full, 1e-5, "B with the written adapter", "the full output")
	raw, err := os.ReadFile(filepath.Join(adapterOut, model.AdapterConfigFile))
	if err != nil || !strings.Contains(string(raw), short) {
		t.Errorf("adapter config %s (%v), want the %s modules", raw, err, short)
	}
}

// writeTokenLines writes 30 JSON lines of input_ids to path: sequences of 3
// to 8 random ids in [1, 24).
func writeTokenLines(t *testing.T, path string, rng *rand.Rand) {
	t.Helper()
	var lines []string
	for range 30 {
		ids := make([]int, 3+rng.IntN(6))
		for j := range ids {
			ids[j] = 1 + rng.IntN(23)
		}
		raw, _ := json.Marshal(map[string]any{"input_ids": ids})
		lines = append(lines, string(raw))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
