package report

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTransferReport(t *testing.T) {
	r := &Transfer{Method: "bico", Alpha: 2, AlphaFrom: "held-out",
		AlphaCurve: []AlphaPoint{{1, 0.5, 1.2}, {2, 0.75, 0.9}},
		Sites: []SiteMap{{Statistic: "input x ↔ x", DA: 4, DB: 6, Rank: 4, Quality: 0.99, Alignment: 0.8125},
			{Statistic: "blend", DA: 4, DB: 4, Rank: 3, Quality: 1}},
		Options: map[string]string{"tokens": "resample"}}
	md := r.Markdown()
	for _, want := range []string{"`bico`", "| 2 | 0.7500 | 0.9000 ←", "| input x ↔ x | 4 | 6 | 4 | 0.8125 | 0.9900 |", "| blend | 4 | 4 | 3 | – | 1.0000 |", "option tokens"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	var back Transfer
	js, _ := os.ReadFile(filepath.Join(dir, "bico-report.json"))
	if err := json.Unmarshal(js, &back); err != nil || back.Alpha != 2 || len(back.AlphaCurve) != 2 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// The figures: PNGs the JSON lists and the Markdown shows.
	md2, _ := os.ReadFile(filepath.Join(dir, "bico-report.md"))
	for _, f := range []string{AlphaFigure, AlignmentFigure} {
		file, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(file)
		file.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s: %v", f, err)
		}
		if !slices.Contains(back.Figures, f) || !strings.Contains(string(md2), "]("+f+")") {
			t.Errorf("%s: not in the JSON's figures %v or the Markdown", f, back.Figures)
		}
	}
	// No curve, no α figure.
	r2 := &Transfer{Method: "bico", Alpha: 1, AlphaFrom: "fixed"}
	dir2 := t.TempDir()
	if err := r2.Write(dir2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, AlphaFigure)); err == nil || len(r2.Figures) != 0 {
		t.Errorf("a fixed α wrote figures %v", r2.Figures)
	}
}
