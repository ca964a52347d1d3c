package model

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tensor"
)

func backend(t testing.TB) linalg.Backend {
	t.Helper()
	be, err := linalg.Default()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// tinyViT is the configuration of the brief's tiny ViT.
func tinyViT() map[string]any {
	return ViTConfig{HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 16,
		ImageSize: 8, PatchSize: 4, NumChannels: 1, Labels: []string{"a", "b", "c"}}.Map()
}

func tinyMLP(norm bool) map[string]any {
	return MLPConfig{InputSize: 64, HiddenSizes: []int{12, 10}, LayerNorm: norm,
		Labels: []string{"zero", "one", "two", "three"}}.Map()
}

func randImages(seed uint64, shape ...int) *Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New[float32](shape...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

func mustBuild(t testing.TB, cfg map[string]any, seed uint64) Model {
	t.Helper()
	m, err := Build(cfg, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func logits(t testing.TB, m Model, x *Tensor) *Tensor {
	t.Helper()
	tp := autodiff.NewTape[float32](backend(t))
	tp.NoGrad = true
	return m.Forward(tp, autodiff.Const(x)).Value
}

func TestForwardShapes(t *testing.T) {
	cases := []struct {
		name  string
		cfg   map[string]any
		input []int
	}{
		{"vit", tinyViT(), []int{3, 1, 8, 8}},
		{"vit-3d", tinyViT(), []int{3, 8, 8}},
		{"vit-flat", tinyViT(), []int{3, 64}},
		{"mlp", tinyMLP(false), []int{3, 1, 8, 8}},
		{"mlp-norm", tinyMLP(true), []int{3, 64}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustBuild(t, c.cfg, 1)
			if err := CheckInput(m, c.input); err != nil {
				t.Fatal(err)
			}
			y := logits(t, m, randImages(2, c.input...))
			if want := []int{3, m.NumLabels()}; !slices.Equal(y.Shape, want) {
				t.Fatalf("logits shape %v, want %v", y.Shape, want)
			}
			if i := y.FirstNonFinite(); i >= 0 {
				t.Fatalf("non-finite logit at %d", i)
			}
		})
	}
}

func TestCheckInputRejects(t *testing.T) {
	v := mustBuild(t, tinyViT(), 1)
	for _, s := range [][]int{{2, 1, 16, 16}, {2, 2, 8, 8}, {2, 65}, {8, 8}, {0, 1, 8, 8}} {
		if err := CheckInput(v, s); err == nil {
			t.Errorf("vit accepted %v", s)
		}
	}
	m := mustBuild(t, tinyMLP(false), 1)
	if err := CheckInput(m, []int{2, 63}); err == nil {
		t.Error("mlp accepted 63 values per sample")
	}
}

func TestChannelBroadcast(t *testing.T) {
	cfg := tinyViT()
	cfg["num_channels"] = 3
	m := mustBuild(t, cfg, 3)
	gray := randImages(4, 2, 1, 8, 8)
	rgb := repeatChannels(gray, 3)
	d := tensor.MaxAbsDiff(logits(t, m, gray), logits(t, m, rgb))
	if d != 0 {
		t.Fatalf("one-channel input differs from repeated channels by %g", d)
	}
}

func TestSitesAndVectors(t *testing.T) {
	for _, cfg := range []map[string]any{tinyViT(), tinyMLP(false), tinyMLP(true), tinyLlama()} {
		m := mustBuild(t, cfg, 1)
		t.Run(m.Type(), func(t *testing.T) {
			spaces := map[string]bool{}
			used := map[string]bool{}
			roles := map[string]int{}
			for _, s := range m.Sites() {
				roles[s.Role]++
				spaces[s.InSpace], spaces[s.OutSpace] = true, true
				if s.OutSpace != s.Name {
					t.Errorf("site %s: OutSpace %q", s.Name, s.OutSpace)
				}
				w := m.Param(s.Weight)
				if w == nil || !slices.Equal(w.Value.Shape, s.WeightShape()) {
					t.Errorf("site %s: weight %q missing or not %v", s.Name, s.Weight, s.WeightShape())
				}
				used[s.Weight] = true
				if s.Bias != "" {
					b := m.Param(s.Bias)
					if b == nil || !slices.Equal(b.Value.Shape, []int{s.Out}) {
						t.Errorf("site %s: bias %q missing or not [%d]", s.Name, s.Bias, s.Out)
					}
					used[s.Bias] = true
				}
			}
			for _, v := range m.Vectors() {
				if !spaces[v.Space] {
					t.Errorf("vector %s: space %q is no site's space", v.Name, v.Space)
				}
				p := m.Param(v.Name)
				if p == nil {
					t.Errorf("vector %s: no such parameter", v.Name)
					continue
				}
				used[v.Name] = true
			}
			for _, name := range m.ParamNames() {
				if !used[name] {
					t.Errorf("parameter %s is neither a site's nor a vector", name)
				}
			}
			if roles["head"] != 1 {
				t.Errorf("%d head sites", roles["head"])
			}
			if m.Type() == "vit" {
				for _, r := range []string{"query", "key", "value", "attn_out", "mlp_in", "mlp_out"} {
					if roles[r] != 2 {
						t.Errorf("%d sites of role %s, want 2", roles[r], r)
					}
				}
				if roles["patch"] != 1 {
					t.Errorf("%d patch sites", roles["patch"])
				}
			}
		})
	}
}

// recorder records the input widths and row counts an observer sees.
type recorder struct {
	in, out, grad map[string][]int
}

func (r *recorder) Wants(site string, kind autodiff.SiteKind) bool { return true }
func (r *recorder) Observe(site string, kind autodiff.SiteKind, x *tensor.Tensor[float32]) {
	switch kind {
	case autodiff.SiteInput:
		r.in[site] = slices.Clone(x.Shape)
	case autodiff.SiteOutput:
		r.out[site] = slices.Clone(x.Shape)
	case autodiff.SiteOutputGrad:
		r.grad[site] = slices.Clone(x.Shape)
	}
}

func TestObservedSites(t *testing.T) {
	for _, cfg := range []map[string]any{tinyViT(), tinyMLP(true)} {
		m := mustBuild(t, cfg, 1)
		rec := &recorder{map[string][]int{}, map[string][]int{}, map[string][]int{}}
		tp := autodiff.NewTape[float32](backend(t))
		tp.Observer = rec
		y := m.Forward(tp, autodiff.Const(randImages(5, 2, 1, 8, 8)))
		tp.Backward(tp.CrossEntropy(y, []int{0, 1}))
		for _, s := range m.Sites() {
			in, out, g := rec.in[s.Name], rec.out[s.Name], rec.grad[s.Name]
			if in == nil || in[len(in)-1] != s.In || out == nil || out[len(out)-1] != s.Out || !slices.Equal(g, out) {
				t.Errorf("%s site %s: saw input %v, output %v, output grad %v; want widths %d → %d", m.Type(), s.Name, in, out, g, s.In, s.Out)
			}
			if m.Type() == "vit" && s.Role != "head" && s.Role != "patch" && !slices.Equal(in[:2], []int{2, 5}) {
				t.Errorf("site %s: rows %v, want [2, 5] tokens", s.Name, in)
			}
		}
		if m.Type() == "vit" {
			if rec.out["vit.encoder.layer.1"] == nil || rec.out["vit.embeddings"] == nil {
				t.Error("block outputs not marked")
			}
		}
	}
}

func TestInitDeterministic(t *testing.T) {
	for _, cfg := range []map[string]any{tinyViT(), tinyMLP(true), tinyLlama()} {
		a, b, c := mustBuild(t, cfg, 7), mustBuild(t, cfg, 7), mustBuild(t, cfg, 8)
		same, differ := true, false
		for _, name := range a.ParamNames() {
			pa, pb, pc := a.Param(name).Value, b.Param(name).Value, c.Param(name).Value
			if tensor.MaxAbsDiff(pa, pb) != 0 {
				same = false
			}
			if tensor.MaxAbsDiff(pa, pc) != 0 {
				differ = true
			}
		}
		if !same || !differ {
			t.Errorf("%s: same seed same params %v, other seed other params %v", a.Type(), same, differ)
		}
	}
	// HF-like ViT init: LN ones/zeros, biases zero, weights std ≈ 0.02.
	cfg := ViTConfig{HiddenSize: 64, NumLayers: 1, NumHeads: 4, ImageSize: 8, PatchSize: 4}.Map()
	m := mustBuild(t, cfg, 1)
	w := m.Param("vit.encoder.layer.0.intermediate.dense.weight").Value
	var ss float64
	for _, v := range w.Data {
		ss += float64(v) * float64(v)
		if math.Abs(float64(v)) > 0.04+1e-6 {
			t.Fatalf("weight %g beyond 2 std", v)
		}
	}
	if std := math.Sqrt(ss / float64(len(w.Data))); std < 0.015 || std > 0.02 {
		t.Errorf("weight std %g, want about 0.0176 (0.02 truncated at 2σ)", std)
	}
	for name, want := range map[string]float32{"vit.layernorm.weight": 1, "vit.layernorm.bias": 0, "classifier.bias": 0} {
		for _, v := range m.Param(name).Value.Data {
			if v != want {
				t.Fatalf("%s holds %g, want %g", name, v, want)
			}
		}
	}
}

func TestTrainingStepsLowerLoss(t *testing.T) {
	vit := tinyViT()
	vit["initializer_range"] = 0.3 // 0.02 leaves the class tokens of all images alike
	for _, cfg := range []map[string]any{vit, tinyMLP(true)} {
		m := mustBuild(t, cfg, 11)
		x := randImages(12, 6, 1, 8, 8)
		labels := []int{0, 1, 2, 0, 1, 2}
		step := func(lr float32) float32 {
			tp := autodiff.NewTape[float32](backend(t))
			loss := tp.CrossEntropy(m.Forward(tp, autodiff.Const(x)), labels)
			tp.Backward(loss)
			for _, name := range m.ParamNames() {
				p := m.Param(name)
				if p.Grad == nil {
					t.Fatalf("%s: no gradient reached %s", m.Type(), name)
				}
				for i, g := range p.Grad.Data {
					p.Value.Data[i] -= lr * g
				}
				p.ZeroGrad()
			}
			return loss.Value.Data[0]
		}
		first := step(0.5)
		var last float32
		for i := 0; i < 10; i++ {
			last = step(0.5)
		}
		t.Logf("%s: loss %g → %g", m.Type(), first, last)
		if !(last < first*0.9) {
			t.Errorf("%s: loss %g after 10 SGD steps from %g", m.Type(), last, first)
		}
	}
}

func TestPatchWeightShapes(t *testing.T) {
	m := mustBuild(t, tinyViT(), 1)
	name := "vit.embeddings.patch_embeddings.projection.weight"
	if got := m.Param(name).Value.Shape; !slices.Equal(got, []int{8, 16}) {
		t.Errorf("in-memory shape %v, want [8 16]", got)
	}
	if got := CheckpointShape(m, name); !slices.Equal(got, []int{8, 1, 4, 4}) {
		t.Errorf("checkpoint shape %v, want [8 1 4 4]", got)
	}
	if got := CheckpointShape(m, "classifier.weight"); !slices.Equal(got, []int{3, 8}) {
		t.Errorf("classifier checkpoint shape %v", got)
	}
	// Parameters may be given in either shape.
	params := Params(m)
	params[name] = params[name].View(8, 1, 4, 4)
	m2, err := WithParams(m, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Param(name).Value.Shape; !slices.Equal(got, []int{8, 16}) {
		t.Errorf("rebuilt in-memory shape %v", got)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, c := range []struct {
		cfg   map[string]any
		shard int64
	}{{tinyViT(), 0}, {tinyViT(), 2000}, {tinyMLP(true), 0}, {tinyMLP(false), 1500}, {tinyLlama(), 500}} {
		m := mustBuild(t, c.cfg, 5)
		dir := t.TempDir()
		if err := Save(dir, m, c.shard); err != nil {
			t.Fatal(err)
		}
		_, errIdx := os.Stat(filepath.Join(dir, "model.safetensors.index.json"))
		if sharded := errIdx == nil; sharded != (c.shard > 0) {
			t.Errorf("%s: sharded %v with max shard %d", m.Type(), sharded, c.shard)
		}
		m2, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		x := randImages(6, 4, 1, 8, 8)
		if m.Type() == "llama" {
			x = randTokens(6, 4, 5, 30)
		}
		if d := tensor.MaxAbsDiff(logits(t, m, x), logits(t, m2, x)); d != 0 {
			t.Errorf("%s: logits differ by %g after Save/Load", m.Type(), d)
		}
		if !slices.Equal(m.ParamNames(), m2.ParamNames()) {
			t.Errorf("%s: parameter names changed", m.Type())
		}
		cl, err := Clone(m2)
		if err != nil {
			t.Fatal(err)
		}
		p := cl.Param(m.ParamNames()[0]).Value
		p.Data[0] += 1
		if m2.Param(m.ParamNames()[0]).Value.Data[0] == p.Data[0] {
			t.Errorf("%s: Clone shares parameters", m.Type())
		}
	}
}

func TestSaveOverwritesOtherLayout(t *testing.T) {
	m := mustBuild(t, tinyViT(), 5)
	m2 := mustBuild(t, tinyViT(), 6)
	dir := t.TempDir()
	if err := Save(dir, m, 0); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, m2, 2000); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	x := randImages(6, 2, 1, 8, 8)
	if d := tensor.MaxAbsDiff(logits(t, m2, x), logits(t, got, x)); d != 0 {
		t.Errorf("loaded the older checkpoint (logits differ by %g)", d)
	}
}

// writeST writes tensors as a safetensors file by hand (F32).
func writeST(t testing.TB, path string, names []string, tensors map[string]*Tensor) {
	t.Helper()
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, name := range names {
		x := tensors[name]
		start := len(data)
		for _, v := range x.Data {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[name] = map[string]any{"dtype": "F32", "shape": x.Shape, "data_offsets": []int{start, len(data)}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	m := mustBuild(t, tinyViT(), 5)
	names := m.ParamNames()
	ckpt := func(edit func(map[string]*Tensor) []string) string {
		dir := t.TempDir()
		if err := WriteConfig(dir, m.Config()); err != nil {
			t.Fatal(err)
		}
		params := map[string]*Tensor{}
		for _, n := range names {
			params[n] = m.Param(n).Value.Clone().View(CheckpointShape(m, n)...)
		}
		keep := edit(params)
		writeST(t, filepath.Join(dir, "model.safetensors"), keep, params)
		return dir
	}
	cases := []struct {
		name string
		edit func(map[string]*Tensor) []string
		want []string
	}{
		{"missing", func(p map[string]*Tensor) []string {
			return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "vit.encoder.layer.1.output.dense.bias" })
		}, []string{"model.safetensors", `missing tensor "vit.encoder.layer.1.output.dense.bias"`}},
		{"shape", func(p map[string]*Tensor) []string {
			p["vit.encoder.layer.0.intermediate.dense.weight"] = tensor.New[float32](8, 16)
			return names
		}, []string{"model.safetensors", `"vit.encoder.layer.0.intermediate.dense.weight"`, "[8 16]", "expected [16 8]"}},
		{"nan", func(p map[string]*Tensor) []string {
			p["vit.layernorm.bias"].Data[3] = float32(math.NaN())
			return names
		}, []string{"model.safetensors", `"vit.layernorm.bias"`, "NaN", "index 3"}},
		{"inf", func(p map[string]*Tensor) []string {
			p["vit.embeddings.patch_embeddings.projection.weight"].Data[17] = float32(math.Inf(-1))
			return names
		}, []string{"model.safetensors", "projection.weight", "index 17"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(ckpt(c.edit))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("model_type", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteConfig(dir, map[string]any{"model_type": "resnet"}); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), `"resnet"`) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no config", func(t *testing.T) {
		if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("base-model names", func(t *testing.T) {
		dir := ckpt(func(p map[string]*Tensor) []string {
			var out []string
			for _, n := range names {
				if short, ok := strings.CutPrefix(n, "vit."); ok {
					p[short] = p[n]
					n = short
				}
				out = append(out, n)
			}
			return out
		})
		got, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		x := randImages(6, 2, 1, 8, 8)
		if d := tensor.MaxAbsDiff(logits(t, m, x), logits(t, got, x)); d != 0 {
			t.Errorf("logits differ by %g", d)
		}
	})
	t.Run("extra tensors ignored", func(t *testing.T) {
		dir := ckpt(func(p map[string]*Tensor) []string {
			p["vit.pooler.dense.bias"] = tensor.New[float32](8)
			return append(slices.Clone(names), "vit.pooler.dense.bias")
		})
		if _, err := Load(dir); err != nil {
			t.Error(err)
		}
	})
	t.Run("no head", func(t *testing.T) {
		// A transformers ViTModel checkpoint: base-model names, a pooler
		// and no classifier. Load refuses it; LoadWith MissingHead gives a zero
		// head, but no other tensor may be missing.
		headless := func(drop string) string {
			return ckpt(func(p map[string]*Tensor) []string {
				out := []string{"pooler.dense.bias"}
				p["pooler.dense.bias"] = tensor.New[float32](8)
				for _, n := range names {
					if strings.HasPrefix(n, "classifier.") || n == drop {
						continue
					}
					short := strings.TrimPrefix(n, "vit.")
					p[short] = p[n]
					out = append(out, short)
				}
				return out
			})
		}
		dir := headless("")
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `missing tensor "classifier.weight"`) {
			t.Errorf("Load without a head: error %v", err)
		}
		got, err := LoadWith(dir, LoadOptions{MissingHead: true})
		if err != nil {
			t.Fatal(err)
		}
		w, b := got.Param("classifier.weight").Value, got.Param("classifier.bias").Value
		if tensor.MaxAbsDiff(w, tensor.New[float32](w.Shape...)) != 0 || tensor.MaxAbsDiff(b, tensor.New[float32](b.Shape...)) != 0 {
			t.Errorf("missing head loaded as non-zero")
		}
		if d := tensor.MaxAbsDiff(got.Param("vit.layernorm.weight").Value, m.Param("vit.layernorm.weight").Value); d != 0 {
			t.Errorf("body differs by %g", d)
		}
		_, err = LoadWith(headless("vit.layernorm.bias"), LoadOptions{MissingHead: true})
		if err == nil || !strings.Contains(err.Error(), `missing tensor "vit.layernorm.bias"`) {
			t.Errorf("MissingHead with a missing norm: error %v", err)
		}
	})
}

func TestBuildErrors(t *testing.T) {
	m := mustBuild(t, tinyMLP(false), 1)
	params := Params(m)
	params["extra"] = tensor.New[float32](2)
	if _, err := WithParams(m, params); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("extra parameter: %v", err)
	}
	delete(params, "extra")
	delete(params, "layers.1.bias")
	if _, err := WithParams(m, params); err == nil || !strings.Contains(err.Error(), `"layers.1.bias"`) {
		t.Errorf("missing parameter: %v", err)
	}
	for field, v := range map[string]any{"hidden_size": "eight", "num_attention_heads": 3, "hidden_act": "swiglu", "patch_size": 0, "layer_norm_eps": -1.0} {
		cfg := tinyViT()
		cfg[field] = v
		if _, err := Build(cfg, nil, 1); err == nil {
			t.Errorf("vit with %s = %v built", field, v)
		} else if field != "num_attention_heads" && !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	if _, err := Build(map[string]any{"model_type": "nope"}, nil, 1); err == nil {
		t.Error("unknown model_type built")
	}
}

func TestHFConfig(t *testing.T) {
	cfg, err := ReadConfig("testdata/hf_vit")
	if err != nil {
		t.Fatal(err)
	}
	m := mustBuild(t, cfg, 3)
	if m.NumLabels() != 3 || m.Type() != "vit" {
		t.Fatalf("%s model with %d labels", m.Type(), m.NumLabels())
	}
	y := logits(t, m, randImages(1, 2, 3, 16, 16))
	if !slices.Equal(y.Shape, []int{2, 3}) {
		t.Fatalf("logits %v", y.Shape)
	}
	if got := len(m.Param("vit.embeddings.position_embeddings").Value.Data); got != 5*16 {
		t.Errorf("position table of %d values", got)
	}
	// Save keeps every field (unknown ones included) and their values.
	dir := t.TempDir()
	if err := Save(dir, m, 0); err != nil {
		t.Fatal(err)
	}
	back, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(cfg)
	got, _ := json.Marshal(back)
	if string(want) != string(got) {
		t.Errorf("config changed on Save:\n got %s\nwant %s", got, want)
	}
	labels, err := Labels(back)
	if err != nil || !slices.Equal(labels, []string{"airplane", "automobile", "bird"}) {
		t.Errorf("labels %v, %v", labels, err)
	}
}

func TestReplaceHead(t *testing.T) {
	m := mustBuild(t, tinyViT(), 1)
	h, err := ReplaceHead(m, []string{"x", "y", "z", "w", "v"}, 9)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumLabels() != 5 {
		t.Fatalf("%d labels", h.NumLabels())
	}
	if tensor.MaxAbsDiff(h.Param("vit.layernorm.weight").Value, m.Param("vit.layernorm.weight").Value) != 0 {
		t.Error("body changed")
	}
	labels, _ := Labels(h.Config())
	if !slices.Equal(labels, []string{"x", "y", "z", "w", "v"}) {
		t.Errorf("labels %v", labels)
	}
	l2i := h.Config()["label2id"].(map[string]any)
	if l2i["w"] != 3 {
		t.Errorf("label2id %v", l2i)
	}
}

func TestConfigHelpers(t *testing.T) {
	var cfg map[string]any
	if err := json.Unmarshal([]byte(`{"a": 3, "b": 2.5, "c": "s", "d": true, "e": [1, 2], "f": [1, "x"], "n": null}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if v, err := ConfigInt(cfg, "a"); v != 3 || err != nil {
		t.Errorf("a: %v %v", v, err)
	}
	if _, err := ConfigInt(cfg, "b"); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("b as int: %v", err)
	}
	if v, err := ConfigFloat(cfg, "b"); v != 2.5 || err != nil {
		t.Errorf("b: %v %v", v, err)
	}
	if _, err := ConfigFloat(cfg, "c"); err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("c as float: %v", err)
	}
	if _, err := ConfigString(cfg, "zz"); err == nil || !strings.Contains(err.Error(), `missing field "zz"`) {
		t.Errorf("missing: %v", err)
	}
	if v, err := ConfigIntOr(cfg, "n", 4); v != 4 || err != nil {
		t.Errorf("null: %v %v", v, err)
	}
	if v, err := ConfigBoolOr(cfg, "d", false); !v || err != nil {
		t.Errorf("d: %v %v", v, err)
	}
	if v, err := ConfigInts(cfg, "e"); !slices.Equal(v, []int{1, 2}) || err != nil {
		t.Errorf("e: %v %v", v, err)
	}
	if _, err := ConfigInts(cfg, "f"); err == nil || !strings.Contains(err.Error(), `"f[1]"`) {
		t.Errorf("f: %v", err)
	}
	for _, bad := range []string{`{"id2label": {"0": "a", "2": "b"}}`, `{"id2label": {"0": 1}}`, `{"id2label": []}`, `{"num_labels": 0}`} {
		var c map[string]any
		json.Unmarshal([]byte(bad), &c)
		if _, err := Labels(c); err == nil {
			t.Errorf("Labels accepted %s", bad)
		}
	}
}

func TestConfigIsACopy(t *testing.T) {
	m := mustBuild(t, tinyViT(), 1)
	c := m.Config()
	c["hidden_size"] = 99
	c["id2label"].(map[string]any)["0"] = "changed"
	if v, _ := ConfigInt(m.Config(), "hidden_size"); v != 8 {
		t.Error("Config shares the model's map")
	}
	if l, _ := Labels(m.Config()); l[0] != "a" {
		t.Error("Config shares the model's labels")
	}
}

// TestConfigBounds: sizes no model has (a corrupt or mistyped config) are
// errors naming the field, not allocations that exhaust memory (a
// per-layer table of 10¹² layers made the parser panic).
func TestConfigBounds(t *testing.T) {
	for _, cfg := range []map[string]any{
		{"model_type": "gemma2", "num_hidden_layers": 1e12, "sliding_window": 3.0},
		{"model_type": "bert", "num_hidden_layers": 5000.0},
		{"model_type": "vit", "hidden_size": 1e9},
	} {
		_, err := Build(cfg, nil, 0)
		if err == nil || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%v: %v, want an error about the size", cfg, err)
		}
	}
}

// FuzzConfig checks that no config.json makes the parsers panic.
func FuzzConfig(f *testing.F) {
	for _, cfg := range []map[string]any{tinyViT(), tinyMLP(true)} {
		raw, _ := json.Marshal(cfg)
		f.Add(raw)
	}
	f.Add([]byte(`{"model_type":"vit","image_size":[8],"patch_size":[4,4]}`))
	f.Add([]byte(`{"model_type":"mlp","image_size":[8,8],"hidden_sizes":[1e300]}`))
	f.Add([]byte(`{"model_type":"clip","vision_config":{"hidden_size":8,"num_attention_heads":3,"image_size":4}}`))
	f.Add([]byte(`{"model_type":"llama","hidden_size":8,"num_attention_heads":2,"num_key_value_heads":3,"pad_token_id":null}`))
	f.Add([]byte(`{"model_type":"gemma2","hidden_size":8,"num_attention_heads":2,"head_dim":4,"sliding_window":3,"attn_logit_softcapping":null,"query_pre_attn_scalar":0}`))
	f.Add([]byte(`{"model_type":"gemma3_text","num_hidden_layers":3,"sliding_window":2,"sliding_window_pattern":0,"layer_types":["sliding_attention"]}`))
	f.Add([]byte(`{"model_type":"qwen2","use_sliding_window":true,"sliding_window":4,"max_window_layers":-1}`))
	f.Add([]byte(`{"model_type":"roberta","pad_token_id":600,"max_position_embeddings":514}`))
	f.Add([]byte(`{"model_type":"distilbert","dim":8,"n_heads":3,"sinusoidal_pos_embds":true}`))
	f.Add([]byte(`{"model_type":"bert","position_embedding_type":"relative_key","hidden_act":"swish"}`))
	f.Add([]byte(`{"model_type":"gemma2","num_hidden_layers":1e12,"sliding_window":3}`))
	f.Add([]byte(`{"model_type":"phi3","head_dim":8,"partial_rotary_factor":0.5,"original_max_position_embeddings":2,"rope_scaling":{"type":"longrope","short_factor":[1,2],"long_factor":[1,"x"]}}`))
	f.Add([]byte(`{"model_type":"llama","head_dim":2,"max_position_embeddings":0,"rope_scaling":{"rope_type":"dynamic","factor":-1}}`))
	f.Add([]byte(`{"model_type":"granite","attention_multiplier":0,"logits_scaling":"x","embedding_multiplier":1e400}`))
	f.Add([]byte(`{"model_type":"stablelm","use_parallel_residual":true,"qk_layernorm":true,"layer_norm_eps":-1}`))
	f.Add([]byte(`{"model_type":"olmo2","num_key_value_heads":2,"rms_norm_eps":-1}`))
	f.Add([]byte(`{"model_type":"olmo3","num_hidden_layers":5,"rope_scaling":{"rope_type":"yarn","factor":0,"original_max_position_embeddings":1,"truncate":"no","mscale":2}}`))
	f.Add([]byte(`{"model_type":"gpt2","n_embd":8,"n_head":3,"n_inner":null,"activation_function":"gelu_new2"}`))
	f.Add([]byte(`{"model_type":"phi","num_key_value_heads":0,"qk_layernorm":1,"partial_rotary_factor":0.4}`))
	f.Add([]byte(`{"model_type":"gpt_neox","hidden_size":8,"num_attention_heads":2,"rotary_pct":0.5,"rope_parameters":{"partial_rotary_factor":2}}`))
	f.Add([]byte(`{"model_type":"dinov2","image_size":518,"patch_size":14,"mlp_ratio":4,"use_swiglu_ffn":true,"layerscale_value":1e-5}`))
	f.Add([]byte(`{"model_type":"dinov2_with_registers","image_size":[12,8],"patch_size":[4,4],"num_register_tokens":-1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var cfg map[string]any
		if json.Unmarshal(raw, &cfg) != nil {
			return
		}
		parseViT(cfg)
		parseMLP(cfg)
		parseCLIP(cfg)
		parseLlama(cfg)
		parseBert(cfg)
		if mt, _ := cfg["model_type"].(string); mt == "dinov2" || mt == "dinov2_with_registers" {
			if m, err := parseDINOv2(cfg, mt); err == nil && m.layers*m.hidden < 1<<14 && m.mlp < 1<<14 {
				for _, p := range m.packs() {
					if err := p.check(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if m, err := parseGPTNeoX(cfg); err == nil && m.layers*m.hidden < 1<<14 {
			for _, p := range m.packs() {
				if err := p.check(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if m, err := parseGPT2(cfg); err == nil && m.layers*m.hidden < 1<<14 {
			for _, p := range m.packs() {
				if err := p.check(); err != nil {
					t.Fatal(err)
				}
			}
		}
		Labels(cfg)
	})
}

// TestViTMatchesTorchFixture checks the forward pass against logits computed
// by testdata/make_vit_fixture.py, an independent plain-torch
// implementation of ViTForImageClassification.
func TestViTMatchesTorchFixture(t *testing.T) { checkTorchFixture(t, "testdata/vit_fixture") }

// TestCLIPMatchesTorchFixture checks the forward pass against logits
// computed by testdata/make_clip_fixture.py, an independent plain-torch
// implementation of CLIPForImageClassification, from a checkpoint that also
// holds tensors the classifier does not use (a text tower's, the visual
// projection).
func TestCLIPMatchesTorchFixture(t *testing.T) { checkTorchFixture(t, "testdata/clip_fixture") }

// TestLlamaMatchesTorchFixture: grouped-query attention, rotary embeddings,
// right padding (testdata/make_llama_fixture.py).
func TestLlamaMatchesTorchFixture(t *testing.T) { checkTorchFixture(t, "testdata/llama_fixture") }

// TestCausalLMsMatchTorchFixtures: LlamaForCausalLM (lm_head) and
// Qwen2ForCausalLM with tied embeddings give every token's logits.
func TestCausalLMsMatchTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/llama_lm_fixture")
	checkTorchFixture(t, "testdata/qwen2_lm_fixture")
}

// TestQwen3MatchesTorchFixture: a tied Qwen3ForCausalLM, whose query and key
// heads go through RMSNorms (q_norm, k_norm) and whose heads are twice as
// wide as the residual stream over their count (head_dim 8, width 16, 4
// heads).
func TestQwen3MatchesTorchFixture(t *testing.T) {
	checkTorchFixture(t, "testdata/qwen3_lm_fixture")
	m, err := Load("testdata/qwen3_lm_fixture")
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, v := range m.Vectors() {
		if v.Role == "head_norm_weight" {
			roles = append(roles, v.Name+" in "+v.Space)
		}
	}
	if want := "model.layers.0.self_attn.q_norm.weight in model.layers.0.self_attn.q_proj"; len(roles) != 4 || roles[0] != want {
		t.Errorf("head norms %v, want 4 starting with %q", roles, want)
	}
}

// TestGemmaMatchesTorchFixtures: a tied GemmaForCausalLM (embeddings times
// √hidden_size, norms of 1 + weight, the tanh GELU), a Gemma2ForCausalLM
// (also norms of the attention's and the MLP's outputs, scores scaled by
// query_pre_attn_scalar^(−½), soft caps on scores and logits) and a
// Gemma2ForSequenceClassification, both with a sliding window on their
// even layers, and a Gemma3ForCausalLM (head norms, windows on every other
// layer with their own rotary base). Gemma 2's output norms are vectors of
// the output projections' spaces.
func TestGemmaMatchesTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/gemma_lm_fixture")
	checkTorchFixture(t, "testdata/gemma2_lm_fixture")
	checkTorchFixture(t, "testdata/gemma2_fixture")
	checkTorchFixture(t, "testdata/gemma3_lm_fixture")
	m := checkVectorSpaces(t, "testdata/gemma2_lm_fixture", map[string]string{
		"model.layers.1.post_attention_layernorm.weight":   "model.layers.1.self_attn.o_proj",
		"model.layers.1.post_feedforward_layernorm.weight": "model.layers.1.mlp.down_proj",
		"model.layers.1.pre_feedforward_layernorm.weight":  "model.layers.1.pre_feedforward_layernorm",
	})
	for _, s := range m.Sites() {
		if s.Name == "model.layers.1.mlp.up_proj" && s.InSpace != "model.layers.1.pre_feedforward_layernorm" {
			t.Errorf("up_proj reads %q", s.InSpace)
		}
	}
}

// TestBertMatchesTorchFixtures: BertForSequenceClassification,
// RobertaForSequenceClassification and DistilBertForSequenceClassification
// (post-LN encoders whose queries do not see the padding, RoBERTa's
// positions counted from its pad token, the pooler or RoBERTa's and
// DistilBERT's two-layer heads) against testdata/make_bert_fixture.py.
func TestBertMatchesTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/bert_fixture")
	checkTorchFixture(t, "testdata/roberta_fixture")
	checkTorchFixture(t, "testdata/distilbert_fixture")
	// XLM-RoBERTa is RoBERTa's architecture under another model_type.
	r, err := Load("testdata/roberta_fixture")
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Config()
	cfg["model_type"] = "xlm-roberta"
	x, err := Build(cfg, Params(r), 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := tensor.FromSlice([]float32{0, 5, 9, 2, 1, 1}, 1, 6)
	if d := tensor.MaxAbsDiff(logits(t, x, ids), logits(t, r, ids)); d != 0 || x.Type() != "xlm-roberta" {
		t.Errorf("xlm-roberta (%s) differs from roberta by %g", x.Type(), d)
	}
}

// TestQwen2MatchesTorchFixture: biases on query, key and value.
func TestQwen2MatchesTorchFixture(t *testing.T) { checkTorchFixture(t, "testdata/qwen2_fixture") }

// TestLlama3RopeScalingMatchesTorchFixture: rope_scaling "llama3" with one
// frequency in each regime.
func TestLlama3RopeScalingMatchesTorchFixture(t *testing.T) {
	checkTorchFixture(t, "testdata/llama3_fixture")
}

// checkTorchFixture loads the checkpoint in dir, compares its logits on
// dir/expected.safetensors' inputs (pixel_values or input_ids) with the
// logits stored there, and checks that a Save/Load round trip keeps them.
func checkTorchFixture(t *testing.T, dir string) {
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := safetensors.Open(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	read := func(name string) *Tensor {
		data, shape, err := ck.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return tensor.FromSlice(data, shape...)
	}
	input := "pixel_values"
	if _, ok := ck.Info("input_ids"); ok {
		input = "input_ids"
	}
	x, want := read(input), read("logits")
	got := logits(t, m, x)
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("logits %v, want %v", got.Shape, want.Shape)
	}
	d := tensor.MaxAbsDiff(got, want)
	t.Logf("max |Go - torch| = %.3g", d)
	if d > 1e-4 {
		t.Errorf("logits differ from torch's by %g:\n got %v\nwant %v", d, got.Data, want.Data)
	}
	// A round trip through Save keeps a checkpoint transformers would read.
	out := t.TempDir()
	if err := Save(out, m, 4096); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := tensor.MaxAbsDiff(logits(t, m2, x), got); d != 0 {
		t.Errorf("logits changed by %g after Save/Load", d)
	}
}

// TestCLIPModelCheckpointAsBase: a CLIPModel checkpoint (image and text
// towers, no classifier) loads as a base with MissingHead, computing the
// same features as the classifier it was cut from.
func TestCLIPModelCheckpointAsBase(t *testing.T) {
	full, err := Load("testdata/clip_fixture")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := full.Config()
	cfg["model_type"], cfg["architectures"] = "clip", []any{"CLIPModel"}
	delete(cfg, "id2label")
	delete(cfg, "label2id")
	if err := WriteConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	params := map[string]*Tensor{"text_model.final_layer_norm.weight": tensor.New[float32](8)}
	names := []string{"text_model.final_layer_norm.weight"}
	for _, n := range full.ParamNames() {
		if !strings.HasPrefix(n, "classifier.") {
			params[n] = full.Param(n).Value.View(CheckpointShape(full, n)...)
			names = append(names, n)
		}
	}
	writeST(t, filepath.Join(dir, "model.safetensors"), names, params)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `"classifier.weight"`) {
		t.Errorf("Load of a CLIPModel checkpoint: error %v, want the missing classifier", err)
	}
	base, err := LoadWith(dir, LoadOptions{MissingHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if base.NumLabels() != 2 || base.Type() != "clip" {
		t.Errorf("base: %d labels, type %q; want transformers' default 2, clip", base.NumLabels(), base.Type())
	}
	for _, n := range []string{"vision_model.encoder.layers.1.mlp.fc2.weight", "vision_model.embeddings.position_embedding.weight"} {
		if d := tensor.MaxAbsDiff(base.Param(n).Value, full.Param(n).Value); d != 0 {
			t.Errorf("%s differs by %g", n, d)
		}
	}
}

// TestGPTNeoXMatchesTorchFixtures: a GPTNeoXForCausalLM with the parallel
// residual and a quarter of each head rotated, and a
// GPTNeoXForSequenceClassification with the sequential residual, no
// attention biases and half of each head rotated, both read from fused
// query_key_value tensors (testdata/make_gptneox_fixture.py); the round
// trip through Save writes them fused again.
func TestGPTNeoXMatchesTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/gptneox_lm_fixture")
	checkTorchFixture(t, "testdata/gptneox_fixture")
	// Phi (phi-1.5, phi-2): one LayerNorm for the attention and the MLP,
	// separate query, key and value with grouped-query attention, and an
	// lm_head with a bias.
	checkTorchFixture(t, "testdata/phi_lm_fixture")
	cfg, err := ReadConfig("testdata/phi_lm_fixture")
	if err != nil {
		t.Fatal(err)
	}
	checkConfigErrors(t, cfg, []configError{
		{func(c map[string]any) { c["qk_layernorm"] = true }, "qk_layernorm"},
		{func(c map[string]any) { c["num_key_value_heads"] = 3 }, "num_key_value_heads 3"},
		{func(c map[string]any) { c["hidden_act"] = "gelu9" }, "hidden_act"},
	})
}

// TestGPTNeoXCheckpoints: a GPTNeoXModel checkpoint (names without
// "gpt_neox.", no head) loads as a base with MissingHead, with the
// fixture's body; a fused tensor of the wrong shape and bad configurations
// are errors naming what is wrong.
func TestGPTNeoXCheckpoints(t *testing.T) {
	full, err := Load("testdata/gptneox_fixture")
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, edit func(name string, v *Tensor) (string, *Tensor)) string {
		dir := t.TempDir()
		cfg := full.Config()
		cfg["architectures"] = []any{"GPTNeoXModel"}
		if err := WriteConfig(dir, cfg); err != nil {
			t.Fatal(err)
		}
		saved := t.TempDir()
		if err := Save(saved, full, 0); err != nil {
			t.Fatal(err)
		}
		ck, err := safetensors.OpenDir(saved)
		if err != nil {
			t.Fatal(err)
		}
		defer ck.Close()
		params := map[string]*Tensor{}
		var names []string
		for _, stored := range ck.Names() {
			if stored == "score.weight" {
				continue
			}
			data, shape, err := ck.Float32(stored)
			if err != nil {
				t.Fatal(err)
			}
			name, v := edit(stored, tensor.FromSlice(data, shape...))
			params[name] = v
			names = append(names, name)
		}
		writeST(t, filepath.Join(dir, "model.safetensors"), names, params)
		return dir
	}
	dir := write(t, func(name string, v *Tensor) (string, *Tensor) { return strings.TrimPrefix(name, "gpt_neox."), v })
	base, err := LoadWith(dir, LoadOptions{MissingHead: true, Architecture: "GPTNeoXForSequenceClassification"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"gpt_neox.layers.1.attention.key.weight", "gpt_neox.layers.0.mlp.dense_4h_to_h.bias", "gpt_neox.final_layer_norm.bias"} {
		if d := tensor.MaxAbsDiff(base.Param(n).Value, full.Param(n).Value); d != 0 {
			t.Errorf("%s differs by %g", n, d)
		}
	}
	bad := write(t, func(name string, v *Tensor) (string, *Tensor) {
		if strings.HasSuffix(name, "layers.1.attention.query_key_value.weight") {
			return name, tensor.New[float32](96, 31)
		}
		return name, v
	})
	if _, err := LoadWith(bad, LoadOptions{MissingHead: true}); err == nil || !strings.Contains(err.Error(), `"gpt_neox.layers.1.attention.query_key_value.weight" has shape [96 31]`) {
		t.Errorf("a misshapen fused tensor: %v", err)
	}
	checkConfigErrors(t, full.Config(), []configError{
		{func(c map[string]any) { c["rotary_pct"] = 0.1 }, "rotary_pct) of 0.1"},
		{func(c map[string]any) { c["num_attention_heads"] = 5 }, "not a multiple"},
		{func(c map[string]any) { c["rope_scaling"] = map[string]any{"type": "mrope", "factor": 2.0} }, `rope_scaling type "mrope"`},
		{func(c map[string]any) { c["hidden_act"] = "gelu2" }, "hidden_act"},
	})
}

// TestGPT2MatchesTorchFixtures: a tied GPT2LMHeadModel whose tensors are
// named as OpenAI's gpt2 names them (no "transformer." prefix, mask
// buffers beside them), and a GPT2ForSequenceClassification with
// scale_attn_by_inverse_layer_idx and ReLU, both read from Conv1D weights
// stored [In, Out] and the fused c_attn (testdata/make_gpt2_fixture.py);
// the round trip through Save writes them so again.
func TestGPT2MatchesTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/gpt2_lm_fixture")
	checkTorchFixture(t, "testdata/gpt2_fixture")
}

// TestGPT2Errors: configurations and inputs a GPT-2 cannot take are errors
// naming the field or the limit.
func TestGPT2Errors(t *testing.T) {
	m, err := Load("testdata/gpt2_fixture")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckInput(m, []int{2, 17}); err == nil || !strings.Contains(err.Error(), "16 positions of n_positions") {
		t.Errorf("17 tokens: %v, want the 16 positions named", err)
	}
	checkConfigErrors(t, m.Config(), []configError{
		{func(c map[string]any) { c["n_head"] = 3 }, "not a multiple of n_head"},
		{func(c map[string]any) { c["activation_function"] = "gelu2" }, "activation_function"},
		{func(c map[string]any) { c["n_inner"] = -4 }, `"n_inner"`},
	})
}

// configError is an edit that makes a configuration unbuildable, and what
// the error must name.
type configError struct {
	edit func(map[string]any)
	want string
}

// checkConfigErrors fails t unless each edit of cfg makes Build fail with
// an error naming what it should.
func checkConfigErrors(t *testing.T, cfg map[string]any, cases []configError) {
	t.Helper()
	for _, c := range cases {
		edited := CloneConfig(cfg)
		c.edit(edited)
		if _, err := Build(edited, nil, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one naming %q", err, c.want)
		}
	}
}

// TestPhi3MatchesTorchFixtures: a Phi3ForCausalLM and a
// Phi3ForSequenceClassification, read from fused qkv_proj and gate_up_proj
// tensors, with half of each head rotated (partial_rotary_factor) under
// LongRoPE: the causal LM's sequences exceed original_max_position_embeddings
// (long factors), the classifier's do not (short factors), and the
// classifier has a sliding window on every layer
// (testdata/make_llama_fixture.py).
func TestPhi3MatchesTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/phi3_lm_fixture")
	checkTorchFixture(t, "testdata/phi3_fixture")
}

// TestOLMo2MatchesTorchFixture: an Olmo2ForCausalLM (and an
// Olmo3ForCausalLM), whose attention and
// MLP read the residual stream unnormalized and whose outputs pass through
// norms of their own, with RMSNorms of the whole query and key projections
// (testdata/make_llama_fixture.py). The output norms are vectors of the
// output projections' spaces, the query and key norms of theirs.
func TestOLMo2MatchesTorchFixture(t *testing.T) {
	checkTorchFixture(t, "testdata/olmo2_lm_fixture")
	// OLMo 3: the same with a sliding window on the layers layer_types
	// names, and YaRN's frequencies and attention factor.
	checkTorchFixture(t, "testdata/olmo3_lm_fixture")
	checkVectorSpaces(t, "testdata/olmo2_lm_fixture", map[string]string{
		"model.layers.1.post_attention_layernorm.weight":   "model.layers.1.self_attn.o_proj",
		"model.layers.1.post_feedforward_layernorm.weight": "model.layers.1.mlp.down_proj",
		"model.layers.1.self_attn.k_norm.weight":           "model.layers.1.self_attn.k_proj",
	})
}

// checkVectorSpaces loads the checkpoint in dir and fails t unless each
// named vector parameter lives in the space given; it returns the model.
func checkVectorSpaces(t *testing.T, dir string, want map[string]string) Model {
	t.Helper()
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	spaces := map[string]string{}
	for _, v := range m.Vectors() {
		spaces[v.Name] = v.Space
	}
	for name, space := range want {
		if spaces[name] != space {
			t.Errorf("%s is a vector of space %q, want %q", name, spaces[name], space)
		}
	}
	return m
}

// TestStableLMMatchesTorchFixtures: a StableLmForCausalLM (LayerNorms with
// biases, biases on query, key and value, a quarter of each head rotated)
// and a StableLmForSequenceClassification with the parallel residual, whose
// MLP reads input_layernorm (testdata/make_llama_fixture.py).
func TestStableLMMatchesTorchFixtures(t *testing.T) {
	checkTorchFixture(t, "testdata/stablelm_lm_fixture")
	checkTorchFixture(t, "testdata/stablelm_fixture")
	cfg, err := ReadConfig("testdata/stablelm_fixture")
	if err != nil {
		t.Fatal(err)
	}
	checkConfigErrors(t, cfg, []configError{
		{func(c map[string]any) { c["qk_layernorm"] = true }, "qk_layernorm"},
		{func(c map[string]any) { c["layer_norm_eps"] = -1.0 }, "layer_norm_eps -1"},
		{func(c map[string]any) { c["partial_rotary_factor"] = 0.1 }, "of 0.1 rotates 0"},
	})
}

// TestGraniteMatchesTorchFixture: a tied GraniteForCausalLM, Llama's layout
// with µP multipliers: embeddings times embedding_multiplier, scores scaled
// by attention_multiplier, the attention's and MLP's outputs times
// residual_multiplier, logits over logits_scaling
// (testdata/make_llama_fixture.py).
func TestGraniteMatchesTorchFixture(t *testing.T) {
	checkTorchFixture(t, "testdata/granite_lm_fixture")
	cfg, err := ReadConfig("testdata/granite_lm_fixture")
	if err != nil {
		t.Fatal(err)
	}
	checkConfigErrors(t, cfg, []configError{
		{func(c map[string]any) { c["logits_scaling"] = 0.0 }, "logits_scaling 0"},
		{func(c map[string]any) { c["residual_multiplier"] = -1.0 }, "residual_multiplier -1"},
	})
}
