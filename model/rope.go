package model

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/autodiff"
)

// rotary is how a model's attention rotates its queries and keys (rotary
// position embeddings), as its configuration says.
type rotary struct {
	// freq is the angular frequency of each rotated pair of a head: half
	// the head's width, fewer with partial_rotary_factor (the head's first
	// 2·len(freq) elements rotate, the others pass through).
	freq []float64
	// long, for LongRoPE, are the frequencies of sequences longer than
	// longFrom tokens (freq are those of shorter ones); nil for others.
	long     []float64
	longFrom int
	// scale multiplies the rotated elements: LongRoPE's or YaRN's attention
	// factor, 1 for the others.
	scale float64
	// ntk, for dynamic NTK scaling, rescales the base of sequences longer
	// than the pre-trained length; nil for others.
	ntk *dynamicNTK
}

// dynamicNTK is rope_scaling "dynamic": a sequence of T tokens beyond
// maxPos rotates with base θ·(factor·T/maxPos − (factor − 1))^(r/(r−2)),
// r the rotated width; shorter ones with θ itself.
type dynamicNTK struct {
	theta, factor float64
	maxPos, rot   int
}

// frequencies returns the rotation's frequencies for sequences of T tokens.
func (d dynamicNTK) frequencies(T int) []float64 {
	r := float64(d.rot)
	base := d.theta * math.Pow(d.factor*float64(T)/float64(d.maxPos)-(d.factor-1), r/(r-2))
	return autodiff.RoPEFrequencies(d.rot, base)
}

// rotate applies r to x [B, T, heads·head_dim], positions 0 … T−1.
func (r rotary) rotate(t *Tape, x *Var, heads int) *Var {
	freq, T := r.freq, x.Value.Shape[len(x.Value.Shape)-2]
	switch {
	case r.long != nil && T > r.longFrom:
		freq = r.long
	case r.ntk != nil && T > r.ntk.maxPos:
		freq = r.ntk.frequencies(T)
	}
	return t.RoPEScaled(x, heads, 0, freq, r.scale)
}

// ropeOf returns the rotation of heads of width dh as the config gives it:
// rope_theta (default def) and rope_scaling, or transformers 5's
// rope_parameters, an object with rope_theta and the scaling's fields, or
// one such object per kind of layer (layerType: "full_attention",
// "sliding_attention"); the first int(dh·partial_rotary_factor) elements
// of each head rotate (the factor pct by default).
func ropeOf(cfg map[string]any, layerType string, dh int, def, pct float64) (rotary, error) {
	params := cfg
	if rp, ok := cfg["rope_parameters"].(map[string]any); ok {
		params = map[string]any{"rope_scaling": rp}
		if sub, ok := rp[layerType].(map[string]any); ok {
			params["rope_scaling"] = sub
		}
		for _, key := range []string{"rope_theta", "partial_rotary_factor"} {
			if v, ok := params["rope_scaling"].(map[string]any)[key]; ok {
				params[key] = v
			}
		}
	} else if v, ok := cfg["rope_parameters"]; ok && v != nil {
		return rotary{}, fmt.Errorf("config: rope_parameters %v is not an object", v)
	}
	theta, err := ConfigFloatOr(params, "rope_theta", def)
	if err == nil && !(theta > 0) {
		err = fmt.Errorf("config: rope_theta %g, want > 0", theta)
	}
	if err != nil {
		return rotary{}, err
	}
	if _, ok := params["partial_rotary_factor"]; !ok {
		params = withField(params, "partial_rotary_factor", cfg["partial_rotary_factor"])
	}
	if pct, err = ConfigFloatOr(params, "partial_rotary_factor", pct); err != nil {
		return rotary{}, err
	}
	rot := int(float64(dh) * pct) // transformers truncates
	if !(pct > 0 && pct <= 1) || rot < 2 || rot%2 != 0 {
		return rotary{}, fmt.Errorf("config: a head of %d with a rotated fraction (partial_rotary_factor, GPT-NeoX's rotary_pct) of %g rotates %d of its elements; want an even number of at least 2", dh, pct, rot)
	}
	return ropeScaling(cfg, params, theta, autodiff.RoPEFrequencies(rot, theta))
}

// withField returns cfg with key set to v, unless v is nil; cfg itself is
// not changed.
func withField(cfg map[string]any, key string, v any) map[string]any {
	if v == nil {
		return cfg
	}
	out := CloneConfig(cfg)
	out[key] = v
	return out
}

// localRoPE returns Gemma 3's rotation of its sliding-window layers: base
// rope_local_base_freq (10000), or rope_parameters' sliding_attention
// entry.
func localRoPE(cfg map[string]any, dh int) (rotary, error) {
	if rp, ok := cfg["rope_parameters"].(map[string]any); ok {
		if _, ok := rp["sliding_attention"]; ok {
			return ropeOf(cfg, "sliding_attention", dh, 10000, 1)
		}
	}
	local, err := ConfigFloatOr(cfg, "rope_local_base_freq", 10000)
	if err == nil && !(local > 0) {
		err = fmt.Errorf("config: rope_local_base_freq %g, want a positive base", local)
	}
	if err != nil {
		return rotary{}, err
	}
	return rotary{freq: autodiff.RoPEFrequencies(dh, local), scale: 1}, nil
}

// ropeScaling returns the rotation of the frequencies freq (of base theta)
// changed as params' rope_scaling says (cfg is the whole configuration).
// Supported: none (null or rope_type "default"), "linear" (every frequency
// divided by factor), "llama3" (Llama 3.1's: low frequencies divided by
// factor, high ones kept, a smooth blend between), "longrope" (Phi-3's, see
// longRoPE), "yarn" (see yarnRoPE) and "dynamic" (see dynamicNTK).
func ropeScaling(cfg, params map[string]any, theta float64, freq []float64) (rotary, error) {
	r := rotary{freq: freq, scale: 1}
	rs, ok := params["rope_scaling"].(map[string]any)
	if !ok {
		if v := params["rope_scaling"]; v != nil {
			return r, fmt.Errorf("config: rope_scaling %v is not an object", v)
		}
		return r, nil
	}
	kind, _ := rs["rope_type"].(string)
	if kind == "" {
		kind, _ = rs["type"].(string) // the older name of the field
	}
	factor, err := ConfigFloatOr(rs, "factor", 1)
	if err != nil {
		return r, fmt.Errorf("config: rope_scaling: %w", err)
	}
	if !(factor > 0) {
		return r, fmt.Errorf("config: rope_scaling factor %g, want > 0", factor)
	}
	switch kind {
	case "default":
	case "linear":
		for i := range freq {
			freq[i] /= factor
		}
	case "llama3":
		r.freq, err = llama3Frequencies(rs, freq, factor)
	case "longrope":
		r, err = longRoPE(cfg, rs, freq)
	case "yarn":
		r, err = yarnRoPE(cfg, rs, theta, freq)
	case "dynamic":
		var maxPos int
		if maxPos, err = ConfigIntOr(cfg, "max_position_embeddings", 2048); err == nil && (maxPos < 1 || maxPos > maxConfigSize || len(freq) < 2) {
			err = fmt.Errorf("config: rope_scaling dynamic: max_position_embeddings %d and %d rotated elements, want a positive length and at least 4", maxPos, 2*len(freq))
		}
		r.ntk = &dynamicNTK{theta: theta, factor: factor, maxPos: maxPos, rot: 2 * len(freq)}
	default:
		err = fmt.Errorf("config: rope_scaling type %q is not supported (supported: default, linear, llama3, longrope, yarn, dynamic)", kind)
	}
	return r, err
}

// longRoPE returns LongRoPE's rotation (Phi-3, Phi-3.5, Phi-4-mini), as
// transformers 5 computes it: each frequency divided by its entry of
// short_factor, or for sequences longer than
// original_max_position_embeddings of long_factor, and the rotated
// elements multiplied by attention_factor, by default
// √(1 + ln s / ln original) (1 when s ≤ 1), s rope_scaling's factor or
// max_position_embeddings / original (see originalLength).
func longRoPE(cfg, rs map[string]any, freq []float64) (rotary, error) {
	fail := func(err error) (rotary, error) { return rotary{}, fmt.Errorf("config: rope_scaling longrope: %w", err) }
	factors := func(key string) ([]float64, error) {
		raw, ok := rs[key].([]any)
		if !ok || len(raw) != len(freq) {
			return nil, fmt.Errorf("%s is %v; want %d numbers, one per rotated pair", key, rs[key], len(freq))
		}
		out := make([]float64, len(freq))
		for i, v := range raw {
			f, ok := v.(float64)
			if !ok || !(f > 0) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s[%d] is %v; want a positive number", key, i, v)
			}
			out[i] = freq[i] / f
		}
		return out, nil
	}
	short, err := factors("short_factor")
	if err != nil {
		return fail(err)
	}
	long, err := factors("long_factor")
	if err != nil {
		return fail(err)
	}
	orig, factor, err := originalLength(cfg, rs)
	if err != nil {
		return fail(err)
	}
	scale := 1.0
	if factor > 1 {
		scale = math.Sqrt(1 + math.Log(factor)/math.Log(orig))
	}
	if scale, err = attentionFactor(rs, scale); err != nil {
		return fail(err)
	}
	return rotary{freq: short, long: long, longFrom: int(orig), scale: scale}, nil
}

// originalLength returns the context length a scaled rotation was
// pre-trained at, original_max_position_embeddings (from rope_scaling,
// else from the configuration, else max_position_embeddings), and its
// factor: rope_scaling's, else max_position_embeddings over the original.
func originalLength(cfg, rs map[string]any) (orig, factor float64, err error) {
	maxPos, err := ConfigFloatOr(cfg, "max_position_embeddings", 2048)
	if err != nil {
		return 0, 0, err
	}
	if orig, err = ConfigFloatOr(cfg, "original_max_position_embeddings", maxPos); err != nil {
		return 0, 0, err
	}
	if orig, err = ConfigFloatOr(rs, "original_max_position_embeddings", orig); err != nil {
		return 0, 0, err
	}
	if !(orig >= 2) || orig > maxConfigSize {
		return 0, 0, fmt.Errorf("original_max_position_embeddings %g, want a number of tokens", orig)
	}
	factor = maxPos / orig
	if v, ok := rs["factor"]; ok && v != nil {
		if factor, err = ConfigFloat(rs, "factor"); err != nil {
			return 0, 0, err
		}
	}
	if !(factor > 0) || math.IsInf(factor, 0) {
		return 0, 0, fmt.Errorf("factor %g, want > 0", factor)
	}
	return orig, factor, nil
}

// attentionFactor returns rope_scaling's attention_factor, def when it is
// absent or null.
func attentionFactor(rs map[string]any, def float64) (float64, error) {
	v, ok := rs["attention_factor"]
	if !ok || v == nil {
		return def, nil
	}
	f, err := ConfigFloat(rs, "attention_factor")
	if err == nil && !(f > 0) {
		err = fmt.Errorf("attention_factor %g, want > 0", f)
	}
	return f, err
}

// yarnRoPE returns YaRN's rotation (OLMo 3, Qwen's and DeepSeek's long
// contexts), as transformers 5 computes it. Pair i's frequency blends
// f/factor (interpolation) and f (extrapolation): interpolation for the
// pairs after the correction range, extrapolation before it, linearly
// between. The range runs from the pair that turns beta_fast (32) times
// over the original length to the one that turns beta_slow (1) times,
// rounded outwards unless truncate is false. The rotated elements are
// multiplied by attention_factor: by default 0.1·mscale·ln factor + 1 over
// the same with mscale_all_dim when both are given, else 0.1·ln factor + 1
// (1 for a factor of at most 1).
func yarnRoPE(cfg, rs map[string]any, theta float64, freq []float64) (rotary, error) {
	fail := func(err error) (rotary, error) { return rotary{}, fmt.Errorf("config: rope_scaling yarn: %w", err) }
	orig, factor, err := originalLength(cfg, rs)
	if err != nil {
		return fail(err)
	}
	mscale := func(m float64) float64 {
		if factor <= 1 {
			return 1
		}
		return 0.1*m*math.Log(factor) + 1
	}
	nums := map[string]float64{"mscale": 0, "mscale_all_dim": 0, "beta_fast": 32, "beta_slow": 1}
	for key, def := range nums {
		if v, ok := rs[key]; ok && v != nil {
			if nums[key], err = ConfigFloat(rs, key); err != nil {
				return fail(err)
			}
		} else {
			nums[key] = def
		}
	}
	for _, key := range []string{"beta_fast", "beta_slow"} {
		if nums[key] == 0 { // Python's `or`
			nums[key] = map[string]float64{"beta_fast": 32, "beta_slow": 1}[key]
		}
	}
	scale := mscale(1)
	if nums["mscale"] != 0 && nums["mscale_all_dim"] != 0 {
		scale = mscale(nums["mscale"]) / mscale(nums["mscale_all_dim"])
	}
	if scale, err = attentionFactor(rs, scale); err != nil {
		return fail(err)
	}
	truncate, err := ConfigBoolOr(rs, "truncate", true)
	if err != nil {
		return fail(err)
	}
	dim := float64(2 * len(freq))
	correction := func(rotations float64) float64 {
		return dim * math.Log(orig/(rotations*2*math.Pi)) / (2 * math.Log(theta))
	}
	low, high := correction(nums["beta_fast"]), correction(nums["beta_slow"])
	if truncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = max(low, 0), min(high, dim-1)
	if low == high {
		high += 0.001
	}
	out := make([]float64, len(freq))
	for i, f := range freq {
		ramp := min(max((float64(i)-low)/(high-low), 0), 1)
		out[i] = f/factor*ramp + f*(1-ramp)
	}
	return rotary{freq: out, scale: scale}, nil
}

// llama3Frequencies applies Llama 3.1's frequency scaling: a pair whose
// wavelength 2π/f exceeds original_max_position_embeddings/low_freq_factor
// gets f/factor, one below original/high_freq_factor keeps f, and those
// between a blend, (1−s)·f/factor + s·f with s = (original/wavelength −
// low_freq_factor)/(high_freq_factor − low_freq_factor).
func llama3Frequencies(rs map[string]any, freq []float64, factor float64) ([]float64, error) {
	low, err := ConfigFloatOr(rs, "low_freq_factor", 1)
	if err != nil {
		return nil, fmt.Errorf("config: rope_scaling: %w", err)
	}
	high, err := ConfigFloatOr(rs, "high_freq_factor", 4)
	if err != nil {
		return nil, fmt.Errorf("config: rope_scaling: %w", err)
	}
	orig, err := ConfigFloatOr(rs, "original_max_position_embeddings", 8192)
	if err != nil {
		return nil, fmt.Errorf("config: rope_scaling: %w", err)
	}
	if !(high > low) || !(low > 0) || !(orig > 0) {
		return nil, fmt.Errorf("config: rope_scaling llama3: low_freq_factor %g, high_freq_factor %g, original_max_position_embeddings %g: want 0 < low < high and a positive length", low, high, orig)
	}
	lowWave, highWave := orig/low, orig/high
	for i, f := range freq {
		wave := 2 * math.Pi / f
		switch {
		case wave < highWave:
		case wave > lowWave:
			freq[i] = f / factor
		default:
			s := (orig/wave - low) / (high - low)
			freq[i] = (1-s)*f/factor + s*f
		}
	}
	return freq, nil
}
