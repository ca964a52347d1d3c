package zoo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/internal/jobs"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
)

// A family is four base versions of one kind of model, all pre-trained on
// the 10 MNIST classes, standing in the four relations of the experiments:
//
//	v1  the source
//	v2  same shape, another init seed, another data order and augmentation
//	    (the "new pre-training" case)
//	v3  wider
//	v4  deeper
//
// Every version is fine-tuned on every shifted task with one fine-tuning
// recipe: the source's fine-tune gives τ_A, the target's is the ceiling.

// The MNIST ranges of the families: bases pre-train on the first
// familyPretrainN training images; fine-tuning and calibration use the task
// version of familyTaskN images from familyTaskFrom on (images no base has
// seen); the tasks' test splits are the task versions of the MNIST test set.
const (
	familyPretrainN = 40000
	familyTaskFrom  = 50000
	familyTaskN     = 5000
	familyTaskSeed  = 0 // seed of Task.Apply (used only by random tasks)
)

// Version is one base model of a family.
type Version struct {
	// Name is "v1" … "v4".
	Name string
	// Relation says how it differs from v1.
	Relation string
	// Recipe pre-trains it.
	Recipe Recipe
}

// Family is a set of base versions and the recipe that fine-tunes each of
// them on a task.
type Family struct {
	// Name is "mlp", "vit" or "clip".
	Name        string
	Description string
	Versions    []Version
	// FineTune is the fine-tuning recipe template: Name, Base and Data are
	// filled in per base and task by FineTuneRecipe.
	FineTune Recipe
	// TestImages is the number of images of each task's test split (the
	// first ones of the MNIST test set) the experiments evaluate on: all
	// 10000 where evaluation is cheap, fewer for the ViTs.
	TestImages int
	// ImageTokens, when not 0, makes the family's models read token
	// sequences: every image (after its task's transform) becomes the
	// data.ImageTokens of blocks of this many pixels.
	ImageTokens int
}

// inputs turns a dataset of images into what f's models read.
func (f Family) inputs(ds *data.Dataset) (*data.Dataset, error) {
	if f.ImageTokens == 0 {
		return ds, nil
	}
	return data.ImageTokens(ds, f.ImageTokens)
}

// dataSuffix is appended to the Data of f's recipes: how images became
// its inputs.
func (f Family) dataSuffix() string {
	if f.ImageTokens == 0 {
		return ""
	}
	return fmt.Sprintf("|tokens %dx%d", f.ImageTokens, f.ImageTokens)
}

// Version returns the version with the given name.
func (f Family) Version(name string) (Version, error) {
	for _, v := range f.Versions {
		if v.Name == name {
			return v, nil
		}
	}
	return Version{}, fmt.Errorf("zoo: family %s has no version %q", f.Name, name)
}

// FineTuneRecipe is the recipe that fine-tunes version v on task.
func (f Family) FineTuneRecipe(v Version, task string) Recipe {
	r := f.FineTune
	r.Name = fmt.Sprintf("%s-%s-%s", f.Name, v.Name, task)
	r.Base = v.Recipe.Key()
	r.Data = fmt.Sprintf("mnist/train[%d:%d]|%s(seed %d)", familyTaskFrom, familyTaskFrom+familyTaskN, task, familyTaskSeed) + f.dataSuffix()
	return r
}

// Families returns the model families, "mlp" first.
func Families() []Family {
	return []Family{MLPFamily(), ViTFamily(), CLIPFamily(), LlamaFamily(), LlamaLMFamily(), BertFamily(), NeoXFamily(), GPT2Family()}
}

// FamilyByName returns the family with the given name.
func FamilyByName(name string) (Family, error) {
	for _, f := range Families() {
		if f.Name == name {
			return f, nil
		}
	}
	return Family{}, fmt.Errorf("zoo: unknown family %q, want mlp, vit, clip, llama, llama-lm, bert, neox or gpt2", name)
}

var digitLabels = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// pretrainData is the Data field of every family's pre-training recipe.
var pretrainData = fmt.Sprintf("mnist/train[0:%d]", familyPretrainN)

// versions derives v2, v3 and v4 from v1 and the configs of the wider and
// the deeper model.
func versions(family string, v1 Recipe, wide, deep map[string]any) []Version {
	v1.Name = family + "-v1"
	v2 := v1
	v2.Name = family + "-v2"
	v2.InitSeed, v2.DataSeed = 2, 2
	v2.Augment, v2.MaxShift = true, 2
	v3 := v1
	v3.Name, v3.Config = family+"-v3", wide
	v3.InitSeed, v3.DataSeed = 3, 3
	v4 := v1
	v4.Name, v4.Config = family+"-v4", deep
	v4.InitSeed, v4.DataSeed = 4, 4
	return []Version{
		{Name: "v1", Relation: "source", Recipe: v1},
		{Name: "v2", Relation: "same shape, new pre-training (seed, data order, augmentation)", Recipe: v2},
		{Name: "v3", Relation: "wider", Recipe: v3},
		{Name: "v4", Relation: "deeper", Recipe: v4},
	}
}

// MLPFamily is the fast family: ReLU MLPs on flattened images. v1 is
// 784 → 128 → 128 → 10; v3 has hidden width 192, v4 four hidden layers of
// 128.
func MLPFamily() Family {
	arch := func(hidden ...int) map[string]any {
		return model.MLPConfig{InputSize: 28 * 28, HiddenSizes: hidden, HiddenAct: "relu", Labels: digitLabels}.Map()
	}
	v1 := Recipe{
		Config:      arch(128, 128),
		Data:        pretrainData,
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
	return Family{
		Name:        "mlp",
		Description: "ReLU MLPs on flattened 28×28 images: v1 784→128→128→10, v3 hidden width 192, v4 four hidden layers",
		Versions:    versions("mlp", v1, arch(192, 192), arch(128, 128, 128, 128)),
		FineTune: Recipe{
			InitSeed:    3,
			DataSeed:    3,
			Steps:       800,
			BatchSize:   128,
			LR:          2e-3,
			WeightDecay: 0.01,
			Warmup:      20,
			MinLRFactor: 0.02,
			MaxGradNorm: 5,
		},
		TestImages: 10000,
	}
}

// ViTFamily is the family of small vision transformers (the "vit" model
// in Hugging Face layout) on 28×28 single-channel images cut into 7×7
// patches (16 patch tokens and the class token), with ReLU MLPs (the
// cheapest activation on this engine). v1 has width 64, MLP 128, 4 blocks
// and 4 heads; v3 width 96 and MLP 192; v4 6 blocks.
func ViTFamily() Family {
	arch := func(width, mlp, layers int) map[string]any {
		return model.ViTConfig{
			HiddenSize: width, NumLayers: layers, NumHeads: 4, IntermediateSize: mlp,
			ImageSize: 28, PatchSize: 7, NumChannels: 1, HiddenAct: "relu", Labels: digitLabels,
		}.Map()
	}
	v1 := Recipe{
		Config:      arch(64, 128, 4),
		Data:        pretrainData,
		InitSeed:    1,
		DataSeed:    1,
		Steps:       1200,
		BatchSize:   128,
		LR:          2e-3,
		WeightDecay: 0.05,
		Warmup:      100,
		MinLRFactor: 0.02,
		MaxGradNorm: 1,
	}
	return Family{
		Name:        "vit",
		Description: "ViTs on 28×28 images, patch 7 (16 tokens + class token), ReLU: v1 width 64, MLP 128, 4 blocks, 4 heads; v3 width 96, MLP 192; v4 6 blocks",
		Versions:    versions("vit", v1, arch(96, 192, 4), arch(64, 128, 6)),
		FineTune: Recipe{
			InitSeed:    3,
			DataSeed:    3,
			Steps:       300,
			BatchSize:   64,
			LR:          1e-3,
			WeightDecay: 0.01,
			Warmup:      20,
			MinLRFactor: 0.02,
			MaxGradNorm: 1,
		},
		TestImages: 1000,
	}
}

// CLIPFamily is ViTFamily's recipe with CLIP's vision tower (the "clip"
// model in Hugging Face layout, CLIPForImageClassification): a LayerNorm
// before the blocks, no final norm, the classifier on the mean of the patch
// tokens, a patch embedding without bias and CLIP's quick GELU. Same
// widths, depths, data and schedules as the ViTs.
func CLIPFamily() Family {
	arch := func(width, mlp, layers int) map[string]any {
		return model.CLIPVisionConfig{
			HiddenSize: width, NumLayers: layers, NumHeads: 4, IntermediateSize: mlp,
			ImageSize: 28, PatchSize: 7, NumChannels: 1, Labels: digitLabels,
		}.Map()
	}
	f := ViTFamily()
	v1 := f.Versions[0].Recipe
	v1.Config = arch(64, 128, 4)
	f.Name = "clip"
	f.Description = "CLIP vision towers on 28×28 images, patch 7 (16 tokens + class token), quick GELU, classifier on the mean patch token: v1 width 64, MLP 128, 4 blocks, 4 heads; v3 width 96, MLP 192; v4 6 blocks"
	f.Versions = versions("clip", v1, arch(96, 192, 4), arch(64, 128, 6))
	return f
}

// LlamaFamily is a family of small Llama sequence classifiers (the "llama"
// model in Hugging Face layout, LlamaForSequenceClassification) reading
// MNIST as token sequences: every 28×28 image becomes the 49 tokens of its
// 4×4 blocks (data.ImageTokens, 256 ids), read in raster order by causal
// attention with rotary positions, the head on the last token. v1 has width
// 64, 4 blocks, 4 query heads sharing 2 key-value heads (grouped-query
// attention) and a gated SiLU MLP of 128; v3 width 96 and MLP 192; v4 6
// blocks. The schedules are the ViTs'. v2 differs from v1 by its seeds
// (initialisation and data order) only: the augmentation of the image
// families shifts images, which these models never see.
func LlamaFamily() Family {
	arch := func(width, mlp, layers int) map[string]any {
		return model.LlamaConfig{
			VocabSize: data.ImageTokenVocab, HiddenSize: width, NumLayers: layers, NumHeads: 4, NumKVHeads: 2,
			IntermediateSize: mlp, RMSNormEps: 1e-6, Labels: digitLabels,
		}.Map()
	}
	f := ViTFamily()
	v1 := f.Versions[0].Recipe
	v1.Config = arch(64, 128, 4)
	f.Name = "llama"
	f.ImageTokens = 4
	f.Description = "Llama sequence classifiers on MNIST as 49 tokens (4×4 blocks, 256 ids), GQA 4/2 heads, gated SiLU MLP: v1 width 64, MLP 128, 4 blocks; v3 width 96, MLP 192; v4 6 blocks; v2 new seeds without augmentation"
	v1.Data = pretrainData + f.dataSuffix()
	f.Versions = versions("llama", v1, arch(96, 192, 4), arch(64, 128, 6))
	f.Versions[1].Recipe.Augment, f.Versions[1].Recipe.MaxShift = false, 0
	f.Versions[1].Relation = "same shape, new pre-training (seed, data order)"
	return f
}

// LlamaLMFamily is LlamaFamily as causal language models
// (LlamaForCausalLM): every model predicts each next token of the image
// token sequences (lm_head over the 256 ids), pre-trained on the MNIST
// sequences and fine-tuned on a task's. Accuracy is next-token accuracy;
// the digit labels play no part. Same widths, depths and schedules.
func LlamaLMFamily() Family {
	f := LlamaFamily()
	f.Name = "llama-lm"
	f.Description = "Llama causal LMs (next-token prediction) on MNIST as 49 tokens (4×4 blocks, 256 ids), GQA 4/2 heads, gated SiLU MLP: v1 width 64, MLP 128, 4 blocks; v3 width 96, MLP 192; v4 6 blocks; v2 new seeds without augmentation"
	for i := range f.Versions {
		v := &f.Versions[i]
		v.Recipe.Name = strings.Replace(v.Recipe.Name, "llama-", "llama-lm-", 1)
		v.Recipe.Config = model.CloneConfig(v.Recipe.Config)
		v.Recipe.Config["architectures"] = []any{"LlamaForCausalLM"}
		delete(v.Recipe.Config, "id2label")
		delete(v.Recipe.Config, "label2id")
	}
	return f
}

// BertFamily is LlamaFamily's recipe with BERT encoders (the "bert"
// model in Hugging Face layout, BertForSequenceClassification): the same
// 49 tokens read by bidirectional attention with learned positions, post-LN
// blocks, the pooler and classifier on the first token. The pad token is
// an id no image gives (256), so no token is taken for padding. ReLU MLPs,
// as the ViTs'. Same widths, depths, data and schedules.
func BertFamily() Family {
	arch := func(width, mlp, layers int) map[string]any {
		pad := data.ImageTokenVocab
		cfg := model.BertConfig{
			VocabSize: data.ImageTokenVocab + 1, HiddenSize: width, NumLayers: layers, NumHeads: 4,
			IntermediateSize: mlp, MaxPositions: 49, PadTokenID: &pad, Labels: digitLabels,
		}.Map()
		cfg["hidden_act"] = "relu"
		return cfg
	}
	return tokenFamily("bert", "BERT sequence classifiers on MNIST as 49 tokens (4×4 blocks, 256 ids), 4 heads, ReLU MLP, pooler on the first token", arch)
}

// tokenFamily is LlamaFamily's recipe (data, schedules, versions) with
// another architecture: arch(width, mlp, layers) gives v1 (64, 128, 4), v3
// (96, 192, 4) and v4 (64, 128, 6), and v2 is v1 with new seeds and no
// augmentation. The description is completed with the versions' shapes.
func tokenFamily(name, description string, arch func(width, mlp, layers int) map[string]any) Family {
	f := LlamaFamily()
	v1 := f.Versions[0].Recipe
	v1.Config = arch(64, 128, 4)
	f.Name = name
	f.Description = description + ": v1 width 64, MLP 128, 4 blocks; v3 width 96, MLP 192; v4 6 blocks; v2 new seeds without augmentation"
	f.Versions = versions(name, v1, arch(96, 192, 4), arch(64, 128, 6))
	f.Versions[1].Recipe.Augment, f.Versions[1].Recipe.MaxShift = false, 0
	f.Versions[1].Relation = "same shape, new pre-training (seed, data order)"
	return f
}

// NeoXFamily is LlamaFamily's recipe with GPT-NeoX sequence classifiers
// (the "gpt_neox" model in Hugging Face layout, as the Pythia suite:
// GPTNeoXForSequenceClassification): the same 49 tokens read by causal
// attention with a quarter of each head rotated, LayerNorms, the parallel
// residual, a GELU MLP, the head on the last token. Same widths, depths,
// data and schedules.
func NeoXFamily() Family {
	arch := func(width, mlp, layers int) map[string]any {
		return model.GPTNeoXConfig{
			VocabSize: data.ImageTokenVocab, HiddenSize: width, NumLayers: layers, NumHeads: 4,
			IntermediateSize: mlp, Labels: digitLabels,
		}.Map()
	}
	return tokenFamily("neox", "GPT-NeoX (Pythia-style) sequence classifiers on MNIST as 49 tokens (4×4 blocks, 256 ids), 4 heads, ¼ of each head rotated, parallel residual, GELU MLP", arch)
}

// GPT2Family is LlamaFamily's recipe with GPT-2 sequence classifiers (the
// "gpt2" model in Hugging Face layout, GPT2ForSequenceClassification): the
// same 49 tokens read by causal attention with learned positions, LayerNorms
// before attention and MLP, the tanh GELU, the head on the last token; the
// checkpoints store Conv1D weights transposed and the query, key and value
// fused in c_attn. Same widths, depths, data and schedules.
func GPT2Family() Family {
	arch := func(width, mlp, layers int) map[string]any {
		return model.GPT2Config{
			VocabSize: data.ImageTokenVocab, Positions: 49, HiddenSize: width, NumLayers: layers, NumHeads: 4,
			Inner: mlp, Labels: digitLabels,
		}.Map()
	}
	return tokenFamily("gpt2", "GPT-2 sequence classifiers on MNIST as 49 tokens (4×4 blocks, 256 ids), 4 heads, learned positions, tanh-GELU MLP", arch)
}

// Transformer reports whether f's models are transformers (vit, clip, llama),
// whose training steps cost far more than the MLPs'.
func (f Family) Transformer() bool { return f.Name != "mlp" }

// Member is one built model of a family: a base version or a version
// fine-tuned on a task.
type Member struct {
	Family  string `json:"family"`
	Version string `json:"version"`
	// Task is "" for a base.
	Task   string `json:"task,omitempty"`
	Recipe Recipe `json:"-"`
	// Dir is the model folder (config.json, model.safetensors,
	// recipe.json).
	Dir   string      `json:"dir"`
	Model model.Model `json:"-"`
	// TestAccuracy is the accuracy on the model's own full test set,
	// recorded in recipe.json when it was built: MNIST test (10000
	// images) for a base, the task's test split for a fine-tune.
	TestAccuracy float64 `json:"test_accuracy"`
	Built        bool    `json:"built"`
	Seconds      float64 `json:"seconds"`
}

// Built is a family with its models and task data.
type Built struct {
	Family Family
	Tasks  []string
	// Bases are the base versions by name, FineTuned[version][task] their
	// fine-tunes.
	Bases     map[string]*Member
	FineTuned map[string]map[string]*Member
	// TaskTrain[task] is the task's training split (fine-tuning data and
	// calibration pool); TaskTest[task] its test split cut to
	// Family.TestImages images (evaluation only).
	TaskTrain, TaskTest map[string]*data.Dataset
	// MNISTTest is the plain MNIST test set.
	MNISTTest *data.Dataset
	// Seconds is how long Build took.
	Seconds float64
}

// Members lists the bases (v1 … v4) and then the fine-tunes by version and
// task.
func (b *Built) Members() []*Member {
	var out []*Member
	for _, v := range b.Family.Versions {
		if m := b.Bases[v.Name]; m != nil {
			out = append(out, m)
		}
	}
	for _, v := range b.Family.Versions {
		for _, t := range b.Tasks {
			if m := b.FineTuned[v.Name][t]; m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// BuildFamily builds (or loads from the cache folder dir, "" for
// DefaultDir) the base versions of f and their fine-tunes on tasks (nil:
// the eight shifted tasks). Only the versions named in only are built (nil:
// all). progress, when not nil, is told how far each stage has got. It
// writes an index of the family, family-<name>.json, into dir.
func BuildFamily(ctx context.Context, dir string, f Family, tasks, only []string, progress func(stage string, done, total int)) (*Built, error) {
	start := time.Now()
	if dir == "" {
		dir = DefaultDir()
	}
	if progress == nil {
		progress = func(string, int, int) {}
	}
	if tasks == nil {
		tasks = ShiftedTasks()
	}
	var tks []data.Task
	for _, name := range tasks {
		tk, err := data.TaskByName(name)
		if err != nil {
			return nil, fmt.Errorf("zoo: family %s: %w", f.Name, err)
		}
		tks = append(tks, tk)
	}
	train, err := data.LoadMNIST("", "train")
	if err != nil {
		return nil, fmt.Errorf("zoo: family %s: %w", f.Name, err)
	}
	test, err := data.LoadMNIST("", "test")
	if err != nil {
		return nil, fmt.Errorf("zoo: family %s: %w", f.Name, err)
	}
	if train.Len() < familyTaskFrom+familyTaskN {
		return nil, fmt.Errorf("zoo: family %s: MNIST train has %d images, want at least %d", f.Name, train.Len(), familyTaskFrom+familyTaskN)
	}
	be, err := linalg.FromContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("zoo: family %s: %w", f.Name, err)
	}
	// Every dataset the models see is in their input form (images, or
	// tokens made after the task's transform).
	var inErr error
	in := func(ds *data.Dataset) *data.Dataset {
		out, err := f.inputs(ds)
		if err != nil && inErr == nil {
			inErr = fmt.Errorf("zoo: family %s: %w", f.Name, err)
		}
		return out
	}
	pre := in(train.Subset(span(0, familyPretrainN)))
	taskSrc := train.Subset(span(familyTaskFrom, familyTaskFrom+familyTaskN))
	b := &Built{
		Family: f, Tasks: tasks, Bases: map[string]*Member{}, FineTuned: map[string]map[string]*Member{},
		TaskTrain: map[string]*data.Dataset{}, TaskTest: map[string]*data.Dataset{}, MNISTTest: in(test),
	}
	fullTest := map[string]*data.Dataset{}
	nTest := min(max(f.TestImages, 1), test.Len())
	for _, tk := range tks {
		b.TaskTrain[tk.Name] = in(tk.Apply(taskSrc, familyTaskSeed))
		fullTest[tk.Name] = in(tk.Apply(test, familyTaskSeed))
		b.TaskTest[tk.Name] = fullTest[tk.Name].Subset(span(0, nTest))
	}
	if inErr != nil {
		return nil, inErr
	}
	test = b.MNISTTest
	var mu sync.Mutex // progress may be called from several jobs
	progressOf := progress
	progress = func(stage string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		progressOf(stage, done, total)
	}
	get := func(ctx context.Context, stage string, r Recipe, ds *data.Dataset, build func(p func(int, int)) (model.Model, error)) (*Member, error) {
		t0 := time.Now()
		be, err := linalg.FromContext(ctx)
		if err != nil {
			return nil, err
		}
		e, err := CachedEntry(dir, r, func() (model.Model, error) {
			return build(func(done, total int) { progress(stage, done, total) })
		}, func(m model.Model) (map[string]float64, error) {
			res, err := eval.Evaluate(ctx, be, m, ds.Inputs, ds.Labels, 500)
			return map[string]float64{MetricTestAccuracy: res.Accuracy}, err
		})
		if err != nil {
			return nil, fmt.Errorf("zoo: family %s: %s: %w", f.Name, stage, err)
		}
		if !e.Built {
			progress(stage, 1, 1)
		}
		acc, ok := e.TestAccuracy()
		if !ok {
			res, err := eval.Evaluate(ctx, be, e.Model, ds.Inputs, ds.Labels, 500)
			if err != nil {
				return nil, fmt.Errorf("zoo: family %s: %s: %w", f.Name, stage, err)
			}
			acc = res.Accuracy
		}
		return &Member{Family: f.Name, Recipe: r, Dir: e.Dir, Model: e.Model, TestAccuracy: acc, Built: e.Built, Seconds: time.Since(t0).Seconds()}, nil
	}
	var vs []Version
	for _, v := range f.Versions {
		if only == nil || slices.Contains(only, v.Name) {
			vs = append(vs, v)
		}
	}
	// Bases first, then every fine-tune, each stage's models side by side
	// (one job per thread of the backend).
	bases := make([]*Member, len(vs))
	err = jobs.Run(ctx, be, 0, len(vs), func(ctx context.Context, i int) error {
		r := vs[i].Recipe
		m, err := get(ctx, fmt.Sprintf("pretrain %s %s", f.Name, vs[i].Name), r, test, func(p func(int, int)) (model.Model, error) {
			return Pretrain(ctx, r, pre, p)
		})
		bases[i] = m
		return err
	})
	if err != nil {
		return nil, err
	}
	fts := make([]*Member, len(vs)*len(tks))
	err = jobs.Run(ctx, be, 0, len(fts), func(ctx context.Context, i int) error {
		v, tk := vs[i/len(tks)], tks[i%len(tks)]
		fr := f.FineTuneRecipe(v, tk.Name)
		ft, err := get(ctx, fmt.Sprintf("fine-tune %s %s %s", f.Name, v.Name, tk.Name), fr, fullTest[tk.Name], func(p func(int, int)) (model.Model, error) {
			return FineTune(ctx, bases[i/len(tks)].Model, fr, b.TaskTrain[tk.Name], p)
		})
		fts[i] = ft
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		bases[i].Version = v.Name
		b.Bases[v.Name] = bases[i]
		b.FineTuned[v.Name] = map[string]*Member{}
		for j, tk := range tks {
			ft := fts[i*len(tks)+j]
			ft.Version, ft.Task = v.Name, tk.Name
			b.FineTuned[v.Name][tk.Name] = ft
		}
	}
	b.Seconds = time.Since(start).Seconds()
	if err := b.writeIndex(dir); err != nil {
		return nil, err
	}
	return b, nil
}

// ShiftedTasks names the eight shifted MNIST tasks of the experiments
// (data.Tasks without "identity").
func ShiftedTasks() []string {
	var out []string
	for _, t := range data.Tasks() {
		if t.Name != "identity" {
			out = append(out, t.Name)
		}
	}
	return out
}

// familyIndex is the layout of family-<name>.json.
type familyIndex struct {
	Family      string            `json:"family"`
	Description string            `json:"description"`
	Versions    map[string]string `json:"versions"` // name → relation
	TestImages  int               `json:"test_images"`
	Models      []*Member         `json:"models"`
}

// writeIndex writes dir/family-<name>.json: every built model's folder and
// test accuracy.
func (b *Built) writeIndex(dir string) error {
	idx := familyIndex{Family: b.Family.Name, Description: b.Family.Description, Versions: map[string]string{}, TestImages: b.Family.TestImages, Models: b.Members()}
	for _, v := range b.Family.Versions {
		idx.Versions[v.Name] = v.Relation
	}
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("zoo: index of family %s: %w", b.Family.Name, err)
	}
	path := filepath.Join(dir, "family-"+b.Family.Name+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("zoo: index of family %s: %w", b.Family.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("zoo: index of family %s: %w", b.Family.Name, err)
	}
	return nil
}
