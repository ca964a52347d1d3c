// Command precision measures what writing a transferred model in 16-bit
// floats costs: the demo's MLPs (A, A's fine-tune on the task and B, built
// or loaded from the demo's cache), with B stored in bfloat16 as most
// language models are. For each seed it transfers A's fine-tune to that B
// with bico-blend from K calibration samples per class (α and β chosen on
// the held-out quarter), then scores on the task's test split the
// transferred model as computed (float32) and as bico transfer writes it in
// bfloat16 (the target's precision, --dtype auto) and in float16: each
// written to a temporary folder with model.SaveWith and loaded back. It
// prints a Markdown table.
//
//	go run ./examples/precision [-task rot90] [-k 16] [-seeds 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
)

func main() {
	cache := flag.String("cache", "", "model cache folder (default: $BICO_CACHE or the user cache folder)")
	task := flag.String("task", zoo.DemoTask, "shifted MNIST task")
	k := flag.Int("k", 16, "calibration samples per class")
	seeds := flag.Int("seeds", 3, "seeds (0, 1, …) drawing the calibration samples")
	flag.Parse()
	be := linalg.MustDefault()
	ctx := linalg.NewContext(context.Background(), be)
	set, err := zoo.BuildDemo(ctx, *cache, *task, nil)
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "bico-precision-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	b, err := roundTrip(filepath.Join(tmp, "b"), set.TargetBase.Model, safetensors.DtypeBF16)
	if err != nil {
		log.Fatal(err)
	}
	method, err := transfer.Lookup("bico-blend")
	if err != nil {
		log.Fatal(err)
	}
	score := func(m model.Model) float64 {
		r, err := eval.Evaluate(ctx, be, m, set.TaskTest.Inputs, set.TaskTest.Labels, 500)
		if err != nil {
			log.Fatal(err)
		}
		return r.Accuracy
	}
	fmt.Printf("MLP A → B (the demo's, B stored in bfloat16), task %s, bico-blend, K = %d per class; accuracy on the task's test split (%d images).\n\n", *task, *k, set.TaskTest.Len())
	fmt.Printf("| seed | α (held-out) | float32 | bfloat16 | float16 |\n|---:|---:|---:|---:|---:|\n")
	for seed := range uint64(*seeds) {
		calib, err := data.PerClass(set.TaskTrain, *k, seed)
		if err != nil {
			log.Fatal(err)
		}
		stats, held, err := data.SplitHeldOut(calib, 0.25, seed)
		if err != nil {
			log.Fatal(err)
		}
		ms := transfer.Models{SourceBase: set.SourceBase.Model, SourceFinetuned: set.SourceFT.Model, TargetBase: b}
		p, err := transfer.Prepare(ctx, ms, samples(stats), method.Needs(), transfer.Options{Backend: be})
		if err != nil {
			log.Fatal(err)
		}
		res, err := transfer.Finish(ctx, p, method, samples(held), -1, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("| %d | %g (%s) | %.4f |", seed, res.Alpha, res.Setting, score(res.Model))
		for _, d := range []safetensors.Dtype{safetensors.DtypeBF16, safetensors.DtypeF16} {
			m, err := roundTrip(filepath.Join(tmp, fmt.Sprintf("out-%d-%s", seed, d)), res.Model, d)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf(" %.4f |", score(m))
		}
		fmt.Println()
	}
}

// roundTrip writes m to dir in dtype d and loads it back.
func roundTrip(dir string, m model.Model, d safetensors.Dtype) (model.Model, error) {
	if err := model.SaveWith(dir, m, model.SaveOptions{Dtype: d}); err != nil {
		return nil, err
	}
	return model.Load(dir)
}

func samples(ds *data.Dataset) transfer.Samples {
	return transfer.Samples{Inputs: ds.Inputs, Labels: ds.Labels}
}
