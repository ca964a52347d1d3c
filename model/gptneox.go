package model

import (
	"fmt"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
)

// gptNeoXModel is the architecture documented on GPTNeoXConfig.
type gptNeoXModel struct {
	base
	tokenInputs
	hidden, layers, heads, headDim, inter int
	eps                                   float64
	rope                                  rotary // rotary embeddings of the first rotary_pct of each head
	bias                                  bool   // attention_bias: the attention's projections have biases
	parallel                              bool   // use_parallel_residual
	act                                   string
	causal, tied                          bool
}

// GPTNeoXConfig describes a GPTNeoXForSequenceClassification (or, with
// CausalLM, a GPTNeoXForCausalLM) for building one in code; Map gives its
// config.json. Zero fields take small defaults.
//
// The architecture, registered as model_type "gpt_neox", is EleutherAI's
// GPT-NeoX as transformers has it (the Pythia suite, GPT-NeoX-20B): token
// embeddings (gpt_neox.embed_in), pre-norm blocks of LayerNorm, causal
// attention whose first rotary_pct of every head's width (default 0.25) is
// rotated with base rotary_emb_base (default 10000), and a GELU MLP, with
// the attention and the MLP both reading the block's input and added to it
// together when use_parallel_residual is true (the default), one after the
// other otherwise; a final LayerNorm, and a linear classifier without bias
// ("score") on the last token that is not padding, or, for
// GPTNeoXForCausalLM, embed_out on every token (the embedding table with
// tie_word_embeddings). Parameter names are transformers' own; a base-model
// checkpoint (GPTNeoXModel, names without "gpt_neox.") loads as a base
// without a head, as Llama's does.
//
// The checkpoint stores each block's query, key and value as one tensor,
// attention.query_key_value [3·d, d] (and its bias), holding for each head
// in turn that head's query, key and value rows. The model holds them as
// three parameters of three sites, attention.query, attention.key and
// attention.value (weights [d, d] named like the sites), which Load splits
// from the checkpoint tensor and Save joins back into it; a LoRA adapter's
// query_key_value module is read and written joined.
//
// Sites, in forward order (N the layer):
//
//	gpt_neox.embed_in                       embedding  reads the token ids
//	gpt_neox.layers.N.attention.query       query      reads gpt_neox.layers.N.input_layernorm
//	gpt_neox.layers.N.attention.key         key        reads gpt_neox.layers.N.input_layernorm
//	gpt_neox.layers.N.attention.value       value      reads gpt_neox.layers.N.input_layernorm
//	gpt_neox.layers.N.attention.dense       attn_out   reads gpt_neox.layers.N.attention.context
//	gpt_neox.layers.N.mlp.dense_h_to_4h     mlp_in     reads gpt_neox.layers.N.post_attention_layernorm
//	gpt_neox.layers.N.mlp.dense_4h_to_h     mlp_out    reads gpt_neox.layers.N.mlp.act
//	score                                   head       reads gpt_neox.final_layer_norm
//	embed_out (a causal LM)                 lm_head    reads gpt_neox.final_layer_norm
//
// Vectors: each LayerNorm's weight and bias live in the norm's space.
// Inputs, padding and the causal LM's targets are as Llama's (see
// LlamaConfig).
type GPTNeoXConfig struct {
	VocabSize        int      // 512
	HiddenSize       int      // 64
	NumLayers        int      // 2
	NumHeads         int      // 4
	IntermediateSize int      // 4·HiddenSize
	RotaryPct        float64  // 0.25
	RotaryBase       float64  // 10000
	Sequential       bool     // use_parallel_residual false
	PadTokenID       *int     // pad_token_id; nil: none
	Labels           []string // the classes; LABEL_0, LABEL_1 when empty
	CausalLM         bool     // GPTNeoXForCausalLM instead of the sequence classifier
	TieEmbeddings    bool     // tie_word_embeddings
}

// Map returns c as config.json fields, as transformers writes them.
func (c GPTNeoXConfig) Map() map[string]any {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	orF := func(v, def float64) float64 {
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
		"model_type":              "gpt_neox",
		"architectures":           []any{"GPTNeoXForSequenceClassification"},
		"vocab_size":              or(c.VocabSize, 512),
		"hidden_size":             hidden,
		"num_hidden_layers":       or(c.NumLayers, 2),
		"num_attention_heads":     or(c.NumHeads, 4),
		"intermediate_size":       or(c.IntermediateSize, 4*hidden),
		"hidden_act":              "gelu",
		"rotary_pct":              orF(c.RotaryPct, 0.25),
		"rotary_emb_base":         orF(c.RotaryBase, 10000),
		"layer_norm_eps":          1e-5,
		"use_parallel_residual":   !c.Sequential,
		"attention_bias":          true,
		"max_position_embeddings": 2048,
		"initializer_range":       0.02,
		"tie_word_embeddings":     c.TieEmbeddings,
		"torch_dtype":             "float32",
	}
	if c.CausalLM {
		cfg["architectures"] = []any{"GPTNeoXForCausalLM"}
	}
	if c.PadTokenID != nil {
		cfg["pad_token_id"] = *c.PadTokenID
	}
	return SetLabels(cfg, labels)
}

const (
	neoxEmbedSite = "gpt_neox.embed_in"
	neoxNorm      = "gpt_neox.final_layer_norm"
	neoxLMHead    = "embed_out"
	neoxHeadSite  = "score"
)

func neoxLayer(i int) string { return "gpt_neox.layers." + strconv.Itoa(i) }

// parseGPTNeoX reads a GPT-NeoX configuration.
func parseGPTNeoX(cfg map[string]any) (*gptNeoXModel, error) {
	m := &gptNeoXModel{}
	m.modelType, m.kind = "gpt_neox", "gpt_neox"
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("vocab_size", 50432, &m.vocab)
	r.get("hidden_size", 6144, &m.hidden)
	r.layers("num_hidden_layers", 44, &m.layers)
	r.get("num_attention_heads", 64, &m.heads)
	r.get("intermediate_size", 24576, &m.inter)
	if r.err != nil {
		return nil, r.err
	}
	if m.hidden%m.heads != 0 {
		return nil, fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", m.hidden, m.heads)
	}
	m.headDim = m.hidden / m.heads
	if m.vocab >= 1<<24 {
		return nil, fmt.Errorf("config: vocab_size %d: token ids above 2²⁴ are not exact in float32 inputs", m.vocab)
	}
	var err error
	if m.rope, err = neoxRoPE(cfg, m.headDim); err != nil {
		return nil, err
	}
	if m.eps, err = ConfigFloatOr(cfg, "layer_norm_eps", 1e-5); err != nil {
		return nil, err
	}
	if !(m.eps >= 0) {
		return nil, fmt.Errorf("config: layer_norm_eps %g: want eps ≥ 0", m.eps)
	}
	if m.bias, err = ConfigBoolOr(cfg, "attention_bias", true); err != nil {
		return nil, err
	}
	if m.parallel, err = ConfigBoolOr(cfg, "use_parallel_residual", true); err != nil {
		return nil, err
	}
	if m.act, err = activation(cfg, "gelu", "config:"); err != nil {
		return nil, err
	}
	if m.padID, err = padTokenID(cfg); err != nil {
		return nil, err
	}
	if m.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	m.causal = isCausalLM(cfg)
	if m.tied, err = ConfigBoolOr(cfg, "tie_word_embeddings", false); err != nil {
		return nil, err
	}
	m.cfg = CloneConfig(cfg)
	return m, nil
}

// neoxRoPE returns the rotary embeddings of a GPT-NeoX head of width dh:
// the first int(dh·rotary_pct) elements rotate (partial_rotary_factor in
// newer configs, also inside rope_parameters), with base rotary_emb_base
// (rope_theta in newer configs) and rope_scaling as Llama reads it.
func neoxRoPE(cfg map[string]any, dh int) (rotary, error) {
	pct, err := ConfigFloatOr(cfg, "rotary_pct", 0.25)
	if err != nil {
		return rotary{}, err
	}
	base, err := ConfigFloatOr(cfg, "rotary_emb_base", 10000)
	if err != nil {
		return rotary{}, err
	}
	return ropeOf(cfg, "full_attention", dh, base, pct)
}

// specs lists the parameters in transformers' state-dict order, the
// query, key and value of each block as three (see GPTNeoXConfig).
func (m *gptNeoXModel) specs() []paramSpec {
	std, _ := ConfigFloatOr(m.cfg, "initializer_range", 0.02)
	d := m.hidden
	var s []paramSpec
	lin := func(name string, out, in int, bias bool) { s = append(s, linearSpecs(name, out, in, bias, std)...) }
	norm := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	s = append(s, paramSpec{name: neoxEmbedSite + ".weight", shape: []int{m.vocab, d}, init: initTruncNormal, std: std})
	for i := 0; i < m.layers; i++ {
		l := neoxLayer(i)
		norm(l + ".input_layernorm")
		norm(l + ".post_attention_layernorm")
		for _, p := range neoxQKV {
			lin(l+".attention."+p, d, d, m.bias)
		}
		lin(l+".attention.dense", d, d, m.bias)
		lin(l+".mlp.dense_h_to_4h", m.inter, d, true)
		lin(l+".mlp.dense_4h_to_h", d, m.inter, true)
	}
	norm(neoxNorm)
	switch {
	case !m.causal:
		lin(neoxHeadSite, len(m.labels), d, false)
	case !m.tied:
		lin(neoxLMHead, m.vocab, d, false)
	}
	return s
}

// neoxQKV are the parts of query_key_value, in the order of each head's
// rows.
var neoxQKV = []string{"query", "key", "value"}

// packs lists each block's query_key_value weight and bias: head h's rows
// 3·h·dh … 3·h·dh+dh are its query's, the next dh its key's, then its
// value's.
func (m *gptNeoXModel) packs() []pack {
	d, dh := m.hidden, m.headDim
	rows := make([][]int, 3)
	for part := range rows {
		for h := 0; h < m.heads; h++ {
			for j := 0; j < dh; j++ {
				rows[part] = append(rows[part], (3*h+part)*dh+j)
			}
		}
	}
	var out []pack
	for i := 0; i < m.layers; i++ {
		l := neoxLayer(i) + ".attention."
		kinds := []string{".weight"}
		if m.bias {
			kinds = append(kinds, ".bias")
		}
		for _, kind := range kinds {
			p := pack{file: l + "query_key_value" + kind, shape: []int{3 * d, d}, rows: rows}
			if kind == ".bias" {
				p.shape = []int{3 * d}
			}
			for _, part := range neoxQKV {
				p.parts = append(p.parts, l+part+kind)
			}
			out = append(out, p)
		}
	}
	return out
}

// describe fills the sites and vectors.
func (m *gptNeoXModel) describe() {
	d := m.hidden
	norm := func(name string, block int) { m.vectors = append(m.vectors, layerNormVectors(name, block, name)...) }
	m.sites = []Site{linearSite(neoxEmbedSite, "embedding", -1, m.vocab, d, "", false)}
	m.vectors = nil
	for i := 0; i < m.layers; i++ {
		l := neoxLayer(i)
		in, post := l+".input_layernorm", l+".post_attention_layernorm"
		a := l + ".attention."
		m.sites = append(m.sites,
			linearSite(a+"query", "query", i, d, d, in, m.bias),
			linearSite(a+"key", "key", i, d, d, in, m.bias),
			linearSite(a+"value", "value", i, d, d, in, m.bias),
			linearSite(a+"dense", "attn_out", i, d, d, a+"context", m.bias),
			linearSite(l+".mlp.dense_h_to_4h", "mlp_in", i, d, m.inter, post, true),
			linearSite(l+".mlp.dense_4h_to_h", "mlp_out", i, m.inter, d, l+".mlp.act", true),
		)
		norm(in, i)
		norm(post, i)
	}
	norm(neoxNorm, -1)
	if !m.causal {
		m.sites = append(m.sites, linearSite(neoxHeadSite, "head", -1, d, len(m.labels), neoxNorm, false))
		return
	}
	m.sites = append(m.sites, lmHeadSite(neoxLMHead, neoxNorm, neoxEmbedSite, d, m.vocab, m.tied))
}

func buildGPTNeoX(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	m, err := parseGPTNeoX(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: gpt_neox: %w", err)
	}
	if err := m.setParams(m.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: gpt_neox: %w", err)
	}
	m.describe()
	if m.causal {
		return &gptNeoXLM{m}, nil
	}
	return m, nil
}

// gptNeoXLM is a GPT-NeoX causal language model: the logits of every
// token, each scored against the next token.
type gptNeoXLM struct{ *gptNeoXModel }

// NumLabels implements Model: the vocabulary.
func (m *gptNeoXLM) NumLabels() int { return m.vocab }

// Targets implements TargetMaker as Llama's does.
func (m *gptNeoXLM) Targets(inputs *Tensor) []int { return nextTokens(inputs, m.padID) }

func init() { registerArch("gpt_neox", "gpt_neox.", parseGPTNeoX, buildGPTNeoX) }

// BlockOutputs implements BlockMarker: "gpt_neox.layers.N".
func (m *gptNeoXModel) BlockOutputs() []string {
	return blockNames(m.layers, neoxLayer)
}

// Forward implements Model. It panics on inputs that CheckInput rejects and
// on token ids outside the vocabulary.
func (m *gptNeoXModel) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	B, T := inputs.Value.Shape[0], inputs.Value.Shape[1]
	P := m.params
	h, ids := embedTokens(t, m.kind, m.vocab, inputs, P[neoxEmbedSite+".weight"], neoxEmbedSite)
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	norm := func(x *Var, name string) *Var {
		return t.LayerNorm(x, P[name+".weight"], P[name+".bias"], m.eps)
	}
	lin := func(name string, x *Var, bias bool) *Var {
		var b *Var
		if bias {
			b = P[name+".bias"]
		}
		return t.Linear(name, x, P[name+".weight"], b)
	}
	for i := 0; i < m.layers; i++ {
		l := neoxLayer(i)
		a := norm(h, l+".input_layernorm")
		q, k, v := lin(l+".attention.query", a, m.bias), lin(l+".attention.key", a, m.bias), lin(l+".attention.value", a, m.bias)
		q, k = m.rope.rotate(t, q, m.heads), m.rope.rotate(t, k, m.heads)
		ctx := t.AttentionWith(q, k, v, m.heads, m.heads, autodiff.AttentionOptions{Causal: true})
		o := lin(l+".attention.dense", ctx, m.bias)
		mlpIn := h
		if !m.parallel {
			h = t.Add(h, o)
			mlpIn = h
		}
		f := lin(l+".mlp.dense_h_to_4h", norm(mlpIn, l+".post_attention_layernorm"), true)
		down := lin(l+".mlp.dense_4h_to_h", act(f), true)
		if m.parallel {
			h = t.Add(h, t.Add(o, down))
		} else {
			h = t.Add(h, down)
		}
		t.Mark(l, h)
	}
	h = norm(h, neoxNorm)
	if m.causal {
		w := P[neoxLMHead+".weight"]
		if m.tied {
			w = P[neoxEmbedSite+".weight"]
		}
		return t.Reshape(t.Linear(neoxLMHead, h, w, nil), B*T, m.vocab)
	}
	return t.Linear(neoxHeadSite, t.SelectTokens(h, m.lastTokens(ids, B, T)), P[neoxHeadSite+".weight"], nil)
}
