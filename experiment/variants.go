package experiment

import (
	"fmt"

	"github.com/bico-dev/bico/transfer"
)

// Variant is one ablation: a single change to the default transfer
// options.
type Variant struct {
	Name  string // e.g. "norms=diag"
	About string
	Apply func(*transfer.Options)
}

// Variants lists the ablations of the experiments, each one option away
// from the defaults of METHOD.md: token alignment, the norm-vector rule,
// the position-embedding rule, depth pairing, centring, partial whitening,
// the source model the statistics come from, a shared query/key output
// map, and a per-block α.
func Variants() []Variant {
	return []Variant{
		{"tokens=cls", "class-token rows only (default: every token, resampled when counts differ)", func(o *transfer.Options) { o.Tokens = transfer.TokensClass }},
		{"tokens=mean", "the mean over tokens as the only row per sample", func(o *transfer.Options) { o.Tokens = transfer.TokensMean }},
		{"norms=diag", "norm scales and shifts by the diagonal of Tᵀ·diag(Δγ)·T (default: mapped as vectors)", func(o *transfer.Options) { o.Norms = transfer.NormDiag }},
		{"norms=drop", "no delta for norm scales and shifts", func(o *transfer.Options) { o.Norms = transfer.NormDrop }},
		{"embeds=zero", "no delta for the class token and position embeddings (default: mapped)", func(o *transfer.Options) { o.Embeds = transfer.EmbedZero }},
		{"pairing=cka", "blocks paired by linear CKA of their outputs (default: relative depth)", func(o *transfer.Options) { o.Pairing = transfer.PairCKA }},
		{"center", "rows centred before the cross-covariances", func(o *transfer.Options) { o.Center = true }},
		{"whiten=0.25", "partial whitening p = 0.25", func(o *transfer.Options) { o.Whiten = 0.25 }},
		{"whiten=0.5", "full whitening p = 0.5", func(o *transfer.Options) { o.Whiten = 0.5 }},
		{"stats=finetuned", "source statistics from the fine-tuned source (default: the source base)", func(o *transfer.Options) { o.StatsFrom = transfer.StatsFinetuned }},
		{"shared-qk", "one output map for query and key", func(o *transfer.Options) { o.SharedQK = true }},
		{"block-alpha", "each block its own multiple of α, chosen on the held-out calibration part (default: one α)", func(o *transfer.Options) { o.BlockAlpha = true }},
	}
}

// VariantByName returns the ablation with the given name.
func VariantByName(name string) (Variant, error) {
	for _, v := range Variants() {
		if v.Name == name {
			return v, nil
		}
	}
	return Variant{}, fmt.Errorf("experiment: unknown ablation %q", name)
}
