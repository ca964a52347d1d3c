package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tensor"
)

// run executes bico with args and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := rootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// fixture writes a source base, a fine-tuned source, a target base (another
// initialisation) and a calibration dataset file into a temporary folder.
type fixture struct {
	dir, a, aft, b, calib string
}

func newFixture(t *testing.T, targetHidden int) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{dir: dir, a: filepath.Join(dir, "a"), aft: filepath.Join(dir, "aft"), b: filepath.Join(dir, "b"), calib: filepath.Join(dir, "calib.safetensors")}
	labels := []string{"w", "x", "y", "z"}
	build := func(hidden int, seed uint64) model.Model {
		m, err := model.Build(model.MLPConfig{InputSize: 12, HiddenSizes: []int{hidden}, HiddenAct: "gelu", Labels: labels}.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(16, 1)
	rng := rand.New(rand.NewPCG(2, 2))
	aft := fineTuned(t, a, rng)
	for dir, m := range map[string]model.Model{f.a: a, f.aft: aft, f.b: build(targetHidden, 3)} {
		if err := model.Save(dir, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	ds := &data.Dataset{Inputs: tensor.New[float32](80, 1, 3, 4), Labels: make([]int, 80), Classes: 4}
	for i := range ds.Inputs.Data {
		ds.Inputs.Data[i] = rng.Float32()
	}
	for i := range ds.Labels {
		ds.Labels[i] = i % 4
	}
	if err := data.SaveSafetensors(f.calib, ds); err != nil {
		t.Fatal(err)
	}
	return f
}

// sameParams fails t unless every parameter of a (named what) and b (named
// other) agree to tol.
func sameParams(t *testing.T, a, b model.Model, tol float32, what, other string) {
	t.Helper()
	for _, name := range a.ParamNames() {
		x, y := a.Param(name).Value.Data, b.Param(name).Value.Data
		for i := range x {
			if d := x[i] - y[i]; d > tol || d < -tol {
				t.Fatalf("%s[%d]: %s %g, %s %g", name, i, what, x[i], other, y[i])
			}
		}
	}
}

// mergedOnto loads the model in baseDir with the LoRA adapter in
// adapterDir merged.
func mergedOnto(t *testing.T, baseDir, adapterDir string) model.Model {
	t.Helper()
	b, err := model.Load(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.ApplyLoRA(b, adapterDir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fineTuned returns m with small random changes to every parameter, in
// ParamNames order: a stand-in for a fine-tune.
func fineTuned(t *testing.T, m model.Model, rng *rand.Rand) model.Model {
	t.Helper()
	ps := map[string]*tensor.Tensor[float32]{}
	for _, name := range m.ParamNames() {
		c := m.Param(name).Value.Clone()
		for i := range c.Data {
			c.Data[i] += 0.05 * float32(rng.NormFloat64())
		}
		ps[name] = c
	}
	out, err := model.WithParams(m, ps)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f fixture) transferArgs(out string, extra ...string) []string {
	return append([]string{"transfer", "--quiet", "--source-base", f.a, "--source-finetuned", f.aft, "--target-base", f.b,
		"--calib", f.calib, "--per-class", "16", "--out", out}, extra...)
}

func TestTransferWritesModelAndReport(t *testing.T) {
	f := newFixture(t, 20)
	out := filepath.Join(f.dir, "out")
	if msg, err := run(t, f.transferArgs(out)...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	for _, name := range []string{"config.json", "model.safetensors", "bico-report.json", "bico-report.md"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("output lacks %s", name)
		}
	}
	var rep struct {
		Method     string
		Alpha      float64
		AlphaCurve []struct{ Alpha float64 } `json:"alpha_curve"`
		Maps       []struct{ Quality float64 }
	}
	js, _ := os.ReadFile(filepath.Join(out, "bico-report.json"))
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Method != "bico-blend" || len(rep.AlphaCurve) == 0 || len(rep.Maps) == 0 {
		t.Errorf("report: %s", js)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Param("layers.0.weight").Value.Shape[0] != 20 {
		t.Errorf("output has the source's width, want the target's")
	}
	msg, err := run(t, "eval", "--model", out, "--data", f.calib, "--json")
	if err != nil || !strings.Contains(msg, `"accuracy"`) {
		t.Errorf("eval: %v %s", err, msg)
	}
	// A second run into the same folder needs --force.
	if _, err := run(t, f.transferArgs(out)...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing output: %v", err)
	}
}

// TestTransferBadInput: every bad input is a clear error and writes nothing.
func TestTransferBadInput(t *testing.T) {
	f := newFixture(t, 20)
	same := newFixture(t, 16)
	rewrite := func(t *testing.T, dir string, edit func(name string, v []float32) ([]float32, bool)) {
		ck, err := safetensors.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var ts []safetensors.Tensor
		for _, name := range ck.Names() {
			v, shape, err := ck.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			if v, keep := edit(name, append([]float32(nil), v...)); keep {
				ts = append(ts, safetensors.F32(name, shape, v))
			}
		}
		ck.Close()
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) fixture
		extra []string
		want  []string
	}{
		{"missing tensor", func(t *testing.T) fixture {
			g := newFixture(t, 20)
			rewrite(t, g.b, func(n string, v []float32) ([]float32, bool) { return v, n != "layers.0.bias" })
			return g
		}, nil, []string{"layers.0.bias", "model.safetensors"}},
		{"non-finite weight", func(t *testing.T) fixture {
			g := newFixture(t, 20)
			rewrite(t, g.aft, func(n string, v []float32) ([]float32, bool) {
				if n == "layers.0.weight" {
					v[5] = float32(math.NaN())
				}
				return v, true
			})
			return g
		}, nil, []string{"layers.0.weight", "NaN"}},
		{"shape mismatch", func(*testing.T) fixture { return f }, []string{"--method", "naive"}, []string{"same shape", "layers.0.weight"}},
		{"labels outside the head", func(t *testing.T) fixture {
			g := newFixture(t, 20)
			ds, _ := data.LoadSafetensors(g.calib)
			for i := range ds.Labels {
				ds.Labels[i] = i % 5
			}
			ds.Classes = 5
			if err := data.SaveSafetensors(g.calib, ds); err != nil {
				t.Fatal(err)
			}
			return g
		}, []string{"--per-class", "4"}, []string{"label", "4", "head"}},
		{"empty calibration", func(*testing.T) fixture { return same }, []string{"--per-class", "0"}, []string{"calibration"}},
		{"output overwrites an input", func(*testing.T) fixture { return same }, nil, []string{"overwrite"}},
		{"bad alpha", func(*testing.T) fixture { return same }, []string{"--alpha", "much"}, []string{"--alpha"}},
		{"corrupt header", func(t *testing.T) fixture {
			g := newFixture(t, 20)
			os.WriteFile(filepath.Join(g.a, "model.safetensors"), []byte("\xff\xff\xff\xff\xff\xff\xff\x7f{"), 0o644)
			return g
		}, nil, []string{"model.safetensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := c.setup(t)
			out := filepath.Join(g.dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			args := g.transferArgs(out, c.extra...)
			if c.name == "output overwrites an input" {
				args = g.transferArgs(g.b)
			}
			_, err := run(t, args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("output %s was written", out)
			}
			if ents, _ := filepath.Glob(filepath.Join(g.dir, ".out*")); len(ents) > 0 {
				t.Errorf("temporary output left behind: %v", ents)
			}
		})
	}
}

func TestVersionAndInspect(t *testing.T) {
	msg, err := run(t, "version")
	if err != nil || !strings.Contains(msg, "blas") {
		t.Fatalf("version: %v %s", err, msg)
	}
	f := newFixture(t, 20)
	msg, err = run(t, "inspect", f.a)
	if err != nil || !strings.Contains(msg, "layers.0.weight") || !strings.Contains(msg, "MLPForImageClassification") ||
		!strings.Contains(msg, "bico: reads it as mlp: 4 of its 4 parameters found") {
		t.Errorf("inspect: %v\n%s", err, msg)
	}
	// Without its head, and then with a tensor of another shape.
	m, err := model.Load(f.a)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.dir, "headless")
	var tensors []safetensors.Tensor
	for _, name := range m.ParamNames() {
		if !strings.HasPrefix(name, "classifier") {
			tensors = append(tensors, safetensors.F32(name, model.CheckpointShape(m, name), m.Param(name).Value.Data))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	if err := model.WriteConfig(dir, m.Config()); err != nil {
		t.Fatal(err)
	}
	if msg, err := run(t, "inspect", dir); err != nil || !strings.Contains(msg, "2 of its 4 parameters found; missing [classifier.weight classifier.bias]") {
		t.Errorf("inspect of a headless checkpoint: %v\n%s", err, msg)
	}
	tensors[0] = safetensors.F32(tensors[0].Name, []int{1, len(tensors[0].Data) / 4}, make([]float32, len(tensors[0].Data)/4))
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	if msg, err := run(t, "inspect", dir); err != nil || !strings.Contains(msg, "bico: cannot read it:") || !strings.Contains(msg, "has shape [1 ") {
		t.Errorf("inspect of a misshapen checkpoint: %v\n%s", err, msg)
	}
}

// TestMemoryLimitFlag checks that --memory-limit reaches the runtime and
// that a size it cannot read is an error naming the flag.
func TestMemoryLimitFlag(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	msg, err := run(t, "--memory-limit", "7GiB", "version")
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 7<<30 || !strings.Contains(msg, "memory limit 7.0 GiB") {
		t.Errorf("--memory-limit 7GiB: runtime limit %d, version says\n%s", got, msg)
	}
	if msg, err := run(t, "--memory-limit", "off", "version"); err != nil || !strings.Contains(msg, "no memory limit") {
		t.Errorf("--memory-limit off: %v, version says\n%s", err, msg)
	}
	_, err = run(t, "--memory-limit", "7GB", "version")
	if err == nil || !strings.Contains(err.Error(), "--memory-limit") || !strings.Contains(err.Error(), `"7GB"`) {
		t.Errorf("--memory-limit 7GB: error %v, want one naming the flag and the value", err)
	}
}

// TestTransferNewLabelSet: a fine-tune whose head has other classes than
// the bases' heads is transferred; the output carries the fine-tune's
// labels on the target's width, and the report says the bases were given
// the task's head.
func TestTransferNewLabelSet(t *testing.T) {
	f := newFixture(t, 20)
	aft, err := model.Load(f.aft)
	if err != nil {
		t.Fatal(err)
	}
	if aft, err = model.ReplaceHead(aft, []string{"p", "q", "r"}, 5); err != nil {
		t.Fatal(err)
	}
	if err := model.Save(f.aft, aft, 0); err != nil {
		t.Fatal(err)
	}
	ds, err := data.Load(f.calib)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Labels {
		ds.Labels[i] = i % 3
	}
	ds.Classes = 3
	if err := data.SaveSafetensors(f.calib, ds); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.dir, "out")
	if msg, err := run(t, f.transferArgs(out)...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := model.Labels(m.Config())
	if w := m.Param("classifier.weight").Value.Shape; strings.Join(labels, ",") != "p,q,r" || w[0] != 3 || w[1] != 20 {
		t.Errorf("output head: labels %q, weight %v; want [p q r] and [3 20]", labels, w)
	}
	var rep struct {
		TaskHead *struct {
			Labels     []string
			SourceBase bool `json:"source_base"`
			TargetBase bool `json:"target_base"`
		} `json:"task_head"`
	}
	js, _ := os.ReadFile(filepath.Join(out, "bico-report.json"))
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if h := rep.TaskHead; h == nil || !h.SourceBase || !h.TargetBase || len(h.Labels) != 3 {
		t.Errorf("report's task_head: %s", js)
	}
	md, _ := os.ReadFile(filepath.Join(out, "bico-report.md"))
	if !strings.Contains(string(md), "| task head | the fine-tuned source's 3 labels on the source base and the target base (mapped") {
		t.Errorf("Markdown report does not describe the task head:\n%s", md)
	}
}

// TestTransferHeadlessBases: bases saved as transformers base models (no
// classifier tensors, no labels, architectures "BaseModel") transfer; the
// output has the fine-tune's head, labels and architectures, and loads as
// a classifier.
func TestTransferHeadlessBases(t *testing.T) {
	f := newFixture(t, 20)
	for _, dir := range []string{f.a, f.b} {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		saveHeadlessBase(t, dir, m, "", "BaseModel")
	}
	out := filepath.Join(f.dir, "out")
	if msg, err := run(t, f.transferArgs(out)...); err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	cfg, err := model.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := model.Labels(cfg)
	if arch := cfg["architectures"]; strings.Join(labels, ",") != "w,x,y,z" || fmt.Sprint(arch) != "[MLPForImageClassification]" {
		t.Errorf("output config: labels %q, architectures %v; want the fine-tune's", labels, arch)
	}
	if msg, err := run(t, "eval", "--model", out, "--data", f.calib, "--json"); err != nil || !strings.Contains(msg, `"accuracy"`) {
		t.Errorf("eval of the output: %v %s", err, msg)
	}
}

// TestEvalMatchesClassNames: a dataset whose class names come in another
// order than the model's labels is scored by name, and a class the model
// does not know is an error naming it.
func TestEvalMatchesClassNames(t *testing.T) {
	f := newFixture(t, 20)
	ds, err := data.Load(f.calib)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Labels {
		ds.Labels[i] = 3 - ds.Labels[i] // the same classes, numbered z, y, x, w
	}
	ds.ClassNames = []string{"z", "y", "x", "w"}
	reversed := filepath.Join(f.dir, "reversed.safetensors")
	if err := data.SaveSafetensors(reversed, ds); err != nil {
		t.Fatal(err)
	}
	want, err := run(t, "eval", "--model", f.aft, "--data", f.calib, "--json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := run(t, "eval", "--model", f.aft, "--data", reversed, "--json")
	if err != nil {
		t.Fatal(err)
	}
	score := func(js string) string { _, after, _ := strings.Cut(js, `"accuracy"`); return after }
	if score(got) != score(want) {
		t.Errorf("reordered class names scored %s, want %s", got, want)
	}
	ds.ClassNames = []string{"z", "y", "x", "emu"}
	if err := data.SaveSafetensors(reversed, ds); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "eval", "--model", f.aft, "--data", reversed); err == nil || !strings.Contains(err.Error(), `"emu"`) {
		t.Errorf("unknown class: error %v, want one naming emu", err)
	}
	if _, err := run(t, f.transferArgs(filepath.Join(f.dir, "out"), "--calib", reversed)...); err == nil || !strings.Contains(err.Error(), `"emu"`) {
		t.Errorf("transfer with an unknown class: error %v, want one naming emu", err)
	}
}

// TestTransferInParts: with --stat-memory below one block's statistics,
// bico collects them in one pass per block and writes the model one pass
// writes; bico-blend, which chooses β from every statistic at once, is
// refused.
func TestTransferInParts(t *testing.T) {
	f := newFixture(t, 20)
	one, parts := filepath.Join(f.dir, "one"), filepath.Join(f.dir, "parts")
	if msg, err := run(t, f.transferArgs(one, "--method", "bico", "--alpha", "1", "--stat-memory", "off")...); err != nil {
		t.Fatalf("one pass: %v\n%s", err, msg)
	}
	if msg, err := run(t, f.transferArgs(parts, "--method", "bico", "--alpha", "1", "--stat-memory", "1KiB")...); err != nil {
		t.Fatalf("in parts: %v\n%s", err, msg)
	}
	var rep struct {
		Calibration struct{ Passes int }
	}
	js, _ := os.ReadFile(filepath.Join(parts, "bico-report.json"))
	if err := json.Unmarshal(js, &rep); err != nil || rep.Calibration.Passes < 2 {
		t.Errorf("report of the transfer in parts (%v): %s", err, js)
	}
	a, err := model.Load(one)
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.Load(parts)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, a, b, 1e-6, "one pass", "in parts")
	if _, err := run(t, f.transferArgs(filepath.Join(f.dir, "blend"), "--stat-memory", "1KiB")...); err == nil || !strings.Contains(err.Error(), "use bico") {
		t.Errorf("bico-blend in parts: error %v, want one suggesting bico", err)
	}
	if _, err := run(t, f.transferArgs(filepath.Join(f.dir, "bad"), "--stat-memory", "lots")...); err == nil || !strings.Contains(err.Error(), "--stat-memory") {
		t.Errorf("--stat-memory lots: error %v", err)
	}
}

// TestTransferLeavesOutUnchangedSites: a fine-tune that changed only the
// hidden layer leaves the head's pair out (said on the output and in the
// report), and one equal to its base is refused with a clear error.
func TestTransferLeavesOutUnchangedSites(t *testing.T) {
	f := newFixture(t, 20)
	a, err := model.Load(f.a)
	if err != nil {
		t.Fatal(err)
	}
	aft, err := model.Load(f.aft)
	if err != nil {
		t.Fatal(err)
	}
	ps := map[string]*tensor.Tensor[float32]{}
	for _, name := range a.ParamNames() {
		ps[name] = a.Param(name).Value
		if strings.HasPrefix(name, "layers.0.") {
			ps[name] = aft.Param(name).Value
		}
	}
	partial, err := model.WithParams(a, ps)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.Save(f.aft, partial, 0); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.dir, "out")
	msg, err := run(t, f.transferArgs(out, "--method", "bico")...)
	if err != nil {
		t.Fatalf("transfer: %v\n%s", err, msg)
	}
	if !strings.Contains(msg, "1 of 2 site pairs were left out") {
		t.Errorf("output does not say a pair was left out:\n%s", msg)
	}
	var rep struct {
		Unchanged []string `json:"unchanged_sites"`
	}
	js, _ := os.ReadFile(filepath.Join(out, "bico-report.json"))
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Unchanged) != 1 || strings.HasPrefix(rep.Unchanged[0], "layers.0") {
		t.Errorf("report's unchanged sites: %v, want the head", rep.Unchanged)
	}

	args := f.transferArgs(filepath.Join(f.dir, "same"))
	args[5] = f.a // --source-finetuned is the base itself
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "identical to the source base") {
		t.Errorf("identical fine-tune: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "same")); !os.IsNotExist(err) {
		t.Errorf("identical fine-tune wrote output: %v", err)
	}
}

// TestTransferLoRANewHead: a LoRA adapter that trains the hidden layer by
// LoRA and a 6-class classifier whole (modules_to_save), as image
// classifiers are fine-tuned, on a base with a 4-class head. The transfer
// gives B the task's head; with --save-lora the adapter of B carries that
// head whole, and B (any head) with the adapter merged is the full output.
func TestTransferLoRANewHead(t *testing.T) {
	f := newFixture(t, 20)
	a, err := model.Load(f.a)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	random := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(std * rng.NormFloat64())
		}
		return x
	}
	hidden := a.Param("layers.0.weight").Value.Shape // [16, 12]
	lora := filepath.Join(f.dir, "lora")
	if err := os.MkdirAll(lora, 0o755); err != nil {
		t.Fatal(err)
	}
	tensors := []safetensors.Tensor{
		safetensors.F32("base_model.model.layers.0.lora_A.weight", []int{2, hidden[1]}, random(2*hidden[1], 1)),
		safetensors.F32("base_model.model.layers.0.lora_B.weight", []int{hidden[0], 2}, random(hidden[0]*2, 0.1)),
		safetensors.F32("base_model.model.classifier.weight", []int{6, hidden[0]}, random(6*hidden[0], 0.3)),
		safetensors.F32("base_model.model.classifier.bias", []int{6}, random(6, 0.1)),
	}
	if err := safetensors.Write(filepath.Join(lora, model.AdapterWeightsFile), tensors, nil); err != nil {
		t.Fatal(err)
	}
	cfg := `{"peft_type": "LORA", "r": 2, "lora_alpha": 2, "target_modules": ["layers.0"], "modules_to_save": ["classifier"]}`
	if err := os.WriteFile(filepath.Join(lora, model.AdapterConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	full, adapter := filepath.Join(f.dir, "full"), filepath.Join(f.dir, "adapter")
	for _, c := range []struct {
		out   string
		extra []string
	}{{full, nil}, {adapter, []string{"--save-lora"}}} {
		args := f.transferArgs(c.out, append([]string{"--method", "bico", "--alpha", "1.5"}, c.extra...)...)
		args[5] = lora
		if msg, err := run(t, args...); err != nil {
			t.Fatalf("transfer %v: %v\n%s", c.extra, err, msg)
		}
	}
	want, err := model.Load(full)
	if err != nil {
		t.Fatal(err)
	}
	if want.NumLabels() != 6 {
		t.Fatalf("output has %d classes, want the adapter head's 6", want.NumLabels())
	}
	var saved struct {
		ModulesToSave []string `json:"modules_to_save"`
	}
	js, _ := os.ReadFile(filepath.Join(adapter, model.AdapterConfigFile))
	if err := json.Unmarshal(js, &saved); err != nil || len(saved.ModulesToSave) != 1 || saved.ModulesToSave[0] != "classifier" {
		t.Errorf("adapter config %s: want modules_to_save [classifier]", js)
	}
	sameParams(t, mergedOnto(t, f.b, adapter), want, 1e-5, "B with the written adapter", "the full output")
}

// TestTransferWritesTargetDtype: the output takes the precision the target
// base is stored in unless --dtype names another, and config.json says
// which.
func TestTransferWritesTargetDtype(t *testing.T) {
	f := newFixture(t, 20)
	b, err := model.Load(f.b)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.SaveWith(f.b, b, model.SaveOptions{Dtype: safetensors.DtypeBF16}); err != nil {
		t.Fatal(err)
	}
	var f32 model.Model
	for _, c := range []struct {
		flag  string
		want  safetensors.Dtype
		torch string
	}{{"float32", safetensors.DtypeF32, "float32"}, {"auto", safetensors.DtypeBF16, "bfloat16"}, {"F16", safetensors.DtypeF16, "float16"}} {
		out := filepath.Join(f.dir, "out-"+c.flag)
		msg, err := run(t, f.transferArgs(out, "--alpha", "1", "--dtype", c.flag)...)
		if err != nil {
			t.Fatalf("transfer --dtype %s: %v\n%s", c.flag, err, msg)
		}
		if !strings.Contains(msg, c.torch+")") {
			t.Errorf("--dtype %s: the output line does not name %s:\n%s", c.flag, c.torch, msg)
		}
		got, err := model.StoredDtype(out)
		cfg, _ := model.ReadConfig(out)
		if err != nil || got != c.want || cfg["torch_dtype"] != c.torch {
			t.Errorf("--dtype %s: written as %s (%v), torch_dtype %v; want %s", c.flag, got, err, cfg["torch_dtype"], c.want)
		}
		m, err := model.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if c.want == safetensors.DtypeF32 {
			f32 = m
		} else if f32 != nil {
			// Rounded from the float32 output: a relative 2⁻⁸ (bfloat16) or
			// 2⁻¹¹ (float16) at most.
			for _, name := range m.ParamNames() {
				x, y := m.Param(name).Value.Data, f32.Param(name).Value.Data
				for i := range x {
					if d := math.Abs(float64(x[i] - y[i])); d > math.Abs(float64(y[i]))/256 {
						t.Fatalf("--dtype %s: %s[%d] is %g, the float32 output's %g", c.flag, name, i, x[i], y[i])
					}
				}
			}
		}
	}
	if _, err := run(t, f.transferArgs(filepath.Join(f.dir, "bad"), "--dtype", "int8")...); err == nil || !strings.Contains(err.Error(), "--dtype") {
		t.Errorf("--dtype int8: %v", err)
	}
}
