package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/safetensors"
)

// A LoRA adapter as PEFT saves it.
//
// Most fine-tunes of language models are LoRA adapters: a folder with
// adapter_config.json and adapter_model.safetensors holding, for each
// adapted module M of the base, lora_A [r, in] and lora_B [out, r] under
// "base_model.model.M.lora_A.weight" and "….lora_B.weight" (for an
// embedding table lora_embedding_A [r, vocab] and lora_embedding_B
// [dim, r]), and possibly whole parameters trained alongside
// (modules_to_save, biases). Merged, the adapter is the fine-tune
//
//	W_ft = W + s·B·A,  s = lora_alpha/r (lora_alpha/√r with use_rslora),
//
// with r and lora_alpha per module when rank_pattern or alpha_pattern name
// it (as PEFT matches them: the pattern against the module name's end). A
// DoRA adapter (use_dora) also holds a magnitude m [out] per module,
// "….lora_magnitude_vector", and its fine-tune rescales each output row to
// it: W_ft[i] = m[i]·V[i]/‖V[i]‖ with V = W + s·B·A (the norm over the
// row's inputs, as PEFT computes it; a convolution's row is its output
// channel). B·A is [out, in], a linear layer's layout: a layer that stores
// its weight transposed (GPT-2's Conv1D, for which PEFT sets
// fan_in_fan_out) or fused with others (GPT-NeoX's query_key_value) is
// merged in that layout, joined, before the model splits it (see pack.go).
// ApplyLoRA builds that fine-tune from the base, so a transfer reads an
// adapter as it reads a merged checkpoint, and leaves out the sites the
// adapter does not touch.

// AdapterConfigFile and AdapterWeightsFile are the names of a PEFT
// adapter's files.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// loraConfig is what ApplyLoRA reads of adapter_config.json.
type loraConfig struct {
	PeftType     string             `json:"peft_type"`
	R            int                `json:"r"`
	Alpha        float64            `json:"lora_alpha"`
	UseRSLoRA    bool               `json:"use_rslora"`
	UseDoRA      bool               `json:"use_dora"`
	InitWeights  any                `json:"init_lora_weights"`
	RankPattern  map[string]int     `json:"rank_pattern"`
	AlphaPattern map[string]float64 `json:"alpha_pattern"`
}

// IsAdapter reports whether dir holds a PEFT adapter rather than a model.
func IsAdapter(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, AdapterConfigFile))
	return err == nil
}

// parseLoRAConfig reads adapter_config.json's contents, refusing what
// ApplyLoRA cannot merge.
func parseLoRAConfig(data []byte) (loraConfig, error) {
	c := loraConfig{R: 8, Alpha: 8}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, err
	}
	switch {
	case c.PeftType != "LORA":
		return c, fmt.Errorf("peft_type %q: only LORA adapters can be merged", c.PeftType)
	case initChangesBase(c.InitWeights):
		return c, fmt.Errorf("init_lora_weights %q: such an adapter is relative to a base its initialisation changed, not to the base it was made from; save it converted (path_initial_model_for_weight_conversion) or merged", c.InitWeights)
	case c.R <= 0 || !(c.Alpha > 0) || math.IsInf(c.Alpha, 0):
		return c, fmt.Errorf("r %d and lora_alpha %g: want both positive", c.R, c.Alpha)
	}
	for p, r := range c.RankPattern {
		if r <= 0 {
			return c, fmt.Errorf("rank_pattern %q: rank %d", p, r)
		}
	}
	for p, a := range c.AlphaPattern {
		if !(a > 0) || math.IsInf(a, 0) {
			return c, fmt.Errorf("alpha_pattern %q: alpha %g", p, a)
		}
	}
	for p := range c.RankPattern {
		if _, err := regexp.Compile(`(.*\.)?(` + p + `)$`); err != nil {
			return c, fmt.Errorf("rank_pattern %q: %w", p, err)
		}
	}
	for p := range c.AlphaPattern {
		if _, err := regexp.Compile(`(.*\.)?(` + p + `)$`); err != nil {
			return c, fmt.Errorf("alpha_pattern %q: %w", p, err)
		}
	}
	return c, nil
}

// initChangesBase reports whether init_lora_weights names an
// initialisation that subtracts the adapter's initial product from the
// base weights (PiSSA, OLoRA, CorDA): the adapter, unless converted when
// saved, then applies to that changed base.
func initChangesBase(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "pissa") || s == "olora" || s == "corda"
}

// scaling returns s for the module named module (its PEFT name, without the
// "base_model.model." prefix): its rank and alpha, from the patterns that
// match its end (the longest pattern when several do), and s.
func (c loraConfig) scaling(module string) (r int, s float64) {
	r, alpha := c.R, c.Alpha
	if p, ok := matchPattern(keys(c.RankPattern), module); ok {
		r = c.RankPattern[p]
	}
	if p, ok := matchPattern(keys(c.AlphaPattern), module); ok {
		alpha = c.AlphaPattern[p]
	}
	if c.UseRSLoRA {
		return r, alpha / math.Sqrt(float64(r))
	}
	return r, alpha / float64(r)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// Longest first, then by name: a deterministic choice among patterns
	// that all match.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// matchPattern returns the first pattern p of ps with module matching
// "(.*\.)?(p)$".
func matchPattern(ps []string, module string) (string, bool) {
	for _, p := range ps {
		if re, err := regexp.Compile(`^(.*\.)?(` + p + `)$`); err == nil && re.MatchString(module) {
			return p, true
		}
	}
	return "", false
}

// loraPair is one adapted module's two factors, and its DoRA magnitude.
type loraPair struct {
	a, b           []float32
	aShape, bShape []int
	embedding      bool
	magnitude      []float32
}

// ApplyLoRA returns the fine-tune that the PEFT LoRA adapter in dir makes of
// base: base with every adapted weight merged (see above) and every whole
// parameter the adapter holds put in place. The parameters the adapter does
// not touch are base's own tensors, shared, not copies: neither model may be
// changed in place afterwards. Errors name the
// adapter's file and tensor: a module or parameter the base lacks, factors
// whose shapes do not fit the weight, a rank that adapter_config.json does
// not give, non-finite values.
func ApplyLoRA(base Model, dir string) (Model, error) {
	cfgPath := filepath.Join(dir, AdapterConfigFile)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg, err := parseLoRAConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	path := filepath.Join(dir, AdapterWeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "adapter_model.bin")); serr == nil {
			return nil, fmt.Errorf("%s: a pickled adapter (adapter_model.bin) cannot be read; save it with safe_serialization (the default)", dir)
		}
		return nil, err
	}
	defer f.Close()
	if base, err = withAdapterHead(base, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The fine-tune shares the tensors the adapter leaves alone with the
	// base (a LoRA touches a few percent of a model) and copies the others.
	// Packed tensors are joined, as the adapter's modules name them.
	params, packs, err := logicalParams(base)
	if err != nil {
		return nil, err
	}
	stored := map[string]bool{} // packed tensors stored transposed
	for _, p := range packs {
		stored[p.file] = p.transposed
	}
	prefix := basePrefixes[base.Type()]
	pairs := map[string]*loraPair{}
	for _, key := range f.Names() {
		if err := readAdapterTensor(f, key, prefix, params, pairs, stored); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	modules := make([]string, 0, len(pairs))
	for m := range pairs {
		modules = append(modules, m)
	}
	sort.Strings(modules)
	for _, m := range modules {
		if err := mergeLoRA(cfg, m, pairs[m], prefix, params); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	fromLogical(packs, params)
	return WithParams(base, params)
}

// readAdapterTensor files one tensor of the adapter: a LoRA factor into
// pairs (by module), a whole parameter into params (transposed to params'
// layout when transposed says the checkpoint stores it so).
func readAdapterTensor(f *safetensors.File, key, prefix string, params map[string]*Tensor, pairs map[string]*loraPair, transposedOnFile map[string]bool) error {
	name, ok := strings.CutPrefix(key, "base_model.model.")
	if !ok {
		return fmt.Errorf("tensor %q: not a LoRA adapter's (no base_model.model. prefix)", key)
	}
	data, shape, err := f.Float32(key)
	if err != nil {
		return err
	}
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor %q: element %d is %g", key, i, v)
		}
	}
	for _, s := range []struct {
		suffix           string
		b, embed, magnit bool
	}{
		{".lora_A.weight", false, false, false}, {".lora_B.weight", true, false, false},
		{".lora_embedding_A", false, true, false}, {".lora_embedding_B", true, true, false},
		{".lora_magnitude_vector", false, false, true}, {".lora_magnitude_vector.weight", false, false, true},
	} {
		module, ok := strings.CutSuffix(name, s.suffix)
		if !ok {
			continue
		}
		p := pairs[module]
		if p == nil {
			p = &loraPair{}
			pairs[module] = p
		}
		switch {
		case s.magnit:
			p.magnitude = data
		case s.b:
			p.b, p.bShape, p.embedding = data, shape, s.embed
		default:
			p.a, p.aShape, p.embedding = data, shape, s.embed
		}
		return nil
	}
	// A whole parameter (modules_to_save, a trained bias).
	name = wholeParamName(name)
	target := name
	if params[target] == nil && params[prefix+name] != nil {
		target = prefix + name
	}
	t := params[target]
	if t == nil {
		return fmt.Errorf("tensor %q: the base has no parameter %q (a new head must be merged into a full model first)", key, name)
	}
	if t.Numel() != len(data) {
		return fmt.Errorf("tensor %q has shape %v, the base's %q %v", key, shape, target, t.Shape)
	}
	if transposedOnFile[target] && len(shape) == 2 {
		data = transposed(data, shape[0])
	}
	t = t.Clone()
	copy(t.Data, data)
	params[target] = t
	return nil
}

// wholeParamName is the parameter name of an adapter's whole tensor, its
// key less "base_model.model." and the modules_to_save wrapper's segments
// (which PEFT strips when it saves, though not every writer does).
func wholeParamName(name string) string {
	name = strings.Replace(name, ".modules_to_save.default.", ".", 1)
	return strings.Replace(name, ".modules_to_save.", ".", 1)
}

// withAdapterHead returns base, or, when the adapter f holds a whole head
// (modules_to_save: a classifier trained for the task) with another number
// of classes than base's head, a copy of base with a head of that many
// classes (labels LABEL_0, LABEL_1, …, as transformers names them without
// id2label), which the adapter's tensors then fill: the usual LoRA
// fine-tune of an image classifier on new classes. The head's bias must
// then come with it.
func withAdapterHead(base Model, f *safetensors.File) (Model, error) {
	head, ok := HeadSite(base)
	if !ok {
		return base, nil
	}
	prefix := basePrefixes[base.Type()]
	have := map[string]safetensors.TensorInfo{}
	for _, key := range f.Names() {
		if name, ok := strings.CutPrefix(key, "base_model.model."); ok {
			name = wholeParamName(name)
			if name != head.Weight && prefix+name == head.Weight {
				name = head.Weight
			}
			if info, ok := f.Info(key); ok {
				have[name] = info
			}
		}
	}
	w, ok := have[head.Weight]
	if !ok || len(w.Shape) != 2 || w.Shape[0] == head.Out {
		return base, nil
	}
	if head.Bias != "" {
		if _, ok := have[head.Bias]; !ok {
			return nil, fmt.Errorf("a head %q of %d classes (the base's has %d) without its bias %q", head.Weight, w.Shape[0], head.Out, head.Bias)
		}
	}
	labels := make([]string, w.Shape[0])
	for i := range labels {
		labels[i] = "LABEL_" + strconv.Itoa(i)
	}
	return ReplaceHead(base, labels, 0)
}

// mergeLoRA adds s·B·A (its transpose for an embedding table) to the weight
// of module.
func mergeLoRA(cfg loraConfig, module string, p *loraPair, prefix string, params map[string]*Tensor) error {
	if p.a == nil || p.b == nil {
		return fmt.Errorf("module %q has only one of its two LoRA factors", module)
	}
	if p.magnitude != nil && !cfg.UseDoRA {
		return fmt.Errorf("module %q has a DoRA magnitude, but adapter_config.json has no use_dora", module)
	}
	if p.magnitude == nil && cfg.UseDoRA {
		return fmt.Errorf("module %q has no DoRA magnitude (lora_magnitude_vector), though adapter_config.json sets use_dora", module)
	}
	name := module + ".weight"
	if params[name] == nil && params[prefix+name] != nil {
		name = prefix + name
	}
	if params[name] == nil {
		return fmt.Errorf("module %q: the base has no parameter %q", module, module+".weight")
	}
	w := params[name].Clone() // not the base's own
	if len(p.aShape) < 2 || len(p.bShape) < 2 || p.aShape[0] == 0 || p.bShape[1] != p.aShape[0] {
		return fmt.Errorf("module %q: LoRA factors A %v and B %v do not share a rank", module, p.aShape, p.bShape)
	}
	rank := p.aShape[0]
	r, s := cfg.scaling(module)
	if rank != r {
		return fmt.Errorf("module %q: rank %d, adapter_config.json says %d", module, rank, r)
	}
	// delta = B·A, B [out, r], A [r, in] (trailing dimensions of a
	// convolution's factors flattened into in). An embedding's A [r, vocab]
	// and B [dim, r] give its table [vocab, dim] the transpose, Aᵀ·Bᵀ.
	b, a := p.b, p.a
	if p.embedding {
		b, a = transposed(p.a, rank), transposed(p.b, len(p.b)/rank)
	}
	out, in := len(b)/rank, len(a)/rank
	if w.Numel() != in*out || len(w.Shape) == 0 || w.Shape[0] != out {
		return fmt.Errorf("module %q: B·A is %d×%d, the base's %q %v", module, out, in, name, w.Shape)
	}
	switch {
	case p.magnitude != nil && p.embedding:
		return fmt.Errorf("module %q: DoRA on an embedding table is not supported; merge the adapter with PEFT first", module)
	case p.magnitude != nil && len(p.magnitude) != out:
		return fmt.Errorf("module %q: a DoRA magnitude of %d values for %d output rows", module, len(p.magnitude), out)
	}
	delta := make([]float64, in)
	for i := range out {
		clear(delta)
		for k, bik := range b[i*rank : (i+1)*rank] {
			for j, v := range a[k*in : (k+1)*in] {
				delta[j] += float64(bik) * float64(v)
			}
		}
		row := w.Data[i*in : (i+1)*in]
		norm, f := 0.0, 1.0
		for j, d := range delta {
			delta[j] = float64(row[j]) + s*d // V = W + s·B·A
			norm += delta[j] * delta[j]
		}
		if p.magnitude != nil {
			if norm == 0 {
				return fmt.Errorf("module %q: DoRA row %d of W + s·B·A is zero", module, i)
			}
			f = float64(p.magnitude[i]) / math.Sqrt(norm)
		}
		for j, v := range delta {
			row[j] = float32(f * v)
		}
	}
	params[name] = w
	return nil
}

// transposed returns the transpose of the row-major rows×(len/rows) x.
func transposed(x []float32, rows int) []float32 {
	cols := len(x) / rows
	out := make([]float32, len(x))
	for i := range rows {
		for j := range cols {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

// AdapterRank returns the largest rank of the LoRA adapter in dir (its r
// and every rank_pattern rank) and its adapter_config.json as read.
func AdapterRank(dir string) (int, map[string]any, error) {
	path := filepath.Join(dir, AdapterConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	c, err := parseLoRAConfig(data)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	r := c.R
	for _, pr := range c.RankPattern {
		r = max(r, pr)
	}
	return r, raw, nil
}

// AdapterOptions say how SaveLoRA writes an adapter.
type AdapterOptions struct {
	// Rank is the adapter's r (and its lora_alpha: a scaling of 1).
	Rank int
	// Whole names the parameters written whole, as PEFT's modules_to_save
	// (a task head trained for new classes).
	Whole []string
	// Fields are added to adapter_config.json (task_type,
	// base_model_name_or_path).
	Fields map[string]any
	// Dtype is the precision of the tensors written: float32 (also for
	// ""), bfloat16 or float16.
	Dtype safetensors.Dtype
}

// SaveLoRA writes the change from base to tuned (a model of base's
// architecture) as a PEFT LoRA adapter of base in dir: every changed weight
// of a linear site as lora_A [rank, in] and lora_B [out, rank] (an embedding
// table's as lora_embedding_A and lora_embedding_B), with r = lora_alpha =
// opts.Rank (a scaling of 1) and target_modules a regular expression naming
// exactly the adapted modules, in opts.Dtype. The parameters named in
// opts.Whole are written whole, as PEFT's modules_to_save, with their
// modules listed there. A change that no adapter of that rank holds (a
// norm's or a bias's, a weight of higher rank: over 1e-4 of its largest
// singular value beyond rank) is an error naming the parameter.
func SaveLoRA(dir string, base, tuned Model, opts AdapterOptions, be linalg.Backend) error {
	rank, whole, fields := opts.Rank, opts.Whole, opts.Fields
	encode := func(name string, shape []int, data []float32) (safetensors.Tensor, error) {
		t, err := encodeTensor(name, shape, data, opts.Dtype)
		if err != nil {
			return t, fmt.Errorf("model: LoRA adapter: %w", err)
		}
		return t, nil
	}
	// shapes: the [rows, cols] of each weight an adapter may change (a
	// table's [vocab, dim]), by its name in the adapter: a packed tensor's
	// joined, as PEFT's module is.
	baseParams, packs, err := logicalParams(base)
	if err != nil {
		return fmt.Errorf("model: LoRA adapter: %w", err)
	}
	tunedParams, _, err := logicalParams(tuned)
	if err != nil {
		return fmt.Errorf("model: LoRA adapter: %w", err)
	}
	shapes, table := map[string][2]int{}, map[string]bool{}
	for _, s := range base.Sites() {
		if s.Tied {
			continue
		}
		shapes[s.Weight], table[s.Weight] = [2]int{s.Out, s.In}, s.IsTable()
		if s.IsTable() {
			shapes[s.Weight] = [2]int{s.In, s.Out}
		}
	}
	first, member := packIndex(packs)
	// PEFT's fan_in_fan_out: the adapted layers store their weights
	// [In, Out] (GPT-2's Conv1D).
	transposedOnFile, fanInFanOut := map[string]bool{}, false
	for _, p := range packs {
		if ls := p.logicalShape(); len(ls) == 2 {
			shapes[p.file] = [2]int{ls[0], ls[1]}
		}
		transposedOnFile[p.file] = p.transposed
	}
	var names []string // in base's order, a packed tensor at its first part
	for _, name := range base.ParamNames() {
		if i, ok := first[name]; ok {
			names = append(names, packs[i].file)
		} else if !member[name] {
			names = append(names, name)
		}
	}
	var tensors []safetensors.Tensor
	var modules, saved []string
	for _, name := range whole {
		t := tuned.Param(name)
		if t == nil {
			return fmt.Errorf("model: LoRA adapter: the tuned model has no parameter %q", name)
		}
		wt, err := encode("base_model.model."+name, CheckpointShape(tuned, name), t.Value.Data)
		if err != nil {
			return err
		}
		tensors = append(tensors, wt)
		if m := name[:strings.LastIndex(name, ".")]; !slices.Contains(saved, m) {
			saved = append(saved, m)
		}
	}
	for _, name := range names {
		if slices.Contains(whole, name) {
			continue
		}
		w, t := baseParams[name], tunedParams[name]
		if t == nil || t.Numel() != w.Numel() {
			return fmt.Errorf("model: LoRA adapter: the tuned model's %q does not match the base's %v", name, w.Shape)
		}
		d := make([]float64, w.Numel())
		zero := true
		for i, v := range t.Data {
			d[i] = float64(v) - float64(w.Data[i])
			zero = zero && d[i] == 0
		}
		if zero {
			continue
		}
		shape, ok := shapes[name]
		if !ok {
			return fmt.Errorf("model: LoRA adapter: %q changes, and it is not the weight of a linear layer; write a full model", name)
		}
		rows, cols := shape[0], shape[1]
		b, a, tail, err := linalg.LowRank(be, d, rows, cols, rank)
		if err != nil {
			return fmt.Errorf("model: LoRA adapter: %q: %w", name, err)
		}
		if tail > 1e-4 {
			return fmt.Errorf("model: LoRA adapter: the change of %q has rank above %d (σ_%d/σ_1 = %.3g); write a full model", name, rank, rank+1, tail)
		}
		// Zero directions up to rank, so that every module has one rank.
		r := len(a) / cols
		bp, ap := widen(b, rows, r, rank), append(a, make([]float64, (rank-r)*cols)...)
		module := strings.TrimSuffix(name, ".weight")
		key := "base_model.model." + module
		if table[name] {
			// PEFT's table gets (B·A)ᵀ: A [rank, vocab] = bᵀ, B [dim, rank] = aᵀ.
			ea, err1 := encode(key+".lora_embedding_A", []int{rank, rows}, toFloat32(transpose64(bp, rows, rank)))
			eb, err2 := encode(key+".lora_embedding_B", []int{cols, rank}, toFloat32(transpose64(ap, rank, cols)))
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			tensors = append(tensors, ea, eb)
		} else {
			la, err1 := encode(key+".lora_A.weight", []int{rank, cols}, toFloat32(ap))
			lb, err2 := encode(key+".lora_B.weight", []int{rows, rank}, toFloat32(bp))
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			tensors = append(tensors, la, lb)
		}
		modules = append(modules, regexp.QuoteMeta(module))
		fanInFanOut = fanInFanOut || transposedOnFile[name]
	}
	if len(modules) == 0 {
		return fmt.Errorf("model: LoRA adapter: no weight of the tuned model differs from the base's")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("model: LoRA adapter: %w", err)
	}
	var toSave any // null, as PEFT writes it, when there is none
	if len(saved) > 0 {
		toSave = saved
	}
	cfg := map[string]any{
		"peft_type": "LORA", "r": rank, "lora_alpha": rank, "target_modules": "^(" + strings.Join(modules, "|") + ")$",
		"bias": "none", "fan_in_fan_out": fanInFanOut, "use_rslora": false, "use_dora": false, "lora_dropout": 0.0,
		"modules_to_save": toSave, "rank_pattern": map[string]any{}, "alpha_pattern": map[string]any{},
		"inference_mode": true, "init_lora_weights": true,
	}
	for k, v := range fields {
		cfg[k] = v
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, AdapterConfigFile), append(js, '\n'), 0o644)
}

// widen returns the row-major rows×r b with zero columns added up to rank.
func widen(b []float64, rows, r, rank int) []float64 {
	out := make([]float64, rows*rank)
	for i := range rows {
		copy(out[i*rank:i*rank+r], b[i*r:(i+1)*r])
	}
	return out
}

func transpose64(x []float64, rows, cols int) []float64 {
	out := make([]float64, len(x))
	for i := range rows {
		for j := range cols {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
