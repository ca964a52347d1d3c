package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
	"github.com/bico-dev/bico/transfer"
)

// Shape is the shape of a vit model (model_type "vit",
// ViTForImageClassification) to benchmark with random weights.
type Shape struct {
	Hidden   int `json:"hidden"`   // width d
	Layers   int `json:"layers"`   // transformer blocks
	Heads    int `json:"heads"`    // attention heads
	MLP      int `json:"mlp"`      // intermediate width
	Image    int `json:"image"`    // image side in pixels
	Patch    int `json:"patch"`    // patch side in pixels
	Channels int `json:"channels"` // image channels
	Classes  int `json:"classes"`  // classifier outputs
}

// The shapes the bench command measures by default.
var (
	// ViTB16 is ViT-B/16 at 224 pixels with a 1000-class head (86M
	// parameters, 197 tokens).
	ViTB16 = Shape{Hidden: 768, Layers: 12, Heads: 12, MLP: 3072, Image: 224, Patch: 16, Channels: 3, Classes: 1000}
	// Small is the zoo's small vit on MNIST-sized images.
	Small = Shape{Hidden: 64, Layers: 4, Heads: 4, MLP: 128, Image: 28, Patch: 4, Channels: 1, Classes: 10}
)

// Validate reports a shape the vit architecture cannot take.
func (s Shape) Validate() error {
	switch {
	case s.Hidden <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.MLP <= 0 || s.Image <= 0 || s.Patch <= 0 || s.Channels <= 0 || s.Classes <= 0:
		return fmt.Errorf("bench: shape %v: every size must be positive", s)
	case s.Hidden%s.Heads != 0:
		return fmt.Errorf("bench: shape %v: width %d is not a multiple of %d heads", s, s.Hidden, s.Heads)
	case s.Patch > s.Image:
		return fmt.Errorf("bench: shape %v: patch %d larger than the image %d", s, s.Patch, s.Image)
	}
	return nil
}

// String describes the shape compactly, e.g. "vit d768 L12 h12 mlp3072 img224 p16 c3 k1000".
func (s Shape) String() string {
	return fmt.Sprintf("vit d%d L%d h%d mlp%d img%d p%d c%d k%d", s.Hidden, s.Layers, s.Heads, s.MLP, s.Image, s.Patch, s.Channels, s.Classes)
}

// Family is "vit".
func (s Shape) Family() string { return "vit" }

// Unit is "images".
func (s Shape) Unit() string { return "images" }

// NumLabels is the number of classes.
func (s Shape) NumLabels() int { return s.Classes }

// pairable reports a target whose images differ from s's.
func (s Shape) pairable(tgt Arch) error {
	t := tgt.(Shape)
	if s.Image != t.Image || s.Channels != t.Channels {
		return fmt.Errorf("bench: source images %d×%d×%d and target images %d×%d×%d differ", s.Channels, s.Image, s.Image, t.Channels, t.Image, t.Image)
	}
	return nil
}

// Samples returns n random images (normal pixels) with random labels below
// classes.
func (s Shape) Samples(n, classes int, seed uint64) transfer.Samples {
	rng := rand.New(rand.NewPCG(seed, 0x62656e6368)) // "bench"
	in := tensor.New[float32](n, s.Channels, s.Image, s.Image)
	for i := range in.Data {
		in.Data[i] = float32(rng.NormFloat64())
	}
	return transfer.Samples{Inputs: in, Labels: randomLabels(rng, n, classes)}
}

// randomLabels draws n labels below classes (zeros for none).
func randomLabels(rng *rand.Rand, n, classes int) []int {
	labels := make([]int, n)
	for i := range labels {
		if classes > 0 {
			labels[i] = rng.IntN(classes)
		}
	}
	return labels
}

// Patches is the number of patches per image.
func (s Shape) Patches() int { g := s.Image / s.Patch; return g * g }

// Tokens is the number of tokens per image: the patches and the class token.
func (s Shape) Tokens() int { return s.Patches() + 1 }

// patchDim is the width of a flattened patch.
func (s Shape) patchDim() int { return s.Channels * s.Patch * s.Patch }

// Params is the number of parameters of a model of this shape.
func (s Shape) Params() int64 {
	d, f := int64(s.Hidden), int64(s.MLP)
	n := d + int64(s.Tokens())*d + d*int64(s.patchDim()) + d // cls, positions, patch embedding
	block := 4*(d*d+d) + (d*f + f) + (f*d + d) + 4*d
	n += int64(s.Layers)*block + 2*d
	n += int64(s.Classes)*d + int64(s.Classes)
	return n
}

// Config is the model's config.json.
func (s Shape) Config() map[string]any {
	labels := make([]string, s.Classes)
	for i := range labels {
		labels[i] = "class_" + strconv.Itoa(i)
	}
	return model.ViTConfig{
		HiddenSize: s.Hidden, NumLayers: s.Layers, NumHeads: s.Heads, IntermediateSize: s.MLP,
		ImageSize: s.Image, PatchSize: s.Patch, NumChannels: s.Channels, Labels: labels,
	}.Map()
}

// ForwardFLOPs counts the floating-point operations (two per multiply-add)
// of the matrix products of one forward pass over batch images: the linear
// layers and the two products of attention.
func (s Shape) ForwardFLOPs(batch int) float64 {
	b, n, p := float64(batch), float64(s.Tokens()), float64(s.Patches())
	d, f := float64(s.Hidden), float64(s.MLP)
	fl := 2 * b * p * float64(s.patchDim()) * d // patch embedding
	perBlock := 2*b*n*(4*d*d+2*d*f) +           // q, k, v, output, MLP in and out
		2*2*b*n*n*d // Q·Kᵀ and P·V over all heads
	fl += float64(s.Layers) * perBlock
	fl += 2 * b * d * float64(s.Classes) // head on the class token
	return fl
}

// BackwardFLOPs counts the products of a backward pass that computes the
// gradient of every activation but no parameter gradient (the parameters
// are frozen during calibration): one product per linear layer, four per
// attention.
func (s Shape) BackwardFLOPs(batch int) float64 {
	b, n := float64(batch), float64(s.Tokens())
	d := float64(s.Hidden)
	return s.ForwardFLOPs(batch) + float64(s.Layers)*2*2*b*n*n*d
}

// statDims lists the BiCo statistics between a source of shape src and a
// target of shape s (input activations and output gradients, one per
// distinct pair of spaces): the rows per batch image and the widths.
func (s Shape) statDims(src Arch) [][3]int {
	a := src.(Shape)
	n, p := s.Tokens(), s.Patches()
	var dims [][3]int
	add := func(rows, dA, dB int) { dims = append(dims, [3]int{rows, dA, dB}) }
	// Patch embedding: input patches and output gradient.
	add(p, a.patchDim(), s.patchDim())
	add(p, a.Hidden, s.Hidden)
	layers := s.Layers // the target's blocks, each paired with one source block
	for range layers {
		// Inputs: layernorm_before (shared by q, k, v), attention context,
		// layernorm_after, MLP activation.
		add(n, a.Hidden, s.Hidden)
		add(n, a.Hidden, s.Hidden)
		add(n, a.Hidden, s.Hidden)
		add(n, a.MLP, s.MLP)
		// Output gradients: q, k, v, attention output, MLP in, MLP out.
		for range 4 {
			add(n, a.Hidden, s.Hidden)
		}
		add(n, a.MLP, s.MLP)
		add(n, a.Hidden, s.Hidden)
	}
	// Head: the final layernorm's class token and the logits' gradient.
	add(1, a.Hidden, s.Hidden)
	add(1, a.Classes, s.Classes)
	return dims
}

// ActivationBytes estimates the values the tape keeps from one forward pass
// over batch images: every intermediate tensor (patches, embeddings, per
// block the norms, q, k, v, attention probabilities and output, the
// projections, MLP activations and residual sums), in float32.
func (s Shape) ActivationBytes(batch int) int64 {
	b, n, p := int64(batch), int64(s.Tokens()), int64(s.Patches())
	d, f, h := int64(s.Hidden), int64(s.MLP), int64(s.Heads)
	v := b*p*int64(s.patchDim()) + b*p*d + 2*b*n*d // patches, embedding, class token, positions
	perBlock := 10*b*n*d + 2*b*n*f + b*h*n*n
	v += int64(s.Layers)*perBlock + b*n*d + b*d + b*int64(s.Classes)
	return 4 * v
}
