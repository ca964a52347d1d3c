package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bico-dev/bico/internal/jobs"
	"github.com/bico-dev/bico/zoo"
	"github.com/spf13/cobra"
)

func zooCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zoo",
		Short: "Build and list the model families of the experiments",
	}
	cmd.AddCommand(zooBuildCmd())
	return cmd
}

func zooBuildCmd() *cobra.Command {
	var dir string
	var families, tasks, versions []string
	var quick, quiet bool
	var jobN int
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Pre-train every family's base versions on MNIST and fine-tune them on every shifted task (cached)",
		Long: `build trains the model zoo of "bico experiment": for each family (mlp, vit)
four base versions pre-trained on the 10 MNIST classes (v1 the source; v2 the
same shape from another seed, data order and augmentation; v3 wider; v4
deeper), each fine-tuned on the eight shifted MNIST tasks. Every model is a
model folder (config.json, model.safetensors, recipe.json with its training
recipe and test accuracy) in the cache folder, keyed by its recipe: building
again loads it. Models that do not depend on each other train side by side
(--jobs, each on an equal share of the threads). --quick builds what "bico experiment --quick" needs: the mlp
family on three tasks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if jobN < 0 {
				return fmt.Errorf("--jobs %d: want 0 (one per CPU) or more", jobN)
			}
			ctx := jobs.WithLimit(cmd.Context(), jobN)
			if quick {
				if !cmd.Flags().Changed("family") {
					families = []string{"mlp"}
				}
				if !cmd.Flags().Changed("tasks") {
					tasks = quickTasks
				}
			}
			prog := newProgress(cmd.ErrOrStderr(), quiet)
			out := cmd.OutOrStdout()
			for _, name := range families {
				f, err := zoo.FamilyByName(name)
				if err != nil {
					return err
				}
				b, err := zoo.BuildFamily(ctx, dir, f, tasks, versions, prog.update)
				if err != nil {
					return err
				}
				printZoo(out, b)
			}
			d := dir
			if d == "" {
				d = zoo.DefaultDir()
			}
			fmt.Fprintf(out, "\nmodels in %s; total %.1fs\n", d, time.Since(start).Seconds())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "cache folder (default: $BICO_CACHE or the user cache folder)")
	fl.StringSliceVar(&families, "family", []string{"mlp", "vit"}, "families to build: mlp, vit, clip, llama, llama-lm, bert, neox, gpt2")
	fl.StringSliceVar(&tasks, "tasks", nil, "shifted tasks to fine-tune on (default: all eight)")
	fl.StringSliceVar(&versions, "versions", nil, "base versions to build (default: v1, v2, v3 and v4)")
	fl.IntVar(&jobN, "jobs", 0, "models trained side by side, each on an equal share of the threads (0: one per CPU)")
	fl.BoolVar(&quick, "quick", false, "only what the quick experiment needs (mlp family, three tasks)")
	fl.BoolVar(&quiet, "quiet", false, "no progress output")
	return cmd
}

// quickTasks are the tasks of --quick runs.
var quickTasks = []string{"rot90", "hflip", "stripes"}

// printZoo prints a family's models with their accuracies.
func printZoo(out io.Writer, b *zoo.Built) {
	fmt.Fprintf(out, "\nFamily %s: %s\n\n", b.Family.Name, b.Family.Description)
	fmt.Fprintf(out, "| version | relation | MNIST test acc. | folder |\n|---|---|---:|---|\n")
	for _, v := range b.Family.Versions {
		m := b.Bases[v.Name]
		if m == nil {
			continue
		}
		fmt.Fprintf(out, "| %s | %s | %.4f | %s |\n", v.Name, v.Relation, m.TestAccuracy, m.Dir)
	}
	fmt.Fprintf(out, "\nFine-tuned accuracy on each task's test split (10000 images):\n\n| version | %s |\n|---|%s\n",
		strings.Join(b.Tasks, " | "), strings.Repeat("---:|", len(b.Tasks)))
	for _, v := range b.Family.Versions {
		if b.Bases[v.Name] == nil {
			continue
		}
		fmt.Fprintf(out, "| %s |", v.Name)
		for _, t := range b.Tasks {
			fmt.Fprintf(out, " %.4f |", b.FineTuned[v.Name][t].TestAccuracy)
		}
		fmt.Fprintln(out)
	}
	built := 0
	for _, m := range b.Members() {
		if m.Built {
			built++
		}
	}
	fmt.Fprintf(out, "\n%d models, %d trained now, %.1fs\n", len(b.Members()), built, b.Seconds)
}
