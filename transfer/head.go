package transfer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// A fine-tune usually replaces the pre-trained head with one for the task's
// classes, and a new base version comes with its own pre-training head. The
// calibration loss needs the task's head on both bases (METHOD.md §3, step
// 2), so when a base's labels differ from the fine-tuned source's, Prepare
// first gives it one (and so to a base without a trained head, whose head
// weight is all zeros):
//
//   - the source base gets the fine-tuned source's head, weight and bias;
//   - the target base gets the source's task head in its own coordinates,
//     W·T and b, where T is the Procrustes map of the head's input
//     statistic, accumulated in a forward pass of both bases over the
//     calibration set. The classes are the same coordinates on both sides,
//     so the output side needs no map.
//
// A task head may have layers before the head site (model.TaskHeader:
// RoBERTa's classifier.dense): only the first is mapped; the layers after
// it read the first's outputs, the task's own coordinates (see mappedHead).
//
// Every method then starts from these bases: the source's head has no task
// vector, and the transferred model carries the mapped head and the
// fine-tuned source's labels.

// NewHead describes the task heads Prepare gave the bases.
type NewHead struct {
	// Labels are the task's classes, the fine-tuned source's.
	Labels []string
	// SourceBase and TargetBase say which bases got a task head (those
	// whose own labels differed).
	SourceBase, TargetBase bool
	// Map is the target head's input map, when the target got a head.
	Map *Map
	// Seconds is the time of the forward pass and the map.
	Seconds float64
}

// sameLabels reports whether a's and b's heads have the same classes, by
// name and order.
func sameLabels(a, b model.Model) bool {
	la, errA := model.Labels(a.Config())
	lb, errB := model.Labels(b.Config())
	return errA == nil && errB == nil && slices.Equal(la, lb)
}

// zeroHead reports whether m's head weight is all zeros: no trained head
// (model.LoadOptions.MissingHead gives a checkpoint without one such a head).
func zeroHead(m model.Model) bool {
	h, ok := model.HeadSite(m)
	if !ok {
		return false
	}
	for _, v := range m.Param(h.Weight).Value.Data {
		if v != 0 {
			return false
		}
	}
	return true
}

// TaskPadToken returns ms with the fine-tuned source's pad_token_id on both
// bases: the pad token belongs to the task (its data is padded with it, and
// a sequence classifier reads the last token before it). A base model
// often names none. ms is returned as it is when the fine-tune names none.
func TaskPadToken(ms Models) (Models, error) {
	ms, err := SourcePadToken(ms)
	if err != nil {
		return ms, err
	}
	if id := model.PadTokenID(ms.SourceFinetuned); id >= 0 {
		if ms.TargetBase, err = model.WithPadToken(ms.TargetBase, id); err != nil {
			return ms, fmt.Errorf("the target base with the task's pad token: %w", err)
		}
	}
	return ms, nil
}

// SourcePadToken is TaskPadToken for the source base alone: when the
// target reads the text in tokens of its own (Samples.SourceInputs), its
// pad token is its tokenizer's, not the fine-tune's.
func SourcePadToken(ms Models) (Models, error) {
	id := model.PadTokenID(ms.SourceFinetuned)
	if id < 0 {
		return ms, nil
	}
	var err error
	if ms.SourceBase, err = model.WithPadToken(ms.SourceBase, id); err != nil {
		return ms, fmt.Errorf("the source base with the task's pad token: %w", err)
	}
	return ms, nil
}

// taskHeads returns ms with the task's head on each base whose labels
// differ from the fine-tuned source's (see NewHead), and what it did; ms
// itself and nil when both bases already have the task's labels.
func taskHeads(ctx context.Context, ms Models, calib Samples, opts Options) (Models, *NewHead, error) {
	ft := ms.SourceFinetuned
	if _, lm := ft.(model.TargetMaker); lm {
		return ms, nil, nil // a language model's head is the vocabulary's
	}
	needA := !sameLabels(ms.SourceBase, ft) || zeroHead(ms.SourceBase)
	needB := !sameLabels(ms.TargetBase, ft) || zeroHead(ms.TargetBase)
	if !needA && !needB {
		return ms, nil, nil
	}
	start := time.Now()
	labels, err := model.Labels(ft.Config())
	if err != nil {
		return ms, nil, fmt.Errorf("the fine-tuned source's labels: %w", err)
	}
	head, err := taskHeadParams(ft, "fine-tuned source")
	if err != nil {
		return ms, nil, err
	}
	out := ms
	nh := &NewHead{Labels: labels, SourceBase: needA, TargetBase: needB}
	if needA {
		if out.SourceBase, err = model.WithTaskHead(ms.SourceBase, labels, head); err != nil {
			return ms, nil, fmt.Errorf("the source base's task head: %w", err)
		}
	}
	if needB {
		src := out.SourceBase
		if opts.StatsFrom == StatsFinetuned {
			src = ft
		}
		if out.TargetBase, nh.Map, err = mappedHead(ctx, src, ms.TargetBase, labels, calib, opts); err != nil {
			return ms, nil, fmt.Errorf("the target base's task head: %w", err)
		}
	}
	nh.Seconds = time.Since(start).Seconds()
	return out, nh, nil
}

// mappedHead returns target with src's task head moved into its
// coordinates, and the map T of the task head's input statistic over calib
// it used. The first layer's weight W becomes W·T; a layer after it (a
// head with a dense layer of its own, as RoBERTa's) reads the first's
// outputs, which are the task's own coordinates and keep their values: when
// the target's first layer is wider, it gets zero rows and the next layer
// zero columns for the extra units, which stay 0 through tanh.
func mappedHead(ctx context.Context, src, target model.Model, labels []string, calib Samples, opts Options) (model.Model, *Map, error) {
	sa, sb, err := headLayers(src, target)
	if err != nil {
		return nil, nil, err
	}
	m, err := headInputMap(ctx, src, target, sa[0], sb[0], calib, opts)
	if err != nil {
		return nil, nil, err
	}
	head := map[string]*tensor.Tensor[float32]{}
	for _, s := range sa {
		head[s.Weight] = src.Param(s.Weight).Value
		if s.Bias != "" {
			head[s.Bias] = src.Param(s.Bias).Value
		}
	}
	out := map[string]*tensor.Tensor[float32]{}
	rowsA, rowsB := 0, 0 // the previous layer's outputs
	for i := range sa {
		a, b := sa[i], sb[i]
		w, bias := head[a.Weight], head[a.Bias]
		outA, outB := a.Out, b.Out
		if i == len(sa)-1 {
			outA, outB = len(labels), len(labels)
		}
		if outB < outA {
			return nil, nil, fmt.Errorf("the target's %s has %d outputs, fewer than the source's %d: the task head cannot keep its values", b.Name, outB, outA)
		}
		var wB []float64
		if i == 0 {
			wB = transportWith(opts.Backend, w.Data, outA, m.DA, nil, m)
		} else {
			wB = padColumns(w.Data, outA, rowsA, rowsB)
		}
		out[b.Weight] = padRows(wB, outA, outB, b.In)
		if b.Bias != "" && bias != nil {
			out[b.Bias] = padRows(toFloat64(bias.Data), outA, outB, 1)
		}
		rowsA, rowsB = outA, outB
	}
	t, err := model.WithTaskHead(target, labels, out)
	return t, m, err
}

// headLayers returns the layers of src that make the target's task head,
// one for each of target's task-head sites (model.TaskHeadSites): src's
// own task head, or, for a target whose task head has a pool layer first
// (RoBERTa's classifier.dense) and a source whose pool layer is
// pre-trained (BERT's pooler), that pool layer before it. Layers carry over
// only between heads whose pool layers apply the same activation
// (model.PoolActivator: BERT's and RoBERTa's tanh, not DistilBERT's ReLU).
func headLayers(src, target model.Model) (sa, sb []model.Site, err error) {
	sa, sb = model.TaskHeadSites(src), model.TaskHeadSites(target)
	if len(sa) == 1 && len(sb) == 2 {
		if pool, ok := siteOfRole(src, "pool"); ok {
			sa = append([]model.Site{pool}, sa...)
		}
	}
	if len(sa) != len(sb) || len(sa) > 1 && poolActivation(src) != poolActivation(target) {
		return nil, nil, fmt.Errorf("the task head of the %s source (%s) does not carry over to the %s target's (%s): use a target base that has the task's head", src.Type(), siteNames(sa), target.Type(), siteNames(sb))
	}
	return sa, sb, nil
}

// siteOfRole returns m's first site of the role.
func siteOfRole(m model.Model, role string) (model.Site, bool) {
	for _, s := range m.Sites() {
		if s.Role == role {
			return s, true
		}
	}
	return model.Site{}, false
}

// poolActivation is the activation after m's pool layer, "" when m does
// not say.
func poolActivation(m model.Model) string {
	if p, ok := m.(model.PoolActivator); ok {
		return p.PoolActivation()
	}
	return ""
}

// padColumns returns the rows×colsA matrix x with zero columns added up to
// colsB.
func padColumns(x []float32, rows, colsA, colsB int) []float64 {
	out := make([]float64, rows*colsB)
	for i := range rows {
		for j, v := range x[i*colsA : (i+1)*colsA] {
			out[i*colsB+j] = float64(v)
		}
	}
	return out
}

// padRows returns the rowsA×cols matrix x with zero rows added up to rowsB,
// as a tensor.
func padRows(x []float64, rowsA, rowsB, cols int) *tensor.Tensor[float32] {
	shape := []int{rowsB, cols}
	if cols == 1 {
		shape = []int{rowsB}
	}
	out := tensor.New[float32](shape...)
	for i, v := range x[:rowsA*cols] {
		out.Data[i] = float32(v)
	}
	return out
}

func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// taskHeadParams returns the weights and biases of m's task head
// (model.TaskHeadSites) by name; what names m in errors.
func taskHeadParams(m model.Model, what string) (map[string]*tensor.Tensor[float32], error) {
	sites := model.TaskHeadSites(m)
	if len(sites) == 0 {
		return nil, fmt.Errorf("the %s (a %s model) has no head", what, m.Type())
	}
	out := map[string]*tensor.Tensor[float32]{}
	for _, s := range sites {
		out[s.Weight] = m.Param(s.Weight).Value
		if s.Bias != "" {
			out[s.Bias] = m.Param(s.Bias).Value
		}
	}
	return out, nil
}

// headInputMap runs a and b forward over calib and returns the Procrustes
// map of the input statistic of their sites ha and hb, the first layers of
// their task heads (source coordinates from target ones).
func headInputMap(ctx context.Context, a, b model.Model, ha, hb model.Site, calib Samples, opts Options) (*Map, error) {
	key := StatKey{Kind: InputAct, A: spaceOf(ha, InputAct), B: spaceOf(hb, InputAct)}
	stat := newStat(key, ha.In, hb.In, opts.Whiten > 0)
	rec := &sourceRecorder{want: map[string][]Kind{ha.Name: {InputAct}}, site: siteIndex(a.Sites()), rule: opts.Tokens}
	acc := &targetAccumulator{be: opts.Backend, want: map[string][]Kind{hb.Name: {InputAct}}, site: siteIndex(b.Sites()), rule: opts.Tokens,
		stats: map[rowKey][]*Stat{{InputAct, key.B}: {stat}}, prefix: [2]int{model.PrefixTokens(a), model.PrefixTokens(b)}}
	if err := runPasses(ctx, a, b, calib, rec, acc, noGrads, opts, "task head"); err != nil {
		return nil, err
	}
	maps, err := computeMaps(opts.Backend, map[StatKey]*Stat{key: stat}, []StatKey{key}, opts, &Timing{}, nil)
	if err != nil {
		return nil, err
	}
	return maps[key], nil
}

// siteNames lists the sites' names.
func siteNames(sites []model.Site) string {
	names := make([]string, len(sites))
	for i, s := range sites {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
