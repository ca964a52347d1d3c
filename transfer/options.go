package transfer

import (
	"fmt"

	"github.com/bico-dev/bico/linalg"
)

// StatsSource says which source model the statistics are computed on.
type StatsSource string

const (
	// StatsBase computes source statistics on θ_A (the default).
	StatsBase StatsSource = "base"
	// StatsFinetuned computes them on θ_A^ft.
	StatsFinetuned StatsSource = "finetuned"
)

// NormRule says how norm scales and shifts are transported.
type NormRule string

const (
	// NormMap transports them as vectors with the map of the norm's output
	// space (the default).
	NormMap NormRule = "map"
	// NormDiag uses the diagonal of Tᵀ·diag(Δγ)·T.
	NormDiag NormRule = "diag"
	// NormDrop gives them no delta.
	NormDrop NormRule = "drop"
)

// EmbedRule says how the class token and position embeddings are
// transported.
type EmbedRule string

const (
	// EmbedMap transports them with the embedding's output map,
	// interpolating position tables when token counts differ (the default).
	EmbedMap EmbedRule = "map"
	// EmbedZero gives them no delta.
	EmbedZero EmbedRule = "zero"
)

// Options are the choices of a transfer. The zero value means every
// default of METHOD.md.
type Options struct {
	Backend   linalg.Backend
	BatchSize int         // calibration batch size (default 32)
	Tokens    TokenRule   // row correspondence when token counts differ
	StatsFrom StatsSource // which source model the statistics come from
	Center    bool        // centre rows before the cross-covariance
	// Whiten is the partial-whitening power p ∈ [0, 0.5]:
	// C ← (Σ aaᵀ)^(−p) C (Σ bbᵀ)^(−p). 0 (the default) disables it.
	Whiten float64
	Norms  NormRule
	Embeds EmbedRule
	// Polar computes maps by the Newton–Schulz polar iteration instead of
	// the SVD.
	Polar bool
	// Pairing pairs blocks of models of different depths.
	Pairing PairingRule
	// BlockAlpha gives every block its own multiple of α, chosen on the
	// held-out calibration loss after the global α (METHOD.md §7).
	BlockAlpha bool
	// SharedQK gives the query and key outputs of a block one map, from
	// the sum of their statistics (their product is what attention uses).
	SharedQK bool
	// Vocab, for a source and a target whose tokenizers differ, gives for
	// each of the target's token ids the source's id of the token that
	// stands for the same text, or −1 when the source has none. The rows
	// of a changed embedding table or language-model head move by it (a
	// token the source lacks gets no delta). Nil: one vocabulary.
	Vocab []int
	// Progress, when set, is told how far a stage has got.
	Progress func(stage string, done, total int)
}

func (o Options) withDefaults() Options {
	if o.Backend == nil {
		o.Backend = linalg.MustDefault()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 32
	}
	if o.Tokens == "" {
		o.Tokens = TokensResample
	}
	if o.StatsFrom == "" {
		o.StatsFrom = StatsBase
	}
	if o.Norms == "" {
		o.Norms = NormMap
	}
	if o.Embeds == "" {
		o.Embeds = EmbedMap
	}
	if o.Pairing == "" {
		o.Pairing = PairRelative
	}
	return o
}

func (o Options) progress(stage string, done, total int) {
	if o.Progress != nil {
		o.Progress(stage, done, total)
	}
}

// Validate reports the first option with a value bico does not know.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch o.Tokens {
	case TokensResample, TokensClass, TokensMean:
	default:
		return fmt.Errorf("token rule %q: want resample, cls or mean", o.Tokens)
	}
	switch o.StatsFrom {
	case StatsBase, StatsFinetuned:
	default:
		return fmt.Errorf("statistics source %q: want base or finetuned", o.StatsFrom)
	}
	switch o.Norms {
	case NormMap, NormDiag, NormDrop:
	default:
		return fmt.Errorf("norm rule %q: want map, diag or drop", o.Norms)
	}
	switch o.Embeds {
	case EmbedMap, EmbedZero:
	default:
		return fmt.Errorf("embedding rule %q: want map or zero", o.Embeds)
	}
	switch o.Pairing {
	case PairRelative, PairCKA:
	default:
		return fmt.Errorf("depth pairing %q: want relative or cka", o.Pairing)
	}
	if o.Whiten < 0 || o.Whiten > 0.5 {
		return fmt.Errorf("whitening power %g: want a value in [0, 0.5]", o.Whiten)
	}
	return nil
}
