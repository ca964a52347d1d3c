package model

import (
	"fmt"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
)

// bertModel is the architecture documented on BertConfig.
type bertModel struct {
	base
	names                               bertNames
	roberta                             bool // roberta or xlm-roberta: positions counted from the pad token
	vocab, hidden, layers, heads, inter int
	positions, types                    int
	eps                                 float64
	act                                 string
	padID                               int // −1: no pad token
}

// bertNames are the parameter names of one flavour of the BERT encoder:
// the prefix, the layers' path, each layer's modules and the classifier's
// two layers, whose first applies poolAct.
type bertNames struct {
	prefix, layers                                                    string
	query, key, value, attnOut, attnNorm, mlpIn, mlpOut, outNorm, act string
	pool, head, poolAct                                               string
	types                                                             bool // token-type embeddings
	taskPool                                                          bool // the pool layer is the task's, not pre-trained
}

var (
	bertFlavour = bertNames{prefix: "bert", layers: "encoder.layer",
		query: "attention.self.query", key: "attention.self.key", value: "attention.self.value",
		attnOut: "attention.output.dense", attnNorm: "attention.output.LayerNorm",
		mlpIn: "intermediate.dense", mlpOut: "output.dense", outNorm: "output.LayerNorm", act: "intermediate.act",
		pool: "bert.pooler.dense", head: "classifier", poolAct: "tanh", types: true}
	robertaFlavour = func() bertNames {
		n := bertFlavour
		n.prefix, n.pool, n.head, n.taskPool = "roberta", "classifier.dense", "classifier.out_proj", true
		return n
	}()
	distilbertFlavour = bertNames{prefix: "distilbert", layers: "transformer.layer",
		query: "attention.q_lin", key: "attention.k_lin", value: "attention.v_lin",
		attnOut: "attention.out_lin", attnNorm: "sa_layer_norm",
		mlpIn: "ffn.lin1", mlpOut: "ffn.lin2", outNorm: "output_layer_norm", act: "ffn.act",
		pool: "pre_classifier", head: "classifier", poolAct: "relu", taskPool: true}
)

// BertConfig describes a BertForSequenceClassification (or, with RoBERTa,
// a RobertaForSequenceClassification) for building one in code; Map gives
// its config.json. Zero fields take transformers' defaults.
//
// The architecture, registered as model_type "bert", is Hugging Face's
// BertForSequenceClassification: word, position and token-type embeddings
// summed and layer-normalized, post-LN encoder blocks (bidirectional
// attention that no query attends to padding with, each sublayer's output
// added to its input and then layer-normalized), a pooler (a dense layer
// and tanh on the first token, [CLS]) and a linear classifier. Parameter
// names are transformers' own. Every sequence has token type 0.
//
// "roberta" (RobertaForSequenceClassification, and "xlm-roberta",
// XLMRobertaForSequenceClassification, the same architecture) is the same
// encoder under
// the prefix "roberta.", with positions counted from pad_token_id + 1 over
// the tokens that are not padding (as transformers derives them from the
// ids), and the classifier head classifier.dense, tanh, classifier.out_proj
// on the first token (<s>) instead of the pooler and classifier.
//
// "distilbert" (DistilBertForSequenceClassification) is the encoder under
// other names (dim, n_layers, n_heads, hidden_dim and activation in its
// config; distilbert.transformer.layer.N.attention.q_lin, …, sa_layer_norm,
// ffn.lin1, ffn.lin2, output_layer_norm), without token types, with the
// head pre_classifier, ReLU, classifier on the first token.
//
// Sites, in forward order (Block is the layer index, −1 outside the blocks;
// P is bert or roberta; DistilBERT's are named as above):
//
//	P.embeddings.word_embeddings               embedding  reads the token ids (no input space)
//	P.encoder.layer.N.attention.self.query     query      reads the previous LayerNorm's output
//	P.encoder.layer.N.attention.self.key       key        reads the previous LayerNorm's output
//	P.encoder.layer.N.attention.self.value     value      reads the previous LayerNorm's output
//	P.encoder.layer.N.attention.output.dense   attn_out   reads P.encoder.layer.N.attention.context
//	P.encoder.layer.N.intermediate.dense       mlp_in     reads P.encoder.layer.N.attention.output.LayerNorm
//	P.encoder.layer.N.output.dense             mlp_out    reads P.encoder.layer.N.intermediate.act
//	bert.pooler.dense / classifier.dense       pool       reads the last layer's output.LayerNorm (first tokens)
//	classifier / classifier.out_proj           head       reads the pool's tanh
//
// where the previous LayerNorm of layer 0 is P.embeddings.LayerNorm, of
// layer N the output.LayerNorm of layer N−1. Every site's OutSpace is its
// own name. The embedding site's weight is its table [vocab_size,
// hidden_size]; its output, the rows looked up, is seen by an observer
// through Tape.Output. Token-level sites see [B, T, ·] rows, padding
// included; the pool and the head see [B, ·].
//
// Vectors: each LayerNorm's weight and bias live in the space named after
// the norm; the position table (role "text_positions", Offset the row of
// the first position) and the token-type table, rows of width hidden_size,
// live in the word embeddings' output space.
//
// Forward marks each block's output as "P.encoder.layer.N". Inputs are
// token ids [B, T] held as float32, each sequence padded at its end with
// pad_token_id.
type BertConfig struct {
	RoBERTa          bool     // RobertaForSequenceClassification
	DistilBERT       bool     // DistilBertForSequenceClassification
	VocabSize        int      // 30522 (RoBERTa 50265)
	HiddenSize       int      // 768
	NumLayers        int      // 12
	NumHeads         int      // 12
	IntermediateSize int      // 3072
	MaxPositions     int      // 512 (RoBERTa 514)
	TypeVocabSize    int      // 2 (RoBERTa 1)
	PadTokenID       *int     // 0 (RoBERTa 1)
	Labels           []string // the classes; 2 labels LABEL_0, LABEL_1 when empty
}

// Map returns c as config.json fields, as transformers writes them.
func (c BertConfig) Map() map[string]any {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	mt, arch, vocab, pos, types, pad, eps := "bert", "BertForSequenceClassification", 30522, 512, 2, 0, 1e-12
	if c.RoBERTa {
		mt, arch, vocab, pos, types, pad, eps = "roberta", "RobertaForSequenceClassification", 50265, 514, 1, 1, 1e-5
	}
	if c.PadTokenID != nil {
		pad = *c.PadTokenID
	}
	labels := c.Labels
	if len(labels) == 0 {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	cfg := map[string]any{
		"model_type":                   mt,
		"architectures":                []any{arch},
		"vocab_size":                   or(c.VocabSize, vocab),
		"hidden_size":                  or(c.HiddenSize, 768),
		"num_hidden_layers":            or(c.NumLayers, 12),
		"num_attention_heads":          or(c.NumHeads, 12),
		"intermediate_size":            or(c.IntermediateSize, 3072),
		"hidden_act":                   "gelu",
		"hidden_dropout_prob":          0.1,
		"attention_probs_dropout_prob": 0.1,
		"max_position_embeddings":      or(c.MaxPositions, pos),
		"type_vocab_size":              or(c.TypeVocabSize, types),
		"initializer_range":            0.02,
		"layer_norm_eps":               eps,
		"pad_token_id":                 pad,
		"position_embedding_type":      "absolute",
		"torch_dtype":                  "float32",
	}
	if c.DistilBERT {
		cfg["model_type"], cfg["architectures"] = "distilbert", []any{"DistilBertForSequenceClassification"}
		for from, to := range map[string]string{"hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
			"intermediate_size": "hidden_dim", "hidden_act": "activation"} {
			cfg[to] = cfg[from]
			delete(cfg, from)
		}
		delete(cfg, "type_vocab_size")
		delete(cfg, "position_embedding_type")
		cfg["sinusoidal_pos_embds"] = false
	}
	return SetLabels(cfg, labels)
}

// parseBert reads a BERT, RoBERTa or DistilBERT configuration.
func parseBert(cfg map[string]any) (*bertModel, error) {
	m := &bertModel{names: bertFlavour}
	m.modelType = "bert"
	vocab, positions, types, pad, eps := 30522, 512, 2, 0, 1e-12
	// The config keys of the sizes.
	hidden, layers, heads, inter, act := "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act"
	switch mt, _ := cfg["model_type"].(string); mt {
	case "roberta", "xlm-roberta":
		m.modelType, m.names, m.roberta = mt, robertaFlavour, true
		vocab, positions, types, pad, eps = 50265, 514, 1, 1, 1e-5
	case "distilbert":
		m.modelType, m.names = mt, distilbertFlavour
		hidden, layers, heads, inter, act = "dim", "n_layers", "n_heads", "hidden_dim", "activation"
		if sin, err := ConfigBoolOr(cfg, "sinusoidal_pos_embds", false); err != nil || sin {
			if err == nil {
				err = fmt.Errorf("config: sinusoidal_pos_embds: only learned position embeddings are supported")
			}
			return nil, err
		}
	}
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("vocab_size", vocab, &m.vocab)
	r.get(hidden, 768, &m.hidden)
	r.layers(layers, 12, &m.layers)
	r.get(heads, 12, &m.heads)
	r.get(inter, 3072, &m.inter)
	r.get("max_position_embeddings", positions, &m.positions)
	if m.names.types {
		r.get("type_vocab_size", types, &m.types)
	}
	if r.err != nil {
		return nil, r.err
	}
	if m.hidden%m.heads != 0 {
		return nil, fmt.Errorf("config: %s %d is not a multiple of %s %d", hidden, m.hidden, heads, m.heads)
	}
	if m.vocab >= 1<<24 {
		return nil, fmt.Errorf("config: vocab_size %d: token ids above 2²⁴ are not exact in float32 inputs", m.vocab)
	}
	var err error
	if pt, err := ConfigStringOr(cfg, "position_embedding_type", "absolute"); err != nil || pt != "absolute" {
		if err == nil {
			err = fmt.Errorf("config: position_embedding_type %q: only \"absolute\" is supported", pt)
		}
		return nil, err
	}
	if m.eps, err = ConfigFloatOr(cfg, "layer_norm_eps", eps); err != nil {
		return nil, err
	}
	if !(m.eps >= 0) {
		return nil, fmt.Errorf("config: layer_norm_eps %g, want ≥ 0", m.eps)
	}
	if m.act, err = ConfigStringOr(cfg, act, "gelu"); err != nil {
		return nil, err
	}
	if err := autodiff.CheckActivation(m.act); err != nil {
		return nil, fmt.Errorf("config: field %q: %w", act, err)
	}
	cfg = CloneConfig(cfg)
	if _, ok := cfg["pad_token_id"]; !ok {
		cfg["pad_token_id"] = pad // transformers' default
	}
	if m.padID, err = padTokenID(cfg); err != nil {
		return nil, err
	}
	if m.roberta && m.padID < 0 {
		return nil, fmt.Errorf("config: a roberta model needs pad_token_id: its positions count from it")
	}
	if m.roberta && m.positions <= m.padID+1 {
		return nil, fmt.Errorf("config: max_position_embeddings %d leaves no position after pad_token_id %d", m.positions, m.padID)
	}
	if m.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	m.cfg = cfg
	return m, nil
}

func (m *bertModel) layer(i int) string {
	return m.names.prefix + "." + m.names.layers + "." + strconv.Itoa(i)
}

func (m *bertModel) embedSite() string { return m.names.prefix + ".embeddings.word_embeddings" }

// poolSite and headSite name the classifier's two layers.
func (m *bertModel) poolSite() string { return m.names.pool }

func (m *bertModel) headSite() string { return m.names.head }

// inNorm is the LayerNorm whose output layer i reads.
func (m *bertModel) inNorm(i int) string {
	if i == 0 {
		return m.names.prefix + ".embeddings.LayerNorm"
	}
	return m.layer(i-1) + "." + m.names.outNorm
}

// specs lists the parameters in transformers' state-dict order.
func (m *bertModel) specs() []paramSpec {
	std, _ := ConfigFloatOr(m.cfg, "initializer_range", 0.02)
	d := m.hidden
	var s []paramSpec
	lin := func(name string, out, in int) { s = append(s, linearSpecs(name, out, in, true, std)...) }
	ln := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	e, n := m.names.prefix+".embeddings", m.names
	s = append(s,
		paramSpec{name: e + ".word_embeddings.weight", shape: []int{m.vocab, d}, init: initTruncNormal, std: std},
		paramSpec{name: e + ".position_embeddings.weight", shape: []int{m.positions, d}, init: initTruncNormal, std: std})
	if n.types {
		s = append(s, paramSpec{name: e + ".token_type_embeddings.weight", shape: []int{m.types, d}, init: initTruncNormal, std: std})
	}
	ln(e + ".LayerNorm")
	for i := 0; i < m.layers; i++ {
		l := m.layer(i) + "."
		lin(l+n.query, d, d)
		lin(l+n.key, d, d)
		lin(l+n.value, d, d)
		lin(l+n.attnOut, d, d)
		ln(l + n.attnNorm)
		lin(l+n.mlpIn, m.inter, d)
		lin(l+n.mlpOut, d, m.inter)
		ln(l + n.outNorm)
	}
	lin(m.poolSite(), d, d)
	lin(m.headSite(), len(m.labels), d)
	return s
}

// describe fills the sites and vectors.
func (m *bertModel) describe() {
	d := m.hidden
	site := func(name, role string, block, in, out int, inSpace string) Site {
		return linearSite(name, role, block, in, out, inSpace, true)
	}
	norm := func(name string, block int) { m.vectors = append(m.vectors, layerNormVectors(name, block, name)...) }
	embed := site(m.embedSite(), "embedding", -1, m.vocab, d, "")
	embed.Bias = ""
	m.sites = []Site{embed}
	e, n := m.names.prefix+".embeddings", m.names
	m.vectors = []Vector{{Name: e + ".position_embeddings.weight", Role: "text_positions", Block: -1, Space: embed.OutSpace, Offset: m.firstPosition()}}
	if n.types {
		m.vectors = append(m.vectors, Vector{Name: e + ".token_type_embeddings.weight", Role: "token_type_embeddings", Block: -1, Space: embed.OutSpace})
	}
	norm(e+".LayerNorm", -1)
	for i := 0; i < m.layers; i++ {
		l, in := m.layer(i)+".", m.inNorm(i)
		mid := l + n.attnNorm
		m.sites = append(m.sites,
			site(l+n.query, "query", i, d, d, in),
			site(l+n.key, "key", i, d, d, in),
			site(l+n.value, "value", i, d, d, in),
			site(l+n.attnOut, "attn_out", i, d, d, l+"attention.context"),
			site(l+n.mlpIn, "mlp_in", i, d, m.inter, mid),
			site(l+n.mlpOut, "mlp_out", i, m.inter, d, l+n.act),
		)
		norm(mid, i)
		norm(l+n.outNorm, i)
	}
	m.sites = append(m.sites,
		site(m.poolSite(), "pool", -1, d, d, m.inNorm(m.layers)),
		site(m.headSite(), "head", -1, d, len(m.labels), m.poolSite()+".act"))
}

func buildBert(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	m, err := parseBert(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", cfg["model_type"], err)
	}
	if err := m.setParams(m.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: %s: %w", m.modelType, err)
	}
	m.describe()
	return m, nil
}

func bertSpecs(cfg map[string]any) ([]paramSpec, error) {
	m, err := parseBert(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", cfg["model_type"], err)
	}
	return m.specs(), nil
}

func init() {
	for mt, prefix := range map[string]string{"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.", "distilbert": "distilbert."} {
		Register(mt, buildBert)
		specFuncs[mt] = bertSpecs
		basePrefixes[mt] = prefix
	}
}

// CheckInput implements InputChecker: token ids [B, T], T within the
// position table.
func (m *bertModel) CheckInput(shape []int) error {
	if err := checkTokenShape(m.modelType, shape); err != nil {
		return err
	}
	if max := m.maxTokens(); shape[1] > max {
		return fmt.Errorf("model: %s: sequences of %d tokens, beyond the %d positions of max_position_embeddings", m.modelType, shape[1], max)
	}
	return nil
}

// maxTokens is the longest sequence the position table covers.
func (m *bertModel) maxTokens() int { return m.positions - m.firstPosition() }

// firstPosition is the position table's row of a sequence's first token:
// 0, or RoBERTa's pad_token_id + 1.
func (m *bertModel) firstPosition() int {
	if m.roberta {
		return m.padID + 1
	}
	return 0
}

// CheckValues implements ValueChecker: every input is a token id of the
// vocabulary.
func (m *bertModel) CheckValues(x *Tensor) error {
	_, err := tokenIDs(m.modelType, x, m.vocab)
	return err
}

// lengths returns each of the B sequences' length without the padding at
// its end (all T without a pad token).
func (m *bertModel) lengths(ids []int, B, T int) []int { return unpadded(ids, B, T, m.padID) }

// positionIDs returns each token's position: 0, 1, … for BERT; for
// RoBERTa pad_token_id + 1, + 2, … over the tokens that are not padding,
// and pad_token_id for padding, as transformers'
// create_position_ids_from_input_ids.
func (m *bertModel) positionIDs(ids []int, B, T int) []int {
	out := make([]int, len(ids))
	for b := 0; b < B; b++ {
		n := 0
		for j := 0; j < T; j++ {
			switch {
			case !m.roberta:
				out[b*T+j] = j
			case ids[b*T+j] == m.padID:
				out[b*T+j] = m.padID
			default:
				n++
				out[b*T+j] = m.padID + n
			}
		}
	}
	return out
}

// Padding implements Padder: the positions after each sequence's last
// token that is not pad_token_id.
func (m *bertModel) Padding(inputs *Tensor) []bool {
	if m.padID < 0 {
		return nil
	}
	return paddingFlags(inputs, m.lengths)
}

// TaskHead implements TaskHeader: RoBERTa's classifier (dense, then
// out_proj) and DistilBERT's (pre_classifier, then classifier), which a
// fine-tune trains from scratch; BERT's classifier alone (the pooler is
// pre-trained).
func (m *bertModel) TaskHead() []string {
	if m.names.taskPool {
		return []string{m.poolSite(), m.headSite()}
	}
	return []string{m.headSite()}
}

// PoolActivation implements PoolActivator.
func (m *bertModel) PoolActivation() string { return m.names.poolAct }

// BlockOutputs implements BlockMarker: "P.encoder.layer.N".
func (m *bertModel) BlockOutputs() []string {
	return blockNames(m.layers, m.layer)
}

// Forward implements Model. It panics on inputs that CheckInput rejects and
// on token ids outside the vocabulary.
func (m *bertModel) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	B, T := inputs.Value.Shape[0], inputs.Value.Shape[1]
	P := m.params
	h, ids := embedTokens(t, m.modelType, m.vocab, inputs, P[m.embedSite()+".weight"], m.embedSite())
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	lin := func(name string, x *Var) *Var { return t.Linear(name, x, P[name+".weight"], P[name+".bias"]) }
	ln := func(name string, x *Var) *Var { return t.LayerNorm(x, P[name+".weight"], P[name+".bias"], m.eps) }
	e, n := m.names.prefix+".embeddings", m.names
	h = t.Add(h, t.Embedding(P[e+".position_embeddings.weight"], m.positionIDs(ids, B, T), B, T))
	if n.types {
		h = t.Add(h, t.Embedding(P[e+".token_type_embeddings.weight"], make([]int, B*T), B, T))
	}
	h = ln(e+".LayerNorm", h)
	keys := m.lengths(ids, B, T)
	for i := 0; i < m.layers; i++ {
		l := m.layer(i) + "."
		q, k, v := lin(l+n.query, h), lin(l+n.key, h), lin(l+n.value, h)
		ctx := t.AttentionWith(q, k, v, m.heads, m.heads, autodiff.AttentionOptions{KeyLengths: keys})
		h = ln(l+n.attnNorm, t.Add(h, lin(l+n.attnOut, ctx)))
		f := lin(l+n.mlpOut, act(lin(l+n.mlpIn, h)))
		h = ln(l+n.outNorm, t.Add(h, f))
		t.Mark(m.layer(i), h)
	}
	pooled := lin(m.poolSite(), t.SelectToken(h, 0))
	if n.poolAct == "relu" {
		pooled = t.ReLU(pooled)
	} else {
		pooled = t.Tanh(pooled)
	}
	return lin(m.headSite(), pooled)
}
