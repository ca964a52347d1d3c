package model

import (
	"fmt"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
)

// bertModel is the architecture documented on BertConfig.
type bertModel struct {
	base
	prefix                              string // "bert" or "roberta"
	roberta                             bool   // roberta or xlm-roberta
	vocab, hidden, layers, heads, inter int
	positions, types                    int
	eps                                 float64
	act                                 string
	padID                               int // −1: no pad token
}

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
// Sites, in forward order (Block is the layer index, −1 outside the blocks;
// P is bert or roberta):
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
	return SetLabels(cfg, labels)
}

// parseBert reads a BERT or RoBERTa configuration.
func parseBert(cfg map[string]any) (*bertModel, error) {
	m := &bertModel{prefix: "bert"}
	m.modelType = "bert"
	vocab, positions, types, pad, eps := 30522, 512, 2, 0, 1e-12
	if mt, _ := cfg["model_type"].(string); mt == "roberta" || mt == "xlm-roberta" {
		m.modelType, m.prefix, m.roberta = mt, "roberta", true
		vocab, positions, types, pad, eps = 50265, 514, 1, 1, 1e-5
	}
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("vocab_size", vocab, &m.vocab)
	r.get("hidden_size", 768, &m.hidden)
	r.get("num_hidden_layers", 12, &m.layers)
	r.get("num_attention_heads", 12, &m.heads)
	r.get("intermediate_size", 3072, &m.inter)
	r.get("max_position_embeddings", positions, &m.positions)
	r.get("type_vocab_size", types, &m.types)
	if r.err != nil {
		return nil, r.err
	}
	if m.hidden%m.heads != 0 {
		return nil, fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", m.hidden, m.heads)
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
	if m.act, err = activation(cfg, "gelu", "config:"); err != nil {
		return nil, err
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

func (m *bertModel) layer(i int) string { return m.prefix + ".encoder.layer." + strconv.Itoa(i) }

func (m *bertModel) embedSite() string { return m.prefix + ".embeddings.word_embeddings" }

// poolSite and headSite name the classifier's two layers.
func (m *bertModel) poolSite() string {
	if m.roberta {
		return "classifier.dense"
	}
	return "bert.pooler.dense"
}

func (m *bertModel) headSite() string {
	if m.roberta {
		return "classifier.out_proj"
	}
	return "classifier"
}

// inNorm is the LayerNorm whose output layer i reads.
func (m *bertModel) inNorm(i int) string {
	if i == 0 {
		return m.prefix + ".embeddings.LayerNorm"
	}
	return m.layer(i-1) + ".output.LayerNorm"
}

// specs lists the parameters in transformers' state-dict order.
func (m *bertModel) specs() []paramSpec {
	std, _ := ConfigFloatOr(m.cfg, "initializer_range", 0.02)
	d := m.hidden
	var s []paramSpec
	lin := func(name string, out, in int) {
		s = append(s, paramSpec{name: name + ".weight", shape: []int{out, in}, init: initTruncNormal, std: std},
			paramSpec{name: name + ".bias", shape: []int{out}})
	}
	ln := func(name string) {
		s = append(s, paramSpec{name: name + ".weight", shape: []int{d}, init: initOnes},
			paramSpec{name: name + ".bias", shape: []int{d}})
	}
	e := m.prefix + ".embeddings"
	s = append(s,
		paramSpec{name: e + ".word_embeddings.weight", shape: []int{m.vocab, d}, init: initTruncNormal, std: std},
		paramSpec{name: e + ".position_embeddings.weight", shape: []int{m.positions, d}, init: initTruncNormal, std: std},
		paramSpec{name: e + ".token_type_embeddings.weight", shape: []int{m.types, d}, init: initTruncNormal, std: std})
	ln(e + ".LayerNorm")
	for i := 0; i < m.layers; i++ {
		l := m.layer(i)
		lin(l+".attention.self.query", d, d)
		lin(l+".attention.self.key", d, d)
		lin(l+".attention.self.value", d, d)
		lin(l+".attention.output.dense", d, d)
		ln(l + ".attention.output.LayerNorm")
		lin(l+".intermediate.dense", m.inter, d)
		lin(l+".output.dense", d, m.inter)
		ln(l + ".output.LayerNorm")
	}
	lin(m.poolSite(), d, d)
	lin(m.headSite(), len(m.labels), d)
	return s
}

// describe fills the sites and vectors.
func (m *bertModel) describe() {
	d := m.hidden
	site := func(name, role string, block, in, out int, inSpace string) Site {
		return Site{Name: name, Role: role, Block: block, Weight: name + ".weight", Bias: name + ".bias", In: in, Out: out, InSpace: inSpace, OutSpace: name}
	}
	norm := func(name string, block int) {
		m.vectors = append(m.vectors,
			Vector{Name: name + ".weight", Role: "norm_weight", Block: block, Space: name},
			Vector{Name: name + ".bias", Role: "norm_bias", Block: block, Space: name})
	}
	embed := site(m.embedSite(), "embedding", -1, m.vocab, d, "")
	embed.Bias = ""
	m.sites = []Site{embed}
	e := m.prefix + ".embeddings"
	m.vectors = []Vector{
		{Name: e + ".position_embeddings.weight", Role: "text_positions", Block: -1, Space: embed.OutSpace, Offset: m.firstPosition()},
		{Name: e + ".token_type_embeddings.weight", Role: "token_type_embeddings", Block: -1, Space: embed.OutSpace},
	}
	norm(e+".LayerNorm", -1)
	for i := 0; i < m.layers; i++ {
		l, in := m.layer(i), m.inNorm(i)
		mid := l + ".attention.output.LayerNorm"
		m.sites = append(m.sites,
			site(l+".attention.self.query", "query", i, d, d, in),
			site(l+".attention.self.key", "key", i, d, d, in),
			site(l+".attention.self.value", "value", i, d, d, in),
			site(l+".attention.output.dense", "attn_out", i, d, d, l+".attention.context"),
			site(l+".intermediate.dense", "mlp_in", i, d, m.inter, mid),
			site(l+".output.dense", "mlp_out", i, m.inter, d, l+".intermediate.act"),
		)
		norm(mid, i)
		norm(l+".output.LayerNorm", i)
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
	for mt, prefix := range map[string]string{"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta."} {
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
// out_proj), which a fine-tune trains from scratch; BERT's classifier alone
// (the pooler is pre-trained).
func (m *bertModel) TaskHead() []string {
	if m.roberta {
		return []string{m.poolSite(), m.headSite()}
	}
	return []string{m.headSite()}
}

// BlockOutputs implements BlockMarker: "P.encoder.layer.N".
func (m *bertModel) BlockOutputs() []string {
	out := make([]string, m.layers)
	for i := range out {
		out[i] = m.layer(i)
	}
	return out
}

// Forward implements Model. It panics on inputs that CheckInput rejects and
// on token ids outside the vocabulary.
func (m *bertModel) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	B, T := inputs.Value.Shape[0], inputs.Value.Shape[1]
	ids, err := tokenIDs(m.modelType, inputs.Value, m.vocab)
	if err != nil {
		panic(err)
	}
	P := m.params
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	lin := func(name string, x *Var) *Var { return t.Linear(name, x, P[name+".weight"], P[name+".bias"]) }
	ln := func(name string, x *Var) *Var { return t.LayerNorm(x, P[name+".weight"], P[name+".bias"], m.eps) }
	e := m.prefix + ".embeddings"
	h := t.Embedding(P[m.embedSite()+".weight"], ids, B, T)
	if inputs.NeedsGrad() && !h.NeedsGrad() {
		h.SetNeedsGrad(true) // a leaf: activation gradients flow with a frozen table
	}
	h = t.Output(m.embedSite(), h)
	h = t.Add(h, t.Embedding(P[e+".position_embeddings.weight"], m.positionIDs(ids, B, T), B, T))
	h = t.Add(h, t.Embedding(P[e+".token_type_embeddings.weight"], make([]int, B*T), B, T))
	h = ln(e+".LayerNorm", h)
	keys := m.lengths(ids, B, T)
	for i := 0; i < m.layers; i++ {
		l := m.layer(i)
		q, k, v := lin(l+".attention.self.query", h), lin(l+".attention.self.key", h), lin(l+".attention.self.value", h)
		ctx := t.AttentionWith(q, k, v, m.heads, m.heads, autodiff.AttentionOptions{KeyLengths: keys})
		h = ln(l+".attention.output.LayerNorm", t.Add(h, lin(l+".attention.output.dense", ctx)))
		f := lin(l+".output.dense", act(lin(l+".intermediate.dense", h)))
		h = ln(l+".output.LayerNorm", t.Add(h, f))
		t.Mark(l, h)
	}
	pooled := t.Tanh(lin(m.poolSite(), t.SelectToken(h, 0)))
	return lin(m.headSite(), pooled)
}
