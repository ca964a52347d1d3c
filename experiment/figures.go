package experiment

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure is a written PNG figure.
type Figure struct {
	Kind   string // "accuracy-k", "alpha", "alignment"
	Family string
	Pair   string
	// Path is the file, relative to the folder the figures were written to.
	Path    string
	Caption string
}

// figure size: small PNGs.
const figW, figH = 5 * vg.Inch, 3.4 * vg.Inch

// WriteFigures writes, for every family and pair of the default-variant
// rows, up to three PNG figures into dir: mean accuracy over tasks against
// K per method (with the zero-shot and ceiling levels), the held-out α
// curves at the largest K, and, from aligns, the alignment score of each
// kind of statistic across depth. It returns them in order.
func WriteFigures(dir string, rows []Row, aligns []SiteAlignment) ([]Figure, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiment: figures: %w", err)
	}
	type fp struct{ family, pair string }
	var order []fp
	by := map[fp][]Row{}
	for _, r := range rows {
		if r.Variant != DefaultVariant {
			continue
		}
		k := fp{r.Family, r.Pair}
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	var figs []Figure
	for _, k := range order {
		base := fmt.Sprintf("%s_%s", k.family, fileSafe(k.pair))
		rs := by[k]
		al := filterAlign(aligns, k.family, k.pair)
		for _, f := range []struct {
			kind, name string
			draw       func() (*plot.Plot, string, error)
		}{
			{"accuracy-k", "accuracy_k_" + base + ".png", func() (*plot.Plot, string, error) { return accuracyVsK(rs) }},
			{"alpha", "alpha_" + base + ".png", func() (*plot.Plot, string, error) { return alphaCurves(rs) }},
			{"alignment", "alignment_" + base + ".png", func() (*plot.Plot, string, error) { return alignmentDepth(al) }},
		} {
			p, caption, err := f.draw()
			if err != nil {
				return nil, err
			}
			if p == nil {
				continue
			}
			p.Title.Text = fmt.Sprintf("%s %s: %s", k.family, k.pair, p.Title.Text)
			if err := p.Save(figW, figH, filepath.Join(dir, f.name)); err != nil {
				return nil, fmt.Errorf("experiment: figure %s: %w", f.name, err)
			}
			figs = append(figs, Figure{Kind: f.kind, Family: k.family, Pair: k.pair, Path: f.name, Caption: caption})
		}
	}
	return figs, nil
}

func fileSafe(s string) string {
	return strings.NewReplacer("→", "-", " ", "_", "/", "_").Replace(s)
}

func methodsOf(rows []Row) []string {
	var ms []string
	for _, r := range rows {
		if !slices.Contains(ms, r.Method) {
			ms = append(ms, r.Method)
		}
	}
	slices.SortFunc(ms, methodOrder)
	return ms
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, name string, i int, xys plotter.XYs, dashed bool) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("experiment: figure line %s: %w", name, err)
	}
	c := plotutil.Color(i)
	l.Color, pts.Color = c, c
	l.Width = vg.Points(1.2)
	pts.Shape = plotutil.Shape(i)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		pts.Shape = draw.CircleGlyph{}
		pts.Radius = 0
	}
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}

// accuracyVsK: mean accuracy over tasks and seeds against K.
func accuracyVsK(rows []Row) (*plot.Plot, string, error) {
	sums := Summarize(Cells(rows))
	ks := map[int]bool{}
	for _, s := range sums {
		ks[s.K] = true
	}
	if len(ks) == 0 {
		return nil, "", nil
	}
	var kl []int
	for k := range ks {
		kl = append(kl, k)
	}
	sort.Ints(kl)
	p := newPlot("accuracy against K", "K (calibration samples per class, log scale)", "mean test accuracy over tasks")
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, k := range kl {
		ticks = append(ticks, plot.Tick{Value: float64(k), Label: strconv.Itoa(k)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	var zs, ceil float64
	for i, m := range methodsOf(rows) {
		var xys plotter.XYs
		for _, k := range kl {
			for _, s := range sums {
				if s.Method == m && s.K == k {
					xys = append(xys, plotter.XY{X: float64(k), Y: s.Accuracy})
					zs, ceil = s.ZeroShot, s.Ceiling
				}
			}
		}
		if len(xys) > 0 {
			if err := addLine(p, m, i, xys, false); err != nil {
				return nil, "", err
			}
		}
	}
	lo, hi := float64(kl[0]), float64(kl[len(kl)-1])
	if lo == hi {
		lo, hi = lo/1.5, hi*1.5
	}
	if err := addLine(p, "target zero-shot", 7, plotter.XYs{{X: lo, Y: zs}, {X: hi, Y: zs}}, true); err != nil {
		return nil, "", err
	}
	if err := addLine(p, "target fine-tuned (ceiling)", 8, plotter.XYs{{X: lo, Y: ceil}, {X: hi, Y: ceil}}, true); err != nil {
		return nil, "", err
	}
	return p, "mean test accuracy over tasks (and seeds) against the calibration size K, per method", nil
}

// alphaCurves: the held-out accuracy against α at the largest K, averaged
// over tasks and seeds.
func alphaCurves(rows []Row) (*plot.Plot, string, error) {
	kmax := 0
	for _, r := range rows {
		if len(r.Curve) > 0 {
			kmax = max(kmax, r.K)
		}
	}
	if kmax == 0 {
		return nil, "", nil
	}
	p := newPlot(fmt.Sprintf("held-out α curves, K = %d", kmax), "α (log scale)", "mean held-out calibration accuracy")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	for i, m := range methodsOf(rows) {
		sum := map[float64]float64{}
		n := map[float64]int{}
		for _, r := range rows {
			if r.Method != m || r.K != kmax {
				continue
			}
			for _, pt := range r.Curve {
				sum[pt.Alpha] += pt.Accuracy
				n[pt.Alpha]++
			}
		}
		if len(sum) == 0 {
			continue
		}
		var xys plotter.XYs
		for a, s := range sum {
			if a > 0 {
				xys = append(xys, plotter.XY{X: a, Y: s / float64(n[a])})
			}
		}
		sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
		if err := addLine(p, m, i, xys, false); err != nil {
			return nil, "", err
		}
	}
	return p, fmt.Sprintf("held-out calibration accuracy of θ_B + α·ΔB against α at K = %d, averaged over tasks and seeds", kmax), nil
}

var blockNumber = regexp.MustCompile(`(?:^|\.)(?:layer|layers)\.(\d+)(?:\.|$)`)

// spaceDepth places a coordinate space of a model along its depth: the
// block index for spaces inside block N, −1 for the input and embedding
// spaces, and ok false for the spaces after the last block (the final norm
// and the head), which the caller places at the depth L.
func spaceDepth(space string) (depth int, ok bool) {
	if m := blockNumber.FindStringSubmatch(space); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, true
	}
	if space == "input" || strings.Contains(space, "embeddings") {
		return -1, true
	}
	return 0, false
}

func filterAlign(al []SiteAlignment, family, pair string) []SiteAlignment {
	var out []SiteAlignment
	for _, a := range al {
		if a.Family == family && a.Pair == pair {
			out = append(out, a)
		}
	}
	return out
}

// alignmentDepth: the mean alignment score of each kind of statistic
// against the target's depth.
func alignmentDepth(al []SiteAlignment) (*plot.Plot, string, error) {
	if len(al) == 0 {
		return nil, "", nil
	}
	type acc struct {
		sum float64
		n   int
	}
	data := map[string]map[int]*acc{}
	var kinds []string
	last := 0
	var tail []SiteAlignment // spaces after the last block, placed once L is known
	add := func(kind string, d int, v float64) {
		if data[kind] == nil {
			data[kind] = map[int]*acc{}
			kinds = append(kinds, kind)
		}
		if data[kind][d] == nil {
			data[kind][d] = &acc{}
		}
		data[kind][d].sum += v
		data[kind][d].n++
	}
	for _, a := range al {
		if math.IsNaN(a.Centered) {
			continue
		}
		d, ok := spaceDepth(a.SpaceB)
		if !ok {
			tail = append(tail, a)
			continue
		}
		last = max(last, d+1)
		add(a.Kind, d, a.Centered)
	}
	for _, a := range tail {
		add(a.Kind, last, a.Centered)
	}
	sort.Strings(kinds)
	p := newPlot(fmt.Sprintf("alignment across depth, K = %d", al[0].K),
		fmt.Sprintf("target block (−1: embedding, %d: head)", last), "centred ‖C‖* / √(Σ‖a‖² Σ‖b‖²)")
	names := map[string]string{"input": "input activations (bico, theseus in)", "output": "output activations (theseus out)",
		"output-grad": "output gradients (bico, bico-grad out)", "input-grad": "input gradients (bico-grad in)"}
	for i, kind := range kinds {
		var xys plotter.XYs
		for d, a := range data[kind] {
			xys = append(xys, plotter.XY{X: float64(d), Y: a.sum / float64(a.n)})
		}
		sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
		name := names[kind]
		if name == "" {
			name = kind
		}
		if err := addLine(p, name, i, xys, false); err != nil {
			return nil, "", err
		}
	}
	return p, fmt.Sprintf("normalised Procrustes alignment score ‖C‖*/√(Σ‖a‖²·Σ‖b‖²) of the centred rows of each kind of statistic (1: the target's rows are an orthogonal image of the source's, 0: unrelated) across the target's depth, on the statistics part of K = %d calibration samples per class (seed %d), averaged over the statistics of a block and over tasks", al[0].K, al[0].Seed), nil
}
