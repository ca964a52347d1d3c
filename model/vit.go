package model

import (
	"fmt"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/tensor"
)

// vitModel is the architecture documented on ViTConfig.
type vitModel struct {
	base
	hidden, layers, heads, inter int
	imageH, imageW               int
	patchH, patchW               int
	channels                     int
	eps                          float64
	qkvBias                      bool
	act                          string
}

// ViTConfig describes a ViTForImageClassification for building one in code;
// Map gives its config.json. Zero fields take transformers' defaults.
//
// The architecture, registered as model_type "vit", is Hugging Face's
// ViTForImageClassification:
// patch embedding, class token and learned position embeddings, pre-LN
// transformer blocks, a final LayerNorm and a linear classifier on the class
// token. Parameter names are transformers' own.
//
// Sites, in forward order (Block is the layer index, −1 outside the blocks):
//
//	vit.embeddings.patch_embeddings.projection     patch     reads vit.embeddings.patches
//	vit.encoder.layer.N.attention.attention.query  query     reads vit.encoder.layer.N.layernorm_before
//	vit.encoder.layer.N.attention.attention.key    key       reads vit.encoder.layer.N.layernorm_before
//	vit.encoder.layer.N.attention.attention.value  value     reads vit.encoder.layer.N.layernorm_before
//	vit.encoder.layer.N.attention.output.dense     attn_out  reads vit.encoder.layer.N.attention.context
//	vit.encoder.layer.N.intermediate.dense         mlp_in    reads vit.encoder.layer.N.layernorm_after
//	vit.encoder.layer.N.output.dense               mlp_out   reads vit.encoder.layer.N.intermediate.act
//	classifier                                     head      reads vit.layernorm
//
// Every site's OutSpace is its own name. Token-level sites see [B, N, ·]
// rows (every token of every image, class token first); the patch site sees
// [B, nPatches, C·p·p]; the head sees [B, d] (class tokens only).
//
// The patch-embedding weight vit.embeddings.patch_embeddings.projection.weight
// is a Conv2d weight [d, C, p, p] in checkpoints and is held in memory (by
// Param, Params and the site) as the matrix [d, C·p·p], flattened in
// (channel, row, column) order; see CheckpointShape. Build, WithParams
// and Load accept it in either shape.
//
// Random initialisation (Build with nil params) follows transformers:
// weights, cls_token and position_embeddings drawn from a normal of std
// initializer_range (0.02) truncated at 2 std, biases 0, LayerNorm 1 and 0.
//
// Vectors: each LayerNorm's weight and bias live in the space named after
// the norm (the InSpace of the sites that read it); cls_token and
// position_embeddings live in the patch site's output space.
//
// Forward also marks (Tape.Mark) the embedding output as "vit.embeddings"
// and each block's output as "vit.encoder.layer.N".
//
// Inputs are images [B, C, H, W] (also accepted: [B, H, W] for one channel,
// or [B, C·H·W] flattened). A one-channel input to a model of several
// channels is repeated over the channels. H and W must equal image_size.
type ViTConfig struct {
	HiddenSize       int      // 768
	NumLayers        int      // 12
	NumHeads         int      // 12
	IntermediateSize int      // 4·HiddenSize
	ImageSize        int      // 224
	PatchSize        int      // 16
	NumChannels      int      // 3
	HiddenAct        string   // "gelu"
	LayerNormEps     float64  // 1e-12
	NoQKVBias        bool     // qkv_bias false
	Labels           []string // the classes; 2 labels LABEL_0, LABEL_1 when empty
}

// Map returns c as config.json fields, as transformers writes them.
func (c ViTConfig) Map() map[string]any {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	hidden := or(c.HiddenSize, 768)
	act := c.HiddenAct
	if act == "" {
		act = "gelu"
	}
	eps := c.LayerNormEps
	if eps == 0 {
		eps = 1e-12
	}
	labels := c.Labels
	if len(labels) == 0 {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	cfg := map[string]any{
		"model_type":                   "vit",
		"architectures":                []any{"ViTForImageClassification"},
		"hidden_size":                  hidden,
		"num_hidden_layers":            or(c.NumLayers, 12),
		"num_attention_heads":          or(c.NumHeads, 12),
		"intermediate_size":            or(c.IntermediateSize, 4*hidden),
		"hidden_act":                   act,
		"hidden_dropout_prob":          0.0,
		"attention_probs_dropout_prob": 0.0,
		"initializer_range":            0.02,
		"layer_norm_eps":               eps,
		"image_size":                   or(c.ImageSize, 224),
		"patch_size":                   or(c.PatchSize, 16),
		"num_channels":                 or(c.NumChannels, 3),
		"qkv_bias":                     !c.NoQKVBias,
		"encoder_stride":               or(c.PatchSize, 16),
		"torch_dtype":                  "float32",
	}
	return SetLabels(cfg, labels)
}

// sizePair reads a field that is an integer or a list of two integers
// (transformers accepts both for image_size and patch_size).
func sizePair(cfg map[string]any, key string, def int) (int, int, error) {
	if l, ok := cfg[key].([]any); ok {
		v, err := ConfigInts(cfg, key)
		if err != nil {
			return 0, 0, err
		}
		if len(l) != 2 {
			return 0, 0, fmt.Errorf("config: field %q has %d values, want 1 or 2", key, len(l))
		}
		return v[0], v[1], nil
	}
	n, err := ConfigIntOr(cfg, key, def)
	return n, n, err
}

// parseViT reads a ViT configuration.
func parseViT(cfg map[string]any) (*vitModel, error) {
	v := &vitModel{}
	v.modelType = "vit"
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("hidden_size", 768, &v.hidden)
	r.layers("num_hidden_layers", 12, &v.layers)
	r.get("num_attention_heads", 12, &v.heads)
	r.get("intermediate_size", 3072, &v.inter)
	r.get("num_channels", 3, &v.channels)
	if r.err != nil {
		return nil, r.err
	}
	var err error
	if v.imageH, v.imageW, err = sizePair(cfg, "image_size", 224); err != nil {
		return nil, err
	}
	if v.patchH, v.patchW, err = sizePair(cfg, "patch_size", 16); err != nil {
		return nil, err
	}
	if v.patchH != v.patchW {
		return nil, fmt.Errorf("config: patch_size %dx%d: only square patches are supported", v.patchH, v.patchW)
	}
	if v.patchH <= 0 || v.imageH < v.patchH || v.imageW < v.patchW {
		return nil, fmt.Errorf("config: image_size %dx%d and patch_size %d: want 0 < patch_size ≤ image_size", v.imageH, v.imageW, v.patchH)
	}
	if v.hidden%v.heads != 0 {
		return nil, fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", v.hidden, v.heads)
	}
	if v.eps, err = ConfigFloatOr(cfg, "layer_norm_eps", 1e-12); err != nil {
		return nil, err
	}
	if v.eps < 0 {
		return nil, fmt.Errorf("config: field \"layer_norm_eps\" is %g, want ≥ 0", v.eps)
	}
	if v.qkvBias, err = ConfigBoolOr(cfg, "qkv_bias", true); err != nil {
		return nil, err
	}
	if v.act, err = activation(cfg, "gelu", "config:"); err != nil {
		return nil, err
	}
	if v.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	v.cfg = CloneConfig(cfg)
	return v, nil
}

func (v *vitModel) numPatches() int { return (v.imageH / v.patchH) * (v.imageW / v.patchW) }

const (
	vitPatchSite = "vit.embeddings.patch_embeddings.projection"
	vitHeadSite  = "classifier"
)

func vitLayer(i int) string { return "vit.encoder.layer." + strconv.Itoa(i) }

// specs lists the parameters in transformers' state-dict order.
func (v *vitModel) specs() []paramSpec {
	std, _ := ConfigFloatOr(v.cfg, "initializer_range", 0.02)
	d, p, c := v.hidden, v.patchH, v.channels
	var s []paramSpec
	lin := func(name string, out, in int, bias bool) { s = append(s, linearSpecs(name, out, in, bias, std)...) }
	ln := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	s = append(s,
		paramSpec{name: "vit.embeddings.cls_token", shape: []int{1, 1, d}, init: initTruncNormal, std: std},
		paramSpec{name: "vit.embeddings.position_embeddings", shape: []int{1, v.numPatches() + 1, d}, init: initTruncNormal, std: std},
		paramSpec{name: vitPatchSite + ".weight", shape: []int{d, c * p * p}, file: []int{d, c, p, p}, init: initTruncNormal, std: std},
		paramSpec{name: vitPatchSite + ".bias", shape: []int{d}},
	)
	for i := 0; i < v.layers; i++ {
		l := vitLayer(i)
		lin(l+".attention.attention.query", d, d, v.qkvBias)
		lin(l+".attention.attention.key", d, d, v.qkvBias)
		lin(l+".attention.attention.value", d, d, v.qkvBias)
		lin(l+".attention.output.dense", d, d, true)
		lin(l+".intermediate.dense", v.inter, d, true)
		lin(l+".output.dense", d, v.inter, true)
		ln(l + ".layernorm_before")
		ln(l + ".layernorm_after")
	}
	ln("vit.layernorm")
	lin(vitHeadSite, len(v.labels), d, true)
	return s
}

// describe fills the sites and vectors.
func (v *vitModel) describe() {
	d := v.hidden
	norm := func(name string, block int) { v.vectors = append(v.vectors, layerNormVectors(name, block, name)...) }
	v.sites = []Site{linearSite(vitPatchSite, "patch", -1, v.channels*v.patchH*v.patchW, d, "vit.embeddings.patches", true)}
	v.vectors = []Vector{
		{Name: "vit.embeddings.cls_token", Role: "cls_token", Block: -1, Space: vitPatchSite},
		{Name: "vit.embeddings.position_embeddings", Role: "position_embeddings", Block: -1, Space: vitPatchSite},
	}
	for i := 0; i < v.layers; i++ {
		l := vitLayer(i)
		before, after := l+".layernorm_before", l+".layernorm_after"
		v.sites = append(v.sites,
			linearSite(l+".attention.attention.query", "query", i, d, d, before, v.qkvBias),
			linearSite(l+".attention.attention.key", "key", i, d, d, before, v.qkvBias),
			linearSite(l+".attention.attention.value", "value", i, d, d, before, v.qkvBias),
			linearSite(l+".attention.output.dense", "attn_out", i, d, d, l+".attention.context", true),
			linearSite(l+".intermediate.dense", "mlp_in", i, d, v.inter, after, true),
			linearSite(l+".output.dense", "mlp_out", i, v.inter, d, l+".intermediate.act", true),
		)
		norm(before, i)
		norm(after, i)
	}
	norm("vit.layernorm", -1)
	v.sites = append(v.sites, linearSite(vitHeadSite, "head", -1, d, len(v.labels), "vit.layernorm", true))
}

func buildViT(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
	v, err := parseViT(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: vit: %w", err)
	}
	if err := v.setParams(v.specs(), params, seed); err != nil {
		return nil, fmt.Errorf("model: vit: %w", err)
	}
	v.describe()
	return v, nil
}

func vitSpecs(cfg map[string]any) ([]paramSpec, error) {
	v, err := parseViT(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: vit: %w", err)
	}
	return v.specs(), nil
}

func init() {
	Register("vit", buildViT)
	specFuncs["vit"] = vitSpecs
}

// CheckInput implements InputChecker.
func (v *vitModel) CheckInput(shape []int) error {
	_, _, err := v.imageShape(shape)
	return err
}

// imageShape interprets an input shape as [B, C, H, W] images, returning
// the batch size and the number of channels given.
func (v *vitModel) imageShape(shape []int) (batch, channels int, err error) {
	return imageShape("vit", shape, v.imageH, v.imageW, v.channels)
}

// imageShape interprets an input shape for a model named kind that takes
// h×w images of c channels: [B, C, H, W], [B, H, W] for one channel, or
// flattened [B, C·H·W] or [B, H·W]. It returns the batch size and the
// number of channels given, which must be c or 1.
func imageShape(kind string, shape []int, h, w, c int) (batch, channels int, err error) {
	switch len(shape) {
	case 4:
		batch, channels = shape[0], shape[1]
		if shape[2] != h || shape[3] != w {
			return 0, 0, fmt.Errorf("model: %s: images of %dx%d pixels, the model takes %dx%d", kind, shape[2], shape[3], h, w)
		}
	case 3:
		batch, channels = shape[0], 1
		if shape[1] != h || shape[2] != w {
			return 0, 0, fmt.Errorf("model: %s: images of %dx%d pixels, the model takes %dx%d", kind, shape[1], shape[2], h, w)
		}
	case 2:
		batch = shape[0]
		switch shape[1] {
		case c * h * w:
			channels = c
		case h * w:
			channels = 1
		default:
			return 0, 0, fmt.Errorf("model: %s: flattened inputs of %d values, the model takes %d×%d×%d", kind, shape[1], c, h, w)
		}
	default:
		return 0, 0, fmt.Errorf("model: %s: inputs of shape %v, want [B, C, H, W]", kind, shape)
	}
	if channels != c && channels != 1 {
		return 0, 0, fmt.Errorf("model: %s: images with %d channels, the model takes %d", kind, channels, c)
	}
	if batch <= 0 {
		return 0, 0, fmt.Errorf("model: %s: empty batch %v", kind, shape)
	}
	return batch, channels, nil
}

// Forward implements Model. It panics on inputs that CheckInput rejects.
func (v *vitModel) Forward(t *Tape, inputs *Var) *Var {
	B, C, err := v.imageShape(inputs.Value.Shape)
	if err != nil {
		panic(err)
	}
	x := t.Reshape(inputs, B, C, v.imageH, v.imageW)
	if C != v.channels {
		// The repeated copy is a leaf of its own: a gradient reaches it (so
		// activation gradients flow) but not the one-channel input.
		rep := autodiff.Const(repeatChannels(x.Value, v.channels))
		rep.SetNeedsGrad(inputs.NeedsGrad())
		x = rep
	}
	P := v.params
	act, err := t.ActivationByName(v.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	patches := t.Patches(x, v.patchH)
	h := t.Linear(vitPatchSite, patches, P[vitPatchSite+".weight"], P[vitPatchSite+".bias"])
	h = t.PrependToken(h, P["vit.embeddings.cls_token"])
	h = t.Add(h, P["vit.embeddings.position_embeddings"])
	t.Mark("vit.embeddings", h)
	bias := func(name string) *Var {
		if !v.qkvBias {
			return nil
		}
		return P[name+".bias"]
	}
	for i := 0; i < v.layers; i++ {
		l := vitLayer(i)
		a := t.LayerNorm(h, P[l+".layernorm_before.weight"], P[l+".layernorm_before.bias"], v.eps)
		q := t.Linear(l+".attention.attention.query", a, P[l+".attention.attention.query.weight"], bias(l+".attention.attention.query"))
		k := t.Linear(l+".attention.attention.key", a, P[l+".attention.attention.key.weight"], bias(l+".attention.attention.key"))
		val := t.Linear(l+".attention.attention.value", a, P[l+".attention.attention.value.weight"], bias(l+".attention.attention.value"))
		ctx := t.Attention(q, k, val, v.heads, v.heads, false)
		o := t.Linear(l+".attention.output.dense", ctx, P[l+".attention.output.dense.weight"], P[l+".attention.output.dense.bias"])
		h = t.Add(h, o)
		m := t.LayerNorm(h, P[l+".layernorm_after.weight"], P[l+".layernorm_after.bias"], v.eps)
		m = t.Linear(l+".intermediate.dense", m, P[l+".intermediate.dense.weight"], P[l+".intermediate.dense.bias"])
		m = act(m)
		m = t.Linear(l+".output.dense", m, P[l+".output.dense.weight"], P[l+".output.dense.bias"])
		h = t.Add(h, m)
		t.Mark(l, h)
	}
	h = t.LayerNorm(h, P["vit.layernorm.weight"], P["vit.layernorm.bias"], v.eps)
	cls := t.SelectToken(h, 0)
	return t.Linear(vitHeadSite, cls, P[vitHeadSite+".weight"], P[vitHeadSite+".bias"])
}

// repeatChannels copies one-channel images [B, 1, H, W] to c channels.
func repeatChannels(img *Tensor, c int) *Tensor {
	B, H, W := img.Shape[0], img.Shape[2], img.Shape[3]
	out := tensor.New[float32](B, c, H, W)
	n := H * W
	for b := 0; b < B; b++ {
		src := img.Data[b*n : (b+1)*n]
		for ch := 0; ch < c; ch++ {
			copy(out.Data[(b*c+ch)*n:], src)
		}
	}
	return out
}
