package transfer

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/bico-dev/bico/internal/memory"
)

// PrepareInParts is Prepare followed by method's Delta, for a transfer
// whose statistics may not fit in memory at once. The target's sites are
// split, in order and whole blocks at a time, into parts whose statistics
// take at most maxBytes each (a block larger than that is a part of its
// own); each part has a calibration pass of its own, collecting only its
// statistics, and its maps and transport are done, and its statistics
// dropped, before the next part's pass. The delta is the one Prepare and
// Delta give, at the price of one calibration pass per part.
//
// maxBytes 0 chooses the parts from the memory the machine has: a third of
// what the process does not use yet (the rest is for the maps and the
// pass's buffers), one part when every statistic fits in it. A negative
// maxBytes means one part.
//
// It returns the Prepared (without statistics; Parts says how many passes
// there were) and a Method that gives the computed delta, for Finish to
// choose α with. Its maps carry their quality but not their matrices. A
// method with settings chosen on held-out samples (Tunable, bico-blend)
// needs every statistic for every setting and is refused.
func PrepareInParts(ctx context.Context, ms Models, calib Samples, method Method, opts Options, maxBytes int64) (*Prepared, Method, error) {
	if _, ok := method.(Tunable); ok {
		return nil, nil, fmt.Errorf("%s chooses a setting on held-out samples from every statistic at once, which a transfer in parts does not keep: use bico", method.Name())
	}
	start := time.Now()
	p, err := plan(ctx, ms, calib, method.Needs(), opts)
	if err != nil {
		return nil, nil, err
	}
	all := p.Pairs
	if maxBytes == 0 {
		maxBytes = autoPartBytes(memory.Available(), heapInUse())
	}
	parts := splitPairs(all, p.Needs, p.Options.Whiten > 0, maxBytes)
	progress := p.Options.Progress
	defer func() { p.Options.Progress = progress }()
	delta := Delta{}
	tied := map[string]bool{} // a table an lm_head of the target shares
	for _, s := range ms.TargetBase.Sites() {
		if s.Tied {
			tied[s.Weight] = true
		}
	}
	var maps []*Map
	var deltaSeconds float64
	for i, part := range parts {
		if progress != nil && len(parts) > 1 {
			label := fmt.Sprintf("part %d/%d: ", i+1, len(parts))
			p.Options.Progress = func(stage string, done, total int) { progress(label+stage, done, total) }
		}
		if err := p.collect(ctx, calib, part, "calibration", adviceParts); err != nil {
			return nil, nil, fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
		}
		p.Pairs = part
		deltaStart := time.Now()
		d, used, err := method.Delta(p)
		if err != nil {
			return nil, nil, fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
		}
		deltaSeconds += time.Since(deltaStart).Seconds()
		for name, t := range d {
			if tied[name] {
				addDelta(delta, name, t) // the table's and the lm_head's parts
			} else {
				delta[name] = t
			}
		}
		for _, m := range used {
			stripped := *m
			stripped.T = nil
			maps = append(maps, &stripped)
		}
		p.Stats, p.Pairs = map[StatKey]*Stat{}, all
		p.ForgetMaps()
		runtime.GC()
	}
	p.Parts = len(parts)
	p.Seconds = time.Since(start).Seconds() - deltaSeconds
	return p, computed{name: method.Name(), delta: delta, maps: maps, seconds: deltaSeconds}, nil
}

// autoPartBytes is the statistics' share of memory when PrepareInParts
// chooses the parts: a third of the available bytes the process does not
// use yet; no limit when the available memory is unknown.
func autoPartBytes(available, inUse int64) int64 {
	if available <= 0 {
		return -1
	}
	return max(1, (available-inUse)/3)
}

// computed is a Method whose delta was computed before: PrepareInParts's,
// which spent seconds on its maps and transport (Finish reports them as
// Result.DeltaSeconds; Prepared.Seconds leaves them out).
type computed struct {
	name    string
	delta   Delta
	maps    []*Map
	seconds float64
}

func (c computed) Name() string                           { return c.name }
func (c computed) Needs() Needs                           { return Needs{} }
func (c computed) Delta(*Prepared) (Delta, []*Map, error) { return c.delta, c.maps, nil }

// splitPairs splits pairs, in order, into runs whose statistics (of the
// kinds needs names, with Gram matrices when gram is set) take at most
// maxBytes each. A run never splits a target block, so that a block's
// combined maps (the shared query–key map) find their statistics; a block
// above maxBytes is a run of its own. maxBytes ≤ 0 means one run.
func splitPairs(pairs []SitePair, needs Needs, gram bool, maxBytes int64) [][]SitePair {
	if maxBytes <= 0 {
		return [][]SitePair{pairs}
	}
	var runs [][]SitePair
	var cur []SitePair
	seen := map[StatKey]bool{}
	var bytes int64
	for i := 0; i < len(pairs); {
		// The next unit: one block's consecutive sites, or one site
		// outside the blocks.
		j := i + 1
		for b := pairs[i].B.Block; b >= 0 && j < len(pairs) && pairs[j].B.Block == b; j++ {
		}
		unit := pairs[i:j]
		var add int64
		fresh := map[StatKey]bool{}
		for _, sp := range unit {
			for _, k := range pairStats(sp, needs) {
				if !seen[k.key] && !fresh[k.key] {
					fresh[k.key] = true
					add += statBytes(k.dA, k.dB, gram)
				}
			}
		}
		if len(cur) > 0 && bytes+add > maxBytes {
			runs = append(runs, cur)
			cur, seen, bytes = nil, map[StatKey]bool{}, 0
			continue // count the unit again against the new run
		}
		cur = append(cur, unit...)
		for k := range fresh {
			seen[k] = true
		}
		bytes += add
		i = j
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// sizedKey is a statistic's key with its widths.
type sizedKey struct {
	key    StatKey
	dA, dB int
}

// pairStats lists the statistics a site pair needs: one of each kind needs
// names, between the paired sites' spaces on that side. A side without a
// space (an embedding table's token ids, a language model's vocabulary
// logits) has none: its map is the identity.
func pairStats(sp SitePair, needs Needs) []sizedKey {
	var out []sizedKey
	side := func(kinds []Kind, dA, dB int) {
		for _, k := range kinds {
			a, b := spaceOf(sp.A, k), spaceOf(sp.B, k)
			if a != "" && b != "" {
				out = append(out, sizedKey{StatKey{Kind: k, A: a, B: b}, dA, dB})
			}
		}
	}
	side(needs.In, sp.A.In, sp.B.In)
	side(needs.Out, sp.A.Out, sp.B.Out)
	return out
}
