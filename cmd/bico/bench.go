package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/bico-dev/bico/bench"
	"github.com/bico-dev/bico/linalg"
	"github.com/spf13/cobra"
)

type benchFlags struct {
	asJSON, quiet                     bool
	threads                           int
	sgemm                             string
	family                            string
	main                              bench.Shape
	llm                               bench.LLM
	targetPatch                       int
	batch, batches, smallBatches      int
	repeats, smallRepeats             int
	evalSamples, evalRepeats          int
	skipMain, skipSmall, skipTransfer bool
	polar, tune, newLabels            bool
	method                            string
	changed                           []string
	seed                              uint64
}

func benchCmd() *cobra.Command {
	f := benchFlags{main: bench.ViTB16, llm: bench.SmolLM2}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure sgemm, the calibration pass and the transfer step against the machine's limit",
		Long: `bench measures where bico's users wait, each figure beside its reference from the
same run:

  - sgemm GFLOP/s of the active BLAS backend (BICO_BLAS) at 1024 and 2048: the ceiling;
  - the calibration pass of two random-weight vit models (by default ViT-B/16:
    width 768, 12 blocks, 12 heads, MLP 3072, 224 pixels, patch 16, 1000 classes),
    forward and backward with every site's BiCo cross-covariances accumulated:
    seconds per batch (median), images per second, achieved GFLOP/s (counted
    matrix-product FLOPs over time) and its fraction of the sgemm ceiling, and
    the peak resident memory against weights + one batch's activations +
    statistics;
  - the evaluation: the target scoring 16 held-out images (--eval-samples),
    as choosing α does for every candidate α, with its GFLOP/s and fraction
    of the ceiling;
  - the transfer step: the Procrustes map of every distinct statistic and the
    transport of every site, split into statistics, SVD/polar and transport;
  - the same for a small pair (width 64, 4 blocks, 4 heads, MLP 128, 28 pixels,
    patch 4, 10 classes).

The ViT-B/16 pair needs about 6 GB of memory and minutes of CPU time.

With --family llama the pairs are Llama causal language models calibrated on
sequences of random tokens: by default SmolLM2-135M's shape (width 576, 30
layers, 9 query and 3 key-value heads, MLP 1536, vocabulary 49152, tied
embeddings) on sequences of 128 tokens, and a small Llama (width 64, 4
layers, vocabulary 256, 32 tokens). --width, --layers, --heads, --mlp,
--kv-heads, --vocab, --seq and --tied change the main pair's shape, e.g. to
bench the memory of the language model you mean to transfer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object instead of text")
	fl.BoolVar(&f.quiet, "quiet", false, "do not log progress to standard error")
	fl.IntVar(&f.threads, "threads", 0, "threads for BLAS and the engine (0: every CPU)")
	fl.StringVar(&f.sgemm, "sgemm", "1024,2048", "sizes of the square sgemm ceiling, comma-separated")
	fl.StringVar(&f.family, "family", "vit", "model family of both pairs: vit (image classifiers) or llama (causal language models)")
	fl.IntVar(&f.main.Hidden, "width", f.main.Hidden, "main pair: hidden width (llama: 576)")
	fl.IntVar(&f.main.Layers, "layers", f.main.Layers, "main pair: transformer blocks (llama: 30)")
	fl.IntVar(&f.main.Heads, "heads", f.main.Heads, "main pair: attention heads (llama: 9)")
	fl.IntVar(&f.main.MLP, "mlp", f.main.MLP, "main pair: MLP width (llama: 1536)")
	fl.IntVar(&f.llm.KVHeads, "kv-heads", f.llm.KVHeads, "main pair, llama: key-value heads")
	fl.IntVar(&f.llm.Vocab, "vocab", f.llm.Vocab, "main pair, llama: vocabulary size")
	fl.IntVar(&f.llm.Seq, "seq", f.llm.Seq, "main pair, llama: tokens per calibration sequence")
	fl.BoolVar(&f.llm.Tied, "tied", f.llm.Tied, "main pair, llama: lm_head is the embedding table")
	fl.IntVar(&f.main.Image, "image", f.main.Image, "main pair: image side in pixels")
	fl.IntVar(&f.main.Patch, "patch", f.main.Patch, "main pair: patch side in pixels")
	fl.IntVar(&f.main.Channels, "channels", f.main.Channels, "main pair: image channels")
	fl.IntVar(&f.main.Classes, "classes", f.main.Classes, "main pair: classes")
	fl.IntVar(&f.targetPatch, "target-patch", 0, "main pair: the target's patch side, when it differs from the source's")
	fl.IntVar(&f.batch, "batch", 8, "calibration batch size")
	fl.IntVar(&f.batches, "batches", 3, "timed calibration batches of the main pair (median reported)")
	fl.IntVar(&f.smallBatches, "small-batches", 10, "timed calibration batches of the small pair")
	fl.IntVar(&f.repeats, "repeats", 1, "timed transfer steps of the main pair (median reported)")
	fl.IntVar(&f.smallRepeats, "small-repeats", 5, "timed transfer steps of the small pair")
	fl.IntVar(&f.evalSamples, "eval-samples", 16, "held-out images the target scores in the timed evaluation, as for each α (0: no evaluation)")
	fl.IntVar(&f.evalRepeats, "eval-repeats", 3, "timed evaluations (median reported)")
	fl.StringVar(&f.method, "method", "bico", "transfer method timed")
	fl.BoolVar(&f.tune, "tune", false, "also time choosing α (and the method's setting, e.g. bico-blend's β) on the held-out images, as bico transfer does")
	fl.BoolVar(&f.newLabels, "new-labels", false, "give the fine-tune a new 10-class head, so that the transfer first gives the bases the task's head (one more forward pass, timed)")
	fl.StringSliceVar(&f.changed, "changed", nil, "site roles the fine-tune changes, comma-separated (e.g. query,value for a LoRA on them; default: every parameter): the transfer leaves the other sites out")
	fl.BoolVar(&f.skipMain, "skip-main", false, "leave out the main pair")
	fl.BoolVar(&f.skipSmall, "skip-small", false, "leave out the small pair")
	fl.BoolVar(&f.skipTransfer, "skip-transfer", false, "leave out the transfer step")
	fl.BoolVar(&f.polar, "polar", false, "compute maps by polar iteration instead of the SVD")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the random weights and data")
	return cmd
}

func runBench(cmd *cobra.Command, f benchFlags) error {
	if f.threads < 0 {
		return fmt.Errorf("--threads %d: want 0 (every CPU) or more", f.threads)
	}
	if f.threads > 0 {
		runtime.GOMAXPROCS(f.threads)
	}
	be, err := linalg.OpenThreads(os.Getenv(linalg.EnvVar), f.threads)
	if err != nil {
		return err
	}
	var sizes []int
	for _, s := range strings.Split(f.sgemm, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("--sgemm %q: want positive sizes separated by commas", f.sgemm)
		}
		sizes = append(sizes, n)
	}
	main, target, small, err := benchShapes(cmd, f)
	if err != nil {
		return err
	}
	opts := bench.Options{
		Backend: be, SgemmSizes: sizes,
		Main: main, MainTarget: target, Small: small,
		SkipMain: f.skipMain, SkipSmall: f.skipSmall, SkipTransfer: f.skipTransfer,
		Batch: f.batch, Batches: f.batches, SmallBatches: f.smallBatches,
		TransferRepeats: f.repeats, SmallTransferRep: f.smallRepeats,
		Polar: f.polar, Seed: f.seed,
		EvalSamples: f.evalSamples, EvalRepeats: f.evalRepeats,
		Method: f.method, Tune: f.tune, NewLabels: f.newLabels, Changed: f.changed,
	}
	if f.evalSamples <= 0 {
		opts.EvalSamples = -1
	}
	if !f.quiet {
		errOut := cmd.ErrOrStderr()
		opts.Log = func(format string, args ...any) { fmt.Fprintf(errOut, "bench: "+format+"\n", args...) }
	}
	res, err := bench.Run(cmd.Context(), opts)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteText(out)
}

// benchShapes returns the main pair's source and target shapes and the
// small pair's shape of the family --family names: the vit flags' shape, or
// for llama its defaults (bench.SmolLM2) changed by the flags given.
func benchShapes(cmd *cobra.Command, f benchFlags) (main, target, small bench.Arch, err error) {
	switch f.family {
	case "vit":
		for _, name := range []string{"kv-heads", "vocab", "seq", "tied"} {
			if cmd.Flags().Changed(name) {
				return nil, nil, nil, fmt.Errorf("--%s is a llama setting; add --family llama", name)
			}
		}
		t := f.main
		if f.targetPatch > 0 {
			t.Patch = f.targetPatch
		}
		return f.main, t, bench.Small, nil
	case "llama":
		for _, name := range []string{"image", "patch", "channels", "classes", "target-patch", "new-labels"} {
			if cmd.Flags().Changed(name) {
				return nil, nil, nil, fmt.Errorf("--%s is a vit setting; a llama pair has no images or classes", name)
			}
		}
		s := f.llm
		changed := func(name string, dst *int, v int) {
			if cmd.Flags().Changed(name) {
				*dst = v
			}
		}
		changed("width", &s.Hidden, f.main.Hidden)
		changed("layers", &s.Layers, f.main.Layers)
		changed("heads", &s.Heads, f.main.Heads)
		changed("mlp", &s.MLP, f.main.MLP)
		return s, s, bench.SmallLLM, nil
	}
	return nil, nil, nil, fmt.Errorf("--family %q: want vit or llama", f.family)
}
