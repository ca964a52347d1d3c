package transfer

import (
	"context"
	"slices"
	"testing"

	"github.com/bico-dev/bico/linalg"
)

// TestSiteChoicePicksBetterAligned: against an unrelated target, bico-site
// transports each site's output with whichever of its two output maps
// aligns better, and the choice goes both ways on this pair.
func TestSiteChoicePicksBetterAligned(t *testing.T) {
	a := tinyViT(t, 1)
	aft := perturbed(t, a, 2, 0.05)
	b := tinyViT(t, 3)
	opts := Options{Backend: linalg.MustDefault(), BatchSize: 16}
	p, err := Prepare(context.Background(), Models{a, aft, b}, randomSamples(64, 3, 9, 1, 8, 8), siteChoice{}.Needs(), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, used, err := siteChoice{}.Delta(p)
	if err != nil {
		t.Fatal(err)
	}
	grads, _ := p.Maps(InputAct, OutputGrad)
	acts, _ := p.Maps(InputAct, OutputAct)
	chose := map[Kind]int{}
	for _, sp := range p.Pairs {
		g := grads[StatKey{OutputGrad, sp.A.OutSpace, sp.B.OutSpace}]
		act := acts[StatKey{OutputAct, sp.A.OutSpace, sp.B.OutSpace}]
		want, other := g, act
		if act.Alignment > g.Alignment+siteTieMargin {
			want, other = act, g
		}
		if !slices.Contains(used, want) || slices.Contains(used, other) {
			t.Errorf("%s: alignments %.4f (gradients) and %.4f (activations); the delta did not use the better map alone", sp.B.Name, g.Alignment, act.Alignment)
		}
		chose[want.Key.Kind]++
	}
	if chose[OutputGrad] == 0 || chose[OutputAct] == 0 {
		t.Errorf("choices %v: want both kinds chosen on this pair", chose)
	}
}
