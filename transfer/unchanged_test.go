package transfer

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
)

// partialFineTune returns a with the parameters named in changed taken
// from aft: a fine-tune that left every other parameter as it was.
func partialFineTune(t *testing.T, a, aft model.Model, changed ...string) model.Model {
	t.Helper()
	ps := params{}
	for _, n := range a.ParamNames() {
		ps[n] = a.Param(n).Value.Clone()
	}
	for _, n := range changed {
		if aft.Param(n) == nil {
			t.Fatalf("no parameter %q", n)
		}
		ps[n] = aft.Param(n).Value.Clone()
	}
	m, err := model.WithParams(a, ps)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// allPairs prepares like Prepare but keeps every site pair, unchanged or
// not: the transfer as it was before unchanged pairs were left out.
func allPairs(t *testing.T, ms Models, calib Samples, needs Needs, opts Options) *Prepared {
	t.Helper()
	p, err := plan(context.Background(), ms, calib, needs, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := p.source()
	if p.Pairs, _, err = pairSites(src.Sites(), p.Models.TargetBase.Sites(), p.BlockOf); err != nil {
		t.Fatal(err)
	}
	p.Unchanged = nil
	if err := p.collect(context.Background(), calib, p.Pairs, "calibration", adviceOnePass); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnchangedSitesLeftOut: a fine-tune that changed one query projection
// and one LayerNorm scale. The transfer leaves out the pairs whose delta
// is zero, keeps the query's and those reading the changed norm's output
// (the norm is moved with their map), collects fewer statistics, and gives
// the same delta as the transfer of every pair, for BiCo and, with shared
// query-key maps, for the key as well.
func TestUnchangedSitesLeftOut(t *testing.T) {
	// B unrelated to A, so that each map depends on its statistics.
	a, aftFull, _, _ := permutedViT(t)
	b := tinyViT(t, 7)
	const query = "vit.encoder.layer.1.attention.attention.query"
	const norm = "vit.encoder.layer.0.layernorm_after"
	aft := partialFineTune(t, a, aftFull, query+".weight", query+".bias", norm+".weight")
	calib := randomSamples(32, 3, 9, 1, 8, 8)
	ms := Models{a, aft, b}
	bico, _ := Lookup("bico")
	for _, c := range []struct {
		name string
		opts Options
		kept []string // target sites that must be kept
	}{
		{"default", Options{}, []string{query, "vit.encoder.layer.0.intermediate.dense"}},
		{"shared-qk", Options{SharedQK: true}, []string{query, "vit.encoder.layer.1.attention.attention.key", "vit.encoder.layer.0.intermediate.dense"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			opts.Backend, opts.BatchSize = linalg.MustDefault(), 16
			p, err := Prepare(context.Background(), ms, calib, bico.Needs(), opts)
			if err != nil {
				t.Fatal(err)
			}
			full := allPairs(t, ms, calib, bico.Needs(), opts)
			if len(p.Unchanged) == 0 || len(p.Pairs)+len(p.Unchanged) != len(full.Pairs) {
				t.Fatalf("%d pairs kept and %d left out, of %d", len(p.Pairs), len(p.Unchanged), len(full.Pairs))
			}
			for _, name := range c.kept {
				if !hasPair(p.Pairs, name) {
					t.Errorf("pair of %s left out", name)
				}
			}
			if len(p.Stats) >= len(full.Stats) {
				t.Errorf("%d statistics collected, as many as with every pair (%d)", len(p.Stats), len(full.Stats))
			}
			got, err := Finish(context.Background(), p, bico, Samples{}, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Finish(context.Background(), full, bico, Samples{}, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			nonzero := 0
			for name, w := range want.Delta {
				g, ok := got.Delta[name]
				if !ok {
					if d := maxAbs(w.Data); d != 0 {
						t.Errorf("%s: left out, but its delta is %g", name, d)
					}
					continue
				}
				nonzero++
				if e := relErr(g, w); e > 1e-6 {
					t.Errorf("%s: delta differs from the transfer of every pair by %.3g", name, e)
				}
			}
			if nonzero == 0 {
				t.Error("no delta in common")
			}
		})
	}
}

// TestIdenticalFineTuneRefused: a "fine-tune" equal to its base has a zero
// task vector; the transfer says so before the calibration pass.
func TestIdenticalFineTuneRefused(t *testing.T) {
	a, _, b, _ := permutedViT(t)
	bico, _ := Lookup("bico")
	_, err := Prepare(context.Background(), Models{a, a, b}, randomSamples(8, 3, 9, 1, 8, 8), bico.Needs(), Options{Backend: linalg.MustDefault()})
	if err == nil || !strings.Contains(err.Error(), "identical to the source base") {
		t.Fatalf("got %v, want the identical-models error", err)
	}
	// A language model with tied embeddings, whose tied lm_head pair is
	// always kept, too.
	lm := tinyCausalLlama(t, true)
	_, err = Prepare(context.Background(), Models{lm, lm, perturbed(t, lm, 3, 0.05)}, tokenSamples(8, 6, 20, 1, 9), bico.Needs(), Options{Backend: linalg.MustDefault()})
	if err == nil || !strings.Contains(err.Error(), "identical to the source base") {
		t.Fatalf("tied language model: got %v, want the identical-models error", err)
	}
}

func hasPair(pairs []SitePair, target string) bool {
	for _, sp := range pairs {
		if sp.B.Name == target {
			return true
		}
	}
	return false
}

func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestSiteGradsMatchInputGrads: stopping the backward pass below the lowest
// site whose output gradient a statistic needs gives the same statistics
// as running it down to the input, for a ViT fine-tune that changed only
// its last block's MLP and its head, a full ViT fine-tune, and a Llama
// (whose embedding table's output gradient is observed through
// Tape.Output).
func TestSiteGradsMatchInputGrads(t *testing.T) {
	a, aftFull, b, _ := permutedViT(t)
	partial := partialFineTune(t, a, aftFull, "vit.encoder.layer.1.intermediate.dense.weight", "vit.encoder.layer.1.output.dense.weight", "classifier.weight", "classifier.bias")
	la, lb := tinyLlamaOf(t, "llama", 1), tinyLlamaOf(t, "llama", 7)
	cases := []struct {
		name  string
		ms    Models
		calib Samples
	}{
		{"vit partial", Models{a, partial, b}, randomSamples(16, 3, 9, 1, 8, 8)},
		{"vit full", Models{a, aftFull, b}, randomSamples(16, 3, 9, 1, 8, 8)},
		{"llama", Models{la, perturbed(t, la, 2, 0.05), lb}, tokenSamples(16, 6, 20, 3, 9)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range []string{"bico", "theseus"} {
				m, _ := Lookup(name)
				opts := Options{Backend: linalg.MustDefault(), BatchSize: 8}
				got, err := Prepare(context.Background(), c.ms, c.calib, m.Needs(), opts)
				if err != nil {
					t.Fatal(err)
				}
				gradsFromInput = true
				want, err := Prepare(context.Background(), c.ms, c.calib, m.Needs(), opts)
				gradsFromInput = false
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Stats) != len(want.Stats) || len(got.Stats) == 0 {
					t.Fatalf("%s: %d statistics, want %d", name, len(got.Stats), len(want.Stats))
				}
				for k, w := range want.Stats {
					g := got.Stats[k]
					if g == nil || g.Rows != w.Rows || maxDiff(g.C, w.C) > 1e-12*(1+maxAbs64(w.C)) || maxDiff(g.SumB, w.SumB) > 1e-12*(1+maxAbs64(w.SumB)) {
						t.Errorf("%s: statistic %s differs when the backward pass stops at the sites", name, k)
					}
				}
			}
		})
	}
}

func maxAbs64(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}

// TestHeadVector: a head norm's delta (shared by 3 heads of width 4) moved
// with a map that permutes whole heads comes back unchanged, as a vector
// and by the diagonal rule; with a map that also permutes each head's
// coordinates the same way, it comes back permuted; widths that do not
// divide the map are refused.
func TestHeadVector(t *testing.T) {
	tau := []float32{0.5, -1, 2, 0.25}
	heads, within := []int{2, 0, 1}, []int{3, 1, 0, 2}
	for _, c := range []struct {
		name string
		perm []int // within-head permutation
	}{{"heads", []int{0, 1, 2, 3}}, {"heads and coordinates", within}} {
		// T maps source coordinate h·4+j to target heads[h]·4+perm[j].
		m := &Map{DA: 12, DB: 12, T: make([]float64, 144)}
		for h := range 3 {
			for j := range 4 {
				m.T[(h*4+j)*12+heads[h]*4+c.perm[j]] = 1
			}
		}
		for _, diag := range []bool{false, true} {
			got, err := headVector(linalg.Go(), tau, m, 4, diag)
			if err != nil {
				t.Fatal(err)
			}
			for j := range 4 {
				if want := float64(tau[j]); math.Abs(got[c.perm[j]]-want) > 1e-12 {
					t.Errorf("%s, diag %v: %v, want tau %v moved by the within-head permutation", c.name, diag, got, tau)
					break
				}
			}
		}
	}
	if _, err := headVector(linalg.Go(), append(tau, 1), &Map{DA: 12, DB: 12, T: make([]float64, 144)}, 4, false); err == nil {
		t.Error("a head norm of width 5 for 12 outputs was accepted")
	}
}
