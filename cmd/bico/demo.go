package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bico-dev/bico/experiment"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
	"github.com/spf13/cobra"
)

func demoCmd() *cobra.Command {
	var dir, task string
	var k int
	var seed uint64
	var quiet bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build two small model versions on MNIST, transfer a fine-tune with every method, print the table",
		Long: `demo is bico's built-in end-to-end example. On MNIST (shipped inside a Go
module) it pre-trains two base versions that share no initialisation (A, and B
with another seed, data order and augmentation), fine-tunes both on a shifted
task, and transfers A's fine-tune to B with every method from K calibration
samples per class. It prints B's zero-shot accuracy, every method, few-shot
fine-tuning of B on the same samples, and B fine-tuned on the full task (the
ceiling). Models are cached (see --cache), so later runs skip the training.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			ctx := cmd.Context()
			prog := newProgress(cmd.ErrOrStderr(), quiet)
			be, err := linalg.Default()
			if err != nil {
				return err
			}
			set, err := zoo.BuildDemo(ctx, dir, task, prog.update)
			if err != nil {
				return err
			}
			built := time.Since(start)
			pair := experiment.Pair{
				Name: "A→B", Task: set.Task,
				Source: set.SourceBase.Model, SourceFT: set.SourceFT.Model,
				Target: set.TargetBase.Model, TargetFT: set.TargetFT.Model,
				CalibPool: set.TaskTrain, Test: set.TaskTest,
				Options: transfer.Options{Backend: be},
			}
			recs, err := experiment.Run(ctx, pair, demoMethods, k, seed, true, prog.update)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			printDemo(out, set, recs, k, seed)
			fmt.Fprintf(out, "\nbackend %s; models %.1fs (%s), transfers and evaluation %.1fs, total %.1fs\n",
				be.Name(), built.Seconds(), cacheNote(set), time.Since(start).Seconds()-built.Seconds(), time.Since(start).Seconds())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "cache", "", "model cache folder (default: $BICO_CACHE or the user cache folder)")
	fl.StringVar(&task, "task", zoo.DemoTask, "shifted MNIST task")
	fl.IntVar(&k, "per-class", 16, "calibration samples per class (K)")
	fl.Uint64Var(&seed, "seed", 0, "seed of the calibration sample selection")
	fl.BoolVar(&quiet, "quiet", false, "no progress output")
	return cmd
}

// demoMethods are the methods the demo compares, baselines first.
var demoMethods = []string{"naive", "gradfix", "theseus", "bico-grad", "bico", "bico-blend"}

func cacheNote(set *zoo.DemoSet) string {
	n := 0
	for _, m := range []zoo.DemoModel{set.SourceBase, set.TargetBase, set.SourceFT, set.TargetFT} {
		if m.Built {
			n++
		}
	}
	if n == 0 {
		return "all from the cache"
	}
	return fmt.Sprintf("%d trained", n)
}

// printDemo prints the demo's table: zero-shot, every method, few-shot
// fine-tuning and the ceiling, on the task's test split.
func printDemo(out io.Writer, set *zoo.DemoSet, recs []experiment.Record, k int, seed uint64) {
	fmt.Fprintf(out, "\nTask %q (MNIST test split, %d images). Source A: MNIST accuracy %.3f; target B: %.3f.\n",
		set.Task, set.TaskTest.Len(), set.SourceBase.TestAccuracy, set.TargetBase.TestAccuracy)
	if len(recs) > 0 {
		r := recs[0]
		fmt.Fprintf(out, "Calibration: K = %d per class, seed %d: %d samples for statistics, %d held out to choose α.\n\n", k, seed, r.Calib, r.HeldOut)
	}
	fmt.Fprintf(out, "| %-22s | %8s | %10s | %10s | %7s |\n", "model", "accuracy", "α", "gap closed", "seconds")
	fmt.Fprintf(out, "|%s|%s:|%s:|%s:|%s:|\n", strings.Repeat("-", 24), strings.Repeat("-", 9), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 8))
	zs, ceil := set.TargetBase.TaskAccuracy, set.TargetFT.TaskAccuracy
	fmt.Fprintf(out, "| %-22s | %8.4f | %10s | %10s | %7s |\n", "B zero-shot", zs, "", "0.000", "")
	for _, r := range recs {
		alpha := fmt.Sprintf("%g", r.Alpha)
		switch {
		case r.Method == experiment.FewShotFT:
			alpha = ""
		case r.Setting != "":
			alpha += " " + r.Setting
		}
		fmt.Fprintf(out, "| %-22s | %8.4f | %10s | %10.3f | %7.1f |\n", r.Method, r.Accuracy, alpha, r.GapClosed, r.Seconds)
	}
	fmt.Fprintf(out, "| %-22s | %8.4f | %10s | %10s | %7s |\n", "B fine-tuned (ceiling)", ceil, "", "1.000", "")
	fmt.Fprintf(out, "\nA fine-tuned on the task: %.4f. α of each method (and bico-blend's β) chosen on the held-out calibration samples (highest accuracy, then lowest loss); few-shot-ft's step count likewise. Seconds: transfer time per method, the shared calibration pass split evenly.\n", set.SourceFT.TaskAccuracy)
}
