// Package model holds the neural-network architectures bico can read and
// write, in Hugging Face layout: their configuration (config.json), their
// parameter names, their forward pass on the autodiff tape, and the list of
// linear sites and vector parameters each exposes to transfer methods.
package model

import (
	"fmt"
	"sort"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/tensor"
)

// Tensor is the float32 tensor models compute with.
type Tensor = tensor.Tensor[float32]

// Var is a float32 value on the tape.
type Var = autodiff.Var[float32]

// Tape is the float32 tape models record on.
type Tape = autodiff.Tape[float32]

// Site is one linear layer y = x·Wᵀ + b of a model, as transfer methods see
// it. Name is the site name the model passes to Tape.Linear.
type Site struct {
	Name   string // site name on the tape, e.g. "vit.encoder.layer.0.attention.attention.query"
	Role   string // what the layer does: "embedding", "patch", "query", "key", "value", "attn_out", "mlp_gate", "mlp_in", "mlp_out", "hidden", "head"
	Block  int    // block index, or -1 for layers outside the repeated blocks
	Weight string // parameter name of W: [Out, In] in memory, [In, Out] for a table (see WeightShape, and CheckpointShape for its shape on file)
	Bias   string // parameter name of b, or "" when the layer has none
	In     int    // input width
	Out    int    // output width
	// InSpace names the coordinate space of the input: sites that read the
	// same tensor share it (query, key and value read one normed input).
	InSpace string
	// OutSpace names the coordinate space of the output; empty when the
	// outputs are a vocabulary's logits, the same coordinates in every
	// model of that vocabulary.
	OutSpace string
	// Tied says the weight belongs to another site (a language model's
	// lm_head tied to its embedding table): the site's activations count,
	// its weight is transported with the other site.
	Tied bool
}

// IsTable reports whether s is a lookup table (Role "embedding", a token
// embedding): its weight is [In, Out], one row per input id, the transpose
// of a linear site's, and its input, one-hot ids, has no space (InSpace "").
func (s Site) IsTable() bool { return s.Role == "embedding" }

// WeightShape is the in-memory shape of s's weight: [Out, In], or [In, Out]
// for a table.
func (s Site) WeightShape() []int {
	if s.IsTable() {
		return []int{s.In, s.Out}
	}
	return []int{s.Out, s.In}
}

// Vector is a parameter that is not the weight or bias of a linear site:
// a norm scale or shift, a class token, a position-embedding table. Each of
// its rows lives in one coordinate space, named by Space.
type Vector struct {
	Name  string // parameter name
	Role  string // "norm_weight", "norm_bias", "cls_token", "position_embeddings" (a patch grid's), "text_positions", "token_type_embeddings", …
	Block int    // block index, or -1
	Space string // the space of every row (a Site's InSpace or OutSpace)
	// Offset, for a table of text positions, is the row of the first
	// position (RoBERTa's count from pad_token_id + 1).
	Offset int
}

// Model is an architecture with its parameters.
type Model interface {
	// Type is config.json's model_type, the registry key.
	Type() string
	// Config is the model's configuration, written back as config.json.
	Config() map[string]any
	// NumLabels is the number of classes of the model's head.
	NumLabels() int
	// ParamNames lists every parameter in a fixed order.
	ParamNames() []string
	// Param returns the named parameter, or nil.
	Param(name string) *Var
	// Sites lists the linear sites in forward order.
	Sites() []Site
	// Vectors lists the vector parameters.
	Vectors() []Vector
	// Forward records the model on t for a batch of inputs and returns the
	// logits, shape [batch, NumLabels()]. Inputs that need a gradient make
	// activation gradients flow even when every parameter is frozen.
	Forward(t *Tape, inputs *Var) *Var
}

// Builder makes a model of one architecture from its configuration and
// parameters. A nil params map asks for a random initialisation from seed.
type Builder func(config map[string]any, params map[string]*Tensor, seed uint64) (Model, error)

var registry = map[string]Builder{}

// Register makes an architecture available under its model_type.
func Register(modelType string, b Builder) {
	if _, dup := registry[modelType]; dup {
		panic("model: architecture " + modelType + " registered twice")
	}
	registry[modelType] = b
}

// Types lists the registered architectures.
func Types() []string {
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Build makes a model from a configuration (which must name its model_type)
// and its parameters, or a random initialisation when params is nil.
func Build(config map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	mt, _ := config["model_type"].(string)
	b, ok := registry[mt]
	if !ok {
		return nil, fmt.Errorf("model: unknown model_type %q (known: %v)", mt, Types())
	}
	return b(config, params, seed)
}
