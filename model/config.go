package model

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/bico-dev/bico/autodiff"
)

// The functions below read fields of a configuration as decoded from
// config.json (numbers are float64, or json.Number, or Go integers when the
// map was built in code). Each error names the field and what was wrong.
// The "Or" variants return def when the field is absent or null.

// ConfigInt returns the integer field key of cfg.
func ConfigInt(cfg map[string]any, key string) (int, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return 0, fmt.Errorf("config: missing field %q", key)
	}
	return toInt(key, v)
}

// ConfigIntOr returns the integer field key of cfg, or def when it is absent.
func ConfigIntOr(cfg map[string]any, key string, def int) (int, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return def, nil
	}
	return toInt(key, v)
}

// ConfigFloat returns the number field key of cfg.
func ConfigFloat(cfg map[string]any, key string) (float64, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return 0, fmt.Errorf("config: missing field %q", key)
	}
	return toFloat(key, v)
}

// ConfigFloatOr returns the number field key of cfg, or def when it is absent.
func ConfigFloatOr(cfg map[string]any, key string, def float64) (float64, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return def, nil
	}
	return toFloat(key, v)
}

// ConfigString returns the string field key of cfg.
func ConfigString(cfg map[string]any, key string) (string, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return "", fmt.Errorf("config: missing field %q", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("config: field %q is %T, want a string", key, v)
	}
	return s, nil
}

// ConfigStringOr returns the string field key of cfg, or def when it is absent.
func ConfigStringOr(cfg map[string]any, key string, def string) (string, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return def, nil
	}
	return ConfigString(cfg, key)
}

// ConfigBoolOr returns the boolean field key of cfg, or def when it is absent.
func ConfigBoolOr(cfg map[string]any, key string, def bool) (bool, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("config: field %q is %T, want true or false", key, v)
	}
	return b, nil
}

// ConfigInts returns the list-of-integers field key of cfg.
func ConfigInts(cfg map[string]any, key string) ([]int, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return nil, fmt.Errorf("config: missing field %q", key)
	}
	switch l := v.(type) {
	case []int:
		return append([]int(nil), l...), nil
	case []any:
		out := make([]int, len(l))
		for i, e := range l {
			n, err := toInt(fmt.Sprintf("%s[%d]", key, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("config: field %q is %T, want a list of integers", key, v)
}

func toFloat(key string, v any) (float64, error) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case int32:
		f = float64(n)
	case uint64:
		f = float64(n)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, fmt.Errorf("config: field %q: %q is not a number", key, string(n))
		}
		f = x
	default:
		return 0, fmt.Errorf("config: field %q is %T, want a number", key, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("config: field %q is %v, want a finite number", key, f)
	}
	return f, nil
}

func toInt(key string, v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case int32:
		return int(n), nil
	}
	f, err := toFloat(key, v)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("config: field %q is %v, want an integer", key, f)
	}
	return int(f), nil
}

// Labels returns the class names of cfg's head in class order, from its
// id2label field (keys "0", "1", ...). Without id2label it falls back on
// num_labels with names "LABEL_0", "LABEL_1", ... as transformers does, and
// on transformers' default of 2 labels when neither is present.
func Labels(cfg map[string]any) ([]string, error) {
	raw, ok := cfg["id2label"]
	if !ok || raw == nil {
		n, err := ConfigIntOr(cfg, "num_labels", 2)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, fmt.Errorf("config: field \"num_labels\" is %d, want at least 1", n)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = "LABEL_" + strconv.Itoa(i)
		}
		return out, nil
	}
	var m map[string]string
	switch l := raw.(type) {
	case map[string]string:
		m = l
	case map[string]any:
		m = make(map[string]string, len(l))
		for k, v := range l {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("config: field \"id2label\": label of %q is %T, want a string", k, v)
			}
			m[k] = s
		}
	case []string:
		return append([]string(nil), l...), nil
	default:
		return nil, fmt.Errorf("config: field \"id2label\" is %T, want an object", raw)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("config: field \"id2label\" is empty")
	}
	out := make([]string, len(m))
	seen := make([]bool, len(m))
	for k, v := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(m) || seen[i] {
			return nil, fmt.Errorf("config: field \"id2label\": key %q is not one of \"0\" … \"%d\" once each", k, len(m)-1)
		}
		seen[i] = true
		out[i] = v
	}
	return out, nil
}

// SetLabels returns a copy of cfg whose head has the given classes: id2label
// and label2id are rewritten as transformers writes them, and num_labels is
// updated when cfg has it. A model built from the result has a head of
// len(id2label) outputs.
func SetLabels(cfg map[string]any, id2label []string) map[string]any {
	out := CloneConfig(cfg)
	ids := make(map[string]any, len(id2label))
	l2i := make(map[string]any, len(id2label))
	for i, name := range id2label {
		ids[strconv.Itoa(i)] = name
		l2i[name] = i
	}
	out["id2label"] = ids
	out["label2id"] = l2i
	if _, ok := out["num_labels"]; ok {
		out["num_labels"] = len(id2label)
	}
	return out
}

// CloneConfig returns a deep copy of cfg (maps and lists are copied).
func CloneConfig(cfg map[string]any) map[string]any {
	if cfg == nil {
		return map[string]any{}
	}
	return cloneValue(cfg).(map[string]any)
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneValue(e)
		}
		return l
	case []int:
		return append([]int(nil), x...)
	case []string:
		return append([]string(nil), x...)
	case []float64:
		return append([]float64(nil), x...)
	case map[string]string:
		m := make(map[string]string, len(x))
		for k, e := range x {
			m[k] = e
		}
		return m
	case map[string]int:
		m := make(map[string]int, len(x))
		for k, e := range x {
			m[k] = e
		}
		return m
	}
	return v
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// positiveInts reads integer fields that must be positive, keeping the
// first error: r.get(key, def, &dst) for each, then r.err.
type positiveInts struct {
	cfg  map[string]any
	what string // how errors name the object: "config" or "config: vision_config"
	err  error
}

// Bounds on the sizes a config may give: beyond them a value is a typo or
// a corrupt file, and allocating for it would exhaust memory.
const (
	maxConfigSize   = 1 << 24 // widths, vocabularies, positions
	maxConfigLayers = 1 << 12 // blocks
)

// get reads field key into dst (def when absent) unless an error came
// before: a positive integer of at most maxConfigSize.
func (r *positiveInts) get(key string, def int, dst *int) {
	r.getAtMost(key, def, maxConfigSize, dst)
}

// layers is get for a number of blocks, at most maxConfigLayers.
func (r *positiveInts) layers(key string, def int, dst *int) {
	r.getAtMost(key, def, maxConfigLayers, dst)
}

func (r *positiveInts) getAtMost(key string, def, most int, dst *int) {
	if r.err != nil {
		return
	}
	*dst, r.err = ConfigIntOr(r.cfg, key, def)
	if r.err == nil && (*dst <= 0 || *dst > most) {
		r.err = fmt.Errorf("%s field %q is %d, want a positive integer of at most %d", r.what, key, *dst, most)
	}
}

// activation reads field hidden_act (def when absent) and checks that the
// autodiff engine has that activation; what names the object in errors.
func activation(cfg map[string]any, def, what string) (string, error) {
	act, err := ConfigStringOr(cfg, "hidden_act", def)
	if err != nil {
		return "", err
	}
	if err := autodiff.CheckActivation(act); err != nil {
		return "", fmt.Errorf("%s field \"hidden_act\": %w", what, err)
	}
	return act, nil
}
