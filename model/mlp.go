package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/bico-dev/bico/tensor"
)

// mlpModel is the architecture documented on MLPConfig.
type mlpModel struct {
	base
	input  int
	hidden []int
	act    string
	norm   bool
	eps    float64
}

// MLPConfig describes an MLP for building one in code; Map gives its
// config.json.
//
// The architecture, registered as model_type "mlp", is a plain fully
// connected classifier, bico's own architecture for fast tests and demonstrations. Hidden layer N computes
// act(LN(x·Wᵀ + b)) (the LayerNorm only with layer_norm true), and a linear
// classifier reads the last hidden activation.
//
// config.json fields: model_type "mlp"; input_size, or image_size (an
// integer or [H, W]) with num_channels (default 1); hidden_sizes (a list,
// possibly empty); hidden_act (default "relu", any Hugging Face name);
// layer_norm (default false) and layer_norm_eps (default 1e-5);
// id2label / label2id.
//
// Parameters: layers.N.weight [h_N, h_{N−1}], layers.N.bias,
// layers.N.norm.weight and layers.N.norm.bias (with layer_norm),
// classifier.weight, classifier.bias.
//
// Sites: "layers.N" (role "hidden", Block N) reads "input" for N = 0 and
// "layers.{N−1}.act" after; "classifier" (role "head", Block −1) reads the
// last "layers.N.act" (or "input" without hidden layers). Each site's
// OutSpace is its name. The norm weight and bias of layer N are vectors of
// the space "layers.N" (the norm acts on that site's output coordinates).
// Forward marks each hidden activation as "layers.N.act".
//
// Inputs are [B, ...] with input_size values per sample (images [B, C, H, W]
// are flattened).
//
// Random initialisation (Build with nil params): hidden weights He-uniform,
// U(±√(6/fan_in)); classifier weight U(±1/√fan_in); biases 0; norms 1 and 0.
type MLPConfig struct {
	InputSize   int      // values per sample, e.g. 784 for MNIST
	HiddenSizes []int    // widths of the hidden layers
	HiddenAct   string   // "relu" when empty
	LayerNorm   bool     // a LayerNorm after each hidden linear layer
	Labels      []string // the classes; 2 labels LABEL_0, LABEL_1 when empty
}

// Map returns c as config.json fields.
func (c MLPConfig) Map() map[string]any {
	act := c.HiddenAct
	if act == "" {
		act = "relu"
	}
	hs := make([]any, len(c.HiddenSizes))
	for i, h := range c.HiddenSizes {
		hs[i] = h
	}
	labels := c.Labels
	if len(labels) == 0 {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	cfg := map[string]any{
		"model_type":    "mlp",
		"architectures": []any{"MLPForImageClassification"},
		"input_size":    c.InputSize,
		"hidden_sizes":  hs,
		"hidden_act":    act,
		"layer_norm":    c.LayerNorm,
	}
	if c.LayerNorm {
		cfg["layer_norm_eps"] = 1e-5
	}
	return SetLabels(cfg, labels)
}

func parseMLP(cfg map[string]any) (*mlpModel, error) {
	m := &mlpModel{}
	m.modelType = "mlp"
	var err error
	if _, ok := cfg["input_size"]; ok {
		if m.input, err = ConfigInt(cfg, "input_size"); err != nil {
			return nil, err
		}
	} else {
		if _, ok := cfg["image_size"]; !ok {
			return nil, fmt.Errorf("config: missing field \"input_size\" (or \"image_size\")")
		}
		h, w, err := sizePair(cfg, "image_size", 0)
		if err != nil {
			return nil, err
		}
		c, err := ConfigIntOr(cfg, "num_channels", 1)
		if err != nil {
			return nil, err
		}
		m.input = h * w * c
	}
	if m.input <= 0 {
		return nil, fmt.Errorf("config: input size %d, want a positive integer", m.input)
	}
	if _, ok := cfg["hidden_sizes"]; ok {
		if m.hidden, err = ConfigInts(cfg, "hidden_sizes"); err != nil {
			return nil, err
		}
	}
	for i, h := range m.hidden {
		if h <= 0 {
			return nil, fmt.Errorf("config: field \"hidden_sizes\"[%d] is %d, want a positive integer", i, h)
		}
	}
	if m.act, err = activation(cfg, "relu", "config:"); err != nil {
		return nil, err
	}
	if m.norm, err = ConfigBoolOr(cfg, "layer_norm", false); err != nil {
		return nil, err
	}
	if m.eps, err = ConfigFloatOr(cfg, "layer_norm_eps", 1e-5); err != nil {
		return nil, err
	}
	if m.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	m.cfg = CloneConfig(cfg)
	return m, nil
}

func mlpLayer(i int) string { return "layers." + strconv.Itoa(i) }

// specs lists the parameters. Hidden weights are He-uniform
// (U(±√(6/fan_in)), suited to ReLU), the classifier's weight is
// U(±1/√fan_in), biases start at zero.
func (m *mlpModel) specs() []paramSpec {
	var s []paramSpec
	in := m.input
	for i, h := range m.hidden {
		l := mlpLayer(i)
		s = append(s,
			paramSpec{name: l + ".weight", shape: []int{h, in}, init: initUniform, std: math.Sqrt(6 / float64(in))},
			paramSpec{name: l + ".bias", shape: []int{h}})
		if m.norm {
			s = append(s,
				paramSpec{name: l + ".norm.weight", shape: []int{h}, init: initOnes},
				paramSpec{name: l + ".norm.bias", shape: []int{h}})
		}
		in = h
	}
	s = append(s,
		paramSpec{name: "classifier.weight", shape: []int{len(m.labels), in}, init: initUniform, std: 1 / math.Sqrt(float64(in))},
		paramSpec{name: "classifier.bias", shape: []int{len(m.labels)}})
	return s
}

func (m *mlpModel) describe() {
	inSpace, in := "input", m.input
	m.sites, m.vectors = nil, nil
	for i, h := range m.hidden {
		l := mlpLayer(i)
		m.sites = append(m.sites, Site{Name: l, Role: "hidden", Block: i, Weight: l + ".weight", Bias: l + ".bias",
			In: in, Out: h, InSpace: inSpace, OutSpace: l})
		if m.norm {
			m.vectors = append(m.vectors,
				Vector{Name: l + ".norm.weight", Role: "norm_weight", Block: i, Space: l},
				Vector{Name: l + ".norm.bias", Role: "norm_bias", Block: i, Space: l})
		}
		inSpace, in = l+".act", h
	}
	m.sites = append(m.sites, Site{Name: "classifier", Role: "head", Block: -1, Weight: "classifier.weight", Bias: "classifier.bias",
		In: in, Out: len(m.labels), InSpace: inSpace, OutSpace: "classifier"})
}

func buildMLP(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	m, err := parseMLP(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: mlp: %w", err)
	}
	if err := m.setParams(m.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: mlp: %w", err)
	}
	m.describe()
	return m, nil
}

func mlpSpecs(cfg map[string]any) ([]paramSpec, error) {
	m, err := parseMLP(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: mlp: %w", err)
	}
	return m.specs(), nil
}

func init() {
	Register("mlp", buildMLP)
	specFuncs["mlp"] = mlpSpecs
}

// CheckInput implements InputChecker.
func (m *mlpModel) CheckInput(shape []int) error {
	if len(shape) < 1 || shape[0] <= 0 {
		return fmt.Errorf("model: mlp: inputs of shape %v, want [B, ...]", shape)
	}
	if n := tensor.Numel(shape[1:]); n != m.input {
		return fmt.Errorf("model: mlp: inputs of shape %v have %d values per sample, the model takes %d", shape, n, m.input)
	}
	return nil
}

// Forward implements Model. It panics on inputs that CheckInput rejects.
func (m *mlpModel) Forward(t *Tape, inputs *Var) *Var {
	if err := m.CheckInput(inputs.Value.Shape); err != nil {
		panic(err)
	}
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	P := m.params
	h := t.Reshape(inputs, inputs.Value.Shape[0], m.input)
	for i := range m.hidden {
		l := mlpLayer(i)
		h = t.Linear(l, h, P[l+".weight"], P[l+".bias"])
		if m.norm {
			h = t.LayerNorm(h, P[l+".norm.weight"], P[l+".norm.bias"], m.eps)
		}
		h = act(h)
		t.Mark(l+".act", h)
	}
	return t.Linear("classifier", h, P["classifier.weight"], P["classifier.bias"])
}
