package report

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Figures of a transfer report, written beside bico-report.md.
const (
	AlphaFigure     = "bico-alpha.png"
	AlignmentFigure = "bico-alignment.png"
)

// figure size: small PNGs.
const figW, figH = 5 * vg.Inch, 3.4 * vg.Inch

// writeFigures writes into dir the figures the report has data for: the
// held-out accuracy against α, the chosen α marked (when α was chosen), and
// the alignment of each statistic's map in the order of the sites. It
// returns the names of the files written.
func (r *Transfer) writeFigures(dir string) ([]string, error) {
	var written []string
	for _, f := range []struct {
		name string
		draw func() (*plot.Plot, error)
	}{{AlphaFigure, r.alphaPlot}, {AlignmentFigure, r.alignmentPlot}} {
		p, err := f.draw()
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		if err := p.Save(figW, figH, filepath.Join(dir, f.name)); err != nil {
			return nil, fmt.Errorf("report: figure %s: %w", f.name, err)
		}
		written = append(written, f.name)
	}
	return written, nil
}

// alphaPlot is held-out accuracy against α; nil without a curve.
func (r *Transfer) alphaPlot() (*plot.Plot, error) {
	if len(r.AlphaCurve) < 2 {
		return nil, nil
	}
	pts := make(plotter.XYs, len(r.AlphaCurve))
	for i, a := range r.AlphaCurve {
		pts[i].X, pts[i].Y = a.Alpha, a.Accuracy
	}
	p := newPlot(fmt.Sprintf("%s: held-out accuracy against α", r.Method), "α", "held-out accuracy")
	line, marks, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, fmt.Errorf("report: α figure: %w", err)
	}
	p.Add(line, marks)
	lo, hi := p.Y.Min, p.Y.Max
	chosen, err := plotter.NewLine(plotter.XYs{{X: r.Alpha, Y: lo}, {X: r.Alpha, Y: hi}})
	if err != nil {
		return nil, fmt.Errorf("report: α figure: %w", err)
	}
	chosen.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(chosen)
	p.Legend.Add(fmt.Sprintf("chosen α = %g (%s)", r.Alpha, r.AlphaFrom), chosen)
	return p, nil
}

// alignmentPlot is each statistic's alignment against its place in the
// report's list of maps (the order of the sites); nil when none was
// measured.
func (r *Transfer) alignmentPlot() (*plot.Plot, error) {
	var pts plotter.XYs
	for i, s := range r.Sites {
		if s.Alignment != 0 {
			pts = append(pts, plotter.XY{X: float64(i), Y: s.Alignment})
		}
	}
	if len(pts) == 0 {
		return nil, nil
	}
	p := newPlot("alignment of each map's statistic", "statistic (in the order of the sites)", "alignment")
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, fmt.Errorf("report: alignment figure: %w", err)
	}
	p.Add(sc)
	return p, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true // the curves fall off at large α, below it
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	p.Add(plotter.NewGrid())
	return p
}
