package transfer

import (
	"github.com/bico-dev/bico/model"
)

// Site pairs the fine-tune left unchanged.
//
// Every method transports the task vector linearly: a site whose source
// weight and bias the fine-tune did not change (τ_A = 0 there) gets a zero
// delta whatever its maps. Partial fine-tunes leave most sites so: a merged
// LoRA on the attention projections, a new head on a frozen backbone, the
// last blocks only. Leaving such pairs out of the transfer saves their
// statistics (memory during the calibration pass) and their maps (an SVD
// each), and changes no delta, as long as no other parameter needs their
// maps. Two kinds do, and keep their pairs in:
//   - a changed vector (a norm's scale or shift, a position table) is moved
//     with the map of its space, which comes from the sites reading or
//     writing that space;
//   - with Options.SharedQK a block's query and key share one map made from
//     both sites' statistics.
//
// A tied site (a language model's output layer sharing the embedding
// table) is always kept.

// splitUnchanged returns the pairs the transfer must handle and those it
// can leave out because their delta is zero (see above), both in pairs'
// order. src is the model the statistics come from (its vectors name the
// spaces the way the pairs' source sites do).
func splitUnchanged(ms Models, src model.Model, pairs []SitePair, sharedQK bool) (kept, unchanged []SitePair) {
	changedSpace := map[string]bool{}
	for _, v := range src.Vectors() {
		if changed(ms, v.Name) {
			changedSpace[v.Space] = true
		}
	}
	keep := make([]bool, len(pairs))
	for i, sp := range pairs {
		keep[i] = sp.A.Tied || sp.B.Tied || changed(ms, sp.A.Weight) || changed(ms, sp.A.Bias) ||
			changedSpace[sp.A.InSpace] || changedSpace[sp.A.OutSpace]
	}
	if sharedQK {
		keepQKTogether(pairs, keep)
	}
	for i, sp := range pairs {
		if keep[i] {
			kept = append(kept, sp)
		} else {
			unchanged = append(unchanged, sp)
		}
	}
	return kept, unchanged
}

// keepQKTogether keeps a block's query and key pairs both when either is
// kept, since SharedQK maps them with their summed statistics.
func keepQKTogether(pairs []SitePair, keep []bool) {
	isQK := func(sp SitePair) bool { return sp.B.Role == "query" || sp.B.Role == "key" }
	blocks := map[int]bool{}
	for i, sp := range pairs {
		if keep[i] && isQK(sp) {
			blocks[sp.B.Block] = true
		}
	}
	for i, sp := range pairs {
		if isQK(sp) && blocks[sp.B.Block] {
			keep[i] = true
		}
	}
}

// changed reports whether the fine-tune changed source parameter name: an
// element of θ_A^ft differs from θ_A's (NaN counts as a change), or the
// parameter is new in the fine-tune or has another shape there. An empty
// name (a site without a bias) is unchanged. A parameter missing from the
// fine-tune counts as changed, so that transport reports it.
func changed(ms Models, name string) bool {
	if name == "" {
		return false
	}
	ft := ms.SourceFinetuned.Param(name)
	base := ms.SourceBase.Param(name)
	if ft == nil || base == nil || len(ft.Value.Data) != len(base.Value.Data) {
		return true
	}
	b := base.Value.Data
	for i, v := range ft.Value.Data {
		if v != b[i] {
			return true
		}
	}
	return false
}

// identical reports whether the fine-tuned source has exactly the source
// base's parameters.
func identical(ms Models) bool {
	names := ms.SourceFinetuned.ParamNames()
	if len(names) != len(ms.SourceBase.ParamNames()) {
		return false
	}
	for _, name := range names {
		if changed(ms, name) {
			return false
		}
	}
	return true
}

// allTied reports whether every pair (none included) is of tied sites,
// which splitUnchanged keeps whether or not the fine-tune changed them.
func allTied(pairs []SitePair) bool {
	for _, sp := range pairs {
		if !sp.A.Tied && !sp.B.Tied {
			return false
		}
	}
	return true
}
