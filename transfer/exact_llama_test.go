package transfer

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// llamaPerms are coordinate permutations that make a functionally
// identical copy of a Llama: the residual stream; per block the key-value
// heads (query heads move with their group), the query heads within a
// group, the within-head coordinates of the values, and the MLP units.
// Rotary embeddings tie each query and key coordinate to a frequency, so
// within-head coordinates of queries and keys are kept.
type llamaPerms struct {
	res          []int
	q, k, v, mlp [][]int // per block, over the projection's full width
	o            [][]int // per block, o_proj's input (the attention context)
}

func newLlamaPerms(rng *rand.Rand, d, heads, kvHeads, dh, inter, layers int) llamaPerms {
	p := llamaPerms{res: rng.Perm(d)}
	group := heads / kvHeads
	for l := 0; l < layers; l++ {
		kvp, inGroup, wv := rng.Perm(kvHeads), rng.Perm(group), rng.Perm(dh)
		q, o := make([]int, heads*dh), make([]int, heads*dh)
		k, v := make([]int, kvHeads*dh), make([]int, kvHeads*dh)
		for g := 0; g < kvHeads; g++ {
			for j := 0; j < dh; j++ {
				k[g*dh+j] = kvp[g]*dh + j
				v[g*dh+j] = kvp[g]*dh + wv[j]
			}
			for r := 0; r < group; r++ {
				h, src := g*group+r, kvp[g]*group+inGroup[r]
				for j := 0; j < dh; j++ {
					q[h*dh+j] = src*dh + j
					o[h*dh+j] = src*dh + wv[j]
				}
			}
		}
		p.q, p.k, p.v, p.o = append(p.q, q), append(p.k, k), append(p.v, v), append(p.o, o)
		p.mlp = append(p.mlp, rng.Perm(inter))
	}
	return p
}

// apply returns the permuted copy of a Llama parameter set.
func (p llamaPerms) apply(src params) params {
	out := params{}
	res := p.res
	set := func(name string, perms ...[]int) {
		if src[name] != nil {
			out[name] = permuteAxes(src[name], perms...)
		}
	}
	set("model.embed_tokens.weight", nil, res)
	for l := range p.q {
		b := "model.layers." + strconv.Itoa(l) + "."
		set(b+"self_attn.q_proj.weight", p.q[l], res)
		set(b+"self_attn.k_proj.weight", p.k[l], res)
		set(b+"self_attn.v_proj.weight", p.v[l], res)
		set(b+"self_attn.q_proj.bias", p.q[l]) // qwen2
		set(b+"self_attn.k_proj.bias", p.k[l])
		set(b+"self_attn.v_proj.bias", p.v[l])
		for n, perm := range map[string][]int{"q_norm": p.q[l], "k_norm": p.k[l]} {
			switch w := src[b+"self_attn."+n+".weight"]; {
			case w == nil:
			case w.Numel() == len(perm): // olmo2: a norm of the whole projection
				set(b+"self_attn."+n+".weight", perm)
			default: // qwen3, gemma3: of each head, whose coordinates are kept
				out[b+"self_attn."+n+".weight"] = w.Clone()
			}
		}
		set(b+"self_attn.o_proj.weight", res, p.o[l])
		set(b+"mlp.gate_proj.weight", p.mlp[l], res)
		set(b+"mlp.up_proj.weight", p.mlp[l], res)
		set(b+"mlp.down_proj.weight", res, p.mlp[l])
		for _, n := range []string{"input_layernorm", "post_attention_layernorm"} {
			set(b+n+".weight", res)
			set(b+n+".bias", res) // stablelm
		}
		set(b+"pre_feedforward_layernorm.weight", res) // gemma2
		set(b+"post_feedforward_layernorm.weight", res)
	}
	set("model.norm.weight", res)
	set("model.norm.bias", res)
	set("score.weight", nil, res)
	set("lm_head.weight", nil, res)
	return out
}

func tinyLlama(t *testing.T, seed uint64) model.Model { return tinyLlamaOf(t, "llama", seed) }

// tinyLlamaOf is a tiny model of a Llama model type (llama, mistral, qwen2,
// qwen3, gemma, gemma2, gemma3_text, phi3, olmo2, olmo3, stablelm, granite).
func tinyLlamaOf(t *testing.T, modelType string, seed uint64) model.Model {
	t.Helper()
	pad := 0
	cfg := model.LlamaConfig{VocabSize: 20, HiddenSize: 8, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 4,
		IntermediateSize: 12, PadTokenID: &pad, Labels: []string{"a", "b", "c"}}.Map()
	cfg["initializer_range"] = 0.3
	cfg["model_type"] = modelType
	cfg["sliding_window"] = 3 // of mistral's, gemma2's, gemma3_text's and phi3's layers (sequences are 6 tokens)
	if modelType == "phi3" {
		// Half of each head rotated, with LongRoPE's long factors (the
		// sequences exceed the original 4 positions) and attention factor.
		cfg["partial_rotary_factor"], cfg["original_max_position_embeddings"] = 0.5, 4
		cfg["rope_scaling"] = map[string]any{"type": "longrope", "short_factor": []any{1.5}, "long_factor": []any{4.0}}
	}
	if modelType == "granite" {
		cfg["embedding_multiplier"], cfg["attention_multiplier"], cfg["residual_multiplier"], cfg["logits_scaling"] = 3.0, 0.2, 0.5, 2.0
	}
	if modelType == "stablelm" {
		cfg["partial_rotary_factor"], cfg["use_parallel_residual"], cfg["use_qkv_bias"] = 0.5, true, true
	}
	if modelType == "olmo3" {
		cfg["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16.0}
	}
	m, err := model.Build(cfg, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	return perturbed(t, m, seed+100, 0.1)
}

// tokenSamples returns n sequences of length T of random token ids in
// [1, vocab), the last few of some replaced by padding (id 0), with random
// labels below classes.
func tokenSamples(n, T, vocab, classes int, seed uint64) Samples {
	rng := rand.New(rand.NewPCG(seed, 6))
	x := tensor.New[float32](n, T)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		length := T - rng.IntN(T/2)
		for j := 0; j < length; j++ {
			x.Data[i*T+j] = float32(1 + rng.IntN(vocab-1))
		}
		labels[i] = rng.IntN(classes)
	}
	return Samples{Inputs: x, Labels: labels}
}

// TestBiCoRecoversPermutedLlama: B is A with its residual stream, heads,
// value coordinates and MLP units permuted (functionally identical, with
// grouped-query attention and rotary embeddings), so BiCo with α = 1 must
// return the permuted τ_A, the token-embedding table's included, and B's
// transferred model must reproduce A's fine-tuned logits.
func TestBiCoRecoversPermutedLlama(t *testing.T) {
	for _, mt := range []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "olmo3", "stablelm", "granite"} {
		t.Run(mt, func(t *testing.T) { checkPermutedLlama(t, mt) })
	}
}

func checkPermutedLlama(t *testing.T, modelType string) {
	a := tinyLlamaOf(t, modelType, 1)
	aft := perturbed(t, a, 2, 0.05)
	perms := newLlamaPerms(rand.New(rand.NewPCG(4, 4)), 8, 4, 2, 4, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
	calib := tokenSamples(64, 6, 20, 3, 9)
	if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
		t.Fatalf("the permuted Llama is not functionally equal to the source: logits differ by %.3g", e)
	}
	want := perms.apply(taskVectors(t, a, aft))
	for _, c := range []struct {
		name, method string
		opts         Options
	}{
		{"default", "bico", Options{}},
		{"blend", "bico-blend", Options{}},
		{"shared-qk", "bico", Options{SharedQK: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runMethodOpts(t, Models{a, aft, b}, calib, c.method, 1, c.opts)
			checkRecovered(t, res, want, aft, calib.Inputs, 2e-3)
		})
	}
}

// TestEveryMethodOnLlama: every method transfers a Llama fine-tune to a
// base of another seed, changing the embedding table.
func TestEveryMethodOnLlama(t *testing.T) {
	a, b := tinyLlama(t, 1), tinyLlama(t, 7)
	aft := perturbed(t, a, 2, 0.05)
	calib := tokenSamples(32, 6, 20, 3, 9)
	for _, name := range Methods() {
		t.Run(name, func(t *testing.T) {
			res := runMethod(t, Models{a, aft, b}, calib, name, 1)
			d := res.Delta["model.embed_tokens.weight"]
			if d == nil || relErr(d, tensor.New[float32](d.Shape...)) == 0 {
				t.Errorf("no change to the embedding table")
			}
			if l := logits(res.Model, calib.Inputs); l.FirstNonFinite() >= 0 {
				t.Errorf("non-finite logits")
			}
		})
	}
}

// checkDeltasFit fails t unless every delta of res is of a parameter of
// the target b, in its shape.
func checkDeltasFit(t *testing.T, res *Result, b model.Model) {
	t.Helper()
	for name, d := range res.Delta {
		if p := b.Param(name); p == nil || !tensor.SameShape(p.Value.Shape, d.Shape) {
			t.Errorf("%s: delta %v does not fit the target", name, d.Shape)
		}
	}
}

// TestQwen2ToQwen3: a Qwen2 fine-tune moves to a Qwen3 base (the likely
// upgrade): the projections' deltas take the target's shapes, the source's
// query, key and value biases have no target parameter to go to, and the
// target's head norms (q_norm, k_norm), which the source lacks, get none.
func TestQwen2ToQwen3(t *testing.T) {
	a, b := tinyLlamaOf(t, "qwen2", 1), tinyLlamaOf(t, "qwen3", 7)
	aft := perturbed(t, a, 2, 0.05)
	calib := tokenSamples(32, 6, 20, 3, 9)
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	for name, d := range res.Delta {
		if strings.Contains(name, "_norm.weight") && strings.Contains(name, "self_attn") || strings.HasSuffix(name, "_proj.bias") {
			t.Errorf("%s: a delta, from no source parameter", name)
		}
		if p := b.Param(name); p == nil || !tensor.SameShape(p.Value.Shape, d.Shape) {
			t.Errorf("%s: delta %v does not fit the target", name, d.Shape)
		}
	}
	if res.Delta["model.layers.1.self_attn.q_proj.weight"] == nil {
		t.Error("no delta for a query projection")
	}
	if l := logits(res.Model, calib.Inputs); l.FirstNonFinite() >= 0 {
		t.Errorf("non-finite logits")
	}
}

// TestGemmaToGemma2: a Gemma fine-tune moves to a Gemma 2 base. Gemma's norm
// before the MLP (post_attention_layernorm) and Gemma 2's
// (pre_feedforward_layernorm) are both read by the MLP, so the first's
// delta goes to the second; Gemma 2's norms of the attention's and the
// MLP's outputs have no source partner and get none.
func TestGemmaToGemma2(t *testing.T) {
	a, b := tinyLlamaOf(t, "gemma", 1), tinyLlamaOf(t, "gemma2", 7)
	aft := perturbed(t, a, 2, 0.05)
	calib := tokenSamples(32, 6, 20, 3, 9)
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	checkDeltasFit(t, res, b)
	for l := range 2 {
		pre := "model.layers." + strconv.Itoa(l) + ".pre_feedforward_layernorm.weight"
		if d := res.Delta[pre]; d == nil || relErr(d, tensor.New[float32](d.Shape...)) == 0 {
			t.Errorf("%s: no delta from Gemma's post_attention_layernorm", pre)
		}
		for _, n := range []string{"post_attention_layernorm", "post_feedforward_layernorm"} {
			if name := "model.layers." + strconv.Itoa(l) + "." + n + ".weight"; res.Delta[name] != nil {
				t.Errorf("%s: a delta, from no source parameter", name)
			}
		}
	}
	if l := logits(res.Model, calib.Inputs); l.FirstNonFinite() >= 0 {
		t.Errorf("non-finite logits")
	}
}

// TestBiCoLlamaNewLabelSet: bases whose heads have other classes than the
// fine-tune's (here a zero 2-class head, as a LlamaModel base loads) get the
// task's head; on a permuted copy the transfer reproduces A's fine-tuned
// logits.
func TestBiCoLlamaNewLabelSet(t *testing.T) {
	a := tinyLlama(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	perms := newLlamaPerms(rand.New(rand.NewPCG(4, 4)), 8, 4, 2, 4, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*model.Model{&a, &b} {
		if *m, err = model.WithHead(*m, []string{"x", "y"}, tensor.New[float32](2, 8), nil); err != nil {
			t.Fatal(err)
		}
	}
	calib := tokenSamples(64, 6, 20, 3, 9)
	res := runMethod(t, Models{a, aft, b}, calib, "bico-blend", 1)
	if res.Model.NumLabels() != 3 {
		t.Fatalf("transferred model has %d labels, want the fine-tune's 3", res.Model.NumLabels())
	}
	if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
		t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
	}
}

// tinyCausalLlama is a tiny causal language model (pad token 0, a vocabulary
// of 20), with an lm_head of its own or tied to the embedding table.
func tinyCausalLlama(t *testing.T, tied bool) model.Model {
	t.Helper()
	pad := 0
	cfg := model.LlamaConfig{VocabSize: 20, HiddenSize: 8, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 4,
		IntermediateSize: 12, PadTokenID: &pad, CausalLM: true, TieEmbeddings: tied}.Map()
	cfg["initializer_range"] = 0.3
	m, err := model.Build(cfg, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return perturbed(t, m, 101, 0.1)
}

// TestBiCoRecoversPermutedLlamaLM: a causal language model's fine-tune
// (next-token loss; an lm_head of its own, or tied to the embedding table)
// on a permuted copy: BiCo recovers the permuted τ_A, the vocabulary side
// of lm_head needing no map, and the transferred model gives A^ft's logits.
func TestBiCoRecoversPermutedLlamaLM(t *testing.T) {
	for _, tied := range []bool{false, true} {
		t.Run(map[bool]string{false: "lm_head", true: "tied"}[tied], func(t *testing.T) {
			a := tinyCausalLlama(t, tied)
			aft := perturbed(t, a, 2, 0.05)
			perms := newLlamaPerms(rand.New(rand.NewPCG(4, 4)), 8, 4, 2, 4, 12, 2)
			b, err := model.WithParams(a, perms.apply(model.Params(a)))
			if err != nil {
				t.Fatal(err)
			}
			calib := tokenSamples(64, 6, 20, 1, 9)
			want := perms.apply(taskVectors(t, a, aft))
			for _, method := range []string{"bico", "bico-blend"} {
				t.Run(method, func(t *testing.T) {
					checkRecovered(t, runMethod(t, Models{a, aft, b}, calib, method, 1), want, aft, calib.Inputs, 2e-3)
				})
			}
		})
	}
}

// TestLlamaVocabularyMismatch: a target of another vocabulary is refused
// before the calibration pass, naming the table, since its rows would be
// other tokens.
func TestLlamaVocabularyMismatch(t *testing.T) {
	a := tinyLlama(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	cfg := a.Config()
	cfg["vocab_size"] = 24
	b, err := model.Build(cfg, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Lookup("bico")
	opts := Options{Backend: linalg.MustDefault(), BatchSize: 16}
	_, err = Prepare(context.Background(), Models{a, aft, b}, tokenSamples(16, 6, 20, 3, 9), m.Needs(), opts)
	if err == nil || !strings.Contains(err.Error(), "vocabularies of 20 and 24 tokens at model.embed_tokens") {
		t.Errorf("error %v, want one about the vocabularies", err)
	}
}

// TestPaddingLeavesStatisticsAlone: padding rows count in no statistic, so
// padding every sequence further (three more pad positions) changes none
// of them, rows included.
func TestPaddingLeavesStatisticsAlone(t *testing.T) {
	a, b := tinyLlama(t, 1), tinyLlama(t, 7)
	aft := perturbed(t, a, 2, 0.05)
	short := tokenSamples(16, 6, 20, 3, 9)
	long := Samples{Inputs: tensor.New[float32](16, 9), Labels: short.Labels}
	for i := 0; i < 16; i++ {
		copy(long.Inputs.Data[i*9:], short.Inputs.Data[i*6:(i+1)*6])
	}
	m, _ := Lookup("bico-blend")
	stats := func(calib Samples) map[StatKey]*Stat {
		p, err := Prepare(context.Background(), Models{a, aft, b}, calib, m.Needs(), Options{Backend: linalg.MustDefault(), BatchSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		return p.Stats
	}
	s1, s2 := stats(short), stats(long)
	for k, x := range s1 {
		y := s2[k]
		if x.Rows != y.Rows {
			t.Errorf("%s: %d rows, %d with more padding", k, x.Rows, y.Rows)
			continue
		}
		scale := 0.0
		for _, v := range x.C {
			scale = max(scale, math.Abs(v))
		}
		for i, v := range x.C {
			if math.Abs(v-y.C[i]) > 1e-5*scale {
				t.Errorf("%s: C[%d] = %g, %g with more padding", k, i, v, y.C[i])
				break
			}
		}
	}
}

// TestBiCoAcrossTying: a causal LM whose lm_head is tied to its embedding
// table on one side only. From a tied source to a permuted untied copy
// (lm_head holding the table's values), BiCo must give both the table and
// lm_head the permuted τ_A of the tied matrix, and reproduce A's
// fine-tuned logits. From an untied source whose fine-tune moved its table
// and lm_head apart to a permuted tied copy, the tied table must get the
// sum of both moved deltas.
func TestBiCoAcrossTying(t *testing.T) {
	const embed, head = "model.embed_tokens.weight", "lm_head.weight"
	build := func(tied bool, ps params) model.Model {
		cfg := model.LlamaConfig{VocabSize: 20, HiddenSize: 8, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 4,
			IntermediateSize: 12, CausalLM: true, TieEmbeddings: tied}.Map()
		cfg["initializer_range"] = 0.3
		m, err := model.Build(cfg, ps, 1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	untied := func(m model.Model) params { // a tied model's parameters, lm_head a copy of the table
		ps := model.Params(m)
		ps[head] = ps[embed].Clone()
		return ps
	}
	tied := perturbed(t, build(true, nil), 101, 0.1)
	perms := newLlamaPerms(rand.New(rand.NewPCG(4, 4)), 8, 4, 2, 4, 12, 2)
	calib := tokenSamples(64, 6, 20, 3, 9)
	t.Run("tied to untied", func(t *testing.T) {
		aft := perturbed(t, tied, 2, 0.05)
		b := build(false, perms.apply(untied(tied)))
		if e := relErr(logits(b, calib.Inputs), logits(tied, calib.Inputs)); e > 1e-5 {
			t.Fatalf("the untied copy is not functionally equal to the source: logits differ by %.3g", e)
		}
		want := perms.apply(taskVectors(t, tied, aft))
		want[head] = want[embed]
		checkRecovered(t, runMethod(t, Models{tied, aft, b}, calib, "bico", 1), want, aft, calib.Inputs, 2e-3)
	})
	t.Run("untied to tied", func(t *testing.T) {
		a := build(false, untied(tied))
		aft := perturbed(t, a, 2, 0.05)
		b := build(true, perms.apply(model.Params(tied)))
		if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
			t.Fatalf("the tied copy is not functionally equal to the source: logits differ by %.3g", e)
		}
		tau := perms.apply(taskVectors(t, a, aft))
		sum := tau[embed].Clone()
		for i, v := range tau[head].Data {
			sum.Data[i] += v
		}
		res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
		if e := relErr(res.Delta[embed], sum); e > 2e-3 {
			t.Errorf("the tied table's delta differs from the sum of the permuted table and lm_head deltas by %.3g", e)
		}
		if _, ok := res.Delta[head]; ok {
			t.Errorf("a delta for %s, which the tied target does not have", head)
		}
	})
}
