package experiment

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/zoo"
)

// Report is what results.md is written from.
type Report struct {
	// Title heads the document ("" for a default).
	Title string
	// Command is the exact command that produced the run.
	Command string
	// WallSeconds is the wall-clock time of the whole run (zoo included);
	// ZooSeconds the part spent building or loading the zoo.
	WallSeconds, ZooSeconds float64
	// Machine describes where it ran.
	Machine  string
	Families []*zoo.Built
	Rows     []Row
	Figures  []Figure
	// FigureDir is the path of the figures relative to results.md.
	FigureDir string
	// MainKs are the calibration sizes of the per-task tables (nil: 4 and 16
	// where run, else every K).
	MainKs []int
	// Notes are extra protocol notes, one bullet each.
	Notes []string
	// Problems are the violated robust properties (Check).
	Problems []string
}

// smallGap is the gap between ceiling and zero-shot below which a task's
// own gap closed is marked as unstable.
const smallGap = 0.05

// WriteJSON writes the rows as an indented JSON list.
func WriteJSON(file string, rows []Row) error {
	raw, err := json.MarshalIndent(rows, "", " ")
	if err != nil {
		return fmt.Errorf("experiment: results: %w", err)
	}
	return writeFile(file, append(raw, '\n'))
}

// WriteAlignmentJSON writes alignment scores as an indented JSON list.
func WriteAlignmentJSON(file string, al []SiteAlignment) error {
	raw, err := json.MarshalIndent(al, "", " ")
	if err != nil {
		return fmt.Errorf("experiment: alignment: %w", err)
	}
	return writeFile(file, append(raw, '\n'))
}

// ReadAlignmentJSON reads scores written by WriteAlignmentJSON.
func ReadAlignmentJSON(file string) ([]SiteAlignment, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var al []SiteAlignment
	if err := json.Unmarshal(raw, &al); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", file, err)
	}
	return al, nil
}

// ReadJSON reads rows written by WriteJSON.
func ReadJSON(file string) ([]Row, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	var rows []Row
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", file, err)
	}
	return rows, nil
}

func writeFile(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	return nil
}

// WriteMarkdown writes the report as Markdown: protocol, zoo, gap-closed
// summary per pair and K, per-task tables in the shape of the paper's (rows
// methods, columns tasks), ablations, figures and the robust checks.
func WriteMarkdown(w io.Writer, rep Report) error {
	pw := &errWriter{w: w}
	title := rep.Title
	if title == "" {
		title = "bico experiment results"
	}
	pw.printf("# %s\n\n", title)
	if rep.Command != "" {
		pw.printf("Regenerate with:\n\n```\n%s\n```\n\n", rep.Command)
	}
	if rep.WallSeconds > 0 {
		pw.printf("Wall-clock time: %s (zoo build or load %s, experiment %s).", minutes(rep.WallSeconds), minutes(rep.ZooSeconds), minutes(rep.WallSeconds-rep.ZooSeconds))
		if rep.Machine != "" {
			pw.printf(" Machine: %s.", rep.Machine)
		}
		pw.printf("\n\n")
	}
	defaults := filterVariant(rep.Rows, DefaultVariant)
	cells := Cells(rep.Rows)
	sums := Summarize(cells)

	pw.printf("## Protocol\n\n")
	for _, n := range protocolNotes(rep) {
		pw.printf("- %s\n", n)
	}
	for _, n := range rep.Notes {
		pw.printf("- %s\n", n)
	}
	pw.printf("\n")

	if len(rep.Families) > 0 {
		pw.printf("## Model zoo\n\n")
		for _, b := range rep.Families {
			writeZoo(pw, b)
		}
	}

	families := uniq(defaults, func(r Row) string { return r.Family })
	if len(defaults) > 0 {
		pw.printf("## Gap closed per pair, method and K\n\n")
		pw.printf("Gap closed of the task averages, (mean accuracy − mean zero-shot) / (mean ceiling − mean zero-shot), over tasks and seeds; normalised accuracy (mean over tasks of accuracy / ceiling) in parentheses.\n\n")
		for _, fam := range families {
			writeGapSummary(pw, fam, filterSums(sums, fam, DefaultVariant))
		}
		pw.printf("## Per-task tables\n\n")
		pw.printf("Each cell: test accuracy, mean over seeds, and in parentheses the task's own gap closed (marked † when its ceiling is less than %.0f points above zero-shot, where the ratio is unstable). Avg: mean over tasks; norm.: mean accuracy / ceiling; gap: gap closed of the task averages; α: mean chosen α.\n\n", smallGap*100)
		for _, fam := range families {
			fr := filterRows(defaults, func(r Row) bool { return r.Family == fam })
			for _, pair := range uniq(fr, func(r Row) string { return r.Pair }) {
				pr := filterRows(fr, func(r Row) bool { return r.Pair == pair })
				for _, k := range mainKs(rep.MainKs, pr) {
					writeTaskTable(pw, fam, pair, k, filterRows(pr, func(r Row) bool { return r.K == k }))
				}
			}
		}
	}

	if variants := uniq(rep.Rows, func(r Row) string { return r.Variant }); len(variants) > 1 || (len(variants) == 1 && variants[0] != DefaultVariant) {
		pw.printf("## Ablations\n\n")
		pw.printf("Each variant changes one transfer option from the defaults. Mean test accuracy over tasks and seeds (± the seed-to-seed standard deviation of that mean, from each task's deviation over seeds, tasks taken as independent), gap closed of the task averages, and the difference from the default in accuracy points; per-task accuracies follow.\n\n")
		writeAblations(pw, cells, sums)
	}

	if len(rep.Figures) > 0 {
		pw.printf("## Figures\n\n")
		for _, f := range rep.Figures {
			pw.printf("**%s %s**: %s.\n\n![%s %s %s](%s)\n\n", f.Family, f.Pair, f.Caption, f.Kind, f.Family, f.Pair, path.Join(rep.FigureDir, f.Path))
		}
	}

	pw.printf("## Robust checks\n\n")
	if len(rep.Problems) == 0 {
		pw.printf("Passed: every method ran on every pair that allows it, and on every pair bico's accuracy averaged over tasks, K and seeds is above the target's zero-shot average.\n")
	} else {
		pw.printf("FAILED:\n\n")
		for _, p := range rep.Problems {
			pw.printf("- %s\n", p)
		}
	}
	return pw.err
}

func protocolNotes(rep Report) []string {
	var notes []string
	ks := uniqInt(rep.Rows, func(r Row) int { return r.K })
	seeds := uniq(rep.Rows, func(r Row) string { return fmt.Sprint(r.Seed) })
	tasks := uniq(rep.Rows, func(r Row) string { return r.Task })
	notes = append(notes,
		fmt.Sprintf("Tasks: %s (shifted MNIST, data.Tasks). Calibration sizes K ∈ %v samples per class; seeds %s (the seed draws the calibration samples and splits them).", strings.Join(tasks, ", "), ks, strings.Join(seeds, ", ")),
		"Calibration samples come from the task's training split (MNIST train images 50000–54999, shifted), the images the fine-tunes were trained on and no base saw. A quarter of each class (at least one sample) is held out; the rest gives the statistics (and few-shot-ft's training data).",
		"α of every training-free method is chosen on the held-out calibration part from transfer.DefaultAlphas (highest accuracy, then lowest loss); few-shot-ft's step count likewise, from checkpoints of one training run (AdamW, constant lr 1e-3, full batch; checkpoints at 25, 50, 100 and 200 steps for the MLPs, 10, 25 and 50 for the ViTs). Nothing is chosen on the test split. K = 1 has no held-out part: there α (and the step count) is chosen on the calibration samples themselves, as each record's alpha_chosen_by says.",
		"Zero-shot: the target base model with its own 10-class head. Ceiling: the target fine-tuned on the full task training split (5000 images). The source's fine-tune on the same data gives τ_A.",
		"Gap closed per task is (accuracy − zero-shot) / (ceiling − zero-shot); the summaries use the gap closed of the task averages, (mean accuracy − mean zero-shot) / (mean ceiling − mean zero-shot), so that a task whose ceiling is barely above its zero-shot accuracy cannot dominate.",
		"naive and gradfix need identical shapes: they run only on the same-shape pair.",
	)
	for _, b := range rep.Families {
		if b.Family.ImageTokens > 0 {
			notes = append(notes, fmt.Sprintf("Family %s reads every image, after its task's transform, as the tokens of its %d×%d blocks (data.ImageTokens); the digit classes and the shifted tasks are unchanged.", b.Family.Name, b.Family.ImageTokens, b.Family.ImageTokens))
		}
		if languageModels(b) {
			notes = append(notes, fmt.Sprintf("Family %s holds causal language models: every accuracy is next-token accuracy over the sequences' tokens and every loss a mean per token; the zero-shot model is the target base itself, and K counts sequences per digit class, whose labels play no part in the methods.", b.Family.Name))
		}
		if b.Family.TestImages < 10000 {
			notes = append(notes, fmt.Sprintf("Family %s is evaluated on the first %d images of each task's test split (the same images for every record), to fit the time budget; the zoo's own accuracies use all 10000.", b.Family.Name, b.Family.TestImages))
		} else {
			notes = append(notes, fmt.Sprintf("Family %s is evaluated on the whole task test split (10000 images).", b.Family.Name))
		}
	}
	return notes
}

// languageModels reports whether b's models are causal language models,
// scored on their inputs' next tokens.
func languageModels(b *zoo.Built) bool {
	for _, m := range b.Bases {
		_, lm := m.Model.(model.TargetMaker)
		return lm
	}
	return false
}

func writeZoo(pw *errWriter, b *zoo.Built) {
	pw.printf("### Family %s\n\n%s.\n\n", b.Family.Name, b.Family.Description)
	pw.printf("| version | relation | pre-training | MNIST test accuracy |\n|---|---|---|---:|\n")
	for _, v := range b.Family.Versions {
		m := b.Bases[v.Name]
		if m == nil {
			continue
		}
		r := v.Recipe
		aug := ""
		if r.Augment {
			aug = fmt.Sprintf(", shifts ±%d px", max(r.MaxShift, 2))
		}
		pw.printf("| %s | %s | %s, %d steps × %d, lr %g, seeds %d/%d%s | %.4f |\n", v.Name, v.Relation, strings.ReplaceAll(r.Data, "|", `\|`), r.Steps, r.BatchSize, r.LR, r.InitSeed, r.DataSeed, aug, m.TestAccuracy)
	}
	ft := b.Family.FineTune
	pw.printf("\nFine-tuned on each task (%d steps × %d, lr %g), accuracy on the full task test split:\n\n", ft.Steps, ft.BatchSize, ft.LR)
	pw.printf("| version | %s |\n|---|%s\n", strings.Join(b.Tasks, " | "), strings.Repeat("---:|", len(b.Tasks)))
	for _, v := range b.Family.Versions {
		if b.Bases[v.Name] == nil {
			continue
		}
		pw.printf("| %s |", v.Name)
		for _, t := range b.Tasks {
			if m := b.FineTuned[v.Name][t]; m != nil {
				pw.printf(" %.4f |", m.TestAccuracy)
			} else {
				pw.printf(" – |")
			}
		}
		pw.printf("\n")
	}
	pw.printf("\n")
}

func writeGapSummary(pw *errWriter, fam string, sums []Summary) {
	ks := uniqInt(nil, nil)
	for _, s := range sums {
		if !slices.Contains(ks, s.K) {
			ks = append(ks, s.K)
		}
	}
	sort.Ints(ks)
	pw.printf("### Family %s\n\n| pair | method |", fam)
	for _, k := range ks {
		pw.printf(" K=%d |", k)
	}
	pw.printf("\n|---|---|%s\n", strings.Repeat("---:|", len(ks)))
	pairs := uniqSum(sums, func(s Summary) string { return s.Pair })
	for _, pair := range pairs {
		var ms []string
		for _, s := range sums {
			if s.Pair == pair && !slices.Contains(ms, s.Method) {
				ms = append(ms, s.Method)
			}
		}
		slices.SortFunc(ms, methodOrder)
		for _, m := range ms {
			pw.printf("| %s | %s |", pair, m)
			for _, k := range ks {
				found := false
				for _, s := range sums {
					if s.Pair == pair && s.Method == m && s.K == k {
						pw.printf(" %s (%.3f) |", fmtGap(s.GapClosed), s.Normalized)
						found = true
					}
				}
				if !found {
					pw.printf(" – |")
				}
			}
			pw.printf("\n")
		}
	}
	pw.printf("\n")
}

func writeTaskTable(pw *errWriter, fam, pair string, k int, rows []Row) {
	cells := Cells(rows)
	sums := Summarize(cells)
	tasks := uniq(rows, func(r Row) string { return r.Task })
	seeds := uniq(rows, func(r Row) string { return fmt.Sprint(r.Seed) })
	pw.printf("### %s %s, K = %d (%d seeds)\n\n| method | %s | avg | norm. | gap | α |\n|---|%s---:|---:|---:|---:|\n",
		fam, pair, k, len(seeds), strings.Join(tasks, " | "), strings.Repeat("---:|", len(tasks)))
	cell := func(m, t string) *Cell {
		for i := range cells {
			if cells[i].Method == m && cells[i].Task == t {
				return &cells[i]
			}
		}
		return nil
	}
	first := func(t string) *Cell {
		for i := range cells {
			if cells[i].Task == t {
				return &cells[i]
			}
		}
		return nil
	}
	// zero-shot and ceiling rows.
	for _, level := range []string{"zero-shot", "ceiling"} {
		pw.printf("| target %s |", level)
		var sum, norm float64
		for _, t := range tasks {
			c := first(t)
			v := c.ZeroShot
			if level == "ceiling" {
				v = c.Ceiling
			}
			sum += v
			if c.Ceiling > 0 {
				norm += v / c.Ceiling
			}
			pw.printf(" %.3f |", v)
		}
		n := float64(len(tasks))
		g := "0"
		if level == "ceiling" {
			g = "1"
		}
		pw.printf(" %.3f | %.3f | %s | |\n", sum/n, norm/n, g)
	}
	ms := methodsOf(rows)
	for _, m := range ms {
		pw.printf("| %s |", m)
		for _, t := range tasks {
			c := cell(m, t)
			if c == nil {
				pw.printf(" – |")
				continue
			}
			mark := ""
			if c.Ceiling-c.ZeroShot < smallGap {
				mark = "†"
			}
			pw.printf(" %.3f (%s%s) |", c.Accuracy, fmtGap(c.GapClosed()), mark)
		}
		for _, s := range sums {
			if s.Method == m {
				alpha := 0.0
				n := 0
				for _, c := range cells {
					if c.Method == m {
						alpha += c.Alpha
						n++
					}
				}
				a := fmt.Sprintf("%.2f", alpha/float64(n))
				if m == FewShotFT {
					a = ""
				}
				pw.printf(" %.3f | %.3f | %s | %s |", s.Accuracy, s.Normalized, fmtGap(s.GapClosed), a)
			}
		}
		pw.printf("\n")
	}
	pw.printf("\n")
}

func writeAblations(pw *errWriter, cells []Cell, sums []Summary) {
	type fpk struct {
		family, pair, method string
		k                    int
	}
	var groups []fpk
	for _, s := range sums {
		g := fpk{s.Family, s.Pair, s.Method, s.K}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	// Only groups with more than one variant are ablations.
	for _, g := range groups {
		var vs []Summary
		for _, s := range sums {
			if s.Family == g.family && s.Pair == g.pair && s.Method == g.method && s.K == g.k {
				vs = append(vs, s)
			}
		}
		if len(vs) < 2 {
			continue
		}
		var def *Summary
		for i := range vs {
			if vs[i].Variant == DefaultVariant {
				def = &vs[i]
			}
		}
		var tasks []string
		for _, c := range cells {
			if c.Family == g.family && c.Pair == g.pair && c.Method == g.method && c.K == g.k && !slices.Contains(tasks, c.Task) {
				tasks = append(tasks, c.Task)
			}
		}
		pw.printf("### %s %s, %s, K = %d\n\n| variant | avg ± sd | gap | Δ acc. (pts) | %s |\n|---|---:|---:|---:|%s\n",
			g.family, g.pair, g.method, g.k, strings.Join(tasks, " | "), strings.Repeat("---:|", len(tasks)))
		for _, s := range vs {
			d := "–"
			if def != nil {
				d = fmt.Sprintf("%+.1f", 100*(s.Accuracy-def.Accuracy))
			}
			var v2 float64
			n := 0
			for _, c := range cells {
				if c.Family == g.family && c.Pair == g.pair && c.Method == g.method && c.K == g.k && c.Variant == s.Variant {
					v2 += c.Std * c.Std
					n++
				}
			}
			pw.printf("| %s | %.3f ± %.3f | %s | %s |", s.Variant, s.Accuracy, math.Sqrt(v2)/float64(max(n, 1)), fmtGap(s.GapClosed), d)
			for _, t := range tasks {
				v := "–"
				for _, c := range cells {
					if c.Family == g.family && c.Pair == g.pair && c.Method == g.method && c.K == g.k && c.Variant == s.Variant && c.Task == t {
						v = fmt.Sprintf("%.3f", c.Accuracy)
					}
				}
				pw.printf(" %s |", v)
			}
			pw.printf("\n")
		}
		pw.printf("\n")
	}
}

func fmtGap(g float64) string {
	if math.IsNaN(g) || math.IsInf(g, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", g)
}

func minutes(s float64) string {
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}

func mainKs(want []int, rows []Row) []int {
	have := uniqInt(rows, func(r Row) int { return r.K })
	if want == nil {
		want = []int{4, 16}
	}
	var out []int
	for _, k := range want {
		if slices.Contains(have, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return have
	}
	return out
}

func filterVariant(rows []Row, v string) []Row {
	return filterRows(rows, func(r Row) bool { return r.Variant == v })
}

func filterRows(rows []Row, keep func(Row) bool) []Row {
	var out []Row
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func filterSums(sums []Summary, family, variant string) []Summary {
	var out []Summary
	for _, s := range sums {
		if s.Family == family && s.Variant == variant {
			out = append(out, s)
		}
	}
	return out
}

// uniq lists the distinct values of key over rows in first-seen order.
func uniq(rows []Row, key func(Row) string) []string {
	var out []string
	for _, r := range rows {
		if v := key(r); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func uniqSum(sums []Summary, key func(Summary) string) []string {
	var out []string
	for _, s := range sums {
		if v := key(s); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// uniqInt lists the distinct values of key over rows, sorted.
func uniqInt(rows []Row, key func(Row) int) []int {
	var out []int
	for _, r := range rows {
		if v := key(r); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
