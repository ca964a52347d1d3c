package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/tensor"
)

func near(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

func TestResize(t *testing.T) {
	// Enlarging 2 → 4 is half-pixel bilinear with clamped edges.
	x := tensor.FromSlice([]float32{0, 1}, 1, 1, 1, 2)
	near(t, "up", Resize(x, 1, 4).Data, []float64{0, 0.25, 0.75, 1}, 1e-6)
	// Shrinking 4 → 2 widens the triangle to 2 pixels (antialiasing).
	x = tensor.FromSlice([]float32{0, 1, 2, 3}, 1, 1, 1, 4)
	near(t, "down", Resize(x, 1, 2).Data, []float64{1.25 / 1.75, 4 / 1.75}, 1e-6)
	// Both axes, several planes.
	x = tensor.FromSlice([]float32{0, 1, 2, 3, 10, 10, 10, 10}, 2, 1, 2, 2)
	y := Resize(x, 4, 4)
	if !slices.Equal(y.Shape, []int{2, 1, 4, 4}) {
		t.Fatalf("shape %v", y.Shape)
	}
	near(t, "2d", y.Data[:4], []float64{0, 0.25, 0.75, 1}, 1e-6)
	near(t, "2d", y.Data[12:16], []float64{2, 2.25, 2.75, 3}, 1e-6)
	near(t, "2d", y.Data[4:8], []float64{0.5, 0.75, 1.25, 1.5}, 1e-6)
	if slices.Min(y.Data[16:]) != 10 || slices.Max(y.Data[16:]) != 10 {
		t.Fatal("constant plane changed")
	}
	// A constant image stays constant at any size.
	c := tensor.Full[float32](0.3, 1, 1, 7, 5)
	for _, v := range Resize(c, 3, 11).Data {
		if math.Abs(float64(v)-0.3) > 1e-6 {
			t.Fatalf("constant image resized to %v", v)
		}
	}
}

const vitConfig = `{
  "do_normalize": true,
  "do_rescale": true,
  "do_resize": true,
  "image_mean": [0.485, 0.456, 0.406],
  "image_processor_type": "ViTImageProcessor",
  "image_std": [0.229, 0.224, 0.225],
  "resample": 2,
  "rescale_factor": 0.00392156862745098,
  "size": {"height": 4, "width": 4}
}`

func TestPreprocessApply(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, PreprocessorFile), []byte(vitConfig))
	p, ok, err := LoadPreprocessor(dir)
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	if p.Size != (Size{Height: 4, Width: 4}) || p.ProcessorType != "ViTImageProcessor" {
		t.Fatalf("%+v", p)
	}
	// A 1-channel 2×2 image for a 3-channel model.
	x := tensor.FromSlice([]float32{0, 1, 1, 0}, 1, 1, 2, 2)
	y, err := p.Apply(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(y.Shape, []int{1, 3, 4, 4}) {
		t.Fatalf("shape %v", y.Shape)
	}
	row0 := []float64{0, 0.25, 0.75, 1} // resized first row
	for k, m := range p.ImageMean {
		want := make([]float64, 4)
		for i, v := range row0 {
			want[i] = (v - m) / p.ImageStd[k]
		}
		near(t, "channel", y.Data[16*k:16*k+4], want, 1e-5)
	}
	if !slices.Equal(x.Data, []float32{0, 1, 1, 0}) {
		t.Fatal("input modified")
	}

	// No file: not found, no error.
	if p, ok, err := LoadPreprocessor(t.TempDir()); p != nil || ok || err != nil {
		t.Fatalf("missing file: %v %v %v", p, ok, err)
	}
	// A nil Preprocess only converts channels.
	var none *Preprocess
	z, err := none.Apply(x, 0)
	if err != nil || !slices.Equal(z.Data, x.Data) || &z.Data[0] == &x.Data[0] {
		t.Fatal("nil preprocess")
	}
}

func TestPreprocessParse(t *testing.T) {
	// Defaults of ViTImageProcessor for missing fields; a bare size.
	p, err := ParsePreprocessor([]byte(`{"size": 8, "do_normalize": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != (Size{Height: 8, Width: 8}) || !p.DoResize || p.DoNormalize || p.RescaleFactor != 1.0/255 {
		t.Fatalf("%+v", p)
	}
	// Rescale by a factor other than 1/255, a single mean for every channel.
	p, err = ParsePreprocessor([]byte(`{"do_resize": false, "rescale_factor": 1, "image_mean": [10], "image_std": [2]}`))
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.Apply(tensor.FromSlice([]float32{0, 1}, 1, 2, 1, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "rescale", y.Data, []float64{-5, (255 - 10) / 2.0}, 1e-4)

	// Shortest edge and centre crop (CLIP style).
	p, err = ParsePreprocessor([]byte(`{"size": {"shortest_edge": 4}, "do_center_crop": true, "crop_size": {"height": 4, "width": 4}, "do_normalize": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if h, w := p.OutputSize(2, 4); h != 4 || w != 4 {
		t.Fatalf("output size %d×%d", h, w)
	}
	img := tensor.FromSlice([]float32{0, 0, 1, 1, 0, 0, 1, 1}, 1, 1, 2, 4) // resized to 4×8, cropped to columns 2..5
	y, err = p.Apply(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "crop", y.Data[:4], []float64{0, 0.25, 0.75, 1}, 1e-6)

	for _, bad := range []string{
		`{"size": {"height": 0, "width": 3}}`,
		`{"image_mean": [0.5, 0.5], "image_std": [0.5]}`,
		`{"image_std": [0, 1, 1]}`,
		`{"size": 2.5}`,
		`{"do_center_crop": true}`,
		`not json`,
	} {
		if _, err := ParsePreprocessor([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// Mean of 3 values with a 1-channel model is an error, not a panic.
	p = DefaultPreprocess()
	if _, err := p.Apply(tensor.New[float32](1, 1, 2, 2), 1); err == nil {
		t.Error("3 means for 1 channel accepted")
	}
	if _, err := p.Apply(tensor.New[float32](1, 2, 2, 2), 3); err == nil {
		t.Error("2 → 3 channels accepted")
	}
}

func TestLoadPreprocessorBadFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, PreprocessorFile), []byte(`{"size": "big"}`))
	_, ok, err := LoadPreprocessor(dir)
	if err == nil || !ok {
		t.Fatal("bad file accepted")
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
	os.Remove(path)
}

func FuzzPreprocessor(f *testing.F) {
	f.Add([]byte(vitConfig))
	f.Add([]byte(`{"size": 3, "do_center_crop": true, "crop_size": {"height": 2, "width": 5}}`))
	f.Add([]byte(`{"size": {"shortest_edge": 2}, "image_mean": [0.1], "image_std": [0.2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePreprocessor(b)
		if err != nil {
			return
		}
		x := tensor.FromSlice([]float32{0, 0.5, 1, 0.25, 0.75, 0.1}, 1, 1, 2, 3)
		if h, w := p.OutputSize(2, 3); h*w > 4096 || h > 4096 || w > 4096 || p.Size.ShortestEdge > 64 {
			return
		}
		y, err := p.Apply(x, 3)
		if err != nil {
			return
		}
		if h, w := p.OutputSize(2, 3); !slices.Equal(y.Shape, []int{1, 3, h, w}) {
			t.Fatalf("shape %v, OutputSize %d×%d", y.Shape, h, w)
		}
	})
}
