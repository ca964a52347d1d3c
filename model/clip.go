package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
)

// clipModel is the architecture documented on CLIPVisionConfig.
type clipModel struct {
	base
	hidden, layers, heads, inter int
	image, patch, channels       int
	eps                          float64
	act                          string
}

// CLIPVisionConfig describes a CLIPForImageClassification for building one
// in code; Map gives its config.json. Zero fields take transformers'
// defaults (those of CLIPVisionConfig).
//
// The architecture, registered as model_type "clip", is Hugging Face's
// CLIPForImageClassification: CLIP's vision tower (patch embedding without
// bias, class embedding and learned position embeddings, a LayerNorm
// before the blocks, pre-LN blocks with quick GELU by default) and a
// linear classifier on the mean of the last blocks' patch tokens (the class
// token and post_layernorm, kept in the checkpoint, do not reach the
// logits). The vision settings are read from config.json's vision_config;
// the labels from its top level. Parameter names are transformers' own. A
// CLIPModel checkpoint (image and text towers, as CLIP is published) loads
// as a base: its text tower is ignored, and it has no classifier, which
// LoadOptions.MissingHead accepts.
//
// Sites, in forward order (N the layer index):
//
//	vision_model.embeddings.patch_embedding              patch     reads vision_model.embeddings.patches
//	vision_model.encoder.layers.N.self_attn.q_proj       query     reads vision_model.encoder.layers.N.layer_norm1
//	vision_model.encoder.layers.N.self_attn.k_proj       key       reads vision_model.encoder.layers.N.layer_norm1
//	vision_model.encoder.layers.N.self_attn.v_proj       value     reads vision_model.encoder.layers.N.layer_norm1
//	vision_model.encoder.layers.N.self_attn.out_proj     attn_out  reads vision_model.encoder.layers.N.self_attn.context
//	vision_model.encoder.layers.N.mlp.fc1                mlp_in    reads vision_model.encoder.layers.N.layer_norm2
//	vision_model.encoder.layers.N.mlp.fc2                mlp_out   reads vision_model.encoder.layers.N.mlp.act
//	classifier                                           head      reads vision_model.pooled
//
// Vectors: each block's LayerNorms live in the space named after them;
// class_embedding, position_embedding.weight and pre_layrnorm in the patch
// site's output space (the residual stream where it starts). The patch
// weight is held as [d, C·p·p], like ViT's (see CheckpointShape). Forward
// marks each block's output as "vision_model.encoder.layers.N".
type CLIPVisionConfig struct {
	HiddenSize       int      // 768
	NumLayers        int      // 12
	NumHeads         int      // 12
	IntermediateSize int      // 3072
	ImageSize        int      // 224
	PatchSize        int      // 32
	NumChannels      int      // 3
	HiddenAct        string   // "quick_gelu"
	LayerNormEps     float64  // 1e-5
	Labels           []string // the classes; 2 labels LABEL_0, LABEL_1 when empty
}

// Map returns the config.json of c.
func (c CLIPVisionConfig) Map() map[string]any {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	act := c.HiddenAct
	if act == "" {
		act = "quick_gelu"
	}
	eps := c.LayerNormEps
	if eps == 0 {
		eps = 1e-5
	}
	labels := c.Labels
	if len(labels) == 0 {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	vision := map[string]any{
		"model_type":          "clip_vision_model",
		"hidden_size":         or(c.HiddenSize, 768),
		"intermediate_size":   or(c.IntermediateSize, 3072),
		"num_hidden_layers":   or(c.NumLayers, 12),
		"num_attention_heads": or(c.NumHeads, 12),
		"num_channels":        or(c.NumChannels, 3),
		"image_size":          or(c.ImageSize, 224),
		"patch_size":          or(c.PatchSize, 32),
		"hidden_act":          act,
		"layer_norm_eps":      eps,
		"initializer_range":   0.02,
		"initializer_factor":  1.0,
		"attention_dropout":   0.0,
	}
	cfg := map[string]any{
		"model_type":    "clip",
		"architectures": []any{"CLIPForImageClassification"},
		"vision_config": vision,
		"torch_dtype":   "float32",
	}
	return SetLabels(cfg, labels)
}

const (
	clipPatchSite = "vision_model.embeddings.patch_embedding"
	clipClass     = "vision_model.embeddings.class_embedding"
	clipPositions = "vision_model.embeddings.position_embedding.weight"
	clipPreNorm   = "vision_model.pre_layrnorm"
	clipPostNorm  = "vision_model.post_layernorm"
	clipPooled    = "vision_model.pooled"
	clipHeadSite  = "classifier"
)

func clipLayer(i int) string { return "vision_model.encoder.layers." + strconv.Itoa(i) }

func parseCLIP(cfg map[string]any) (*clipModel, error) {
	c := &clipModel{}
	c.modelType = "clip"
	vc := map[string]any{}
	if raw, ok := cfg["vision_config"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config: field \"vision_config\" is %T, want an object", raw)
		}
		vc = m
	}
	r := positiveInts{cfg: vc, what: "config: vision_config"}
	r.get("hidden_size", 768, &c.hidden)
	r.layers("num_hidden_layers", 12, &c.layers)
	r.get("num_attention_heads", 12, &c.heads)
	r.get("intermediate_size", 3072, &c.inter)
	r.get("num_channels", 3, &c.channels)
	r.get("image_size", 224, &c.image)
	r.get("patch_size", 32, &c.patch)
	if r.err != nil {
		return nil, r.err
	}
	var err error
	if c.image < c.patch {
		return nil, fmt.Errorf("config: vision_config image_size %d is smaller than patch_size %d", c.image, c.patch)
	}
	if c.hidden%c.heads != 0 {
		return nil, fmt.Errorf("config: vision_config hidden_size %d is not a multiple of num_attention_heads %d", c.hidden, c.heads)
	}
	if c.eps, err = ConfigFloatOr(vc, "layer_norm_eps", 1e-5); err != nil {
		return nil, err
	}
	if c.eps < 0 {
		return nil, fmt.Errorf("config: vision_config field \"layer_norm_eps\" is %g, want ≥ 0", c.eps)
	}
	if c.act, err = activation(vc, "quick_gelu", "config: vision_config"); err != nil {
		return nil, err
	}
	if c.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	c.cfg = CloneConfig(cfg)
	return c, nil
}

func (c *clipModel) numPatches() int { return (c.image / c.patch) * (c.image / c.patch) }

// specs lists the parameters in transformers' state-dict order, with
// CLIPPreTrainedModel's initialisation scales.
func (c *clipModel) specs() []paramSpec {
	vc, _ := c.cfg["vision_config"].(map[string]any)
	std, _ := ConfigFloatOr(vc, "initializer_range", 0.02)
	factor, _ := ConfigFloatOr(vc, "initializer_factor", 1)
	d, p := c.hidden, c.patch
	fd := float64(d)
	inStd := math.Pow(fd, -0.5) * math.Pow(2*float64(c.layers), -0.5) * factor
	var s []paramSpec
	lin := func(name string, out, in int, wstd float64) {
		s = append(s, paramSpec{name: name + ".weight", shape: []int{out, in}, init: initTruncNormal, std: wstd},
			paramSpec{name: name + ".bias", shape: []int{out}})
	}
	ln := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	s = append(s,
		paramSpec{name: clipClass, shape: []int{d}, init: initTruncNormal, std: math.Pow(fd, -0.5) * factor},
		paramSpec{name: clipPatchSite + ".weight", shape: []int{d, c.channels * p * p}, file: []int{d, c.channels, p, p}, init: initTruncNormal, std: std * factor},
		paramSpec{name: clipPositions, shape: []int{c.numPatches() + 1, d}, init: initTruncNormal, std: std * factor},
	)
	ln(clipPreNorm)
	for i := 0; i < c.layers; i++ {
		l := clipLayer(i)
		lin(l+".self_attn.k_proj", d, d, inStd)
		lin(l+".self_attn.v_proj", d, d, inStd)
		lin(l+".self_attn.q_proj", d, d, inStd)
		lin(l+".self_attn.out_proj", d, d, math.Pow(fd, -0.5)*factor)
		ln(l + ".layer_norm1")
		lin(l+".mlp.fc1", c.inter, d, math.Pow(2*fd, -0.5)*factor)
		lin(l+".mlp.fc2", d, c.inter, inStd)
		ln(l + ".layer_norm2")
	}
	ln(clipPostNorm)
	lin(clipHeadSite, len(c.labels), d, math.Pow(fd, -0.5)*factor)
	return s
}

// describe fills the sites and vectors.
func (c *clipModel) describe() {
	d := c.hidden
	norm := func(name string, block int, space string) {
		c.vectors = append(c.vectors, layerNormVectors(name, block, space)...)
	}
	c.sites = []Site{linearSite(clipPatchSite, "patch", -1, c.channels*c.patch*c.patch, d, "vision_model.embeddings.patches", false)}
	c.vectors = []Vector{
		{Name: clipClass, Role: "cls_token", Block: -1, Space: clipPatchSite},
		{Name: clipPositions, Role: "position_embeddings", Block: -1, Space: clipPatchSite},
	}
	norm(clipPreNorm, -1, clipPatchSite)
	for i := 0; i < c.layers; i++ {
		l := clipLayer(i)
		n1, n2 := l+".layer_norm1", l+".layer_norm2"
		c.sites = append(c.sites,
			linearSite(l+".self_attn.q_proj", "query", i, d, d, n1, true),
			linearSite(l+".self_attn.k_proj", "key", i, d, d, n1, true),
			linearSite(l+".self_attn.v_proj", "value", i, d, d, n1, true),
			linearSite(l+".self_attn.out_proj", "attn_out", i, d, d, l+".self_attn.context", true),
			linearSite(l+".mlp.fc1", "mlp_in", i, d, c.inter, n2, true),
			linearSite(l+".mlp.fc2", "mlp_out", i, c.inter, d, l+".mlp.act", true),
		)
		norm(n1, i, n1)
		norm(n2, i, n2)
	}
	c.sites = append(c.sites, linearSite(clipHeadSite, "head", -1, d, len(c.labels), clipPooled, true))
}

func buildCLIP(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	c, err := parseCLIP(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: clip: %w", err)
	}
	if err := c.setParams(c.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: clip: %w", err)
	}
	c.describe()
	return c, nil
}

func clipSpecs(cfg map[string]any) ([]paramSpec, error) {
	c, err := parseCLIP(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: clip: %w", err)
	}
	return c.specs(), nil
}

func init() {
	Register("clip", buildCLIP)
	specFuncs["clip"] = clipSpecs
}

// CheckInput implements InputChecker: images of the configured size (see
// imageShape).
func (c *clipModel) CheckInput(shape []int) error {
	_, _, err := c.imageShape(shape)
	return err
}

func (c *clipModel) imageShape(shape []int) (batch, channels int, err error) {
	return imageShape("clip", shape, c.image, c.image, c.channels)
}

// BlockOutputs implements BlockMarker: "vision_model.encoder.layers.N".
func (c *clipModel) BlockOutputs() []string {
	return blockNames(c.layers, clipLayer)
}

// Forward implements Model. It panics on inputs that CheckInput rejects.
func (c *clipModel) Forward(t *Tape, inputs *Var) *Var {
	B, C, err := c.imageShape(inputs.Value.Shape)
	if err != nil {
		panic(err)
	}
	x := t.Reshape(inputs, B, C, c.image, c.image)
	if C != c.channels {
		rep := autodiff.Const(repeatChannels(x.Value, c.channels))
		rep.SetNeedsGrad(inputs.NeedsGrad())
		x = rep
	}
	P := c.params
	act, err := t.ActivationByName(c.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	d, n := c.hidden, c.numPatches()+1
	h := t.Linear(clipPatchSite, t.Patches(x, c.patch), P[clipPatchSite+".weight"], nil)
	h = t.PrependToken(h, t.Reshape(P[clipClass], 1, 1, d))
	h = t.Add(h, t.Reshape(P[clipPositions], 1, n, d))
	h = t.LayerNorm(h, P[clipPreNorm+".weight"], P[clipPreNorm+".bias"], c.eps)
	t.Mark("vision_model.embeddings", h)
	for i := 0; i < c.layers; i++ {
		l := clipLayer(i)
		lin := func(name string, x *Var) *Var {
			return t.Linear(l+name, x, P[l+name+".weight"], P[l+name+".bias"])
		}
		a := t.LayerNorm(h, P[l+".layer_norm1.weight"], P[l+".layer_norm1.bias"], c.eps)
		ctx := t.Attention(lin(".self_attn.q_proj", a), lin(".self_attn.k_proj", a), lin(".self_attn.v_proj", a), c.heads, c.heads, false)
		h = t.Add(h, lin(".self_attn.out_proj", ctx))
		m := t.LayerNorm(h, P[l+".layer_norm2.weight"], P[l+".layer_norm2.bias"], c.eps)
		h = t.Add(h, lin(".mlp.fc2", act(lin(".mlp.fc1", m))))
		t.Mark(l, h)
	}
	patches := t.SplitAxis(1, h, 1, n-1)[1]
	return t.Linear(clipHeadSite, t.MeanTokens(patches), P[clipHeadSite+".weight"], P[clipHeadSite+".bias"])
}
