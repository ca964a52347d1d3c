// Package report renders bico's results for people and programs: JSON,
// Markdown tables and PNG figures.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Transfer describes one transfer: what was done, with what, and how well
// each part went. It is written as bico-report.json and bico-report.md.
type Transfer struct {
	Method          string            `json:"method"`
	SourceBase      string            `json:"source_base"`
	SourceFinetuned string            `json:"source_finetuned"`
	TargetBase      string            `json:"target_base"`
	Calibration     Calibration       `json:"calibration"`
	Options         map[string]string `json:"options"`
	Alpha           float64           `json:"alpha"`
	AlphaFrom       string            `json:"alpha_chosen_by"`
	Setting         string            `json:"setting,omitempty"` // a tunable method's choice, made on held-out samples
	AlphaCurve      []AlphaPoint      `json:"alpha_curve,omitempty"`
	Sites           []SiteMap         `json:"maps,omitempty"`
	Unpaired        []string          `json:"unpaired_target_sites,omitempty"`
	// Unchanged are the target sites whose source partner the fine-tune
	// did not change (zero delta): left out, with no statistics or maps.
	Unchanged []string  `json:"unchanged_sites,omitempty"`
	TaskHead  *TaskHead `json:"task_head,omitempty"`
	Seconds   Timings   `json:"seconds"`
	// Figures are the PNG files Write put beside the report.
	Figures []string `json:"figures,omitempty"`
}

// TaskHead says which base models were given the fine-tuned source's head
// because their own labels differed from it: the source base takes that
// head as it is, the target base takes it through the map of the head's
// input (its alignment as in SiteMap).
type TaskHead struct {
	Labels     []string `json:"labels"`
	SourceBase bool     `json:"source_base"`
	TargetBase bool     `json:"target_base"`
	Alignment  float64  `json:"map_alignment,omitempty"` // the target head's input map, as SiteMap.Alignment
	Seconds    float64  `json:"seconds"`                 // the forward pass behind the map, and the map
}

// Calibration says which samples the transfer saw.
type Calibration struct {
	Data     string `json:"data"`
	PerClass int    `json:"per_class"`
	Seed     uint64 `json:"seed"`
	Stats    int    `json:"stats_samples"`   // samples behind the statistics
	HeldOut  int    `json:"heldout_samples"` // samples α was chosen on
	// Passes is the number of calibration passes: more than one when the
	// statistics were collected in parts, each for a part of the sites.
	Passes int `json:"passes,omitempty"`
	// Tokenizers, when the source and the target tokenise text
	// differently, says how their tokens were matched.
	Tokenizers *Tokenizers `json:"tokenizers,omitempty"`
}

// Tokenizers describes a transfer between models whose tokenizers differ:
// each read the calibration text in its own tokens, and the statistics
// took the rows of the target's tokens after which the source had read the
// same text.
type Tokenizers struct {
	Source string `json:"source"` // the source's tokenizer.json
	Target string `json:"target"` // the target's tokenizer.json
	// MatchedTokens of the TargetTokens (padding aside) of the statistics'
	// samples line up with a source token.
	MatchedTokens int `json:"matched_tokens"`
	TargetTokens  int `json:"target_tokens"`
	// VocabMatched of the target's TargetVocab token ids have a source token
	// of the same text (0 and 0 when both number their tokens alike): the
	// rows of a changed embedding table or lm_head move between those.
	VocabMatched int `json:"vocab_matched,omitempty"`
	TargetVocab  int `json:"target_vocab,omitempty"`
}

// Summary is one sentence on how the tokens were matched.
func (t *Tokenizers) Summary() string {
	s := fmt.Sprintf("the source and the target tokenise text differently (%s, %s): %d of the target's %d calibration tokens line up with a source token, and the statistics take those",
		t.Source, t.Target, t.MatchedTokens, t.TargetTokens)
	if t.TargetVocab > 0 {
		s += fmt.Sprintf("; %d of its %d vocabulary entries have a source token of the same text", t.VocabMatched, t.TargetVocab)
	}
	return s
}

// AlphaPoint is the held-out score for one α.
type AlphaPoint struct {
	Alpha    float64 `json:"alpha"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
}

// SiteMap is the alignment quality of one Procrustes map.
type SiteMap struct {
	Statistic string  `json:"statistic"`
	DA        int     `json:"d_source"`
	DB        int     `json:"d_target"`
	Rank      int     `json:"rank"`
	Quality   float64 `json:"quality"`
	// Alignment is tr(TᵀC)/√(Σ‖a‖²·Σ‖b‖²): 1 when every source row is the
	// map of its target row, near 0 when they are unrelated (0: not
	// measured, for a blend of statistics).
	Alignment float64 `json:"alignment,omitempty"`
}

// Timings splits the transfer's wall-clock time.
type Timings struct {
	Load        float64 `json:"load"`
	Calibration float64 `json:"calibration"`
	Transport   float64 `json:"maps_and_transport"`
	Alpha       float64 `json:"alpha_selection"`
	Write       float64 `json:"write"` // the checkpoint; the report itself comes after
}

// Markdown renders the report for people.
func (r *Transfer) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bico transfer report\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| method | `%s` |\n", r.Method)
	fmt.Fprintf(&b, "| source base | `%s` |\n| source fine-tuned | `%s` |\n| target base | `%s` |\n", r.SourceBase, r.SourceFinetuned, r.TargetBase)
	c := r.Calibration
	passes := ""
	if c.Passes > 1 {
		passes = fmt.Sprintf("; statistics in %d parts, one calibration pass each", c.Passes)
	}
	fmt.Fprintf(&b, "| calibration | `%s`, %d per class, seed %d: %d samples for statistics, %d held out%s |\n", c.Data, c.PerClass, c.Seed, c.Stats, c.HeldOut, passes)
	if tk := c.Tokenizers; tk != nil {
		fmt.Fprintf(&b, "| tokenizers | %s |\n", tk.Summary())
	}
	fmt.Fprintf(&b, "| α | %g (%s) |\n", r.Alpha, r.AlphaFrom)
	if r.Setting != "" {
		fmt.Fprintf(&b, "| setting (held-out) | %s |\n", r.Setting)
	}
	for _, k := range sortedKeys(r.Options) {
		fmt.Fprintf(&b, "| option %s | %s |\n", k, r.Options[k])
	}
	if h := r.TaskHead; h != nil {
		fmt.Fprintf(&b, "| task head | the fine-tuned source's %d labels on %s |\n", len(h.Labels), h.bases())
	}
	t := r.Seconds
	fmt.Fprintf(&b, "| seconds | load %.2f, calibration %.2f, maps+transport %.2f, α %.2f, write %.2f |\n", t.Load, t.Calibration, t.Transport, t.Alpha, t.Write)
	if len(r.AlphaCurve) > 0 {
		fmt.Fprintf(&b, "\n## α on held-out calibration samples\n\n| α | accuracy | loss |\n|---:|---:|---:|\n")
		for _, p := range r.AlphaCurve {
			mark := ""
			if p.Alpha == r.Alpha {
				mark = " ←"
			}
			fmt.Fprintf(&b, "| %g | %.4f | %.4f%s |\n", p.Alpha, p.Accuracy, p.Loss, mark)
		}
	}
	if len(r.Sites) > 0 {
		fmt.Fprintf(&b, "\n## Maps\n\nalignment = tr(TᵀC)/√(Σ‖a‖²·Σ‖b‖²) over the calibration rows: 1 when every source row is the map of its target row, near 0 when they are unrelated (– for a blend of statistics). quality = tr(TᵀC)/‖C‖_*, a numerical check: 1 when the map attains the Procrustes optimum.\n\n| statistic | d_A | d_B | rank | alignment | quality |\n|---|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Sites {
			al := "–"
			if s.Alignment != 0 {
				al = fmt.Sprintf("%.4f", s.Alignment)
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %.4f |\n", s.Statistic, s.DA, s.DB, s.Rank, al, s.Quality)
		}
	}
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "\n![%s](%s)\n", strings.TrimSuffix(f, ".png"), f)
	}
	if len(r.Unpaired) > 0 {
		fmt.Fprintf(&b, "\nTarget sites without a source partner (no delta): %s\n", strings.Join(r.Unpaired, ", "))
	}
	if len(r.Unchanged) > 0 {
		fmt.Fprintf(&b, "\nTarget sites whose source partner the fine-tune did not change (zero delta, no statistics or maps): %s\n", strings.Join(r.Unchanged, ", "))
	}
	return b.String()
}

// bases names the bases that got the task head, with the target's map
// quality.
func (h *TaskHead) bases() string {
	var on []string
	if h.SourceBase {
		on = append(on, "the source base")
	}
	if h.TargetBase {
		on = append(on, fmt.Sprintf("the target base (mapped, alignment %.4f)", h.Alignment))
	}
	return strings.Join(on, " and ")
}

// Write stores the report in dir as bico-report.json and bico-report.md,
// with the figures it has data for (AlphaFigure, AlignmentFigure), which
// the Markdown shows.
func (r *Transfer) Write(dir string) error {
	figs, err := r.writeFigures(dir)
	if err != nil {
		return err
	}
	r.Figures = figs
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "bico-report.json"), append(js, '\n')); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "bico-report.md"), []byte(r.Markdown()))
}

// WriteFileAtomic writes data to a temporary file beside path and renames
// it into place, so that path never holds a partial file.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
