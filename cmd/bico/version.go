package main

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"

	"github.com/bico-dev/bico/linalg"
	"github.com/spf13/cobra"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print bico's version, the Go version, the BLAS backend and the heap's memory limit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "bico %s\n", versionString())
			fmt.Fprintf(out, "go   %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			be, err := linalg.Default()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "blas %s (%d threads)\n", be.Name(), be.Threads())
			gc := debug.SetGCPercent(100)
			debug.SetGCPercent(gc)
			fmt.Fprintf(out, "heap %s, collected at %d%% growth\n", limitString(debug.SetMemoryLimit(-1)), gc)
			return nil
		},
	}
}

// limitString describes a soft memory limit in bytes for people.
func limitString(limit int64) string {
	if limit == math.MaxInt64 {
		return "no memory limit"
	}
	return fmt.Sprintf("memory limit %.1f GiB", float64(limit)/(1<<30))
}
