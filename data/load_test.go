package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadSpec(t *testing.T) {
	idx := tinyMNISTDir(t)
	for _, tc := range []struct {
		spec   string
		labels []int
	}{
		{idx, []int{7, 0, 9}},
		{idx + ":test", []int{7, 0, 9}},
		{idx + ":train", []int{1, 2, 3}},
	} {
		ds, err := Load(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if !slices.Equal(ds.Labels, tc.labels) {
			t.Fatalf("%s: labels %v", tc.spec, ds.Labels)
		}
	}

	folder := t.TempDir()
	savePNG(t, filepath.Join(folder, "x", "1.png"), grayImage(2, 2, func(x, y int) uint8 { return 9 }))
	ds, err := Load(folder)
	if err != nil || ds.Len() != 1 || ds.ClassNames[0] != "x" {
		t.Fatalf("image folder: %v", err)
	}
	ds, err = LoadWithOptions(folder, FolderOptions{Height: 3, Width: 3, Channels: 3})
	if err != nil || !slices.Equal(ds.Inputs.Shape, []int{1, 3, 3, 3}) {
		t.Fatalf("image folder with options: %v", err)
	}

	// A folder literally named "…:train" is taken whole.
	odd := filepath.Join(t.TempDir(), "odd:train")
	savePNG(t, filepath.Join(odd, "x", "1.png"), grayImage(2, 2, func(x, y int) uint8 { return 9 }))
	if _, err := Load(odd); err != nil {
		t.Fatalf("folder with a colon: %v", err)
	}

	for _, tc := range []struct{ spec, want string }{
		{"", "empty"},
		{folder + ":train", "applies only to a folder of idx files"},
		{filepath.Join(folder, "missing"), "no such file"},
		{writeFile(t, filepath.Join(folder, "x.bin"), nil), "not a folder, a .safetensors file or a .jsonl file"},
	} {
		if _, err := Load(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want %q", tc.spec, err, tc.want)
		}
	}
	os.Remove(filepath.Join(folder, "x.bin"))
}
