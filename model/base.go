package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/tensor"
)

// ParamError is a parameter that a model cannot use: missing (Got is nil)
// or of the wrong shape.
type ParamError struct {
	Name string
	Want []int // the shape the model needs (its checkpoint shape)
	Got  []int // the shape given, nil when the parameter is missing
}

func (e *ParamError) Error() string {
	if e.Got == nil {
		return fmt.Sprintf("missing tensor %q (shape %v)", e.Name, e.Want)
	}
	return fmt.Sprintf("tensor %q has shape %v, expected %v", e.Name, e.Got, e.Want)
}

// CheckpointShaper is implemented by models that keep some parameter in
// memory with another shape than in checkpoints. The ViT patch embedding is
// one: its weight is [d, C, p, p] on file (a Conv2d) and [d, C·p·p] in
// memory (the [Out, In] matrix of its linear site).
type CheckpointShaper interface {
	// CheckpointShape is the shape of the named parameter in a checkpoint.
	CheckpointShape(name string) []int
}

// CheckpointShape returns the shape of m's named parameter in a checkpoint:
// its in-memory shape unless m says otherwise (see CheckpointShaper). It
// returns nil for an unknown name.
func CheckpointShape(m Model, name string) []int {
	if cs, ok := m.(CheckpointShaper); ok {
		if s := cs.CheckpointShape(name); s != nil {
			return s
		}
	}
	p := m.Param(name)
	if p == nil {
		return nil
	}
	return append([]int(nil), p.Value.Shape...)
}

// InputChecker is implemented by models that can tell, before Forward, why
// a batch of inputs does not fit them (Forward panics on such inputs).
type InputChecker interface {
	CheckInput(shape []int) error
}

// CheckInput returns an error when m cannot take inputs of the given shape,
// for callers that want an error instead of Forward's panic.
func CheckInput(m Model, shape []int) error {
	if ic, ok := m.(InputChecker); ok {
		return ic.CheckInput(shape)
	}
	return nil
}

// TargetMaker is implemented by models whose loss reads targets made from
// their inputs rather than one label per sample: a causal language model's
// logits have a row per token, each predicting the next token.
type TargetMaker interface {
	// Targets returns, for a batch of inputs, the class each row of the
	// logits is scored against, autodiff.Ignore for rows that do not
	// count (the last token of a sequence, padding).
	Targets(inputs *Tensor) []int
}

// Targets returns what each row of m's logits for inputs is scored
// against: labels, one per sample, for a classifier; the targets a
// TargetMaker makes from the inputs.
func Targets(m Model, inputs *Tensor, labels []int) []int {
	if tm, ok := m.(TargetMaker); ok {
		return tm.Targets(inputs)
	}
	return labels
}

// Padder is implemented by models whose inputs may hold padding: token
// positions that stand for no token (a text model's sequences padded at
// their end to one length).
type Padder interface {
	// Padding returns, for a batch of inputs, one flag per token row of
	// the activations ([B, T] inputs give B·T rows, sequence by sequence):
	// true for a padding position. It returns nil when no row is padding.
	Padding(inputs *Tensor) []bool
}

// Padding returns m's padding flags for inputs (see Padder), nil for a
// model without padding or a batch that has none.
func Padding(m Model, inputs *Tensor) []bool {
	if p, ok := m.(Padder); ok {
		return p.Padding(inputs)
	}
	return nil
}

// TokenPrefixer is implemented by image models whose token rows begin with
// more than a class token before the patch grid: DINOv2's class token and
// register tokens.
type TokenPrefixer interface {
	// PrefixTokens returns the number of token rows before the patches.
	PrefixTokens() int
}

// PrefixTokens returns the token rows m puts before its patch grid (see
// TokenPrefixer), or −1 when m does not say (a class token or none, told
// apart by the token count).
func PrefixTokens(m Model) int {
	if p, ok := m.(TokenPrefixer); ok {
		return p.PrefixTokens()
	}
	return -1
}

// ValueChecker is implemented by models that take only some input values:
// a text model takes token ids of its vocabulary.
type ValueChecker interface {
	CheckValues(x *Tensor) error
}

// CheckInputs returns an error when m cannot take the inputs x, by shape
// (CheckInput) or by value (ValueChecker), for callers that want an error
// instead of Forward's panic.
func CheckInputs(m Model, x *Tensor) error {
	if err := CheckInput(m, x.Shape); err != nil {
		return err
	}
	if vc, ok := m.(ValueChecker); ok {
		return vc.CheckValues(x)
	}
	return nil
}

// initKind says how a parameter is randomly initialised.
type initKind int

const (
	initZeros       initKind = iota
	initOnes                 // norm scales
	initTruncNormal          // N(0, std²) truncated at ±2 std
	initUniform              // U(−std, std)
	initConst                // every element std (LayerScale's layerscale_value)
)

// paramSpec is one parameter an architecture needs.
type paramSpec struct {
	name  string
	shape []int // in-memory shape
	file  []int // checkpoint shape when it differs, else nil
	init  initKind
	std   float64 // scale for the random kinds
}

func (s paramSpec) fileShape() []int {
	if s.file != nil {
		return s.file
	}
	return s.shape
}

// base holds what every architecture shares: its configuration, parameters
// in a fixed order, sites and vectors.
type base struct {
	modelType  string
	cfg        map[string]any
	labels     []string
	names      []string
	params     map[string]*Var
	fileShapes map[string][]int
	sites      []Site
	vectors    []Vector
}

func (b *base) Type() string           { return b.modelType }
func (b *base) Config() map[string]any { return CloneConfig(b.cfg) }
func (b *base) NumLabels() int         { return len(b.labels) }
func (b *base) ParamNames() []string   { return slices.Clone(b.names) }
func (b *base) Param(name string) *Var { return b.params[name] }
func (b *base) Sites() []Site          { return slices.Clone(b.sites) }
func (b *base) Vectors() []Vector      { return slices.Clone(b.vectors) }

// CheckpointShape implements CheckpointShaper.
func (b *base) CheckpointShape(name string) []int {
	if s, ok := b.fileShapes[name]; ok {
		return slices.Clone(s)
	}
	if p := b.params[name]; p != nil {
		return slices.Clone(p.Value.Shape)
	}
	return nil
}

// setParams fills b's parameters from params (taking the tensors, viewed in
// their in-memory shape, without copying) or, when params is nil, from a
// random initialisation drawn from seed in spec order.
func (b *base) setParams(specs []paramSpec, params map[string]*Tensor, seed uint64) error {
	b.names = make([]string, len(specs))
	b.params = make(map[string]*Var, len(specs))
	b.fileShapes = map[string][]int{}
	var rng *rand.Rand
	if params == nil {
		rng = rand.New(rand.NewPCG(seed, 0x6269636f)) // "bico"
	}
	for i, s := range specs {
		b.names[i] = s.name
		if s.file != nil {
			b.fileShapes[s.name] = slices.Clone(s.file)
		}
		var t *Tensor
		if params == nil {
			t = tensor.New[float32](s.shape...)
			fill(rng, s, t.Data)
		} else {
			got, ok := params[s.name]
			if !ok || got == nil {
				return &ParamError{Name: s.name, Want: s.fileShape()}
			}
			if !slices.Equal(got.Shape, s.shape) && !slices.Equal(got.Shape, s.fileShape()) {
				return &ParamError{Name: s.name, Want: s.fileShape(), Got: slices.Clone(got.Shape)}
			}
			if len(got.Data) != tensor.Numel(got.Shape) {
				return fmt.Errorf("tensor %q holds %d values for shape %v", s.name, len(got.Data), got.Shape)
			}
			t = got
			if !slices.Equal(got.Shape, s.shape) {
				t = got.View(s.shape...)
			}
		}
		b.params[s.name] = autodiff.Param(t)
	}
	if params != nil && len(params) > len(specs) {
		for _, name := range sortedKeys(params) {
			if _, ok := b.params[name]; !ok {
				return fmt.Errorf("unexpected tensor %q for a %s model", name, b.modelType)
			}
		}
	}
	return nil
}

func fill(rng *rand.Rand, s paramSpec, d []float32) {
	switch s.init {
	case initZeros:
	case initOnes:
		for i := range d {
			d[i] = 1
		}
	case initTruncNormal:
		for i := range d {
			z := rng.NormFloat64()
			for math.Abs(z) > 2 {
				z = rng.NormFloat64()
			}
			d[i] = float32(z * s.std)
		}
	case initConst:
		for i := range d {
			d[i] = float32(s.std)
		}
	case initUniform:
		for i := range d {
			d[i] = float32((2*rng.Float64() - 1) * s.std)
		}
	}
}

// paramsFromSpecs is the list of names of specs.
func specNames(specs []paramSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.name
	}
	return out
}

// specs of the architectures of this package, used by Load to read only the
// tensors a model needs and to name the file of a bad tensor.
var specFuncs = map[string]func(cfg map[string]any) ([]paramSpec, error){}

// registerArch registers model type mt: its builder, and the parameter
// specs and packed tensors of the models parse reads from a configuration;
// prefix is what the names of its base-model checkpoints lack.
func registerArch[M interface {
	specs() []paramSpec
	packs() []pack
}](mt, prefix string, parse func(map[string]any) (M, error), build Builder) {
	Register(mt, build)
	specFuncs[mt] = func(cfg map[string]any) ([]paramSpec, error) {
		m, err := parse(cfg)
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", mt, err)
		}
		return m.specs(), nil
	}
	packFuncs[mt] = func(cfg map[string]any) ([]pack, error) {
		m, err := parse(cfg)
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", mt, err)
		}
		return m.packs(), nil
	}
	basePrefixes[mt] = prefix
}
