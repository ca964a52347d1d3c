package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bico-dev/bico/safetensors"
)

// TestSaveWithDtype: a model written in bfloat16 or float16 loads back as
// its weights rounded to that precision, StoredDtype reports the precision,
// and a weight float16 cannot hold is an error naming it.
func TestSaveWithDtype(t *testing.T) {
	m, err := Build(MLPConfig{InputSize: 6, HiddenSizes: []int{5}, Labels: []string{"a", "b"}}.Map(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d     safetensors.Dtype
		round func(float32) float32
	}{
		{safetensors.DtypeBF16, func(v float32) float32 { return safetensors.BF16ToFloat32(safetensors.Float32ToBF16(v)) }},
		{safetensors.DtypeF16, func(v float32) float32 { return safetensors.F16ToFloat32(safetensors.Float32ToF16(v)) }},
		{safetensors.DtypeF32, func(v float32) float32 { return v }},
	} {
		dir := filepath.Join(t.TempDir(), string(c.d))
		if err := SaveWith(dir, m, SaveOptions{Dtype: c.d}); err != nil {
			t.Fatal(err)
		}
		if got, err := StoredDtype(dir); err != nil || got != c.d {
			t.Errorf("StoredDtype of a %s checkpoint: %s, %v", c.d, got, err)
		}
		back, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range m.ParamNames() {
			for i, v := range m.Param(name).Value.Data {
				if got := back.Param(name).Value.Data[i]; got != c.round(v) {
					t.Fatalf("%s: %s[%d] loads as %g, want %g rounded from %g", c.d, name, i, got, c.round(v), v)
				}
			}
		}
	}
	big, _ := Clone(m)
	big.Param("classifier.weight").Value.Data[3] = 7e4
	err = SaveWith(t.TempDir(), big, SaveOptions{Dtype: safetensors.DtypeF16})
	if err == nil || !strings.Contains(err.Error(), `"classifier.weight"`) || !strings.Contains(err.Error(), "float16") {
		t.Errorf("float16 save of 7e4: %v", err)
	}
	if err := SaveWith(t.TempDir(), m, SaveOptions{Dtype: safetensors.DtypeF64}); err == nil {
		t.Error("a float64 save did not fail")
	}
	// Mixed dtypes read as float32.
	dir := t.TempDir()
	tensors := []safetensors.Tensor{safetensors.BF16("a", []int{1}, []float32{1}), safetensors.F16("b", []int{1}, []float32{1})}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := StoredDtype(dir); err != nil || got != safetensors.DtypeF32 {
		t.Errorf("StoredDtype of mixed dtypes: %s, %v", got, err)
	}
	for in, want := range map[string]safetensors.Dtype{"bfloat16": safetensors.DtypeBF16, "F16": safetensors.DtypeF16, "float32": safetensors.DtypeF32} {
		if got, err := ParseDtype(in); err != nil || got != want {
			t.Errorf("ParseDtype(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := ParseDtype("int8"); err == nil {
		t.Error("ParseDtype(int8) did not fail")
	}
}
