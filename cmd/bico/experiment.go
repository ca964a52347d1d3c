package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/bico-dev/bico/experiment"
	"github.com/bico-dev/bico/internal/jobs"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
	"github.com/spf13/cobra"
)

func experimentCmd() *cobra.Command {
	var (
		out, cache, tokens, norms, embeds, pairing, statsFrom string
		families, pairs, tasks, methods                       []string
		ks, vitKs                                             []int
		variants                                              []string
		resume                                                bool
		reuseFiles                                            []string
		seeds, testImages, jobN                               int
		whiten                                                float64
		quick, fewShot, center, sharedQK, ablations, quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Run every method over the zoo's pairs, tasks, calibration sizes and seeds; write results.json, results.md and figures",
		Long: `experiment reproduces the paper's comparison at small scale. It builds (or
loads) the model zoo (see "bico zoo build"), then for the pairs v1→v2 (new
pre-training), v1→v3 (wider), v1→v4 (deeper) and v3→v1 (narrower) of each
family, every shifted task, every calibration size K and seed, it transfers the
source's fine-tune to the target with every method (naive and gradfix only where
the shapes match) and trains few-shot-ft on the same calibration samples. α and
few-shot-ft's step count are chosen on the held-out calibration part.

It writes DIR/results.json (every record), DIR/results.md (tables: rows
methods, columns tasks, with average, normalised accuracy and gap closed) and
PNG figures under DIR/figures, and checks robust properties (every method ran
where it can; bico's average is above the target's zero-shot average): a
violation makes it exit non-zero.

The option flags (--tokens, --norms, ...) change the transfer options of the
whole run; --ablations runs the defaults and every single-option variant
instead (bico only, K = 16 unless --methods or --k say otherwise).

--quick is the smoke test: the mlp family, three tasks, K ∈ {4, 16}, one seed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			ctx := cmd.Context()
			fl := cmd.Flags()
			if quick {
				if !fl.Changed("family") {
					families = []string{"mlp"}
				}
				if !fl.Changed("tasks") {
					tasks = quickTasks
				}
				if !fl.Changed("k") {
					ks = []int{4, 16}
				}
				if !fl.Changed("seeds") {
					seeds = 1
				}
			}
			if ablations {
				if !fl.Changed("methods") {
					methods = []string{"bico"}
				}
				if !fl.Changed("k") {
					ks = []int{16}
				}
				if !fl.Changed("vit-k") {
					vitKs = ks
				}
				if !fl.Changed("few-shot") {
					fewShot = false
				}
			}
			if len(tasks) == 0 {
				tasks = zoo.ShiftedTasks()
			}
			if seeds < 1 {
				return fmt.Errorf("--seeds %d: want at least 1", seeds)
			}
			var pairSpecs []experiment.PairSpec
			for _, p := range pairs {
				ps, err := experiment.ParsePair(p)
				if err != nil {
					return err
				}
				pairSpecs = append(pairSpecs, ps)
			}
			var versions []string
			for _, ps := range pairSpecs {
				for _, v := range []string{ps.Source, ps.Target} {
					if !slices.Contains(versions, v) {
						versions = append(versions, v)
					}
				}
			}
			be, err := linalg.Default()
			if err != nil {
				return err
			}
			opts := transfer.Options{
				Backend: be, Tokens: transfer.TokenRule(tokens), Norms: transfer.NormRule(norms), Embeds: transfer.EmbedRule(embeds),
				Pairing: transfer.PairingRule(pairing), Center: center, Whiten: whiten, StatsFrom: transfer.StatsSource(statsFrom), SharedQK: sharedQK,
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			variant := variantName(cmd)
			seedList := make([]uint64, seeds)
			for i := range seedList {
				seedList[i] = uint64(i)
			}
			if jobN < 0 {
				return fmt.Errorf("--jobs %d: want 0 (one per CPU) or more", jobN)
			}
			ctx = jobs.WithLimit(ctx, jobN)
			prog := newProgress(cmd.ErrOrStderr(), quiet)
			var built []*zoo.Built
			for _, name := range families {
				f, err := zoo.FamilyByName(name)
				if err != nil {
					return err
				}
				if testImages > 0 {
					f.TestImages = testImages
				}
				b, err := zoo.BuildFamily(ctx, cache, f, tasks, versions, prog.update)
				if err != nil {
					return err
				}
				built = append(built, b)
			}
			zooSeconds := time.Since(start).Seconds()
			var reuse []experiment.Row
			if resume {
				if old, err := experiment.ReadJSON(filepath.Join(out, "results.json")); err == nil {
					reuse = old
				} else if !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			var reuseAlign []experiment.SiteAlignment
			for _, file := range reuseFiles {
				old, err := experiment.ReadJSON(file)
				if err != nil {
					return err
				}
				reuse = append(reuse, old...)
				al, err := experiment.ReadAlignmentJSON(filepath.Join(filepath.Dir(file), "alignment.json"))
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				reuseAlign = append(reuseAlign, al...)
			}
			var rows []experiment.Row
			var aligns []experiment.SiteAlignment
			var failures []experiment.Failure
			for _, b := range built {
				famKs := ks
				if b.Family.Transformer() && (fl.Changed("vit-k") || !fl.Changed("k") && !quick) {
					famKs = vitKs
				}
				g := experiment.Grid{
					Family: b, Pairs: pairSpecs, Tasks: tasks, Ks: famKs, Seeds: seedList, Methods: methods,
					FewShot: fewShot, Options: opts, Variant: variant, Progress: prog.update, Jobs: jobN, Reuse: reuse, Failures: &failures,
				}
				rs, err := experiment.RunGrid(ctx, g)
				if err != nil {
					return err
				}
				rows = append(rows, rs...)
				if !ablations {
					al := experiment.ReusableAlignment(reuseAlign, g)
					if al == nil {
						if al, err = experiment.AlignmentGrid(ctx, g); err != nil {
							return err
						}
					}
					aligns = append(aligns, al...)
					continue
				}
				for _, v := range experiment.Variants() {
					if len(variants) > 0 && !slices.Contains(variants, v.Name) {
						continue
					}
					for _, ps := range pairSpecs {
						if !variantApplies(b, v.Name, ps) {
							continue
						}
						vg := g
						vg.Pairs, vg.Variant, vg.FewShot = []experiment.PairSpec{ps}, v.Name, false
						v.Apply(&vg.Options)
						rs, err := experiment.RunGrid(ctx, vg)
						if err != nil {
							return fmt.Errorf("ablation %s: %w", v.Name, err)
						}
						rows = append(rows, rs...)
					}
				}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := experiment.WriteJSON(filepath.Join(out, "results.json"), rows); err != nil {
				return err
			}
			if len(aligns) > 0 {
				if err := experiment.WriteAlignmentJSON(filepath.Join(out, "alignment.json"), aligns); err != nil {
					return err
				}
			}
			figs, err := experiment.WriteFigures(filepath.Join(out, "figures"), rows, aligns)
			if err != nil {
				return err
			}
			sameShape := func(family, pair string) bool {
				for _, b := range built {
					if b.Family.Name != family {
						continue
					}
					for _, ps := range pairSpecs {
						if ps.Name() == pair {
							return sameArch(b, ps)
						}
					}
				}
				return false
			}
			problems := experiment.Check(rows, methods, sameShape)
			for _, f := range failures {
				problems = append(problems, fmt.Sprintf("%s %s %s task %s K=%d seed %d: %s failed: %s", f.Family, f.Variant, f.Pair, f.Task, f.K, f.Seed, f.Method, f.Error))
			}
			rep := experiment.Report{
				Command:     commandLine(),
				WallSeconds: time.Since(start).Seconds(),
				ZooSeconds:  zooSeconds,
				Machine:     fmt.Sprintf("%d CPUs (%s/%s), linear algebra %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, be.Name()),
				Families:    built,
				Rows:        rows,
				Figures:     figs,
				FigureDir:   "figures",
				Problems:    problems,
			}
			if variant != experiment.DefaultVariant {
				rep.Notes = append(rep.Notes, fmt.Sprintf("Transfer options of this run: %s.", variant))
			}
			if ablations {
				rep.Notes = append(rep.Notes, "Ablations: the MLPs have no tokens, norms or attention, so only the depth pairing (on pairs of different depths), centring, whitening and the statistics' source apply to them; pairing=cka runs only on pairs whose depths differ.")
			}
			var md bytes.Buffer
			if err := experiment.WriteMarkdown(&md, rep); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "results.md"), md.Bytes(), 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d records; results in %s (results.json, results.md, %d figures); %.1fs (zoo %.1fs)\n",
				len(rows), out, len(figs), time.Since(start).Seconds(), zooSeconds)
			printGapSummary(w, rows)
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), "check failed:", p)
				}
				return errors.New("experiment: robust checks failed (see results.md)")
			}
			fmt.Fprintln(w, "robust checks passed")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "results", "output folder")
	fl.StringVar(&cache, "cache", "", "model cache folder (default: $BICO_CACHE or the user cache folder)")
	fl.StringSliceVar(&families, "family", []string{"mlp", "vit"}, "model families: mlp, vit, clip, llama, llama-lm, bert, neox, gpt2")
	fl.StringSliceVar(&pairs, "pairs", []string{"v1-v2", "v1-v3", "v1-v4", "v3-v1"}, "source-target pairs")
	fl.StringSliceVar(&tasks, "tasks", nil, "shifted tasks (default: all eight)")
	fl.StringSliceVar(&methods, "methods", experiment.AllMethods, "training-free methods")
	fl.IntSliceVar(&ks, "k", []int{1, 2, 4, 8, 16}, "calibration samples per class")
	fl.IntSliceVar(&vitKs, "vit-k", []int{1, 2, 4, 8, 16}, "calibration samples per class for the transformer families, vit, clip, llama, llama-lm and bert (--k alone sets all)")
	fl.StringSliceVar(&variants, "variants", nil, "with --ablations: only these variants (default: all)")
	fl.BoolVar(&resume, "resume", false, "reuse the cells of DIR/results.json measured with the same settings")
	fl.StringSliceVar(&reuseFiles, "reuse", nil, "results.json files of earlier runs whose cells to reuse (like --resume)")
	fl.IntVar(&jobN, "jobs", 0, "cells (and zoo trainings) run side by side, each on an equal share of the threads (0: one per CPU)")
	fl.IntVar(&seeds, "seeds", 3, "number of seeds (0, 1, …) drawing the calibration samples")
	fl.BoolVar(&fewShot, "few-shot", true, "also run few-shot-ft on the same calibration samples")
	fl.IntVar(&testImages, "test-images", 0, "test images per task (default: the family's, 10000 for mlp, 1000 for vit)")
	fl.BoolVar(&quick, "quick", false, "smoke test: mlp family, three tasks, K 4 and 16, one seed")
	fl.BoolVar(&ablations, "ablations", false, "run the defaults and every single-option ablation")
	fl.StringVar(&tokens, "tokens", "", "token rows: resample (default), cls or mean")
	fl.StringVar(&norms, "norms", "", "norm vectors: map (default), diag or drop")
	fl.StringVar(&embeds, "embeds", "", "class token and position embeddings: map (default) or zero")
	fl.StringVar(&pairing, "pairing", "", "depth pairing: relative (default) or cka")
	fl.BoolVar(&center, "center", false, "centre rows before the cross-covariances")
	fl.Float64Var(&whiten, "whiten", 0, "partial whitening power p in [0, 0.5]")
	fl.StringVar(&statsFrom, "stats-from", "", "source statistics from the base (default) or finetuned source")
	fl.BoolVar(&sharedQK, "shared-qk", false, "one output map for query and key")
	fl.BoolVar(&quiet, "quiet", false, "no progress output")
	return cmd
}

// variantName labels the run's options by the option flags given.
func variantName(cmd *cobra.Command) string {
	var parts []string
	for _, name := range []string{"tokens", "norms", "embeds", "pairing", "center", "whiten", "stats-from", "shared-qk"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			parts = append(parts, name+"="+f.Value.String())
		}
	}
	if len(parts) == 0 {
		return experiment.DefaultVariant
	}
	return strings.Join(parts, ",")
}

// variantApplies says whether an ablation changes anything on a pair: the
// MLPs have no tokens, norms, embeddings or attention, and depth pairing
// matters only between depths.
func variantApplies(b *zoo.Built, variant string, ps experiment.PairSpec) bool {
	mlp := b.Family.Name == "mlp"
	switch {
	case strings.HasPrefix(variant, "tokens="), strings.HasPrefix(variant, "norms="), variant == "embeds=zero", variant == "shared-qk":
		return !mlp
	case variant == "pairing=cka":
		return depthOf(b, ps.Source) != depthOf(b, ps.Target)
	}
	return true
}

func depthOf(b *zoo.Built, version string) int {
	n := 0
	for _, s := range b.Bases[version].Model.Sites() {
		n = max(n, s.Block+1)
	}
	return n
}

// sameArch reports whether the pair's versions have identical
// configurations apart from nothing that changes parameter shapes.
func sameArch(b *zoo.Built, ps experiment.PairSpec) bool {
	a, t := b.Bases[ps.Source].Model, b.Bases[ps.Target].Model
	an, tn := a.ParamNames(), t.ParamNames()
	if !slices.Equal(an, tn) {
		return false
	}
	for _, n := range an {
		if !slices.Equal(a.Param(n).Value.Shape, t.Param(n).Value.Shape) {
			return false
		}
	}
	return true
}

// commandLine is the command as typed, program name shortened to "bico".
func commandLine() string {
	args := append([]string{"bico"}, os.Args[1:]...)
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}

// printGapSummary prints the gap closed per family, pair, method and K.
func printGapSummary(w interface{ Write([]byte) (int, error) }, rows []experiment.Row) {
	sums := experiment.Summarize(experiment.Cells(rows))
	fmt.Fprintf(w, "\n%-6s %-16s %-8s %-12s %3s %9s %8s\n", "family", "variant", "pair", "method", "K", "accuracy", "gap")
	for _, s := range sums {
		fmt.Fprintf(w, "%-6s %-16s %-8s %-12s %3d %9.4f %8.3f\n", s.Family, s.Variant, s.Pair, s.Method, s.K, s.Accuracy, s.GapClosed)
	}
}
