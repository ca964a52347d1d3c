package transfer

import (
	"fmt"
	"sort"
	"time"

	"github.com/bico-dev/bico/tensor"
)

// Method is a way to turn a prepared calibration pass into a delta for the
// target. Methods are registered by name; a new method is one file.
type Method interface {
	// Name is the method's registry name.
	Name() string
	// Needs says which statistics Prepare must collect for it.
	Needs() Needs
	// Delta computes ΔB from p, with a report of the maps it used.
	Delta(p *Prepared) (Delta, []*Map, error)
}

var methods = map[string]Method{}

// Register makes a method available by its name.
func Register(m Method) {
	if _, dup := methods[m.Name()]; dup {
		panic("transfer: method " + m.Name() + " registered twice")
	}
	methods[m.Name()] = m
}

// Lookup returns the named method.
func Lookup(name string) (Method, error) {
	m, ok := methods[name]
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %v)", name, Methods())
	}
	return m, nil
}

// Methods lists the registered method names.
func Methods() []string {
	var out []string
	for n := range methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func init() {
	Register(bilinear{name: "bico", in: InputAct, out: OutputGrad})
	Register(bilinear{name: "bico-grad", in: InputGrad, out: OutputGrad})
	Register(bilinear{name: "theseus", in: InputAct, out: OutputAct})
	Register(naive{})
	Register(gradfix{})
}

// bilinear transports every site's delta with an input-side and an
// output-side Procrustes map, each from one kind of statistic (METHOD.md
// section 3): bico reads input activations and output gradients, bico-grad
// gradients on both sides, theseus activations on both sides.
type bilinear struct {
	name    string
	in, out Kind
}

func (b bilinear) Name() string { return b.name }

func (b bilinear) Needs() Needs { return Needs{In: []Kind{b.in}, Out: []Kind{b.out}} }

func (b bilinear) Delta(p *Prepared) (Delta, []*Map, error) {
	maps, err := p.Maps(b.in, b.out)
	if err != nil {
		return nil, nil, err
	}
	if p.Options.SharedQK {
		var shared []combo
		for _, sp := range p.Pairs {
			if c, ok := p.sharedQKCombo(sp, map[Kind]float64{b.out: 1}); ok {
				shared = append(shared, c)
			}
		}
		if err := p.combinedMaps(shared); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return p.transportAll(b.name, func(sp SitePair) (*Map, *Map, error) {
		in := maps[StatKey{b.in, sp.A.InSpace, sp.B.InSpace}]
		out := maps[StatKey{b.out, sp.A.OutSpace, sp.B.OutSpace}]
		if p.Options.SharedQK {
			shared, err := p.sharedQKMap(sp, b.out)
			if err != nil || shared != nil {
				return in, shared, err
			}
		}
		return in, out, nil
	})
}

// transportAll moves every paired site's delta with the input and output
// maps choose gives it, then every vector parameter with the map of its
// space, and returns the delta with the maps used.
func (p *Prepared) transportAll(method string, choose func(sp SitePair) (in, out *Map, err error)) (Delta, []*Map, error) {
	start := time.Now()
	defer func() { p.Timing.Transport += time.Since(start).Seconds() }()
	bySpace := map[string]spaceMap{}
	seen := map[*Map]bool{}
	var used []*Map
	note := func(space, source string, m *Map) {
		if m == nil {
			return
		}
		bySpace[space] = spaceMap{source, m}
		if !seen[m] {
			seen[m] = true
			used = append(used, m)
		}
	}
	delta := Delta{}
	for _, sp := range p.Pairs {
		in, out, err := choose(sp)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: site %s: %w", method, sp.B.Name, err)
		}
		note(sp.B.InSpace, sp.A.InSpace, in)
		note(sp.B.OutSpace, sp.A.OutSpace, out)
		if err := p.transportSite(sp, in, out, delta); err != nil {
			return nil, nil, fmt.Errorf("%s: site %s: %w", method, sp.B.Name, err)
		}
	}
	if err := p.transportVectors(bySpace, delta); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", method, err)
	}
	sort.Slice(used, func(i, j int) bool { return used[i].Key.String() < used[j].Key.String() })
	return delta, used, nil
}

// Maps computes (once, then from cache) the Procrustes maps of the
// statistics of the given input-side and output-side kinds.
func (p *Prepared) Maps(in, out Kind) (map[StatKey]*Map, error) {
	if p.maps == nil {
		p.maps = map[StatKey]*Map{}
	}
	res := map[StatKey]*Map{}
	var keys []StatKey
	for k := range p.Stats {
		if k.Kind == in || k.Kind == out {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		if len(p.Pairs) == 0 {
			return res, nil // every pair left out as unchanged: nothing to map
		}
		return nil, fmt.Errorf("no %s or %s statistics were collected; prepare with this method's needs", in, out)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	var todo []StatKey
	for _, k := range keys {
		if _, ok := p.maps[k]; !ok {
			todo = append(todo, k)
		}
	}
	cached := len(keys) - len(todo)
	computed, err := computeMaps(p.Options.Backend, p.Stats, todo, p.Options, &p.Timing, func(n int) {
		p.Options.progress("maps", cached+n, len(keys))
	})
	if err != nil {
		return nil, err
	}
	for k, m := range computed {
		p.maps[k] = m
	}
	for _, k := range keys {
		res[k] = p.maps[k]
	}
	if len(todo) == 0 {
		p.Options.progress("maps", len(keys), len(keys))
	}
	return res, nil
}

// naive is task arithmetic: θ_B + α·τ_A, for models of identical shapes.
type naive struct{}

func (naive) Name() string { return "naive" }
func (naive) Needs() Needs { return Needs{} }

func (naive) Delta(p *Prepared) (Delta, []*Map, error) {
	delta := Delta{}
	err := sameShapes(p, "naive", func(name string, tau *tensor.Tensor[float32]) {
		delta[name] = tau
	})
	return delta, nil, err
}

// sameShapes calls fn with τ_A for every parameter of the target, after
// checking that source and target have identical parameter shapes.
func sameShapes(p *Prepared, method string, fn func(name string, tau *tensor.Tensor[float32])) error {
	tgt := p.Models.TargetBase
	for _, name := range tgt.ParamNames() {
		src := p.Models.SourceFinetuned.Param(name)
		if src == nil {
			return fmt.Errorf("%s needs models of the same shape: the source has no parameter %q", method, name)
		}
		if want := tgt.Param(name).Value.Shape; !tensor.SameShape(src.Value.Shape, want) {
			return fmt.Errorf("%s needs models of the same shape: parameter %q is %v in the source and %v in the target", method, name, src.Value.Shape, want)
		}
	}
	for _, name := range p.Models.SourceFinetuned.ParamNames() {
		if tgt.Param(name) == nil {
			return fmt.Errorf("%s needs models of the same shape: the target has no parameter %q", method, name)
		}
	}
	for _, name := range tgt.ParamNames() {
		tau, err := taskVector(p.Models, name)
		if err != nil {
			return err
		}
		fn(name, tau)
	}
	return nil
}

// gradfix keeps the coordinates of τ_A whose sign agrees with the target's
// descent direction −∇L(θ_B) on the calibration set (the vote is the sign
// of the summed gradient): θ_B + α·(m ⊙ τ_A).
type gradfix struct{}

func (gradfix) Name() string { return "gradfix" }
func (gradfix) Needs() Needs { return Needs{ParamGrad: true} }

func (gradfix) Delta(p *Prepared) (Delta, []*Map, error) {
	if p.ParamGrad == nil {
		return nil, nil, fmt.Errorf("gradfix: the calibration pass did not collect the target's gradient")
	}
	delta := Delta{}
	err := sameShapes(p, "gradfix", func(name string, tau *tensor.Tensor[float32]) {
		g := p.ParamGrad[name]
		for i, v := range tau.Data {
			if g == nil || v*g.Data[i] >= 0 {
				tau.Data[i] = 0 // keep only where sign(τ) = sign(−∇L)
			}
		}
		delta[name] = tau
	})
	return delta, nil, err
}
