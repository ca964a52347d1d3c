package zoo

import (
	"context"
	"fmt"
	"time"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
)

// DemoTask is the shifted MNIST task of the demo: digits rotated by 90°, on
// which both pre-trained bases score far below their fine-tuned versions
// (zero-shot about 0.1, fine-tuned about 0.94). Of the shifted tasks it is
// one where the fine-tune is far from the base and the transfer still has
// something to align; inverted intensities ("invert") defeat every
// training-free method here (see docs/results.md).
const DemoTask = "rot90"

// The MNIST ranges the demo trains on: the bases pre-train on the first
// demoPretrainN training images, the fine-tuning uses the task version of
// demoTaskN images from demoTaskFrom on (images no base has seen). The
// task test split is the task version of the whole MNIST test set.
const (
	demoPretrainN = 40000
	demoTaskFrom  = 50000
	demoTaskN     = 5000
	demoTaskSeed  = 0 // seed of Task.Apply (used only by random tasks)
)

// DemoModel is one model of the demo with its scores.
type DemoModel struct {
	Recipe Recipe
	Model  model.Model
	// Dir is the model's cache folder.
	Dir string
	// TestAccuracy is the accuracy on the model's own test set: the MNIST
	// test set for a base, the task's test split for a fine-tuned model.
	TestAccuracy float64
	// TaskAccuracy is the accuracy on the task's test split: the zero-shot
	// accuracy for a base, TestAccuracy for a fine-tuned model.
	TaskAccuracy float64
	// Built is true when this call trained the model (false: loaded from
	// the cache), and Elapsed is how long getting it took.
	Built   bool
	Elapsed time.Duration
}

// DemoSet is the material of the MNIST demonstration: two independently
// pre-trained bases of one architecture, each fine-tuned on a shifted task.
type DemoSet struct {
	// Task is the data task name (see data.TaskByName).
	Task string
	// SourceBase (A) is pre-trained on the 10 MNIST classes from init seed
	// 1; TargetBase (B) is "a new pre-training version": another init seed,
	// another data order and augmented images (random shifts of ±2 pixels),
	// so it shares no initialisation with A.
	SourceBase, TargetBase DemoModel
	// SourceFT is A fine-tuned on the task (the expertise to transfer);
	// TargetFT is B fine-tuned on the same data (the ceiling).
	SourceFT, TargetFT DemoModel
	// TaskTrain is the task's training split (the fine-tuning data; draw
	// calibration samples from it); TaskTest is its test split, for
	// evaluation only.
	TaskTrain, TaskTest *data.Dataset
	// MNISTTest is the plain MNIST test set the bases are scored on.
	MNISTTest *data.Dataset
}

// DemoArch is the architecture of the demo models: a ReLU MLP 784 → 128 →
// 128 → 10 on flattened 28×28 MNIST images.
func DemoArch() map[string]any {
	return model.MLPConfig{
		InputSize:   28 * 28,
		HiddenSizes: []int{128, 128},
		HiddenAct:   "relu",
		Labels:      []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
	}.Map()
}

// DemoRecipes returns the recipes of the demo's four models for a task:
// the source base A, the target base B, A fine-tuned and B fine-tuned.
func DemoRecipes(task string) (a, b, aft, bft Recipe) {
	pre := fmt.Sprintf("mnist/train[0:%d]", demoPretrainN)
	a = Recipe{
		Name:        "demo-mlp-a",
		Config:      DemoArch(),
		Data:        pre,
		InitSeed:    1,
		DataSeed:    1,
		Steps:       2000,
		BatchSize:   128,
		LR:          2e-3,
		WeightDecay: 0.01,
		Warmup:      50,
		MinLRFactor: 0.02,
		MaxGradNorm: 5,
	}
	b = a
	b.Name = "demo-mlp-b"
	b.InitSeed, b.DataSeed = 2, 2
	b.Augment, b.MaxShift = true, 2
	b.Steps = 2500 // augmented data is harder: a little longer
	taskData := fmt.Sprintf("mnist/train[%d:%d]|%s(seed %d)", demoTaskFrom, demoTaskFrom+demoTaskN, task, demoTaskSeed)
	ft := Recipe{
		Data:        taskData,
		InitSeed:    3,
		DataSeed:    3,
		Steps:       800,
		BatchSize:   128,
		LR:          2e-3,
		WeightDecay: 0.01,
		Warmup:      20,
		MinLRFactor: 0.02,
		MaxGradNorm: 5,
	}
	aft, bft = ft, ft
	aft.Name, aft.Base = "demo-mlp-a-"+task, a.Key()
	bft.Name, bft.Base = "demo-mlp-b-"+task, b.Key()
	return a, b, aft, bft
}

// Demo builds (or loads from the cache folder dir, "" for DefaultDir) the
// models of the MNIST demo on DemoTask; see DemoSet and DemoRecipes.
// progress, when not nil, is called as each stage advances: "load mnist",
// "pretrain A", "pretrain B", "fine-tune A", "fine-tune B", "evaluate",
// with the steps done and the total (a model loaded from the cache
// reports (1, 1) once).
//
// Cold, the four models train in about 20 s on two cores (OpenBLAS);
// warm, Demo takes about a second, most of it reading MNIST. On DemoTask
// the bases score about 0.976 on MNIST test and 0.03–0.05 zero-shot on the
// task, the fine-tuned models about 0.94.
func Demo(ctx context.Context, dir string, progress func(stage string, done, total int)) (*DemoSet, error) {
	return BuildDemo(ctx, dir, DemoTask, progress)
}

// BuildDemo is Demo on another shifted task (a name data.TaskByName knows).
func BuildDemo(ctx context.Context, dir, task string, progress func(stage string, done, total int)) (*DemoSet, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	tk, err := data.TaskByName(task)
	if err != nil {
		return nil, fmt.Errorf("zoo: demo: %w", err)
	}
	progress("load mnist", 0, 2)
	train, err := data.LoadMNIST("", "train")
	if err != nil {
		return nil, fmt.Errorf("zoo: demo: %w", err)
	}
	progress("load mnist", 1, 2)
	test, err := data.LoadMNIST("", "test")
	if err != nil {
		return nil, fmt.Errorf("zoo: demo: %w", err)
	}
	progress("load mnist", 2, 2)
	if train.Len() < demoTaskFrom+demoTaskN {
		return nil, fmt.Errorf("zoo: demo: MNIST train has %d images, want at least %d", train.Len(), demoTaskFrom+demoTaskN)
	}
	pre := train.Subset(span(0, demoPretrainN))
	set := &DemoSet{
		Task:      tk.Name,
		TaskTrain: tk.Apply(train.Subset(span(demoTaskFrom, demoTaskFrom+demoTaskN)), demoTaskSeed),
		TaskTest:  tk.Apply(test, demoTaskSeed),
		MNISTTest: test,
	}
	ra, rb, raft, rbft := DemoRecipes(tk.Name)
	be, err := linalg.FromContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("zoo: demo: %w", err)
	}
	accuracy := func(m model.Model, ds *data.Dataset) (float64, error) {
		res, err := eval.Evaluate(ctx, be, m, ds.Inputs, ds.Labels, 1000)
		return res.Accuracy, err
	}
	// get builds or loads one model, recording its accuracy on its own
	// test set (ds) with the cache entry.
	get := func(stage string, r Recipe, ds *data.Dataset, build func(func(done, total int)) (model.Model, error)) (DemoModel, error) {
		start := time.Now()
		e, err := CachedEntry(dir, r, func() (model.Model, error) {
			return build(func(done, total int) { progress(stage, done, total) })
		}, func(m model.Model) (map[string]float64, error) {
			acc, err := accuracy(m, ds)
			return map[string]float64{MetricTestAccuracy: acc}, err
		})
		if err != nil {
			return DemoModel{}, fmt.Errorf("zoo: demo: %s: %w", stage, err)
		}
		if !e.Built {
			progress(stage, 1, 1)
		}
		dm := DemoModel{Recipe: r, Model: e.Model, Dir: e.Dir, Built: e.Built}
		if acc, ok := e.TestAccuracy(); ok {
			dm.TestAccuracy = acc
		} else if dm.TestAccuracy, err = accuracy(e.Model, ds); err != nil {
			return DemoModel{}, fmt.Errorf("zoo: demo: %s: %w", stage, err)
		}
		dm.Elapsed = time.Since(start)
		return dm, nil
	}
	pretrain := func(r Recipe) func(func(int, int)) (model.Model, error) {
		return func(p func(int, int)) (model.Model, error) { return Pretrain(ctx, r, pre, p) }
	}
	finetune := func(base model.Model, r Recipe) func(func(int, int)) (model.Model, error) {
		return func(p func(int, int)) (model.Model, error) { return FineTune(ctx, base, r, set.TaskTrain, p) }
	}
	if set.SourceBase, err = get("pretrain A", ra, test, pretrain(ra)); err != nil {
		return nil, err
	}
	if set.TargetBase, err = get("pretrain B", rb, test, pretrain(rb)); err != nil {
		return nil, err
	}
	if set.SourceFT, err = get("fine-tune A", raft, set.TaskTest, finetune(set.SourceBase.Model, raft)); err != nil {
		return nil, err
	}
	if set.TargetFT, err = get("fine-tune B", rbft, set.TaskTest, finetune(set.TargetBase.Model, rbft)); err != nil {
		return nil, err
	}
	progress("evaluate", 0, 2)
	set.SourceFT.TaskAccuracy = set.SourceFT.TestAccuracy
	set.TargetFT.TaskAccuracy = set.TargetFT.TestAccuracy
	if set.SourceBase.TaskAccuracy, err = accuracy(set.SourceBase.Model, set.TaskTest); err != nil {
		return nil, fmt.Errorf("zoo: demo: %w", err)
	}
	progress("evaluate", 1, 2)
	if set.TargetBase.TaskAccuracy, err = accuracy(set.TargetBase.Model, set.TaskTest); err != nil {
		return nil, fmt.Errorf("zoo: demo: %w", err)
	}
	progress("evaluate", 2, 2)
	return set, nil
}

// span returns the indices [from, to).
func span(from, to int) []int {
	idx := make([]int, to-from)
	for i := range idx {
		idx[i] = from + i
	}
	return idx
}
