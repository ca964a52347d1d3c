package transfer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/internal/memory"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// Models holds the three models of a transfer: the source base θ_A, the
// source fine-tune θ_A^ft and the target base θ_B.
type Models struct {
	SourceBase, SourceFinetuned, TargetBase model.Model
}

// Samples is a labelled set of model inputs: images [N, ...] and N labels.
type Samples struct {
	Inputs *tensor.Tensor[float32]
	Labels []int
	// SourceInputs, when set, are the source models' inputs for the same
	// samples: text tokenised by the source's own tokenizer, where it
	// differs from the target's. Rows then holds, for each sample, the
	// pairs of token positions (source, target) after which both have read
	// the same text (data.MatchTokens): the rows the statistics take.
	SourceInputs *tensor.Tensor[float32]
	Rows         [][]data.RowPair
}

// Len is the number of samples.
func (s Samples) Len() int { return len(s.Labels) }

// batch returns samples [i, j).
func (s Samples) batch(i, j int) Samples {
	out := Samples{Inputs: sliceSamples(s.Inputs, i, j), Labels: s.Labels[i:j]}
	if s.SourceInputs != nil {
		out.SourceInputs, out.Rows = sliceSamples(s.SourceInputs, i, j), s.Rows[i:j]
	}
	return out
}

// source returns the samples as the source models take them.
func (s Samples) source() Samples {
	if s.SourceInputs == nil {
		return s
	}
	return Samples{Inputs: s.SourceInputs, Labels: s.Labels}
}

// sliceSamples returns samples [i, j) of x, sharing its memory.
func sliceSamples(x *tensor.Tensor[float32], i, j int) *tensor.Tensor[float32] {
	per := x.Numel() / x.Shape[0]
	shape := append([]int{j - i}, x.Shape[1:]...)
	return tensor.FromSlice(x.Data[i*per:j*per], shape...)
}

// Needs says which statistics a method reads: the kind of rows behind its
// input-side and output-side maps, and whether it needs the target's
// parameter gradient.
type Needs struct {
	In, Out   []Kind
	ParamGrad bool
}

func (n Needs) merge(o Needs) Needs {
	return Needs{In: mergeKinds(n.In, o.In), Out: mergeKinds(n.Out, o.Out), ParamGrad: n.ParamGrad || o.ParamGrad}
}

func mergeKinds(a, b []Kind) []Kind {
	out := append([]Kind(nil), a...)
	for _, k := range b {
		if !hasKind(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func hasKind(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func (n Needs) grads() bool {
	return n.ParamGrad || hasKind(n.In, InputGrad) || hasKind(n.Out, OutputGrad)
}

// Prepared is the result of the expensive part of a transfer: the
// calibration pass over both models, with every statistic the requested
// methods read. One Prepared serves every α and every method whose needs it
// covers.
type Prepared struct {
	Models   Models
	Options  Options
	Needs    Needs
	Pairs    []SitePair
	Unpaired []model.Site // target sites with no source partner: no delta
	// Unchanged are the site pairs left out because the fine-tune did not
	// change their source parameters: their delta is zero, and they need
	// no statistics or maps (see splitUnchanged). Pairs holds the others.
	Unchanged []SitePair
	// BlockOf[j] is the source block paired with target block j.
	BlockOf []int
	// BlockCKA is the CKA between source (rows) and target (columns)
	// block outputs, when blocks were paired by CKA.
	BlockCKA [][]float64
	Stats    map[StatKey]*Stat
	// Head says which bases got the task's head before the pass (nil when
	// both bases have the fine-tuned source's labels); Models holds them.
	Head *NewHead
	// ParamGrad is the target's loss gradient summed over the calibration
	// batches, by parameter name (only when a method needs it).
	ParamGrad map[string]*tensor.Tensor[float32]
	Rows      int     // calibration samples seen
	Seconds   float64 // the calibration pass (all parts' passes, not their maps)
	// Parts is the number of calibration passes, each over all samples
	// for a part of the sites (PrepareInParts); 1 for Prepare.
	Parts int
	// Timing is where the methods' Delta calls have spent their time.
	Timing Timing

	maps map[StatKey]*Map // computed maps, by statistic
}

// Timing is where the cheap part of a transfer spends its time, in seconds
// of wall-clock time summed over calls: preparing the statistics' matrices
// (centring, whitening), computing their Procrustes maps (SVD or polar
// iteration) and transporting the delta with them.
type Timing struct {
	Statistics, Maps, Transport float64
}

// ForgetMaps drops the maps computed so far, so that the next Delta
// computes them again (after changing Options, or to time it).
func (p *Prepared) ForgetMaps() { p.maps = nil }

// Prepare runs the calibration pass: for every batch of calib it runs the
// source (base, or fine-tuned when Options.StatsFrom says so) and the target
// forward and, when a statistic needs gradients, backward, accumulating every
// statistic that needs asks for.
func Prepare(ctx context.Context, ms Models, calib Samples, needs Needs, opts Options) (*Prepared, error) {
	start := time.Now()
	p, err := plan(ctx, ms, calib, needs, opts)
	if err != nil {
		return nil, err
	}
	if err := p.collect(ctx, calib, p.Pairs, "calibration", adviceOnePass); err != nil {
		return nil, err
	}
	p.Seconds = time.Since(start).Seconds()
	return p, nil
}

// plan does what precedes the calibration pass: the task's pad token and
// head for the bases, the checks of the calibration samples, and the
// pairing of blocks and sites. The Prepared it returns has no statistics.
func plan(ctx context.Context, ms Models, calib Samples, needs Needs, opts Options) (*Prepared, error) {
	opts = opts.withDefaults()
	padTokens := TaskPadToken
	if calib.SourceInputs != nil {
		padTokens = SourcePadToken
	}
	ms, err := padTokens(ms)
	if err != nil {
		return nil, err
	}
	if err := checkCalib(ms, calib); err != nil {
		return nil, err
	}
	ms, head, err := taskHeads(ctx, ms, calib, opts)
	if err != nil {
		return nil, err
	}
	p := &Prepared{Models: ms, Options: opts, Needs: needs, Stats: map[StatKey]*Stat{}, Head: head}
	src := p.source()
	sitesA, sitesB := src.Sites(), ms.TargetBase.Sites()
	p.BlockOf = RelativeDepth(depth(sitesA), depth(sitesB))
	if opts.Pairing == PairCKA {
		if p.BlockCKA, err = BlockCKA(ctx, src, ms.TargetBase, calib, opts); err != nil {
			return nil, err
		}
		p.BlockOf = CKADepth(p.BlockCKA)
	}
	if p.Pairs, p.Unpaired, err = pairSites(sitesA, sitesB, p.BlockOf); err != nil {
		return nil, err
	}
	p.Pairs, p.Unchanged = splitUnchanged(ms, src, p.Pairs, opts.SharedQK)
	if err := checkVocabularies(p.Pairs, opts.Vocab); err != nil {
		return nil, err
	}
	if head == nil && allTied(p.Pairs) && identical(ms) {
		return nil, errors.New("the fine-tuned source is identical to the source base (every parameter is equal): its task vector is zero and there is nothing to transfer; check that the fine-tuned model is the fine-tune")
	}
	return p, nil
}

// source is the model the source statistics come from: the base, or the
// fine-tune when Options.StatsFrom says so.
func (p *Prepared) source() model.Model {
	if p.Options.StatsFrom == StatsFinetuned {
		return p.Models.SourceFinetuned
	}
	return p.Models.SourceBase
}

// collect runs the calibration pass over calib (progress reported as
// stage), accumulating into p.Stats, which it replaces, the statistics
// that the sites of pairs need, and the target's parameter gradient when
// p.Needs asks for it. Statistics that cannot fit are refused with advice
// (checkMemory).
func (p *Prepared) collect(ctx context.Context, calib Samples, pairs []SitePair, stage, advice string) error {
	src, tgt := p.source(), p.Models.TargetBase
	opts, needs := p.Options, p.Needs
	p.Stats = map[StatKey]*Stat{}
	rec := &sourceRecorder{want: map[string][]Kind{}, site: siteIndex(src.Sites()), rule: opts.Tokens}
	acc := &targetAccumulator{be: opts.Backend, want: map[string][]Kind{}, site: siteIndex(tgt.Sites()), rule: opts.Tokens, stats: map[rowKey][]*Stat{},
		prefix: [2]int{model.PrefixTokens(src), model.PrefixTokens(tgt)}}
	for _, sp := range pairs {
		p.addStats(sp, rec, acc)
	}
	if err := checkMemory(p.Stats, opts.Whiten > 0, memory.Available(), heapInUse(), advice); err != nil {
		return err
	}
	for _, s := range p.Stats {
		s.alloc(opts.Whiten > 0)
	}
	restoreA := freeze(src, false)
	restoreB := freeze(tgt, needs.ParamGrad)
	defer restoreA()
	defer restoreB()
	if err := runPasses(ctx, src, tgt, calib, rec, acc, needs.gradMode(), opts, stage); err != nil {
		return err
	}
	// The pass's buffers (one batch's activations, gradients and recorded
	// rows of both models: gigabytes for a language model) are garbage
	// now. Collected here, they are not still held when the maps allocate
	// theirs, which took a SmolLM2-sized transfer 3 GB above its live heap.
	runtime.GC()
	if needs.ParamGrad {
		p.ParamGrad = map[string]*tensor.Tensor[float32]{}
		for _, name := range tgt.ParamNames() {
			if g := tgt.Param(name).Grad; g != nil {
				p.ParamGrad[name] = g.Clone()
			}
		}
	}
	p.Rows = calib.Len()
	p.Parts = 1
	return nil
}

// runPasses runs the source a and the target b over calib, batch by batch:
// a with rec recording its rows, then b with acc multiplying its rows with
// them, forward and (with grads) backward. Progress is reported as stage.
func runPasses(ctx context.Context, a, b model.Model, calib Samples, rec *sourceRecorder, acc *targetAccumulator, grads gradMode, opts Options, stage string) error {
	bs := opts.BatchSize
	// Both models' passes take their buffers from one arena: after the
	// first batch the loop allocates (almost) nothing.
	arena := tensor.NewArena[float32]()
	for i := 0; i < calib.Len(); i += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := calib.batch(i, min(i+bs, calib.Len()))
		rec.reset()
		rec.pick, acc.pick = pickRows(a, b, batch)
		if err := pass(a, batch.source(), rec, grads, opts.Backend, arena); err != nil {
			return fmt.Errorf("source pass: %w", err)
		}
		acc.src, acc.seen = rec.rows, map[rowKey]bool{}
		if err := pass(b, batch, acc, grads, opts.Backend, arena); err != nil {
			return fmt.Errorf("target pass: %w", err)
		}
		if acc.err != nil {
			return acc.err
		}
		opts.progress(stage, min(i+bs, calib.Len()), calib.Len())
	}
	return nil
}

// addStats adds to p.Stats the statistics site pair sp needs (pairStats),
// once per pair of spaces (sites reading one tensor share it), and tells
// the recorders which rows to watch.
func (p *Prepared) addStats(sp SitePair, rec *sourceRecorder, acc *targetAccumulator) {
	for _, sk := range pairStats(sp, p.Needs) {
		k := sk.key.Kind
		rec.want[sp.A.Name] = mergeKinds(rec.want[sp.A.Name], []Kind{k})
		acc.want[sp.B.Name] = mergeKinds(acc.want[sp.B.Name], []Kind{k})
		if _, ok := p.Stats[sk.key]; ok {
			continue
		}
		s := &Stat{Key: sk.key, DA: sk.dA, DB: sk.dB} // its sums come after checkMemory
		p.Stats[sk.key] = s
		rk := rowKey{k, sk.key.B}
		acc.stats[rk] = append(acc.stats[rk], s)
	}
}

// checkVocabularies refuses, before the calibration pass, paired sites
// whose token side (an embedding table's ids, a language model's logits)
// has another vocabulary in the target, unless vocab (Options.Vocab) says
// which source token each target token is: those coordinates are tokens,
// not a space a map could align.
func checkVocabularies(pairs []SitePair, vocab []int) error {
	for _, sp := range pairs {
		a, b := sp.A.Out, sp.B.Out
		if sp.A.IsTable() {
			a, b = sp.A.In, sp.B.In
		} else if sp.A.OutSpace != "" {
			continue
		}
		if vocab == nil && a != b {
			return fmt.Errorf("vocabularies of %d and %d tokens at %s: the source and the target need one vocabulary, or a map between their tokens", a, b, sp.B.Name)
		}
		if vocab != nil && len(vocab) != b {
			return fmt.Errorf("the vocabulary map has %d tokens, the target's %s %d", len(vocab), sp.B.Name, b)
		}
		for j, i := range vocab {
			if i >= a {
				return fmt.Errorf("the vocabulary map gives target token %d the source token %d, beyond the source's %d at %s", j, i, a, sp.A.Name)
			}
		}
	}
	return nil
}

func siteIndex(sites []model.Site) map[string]model.Site {
	m := make(map[string]model.Site, len(sites))
	for _, s := range sites {
		m[s.Name] = s
	}
	return m
}

// freeze sets whether m's parameters collect gradients (and drops any they
// hold), returning a function that restores the previous setting.
func freeze(m model.Model, grads bool) func() {
	prev := map[string]bool{}
	for _, n := range m.ParamNames() {
		v := m.Param(n)
		prev[n] = v.NeedsGrad()
		v.SetNeedsGrad(grads)
		v.ZeroGrad()
	}
	return func() {
		for n, g := range prev {
			m.Param(n).SetNeedsGrad(g)
		}
	}
}

// gradMode says how far back a calibration pass computes gradients.
type gradMode int

const (
	// noGrads: a forward pass only.
	noGrads gradMode = iota
	// siteGrads: from the loss down to the lowest site whose output
	// gradient a statistic needs (autodiff.Tape.GradAtSites): below it
	// nothing needs one. Output gradients are exact; input gradients are
	// not, so statistics of input gradients take inputGrads.
	siteGrads
	// inputGrads: down to the input, a gradient-collecting leaf, so that
	// activation gradients flow everywhere even with frozen parameters.
	inputGrads
)

// gradsFromInput makes every pass with gradients run down to the input
// (tests compare it with siteGrads).
var gradsFromInput = false

// gradMode is how far back the calibration pass for n computes gradients.
func (n Needs) gradMode() gradMode {
	switch {
	case !n.grads():
		return noGrads
	case gradsFromInput || hasKind(n.In, InputGrad):
		return inputGrads
	}
	return siteGrads
}

// pass runs one model forward (and backward unless grads is noGrads) over
// one batch with obs watching its sites. The tape's buffers come from
// arena and go back to it.
func pass(m model.Model, b Samples, obs autodiff.Observer[float32], grads gradMode, be linalg.Backend, arena *tensor.Arena[float32]) error {
	t := autodiff.NewTape[float32](be)
	t.Arena = arena
	defer t.Release()
	t.Observer = obs
	t.NoGrad = grads == noGrads
	t.GradAtSites = grads == siteGrads
	in := autodiff.Const(b.Inputs)
	in.SetNeedsGrad(grads == inputGrads)
	logits := m.Forward(t, in)
	if grads != noGrads {
		loss := t.CrossEntropy(logits, model.Targets(m, b.Inputs, b.Labels))
		if f := loss.Value.FirstNonFinite(); f >= 0 {
			return fmt.Errorf("calibration loss is not finite")
		}
		t.Backward(loss)
	}
	return nil
}

// checkCalib validates the calibration samples against the models' heads.
func checkCalib(ms Models, calib Samples) error {
	if calib.Len() == 0 {
		return fmt.Errorf("the calibration set is empty")
	}
	if calib.Inputs == nil || calib.Inputs.Shape[0] != calib.Len() {
		return fmt.Errorf("calibration set: inputs and labels disagree in count")
	}
	if err := checkSourceInputs(calib); err != nil {
		return err
	}
	// A base whose labels differ from the fine-tuned source's gets the
	// task's head (taskHeads), so the labels must fit that head alone.
	if err := autodiff.CheckLabels(calib.Labels, ms.SourceFinetuned.NumLabels()); err != nil {
		return fmt.Errorf("calibration labels against the fine-tuned source's head: %w", err)
	}
	for _, m := range []struct {
		name string
		m    model.Model
		in   *tensor.Tensor[float32]
	}{{"source base", ms.SourceBase, calib.source().Inputs}, {"source fine-tuned", ms.SourceFinetuned, calib.source().Inputs}, {"target base", ms.TargetBase, calib.Inputs}} {
		if err := model.CheckInputs(m.m, m.in); err != nil {
			return fmt.Errorf("calibration inputs of shape %v do not fit the %s model: %w", m.in.Shape, m.name, err)
		}
	}
	return nil
}

// checkMemory refuses statistics that cannot fit: when their float64 sums
// and the memory already in use (the models) exceed what the machine has
// (available bytes; 0 when unknown), the pass would be killed for want of
// memory after the work before it. The error says how much they need and
// which spaces are the largest.
func checkMemory(stats map[StatKey]*Stat, gram bool, available, inUse int64, advice string) error {
	if available <= 0 {
		return nil
	}
	var total int64
	var largest *Stat
	for _, s := range stats {
		total += statBytes(s.DA, s.DB, gram)
		if largest == nil || s.DA*s.DB > largest.DA*largest.DB || (s.DA*s.DB == largest.DA*largest.DB && s.Key.String() < largest.Key.String()) {
			largest = s
		}
	}
	if total+inUse <= available {
		return nil
	}
	same := 0
	for _, s := range stats {
		if s.DA*s.DB == largest.DA*largest.DB {
			same++
		}
	}
	return fmt.Errorf("the calibration statistics need %s (%d statistics in float64; the largest, %d of them, are %d×%d, e.g. %s), and with the %s in use they exceed the %s this machine has: %s",
		gib(total), len(stats), same, largest.DA, largest.DB, largest.Key, gib(inUse), gib(available), advice)
}

// What checkMemory advises after one pass's statistics, and after one
// part's.
const (
	adviceOnePass = "use bico, whose statistics can be collected in parts (PrepareInParts; bico transfer --stat-memory), or a machine with more memory"
	adviceParts   = "a part holds at least one block, and this one's statistics need a machine with more memory"
)

// gib formats a byte count in GiB.
func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// heapInUse is the memory of the Go heap in use now (the models loaded).
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
