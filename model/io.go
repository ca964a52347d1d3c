package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bico-dev/bico/safetensors"
)

// ConfigFile is the name of a checkpoint's configuration file.
const ConfigFile = "config.json"

// ReadConfig reads dir/config.json. Numbers decode as float64; read fields
// with ConfigInt and its siblings.
func ReadConfig(dir string) (map[string]any, error) {
	path := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("model: %s: not a JSON object", path)
	}
	return cfg, nil
}

// WriteConfig writes cfg as dir/config.json the way transformers does
// (keys sorted, two-space indent), atomically: to a temporary file in dir,
// then renamed over the old one.
func WriteConfig(dir string, cfg map[string]any) error {
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("model: config of %s: %w", dir, err)
	}
	return writeAtomic(filepath.Join(dir, ConfigFile), append(raw, '\n'))
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("model: writing %s: %w", path, err)
	}
	return nil
}

// Load reads the checkpoint in folder dir: config.json, whose model_type
// picks the architecture, and the parameters from model.safetensors or a
// sharded model.safetensors.index.json, converted to float32. Tensors of
// the checkpoint that the model does not use are ignored, and a tensor
// stored without the model_type prefix (a transformers base-model
// checkpoint: "embeddings.cls_token" for "vit.embeddings.cls_token"; for
// llama the prefix is "model.") is
// taken for the prefixed one. Errors name the
// file and the tensor: a missing tensor, a shape other than expected, a
// non-finite value (with its index), an unknown model_type.
func Load(dir string) (Model, error) { return LoadWith(dir, LoadOptions{}) }

// LoadOptions changes what Load accepts.
type LoadOptions struct {
	// MissingHead accepts a checkpoint without the head's tensors (a
	// transformers base model such as ViTModel, which has no classifier):
	// the head is then all zeros, for a base model that a transfer gives
	// the task's head (see transfer's NewHead).
	MissingHead bool
	// Architecture, when set, replaces config.json's architectures: a
	// base loaded as the architecture of a fine-tune made from it (a
	// LlamaForCausalLM checkpoint as the base of a
	// LlamaForSequenceClassification, or the other way round).
	Architecture string
}

// LoadWith is Load with options.
func LoadWith(dir string, o LoadOptions) (Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if o.Architecture != "" {
		cfg["architectures"] = []any{o.Architecture}
	}
	mt, _ := cfg["model_type"].(string)
	if _, ok := registry[mt]; !ok {
		return nil, fmt.Errorf("model: %s: unknown model_type %q (known: %v)", cfgPath, mt, Types())
	}
	var specs []paramSpec
	if sf, ok := specFuncs[mt]; ok {
		if specs, err = sf(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
	}
	packs, err := packsOf(mt, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	specs = fileSpecs(specs, packs)
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer ck.Close()
	file := ck.Path()
	if specs == nil {
		// An architecture registered without a spec: read everything and
		// let its builder judge.
		for _, name := range ck.Names() {
			info, _ := ck.Info(name)
			specs = append(specs, paramSpec{name: name, shape: info.Shape})
		}
	}
	params := make(map[string]*Tensor, len(specs))
	var missing []paramSpec // with o.MissingHead: absent, filled with zeros
	for _, s := range specs {
		stored, info, ok := storedName(ck, s.name, basePrefix(mt))
		if !ok && o.MissingHead {
			missing = append(missing, s)
			params[s.name] = &Tensor{Shape: slices.Clone(s.shape), Data: make([]float32, shapeSize(s.shape))}
			continue
		}
		if !ok {
			return nil, fmt.Errorf("model: %s: missing tensor %q (expected shape %v)", file, s.name, s.fileShape())
		}
		if !slices.Equal(info.Shape, s.fileShape()) && !slices.Equal(info.Shape, s.shape) {
			return nil, fmt.Errorf("model: %s: tensor %q has shape %v, expected %v", file, s.name, info.Shape, s.fileShape())
		}
		data, shape, err := ck.Float32(stored)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		for i, v := range data {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("model: %s: tensor %q: non-finite value %v at index %d", file, s.name, v, i)
			}
		}
		params[s.name] = &Tensor{Shape: shape, Data: data}
	}
	if err := unpack(packs, params); err != nil {
		return nil, fmt.Errorf("model: %s: %w", file, err)
	}
	m, err := Build(cfg, params, 0)
	if err != nil {
		var pe *ParamError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("model: %s: %s", file, pe)
		}
		return nil, fmt.Errorf("model: %s: %w", dir, err)
	}
	// Only the task head may have been missing.
	if len(missing) > 0 {
		head := map[string]bool{}
		for _, s := range TaskHeadSites(m) {
			head[s.Weight], head[s.Bias] = true, s.Bias != ""
		}
		for _, s := range missing {
			if !head[s.name] {
				return nil, fmt.Errorf("model: %s: missing tensor %q (expected shape %v)", file, s.name, s.fileShape())
			}
		}
	}
	return m, nil
}

// TaskHeader is implemented by models whose task head has layers of its
// own before the head site, which a fine-tune for a task trains from
// scratch and a base checkpoint lacks (RoBERTa's classifier.dense).
type TaskHeader interface {
	// TaskHead names the task head's sites in forward order, the head
	// site last.
	TaskHead() []string
}

// PoolActivator is implemented by models whose pool layer (the site of
// role "pool", before the head) is followed by an activation: BERT's and
// RoBERTa's tanh, DistilBERT's ReLU.
type PoolActivator interface {
	// PoolActivation names the activation ("tanh", "relu").
	PoolActivation() string
}

// TaskHeadSites returns the sites of m's task head in forward order: the
// head site (see HeadSite), after those of TaskHeader; none for a model
// without a head.
func TaskHeadSites(m Model) []Site {
	th, ok := m.(TaskHeader)
	if !ok {
		if h, ok := HeadSite(m); ok {
			return []Site{h}
		}
		return nil
	}
	byName := map[string]Site{}
	for _, s := range m.Sites() {
		byName[s.Name] = s
	}
	var out []Site
	for _, name := range th.TaskHead() {
		if s, ok := byName[name]; ok {
			out = append(out, s)
		}
	}
	return out
}

// WithTaskHead returns a model of m's configuration with the classes
// id2label and the task head's parameters (those of TaskHeadSites, by
// name; a bias left out is zero) set to head. Every other parameter is m's
// own tensor, shared, not copied.
func WithTaskHead(m Model, id2label []string, head map[string]*Tensor) (Model, error) {
	if len(id2label) == 0 {
		return nil, fmt.Errorf("model: with task head: no labels")
	}
	sites := TaskHeadSites(m)
	if len(sites) == 0 {
		return nil, fmt.Errorf("model: with task head: a %s model has no head site", m.Type())
	}
	params := Params(m)
	for i, s := range sites {
		out := s.Out
		if i == len(sites)-1 {
			out = len(id2label)
		}
		w := head[s.Weight]
		if w == nil || !slices.Equal(w.Shape, []int{out, s.In}) {
			return nil, fmt.Errorf("model: with task head: %s of a %d-label %s model takes a weight [%d %d]", s.Name, len(id2label), m.Type(), out, s.In)
		}
		params[s.Weight] = w
		if s.Bias != "" {
			b := head[s.Bias]
			if b == nil {
				b = &Tensor{Shape: []int{out}, Data: make([]float32, out)}
			}
			params[s.Bias] = b
		}
	}
	cfg := SetLabels(m.Config(), id2label)
	cfg["model_type"] = m.Type()
	return Build(cfg, params, 0)
}

// DirCheck is what CheckDir found in a model folder.
type DirCheck struct {
	// ModelType is config.json's model_type.
	ModelType string `json:"model_type"`
	// Parameters is the number of parameters the architecture has, and
	// Found how many of them the checkpoint holds in a shape Load takes.
	Parameters int `json:"parameters"`
	Found      int `json:"found"`
	// Missing names the parameters the checkpoint lacks: a base model's
	// checkpoint lacks its task head, which a transfer gives it.
	Missing []string `json:"missing,omitempty"`
}

// CheckDir checks, without reading any weights, what Load would make of
// the model folder dir: its config.json must name a known model_type and
// parse, and every tensor the checkpoint holds for a parameter must have
// a shape Load takes. The parameters it lacks are listed, not refused.
func CheckDir(dir string) (DirCheck, error) {
	var c DirCheck
	cfg, err := ReadConfig(dir)
	if err != nil {
		return c, err
	}
	c.ModelType, _ = cfg["model_type"].(string)
	sf, ok := specFuncs[c.ModelType]
	if !ok {
		return c, fmt.Errorf("model: %s: unknown model_type %q (known: %v)", filepath.Join(dir, ConfigFile), c.ModelType, Types())
	}
	specs, err := sf(cfg)
	if err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	packs, err := packsOf(c.ModelType, cfg)
	if err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	specs = fileSpecs(specs, packs)
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return c, fmt.Errorf("model: %w", err)
	}
	defer ck.Close()
	c.Parameters = len(specs)
	for _, s := range specs {
		stored, info, ok := storedName(ck, s.name, basePrefix(c.ModelType))
		if !ok {
			c.Missing = append(c.Missing, s.name)
			continue
		}
		if !slices.Equal(info.Shape, s.fileShape()) && !slices.Equal(info.Shape, s.shape) {
			return c, fmt.Errorf("model: %s: tensor %q has shape %v, expected %v", ck.Path(), stored, info.Shape, s.fileShape())
		}
		c.Found++
	}
	return c, nil
}

// storedName finds parameter name in the checkpoint: as it is; without
// prefix, as a base-model checkpoint (transformers' ViTModel, LlamaModel)
// stores it; and for a LayerNorm's weight or bias, under the legacy names
// gamma and beta that older checkpoints (bert-base-uncased) use and
// transformers renames when it loads them.
func storedName(ck *safetensors.Checkpoint, name, prefix string) (string, safetensors.TensorInfo, bool) {
	candidates := []string{name}
	if short, cut := strings.CutPrefix(name, prefix); cut {
		candidates = append(candidates, short)
	}
	for _, c := range slices.Clone(candidates) {
		if base, ok := strings.CutSuffix(c, ".weight"); ok {
			candidates = append(candidates, base+".gamma")
		} else if base, ok := strings.CutSuffix(c, ".bias"); ok {
			candidates = append(candidates, base+".beta")
		}
	}
	for _, c := range candidates {
		if info, ok := ck.Info(c); ok {
			return c, info, true
		}
	}
	return name, safetensors.TensorInfo{}, false
}

// basePrefixes holds, for architectures whose base model's parameter names
// are not the task model's without "model_type.", the prefix to remove.
var basePrefixes = map[string]string{}

// basePrefix is the prefix a base-model checkpoint of architecture mt lacks.
func basePrefix(mt string) string {
	if p, ok := basePrefixes[mt]; ok {
		return p
	}
	return mt + "."
}

func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Save writes m to folder dir (created if needed) as a Hugging Face
// checkpoint in float32: SaveWith with MaxShardBytes maxShardBytes.
func Save(dir string, m Model, maxShardBytes int64) error {
	return SaveWith(dir, m, SaveOptions{MaxShardBytes: maxShardBytes})
}

// SaveOptions say how SaveWith writes a checkpoint.
type SaveOptions struct {
	// MaxShardBytes is the largest shard written; ≤ 0 never shards.
	MaxShardBytes int64
	// Dtype is the precision of the weights in the file: float32 (the
	// default, also for ""), bfloat16 or float16, rounded to nearest.
	Dtype safetensors.Dtype
}

// SaveWith writes m to folder dir (created if needed) as a Hugging Face
// checkpoint: the parameters in opts.Dtype in checkpoint shapes (see
// CheckpointShape), in ParamNames order, as model.safetensors, or as shards
// with model.safetensors.index.json when they exceed opts.MaxShardBytes,
// then config.json, written atomically. Unknown config.json fields are
// written back as read; torch_dtype (and dtype, if present) name the
// precision written. Checkpoint files of another layout left in dir that
// would shadow the new one are removed.
func SaveWith(dir string, m Model, opts SaveOptions) error {
	dtype := opts.Dtype
	if dtype == "" {
		dtype = safetensors.DtypeF32
	}
	if _, ok := dtypeNames[dtype]; !ok {
		return fmt.Errorf("model: save %s: cannot write dtype %s; want float32, bfloat16 or float16", dir, dtype)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	tensors, err := checkpointTensors(m, dtype)
	if err != nil {
		return fmt.Errorf("model: save %s: %w", dir, err)
	}
	if _, err := safetensors.WriteSharded(dir, tensors, map[string]string{"format": "pt"}, opts.MaxShardBytes); err != nil {
		return fmt.Errorf("model: save %s: %w", dir, err)
	}
	cfg := m.Config()
	cfg["model_type"] = m.Type()
	cfg["torch_dtype"] = DtypeName(dtype)
	if _, ok := cfg["dtype"]; ok {
		cfg["dtype"] = DtypeName(dtype)
	}
	return WriteConfig(dir, cfg)
}

// checkpointTensors returns m's parameters as a checkpoint holds them, in
// ParamNames order, encoded in dtype: in checkpoint shapes, and each packed
// tensor joined from its parts in place of the first of them.
func checkpointTensors(m Model, dtype safetensors.Dtype) ([]safetensors.Tensor, error) {
	packs, err := packsOf(m.Type(), m.Config())
	if err != nil {
		return nil, err
	}
	first, member := packIndex(packs)
	names := m.ParamNames()
	tensors := make([]safetensors.Tensor, 0, len(names))
	value := func(name string) ([]float32, error) {
		p := m.Param(name)
		if p == nil {
			return nil, fmt.Errorf("model lists parameter %q but has none", name)
		}
		return p.Value.Data, nil
	}
	for _, name := range names {
		name, shape := name, CheckpointShape(m, name)
		data, err := value(name)
		if err != nil {
			return nil, err
		}
		if i, ok := first[name]; ok {
			pk := packs[i]
			parts := make([][]float32, len(pk.parts))
			for j, part := range pk.parts {
				if parts[j], err = value(part); err != nil {
					return nil, err
				}
			}
			name, shape, data = pk.file, pk.shape, pk.join(parts)
		} else if member[name] {
			continue
		}
		t, err := encodeTensor(name, shape, data, dtype)
		if err != nil {
			return nil, err
		}
		tensors = append(tensors, t)
	}
	return tensors, nil
}

// Params returns m's parameters by name: the tensors the model computes
// with (not copies), in their in-memory shapes.
func Params(m Model) map[string]*Tensor {
	out := make(map[string]*Tensor)
	for _, name := range m.ParamNames() {
		if p := m.Param(name); p != nil {
			out[name] = p.Value
		}
	}
	return out
}

// Clone returns a deep copy of m: same configuration, copied parameters.
func Clone(m Model) (Model, error) {
	params := make(map[string]*Tensor)
	for name, t := range Params(m) {
		params[name] = t.Clone()
	}
	return Build(m.Config(), params, 0)
}

// WithParams returns a model of m's configuration with the given
// parameters, in in-memory or checkpoint shapes, which it takes without
// copying. Every parameter of m must be given, and no other.
func WithParams(m Model, params map[string]*Tensor) (Model, error) {
	cfg := m.Config()
	cfg["model_type"] = m.Type()
	return Build(cfg, params, 0)
}

// ReplaceHead returns a copy of m whose head (the site of role "head") is
// newly initialised from seed for the classes id2label; every other
// parameter is copied from m.
func ReplaceHead(m Model, id2label []string, seed uint64) (Model, error) {
	if len(id2label) == 0 {
		return nil, fmt.Errorf("model: replace head: no labels")
	}
	cfg := SetLabels(m.Config(), id2label)
	cfg["model_type"] = m.Type()
	fresh, err := Build(cfg, nil, seed)
	if err != nil {
		return nil, err
	}
	head := map[string]bool{}
	for _, s := range fresh.Sites() {
		if s.Role == "head" {
			head[s.Weight] = true
			if s.Bias != "" {
				head[s.Bias] = true
			}
		}
	}
	if len(head) == 0 {
		return nil, fmt.Errorf("model: replace head: a %s model has no head site", m.Type())
	}
	params := make(map[string]*Tensor)
	for _, name := range fresh.ParamNames() {
		if head[name] {
			params[name] = fresh.Param(name).Value
			continue
		}
		p := m.Param(name)
		if p == nil {
			return nil, fmt.Errorf("model: replace head: parameter %q missing from the model", name)
		}
		params[name] = p.Value.Clone()
	}
	return Build(cfg, params, 0)
}

// HeadSite returns m's head: the site of role "head".
func HeadSite(m Model) (Site, bool) {
	for _, s := range m.Sites() {
		if s.Role == "head" {
			return s, true
		}
	}
	return Site{}, false
}

// WithHead returns a model of m's configuration whose head has the classes
// id2label and the given weight [len(id2label), in] and bias
// [len(id2label)] (nil: zero). Every other parameter is m's own tensor,
// shared, not copied: the result must not be modified in place while m is
// in use.
func WithHead(m Model, id2label []string, weight, bias *Tensor) (Model, error) {
	head, ok := HeadSite(m)
	if !ok {
		return nil, fmt.Errorf("model: with head: a %s model has no head site", m.Type())
	}
	if len(id2label) == 0 {
		return nil, fmt.Errorf("model: with head: no labels")
	}
	if want := []int{len(id2label), head.In}; !slices.Equal(weight.Shape, want) {
		return nil, fmt.Errorf("model: with head: weight of shape %v, the %d-label head of a %s model takes %v", weight.Shape, len(id2label), m.Type(), want)
	}
	params := Params(m)
	params[head.Weight] = weight
	if head.Bias != "" {
		if bias == nil {
			bias = &Tensor{Shape: []int{len(id2label)}, Data: make([]float32, len(id2label))}
		}
		params[head.Bias] = bias
	}
	cfg := SetLabels(m.Config(), id2label)
	cfg["model_type"] = m.Type()
	return Build(cfg, params, 0)
}
