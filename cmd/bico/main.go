// Command bico transfers fine-tuned expertise between versions of a
// pre-trained network without training: it aligns the coordinate systems of
// the old and new base models on a small calibration set and carries the
// task vector across.
//
// Run "bico help" for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"

	"github.com/bico-dev/bico/internal/memory"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bico:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "bico",
		Short: "Training-free transfer of fine-tuned expertise between model versions",
		Long: `bico moves a fine-tune from one version of a pre-trained network to another
without training. Given the old base model, its fine-tuned version, the new base
model and a small labelled calibration set, it aligns both models' coordinates on
both sides of every linear layer and writes the new model with the task vector
transported into its coordinates.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var profile string
	var profileFile *os.File
	root.PersistentFlags().StringVar(&profile, "cpuprofile", "", "write a CPU profile of the command to this file (for go tool pprof)")
	var memLimit string
	root.PersistentFlags().StringVar(&memLimit, "memory-limit", "auto", "soft limit on the Go heap: a size such as 14GiB, off, or auto (90% of the machine's or cgroup's memory, unless GOMEMLIMIT is set)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if _, err := memory.SetLimit(memLimit); err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
		memory.SetGCPercent()
		if profile == "" {
			return nil
		}
		f, err := os.Create(profile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		profileFile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if profileFile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		return profileFile.Close()
	}
	root.AddCommand(versionCmd(), inspectCmd(), transferCmd(), evalCmd(), demoCmd(), benchCmd(), zooCmd(), experimentCmd())
	return root
}
