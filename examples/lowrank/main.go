// Command lowrank measures transfer of low-rank fine-tunes, a stand-in for
// LoRA: the demo's MLPs (A and B, built or loaded from the demo's cache)
// and A's fine-tune on the task, whose change to each hidden layer is cut
// to its best rank-r approximation (the head keeps its whole change, as
// LoRA recipes train it), for each rank r. It transfers each such fine-tune
// with the training-free methods, K calibration samples per class (α
// chosen on the held-out quarter), and scores the results on the task's
// test split against B zero-shot and B fine-tuned (the ceiling). The
// source's own accuracy with the cut change says how much of the task the
// rank-r change holds. It prints a Markdown table.
//
// A truncated full fine-tune is not a LoRA-trained one (training under the
// rank constraint finds other changes); the point is how the transfer
// treats a change of low rank, for which BiCo's delta has the same rank.
//
//	go run ./examples/lowrank [-task rot90] [-ranks 1,4,16,0] [-k 16] [-seeds 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strconv"
	"strings"

	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/experiment"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
)

func main() {
	cache := flag.String("cache", "", "model cache folder (default: $BICO_CACHE or the user cache folder)")
	task := flag.String("task", zoo.DemoTask, "shifted MNIST task")
	ranks := flag.String("ranks", "1,4,16,0", "ranks of the hidden layers' change, comma-separated (0: the whole change)")
	k := flag.Int("k", 16, "calibration samples per class")
	seeds := flag.Int("seeds", 3, "seeds (0, 1, …) drawing the calibration samples")
	methods := flag.String("methods", "naive,theseus,bico,bico-blend", "training-free methods")
	flag.Parse()
	be := linalg.MustDefault()
	ctx := linalg.NewContext(context.Background(), be)
	set, err := zoo.BuildDemo(ctx, *cache, *task, nil)
	if err != nil {
		log.Fatal(err)
	}
	a, aft := set.SourceBase.Model, set.SourceFT.Model
	fmt.Printf("MLP A → B (the demo's), task %s, K = %d per class, seeds 0–%d; test: the task's test split.\n", *task, *k, *seeds-1)
	fmt.Printf("Gap closed: (accuracy − B zero-shot) / (B fine-tuned − B zero-shot), mean over seeds (per seed in brackets).\n\n")
	fmt.Printf("| rank of each hidden change | A with that change | B zero-shot | %s | B fine-tuned |\n", strings.ReplaceAll(*methods, ",", " | "))
	fmt.Printf("|---|---:|---:|%s---:|\n", strings.Repeat("---:|", len(strings.Split(*methods, ","))))
	for _, rs := range strings.Split(*ranks, ",") {
		r, err := strconv.Atoi(rs)
		if err != nil || r < 0 {
			log.Fatalf("lowrank: rank %q", rs)
		}
		ft := aft
		if r > 0 {
			if ft, err = cutChange(be, a, aft, r); err != nil {
				log.Fatal(err)
			}
		}
		src, err := eval.Evaluate(ctx, be, ft, set.TaskTest.Inputs, set.TaskTest.Labels, 500)
		if err != nil {
			log.Fatal(err)
		}
		pair := experiment.Pair{Name: "A→B", Task: set.Task, Source: a, SourceFT: ft, Target: set.TargetBase.Model, TargetFT: set.TargetFT.Model,
			CalibPool: set.TaskTrain, Test: set.TaskTest, Options: transfer.Options{Backend: be}}
		gaps := map[string][]float64{}
		var zero, ceil float64
		for seed := range *seeds {
			recs, err := experiment.Run(ctx, pair, strings.Split(*methods, ","), *k, uint64(seed), false, nil)
			if err != nil {
				log.Fatal(err)
			}
			for _, rec := range recs {
				gaps[rec.Method] = append(gaps[rec.Method], rec.GapClosed)
				zero, ceil = rec.ZeroShot, rec.Ceiling
			}
		}
		name := rs
		if r == 0 {
			name = "whole (full fine-tune)"
		}
		fmt.Printf("| %s | %.4f | %.4f |", name, src.Accuracy, zero)
		for _, m := range strings.Split(*methods, ",") {
			fmt.Printf(" %.3f (%s) |", mean(gaps[m]), floats(gaps[m]))
		}
		fmt.Printf(" %.4f |\n", ceil)
	}
}

// cutChange returns base plus ft's change, with the change of every
// hidden linear layer (every site but the head) cut to its best rank-r
// approximation by the SVD.
func cutChange(be linalg.Backend, base, ft model.Model, r int) (model.Model, error) {
	ps := model.Params(ft)
	for _, s := range base.Sites() {
		if s.Role == "head" || s.IsTable() {
			continue
		}
		w, f := base.Param(s.Weight).Value, ft.Param(s.Weight).Value
		d := make([]float64, w.Numel())
		for i := range d {
			d[i] = float64(f.Data[i]) - float64(w.Data[i])
		}
		u, sv, vt, err := be.SVD(s.Out, s.In, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Weight, err)
		}
		k := min(s.Out, s.In)
		cut := w.Clone()
		for i := range s.Out {
			for j := range s.In {
				sum := 0.0
				for l := range min(r, k) {
					sum += u[i*k+l] * sv[l] * vt[l*s.In+j]
				}
				cut.Data[i*s.In+j] += float32(sum)
			}
		}
		ps[s.Weight] = cut
	}
	return model.WithParams(ft, ps)
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func floats(x []float64) string {
	s := make([]string, len(x))
	for i, v := range x {
		s[i] = fmt.Sprintf("%.3f", v)
	}
	return strings.Join(s, ", ")
}
