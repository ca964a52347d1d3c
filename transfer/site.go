package transfer

import "fmt"

// siteChoice is BiCo with each site's output map chosen, site by site,
// between the map of its output gradients (bico's) and that of its output
// activations (Theseus's): whichever aligns its own rows better
// (Map.Alignment). This is METHOD.md §7's per-site choice. Nothing is
// tuned on the held-out samples but α.
type siteChoice struct{}

func init() { Register(siteChoice{}) }

// siteTieMargin is how much better the activations' map must align to be
// chosen over the gradients': below it the two are equal up to float32
// rounding (on an exact copy both align at 1, and only the gradients' map
// is unique where an expansion leaves the activations rank-deficient).
const siteTieMargin = 1e-6

func (siteChoice) Name() string { return "bico-site" }

func (siteChoice) Needs() Needs {
	return Needs{In: []Kind{InputAct}, Out: []Kind{OutputGrad, OutputAct}}
}

func (s siteChoice) Delta(p *Prepared) (Delta, []*Map, error) {
	if p.Options.SharedQK {
		return nil, nil, fmt.Errorf("%s: the shared query–key map is not supported (use bico or bico-blend)", s.Name())
	}
	grads, err := p.Maps(InputAct, OutputGrad)
	if err != nil {
		return nil, nil, err
	}
	acts, err := p.Maps(InputAct, OutputAct)
	if err != nil {
		return nil, nil, err
	}
	return p.transportAll(s.Name(), func(sp SitePair) (*Map, *Map, error) {
		in := grads[StatKey{InputAct, sp.A.InSpace, sp.B.InSpace}]
		out := grads[StatKey{OutputGrad, sp.A.OutSpace, sp.B.OutSpace}]
		if a := acts[StatKey{OutputAct, sp.A.OutSpace, sp.B.OutSpace}]; a != nil && (out == nil || a.Alignment > out.Alignment+siteTieMargin) {
			out = a
		}
		return in, out, nil
	})
}
