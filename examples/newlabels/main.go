// Command newlabels measures transfer of a fine-tune whose head has a new
// label set, the usual case in practice: a fine-tune replaces the
// pre-trained head with one for the task's classes.
//
// It takes the experiment zoo's ViT bases v1 (source) and v2 (target, new
// pre-training; both with 10-class digit heads, built or loaded from the
// zoo cache) and, for each shifted task, relabels the task's images into 5
// classes (digit pairs 0-1, 2-3, …). It fine-tunes v1 on that task (the
// source fine-tune, with a new 5-class head) and v2 (the ceiling), then
// transfers v1's fine-tune to v2 with every training-free method from K
// calibration samples per class, α (and bico-blend's β) chosen on the
// held-out quarter, and scores each result on the task's test split. The
// reference below which nothing was transferred is v2 with the task head
// that bico gives it (the fine-tuned head through the head's input map,
// α = 0). It prints a Markdown table.
//
//	go run ./examples/newlabels [-tasks rot90,blur,noise] [-k 16] [-seeds 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/transfer"
	"github.com/bico-dev/bico/zoo"
)

var pairNames = []string{"0-1", "2-3", "4-5", "6-7", "8-9"}

// relabel returns ds with digit d labelled d/2.
func relabel(ds *data.Dataset) *data.Dataset {
	out := ds.Clone()
	for i, l := range out.Labels {
		out.Labels[i] = l / 2
	}
	out.Classes, out.ClassNames = len(pairNames), pairNames
	return out
}

// row is one method's scores over the seeds.
type row struct {
	name   string
	acc    []float64
	alphas []string
}

func main() {
	cache := flag.String("cache", "", "zoo cache folder (default: $BICO_CACHE or the user cache folder)")
	tasks := flag.String("tasks", "rot90,blur,noise", "shifted tasks, comma-separated")
	k := flag.Int("k", 16, "calibration samples per class")
	seeds := flag.Int("seeds", 3, "seeds (0, 1, …) drawing the calibration samples")
	methods := flag.String("methods", "naive,gradfix,theseus,bico,bico-blend", "training-free methods")
	flag.Parse()
	be := linalg.MustDefault()
	ctx := linalg.NewContext(context.Background(), be)
	fam := zoo.ViTFamily()
	built, err := zoo.BuildFamily(ctx, *cache, fam, []string{}, []string{"v1", "v2"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	train, err := data.LoadMNIST("", "train")
	if err != nil {
		log.Fatal(err)
	}
	test, err := data.LoadMNIST("", "test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ViT v1 → v2, tasks relabelled to %d classes (%s), K = %d per class, seeds 0–%d; test: the task's 10000 test images.\n\n",
		len(pairNames), strings.Join(pairNames, ", "), *k, *seeds-1)
	fmt.Printf("Gap closed: (accuracy − reference) / (ceiling − reference), the reference being v2 with the mapped task head.\n\n")
	fmt.Printf("| task | model | accuracy (mean over seeds) | gap closed | per seed | α (setting) per seed |\n|---|---|---:|---:|---|---|\n")
	for _, name := range strings.Split(*tasks, ",") {
		tk, err := data.TaskByName(name)
		if err != nil {
			log.Fatal(err)
		}
		taskTrain := relabel(tk.Apply(train.Subset(span(50000, 55000)), 0))
		taskTest := relabel(tk.Apply(test, 0))
		var fts [2]model.Model
		for i, v := range []string{"v1", "v2"} {
			fts[i] = fineTune(ctx, *cache, fam, v, name, built.Bases[v].Model, taskTrain)
		}
		score := func(m model.Model) float64 {
			res, err := eval.Evaluate(ctx, be, m, taskTest.Inputs, taskTest.Labels, 500)
			if err != nil {
				log.Fatal(err)
			}
			return res.Accuracy
		}
		rows := []*row{{name: "v2 with the mapped task head (α = 0)"}}
		for _, m := range strings.Split(*methods, ",") {
			rows = append(rows, &row{name: m})
		}
		ms := transfer.Models{SourceBase: built.Bases["v1"].Model, SourceFinetuned: fts[0], TargetBase: built.Bases["v2"].Model}
		for seed := range *seeds {
			stats, held := calibration(taskTrain, *k, uint64(seed))
			for i, r := range rows[1:] {
				method, err := transfer.Lookup(r.name)
				if err != nil {
					log.Fatal(err)
				}
				p, err := transfer.Prepare(ctx, ms, stats, method.Needs(), transfer.Options{Backend: be})
				if err != nil {
					log.Fatal(err)
				}
				if i == 0 {
					rows[0].acc = append(rows[0].acc, score(p.Models.TargetBase))
					rows[0].alphas = append(rows[0].alphas, "0")
				}
				res, err := transfer.Finish(ctx, p, method, held, -1, nil)
				if err != nil {
					log.Fatal(err)
				}
				r.acc = append(r.acc, score(res.Model))
				a := fmt.Sprint(res.Alpha)
				if res.Setting != "" {
					a += " (" + res.Setting + ")"
				}
				r.alphas = append(r.alphas, a)
			}
		}
		ref, ceiling := mean(rows[0].acc), score(fts[1])
		fmt.Printf("| %s | v1 fine-tuned (source) | %.4f | | | |\n", name, score(fts[0]))
		for _, r := range rows {
			fmt.Printf("| %s | %s | %.4f | %.2f | %s | %s |\n", name, r.name, mean(r.acc), (mean(r.acc)-ref)/(ceiling-ref), floats(r.acc), strings.Join(r.alphas, ", "))
		}
		fmt.Printf("| %s | v2 fine-tuned (ceiling) | %.4f | 1 | | |\n", name, ceiling)
	}
}

// fineTune trains (or loads from the cache) base fine-tuned on the
// relabelled task, with the zoo's fine-tuning recipe.
func fineTune(ctx context.Context, cache string, fam zoo.Family, version, task string, base model.Model, train *data.Dataset) model.Model {
	v, err := fam.Version(version)
	if err != nil {
		log.Fatal(err)
	}
	r := fam.FineTuneRecipe(v, task)
	r.Name += "-pairs"
	r.Data += "|labels d/2"
	e, err := zoo.CachedEntry(cache, r, func() (model.Model, error) {
		fmt.Fprintf(os.Stderr, "fine-tuning %s on %s (5 classes)\n", version, task)
		return zoo.FineTune(ctx, base, r, train, nil)
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	return e.Model
}

// calibration draws k samples per class and holds a quarter out, as bico
// transfer does.
func calibration(ds *data.Dataset, k int, seed uint64) (stats, held transfer.Samples) {
	sel, err := data.PerClass(ds, k, seed)
	if err != nil {
		log.Fatal(err)
	}
	s, h, err := data.SplitHeldOut(sel, 0.25, seed)
	if err != nil {
		log.Fatal(err)
	}
	return transfer.Samples{Inputs: s.Inputs, Labels: s.Labels}, transfer.Samples{Inputs: h.Inputs, Labels: h.Labels}
}

func span(from, to int) []int {
	idx := make([]int, to-from)
	for i := range idx {
		idx[i] = from + i
	}
	return idx
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
		s[i] = fmt.Sprintf("%.4f", v)
	}
	return strings.Join(s, ", ")
}
