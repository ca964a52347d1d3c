package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/transfer"
)

// Arch is the shape of a model the bench builds with random weights: a vit
// image classifier (Shape) or a Llama causal language model (LLM). The
// figures of a pair are computed from its two shapes, which must be of one
// family.
type Arch interface {
	// Family is the model family: "vit" or "llama".
	Family() string
	// String describes the shape compactly.
	String() string
	// Validate reports a shape the family cannot take.
	Validate() error
	// Config is the model's config.json.
	Config() map[string]any
	// Params is the number of parameters.
	Params() int64
	// Unit names what one calibration sample is ("images", "sequences").
	Unit() string
	// NumLabels is the number of labels a sample may have (0: none, a
	// language model's samples are their own targets).
	NumLabels() int
	// Samples returns n random inputs with random labels below classes.
	Samples(n, classes int, seed uint64) transfer.Samples
	// ForwardFLOPs counts the floating-point operations (two per
	// multiply-add) of the matrix products of one forward pass over batch
	// samples.
	ForwardFLOPs(batch int) float64
	// BackwardFLOPs counts the products of a backward pass that computes
	// the gradient of every activation but no parameter gradient (the
	// parameters are frozen during calibration).
	BackwardFLOPs(batch int) float64
	// ActivationBytes estimates the values the tape keeps from one forward
	// pass over batch samples.
	ActivationBytes(batch int) int64
	// statDims lists, for the BiCo statistics between a source of shape
	// src (of the same family) and this target, the rows per sample and the
	// widths of the two sides, one entry per distinct statistic.
	statDims(src Arch) [][3]int
	// pairable reports why a target of shape tgt cannot take this source's
	// calibration samples.
	pairable(tgt Arch) error
}

// Models builds a source and a target model of the given shapes with
// random weights drawn from seed.
func Models(src, tgt Arch, seed uint64) (a, b model.Model, err error) {
	if err := pairable(src, tgt); err != nil {
		return nil, nil, err
	}
	if a, err = model.Build(src.Config(), nil, seed); err != nil {
		return nil, nil, err
	}
	if b, err = model.Build(tgt.Config(), nil, seed+1); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// FineTune returns m with parameters moved by seeded Gaussian noise of
// standard deviation 1e-3: a stand-in for a fine-tune. With no roles every
// parameter moves (a full fine-tune, whose task vector is non-zero at every
// site, so that a transfer from it does the work a real full fine-tune's
// does); with roles only the weights and biases of the sites of those roles
// ("query", "value", "mlp_in": model.Site.Role) move, as a LoRA on those
// projections changes them, and a transfer leaves the other sites out. The
// parameters that do not move are m's own tensors, shared, as
// model.ApplyLoRA shares them.
func FineTune(m model.Model, seed uint64, roles ...string) (model.Model, error) {
	move := map[string]bool{}
	var have []string
	for _, s := range m.Sites() {
		if len(roles) == 0 || slices.Contains(roles, s.Role) {
			move[s.Weight], move[s.Bias] = true, s.Bias != ""
		}
		if !slices.Contains(have, s.Role) {
			have = append(have, s.Role)
		}
	}
	for _, r := range roles {
		if !slices.Contains(have, r) {
			return nil, fmt.Errorf("bench: a %s model has no site of role %q (its roles: %s)", m.Type(), r, strings.Join(have, ", "))
		}
	}
	ps := model.Params(m)
	rng := rand.New(rand.NewPCG(seed, 0x66696e65)) // "fine"
	for _, name := range m.ParamNames() {
		if len(roles) > 0 && !move[name] {
			continue
		}
		t := ps[name].Clone()
		for i := range t.Data {
			t.Data[i] += float32(1e-3 * rng.NormFloat64())
		}
		ps[name] = t
	}
	return model.WithParams(m, ps)
}

// Samples returns n random samples for shape s with random labels below
// classes.
func Samples(s Arch, n, classes int, seed uint64) transfer.Samples {
	return s.Samples(n, classes, seed)
}

// pairable reports why src and tgt cannot be a bench pair.
func pairable(src, tgt Arch) error {
	if src.Family() != tgt.Family() {
		return fmt.Errorf("bench: source %s and target %s are of different families", src, tgt)
	}
	return src.pairable(tgt)
}

// StatFLOPs counts the products that accumulate the statistics of one
// batch: 2·rows·d_A·d_B per statistic.
func StatFLOPs(a, b Arch, batch int) float64 {
	fl := 0.0
	for _, d := range b.statDims(a) {
		fl += 2 * float64(batch*d[0]) * float64(d[1]) * float64(d[2])
	}
	return fl
}

// CalibFLOPs counts the matrix-product work of one calibration batch: the
// forward and backward pass of the source a and the target b, and the
// statistics. It is the figure achieved GFLOP/s are computed from.
func CalibFLOPs(a, b Arch, batch int) float64 {
	return a.ForwardFLOPs(batch) + a.BackwardFLOPs(batch) + b.ForwardFLOPs(batch) + b.BackwardFLOPs(batch) + StatFLOPs(a, b, batch)
}

// StatBytes is the memory of the statistics between a and b: each
// cross-covariance, its two row sums and its two sums of squares, in
// float64.
func StatBytes(a, b Arch) int64 {
	var n int64
	for _, d := range b.statDims(a) {
		n += int64(d[1])*int64(d[2]) + 2*int64(d[1]) + 2*int64(d[2])
	}
	return 8 * n
}

// MemoryBudget is the reference the calibration pass's peak memory is
// compared with: the weights of both models, one batch's activations (of
// the larger model) and the statistics.
func MemoryBudget(a, b Arch, batch int) int64 {
	return 4*(a.Params()+b.Params()) + max(a.ActivationBytes(batch), b.ActivationBytes(batch)) + StatBytes(a, b)
}
