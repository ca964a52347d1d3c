package data

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/safetensors"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	ds := tinyDataset(t, 3, 2, 2, 3, 4)
	ds.ClassNames = []string{"a", "b", "c"}
	path := filepath.Join(t.TempDir(), "calib.safetensors")
	if err := SaveSafetensors(path, ds); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Inputs.Shape, ds.Inputs.Shape) || !slices.Equal(got.Inputs.Data, ds.Inputs.Data) ||
		!slices.Equal(got.Labels, ds.Labels) || got.Classes != 3 || !slices.Equal(got.ClassNames, ds.ClassNames) {
		t.Fatalf("round trip: %v %v %d %v", got.Inputs.Shape, got.Labels, got.Classes, got.ClassNames)
	}
}

func TestSafetensorsFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, meta map[string]string, ts ...safetensors.Tensor) string {
		p := filepath.Join(dir, name+".safetensors")
		if err := safetensors.Write(p, ts, meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img3 := safetensors.F32("images", []int{2, 1, 2}, []float32{0, 0.5, 1, 0.25})
	lbl := safetensors.I64("labels", []int{2}, []int64{0, 4})

	// [N, H, W] images, classes from the largest label.
	ds, err := LoadSafetensors(write("nhw", nil, img3, lbl))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Inputs.Shape, []int{2, 1, 1, 2}) || ds.Classes != 5 || !slices.Equal(ds.Labels, []int{0, 4}) {
		t.Fatalf("%v %d %v", ds.Inputs.Shape, ds.Classes, ds.Labels)
	}
	// Metadata classes beyond the labels.
	ds, err = LoadSafetensors(write("meta", map[string]string{"classes": "10"}, img3, lbl))
	if err != nil || ds.Classes != 10 {
		t.Fatalf("classes metadata: %v", err)
	}

	for _, tc := range []struct {
		name string
		meta map[string]string
		ts   []safetensors.Tensor
		want string
	}{
		{"nolabels", nil, []safetensors.Tensor{img3}, `no tensor "labels"`},
		{"noimages", nil, []safetensors.Tensor{lbl}, `no tensor "images"`},
		{"range", nil, []safetensors.Tensor{safetensors.F32("images", []int{2, 1, 1}, []float32{0, 255}), lbl}, "outside [0, 1]"},
		{"count", nil, []safetensors.Tensor{img3, safetensors.I64("labels", []int{3}, []int64{0, 1, 2})}, "want [2]"},
		{"shape", nil, []safetensors.Tensor{safetensors.F32("images", []int{4}, []float32{0, 0, 0, 0}), lbl}, "want [N, C, H, W]"},
		{"negative", nil, []safetensors.Tensor{img3, safetensors.I64("labels", []int{2}, []int64{0, -1})}, "label -1"},
		{"badmeta", map[string]string{"classes": "3"}, []safetensors.Tensor{img3, lbl}, "label 4 but metadata says 3"},
		{"names", map[string]string{"class_names": `["a"]`}, []safetensors.Tensor{img3, lbl}, "1 names for 5 classes"},
		{"intimages", nil, []safetensors.Tensor{safetensors.I64("images", []int{2, 1, 1}, []int64{0, 1}), lbl}, "images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name, tc.meta, tc.ts...)
			_, err := LoadSafetensors(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want %q naming %s", err, tc.want, p)
			}
		})
	}
	if _, err := LoadSafetensors(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Fatal("missing file accepted")
	}
}
