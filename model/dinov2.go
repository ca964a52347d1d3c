package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/tensor"
)

// dinov2Model is Hugging Face's Dinov2ForImageClassification (model_type
// "dinov2") and Dinov2WithRegistersForImageClassification
// ("dinov2_with_registers"): a ViT whose blocks scale the attention's and
// the MLP's outputs by learned vectors (LayerScale) before the residual,
// whose classifier reads the class token beside the mean of the patch
// tokens, and which runs on images of any size, resampling its position
// table to the image's grid of patches.
//
// Parameter names are transformers' own, under "dinov2." (or
// "dinov2_with_registers."): embeddings.{cls_token, mask_token,
// register_tokens, position_embeddings, patch_embeddings.projection},
// encoder.layer.N.{norm1, attention.attention.{query,key,value},
// attention.output.dense, layer_scale1.lambda1, norm2, mlp.fc1, mlp.fc2,
// layer_scale2.lambda1}, layernorm, and classifier (2·hidden_size inputs).
//
// Sites, in forward order (P the prefix, N the layer):
//
//	P.embeddings.patch_embeddings.projection     patch     reads P.embeddings.patches
//	P.encoder.layer.N.attention.attention.query  query     reads P.encoder.layer.N.norm1
//	P.encoder.layer.N.attention.attention.key    key       reads P.encoder.layer.N.norm1
//	P.encoder.layer.N.attention.attention.value  value     reads P.encoder.layer.N.norm1
//	P.encoder.layer.N.attention.output.dense     attn_out  reads P.encoder.layer.N.attention.context
//	P.encoder.layer.N.mlp.fc1                    mlp_in    reads P.encoder.layer.N.norm2
//	P.encoder.layer.N.mlp.fc2                    mlp_out   reads P.encoder.layer.N.mlp.act
//	classifier                                   head      reads P.pooled
//
// P.pooled is the class token and the patch tokens' mean of the final
// LayerNorm's output, side by side (2·hidden_size values).
//
// Vectors: each block's LayerNorms' weights and biases live in the space
// named after the norm, the final LayerNorm's in the last fc2's output
// space (no site reads the norm's output unpooled); layer_scale1.lambda1 in the attention output's space and
// layer_scale2.lambda1 in fc2's; cls_token, mask_token, register_tokens and
// position_embeddings in the patch site's output space.
//
// Positions: the table holds the class token's and a square grid of
// patches' (image_size/patch_size per side). An image of another grid (or a
// non-square one) reads the grid resampled bicubically to its own, as
// transformers does: without antialiasing for dinov2, with it for
// dinov2_with_registers (see bicubicWeights). The register tokens, which
// have no position, go between the class token and the patches after the
// positions are added; the pooled mean leaves them out.
//
// With use_swiglu_ffn (DINOv2 giant) the MLP is weights_out(SiLU(x1)·x2),
// x1 and x2 the two halves of the rows of one fused mlp.weights_in, two
// thirds as wide as mlp_ratio says (rounded up to a multiple of 8): the
// halves are the sites P.encoder.layer.N.mlp.weights_in.gate (mlp_gate) and
// .up (mlp_in), split on load and joined on save, and weights_out is the
// mlp_out site.
//
// Inputs are images [B, C, H, W] of any size of at least one patch (or
// [B, H, W] for one channel, or flattened at image_size).
type dinov2Model struct {
	base
	prefix                     string
	hidden, layers, heads, mlp int
	imageH, imageW, patch      int
	grid                       int // the position table's grid side
	channels, registers        int
	maskToken, antialias       bool
	qkvBias, swiglu            bool
	eps, layerScale            float64
	act                        string
}

// parseDINOv2 reads a DINOv2 configuration of model type mt.
func parseDINOv2(cfg map[string]any, mt string) (*dinov2Model, error) {
	m := &dinov2Model{prefix: mt, antialias: mt == "dinov2_with_registers"}
	m.modelType = mt
	r := positiveInts{cfg: cfg, what: "config:"}
	r.get("hidden_size", 768, &m.hidden)
	r.layers("num_hidden_layers", 12, &m.layers)
	r.get("num_attention_heads", 12, &m.heads)
	r.get("num_channels", 3, &m.channels)
	if r.err != nil {
		return nil, r.err
	}
	var err error
	if m.imageH, m.imageW, err = sizePair(cfg, "image_size", 224); err != nil {
		return nil, err
	}
	var ph, pw int
	if ph, pw, err = sizePair(cfg, "patch_size", 16); err != nil {
		return nil, err
	}
	if ph != pw || ph <= 0 {
		return nil, fmt.Errorf("config: patch_size %dx%d: only square patches are supported", ph, pw)
	}
	m.patch = ph
	if m.imageH < m.patch || m.imageW < m.patch {
		return nil, fmt.Errorf("config: image_size %dx%d and patch_size %d: want patch_size ≤ image_size", m.imageH, m.imageW, m.patch)
	}
	positions := (m.imageH / m.patch) * (m.imageW / m.patch)
	if m.grid = int(math.Sqrt(float64(positions))); m.grid*m.grid != positions {
		return nil, fmt.Errorf("config: image_size %dx%d and patch_size %d give %d positions, not a square grid", m.imageH, m.imageW, m.patch, positions)
	}
	if m.hidden%m.heads != 0 {
		return nil, fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", m.hidden, m.heads)
	}
	ratio, err := ConfigFloatOr(cfg, "mlp_ratio", 4)
	if err != nil {
		return nil, err
	}
	if m.swiglu, err = ConfigBoolOr(cfg, "use_swiglu_ffn", false); err != nil {
		return nil, err
	}
	if f := float64(m.hidden) * ratio; !(f >= 1 && f < 1<<40) {
		return nil, fmt.Errorf("config: mlp_ratio %g gives an MLP of %g units", ratio, f)
	}
	if m.mlp = int(float64(m.hidden) * ratio); m.swiglu {
		// transformers' Dinov2SwiGLUFFN: two thirds, rounded up to a
		// multiple of 8.
		m.mlp = (m.mlp*2/3 + 7) / 8 * 8
	}
	if m.eps, err = ConfigFloatOr(cfg, "layer_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if m.layerScale, err = ConfigFloatOr(cfg, "layerscale_value", 1); err != nil {
		return nil, err
	}
	if m.qkvBias, err = ConfigBoolOr(cfg, "qkv_bias", true); err != nil {
		return nil, err
	}
	if m.antialias {
		m.maskToken = true
		if m.registers, err = ConfigIntOr(cfg, "num_register_tokens", 4); err != nil {
			return nil, err
		}
		if m.registers < 0 {
			return nil, fmt.Errorf("config: num_register_tokens %d, want ≥ 0", m.registers)
		}
	} else if m.maskToken, err = ConfigBoolOr(cfg, "use_mask_token", true); err != nil {
		return nil, err
	}
	if m.act, err = activation(cfg, "gelu", "config:"); err != nil {
		return nil, err
	}
	if m.labels, err = Labels(cfg); err != nil {
		return nil, err
	}
	m.cfg = CloneConfig(cfg)
	return m, nil
}

func (m *dinov2Model) layer(i int) string { return m.prefix + ".encoder.layer." + strconv.Itoa(i) }
func (m *dinov2Model) embed(name string) string {
	return m.prefix + ".embeddings." + name
}
func (m *dinov2Model) patchSite() string { return m.embed("patch_embeddings.projection") }

// specs lists the parameters in transformers' state-dict order.
func (m *dinov2Model) specs() []paramSpec {
	std, _ := ConfigFloatOr(m.cfg, "initializer_range", 0.02)
	d, p, c := m.hidden, m.patch, m.channels
	var s []paramSpec
	lin := func(name string, out, in int, bias bool) { s = append(s, linearSpecs(name, out, in, bias, std)...) }
	ln := func(name string) { s = append(s, layerNormSpecs(name, d)...) }
	s = append(s, paramSpec{name: m.embed("cls_token"), shape: []int{1, 1, d}, init: initTruncNormal, std: std})
	if m.maskToken {
		s = append(s, paramSpec{name: m.embed("mask_token"), shape: []int{1, d}})
	}
	if m.registers > 0 {
		s = append(s, paramSpec{name: m.embed("register_tokens"), shape: []int{1, m.registers, d}})
	}
	s = append(s,
		paramSpec{name: m.embed("position_embeddings"), shape: []int{1, m.grid*m.grid + 1, d}, init: initTruncNormal, std: std},
		paramSpec{name: m.patchSite() + ".weight", shape: []int{d, c * p * p}, file: []int{d, c, p, p}, init: initTruncNormal, std: std},
		paramSpec{name: m.patchSite() + ".bias", shape: []int{d}},
	)
	for i := 0; i < m.layers; i++ {
		l := m.layer(i)
		ln(l + ".norm1")
		lin(l+".attention.attention.query", d, d, m.qkvBias)
		lin(l+".attention.attention.key", d, d, m.qkvBias)
		lin(l+".attention.attention.value", d, d, m.qkvBias)
		lin(l+".attention.output.dense", d, d, true)
		s = append(s, paramSpec{name: l + ".layer_scale1.lambda1", shape: []int{d}, init: initConst, std: m.layerScale})
		ln(l + ".norm2")
		if m.swiglu {
			lin(l+".mlp.weights_in.gate", m.mlp, d, true)
			lin(l+".mlp.weights_in.up", m.mlp, d, true)
		} else {
			lin(l+".mlp.fc1", m.mlp, d, true)
		}
		lin(m.mlpOut(i), d, m.mlp, true)
		s = append(s, paramSpec{name: l + ".layer_scale2.lambda1", shape: []int{d}, init: initConst, std: m.layerScale})
	}
	ln(m.prefix + ".layernorm")
	lin("classifier", len(m.labels), 2*d, true)
	return s
}

// describe fills the sites and vectors.
func (m *dinov2Model) describe() {
	d, patch := m.hidden, m.patchSite()
	norm := func(name string, block int) { m.vectors = append(m.vectors, layerNormVectors(name, block, name)...) }
	m.sites = []Site{linearSite(patch, "patch", -1, m.channels*m.patch*m.patch, d, m.embed("patches"), true)}
	for _, v := range []string{"cls_token", "mask_token", "register_tokens", "position_embeddings"} {
		if (v == "mask_token" && !m.maskToken) || (v == "register_tokens" && m.registers == 0) {
			continue
		}
		m.vectors = append(m.vectors, Vector{Name: m.embed(v), Role: v, Block: -1, Space: patch})
	}
	for i := 0; i < m.layers; i++ {
		l := m.layer(i)
		n1, n2 := l+".norm1", l+".norm2"
		out, fc2 := l+".attention.output.dense", m.mlpOut(i)
		m.sites = append(m.sites,
			linearSite(l+".attention.attention.query", "query", i, d, d, n1, m.qkvBias),
			linearSite(l+".attention.attention.key", "key", i, d, d, n1, m.qkvBias),
			linearSite(l+".attention.attention.value", "value", i, d, d, n1, m.qkvBias),
			linearSite(out, "attn_out", i, d, d, l+".attention.context", true))
		if m.swiglu {
			m.sites = append(m.sites,
				linearSite(l+".mlp.weights_in.gate", "mlp_gate", i, d, m.mlp, n2, true),
				linearSite(l+".mlp.weights_in.up", "mlp_in", i, d, m.mlp, n2, true))
		} else {
			m.sites = append(m.sites, linearSite(l+".mlp.fc1", "mlp_in", i, d, m.mlp, n2, true))
		}
		m.sites = append(m.sites, linearSite(fc2, "mlp_out", i, m.mlp, d, l+".mlp.act", true))
		norm(n1, i)
		norm(n2, i)
		m.vectors = append(m.vectors,
			Vector{Name: l + ".layer_scale1.lambda1", Role: "layer_scale", Block: i, Space: out},
			Vector{Name: l + ".layer_scale2.lambda1", Role: "layer_scale", Block: i, Space: fc2})
	}
	// No site reads the final LayerNorm's output as such (the classifier
	// reads it twice over, pooled): its vectors take the residual stream's
	// coordinates where the blocks end, the last fc2's output space.
	final := m.prefix + ".layernorm"
	m.vectors = append(m.vectors, layerNormVectors(final, -1, m.mlpOut(m.layers-1))...)
	m.sites = append(m.sites, linearSite("classifier", "head", -1, 2*d, len(m.labels), m.prefix+".pooled", true))
}

// mlpOut is block i's MLP output layer: mlp.fc2, or with the SwiGLU MLP
// mlp.weights_out.
func (m *dinov2Model) mlpOut(i int) string {
	if m.swiglu {
		return m.layer(i) + ".mlp.weights_out"
	}
	return m.layer(i) + ".mlp.fc2"
}

// packs lists the tensors a checkpoint stores fused: with the SwiGLU MLP,
// each block's mlp.weights_in (weight and bias), whose first half of rows
// is the gate (x1, through SiLU) and second half the up projection (x2).
func (m *dinov2Model) packs() []pack {
	if !m.swiglu {
		return nil
	}
	var out []pack
	for i := 0; i < m.layers; i++ {
		in := m.layer(i) + ".mlp.weights_in"
		halves := [][]int{rowSpan(0, m.mlp), rowSpan(m.mlp, m.mlp)}
		out = append(out,
			pack{file: in + ".weight", shape: []int{2 * m.mlp, m.hidden}, parts: []string{in + ".gate.weight", in + ".up.weight"}, rows: halves},
			pack{file: in + ".bias", shape: []int{2 * m.mlp}, parts: []string{in + ".gate.bias", in + ".up.bias"}, rows: halves})
	}
	return out
}

// BlockOutputs implements BlockMarker: "P.encoder.layer.N".
func (m *dinov2Model) BlockOutputs() []string { return blockNames(m.layers, m.layer) }

func init() {
	for _, mt := range []string{"dinov2", "dinov2_with_registers"} {
		parse := func(cfg map[string]any) (*dinov2Model, error) { return parseDINOv2(cfg, mt) }
		registerArch(mt, mt+".", parse, func(cfg map[string]any, params map[string]*Tensor, seed uint64) (Model, error) {
			m, err := parse(cfg)
			if err != nil {
				return nil, fmt.Errorf("model: %s: %w", mt, err)
			}
			if err := m.setParams(m.specs(), params, seed); err != nil {
				return nil, fmt.Errorf("model: %s: %w", mt, err)
			}
			m.describe()
			return m, nil
		})
	}
}

// PrefixTokens implements TokenPrefixer: the class token and the
// registers.
func (m *dinov2Model) PrefixTokens() int { return 1 + m.registers }

// CheckInput implements InputChecker: images of at least one patch.
func (m *dinov2Model) CheckInput(shape []int) error {
	_, _, _, _, err := m.imageShape(shape)
	return err
}

// imageShape interprets an input shape as images: batch, channels, height
// and width. Images of any size of at least one patch are taken; flattened
// ones only at image_size.
func (m *dinov2Model) imageShape(shape []int) (batch, channels, h, w int, err error) {
	switch len(shape) {
	case 4:
		batch, channels, h, w = shape[0], shape[1], shape[2], shape[3]
	case 3:
		batch, channels, h, w = shape[0], 1, shape[1], shape[2]
	default:
		batch, channels, err = imageShape(m.modelType, shape, m.imageH, m.imageW, m.channels)
		return batch, channels, m.imageH, m.imageW, err
	}
	switch {
	case h < m.patch || w < m.patch:
		return 0, 0, 0, 0, fmt.Errorf("model: %s: images of %dx%d pixels, smaller than a patch of %d", m.modelType, h, w, m.patch)
	case channels != m.channels && channels != 1:
		return 0, 0, 0, 0, fmt.Errorf("model: %s: images with %d channels, the model takes %d", m.modelType, channels, m.channels)
	case batch <= 0:
		return 0, 0, 0, 0, fmt.Errorf("model: %s: empty batch %v", m.modelType, shape)
	}
	return batch, channels, h, w, nil
}

// positions returns the position embeddings for an image of h×w pixels:
// the table itself on its own square grid, else its patch rows resampled
// to the image's grid, after the class token's row.
func (m *dinov2Model) positions(t *Tape, h, w int) *Var {
	table := m.params[m.embed("position_embeddings")]
	gh, gw := h/m.patch, w/m.patch
	if gh*gw == m.grid*m.grid && h == w {
		return table
	}
	d, n := m.hidden, m.grid*m.grid
	parts := t.SplitAxis(1, table, 1, n)
	grid := t.Reshape(parts[1], n, d)
	r := autodiff.Const(gridResampler(m.grid, m.grid, gh, gw, m.antialias))
	resampled := t.Reshape(t.MatMul(r, grid, false, false), 1, gh*gw, d)
	return t.ConcatTokens(parts[0], resampled)
}

// Forward implements Model. It panics on inputs that CheckInput rejects.
func (m *dinov2Model) Forward(t *Tape, inputs *Var) *Var {
	B, C, H, W, err := m.imageShape(inputs.Value.Shape)
	if err != nil {
		panic(err)
	}
	x := t.Reshape(inputs, B, C, H, W)
	if C != m.channels {
		rep := autodiff.Const(repeatChannels(x.Value, m.channels))
		rep.SetNeedsGrad(inputs.NeedsGrad())
		x = rep
	}
	P := m.params
	act, err := t.ActivationByName(m.act)
	if err != nil {
		panic(err) // checked when the model was built
	}
	patch := m.patchSite()
	h := t.Linear(patch, t.Patches(x, m.patch), P[patch+".weight"], P[patch+".bias"])
	h = t.PrependToken(h, P[m.embed("cls_token")])
	h = t.Add(h, m.positions(t, H, W))
	if m.registers > 0 {
		n := h.Value.Shape[1] - 1
		parts := t.SplitAxis(1, h, 1, n)
		zeros := autodiff.Const(tensor.New[float32](B, m.registers, m.hidden))
		regs := t.Add(zeros, P[m.embed("register_tokens")])
		h = t.ConcatTokens(parts[0], regs, parts[1])
	}
	t.Mark(m.prefix+".embeddings", h)
	bias := func(name string) *Var {
		if !m.qkvBias {
			return nil
		}
		return P[name+".bias"]
	}
	lin := func(name string, x *Var) *Var { return t.Linear(name, x, P[name+".weight"], P[name+".bias"]) }
	for i := 0; i < m.layers; i++ {
		l := m.layer(i)
		a := t.LayerNorm(h, P[l+".norm1.weight"], P[l+".norm1.bias"], m.eps)
		qkv := make([]*Var, 3)
		for j, s := range []string{"query", "key", "value"} {
			name := l + ".attention.attention." + s
			qkv[j] = t.Linear(name, a, P[name+".weight"], bias(name))
		}
		ctx := t.Attention(qkv[0], qkv[1], qkv[2], m.heads, m.heads, false)
		o := lin(l+".attention.output.dense", ctx)
		h = t.Add(h, t.Mul(o, P[l+".layer_scale1.lambda1"]))
		f := t.LayerNorm(h, P[l+".norm2.weight"], P[l+".norm2.bias"], m.eps)
		if m.swiglu {
			f = t.SwiGLU(lin(l+".mlp.weights_in.gate", f), lin(l+".mlp.weights_in.up", f))
		} else {
			f = act(lin(l+".mlp.fc1", f))
		}
		f = lin(m.mlpOut(i), f)
		h = t.Add(h, t.Mul(f, P[l+".layer_scale2.lambda1"]))
		t.Mark(l, h)
	}
	h = t.LayerNorm(h, P[m.prefix+".layernorm.weight"], P[m.prefix+".layernorm.bias"], m.eps)
	n := h.Value.Shape[1]
	parts := t.SplitAxis(1, h, 1+m.registers, n-1-m.registers)
	pooled := t.Concat(t.SelectToken(h, 0), t.MeanTokens(parts[1]))
	return lin("classifier", pooled)
}
