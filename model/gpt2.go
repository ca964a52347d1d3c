package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
)

// gpt2Model is the architecture documented on GPT2Config.
type gpt2Model struct {
	base
	tokenInputs
	positions, hidden, layers, heads, inter int
	eps                                     float64
	scaleWeights, scaleByLayer              bool // scale_attn_weights, scale_attn_by_inverse_layer_idx
	act                                     string
	causal, tied                            bool
}

// GPT2Config describes a GPT2ForSequenceClassification (or, with CausalLM,
// a GPT2LMHeadModel) for building one in code; Map gives its config.json.
// Zero fields take small defaults.
//
// The architecture, registered as model_type "gpt2", is OpenAI's GPT-2 as
// transformers has it (gpt2 to gpt2-xl, DistilGPT2, DialoGPT, Cerebras-GPT):
// token and learned position embeddings (transformer.wte, transformer.wpe),
// pre-norm blocks of LayerNorm (ln_1), causal attention scaled by
// head_dim^(−½) (scale_attn_weights; also by 1/(layer+1) with
// scale_attn_by_inverse_layer_idx), LayerNorm (ln_2) and an MLP with
// activation_function (default gelu_new), a final LayerNorm (ln_f), and a
// linear classifier without bias ("score") on the last token that is not
// padding, or, for GPT2LMHeadModel, lm_head on every token: the embedding
// table (tie_word_embeddings, the default), or a parameter of its own.
// Parameter names are transformers' own; a base checkpoint whose names
// lack "transformer." (OpenAI's gpt2 as published) loads with them.
//
// GPT-2's linear layers are Conv1D: their weights are stored [In, Out], the
// transpose of a linear site's [Out, In], which Load transposes and Save
// transposes back. Each block's attn.c_attn [d, 3·d] holds the query, key
// and value side by side; the model holds them as three parameters of
// three sites, attn.query, attn.key and attn.value (weights [d, d] named
// like the sites), split on load and joined on save, also in a LoRA
// adapter, whose c_attn module bico reads and writes.
//
// Sites, in forward order (N the block):
//
//	transformer.wte                  embedding  reads the token ids
//	transformer.h.N.attn.query       query      reads transformer.h.N.ln_1
//	transformer.h.N.attn.key         key        reads transformer.h.N.ln_1
//	transformer.h.N.attn.value       value      reads transformer.h.N.ln_1
//	transformer.h.N.attn.c_proj      attn_out   reads transformer.h.N.attn.context
//	transformer.h.N.mlp.c_fc         mlp_in     reads transformer.h.N.ln_2
//	transformer.h.N.mlp.c_proj       mlp_out    reads transformer.h.N.mlp.act
//	score                            head       reads transformer.ln_f
//	lm_head (a causal LM)            lm_head    reads transformer.ln_f
//
// Vectors: each LayerNorm's weight and bias live in the norm's space, and
// the position table (role "text_positions") in the token embedding's.
// Inputs, padding and the causal LM's targets are as Llama's (see
// LlamaConfig); sequences may be at most n_positions tokens long.
type GPT2Config struct {
	VocabSize     int      // 512
	Positions     int      // n_positions, 64
	HiddenSize    int      // n_embd, 64
	NumLayers     int      // n_layer, 2
	NumHeads      int      // n_head, 4
	Inner         int      // n_inner, 4·HiddenSize
	PadTokenID    *int     // pad_token_id; nil: none
	Labels        []string // the classes; LABEL_0, LABEL_1 when empty
	CausalLM      bool     // GPT2LMHeadModel instead of the sequence classifier
	UntiedLMHead  bool     // tie_word_embeddings false: lm_head is a parameter of its own
	ScaleByLayer  bool     // scale_attn_by_inverse_layer_idx
	NoScaleScores bool     // scale_attn_weights false
}

// Map returns c as config.json fields, as transformers writes them.
func (c GPT2Config) Map() map[string]any {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	hidden := or(c.HiddenSize, 64)
	labels := c.Labels
	if len(labels) == 0 {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	cfg := map[string]any{
		"model_type":                      "gpt2",
		"architectures":                   []any{"GPT2ForSequenceClassification"},
		"vocab_size":                      or(c.VocabSize, 512),
		"n_positions":                     or(c.Positions, 64),
		"n_embd":                          hidden,
		"n_layer":                         or(c.NumLayers, 2),
		"n_head":                          or(c.NumHeads, 4),
		"n_inner":                         or(c.Inner, 4*hidden),
		"activation_function":             "gelu_new",
		"layer_norm_epsilon":              1e-5,
		"initializer_range":               0.02,
		"scale_attn_weights":              !c.NoScaleScores,
		"scale_attn_by_inverse_layer_idx": c.ScaleByLayer,
		"reorder_and_upcast_attn":         false,
		"tie_word_embeddings":             !c.UntiedLMHead,
		"torch_dtype":                     "float32",
		"bos_token_id":                    or(c.VocabSize, 512) - 1,
		"eos_token_id":                    or(c.VocabSize, 512) - 1,
		"use_cache":                       true,
	}
	if c.CausalLM {
		cfg["architectures"] = []any{"GPT2LMHeadModel"}
	}
	if c.PadTokenID != nil {
		cfg["pad_token_id"] = *c.PadTokenID
	}
	return SetLabels(cfg, labels)
}

const (
	gpt2EmbedSite = "transformer.wte"
	gpt2Positions = "transformer.wpe.weight"
	gpt2Norm      = "transformer.ln_f"
	gpt2LMHead    = "lm_head"
	gpt2HeadSite  = "score"
)

func gpt2Block(i int) string { return "transformer.h." + strconv.Itoa(i) }

// parseGPT2 reads a GPT-2 configuration.
func parseGPT2(cfg map[string]any) (*gpt2Model, error) {
	m := &gpt2Model{}
	m.modelType, m.kind = "gpt2", "gpt2"
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("vocab_size", 50257, &m.vocab)
	r.get("n_positions", 1024, &m.positions)
	r.get("n_embd", 768, &m.hidden)
	r.layers("n_layer", 12, &m.layers)
	r.get("n_head", 12, &m.heads)
	if r.err != nil {
		return nil, r.err
	}
	m.inter = 4 * m.hidden
	if v, ok := cfg["n_inner"]; ok && v != nil {
		r.get("n_inner", m.inter, &m.inter)
	}
	if r.err != nil {
		return nil, r.err
	}
	if m.hidden%m.heads != 0 {
		return nil, fmt.Errorf("config: n_embd %d is not a multiple of n_head %d", m.hidden, m.heads)
	}
	if m.vocab >= 1<<24 {
		return nil, fmt.Errorf("config: vocab_size %d: token ids above 2²⁴ are not exact in float32 inputs", m.vocab)
	}
	var err error
	if m.eps, err = ConfigFloatOr(cfg, "layer_norm_epsilon", 1e-5); err != nil {
		return nil, err
	}
	if !(m.eps >= 0) {
		return nil, fmt.Errorf("config: layer_norm_epsilon %g: want eps ≥ 0", m.eps)
	}
	if m.scaleWeights, err = ConfigBoolOr(cfg, "scale_attn_weights", true); err != nil {
		return nil, err
	}
	if m.scaleByLayer, err = ConfigBoolOr(cfg, "scale_attn_by_inverse_layer_idx", false); err != nil {
		return nil, err
	}
	if m.act, err = ConfigStringOr(cfg, "activation_function", "gelu_new"); err != nil {
		return nil, err
	}
	if err := autodiff.CheckActivation(m.act); err != nil {
		return nil, fmt.Errorf("config: field \"activation_function\": %w", err)
	}
	if m.padID, err = padTokenID(cfg); err != nil {
		return nil, err
	}
	if m.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	m.causal = isCausalLM(cfg) || archIs(cfg, "GPT2LMHeadModel")
	if m.tied, err = ConfigBoolOr(cfg, "tie_word_embeddings", true); err != nil {
		return nil, err
	}
	m.cfg = CloneConfig(cfg)
	return m, nil
}

// archIs reports whether cfg's first architecture is name.
func archIs(cfg map[string]any, name string) bool {
	archs, _ := cfg["architectures"].([]any)
	return len(archs) > 0 && archs[0] == name
}

// specs lists the parameters in transformers' state-dict order, the
// query, key and value of each block as three, and every weight in its
// in-memory [Out, In] shape (see GPT2Config).
func (m *gpt2Model) specs() []paramSpec {
	std, _ := ConfigFloatOr(m.cfg, "initializer_range", 0.02)
	d := m.hidden
	var s []paramSpec
	lin := func(name string, out, in int, bias bool) { s = append(s, linearSpecs(name, out, in, bias, std)...) }
	norm := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	s = append(s, paramSpec{name: gpt2EmbedSite + ".weight", shape: []int{m.vocab, d}, init: initTruncNormal, std: std},
		paramSpec{name: gpt2Positions, shape: []int{m.positions, d}, init: initTruncNormal, std: std})
	for i := 0; i < m.layers; i++ {
		b := gpt2Block(i)
		norm(b + ".ln_1")
		for _, p := range neoxQKV {
			lin(b+".attn."+p, d, d, true)
		}
		lin(b+".attn.c_proj", d, d, true)
		norm(b + ".ln_2")
		lin(b+".mlp.c_fc", m.inter, d, true)
		lin(b+".mlp.c_proj", d, m.inter, true)
	}
	norm(gpt2Norm)
	switch {
	case !m.causal:
		lin(gpt2HeadSite, len(m.labels), d, false)
	case !m.tied:
		lin(gpt2LMHead, m.vocab, d, false)
	}
	return s
}

// packs lists the Conv1D weights, stored transposed, and each block's
// c_attn weight and bias, whose rows (of the transpose) are the query's,
// then the key's, then the value's.
func (m *gpt2Model) packs() []pack {
	d := m.hidden
	qkvRows := [][]int{rowSpan(0, d), rowSpan(d, d), rowSpan(2*d, d)}
	var out []pack
	for i := 0; i < m.layers; i++ {
		b := gpt2Block(i)
		qkv := func(kind string) []string {
			var parts []string
			for _, p := range neoxQKV {
				parts = append(parts, b+".attn."+p+kind)
			}
			return parts
		}
		conv := func(name string, in, out int) pack {
			return pack{file: name, shape: []int{in, out}, transposed: true, parts: []string{name}, rows: [][]int{rowSpan(0, out)}}
		}
		out = append(out,
			pack{file: b + ".attn.c_attn.weight", shape: []int{d, 3 * d}, transposed: true, parts: qkv(".weight"), rows: qkvRows},
			pack{file: b + ".attn.c_attn.bias", shape: []int{3 * d}, parts: qkv(".bias"), rows: qkvRows},
			conv(b+".attn.c_proj.weight", d, d),
			conv(b+".mlp.c_fc.weight", d, m.inter),
			conv(b+".mlp.c_proj.weight", m.inter, d))
	}
	return out
}

// describe fills the sites and vectors.
func (m *gpt2Model) describe() {
	d := m.hidden
	norm := func(name string, block int) { m.vectors = append(m.vectors, layerNormVectors(name, block, name)...) }
	m.sites = []Site{linearSite(gpt2EmbedSite, "embedding", -1, m.vocab, d, "", false)}
	m.vectors = []Vector{{Name: gpt2Positions, Role: "text_positions", Block: -1, Space: gpt2EmbedSite}}
	for i := 0; i < m.layers; i++ {
		b := gpt2Block(i)
		a := b + ".attn."
		m.sites = append(m.sites,
			linearSite(a+"query", "query", i, d, d, b+".ln_1", true),
			linearSite(a+"key", "key", i, d, d, b+".ln_1", true),
			linearSite(a+"value", "value", i, d, d, b+".ln_1", true),
			linearSite(a+"c_proj", "attn_out", i, d, d, a+"context", true),
			linearSite(b+".mlp.c_fc", "mlp_in", i, d, m.inter, b+".ln_2", true),
			linearSite(b+".mlp.c_proj", "mlp_out", i, m.inter, d, b+".mlp.act", true),
		)
		norm(b+".ln_1", i)
		norm(b+".ln_2", i)
	}
	norm(gpt2Norm, -1)
	if !m.causal {
		m.sites = append(m.sites, linearSite(gpt2HeadSite, "head", -1, d, len(m.labels), gpt2Norm, false))
		return
	}
	m.sites = append(m.sites, lmHeadSite(gpt2LMHead, gpt2Norm, gpt2EmbedSite, d, m.vocab, m.tied))
}

func buildGPT2(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	m, err := parseGPT2(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: gpt2: %w", err)
	}
	if err := m.setParams(m.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: gpt2: %w", err)
	}
	m.describe()
	if m.causal {
		return &gpt2LM{m}, nil
	}
	return m, nil
}

// gpt2LM is a GPT-2 causal language model: the logits of every token, each
// scored against the next token.
type gpt2LM struct{ *gpt2Model }

// NumLabels implements Model: the vocabulary.
func (m *gpt2LM) NumLabels() int { return m.vocab }

// Targets implements TargetMaker as Llama's does.
func (m *gpt2LM) Targets(inputs *Tensor) []int { return nextTokens(inputs, m.padID) }

func init() { registerArch("gpt2", "transformer.", parseGPT2, buildGPT2) }

// CheckInput implements InputChecker: token ids [B, T], T at most
// n_positions.
func (m *gpt2Model) CheckInput(shape []int) error {
	if err := m.tokenInputs.CheckInput(shape); err != nil {
		return err
	}
	if shape[1] > m.positions {
		return fmt.Errorf("model: gpt2: sequences of %d tokens, beyond the %d positions of n_positions", shape[1], m.positions)
	}
	return nil
}

// BlockOutputs implements BlockMarker: "transformer.h.N".
func (m *gpt2Model) BlockOutputs() []string {
	return blockNames(m.layers, gpt2Block)
}

// Forward implements Model. It panics on inputs that CheckInput rejects and
// on token ids outside the vocabulary.
func (m *gpt2Model) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	B, T := inputs.Value.Shape[0], inputs.Value.Shape[1]
	P := m.params
	h, ids := embedTokens(t, m.kind, m.vocab, inputs, P[gpt2EmbedSite+".weight"], gpt2EmbedSite)
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	norm := func(x *Var, name string) *Var {
		return t.LayerNorm(x, P[name+".weight"], P[name+".bias"], m.eps)
	}
	lin := func(name string, x *Var) *Var { return t.Linear(name, x, P[name+".weight"], P[name+".bias"]) }
	pos := make([]int, B*T)
	for i := range pos {
		pos[i] = i % T
	}
	h = t.Add(h, t.Embedding(P[gpt2Positions], pos, B, T))
	dh := m.hidden / m.heads
	for i := 0; i < m.layers; i++ {
		b := gpt2Block(i)
		a := norm(h, b+".ln_1")
		q, k, v := lin(b+".attn.query", a), lin(b+".attn.key", a), lin(b+".attn.value", a)
		// AttentionWith scales the scores by head_dim^(−½); GPT-2 may not,
		// or may also divide them by the layer's number.
		scale := 1.0
		if !m.scaleWeights {
			scale = math.Sqrt(float64(dh))
		}
		if m.scaleByLayer {
			scale /= float64(i + 1)
		}
		if scale != 1 {
			q = t.Scale(q, float32(scale))
		}
		ctx := t.AttentionWith(q, k, v, m.heads, m.heads, autodiff.AttentionOptions{Causal: true})
		h = t.Add(h, lin(b+".attn.c_proj", ctx))
		f := lin(b+".mlp.c_fc", norm(h, b+".ln_2"))
		h = t.Add(h, lin(b+".mlp.c_proj", act(f)))
		t.Mark(b, h)
	}
	h = norm(h, gpt2Norm)
	if m.causal {
		w := P[gpt2LMHead+".weight"]
		if m.tied {
			w = P[gpt2EmbedSite+".weight"]
		}
		return t.Reshape(t.Linear(gpt2LMHead, h, w, nil), B*T, m.vocab)
	}
	return t.Linear(gpt2HeadSite, t.SelectTokens(h, m.lastTokens(ids, B, T)), P[gpt2HeadSite+".weight"], nil)
}
