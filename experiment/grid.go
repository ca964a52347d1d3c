package experiment

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/internal/jobs"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
)

// PairSpec names a source and a target version of a family.
type PairSpec struct {
	Source, Target string
}

// Name is "source→target", e.g. "v1→v2".
func (p PairSpec) Name() string { return p.Source + "→" + p.Target }

// ParsePair reads "v1-v2", "v1:v2" or "v1→v2".
func ParsePair(s string) (PairSpec, error) {
	for _, sep := range []string{"→", "->", "-", ":"} {
		for i := 0; i+len(sep) <= len(s); i++ {
			if s[i:i+len(sep)] == sep && i > 0 && i+len(sep) < len(s) {
				return PairSpec{Source: s[:i], Target: s[i+len(sep):]}, nil
			}
		}
	}
	return PairSpec{}, fmt.Errorf("experiment: pair %q: want source-target, e.g. v1-v2", s)
}

// DefaultPairs are the pairs of the experiments: a new pre-training of the
// same shape, a wider, a deeper and a narrower target.
var DefaultPairs = []PairSpec{{"v1", "v2"}, {"v1", "v3"}, {"v1", "v4"}, {"v3", "v1"}}

// AllMethods are the training-free methods of the experiments, baselines
// first, then BiCo and its blend with the gradient-only maps (METHOD.md §7).
var AllMethods = []string{"naive", "gradfix", "theseus", "bico-grad", "bico", "bico-blend"}

// DefaultFewShotSteps are the step counts few-shot-ft chooses from on the
// held-out calibration samples in a grid run: checkpoints of one training
// run (see zoo.FewShotPath).
var DefaultFewShotSteps = []int{25, 50, 100, 200}

// ViTFewShotSteps are the checkpoints for the transformer families (vit,
// clip), whose steps cost about fifty times an MLP's: the run is cut to 50
// steps to fit the time budget of the full experiment (on the MLPs and on
// a ViT pilot, 25 or 50 steps were chosen in most cells).
var ViTFewShotSteps = []int{10, 25, 50}

// Grid is a run of every method over pairs of a built family, tasks,
// calibration sizes and seeds.
type Grid struct {
	Family  *zoo.Built
	Pairs   []PairSpec // nil: DefaultPairs
	Tasks   []string   // nil: the family's tasks
	Ks      []int      // calibration samples per class
	Seeds   []uint64
	Methods []string // nil: AllMethods
	// FewShot adds few-shot-ft, trained on the same calibration samples
	// with lr FewShotLR (0: 1e-3), its step count chosen on the held-out
	// part from FewShotSteps (nil: ViTFewShotSteps for the transformer
	// families, DefaultFewShotSteps for the others).
	FewShot      bool
	FewShotSteps []int
	FewShotLR    float64
	// Options are the transfer options (Backend is filled in when nil).
	Options transfer.Options
	// Variant labels the options in the rows ("default" when empty).
	Variant   string
	AlphaGrid []float64 // nil: transfer.DefaultAlphas
	// Progress, when set, is told how many (pair, task, K, seed) cells are
	// done.
	Progress func(stage string, done, total int)
	// Failures, when not nil, receives every method that failed on a cell
	// (the cell's other methods are still measured). With Failures nil a
	// failure ends the run with its error.
	Failures *[]Failure
	// Jobs is the number of cells measured side by side, each with an
	// equal share of the backend's threads (0: one per thread). The rows
	// come out in the same order whatever it is.
	Jobs int
	// Reuse are rows of an earlier run with the same settings (the run is
	// deterministic): a (pair, task, K, seed) cell of this grid whose rows
	// it holds for every method the cell needs is taken from it instead of
	// being measured again. Seconds stay those of the earlier run.
	Reuse []Row
}

// Row is one record of a grid run: a Record with the family and the
// variant of the options it was measured with.
type Row struct {
	Family  string `json:"family"`
	Variant string `json:"variant"`
	Record
	// FewShotSteps is the step count few-shot-ft chose (0 for the other
	// methods).
	FewShotSteps int `json:"fewshot_steps,omitempty"`
}

// DefaultVariant labels rows measured with the default options.
const DefaultVariant = "default"

// baselineKey identifies a target model on a task.
type baselineKey struct{ target, task string }

// RunGrid runs the grid: for every pair, task, K and seed it prepares once
// and finishes every method (Run), then few-shot-ft when asked. Target
// zero-shot and ceiling accuracies are computed once per target and task,
// on the family's test subset (zoo.Family.TestImages images).
func RunGrid(ctx context.Context, g Grid) ([]Row, error) {
	b := g.Family
	if b == nil {
		return nil, fmt.Errorf("experiment: grid without a family")
	}
	pairs, tasks, methods := g.Pairs, g.Tasks, g.Methods
	if pairs == nil {
		pairs = DefaultPairs
	}
	if tasks == nil {
		tasks = b.Tasks
	}
	if methods == nil {
		methods = AllMethods
	}
	if len(g.Ks) == 0 || len(g.Seeds) == 0 {
		return nil, fmt.Errorf("experiment: grid needs calibration sizes and seeds")
	}
	variant := g.Variant
	if variant == "" {
		variant = DefaultVariant
	}
	opts := g.Options
	if opts.Backend == nil {
		be, err := linalg.Default()
		if err != nil {
			return nil, err
		}
		opts.Backend = be
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	steps := g.FewShotSteps
	if steps == nil {
		steps = DefaultFewShotSteps
		if b.Family.Transformer() {
			steps = ViTFewShotSteps
		}
	}
	lr := g.FewShotLR
	if lr == 0 {
		lr = 1e-3
	}
	progress := g.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	stage := fmt.Sprintf("experiment %s %s", b.Family.Name, variant)
	cells, err := g.cells(ctx, pairs, tasks, opts)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex // guards done, progress and the failures
	done := 0
	progress(stage, 0, len(cells))
	out := make([][]Row, len(cells))
	err = jobs.Run(ctx, opts.Backend, g.Jobs, len(cells), func(ctx context.Context, i int) error {
		c := cells[i]
		rows := reusable(g.Reuse, b.Family.Name, variant, c.pair.Name, c.pair.Task, c.k, c.seed, methods, g.FewShot, sameShapes(c.pair.Source, c.pair.Target))
		if rows == nil {
			var (
				fails []Failure
				err   error
			)
			rows, fails, err = g.runCell(ctx, c, methods, steps, lr, variant)
			if err != nil {
				return err
			}
			mu.Lock()
			for _, f := range fails {
				if err := g.fail(f); err != nil {
					mu.Unlock()
					return err
				}
			}
			mu.Unlock()
		}
		out[i] = rows
		mu.Lock()
		done++
		progress(stage, done, len(cells))
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, r := range out {
		rows = append(rows, r...)
	}
	return rows, nil
}

// cell is one (pair, task, K, seed) of a grid.
type cell struct {
	pair Pair
	k    int
	seed uint64
}

// cells lists the grid's cells in the order of its rows, each pair with
// its target's zero-shot and ceiling accuracies (computed once per target
// and task).
func (g *Grid) cells(ctx context.Context, pairs []PairSpec, tasks []string, opts transfer.Options) ([]cell, error) {
	b := g.Family
	baselines := map[baselineKey][2]eval.Result{}
	var cells []cell
	for _, ps := range pairs {
		src, tgt := b.Bases[ps.Source], b.Bases[ps.Target]
		if src == nil || tgt == nil {
			return nil, fmt.Errorf("experiment: family %s has no models for pair %s", b.Family.Name, ps.Name())
		}
		for _, task := range tasks {
			srcFT, tgtFT := b.FineTuned[ps.Source][task], b.FineTuned[ps.Target][task]
			if srcFT == nil || tgtFT == nil || b.TaskTest[task] == nil {
				return nil, fmt.Errorf("experiment: family %s has no fine-tunes on task %q for pair %s", b.Family.Name, task, ps.Name())
			}
			p := Pair{
				Name: ps.Name(), Task: task,
				Source: src.Model, SourceFT: srcFT.Model, Target: tgt.Model, TargetFT: tgtFT.Model,
				CalibPool: b.TaskTrain[task], Test: b.TaskTest[task],
				Options: opts, AlphaGrid: g.AlphaGrid,
			}
			bk := baselineKey{ps.Target, task}
			if res, ok := baselines[bk]; ok {
				p.ZeroShot, p.Ceiling = &res[0], &res[1]
			} else {
				if err := p.baselines(ctx, opts.Backend); err != nil {
					return nil, fmt.Errorf("experiment: %s %s: %w", ps.Name(), task, err)
				}
				baselines[bk] = [2]eval.Result{*p.ZeroShot, *p.Ceiling}
			}
			for _, k := range g.Ks {
				for _, seed := range g.Seeds {
					cells = append(cells, cell{pair: p, k: k, seed: seed})
				}
			}
		}
	}
	return cells, nil
}

// runCell measures every method and few-shot-ft on one cell, with the
// backend ctx carries and its own copies of the models (a transfer's
// calibration pass changes which parameters collect gradients). A method
// that fails is returned as a Failure; the error is for cancellation only.
func (g *Grid) runCell(ctx context.Context, c cell, methods []string, steps []int, lr float64, variant string) ([]Row, []Failure, error) {
	be, err := linalg.FromContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	p := c.pair
	p.Options.Backend = be
	for _, m := range []*model.Model{&p.Source, &p.SourceFT, &p.Target} {
		if *m, err = model.Clone(*m); err != nil {
			return nil, nil, err
		}
	}
	family := g.Family.Family.Name
	failure := func(method string, err error) Failure {
		return Failure{Family: family, Variant: variant, Pair: p.Name, Task: p.Task, Method: method, K: c.k, Seed: c.seed, Error: err.Error()}
	}
	var fails []Failure
	recs, err := Run(ctx, p, methods, c.k, c.seed, false, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		// One method failing (a map that cannot be computed) must not
		// lose the others: run them one by one and record the failures.
		recs = nil
		for _, m := range methods {
			r, err := Run(ctx, p, []string{m}, c.k, c.seed, false, nil)
			if err != nil {
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
				fails = append(fails, failure(m, err))
				continue
			}
			recs = append(recs, r...)
		}
	}
	var rows []Row
	for _, r := range recs {
		rows = append(rows, Row{Family: family, Variant: variant, Record: r})
	}
	if g.FewShot {
		row, err := p.fewShotPath(ctx, be, c.k, c.seed, steps, lr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			fails = append(fails, failure(FewShotFT, err))
		} else {
			row.Family, row.Variant = family, variant
			rows = append(rows, row)
		}
	}
	return rows, fails, nil
}

// fewShotPath is few-shot-ft along one training run: the target is
// fine-tuned on the statistics part of the same calibration samples Run
// draws, and the checkpoint (step count) with the best held-out score
// (accuracy, then loss) is scored on the test split.
func (p *Pair) fewShotPath(ctx context.Context, be linalg.Backend, k int, seed uint64, steps []int, lr float64) (Row, error) {
	start := time.Now()
	calib, err := data.PerClass(p.CalibPool, k, seed)
	if err != nil {
		return Row{}, err
	}
	stats, held, from, err := split(calib, seed)
	if err != nil {
		return Row{}, err
	}
	var best model.Model
	bestScore := transfer.AlphaPoint{Accuracy: -1}
	err = zoo.FewShotPath(ctx, p.Target, stats, steps, lr, seed, func(s int, m model.Model) error {
		r, err := eval.Evaluate(ctx, be, m, held.Inputs, held.Labels, 256)
		if err != nil {
			return err
		}
		if r.Accuracy > bestScore.Accuracy || (r.Accuracy == bestScore.Accuracy && r.Loss < bestScore.Loss) {
			bestScore = transfer.AlphaPoint{Alpha: float64(s), Accuracy: r.Accuracy, Loss: r.Loss}
			if best, err = model.Clone(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Row{}, fmt.Errorf("few-shot-ft: %w", err)
	}
	r, err := eval.Evaluate(ctx, be, best, p.Test.Inputs, p.Test.Labels, 256)
	if err != nil {
		return Row{}, err
	}
	sorted := slices.Clone(steps)
	slices.Sort(sorted)
	rec := Record{
		Pair: p.Name, Task: p.Task, Method: FewShotFT, K: k, Seed: seed,
		AlphaFrom: fmt.Sprintf("steps %d of %v at lr %g chosen on %s", int(bestScore.Alpha), sorted, lr, from),
		ZeroShot:  p.ZeroShot.Accuracy, Ceiling: p.Ceiling.Accuracy,
		Calib: stats.Len(), HeldOut: held.Len(),
	}
	rec = rec.score(r)
	rec.Seconds = time.Since(start).Seconds()
	return Row{Record: rec, FewShotSteps: int(bestScore.Alpha)}, nil
}

// reusable returns the rows of reuse for one cell when they cover every
// method the cell runs, else nil.
func reusable(reuse []Row, family, variant, pair, task string, k int, seed uint64, methods []string, fewShot, same bool) []Row {
	if len(reuse) == 0 {
		return nil
	}
	var out []Row
	have := map[string]bool{}
	for _, r := range reuse {
		if r.Family == family && r.Variant == variant && r.Pair == pair && r.Task == task && r.K == k && r.Seed == seed {
			if r.Method == FewShotFT && !fewShot || r.Method != FewShotFT && !slices.Contains(methods, r.Method) || have[r.Method] {
				continue
			}
			out = append(out, r)
			have[r.Method] = true
		}
	}
	for _, m := range methods {
		if !have[m] && (same || !needsSameShape(m)) {
			return nil
		}
	}
	if fewShot && !have[FewShotFT] {
		return nil
	}
	return out
}

// Failure is a method that could not be measured on one cell of a grid.
type Failure struct {
	Family  string `json:"family"`
	Variant string `json:"variant"`
	Pair    string `json:"pair"`
	Task    string `json:"task"`
	Method  string `json:"method"`
	K       int    `json:"k"`
	Seed    uint64 `json:"seed"`
	Error   string `json:"error"`
}

// fail records f, or returns it as an error when the grid does not
// collect failures.
func (g *Grid) fail(f Failure) error {
	if g.Failures == nil {
		return fmt.Errorf("experiment: %s %s %s K=%d seed %d: %s", f.Pair, f.Task, f.Method, f.K, f.Seed, f.Error)
	}
	*g.Failures = append(*g.Failures, f)
	return nil
}
