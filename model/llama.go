package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/tensor"
)

// llamaModel is the architecture documented on LlamaConfig.
type llamaModel struct {
	base
	tokenInputs
	hidden, layers, heads, kvHeads, headDim, inter int
	eps                                            float64
	rope                                           rotary // rotary embeddings, scaled as rope_scaling says
	qkvBias, oBias, mlpBias                        bool
	qkNorm                                         bool    // qwen3: RMSNorm of each query and key head (q_norm, k_norm)
	olmo2                                          bool    // olmo2: norms after the attention and the MLP only, and of the whole query and key
	layerNorm                                      bool    // stablelm: LayerNorms (weight and bias) instead of RMSNorms
	parallel                                       bool    // stablelm's use_parallel_residual: the MLP reads input_layernorm too
	residualScale, logitDivisor                    float64 // granite: the attention's and MLP's outputs times residual_multiplier, the logits over logits_scaling; 0: none
	act                                            string
	windows                                        []int  // each layer's sliding attention window, 0: none
	localRope                                      rotary // gemma3: the rotary embeddings of sliding-window layers; no frequencies: rope
	causal                                         bool   // a causal language model (…ForCausalLM): lm_head on every token
	tied                                           bool   // tie_word_embeddings: lm_head is the embedding table
	gemma                                          gemmaParts
}

// gemmaParts are what Gemma and Gemma 2 add to the Llama architecture.
type gemmaParts struct {
	// normOffset: each RMSNorm scales by 1 + weight (weights start at 0).
	normOffset bool
	// embedScale multiplies the looked-up embeddings (√hidden_size); 0:
	// none.
	embedScale float64
	// sandwich (Gemma 2): the attention's and the MLP's outputs pass
	// through norms of their own before the residual adds them, and the
	// MLP reads pre_feedforward_layernorm.
	sandwich bool
	// queryScale multiplies the queries so that the scores are scaled by
	// query_pre_attn_scalar^(−½) rather than head_dim^(−½); 0: 1.
	queryScale float64
	// attnCap and finalCap soft-cap the attention scores and a causal LM's
	// logits, c·tanh(x/c); 0: none.
	attnCap, finalCap float64
	// ones holds a constant vector of ones of each norm's width (with
	// normOffset), read by every forward pass.
	ones map[int]*Var
}

// LlamaConfig describes a LlamaForSequenceClassification (or, with
// CausalLM, a LlamaForCausalLM) for building one in code; Map gives its
// config.json. Zero fields take transformers'
// defaults.
//
// The architecture, registered as model_type "llama", is Hugging Face's
// LlamaForSequenceClassification: token embeddings, pre-norm decoder blocks
// (RMSNorm; causal attention with rotary position embeddings, grouped-query
// when num_key_value_heads < num_attention_heads; a gated SiLU MLP), a final
// RMSNorm and a linear classifier without bias ("score") on the last token
// of each sequence that is not padding (pad_token_id). Parameter names are
// transformers' own. A base-model checkpoint (LlamaModel, names without
// "model.") loads as a base without a head (LoadOptions.MissingHead), and
// so does a causal-LM checkpoint loaded as this architecture
// (LoadOptions.Architecture; its lm_head is ignored).
//
// When config.json's first architecture ends in "ForCausalLM"
// (LlamaForCausalLM, CausalLM true here) the model is the causal language
// model instead: lm_head, without bias, on every token, giving logits
// [B·T, vocab_size] (NumLabels is the vocabulary), each row scored against
// the next token (TargetMaker). With tie_word_embeddings lm_head is the
// embedding table: no parameter of its own.
//
// Sites, in forward order (Block is the layer index, −1 outside the blocks):
//
//	model.embed_tokens                   embedding  reads the token ids (no input space)
//	model.layers.N.self_attn.q_proj      query      reads model.layers.N.input_layernorm
//	model.layers.N.self_attn.k_proj      key        reads model.layers.N.input_layernorm
//	model.layers.N.self_attn.v_proj      value      reads model.layers.N.input_layernorm
//	model.layers.N.self_attn.o_proj      attn_out   reads model.layers.N.self_attn.context
//	model.layers.N.mlp.gate_proj         mlp_gate   reads model.layers.N.post_attention_layernorm
//	model.layers.N.mlp.up_proj           mlp_in     reads model.layers.N.post_attention_layernorm
//	model.layers.N.mlp.down_proj         mlp_out    reads model.layers.N.mlp.act
//	score                                head       reads model.norm
//	lm_head (a causal LM)                lm_head    reads model.norm
//
// Every site's OutSpace is its own name, but lm_head's, whose outputs are
// the vocabulary (OutSpace ""); tied, its Weight is the embedding table's
// and Tied is set. The embedding site's weight is its
// table [vocab_size, hidden_size], one row per token (the transpose of a
// linear site's [Out, In]); its output, the rows looked up, is seen by an
// observer through Tape.Output. Token-level sites see [B, T, ·] rows, every
// token of every sequence, padding included; the head sees [B, d].
//
// Vectors: each RMSNorm's weight lives in the space named after the norm.
//
// Random initialisation (Build with nil params) follows transformers:
// weights from a normal of std initializer_range (0.02), truncated at 2
// std, biases 0, norms 1.
//
// Forward marks each block's output as "model.layers.N".
//
// Inputs are token ids [B, T] held as float32, each sequence padded at its
// end with pad_token_id. Without a pad token every token counts and the
// head reads the last one. rope_scaling may be absent, "default", "linear"
// or "llama3" (Llama 3.1 and later).
//
// The same code builds model_type "mistral" (MistralForSequenceClassification:
// no biases; a sliding attention window, see layerWindows),
// "qwen2" (Qwen2ForSequenceClassification: biases on q_proj, k_proj and
// v_proj) and "qwen3" (Qwen3ForSequenceClassification: attention_bias as
// Llama's; each head of the query and of the key goes through an RMSNorm of
// width head_dim, self_attn.q_norm and self_attn.k_norm, before the rotary
// embedding), whose parameter names are Llama's. Qwen3's two head norms are
// vectors of role "head_norm_weight" in the space of the projection they
// follow, one weight shared by all its heads.
//
// It builds "gemma" (GemmaForCausalLM, …ForSequenceClassification: the
// embeddings multiplied by √hidden_size, every RMSNorm scaling by
// 1 + weight, the MLP's activation hidden_activation, by default the tanh
// GELU; tie_word_embeddings true by default) and "gemma2" (also: the
// attention's and the MLP's outputs pass through norms of their own,
// post_attention_layernorm and post_feedforward_layernorm, before the
// residual adds them, and the MLP reads pre_feedforward_layernorm; scores
// scaled by query_pre_attn_scalar^(−½) and soft-capped at
// attn_logit_softcapping, a causal LM's logits at final_logit_softcapping;
// a sliding window on every other layer) and "gemma3_text" (Gemma3ForCausalLM:
// Gemma 2's layout without the caps, with Qwen3's per-head q_norm and k_norm,
// of 1 + weight; the sliding-window layers rotate with rope_local_base_freq).
// Gemma 2's and 3's two output norms are vectors of the spaces of o_proj and
// down_proj, whose outputs they scale.
//
// It builds "phi3" (Phi3ForCausalLM, …ForSequenceClassification: Phi-3,
// Phi-3.5, Phi-4-mini), Llama's layout without biases whose checkpoints
// fuse each layer's self_attn.qkv_proj (the query's rows, then the key's,
// then the value's) and mlp.gate_up_proj (the gate's, then the up
// projection's): Load splits them into Llama's parameters and sites, and
// Save joins them again (see packs). A sliding window applies to every
// layer when sliding_window is set. And "olmo2" (Olmo2ForCausalLM: OLMo 2):
// no norm before the attention or the MLP, which read the residual stream
// as it is, but norms of their outputs (post_attention_layernorm,
// post_feedforward_layernorm, vectors of the o_proj and down_proj spaces)
// before the residual adds them, and RMSNorms of the whole query and key
// projections (self_attn.q_norm, k_norm: vectors of those projections'
// spaces); and "olmo3" (Olmo3ForCausalLM: OLMo 3), OLMo 2's layout with
// a sliding window (sliding_window, 4096 by default) on all but every
// fourth layer unless layer_types says otherwise. And "stablelm"
// (StableLmForCausalLM, …: StableLM 3B, StableLM 2): LayerNorms with
// biases (layer_norm_eps) in place of the RMSNorms, biases on the query,
// key and value with use_qkv_bias, a quarter of each head rotated by
// default, and with use_parallel_residual an MLP that reads
// input_layernorm beside the attention (no post_attention_layernorm), both
// added to the stream at once. And "granite" (GraniteForCausalLM: IBM's
// Granite 3): Llama's layout with µP multipliers, each 1 by default — the
// embeddings times embedding_multiplier, the scores scaled by
// attention_multiplier instead of head_dim^(−½), the attention's and the
// MLP's outputs times residual_multiplier, and the causal LM's logits over
// logits_scaling. Every variant honours
// partial_rotary_factor and rope_scaling "longrope" and "yarn" (see
// rotary).
type LlamaConfig struct {
	VocabSize        int      // 32000
	HiddenSize       int      // 4096
	NumLayers        int      // 32
	NumHeads         int      // 32
	NumKVHeads       int      // NumHeads
	HeadDim          int      // HiddenSize / NumHeads
	IntermediateSize int      // 11008
	RMSNormEps       float64  // 1e-6
	RopeTheta        float64  // 10000
	AttentionBias    bool     // attention_bias
	MLPBias          bool     // mlp_bias
	PadTokenID       *int     // pad_token_id; nil: none
	Labels           []string // the classes; 2 labels LABEL_0, LABEL_1 when empty
	CausalLM         bool     // LlamaForCausalLM instead of the sequence classifier
	TieEmbeddings    bool     // tie_word_embeddings (a causal LM's lm_head is the embedding table)
}

// Map returns c as config.json fields, as transformers writes them.
func (c LlamaConfig) Map() map[string]any {
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
	hidden, heads := or(c.HiddenSize, 4096), or(c.NumHeads, 32)
	labels := c.Labels
	if len(labels) == 0 {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	cfg := map[string]any{
		"model_type":              "llama",
		"architectures":           []any{"LlamaForSequenceClassification"},
		"vocab_size":              or(c.VocabSize, 32000),
		"hidden_size":             hidden,
		"num_hidden_layers":       or(c.NumLayers, 32),
		"num_attention_heads":     heads,
		"num_key_value_heads":     or(c.NumKVHeads, heads),
		"head_dim":                or(c.HeadDim, hidden/heads),
		"intermediate_size":       or(c.IntermediateSize, 11008),
		"hidden_act":              "silu",
		"rms_norm_eps":            orF(c.RMSNormEps, 1e-6),
		"rope_theta":              orF(c.RopeTheta, 10000),
		"attention_bias":          c.AttentionBias,
		"mlp_bias":                c.MLPBias,
		"max_position_embeddings": 2048,
		"initializer_range":       0.02,
		"tie_word_embeddings":     c.TieEmbeddings,
		"torch_dtype":             "float32",
	}
	if c.CausalLM {
		cfg["architectures"] = []any{"LlamaForCausalLM"}
	}
	if c.PadTokenID != nil {
		cfg["pad_token_id"] = *c.PadTokenID
	}
	return SetLabels(cfg, labels)
}

// parseLlama reads a Llama configuration, or one of a variant (see
// llamaVariants) when cfg's model_type names it.
func parseLlama(cfg map[string]any) (*llamaModel, error) {
	m := &llamaModel{}
	m.modelType = "llama"
	if mt, _ := cfg["model_type"].(string); slices.Contains(llamaVariants, mt) {
		m.modelType = mt
	}
	m.kind = m.modelType
	m.qkNorm = m.modelType == "qwen3" || m.modelType == "gemma3_text"
	m.olmo2 = m.modelType == "olmo2" || m.modelType == "olmo3"
	m.layerNorm = m.modelType == "stablelm"
	isGemma := m.modelType == "gemma" || m.modelType == "gemma2" || m.modelType == "gemma3_text"
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("vocab_size", 32000, &m.vocab)
	r.get("hidden_size", 4096, &m.hidden)
	r.layers("num_hidden_layers", 32, &m.layers)
	r.get("num_attention_heads", 32, &m.heads)
	r.get("num_key_value_heads", m.heads, &m.kvHeads)
	r.get("intermediate_size", 11008, &m.inter)
	if r.err == nil && m.hidden%m.heads != 0 && cfg["head_dim"] == nil {
		r.err = fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", m.hidden, m.heads)
	}
	r.get("head_dim", m.hidden/max(m.heads, 1), &m.headDim)
	if r.err != nil {
		return nil, r.err
	}
	var err error
	if m.heads%m.kvHeads != 0 {
		return nil, fmt.Errorf("config: num_attention_heads %d is not a multiple of num_key_value_heads %d", m.heads, m.kvHeads)
	}
	if m.vocab >= 1<<24 {
		return nil, fmt.Errorf("config: vocab_size %d: token ids above 2²⁴ are not exact in float32 inputs", m.vocab)
	}
	defEps := 1e-6
	if m.olmo2 {
		defEps = 1e-5 // transformers' Olmo2Config
	}
	epsKey := "rms_norm_eps"
	if m.layerNorm {
		epsKey, defEps = "layer_norm_eps", 1e-5
	}
	if m.eps, err = ConfigFloatOr(cfg, epsKey, defEps); err != nil {
		return nil, err
	}
	if !(m.eps >= 0) {
		return nil, fmt.Errorf("config: %s %g: want eps ≥ 0", epsKey, m.eps)
	}
	if m.modelType == "stablelm" {
		if err := m.parseStableLM(cfg); err != nil {
			return nil, err
		}
	}
	if m.modelType == "granite" {
		if err := m.parseGranite(cfg); err != nil {
			return nil, err
		}
	}
	defTheta := 10000.0
	if m.modelType == "gemma3_text" {
		defTheta = 1e6 // transformers' Gemma3TextConfig
	}
	defPct := 1.0
	if m.modelType == "stablelm" {
		defPct = 0.25 // transformers' StableLmConfig
	}
	if m.rope, err = ropeOf(cfg, "full_attention", m.headDim, defTheta, defPct); err != nil {
		return nil, err
	}
	if err := m.parseBiases(cfg); err != nil {
		return nil, err
	}
	if m.windows, err = layerWindows(cfg, m.modelType, m.layers); err != nil {
		return nil, err
	}
	if m.mlpBias, err = ConfigBoolOr(cfg, "mlp_bias", false); err != nil {
		return nil, err
	}
	if isGemma {
		if m.act, err = gemmaActivation(cfg); err != nil {
			return nil, err
		}
	} else if m.act, err = activation(cfg, "silu", "config:"); err != nil {
		return nil, err
	}
	if m.padID, err = padTokenID(cfg); err != nil {
		return nil, err
	}
	if m.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	m.causal = isCausalLM(cfg)
	if m.tied, err = ConfigBoolOr(cfg, "tie_word_embeddings", isGemma); err != nil {
		return nil, err
	}
	if isGemma {
		if m.gemma, err = parseGemma(cfg, m.modelType, m.hidden, m.headDim); err != nil {
			return nil, err
		}
		m.gemma.ones = onesOf(m.hidden, m.headDim)
	}
	if m.modelType == "gemma3_text" {
		if m.localRope, err = localRoPE(cfg, m.headDim); err != nil {
			return nil, err
		}
	}
	m.cfg = CloneConfig(cfg)
	return m, nil
}

// parseGranite reads Granite's µP multipliers (each 1 by default): the
// embeddings times embedding_multiplier, the attention scores scaled by
// attention_multiplier instead of head_dim^(−½), the attention's and the
// MLP's outputs times residual_multiplier before the residual adds them,
// and a causal LM's logits divided by logits_scaling.
func (m *llamaModel) parseGranite(cfg map[string]any) error {
	get := func(key string) (float64, error) {
		v, err := ConfigFloatOr(cfg, key, 1)
		if err == nil && (!(v > 0) || math.IsInf(v, 0)) {
			err = fmt.Errorf("config: %s %g, want a positive number", key, v)
		}
		return v, err
	}
	var err error
	if m.gemma.embedScale, err = get("embedding_multiplier"); err != nil {
		return err
	}
	attn, err := get("attention_multiplier")
	if err != nil {
		return err
	}
	m.gemma.queryScale = attn * math.Sqrt(float64(m.headDim)) // AttentionWith scales by head_dim^(−½)
	if m.residualScale, err = get("residual_multiplier"); err != nil {
		return err
	}
	m.logitDivisor, err = get("logits_scaling")
	return err
}

// parseStableLM reads what StableLM adds: use_parallel_residual, and
// use_qkv_bias for the query, key and value projections. Its per-head
// LayerNorms of queries and keys (qk_layernorm, StableLM 2 12B) are
// refused.
func (m *llamaModel) parseStableLM(cfg map[string]any) error {
	var err error
	if m.parallel, err = ConfigBoolOr(cfg, "use_parallel_residual", false); err != nil {
		return err
	}
	if m.qkvBias, err = ConfigBoolOr(cfg, "use_qkv_bias", false); err != nil {
		return err
	}
	if qk, err := ConfigBoolOr(cfg, "qk_layernorm", false); err != nil || qk {
		return errors.Join(err, errors.New("config: qk_layernorm (a LayerNorm per head of the queries and keys) is not supported"))
	}
	return nil
}

// isCausalLM reports whether cfg's first architecture is a causal language
// model (LlamaForCausalLM, Qwen2ForCausalLM, …).
func isCausalLM(cfg map[string]any) bool {
	archs, _ := cfg["architectures"].([]any)
	if len(archs) == 0 {
		return false
	}
	a, _ := archs[0].(string)
	return strings.HasSuffix(a, "ForCausalLM")
}

// parseBiases reads which projections have biases: transformers' Llama
// and Mistral give all four attention projections one (attention_bias,
// false by default; Mistral has none), Qwen2 gives query, key and value one
// and the output projection none.
func (m *llamaModel) parseBiases(cfg map[string]any) error {
	var err error
	switch m.modelType {
	case "qwen2":
		m.qkvBias = true
	case "llama", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo2", "olmo3", "granite":
		m.qkvBias, err = ConfigBoolOr(cfg, "attention_bias", false)
		m.oBias = m.qkvBias
	}
	if err != nil {
		return err
	}
	m.mlpBias, err = ConfigBoolOr(cfg, "mlp_bias", false)
	return err
}

// layerWindows returns each of the layers' sliding attention window (0:
// the layer sees every earlier token), as transformers reads the config:
// the layers config.layer_types calls "sliding_attention" when it is
// given; otherwise for mistral every layer, for qwen2 and qwen3 with
// use_sliding_window the layers from max_window_layers on, for gemma2 the
// even layers, and for gemma3_text all but every sliding_window_pattern-th
// (6) layer; with the window sliding_window (null or absent: none). Llama
// and Gemma have none.
func layerWindows(cfg map[string]any, modelType string, layers int) ([]int, error) {
	out := make([]int, layers)
	if modelType == "llama" || modelType == "gemma" || modelType == "olmo2" || modelType == "granite" {
		return out, nil
	}
	if _, ok := cfg["sliding_window"]; !ok && modelType == "olmo3" {
		cfg = withField(cfg, "sliding_window", 4096.0) // transformers' Olmo3Config
	}
	if v, ok := cfg["sliding_window"]; !ok || v == nil {
		return out, nil
	}
	w, err := ConfigInt(cfg, "sliding_window")
	if err == nil && w <= 0 {
		err = fmt.Errorf("config: sliding_window %d, want a positive number of tokens", w)
	}
	if err != nil {
		return nil, err
	}
	sliding := func(i int) bool { return true }
	switch modelType {
	case "qwen2", "qwen3":
		use, err := ConfigBoolOr(cfg, "use_sliding_window", false)
		if err != nil {
			return nil, err
		}
		from, err := ConfigIntOr(cfg, "max_window_layers", layers)
		if err != nil {
			return nil, err
		}
		sliding = func(i int) bool { return use && i >= from }
	case "gemma2":
		sliding = func(i int) bool { return i%2 == 0 }
	case "gemma3_text":
		pattern, err := ConfigIntOr(cfg, "sliding_window_pattern", 6)
		if err == nil && pattern <= 0 {
			err = fmt.Errorf("config: sliding_window_pattern %d, want a positive number of layers", pattern)
		}
		if err != nil {
			return nil, err
		}
		sliding = func(i int) bool { return (i+1)%pattern != 0 }
	case "olmo3":
		sliding = func(i int) bool { return (i+1)%4 != 0 }
	}
	if types, ok := cfg["layer_types"].([]any); ok {
		if len(types) != layers {
			return nil, fmt.Errorf("config: layer_types has %d entries for %d layers", len(types), layers)
		}
		sliding = func(i int) bool { return types[i] == "sliding_attention" }
	}
	for i := range out {
		if sliding(i) {
			out[i] = w
		}
	}
	return out, nil
}

// padTokenID reads pad_token_id, −1 when it is absent or null.
func padTokenID(cfg map[string]any) (int, error) {
	if v, ok := cfg["pad_token_id"]; !ok || v == nil {
		return -1, nil
	}
	id, err := ConfigInt(cfg, "pad_token_id")
	if err != nil {
		return 0, err
	}
	if id < 0 {
		return 0, fmt.Errorf("config: pad_token_id %d is negative", id)
	}
	return id, nil
}

// PadTokenID returns a text model's pad_token_id, or −1 when its
// config.json names none.
func PadTokenID(m Model) int {
	id, err := padTokenID(m.Config())
	if err != nil {
		return -1
	}
	return id
}

// WithPadToken returns m with pad_token_id set to id in its configuration
// (for a text model: the token its head skips at the end of a sequence),
// sharing m's parameters; m itself when it already has that pad token.
func WithPadToken(m Model, id int) (Model, error) {
	if PadTokenID(m) == id {
		return m, nil
	}
	cfg := m.Config()
	cfg["pad_token_id"] = id
	cfg["model_type"] = m.Type()
	return Build(cfg, Params(m), 0)
}

const (
	llamaEmbedSite = "model.embed_tokens"
	llamaHeadSite  = "score"
	llamaLMHead    = "lm_head"
	llamaNorm      = "model.norm"
)

func llamaLayer(i int) string { return "model.layers." + strconv.Itoa(i) }

// specs lists the parameters in transformers' state-dict order.
func (m *llamaModel) specs() []paramSpec {
	std, _ := ConfigFloatOr(m.cfg, "initializer_range", 0.02)
	d, q, kv := m.hidden, m.heads*m.headDim, m.kvHeads*m.headDim
	var s []paramSpec
	lin := func(name string, out, in int, bias bool) { s = append(s, linearSpecs(name, out, in, bias, std)...) }
	normInit := initOnes
	if m.gemma.normOffset {
		normInit = initZeros // the scale is 1 + weight
	}
	norm := func(name string) {
		if m.layerNorm {
			s = append(s, layerNormSpecs(name, d)...)
			return
		}
		s = append(s, paramSpec{name: name + ".weight", shape: []int{d}, init: normInit})
	}
	s = append(s, paramSpec{name: llamaEmbedSite + ".weight", shape: []int{m.vocab, d}, init: initTruncNormal, std: std})
	for i := 0; i < m.layers; i++ {
		l := llamaLayer(i)
		lin(l+".self_attn.q_proj", q, d, m.qkvBias)
		lin(l+".self_attn.k_proj", kv, d, m.qkvBias)
		lin(l+".self_attn.v_proj", kv, d, m.qkvBias)
		lin(l+".self_attn.o_proj", d, q, m.oBias)
		if m.qkNorm {
			s = append(s, paramSpec{name: l + ".self_attn.q_norm.weight", shape: []int{m.headDim}, init: normInit},
				paramSpec{name: l + ".self_attn.k_norm.weight", shape: []int{m.headDim}, init: normInit})
		}
		if m.olmo2 {
			s = append(s, paramSpec{name: l + ".self_attn.q_norm.weight", shape: []int{q}, init: normInit},
				paramSpec{name: l + ".self_attn.k_norm.weight", shape: []int{kv}, init: normInit})
		}
		lin(l+".mlp.gate_proj", m.inter, d, m.mlpBias)
		lin(l+".mlp.up_proj", m.inter, d, m.mlpBias)
		lin(l+".mlp.down_proj", d, m.inter, m.mlpBias)
		if !m.olmo2 {
			norm(l + ".input_layernorm")
		}
		if !m.parallel {
			norm(l + ".post_attention_layernorm")
		}
		if m.gemma.sandwich {
			norm(l + ".pre_feedforward_layernorm")
		}
		if m.gemma.sandwich || m.olmo2 {
			norm(l + ".post_feedforward_layernorm")
		}
	}
	norm(llamaNorm)
	switch {
	case !m.causal:
		lin(llamaHeadSite, len(m.labels), d, false)
	case !m.tied:
		lin(llamaLMHead, m.vocab, d, false)
	}
	return s
}

// packs lists the tensors a checkpoint stores fused: none but Phi-3's,
// whose self_attn.qkv_proj holds the query's rows, then the key's, then
// the value's, and whose mlp.gate_up_proj holds the gate's, then the up
// projection's.
func (m *llamaModel) packs() []pack {
	if m.modelType != "phi3" {
		return nil
	}
	d, q, kv := m.hidden, m.heads*m.headDim, m.kvHeads*m.headDim
	var out []pack
	for i := 0; i < m.layers; i++ {
		l := llamaLayer(i)
		out = append(out,
			pack{file: l + ".self_attn.qkv_proj.weight", shape: []int{q + 2*kv, d},
				parts: []string{l + ".self_attn.q_proj.weight", l + ".self_attn.k_proj.weight", l + ".self_attn.v_proj.weight"},
				rows:  [][]int{rowSpan(0, q), rowSpan(q, kv), rowSpan(q+kv, kv)}},
			pack{file: l + ".mlp.gate_up_proj.weight", shape: []int{2 * m.inter, d},
				parts: []string{l + ".mlp.gate_proj.weight", l + ".mlp.up_proj.weight"},
				rows:  [][]int{rowSpan(0, m.inter), rowSpan(m.inter, m.inter)}})
	}
	return out
}

// describe fills the sites and vectors.
func (m *llamaModel) describe() {
	d, q, kv := m.hidden, m.heads*m.headDim, m.kvHeads*m.headDim
	norm := func(name string, block int) {
		if m.layerNorm {
			m.vectors = append(m.vectors, layerNormVectors(name, block, name)...)
			return
		}
		m.vectors = append(m.vectors, Vector{Name: name + ".weight", Role: "norm_weight", Block: block, Space: name})
	}
	m.sites = []Site{linearSite(llamaEmbedSite, "embedding", -1, m.vocab, d, "", false)}
	m.vectors = nil
	for i := 0; i < m.layers; i++ {
		l := llamaLayer(i)
		in, post := l+".input_layernorm", l+".post_attention_layernorm"
		mlpIn := post
		if m.gemma.sandwich {
			mlpIn = l + ".pre_feedforward_layernorm"
		}
		if m.olmo2 {
			// No norm before the attention or the MLP: they read the
			// residual stream as it enters them.
			in, mlpIn = l+".self_attn.input", l+".mlp.input"
		}
		if m.parallel {
			mlpIn = in // the MLP reads input_layernorm as the attention does
		}
		m.sites = append(m.sites,
			linearSite(l+".self_attn.q_proj", "query", i, d, q, in, m.qkvBias),
			linearSite(l+".self_attn.k_proj", "key", i, d, kv, in, m.qkvBias),
			linearSite(l+".self_attn.v_proj", "value", i, d, kv, in, m.qkvBias),
			linearSite(l+".self_attn.o_proj", "attn_out", i, q, d, l+".self_attn.context", m.oBias),
			linearSite(l+".mlp.gate_proj", "mlp_gate", i, d, m.inter, mlpIn, m.mlpBias),
			linearSite(l+".mlp.up_proj", "mlp_in", i, d, m.inter, mlpIn, m.mlpBias),
			linearSite(l+".mlp.down_proj", "mlp_out", i, m.inter, d, l+".mlp.act", m.mlpBias),
		)
		if !m.olmo2 {
			norm(in, i)
		}
		if m.gemma.sandwich || m.olmo2 {
			// The norms of the attention's and the MLP's outputs scale
			// those outputs' coordinates: their spaces are the output
			// projections'.
			m.vectors = append(m.vectors,
				Vector{Name: post + ".weight", Role: "norm_weight", Block: i, Space: l + ".self_attn.o_proj"},
				Vector{Name: l + ".post_feedforward_layernorm.weight", Role: "norm_weight", Block: i, Space: l + ".mlp.down_proj"})
			if m.gemma.sandwich {
				norm(mlpIn, i)
			}
		} else if !m.parallel {
			norm(post, i)
		}
		if m.olmo2 {
			// A norm of the whole projection's output: a vector of its
			// space.
			for _, p := range []string{"q", "k"} {
				m.vectors = append(m.vectors, Vector{Name: l + ".self_attn." + p + "_norm.weight", Role: "norm_weight", Block: i, Space: l + ".self_attn." + p + "_proj"})
			}
		}
		if m.qkNorm {
			// Shared by every head: the space is the projection's output,
			// of which each head is a block (transfer.headVector).
			for _, p := range []string{"q", "k"} {
				m.vectors = append(m.vectors, Vector{Name: l + ".self_attn." + p + "_norm.weight", Role: "head_norm_weight", Block: i, Space: l + ".self_attn." + p + "_proj"})
			}
		}
	}
	norm(llamaNorm, -1)
	switch {
	case !m.causal:
		m.sites = append(m.sites, linearSite(llamaHeadSite, "head", -1, d, len(m.labels), llamaNorm, false))
	default:
		// Its outputs are the vocabulary's logits: no output space to map.
		m.sites = append(m.sites, lmHeadSite(llamaLMHead, llamaNorm, llamaEmbedSite, d, m.vocab, m.tied))
	}
}

func buildLlama(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	m, err := parseLlama(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", cfg["model_type"], err)
	}
	if err := m.setParams(m.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: %s: %w", m.modelType, err)
	}
	m.describe()
	if m.causal {
		return &llamaLM{m}, nil
	}
	return m, nil
}

// llamaLM is a Llama causal language model: the logits of every token,
// each scored against the next token (see Targets).
type llamaLM struct{ *llamaModel }

// NumLabels implements Model: the vocabulary.
func (m *llamaLM) NumLabels() int { return m.vocab }

// Targets implements TargetMaker (see nextTokens).
func (m *llamaLM) Targets(inputs *Tensor) []int { return nextTokens(inputs, m.padID) }

// llamaVariants are the model types built as Llama: Mistral (no biases; a
// sliding attention window), Qwen2 (biases on query, key and value), Qwen3
// (no biases; an RMSNorm of each query and key head before the rotary
// embedding), Gemma, Gemma 2 and Gemma 3 (see LlamaConfig).
var llamaVariants = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "olmo3", "stablelm", "granite"}

func init() {
	for _, mt := range llamaVariants {
		registerArch(mt, "model.", parseLlama, buildLlama)
	}
}

// BlockOutputs implements BlockMarker: "model.layers.N".
func (m *llamaModel) BlockOutputs() []string {
	return blockNames(m.layers, llamaLayer)
}

// Forward implements Model. It panics on inputs that CheckInput rejects and
// on token ids outside the vocabulary.
func (m *llamaModel) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	B, T := inputs.Value.Shape[0], inputs.Value.Shape[1]
	P := m.params
	h, ids := embedTokens(t, m.kind, m.vocab, inputs, P[llamaEmbedSite+".weight"], llamaEmbedSite)
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	if m.gemma.embedScale != 0 {
		h = t.Scale(h, float32(m.gemma.embedScale))
	}
	for i := 0; i < m.layers; i++ {
		h = t.Mark(llamaLayer(i), m.layer(t, h, i, act))
	}
	h = m.norm(t, h, llamaNorm)
	if m.causal {
		w := P[llamaLMHead+".weight"]
		if m.tied {
			w = P[llamaEmbedSite+".weight"]
		}
		logits := t.Reshape(t.Linear(llamaLMHead, h, w, nil), B*T, m.vocab)
		if c := m.gemma.finalCap; c > 0 {
			logits = t.Scale(t.Tanh(t.Scale(logits, float32(1/c))), float32(c))
		}
		if m.logitDivisor != 0 {
			logits = t.Scale(logits, float32(1/m.logitDivisor))
		}
		return logits
	}
	pooled := t.SelectTokens(h, m.lastTokens(ids, B, T))
	return t.Linear(llamaHeadSite, pooled, P[llamaHeadSite+".weight"], nil)
}

// layer records decoder layer i on t, from the residual stream h to the
// next: attention, then the MLP, each added to the stream, with the
// norms the variant places around them.
func (m *llamaModel) layer(t *Tape, h *Var, i int, act func(*Var) *Var) *Var {
	l := llamaLayer(i)
	a := h
	if !m.olmo2 {
		a = m.norm(t, h, l+".input_layernorm")
	}
	o := m.attention(t, a, i)
	if m.residualScale != 0 {
		o = t.Scale(o, float32(m.residualScale))
	}
	var f *Var
	switch {
	case m.parallel:
		f = a // the MLP reads input_layernorm; both add to the stream at once
		h = t.Add(h, o)
	case m.gemma.sandwich:
		h = t.Add(h, m.norm(t, o, l+".post_attention_layernorm"))
		f = m.norm(t, h, l+".pre_feedforward_layernorm")
	case m.olmo2:
		h = t.Add(h, m.norm(t, o, l+".post_attention_layernorm"))
		f = h
	default:
		h = t.Add(h, o)
		f = m.norm(t, h, l+".post_attention_layernorm")
	}
	gate, up := m.linear(t, l+".mlp.gate_proj", f, m.mlpBias), m.linear(t, l+".mlp.up_proj", f, m.mlpBias)
	var g *Var
	if m.act == "silu" {
		g = t.SwiGLU(gate, up) // fused: no intermediate SiLU(gate)
	} else {
		g = t.Mul(act(gate), up)
	}
	down := m.linear(t, l+".mlp.down_proj", g, m.mlpBias)
	if m.gemma.sandwich || m.olmo2 {
		down = m.norm(t, down, l+".post_feedforward_layernorm")
	}
	if m.residualScale != 0 {
		down = t.Scale(down, float32(m.residualScale))
	}
	return t.Add(h, down)
}

// attention records layer i's attention on t, reading a: the query, key
// and value projections, their norms, the rotary embedding, and the output
// projection of the attended values.
func (m *llamaModel) attention(t *Tape, a *Var, i int) *Var {
	l := llamaLayer(i) + ".self_attn."
	q, k := m.linear(t, l+"q_proj", a, m.qkvBias), m.linear(t, l+"k_proj", a, m.qkvBias)
	switch {
	case m.qkNorm:
		q = m.headNorm(t, q, m.heads, m.params[l+"q_norm.weight"])
		k = m.headNorm(t, k, m.kvHeads, m.params[l+"k_norm.weight"])
	case m.olmo2:
		q, k = m.norm(t, q, l+"q_norm"), m.norm(t, k, l+"k_norm")
	}
	rope := m.rope
	if m.windows[i] > 0 && m.localRope.freq != nil {
		rope = m.localRope
	}
	q, k = rope.rotate(t, q, m.heads), rope.rotate(t, k, m.kvHeads)
	if m.gemma.queryScale != 0 {
		q = t.Scale(q, float32(m.gemma.queryScale))
	}
	v := m.linear(t, l+"v_proj", a, m.qkvBias)
	ctx := t.AttentionWith(q, k, v, m.heads, m.kvHeads, autodiff.AttentionOptions{Causal: true, Window: m.windows[i], SoftCap: m.gemma.attnCap})
	return m.linear(t, l+"o_proj", ctx, m.oBias)
}

// linear records the linear site name on t, with its bias when bias is
// set.
func (m *llamaModel) linear(t *Tape, name string, x *Var, bias bool) *Var {
	var b *Var
	if bias {
		b = m.params[name+".bias"]
	}
	return t.Linear(name, x, m.params[name+".weight"], b)
}

// norm applies the norm name (its weight name.weight, and for a
// LayerNorm its bias name.bias) to x.
func (m *llamaModel) norm(t *Tape, x *Var, name string) *Var {
	if m.layerNorm {
		return t.LayerNorm(x, m.params[name+".weight"], m.params[name+".bias"], m.eps)
	}
	return m.rmsNorm(t, x, m.params[name+".weight"])
}

// rmsNorm applies the model's RMSNorm with weight w: x·rsqrt(mean(x²) +
// eps)·w, or ·(1 + w) for Gemma.
func (m *llamaModel) rmsNorm(t *Tape, x, w *Var) *Var {
	if m.gemma.normOffset {
		w = t.Add(w, m.gemma.ones[w.Value.Numel()])
	}
	return t.RMSNorm(x, w, m.eps)
}

// onesOf returns constant vectors of ones of each width: the 1 that
// Gemma's norms add to their weights, made once per model.
func onesOf(widths ...int) map[int]*Var {
	out := map[int]*Var{}
	for _, n := range widths {
		ones := tensor.New[float32](n)
		for i := range ones.Data {
			ones.Data[i] = 1
		}
		out[n] = autodiff.Const(ones)
	}
	return out
}

// parseGemma reads what Gemma ("gemma"), Gemma 2 ("gemma2") and Gemma 3
// ("gemma3_text") add to Llama: the embeddings scaled by √hidden_size,
// norms of 1 + weight, and from Gemma 2 on the norms around the attention
// and the MLP, the scores scaled by query_pre_attn_scalar^(−½), and the
// soft caps of the scores (attn_logit_softcapping) and of the logits
// (final_logit_softcapping; null turns either off; Gemma 3 has none by
// default).
func parseGemma(cfg map[string]any, modelType string, hidden, headDim int) (gemmaParts, error) {
	g := gemmaParts{normOffset: true, embedScale: float64(float32(math.Sqrt(float64(hidden))))}
	if modelType == "gemma" {
		return g, nil
	}
	// Gemma 2 and Gemma 3.
	g.sandwich = true
	attnCap, finalCap, qpasDefault := 50.0, 30.0, 256.0 // transformers' Gemma2Config
	if modelType == "gemma3_text" {
		attnCap, finalCap, qpasDefault = 0, 0, 256
	}
	var err error
	capOf := func(key string, def float64) float64 {
		if v, ok := cfg[key]; ok && v == nil {
			return 0
		}
		c, e := ConfigFloatOr(cfg, key, def)
		if e == nil && c < 0 {
			e = fmt.Errorf("config: %s %g, want a positive cap or null", key, c)
		}
		err = errors.Join(err, e)
		return c
	}
	g.attnCap, g.finalCap = capOf("attn_logit_softcapping", attnCap), capOf("final_logit_softcapping", finalCap)
	qpas, e := ConfigFloatOr(cfg, "query_pre_attn_scalar", qpasDefault)
	if e == nil && !(qpas > 0) {
		e = fmt.Errorf("config: query_pre_attn_scalar %g, want a positive number", qpas)
	}
	if err = errors.Join(err, e); err != nil {
		return g, err
	}
	if qpas != float64(headDim) {
		g.queryScale = math.Sqrt(float64(headDim) / qpas)
	}
	return g, nil
}

// gemmaActivation is the MLP's activation of a Gemma: hidden_activation,
// else the tanh approximation of GELU, as transformers uses whatever
// hidden_act says.
func gemmaActivation(cfg map[string]any) (string, error) {
	act := "gelu_pytorch_tanh"
	if v, ok := cfg["hidden_activation"]; ok && v != nil {
		var err error
		if act, err = ConfigString(cfg, "hidden_activation"); err != nil {
			return "", err
		}
	}
	if err := autodiff.CheckActivation(act); err != nil {
		return "", fmt.Errorf("config: field \"hidden_activation\": %w", err)
	}
	return act, nil
}

// headNorm applies the model's RMSNorm with the weight gamma [head_dim] to
// each of the heads of x [..., heads·head_dim] (Qwen3's and Gemma 3's
// q_norm and k_norm).
func (m *llamaModel) headNorm(t *Tape, x *Var, heads int, gamma *Var) *Var {
	shape := x.Value.Shape
	dims := append(slices.Clone(shape[:len(shape)-1]), heads, shape[len(shape)-1]/heads)
	return t.Reshape(m.rmsNorm(t, t.Reshape(x, dims...), gamma), shape...)
}
