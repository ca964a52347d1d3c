package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
	"github.com/bico-dev/bico/transfer"
)

// LLM is the shape of a Llama causal language model (model_type "llama",
// LlamaForCausalLM) to benchmark with random weights, calibrated on
// sequences of Seq random tokens.
type LLM struct {
	Hidden  int  `json:"hidden"`   // width d
	Layers  int  `json:"layers"`   // decoder layers
	Heads   int  `json:"heads"`    // query heads
	KVHeads int  `json:"kv_heads"` // key and value heads (grouped-query attention)
	MLP     int  `json:"mlp"`      // intermediate width of the gated MLP
	Vocab   int  `json:"vocab"`    // vocabulary size
	Seq     int  `json:"seq"`      // tokens per calibration sequence
	Tied    bool `json:"tied"`     // lm_head is the embedding table
}

// The language-model shapes the bench command measures with --family llama.
var (
	// SmolLM2 is SmolLM2-135M's shape (135M parameters) on sequences of
	// 128 tokens.
	SmolLM2 = LLM{Hidden: 576, Layers: 30, Heads: 9, KVHeads: 3, MLP: 1536, Vocab: 49152, Seq: 128, Tied: true}
	// SmallLLM is a small Llama on sequences of 32 tokens.
	SmallLLM = LLM{Hidden: 64, Layers: 4, Heads: 4, KVHeads: 2, MLP: 128, Vocab: 256, Seq: 32}
)

// Family is "llama".
func (s LLM) Family() string { return "llama" }

// Unit is "sequences".
func (s LLM) Unit() string { return "sequences" }

// NumLabels is 0: a language model's targets are its next tokens.
func (s LLM) NumLabels() int { return 0 }

// Validate reports a shape the llama architecture cannot take.
func (s LLM) Validate() error {
	switch {
	case s.Hidden <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.MLP <= 0 || s.Vocab <= 0 || s.Seq <= 0:
		return fmt.Errorf("bench: shape %v: every size must be positive", s)
	case s.Hidden%s.Heads != 0 || (s.Hidden/s.Heads)%2 != 0:
		return fmt.Errorf("bench: shape %v: width %d is not an even head size times %d heads", s, s.Hidden, s.Heads)
	case s.Heads%s.KVHeads != 0:
		return fmt.Errorf("bench: shape %v: %d heads are not a multiple of %d key-value heads", s, s.Heads, s.KVHeads)
	case s.Vocab < 2:
		return fmt.Errorf("bench: shape %v: a vocabulary needs a padding token and another", s)
	}
	return nil
}

// String describes the shape compactly, e.g. "llama d576 L30 h9/3 mlp1536 v49152 t128 tied".
func (s LLM) String() string {
	tied := ""
	if s.Tied {
		tied = " tied"
	}
	return fmt.Sprintf("llama d%d L%d h%d/%d mlp%d v%d t%d%s", s.Hidden, s.Layers, s.Heads, s.KVHeads, s.MLP, s.Vocab, s.Seq, tied)
}

// kvWidth is the width of the key and value projections' outputs.
func (s LLM) kvWidth() int { return s.KVHeads * (s.Hidden / s.Heads) }

// Params is the number of parameters of a model of this shape.
func (s LLM) Params() int64 {
	d, f, v, kv := int64(s.Hidden), int64(s.MLP), int64(s.Vocab), int64(s.kvWidth())
	layer := 2*d*d + 2*d*kv + 3*d*f + 2*d // q, o; k, v; gate, up, down; two norms
	n := v*d + int64(s.Layers)*layer + d  // embedding, layers, final norm
	if !s.Tied {
		n += v * d
	}
	return n
}

// Config is the model's config.json. Token 0 is padding.
func (s LLM) Config() map[string]any {
	pad := 0
	return model.LlamaConfig{VocabSize: s.Vocab, HiddenSize: s.Hidden, NumLayers: s.Layers, NumHeads: s.Heads,
		NumKVHeads: s.KVHeads, IntermediateSize: s.MLP, PadTokenID: &pad, CausalLM: true, TieEmbeddings: s.Tied}.Map()
}

// pairable reports a target whose vocabulary or sequence length differs
// from s's.
func (s LLM) pairable(tgt Arch) error {
	t := tgt.(LLM)
	if s.Vocab != t.Vocab || s.Seq != t.Seq {
		return fmt.Errorf("bench: source %v and target %v: vocabularies and sequence lengths must agree", s, t)
	}
	return nil
}

// Samples returns n sequences of Seq random tokens (none of them padding);
// their labels are zero, as a language model's are.
func (s LLM) Samples(n, _ int, seed uint64) transfer.Samples {
	rng := rand.New(rand.NewPCG(seed, 0x62656e6368)) // "bench"
	in := tensor.New[float32](n, s.Seq)
	for i := range in.Data {
		in.Data[i] = float32(1 + rng.IntN(s.Vocab-1))
	}
	return transfer.Samples{Inputs: in, Labels: make([]int, n)}
}

// ForwardFLOPs counts the floating-point operations (two per multiply-add)
// of the matrix products of one forward pass over batch sequences: the
// linear layers, the two products of attention (over every pair of
// positions: the causal mask does not skip any) and lm_head on every token.
func (s LLM) ForwardFLOPs(batch int) float64 {
	n, t := float64(batch*s.Seq), float64(s.Seq)
	d, f, kv := float64(s.Hidden), float64(s.MLP), float64(s.kvWidth())
	perLayer := 2*n*(2*d*d+2*d*kv+3*d*f) + // q, o; k, v; gate, up, down
		2*2*float64(batch)*t*t*d // Q·Kᵀ and P·V over all heads
	return float64(s.Layers)*perLayer + 2*n*d*float64(s.Vocab)
}

// BackwardFLOPs counts the products of a backward pass that computes the
// gradient of every activation but no parameter gradient: one product per
// linear layer, four per attention.
func (s LLM) BackwardFLOPs(batch int) float64 {
	t := float64(s.Seq)
	return s.ForwardFLOPs(batch) + float64(s.Layers)*2*2*float64(batch)*t*t*float64(s.Hidden)
}

// statDims lists the BiCo statistics between a source of shape src and a
// target of shape s: the rows per sequence and the widths.
func (s LLM) statDims(src Arch) [][3]int {
	a := src.(LLM)
	t := s.Seq
	var dims [][3]int
	add := func(dA, dB int) { dims = append(dims, [3]int{t, dA, dB}) }
	add(a.Hidden, s.Hidden) // the embedding table's output gradient
	for range s.Layers {    // the target's layers, each paired with one source layer
		// Inputs: input_layernorm (shared by q, k, v), attention context,
		// post_attention_layernorm, gated activation.
		add(a.Hidden, s.Hidden)
		add(a.Hidden, s.Hidden)
		add(a.Hidden, s.Hidden)
		add(a.MLP, s.MLP)
		// Output gradients: q, k, v, o, gate, up, down.
		add(a.Hidden, s.Hidden)
		add(a.kvWidth(), s.kvWidth())
		add(a.kvWidth(), s.kvWidth())
		add(a.Hidden, s.Hidden)
		add(a.MLP, s.MLP)
		add(a.MLP, s.MLP)
		add(a.Hidden, s.Hidden)
	}
	add(a.Hidden, s.Hidden) // the final norm: lm_head's input (its output side is the vocabulary)
	return dims
}

// ActivationBytes estimates the values the tape keeps from one forward pass
// over batch sequences, in float32: per layer the norms, q, k, v and their
// rotations, attention scores and probabilities, context, projections,
// gated MLP and residual sums; the logits and their softmax.
func (s LLM) ActivationBytes(batch int) int64 {
	b, t := int64(batch), int64(s.Seq)
	n, d, f, kv, h := b*t, int64(s.Hidden), int64(s.MLP), int64(s.kvWidth()), int64(s.Heads)
	perLayer := 9*n*d + 4*n*kv + 3*n*f + 2*b*h*t*t
	v := n*d + int64(s.Layers)*perLayer + n*d + 2*n*int64(s.Vocab)
	return 4 * v
}
