package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/zoo"
)

// tinyFamily is the mlp family shrunk to train in seconds: hidden width 32
// (48 for v3, three layers for v4), 300 pre-training and 150 fine-tuning
// steps, 1000 test images.
func tinyFamily() zoo.Family {
	f := zoo.MLPFamily()
	f.Name = "tiny"
	arch := func(hidden ...int) map[string]any {
		return model.MLPConfig{InputSize: 784, HiddenSizes: hidden, Labels: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}.Map()
	}
	cfgs := []map[string]any{arch(32, 32), arch(32, 32), arch(48, 48), arch(32, 32, 32)}
	for i := range f.Versions {
		r := &f.Versions[i].Recipe
		r.Name = "tiny-" + f.Versions[i].Name
		r.Config, r.Steps, r.BatchSize, r.Warmup = cfgs[i], 300, 64, 20
	}
	f.FineTune.Steps, f.FineTune.BatchSize = 150, 64
	f.TestImages = 1000
	return f
}

func TestRunGridTinyFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model family")
	}
	ctx := context.Background()
	cache := t.TempDir()
	tasks := []string{"rot90", "hflip"}
	b, err := zoo.BuildFamily(ctx, cache, tinyFamily(), tasks, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Members()) != 4+4*len(tasks) {
		t.Fatalf("%d models built, want %d", len(b.Members()), 4+4*len(tasks))
	}
	for _, m := range b.Members() {
		if _, err := os.Stat(filepath.Join(m.Dir, zoo.RecipeFile)); err != nil {
			t.Errorf("model %s %s %s: %v", m.Version, m.Task, m.Dir, err)
		}
		if m.Task == "" && m.TestAccuracy < 0.8 {
			t.Errorf("base %s: MNIST test accuracy %.3f, want at least 0.8", m.Version, m.TestAccuracy)
		}
	}
	// the same-shape pair and a narrower target (naive and gradfix skipped)
	pairs := []PairSpec{{"v1", "v2"}, {"v3", "v1"}}
	if be, err := linalg.Default(); err == nil && be.Name() == "go" {
		// The pure-Go SVD of the 784-wide input statistics takes seconds:
		// one pair keeps the test short under that backend.
		pairs = pairs[:1]
	}
	rows, err := RunGrid(ctx, Grid{Family: b, Pairs: pairs, Tasks: tasks, Ks: []int{2}, Seeds: []uint64{0}, FewShot: true, FewShotSteps: []int{10, 20}})
	if err != nil {
		t.Fatal(err)
	}
	sameShape := func(_, pair string) bool { return pair == "v1→v2" }
	if problems := Check(rows, AllMethods, sameShape); len(problems) > 0 {
		t.Errorf("robust checks: %s", strings.Join(problems, "; "))
	}
	// every pair has few-shot-ft, and naive only on the same-shape pair.
	count := map[string]int{}
	for _, r := range rows {
		count[r.Pair+" "+r.Method]++
	}
	for _, ps := range pairs {
		if count[ps.Name()+" "+FewShotFT] != len(tasks) || count[ps.Name()+" bico"] != len(tasks) {
			t.Errorf("pair %s: %d few-shot-ft and %d bico records, want %d each", ps.Name(), count[ps.Name()+" "+FewShotFT], count[ps.Name()+" bico"], len(tasks))
		}
	}
	if count["v1→v3 naive"] != 0 || count["v3→v1 gradfix"] != 0 || count["v1→v2 naive"] != len(tasks) {
		t.Errorf("naive records: %v", count)
	}

	// One job at a time (on all the threads) gives the same rows, in the
	// same order, as cells side by side.
	serial, err := RunGrid(ctx, Grid{Family: b, Pairs: pairs, Tasks: tasks, Ks: []int{2}, Seeds: []uint64{0}, FewShot: true, FewShotSteps: []int{10, 20}, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(serial) != len(rows) {
		t.Fatalf("%d rows with one job, %d side by side", len(serial), len(rows))
	}
	for i := range rows {
		a, b := serial[i], rows[i]
		a.Seconds, b.Seconds = 0, 0
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("row %d: one job %s\nside by side %s", i, ja, jb)
		}
	}

	// Schema: every documented field is in results.json.
	dir := t.TempDir()
	file := filepath.Join(dir, "results.json")
	if err := WriteJSON(file, rows); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(file)
	var generic []map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"family", "variant", "pair", "task", "method", "k", "seed", "alpha", "alpha_chosen_by", "accuracy", "zero_shot", "ceiling", "gap_closed", "normalized_accuracy", "seconds", "calib_samples", "heldout_samples"} {
		for _, rec := range generic {
			if _, ok := rec[field]; !ok {
				t.Fatalf("record %v has no field %q", rec, field)
			}
		}
	}
	back, err := ReadJSON(file)
	if err != nil || len(back) != len(rows) {
		t.Fatalf("read back %d rows (%v), want %d", len(back), err, len(rows))
	}

	// Figures are valid PNGs.
	aligns, err := AlignmentGrid(ctx, Grid{Family: b, Pairs: pairs, Tasks: tasks, Ks: []int{2}, Seeds: []uint64{0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range aligns {
		if !(a.Score > 0 && a.Score <= 1+1e-6) || !(a.Centered > 0 && a.Centered <= 1+1e-6) {
			t.Errorf("alignment %s: scores %v and %v (centred), want in (0, 1]", a.Statistic, a.Score, a.Centered)
		}
	}
	figs, err := WriteFigures(filepath.Join(dir, "figures"), rows, aligns)
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 3*len(pairs) {
		t.Errorf("%d figures, want %d", len(figs), 3*len(pairs))
	}
	for _, f := range figs {
		fh, err := os.Open(filepath.Join(dir, "figures", f.Path))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Errorf("figure %s: %v", f.Path, err)
		} else if img.Bounds().Dx() < 100 {
			t.Errorf("figure %s: %v", f.Path, img.Bounds())
		}
	}

	var md bytes.Buffer
	if err := WriteMarkdown(&md, Report{Command: "bico experiment", Families: []*zoo.Built{b}, Rows: rows, Figures: figs, FigureDir: "figures"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| method | rot90 | hflip | avg | norm. | gap | α |", "| target zero-shot |", "| bico |", "## Robust checks", "Passed"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md.String())
		}
	}
}

func TestSummaryGapOfAverages(t *testing.T) {
	rows := []Row{
		{Family: "f", Variant: DefaultVariant, Record: Record{Pair: "p", Task: "a", Method: "bico", K: 4, Seed: 0, Accuracy: 0.6, ZeroShot: 0.2, Ceiling: 1}},
		{Family: "f", Variant: DefaultVariant, Record: Record{Pair: "p", Task: "a", Method: "bico", K: 4, Seed: 1, Accuracy: 0.8, ZeroShot: 0.2, Ceiling: 1}},
		// a task whose ceiling is barely above zero-shot: its own gap explodes
		{Family: "f", Variant: DefaultVariant, Record: Record{Pair: "p", Task: "b", Method: "bico", K: 4, Seed: 0, Accuracy: 0.8, ZeroShot: 0.9, Ceiling: 0.91}},
		{Family: "f", Variant: DefaultVariant, Record: Record{Pair: "p", Task: "b", Method: "bico", K: 4, Seed: 1, Accuracy: 0.8, ZeroShot: 0.9, Ceiling: 0.91}},
	}
	cells := Cells(rows)
	if len(cells) != 2 || cells[0].Accuracy != 0.7 || cells[0].Seeds != 2 {
		t.Fatalf("cells %+v", cells)
	}
	if g := cells[1].GapClosed(); g > -9.9 || g < -10.1 {
		t.Errorf("task b gap %v, want -10", g)
	}
	sums := Summarize(cells)
	if len(sums) != 1 {
		t.Fatalf("summaries %+v", sums)
	}
	s := sums[0]
	// mean acc 0.75, mean zero-shot 0.55, mean ceiling 0.955
	want := (0.75 - 0.55) / (0.955 - 0.55)
	if d := s.GapClosed - want; d > 1e-12 || d < -1e-12 {
		t.Errorf("gap closed %v, want %v", s.GapClosed, want)
	}
	if problems := Check(rows, []string{"bico"}, func(string, string) bool { return true }); len(problems) != 0 {
		t.Errorf("check: %v", problems)
	}
	bad := append([]Row(nil), rows...)
	bad[0].Accuracy, bad[1].Accuracy = 0, 0
	if problems := Check(bad, []string{"bico", "theseus"}, func(string, string) bool { return true }); len(problems) != 5 {
		t.Errorf("check of bad rows: %v, want 4 missing theseus records and bico below zero-shot", problems)
	}
}

func TestParsePair(t *testing.T) {
	for _, s := range []string{"v1-v2", "v1→v2", "v1:v2", "v1->v2"} {
		p, err := ParsePair(s)
		if err != nil || p != (PairSpec{"v1", "v2"}) {
			t.Errorf("ParsePair(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"v1", "-v2", "v1-"} {
		if _, err := ParsePair(s); err == nil {
			t.Errorf("ParsePair(%q) accepted", s)
		}
	}
}
