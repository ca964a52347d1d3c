package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(f, img)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func grayImage(w, h int, f func(x, y int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.SetGray(x, y, color.Gray{f(x, y)})
		}
	}
	return g
}

func TestImageFolderGray(t *testing.T) {
	dir := t.TempDir()
	// Classes "cat" < "dog": ids 0, 1. Files in sorted order.
	savePNG(t, filepath.Join(dir, "dog", "a.png"), grayImage(3, 2, func(x, y int) uint8 { return uint8(10 * (x + 3*y)) }))
	savePNG(t, filepath.Join(dir, "cat", "b.png"), grayImage(3, 2, func(x, y int) uint8 { return 255 }))
	savePNG(t, filepath.Join(dir, "cat", "sub", "c.png"), grayImage(3, 2, func(x, y int) uint8 { return 0 }))
	writeFile(t, filepath.Join(dir, "cat", "notes.txt"), []byte("skipped"))
	writeFile(t, filepath.Join(dir, "cat", ".hidden.png"), []byte("skipped"))
	writeFile(t, filepath.Join(dir, "README"), []byte("skipped"))

	ds, err := LoadImageFolder(dir, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.ClassNames, []string{"cat", "dog"}) || !slices.Equal(ds.Labels, []int{0, 0, 1}) {
		t.Fatalf("classes %v labels %v", ds.ClassNames, ds.Labels)
	}
	if !slices.Equal(ds.Inputs.Shape, []int{3, 1, 2, 3}) {
		t.Fatalf("shape %v", ds.Inputs.Shape)
	}
	x, _ := ds.Batch(0, 1)
	if slices.Min(x.Data) != 1 {
		t.Fatalf("b.png: %v", x.Data)
	}
	x, _ = ds.Batch(2, 3)
	for i, v := range x.Data {
		if want := float32(10*i) / 255; v != want {
			t.Fatalf("a.png[%d] = %v, want %v", i, v, want)
		}
	}

	// Forced 3 channels and a new size.
	ds3, err := LoadImageFolder(dir, FolderOptions{Height: 4, Width: 6, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds3.Inputs.Shape, []int{3, 3, 4, 6}) {
		t.Fatalf("shape %v", ds3.Inputs.Shape)
	}
	x, _ = ds3.Batch(2, 3)
	if !slices.Equal(x.Data[:24], x.Data[24:48]) || !slices.Equal(x.Data[:24], x.Data[48:]) {
		t.Fatal("gray image not repeated into 3 equal channels")
	}
	// Upscaling by exactly 2 keeps the mean of a linear ramp.
	if m := mean(x.Data[:24]); math.Abs(m-float64(mean(ds.Inputs.Data[12:]))) > 1e-5 {
		t.Fatalf("resized mean %v", m)
	}
}

func mean(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

func TestImageFolderColour(t *testing.T) {
	dir := t.TempDir()
	rgb := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	for i := range 4 {
		rgb.Set(i%2, i/2, color.NRGBA{R: 255, G: uint8(50 * i), B: 0, A: 255})
	}
	savePNG(t, filepath.Join(dir, "0", "rgb.png"), rgb)
	savePNG(t, filepath.Join(dir, "1", "gray.png"), grayImage(4, 4, func(x, y int) uint8 { return 200 }))
	solid := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range solid.Pix {
		solid.Pix[i] = []uint8{0, 0, 255, 255}[i%4]
	}
	savePNG(t, filepath.Join(dir, "2", "blue.jpg"), solid)

	ds, err := LoadImageFolder(dir, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Inputs.Shape, []int{3, 3, 2, 2}) || ds.Classes != 3 {
		t.Fatalf("shape %v classes %d", ds.Inputs.Shape, ds.Classes)
	}
	x, _ := ds.Batch(0, 1)
	want := []float32{1, 1, 1, 1, 0, 50. / 255, 100. / 255, 150. / 255, 0, 0, 0, 0}
	for i := range want {
		if math.Abs(float64(x.Data[i]-want[i])) > 1e-6 {
			t.Fatalf("rgb.png = %v, want %v", x.Data, want)
		}
	}
	x, _ = ds.Batch(1, 2)
	for _, v := range x.Data {
		if math.Abs(float64(v)-200./255) > 1e-6 {
			t.Fatalf("gray.png = %v", x.Data)
		}
	}
	x, _ = ds.Batch(2, 3) // JPEG blue, shrunk from 8×8: approximately (0, 0, 1)
	for i, v := range x.Data {
		if w := float32(i / 4 / 2); math.Abs(float64(v-w)) > 0.03 {
			t.Fatalf("blue.jpg = %v", x.Data)
		}
	}

	// Forced to 1 channel: luminance.
	ds1, err := LoadImageFolder(dir, FolderOptions{Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	x, _ = ds1.Batch(0, 1)
	if w := float32(0.299 + 0.587*150./255); math.Abs(float64(x.Data[3]-w)) > 1e-6 {
		t.Fatalf("luminance %v, want %v", x.Data[3], w)
	}
}

func TestImageFolderErrors(t *testing.T) {
	dir := t.TempDir()
	savePNG(t, filepath.Join(dir, "a", "ok.png"), grayImage(2, 2, func(x, y int) uint8 { return 1 }))
	bad := writeFile(t, filepath.Join(dir, "a", "broken.png"), []byte("\x89PNG not really"))
	if _, err := LoadImageFolder(dir, FolderOptions{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want it to name %s", err, bad)
	}
	os.Remove(bad)
	if err := os.Mkdir(filepath.Join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImageFolder(dir, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "has no images") {
		t.Fatalf("empty class: %v", err)
	}
	if _, err := LoadImageFolder(t.TempDir(), FolderOptions{}); err == nil || !strings.Contains(err.Error(), "no class sub-folders") {
		t.Fatalf("no classes: %v", err)
	}
	if _, err := LoadImageFolder(dir, FolderOptions{Height: 3}); err == nil {
		t.Fatal("height without width accepted")
	}
	if _, err := LoadImageFolder(dir, FolderOptions{Channels: 2}); err == nil {
		t.Fatal("2 channels accepted")
	}
}

func TestSaveImageFolderRoundTrip(t *testing.T) {
	src := tinyDataset(t, 4, 3, 3, 5, 7) // values multiples of 1/255
	dir := t.TempDir()
	if err := SaveImageFolder(dir, src); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Samples come back grouped by class; compare per class.
	if got.Len() != src.Len() || got.Classes != src.Classes || !slices.Equal(got.Inputs.Shape, src.Inputs.Shape) {
		t.Fatalf("got %v %d classes", got.Inputs.Shape, got.Classes)
	}
	order := make([]int, 0, src.Len())
	for c := range src.Classes {
		for i, l := range src.Labels {
			if l == c {
				order = append(order, i)
			}
		}
	}
	want := src.Subset(order)
	if !slices.Equal(got.Labels, want.Labels) || !slices.Equal(got.Inputs.Data, want.Inputs.Data) {
		t.Fatal("round trip changed the images")
	}
}
