package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bico-dev/bico/autodiff"
)

// gptNeoXModel is the architecture documented on GPTNeoXConfig, and Phi's
// (PhiConfig), which differs from it in names and a few choices.
type gptNeoXModel struct {
	base
	tokenInputs
	names                                          neoxNames
	hidden, layers, heads, kvHeads, headDim, inter int
	eps                                            float64
	rope                                           rotary // rotary embeddings of the first rotary_pct of each head
	bias                                           bool   // attention_bias: the attention's projections have biases
	parallel                                       bool   // use_parallel_residual
	lmBias                                         bool   // Phi: lm_head has a bias
	act                                            string
	causal, tied                                   bool
}

// neoxNames are the parameter names of a GPT-NeoX-like decoder. Those of a
// layer are relative to its prefix, layer + N + ".".
type neoxNames struct {
	embed, final, lmHead, layer string
	// inNorm is the attention's LayerNorm, postNorm the MLP's: "" when the
	// MLP reads inNorm too (Phi).
	inNorm, postNorm         string
	q, k, v, dense, up, down string
	// fused is the checkpoint tensor holding q, k and v ("" for none).
	fused string
}

var (
	gptNeoXNames = neoxNames{embed: "gpt_neox.embed_in", final: "gpt_neox.final_layer_norm", lmHead: "embed_out", layer: "gpt_neox.layers.",
		inNorm: "input_layernorm", postNorm: "post_attention_layernorm",
		q: "attention.query", k: "attention.key", v: "attention.value", dense: "attention.dense", up: "mlp.dense_h_to_4h", down: "mlp.dense_4h_to_h",
		fused: "attention.query_key_value"}
	phiNames = neoxNames{embed: "model.embed_tokens", final: "model.final_layernorm", lmHead: "lm_head", layer: "model.layers.",
		inNorm: "input_layernorm",
		q:      "self_attn.q_proj", k: "self_attn.k_proj", v: "self_attn.v_proj", dense: "self_attn.dense", up: "mlp.fc1", down: "mlp.fc2"}
)

// layerName is layer i's prefix.
func (n neoxNames) layerName(i int) string { return n.layer + strconv.Itoa(i) }

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
// The same code builds model_type "phi" (PhiForCausalLM,
// …ForSequenceClassification: phi-1, phi-1.5, phi-2), GPT-NeoX's layout
// under Transformers' Phi names (model.embed_tokens, model.layers.N.
// self_attn.q_proj, k_proj, v_proj and dense, mlp.fc1 and fc2,
// model.final_layernorm, lm_head): the parallel residual with one
// LayerNorm, input_layernorm, read by both the attention and the MLP;
// separate query, key and value with biases (grouped-query with
// num_key_value_heads); half of each head rotated by default
// (partial_rotary_factor, base rope_theta); gelu_new; an lm_head with a
// bias. Its per-head query and key LayerNorms (qk_layernorm) are refused.
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

const neoxHeadSite = "score"

// parseGPTNeoX reads a GPT-NeoX configuration, or with model_type "phi" a
// Phi one.
func parseGPTNeoX(cfg map[string]any) (*gptNeoXModel, error) {
	m := &gptNeoXModel{names: gptNeoXNames}
	m.modelType, m.kind = "gpt_neox", "gpt_neox"
	phi := cfg["model_type"] == "phi"
	vocab, hidden, layers, heads, inter := 50432, 6144, 44, 64, 24576
	if phi {
		m.names, m.modelType, m.kind = phiNames, "phi", "phi"
		vocab, hidden, layers, heads, inter = 51200, 2048, 24, 32, 8192
	}
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("vocab_size", vocab, &m.vocab)
	r.get("hidden_size", hidden, &m.hidden)
	r.layers("num_hidden_layers", layers, &m.layers)
	r.get("num_attention_heads", heads, &m.heads)
	r.get("intermediate_size", inter, &m.inter)
	m.kvHeads = m.heads
	if v, ok := cfg["num_key_value_heads"]; ok && v != nil && phi {
		r.get("num_key_value_heads", m.heads, &m.kvHeads)
	}
	if r.err != nil {
		return nil, r.err
	}
	if m.hidden%m.heads != 0 || m.heads%m.kvHeads != 0 {
		return nil, fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d, or that of num_key_value_heads %d", m.hidden, m.heads, m.kvHeads)
	}
	m.headDim = m.hidden / m.heads
	if m.vocab >= 1<<24 {
		return nil, fmt.Errorf("config: vocab_size %d: token ids above 2²⁴ are not exact in float32 inputs", m.vocab)
	}
	var err error
	if m.rope, err = neoxRoPE(cfg, m.headDim, phi); err != nil {
		return nil, err
	}
	if m.eps, err = ConfigFloatOr(cfg, "layer_norm_eps", 1e-5); err != nil {
		return nil, err
	}
	if !(m.eps >= 0) {
		return nil, fmt.Errorf("config: layer_norm_eps %g: want eps ≥ 0", m.eps)
	}
	if err := m.parseChoices(cfg, phi); err != nil {
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

// parseChoices reads the biases, the residual and the activation: GPT-NeoX
// has attention_bias and use_parallel_residual (both true by default) and
// the exact GELU; Phi always has biases and the parallel residual, an
// lm_head with a bias, and gelu_new, and its per-head query and key norms
// (qk_layernorm) are refused.
func (m *gptNeoXModel) parseChoices(cfg map[string]any, phi bool) error {
	var err error
	if phi {
		m.bias, m.parallel, m.lmBias = true, true, true
		if qk, err := ConfigBoolOr(cfg, "qk_layernorm", false); err != nil || qk {
			return errors.Join(err, errors.New("config: qk_layernorm (LayerNorms of the query and key heads) is not supported"))
		}
		m.act, err = activation(cfg, "gelu_new", "config:")
		return err
	}
	if m.bias, err = ConfigBoolOr(cfg, "attention_bias", true); err != nil {
		return err
	}
	if m.parallel, err = ConfigBoolOr(cfg, "use_parallel_residual", true); err != nil {
		return err
	}
	m.act, err = activation(cfg, "gelu", "config:")
	return err
}

// neoxRoPE returns the rotary embeddings of a head of width dh: for
// GPT-NeoX the first int(dh·rotary_pct) elements rotate
// (partial_rotary_factor in newer configs, also inside rope_parameters),
// with base rotary_emb_base (rope_theta in newer configs); for Phi half of
// them by default (partial_rotary_factor) with base rope_theta; and
// rope_scaling as Llama reads it.
func neoxRoPE(cfg map[string]any, dh int, phi bool) (rotary, error) {
	if phi {
		return ropeOf(cfg, "full_attention", dh, 10000, 0.5)
	}
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
	d, kv, n := m.hidden, m.kvHeads*m.headDim, m.names
	var s []paramSpec
	lin := func(name string, out, in int, bias bool) { s = append(s, linearSpecs(name, out, in, bias, std)...) }
	norm := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	s = append(s, paramSpec{name: n.embed + ".weight", shape: []int{m.vocab, d}, init: initTruncNormal, std: std})
	for i := 0; i < m.layers; i++ {
		l := n.layerName(i) + "."
		norm(l + n.inNorm)
		if n.postNorm != "" {
			norm(l + n.postNorm)
		}
		lin(l+n.q, d, d, m.bias)
		lin(l+n.k, kv, d, m.bias)
		lin(l+n.v, kv, d, m.bias)
		lin(l+n.dense, d, d, m.bias)
		lin(l+n.up, m.inter, d, true)
		lin(l+n.down, d, m.inter, true)
	}
	norm(n.final)
	switch {
	case !m.causal:
		lin(neoxHeadSite, len(m.labels), d, false)
	case !m.tied:
		lin(n.lmHead, m.vocab, d, m.lmBias)
	}
	return s
}

// neoxQKV are the parts of query_key_value, in the order of each head's
// rows.
var neoxQKV = []string{"query", "key", "value"}

// packs lists each block's query_key_value weight and bias: head h's rows
// 3·h·dh … 3·h·dh+dh are its query's, the next dh its key's, then its
// value's. Phi stores them apart: none.
func (m *gptNeoXModel) packs() []pack {
	n := m.names
	if n.fused == "" {
		return nil
	}
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
		l := n.layerName(i) + "."
		kinds := []string{".weight"}
		if m.bias {
			kinds = append(kinds, ".bias")
		}
		for _, kind := range kinds {
			p := pack{file: l + n.fused + kind, shape: []int{3 * d, d}, rows: rows,
				parts: []string{l + n.q + kind, l + n.k + kind, l + n.v + kind}}
			if kind == ".bias" {
				p.shape = []int{3 * d}
			}
			out = append(out, p)
		}
	}
	return out
}

// describe fills the sites and vectors.
func (m *gptNeoXModel) describe() {
	d, kv, n := m.hidden, m.kvHeads*m.headDim, m.names
	norm := func(name string, block int) { m.vectors = append(m.vectors, layerNormVectors(name, block, name)...) }
	m.sites = []Site{linearSite(n.embed, "embedding", -1, m.vocab, d, "", false)}
	m.vectors = nil
	for i := 0; i < m.layers; i++ {
		l := n.layerName(i) + "."
		in, post := l+n.inNorm, l+n.postNorm
		if n.postNorm == "" {
			post = in
		}
		m.sites = append(m.sites,
			linearSite(l+n.q, "query", i, d, d, in, m.bias),
			linearSite(l+n.k, "key", i, d, kv, in, m.bias),
			linearSite(l+n.v, "value", i, d, kv, in, m.bias),
			linearSite(l+n.dense, "attn_out", i, d, d, l+strings.TrimSuffix(n.dense, "dense")+"context", m.bias),
			linearSite(l+n.up, "mlp_in", i, d, m.inter, post, true),
			linearSite(l+n.down, "mlp_out", i, m.inter, d, l+"mlp.act", true),
		)
		norm(in, i)
		if n.postNorm != "" {
			norm(post, i)
		}
	}
	norm(n.final, -1)
	if !m.causal {
		m.sites = append(m.sites, linearSite(neoxHeadSite, "head", -1, d, len(m.labels), n.final, false))
		return
	}
	lm := lmHeadSite(n.lmHead, n.final, n.embed, d, m.vocab, m.tied)
	if m.lmBias && !m.tied {
		lm.Bias = n.lmHead + ".bias"
	}
	m.sites = append(m.sites, lm)
}

func buildGPTNeoX(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	m, err := parseGPTNeoX(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", cfg["model_type"], err)
	}
	if err := m.setParams(m.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: %s: %w", m.modelType, err)
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

func init() {
	registerArch("gpt_neox", "gpt_neox.", parseGPTNeoX, buildGPTNeoX)
	registerArch("phi", "model.", parseGPTNeoX, buildGPTNeoX)
}

// BlockOutputs implements BlockMarker: the layers' prefixes,
// "gpt_neox.layers.N" (Phi's "model.layers.N").
func (m *gptNeoXModel) BlockOutputs() []string {
	return blockNames(m.layers, m.names.layerName)
}

// Forward implements Model. It panics on inputs that CheckInput rejects and
// on token ids outside the vocabulary.
func (m *gptNeoXModel) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	B, T := inputs.Value.Shape[0], inputs.Value.Shape[1]
	P, n := m.params, m.names
	h, ids := embedTokens(t, m.kind, m.vocab, inputs, P[n.embed+".weight"], n.embed)
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	for i := 0; i < m.layers; i++ {
		h = t.Mark(n.layerName(i), m.layer(t, h, i, act))
	}
	h = m.norm(t, h, n.final)
	if m.causal {
		w, b := P[n.lmHead+".weight"], P[n.lmHead+".bias"]
		if m.tied {
			w, b = P[n.embed+".weight"], nil
		}
		return t.Reshape(t.Linear(n.lmHead, h, w, b), B*T, m.vocab)
	}
	return t.Linear(neoxHeadSite, t.SelectTokens(h, m.lastTokens(ids, B, T)), P[neoxHeadSite+".weight"], nil)
}

// layer records layer i on t, from the residual stream h to the next:
// with the parallel residual h + attention(norm(h)) + MLP(norm'(h)) (norm'
// the same norm for Phi), else the attention added, then the MLP of the
// new stream.
func (m *gptNeoXModel) layer(t *Tape, h *Var, i int, act func(*Var) *Var) *Var {
	n := m.names
	l := n.layerName(i) + "."
	a := m.norm(t, h, l+n.inNorm)
	q, k, v := m.linear(t, l+n.q, a, m.bias), m.linear(t, l+n.k, a, m.bias), m.linear(t, l+n.v, a, m.bias)
	q, k = m.rope.rotate(t, q, m.heads), m.rope.rotate(t, k, m.kvHeads)
	ctx := t.AttentionWith(q, k, v, m.heads, m.kvHeads, autodiff.AttentionOptions{Causal: true})
	o := m.linear(t, l+n.dense, ctx, m.bias)
	mlpIn := h
	if !m.parallel {
		h = t.Add(h, o)
		mlpIn = h
	}
	f := a
	if n.postNorm != "" {
		f = m.norm(t, mlpIn, l+n.postNorm)
	}
	down := m.linear(t, l+n.down, act(m.linear(t, l+n.up, f, true)), true)
	if m.parallel {
		return t.Add(h, t.Add(o, down))
	}
	return t.Add(h, down)
}

// linear records the linear site name on t, with its bias when bias is
// set.
func (m *gptNeoXModel) linear(t *Tape, name string, x *Var, bias bool) *Var {
	var b *Var
	if bias {
		b = m.params[name+".bias"]
	}
	return t.Linear(name, x, m.params[name+".weight"], b)
}

// norm applies the LayerNorm name to x.
func (m *gptNeoXModel) norm(t *Tape, x *Var, name string) *Var {
	return t.LayerNorm(x, m.params[name+".weight"], m.params[name+".bias"], m.eps)
}
