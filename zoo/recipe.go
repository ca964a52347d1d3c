// Package zoo trains the small model families bico's tests, demo and
// experiments need: deterministic pre-training from a random initialisation
// (Pretrain), full fine-tuning of a pre-trained model on a task (FineTune),
// the few-shot fine-tuning baseline (FewShot), and a disk cache of trained
// models keyed by the hash of their recipe (Cached). Demo builds the four
// models of the MNIST demonstration.
//
// Training is deterministic: the same recipe on the same data and the same
// linear-algebra backend gives bitwise the same parameters. Different
// backends (OpenBLAS, pure Go) round differently and give slightly different
// models, so a cache filled on one backend is a valid cache for the other
// only up to that rounding.
package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/bico-dev/bico/model"
)

// Recipe says how to train one model. Its JSON form is stable (fields in
// declaration order, map keys sorted), and Hash digests it: two recipes
// with the same hash train the same model from the same data.
//
// Data, and for fine-tuning Base, are not read by the training functions;
// they identify the inputs the recipe does not hold (which training set,
// which base model) so that the cache key covers them. Fill them whenever a
// recipe is used with Cached.
type Recipe struct {
	// Name is a short human-readable label (e.g. "mnist-vit-a"); it names
	// the cache folder <name>-<hash>.
	Name string `json:"name"`
	// Config is the model's config.json (model.MLPConfig{…}.Map(),
	// model.ViTConfig{…}.Map()). Pretrain builds the model from it;
	// FineTune and FewShot use the base model's configuration and ignore it.
	Config map[string]any `json:"config,omitempty"`
	// Base identifies the model a fine-tuning starts from, e.g. the Key of
	// its recipe ("" for pre-training).
	Base string `json:"base,omitempty"`
	// Data identifies the training data, e.g. "mnist/train[:15000]" or
	// "mnist/train[:4000]|invert".
	Data string `json:"data,omitempty"`
	// InitSeed seeds the random initialisation (Pretrain) or a new head
	// (FineTune, when the data has another number of classes than the base).
	InitSeed uint64 `json:"init_seed"`
	// DataSeed seeds the order of the mini-batches and the augmentation.
	DataSeed uint64 `json:"data_seed"`
	// Augment shifts every training image by a random whole number of
	// pixels, at most MaxShift in each direction (zero fill), drawn anew
	// each time the image is used.
	Augment bool `json:"augment"`
	// MaxShift is the largest shift of Augment in pixels; 0 means 2.
	MaxShift int `json:"max_shift,omitempty"`
	// Steps is the number of optimiser steps; when 0, Epochs passes over
	// the training set are made instead.
	Steps int `json:"steps,omitempty"`
	// Epochs is the number of passes over the data when Steps is 0.
	Epochs int `json:"epochs,omitempty"`
	// BatchSize is the number of samples per step (the whole set when it is
	// smaller). Each epoch visits the samples in a fresh seeded order and
	// drops the last partial batch.
	BatchSize int `json:"batch_size"`
	// LR is AdamW's peak learning rate.
	LR float64 `json:"lr"`
	// WeightDecay is AdamW's decoupled weight decay, applied to matrices
	// only (not to biases, norm parameters or 1-D vectors).
	WeightDecay float64 `json:"weight_decay"`
	// Warmup is the number of linear warm-up steps of the learning rate,
	// which then follows a cosine down to MinLRFactor·LR at the last step.
	Warmup int `json:"warmup"`
	// MinLRFactor is the final learning rate as a fraction of LR.
	MinLRFactor float64 `json:"min_lr_factor"`
	// MaxGradNorm clips the global gradient norm before each step (≤ 0: no
	// clipping).
	MaxGradNorm float64 `json:"max_grad_norm"`
}

// JSON returns the recipe's canonical JSON form, the input of Hash.
func (r Recipe) JSON() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Only a config holding a value JSON cannot encode (a channel, a
		// NaN) gets here; such a recipe has no stable identity.
		panic(fmt.Sprintf("zoo: recipe %q cannot be encoded: %v", r.Name, err))
	}
	return b
}

// Hash is the first 16 hex digits of the SHA-256 of the recipe's JSON.
// Every field takes part; config numbers written as 64 and 64.0 hash alike
// (JSON does not tell them apart), so a config read back from config.json
// hashes as the one it was written from.
func (r Recipe) Hash() string {
	sum := sha256.Sum256(r.JSON())
	return hex.EncodeToString(sum[:])[:16]
}

// Key is the cache folder name of the recipe: <name>-<hash>, with the
// name reduced to letters, digits, '.', '_' and '-' ("model" when empty).
func (r Recipe) Key() string {
	name := unsafeName.ReplaceAllString(r.Name, "_")
	name = strings.Trim(name, ".")
	if name == "" {
		name = "model"
	}
	return name + "-" + r.Hash()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// steps returns the number of optimiser steps for a training set of n
// samples, and the batch size actually used.
func (r Recipe) steps(n int) (steps, batch int, err error) {
	if n <= 0 {
		return 0, 0, fmt.Errorf("zoo: recipe %q: no training samples", r.Name)
	}
	if r.BatchSize <= 0 {
		return 0, 0, fmt.Errorf("zoo: recipe %q: batch size %d", r.Name, r.BatchSize)
	}
	batch = min(r.BatchSize, n)
	switch {
	case r.Steps > 0:
		steps = r.Steps
	case r.Epochs > 0:
		steps = r.Epochs * (n / batch)
	default:
		return 0, 0, fmt.Errorf("zoo: recipe %q: neither steps nor epochs set", r.Name)
	}
	if !(r.LR > 0) {
		return 0, 0, fmt.Errorf("zoo: recipe %q: learning rate %v", r.Name, r.LR)
	}
	if r.Augment && r.MaxShift < 0 {
		return 0, 0, fmt.Errorf("zoo: recipe %q: max shift %d", r.Name, r.MaxShift)
	}
	return steps, batch, nil
}

// configFor returns the model configuration with its model_type, for
// building from a recipe.
func (r Recipe) configFor() (map[string]any, error) {
	if r.Config == nil {
		return nil, fmt.Errorf("zoo: recipe %q has no model config", r.Name)
	}
	cfg := model.CloneConfig(r.Config)
	if _, ok := cfg["model_type"].(string); !ok {
		return nil, fmt.Errorf("zoo: recipe %q: config has no model_type", r.Name)
	}
	return cfg, nil
}
