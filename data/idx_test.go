package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an idx file of unsigned bytes with the given magic.
func idxBytes(magic uint32, dims []int, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyImages is 3 images of 2×2 pixels; tinyLabels their labels.
var (
	tinyImages = idxBytes(MagicImages, []int{3, 2, 2}, []byte{0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0})
	tinyLabels = idxBytes(MagicLabels, []int{3}, []byte{7, 0, 9})
)

func TestReadIDX(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"raw", tinyImages},
		{"gzip", gz(t, tinyImages)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x.Dims, []int{3, 2, 2}) || x.Magic() != MagicImages {
				t.Fatalf("dims %v magic %d", x.Dims, x.Magic())
			}
			if !bytes.Equal(x.Data, tinyImages[16:]) {
				t.Fatalf("data %v", x.Data)
			}
			var buf bytes.Buffer
			if err := WriteIDX(&buf, x); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), tinyImages) {
				t.Fatalf("write: %v", buf.Bytes())
			}
		})
	}
}

func TestReadIDXErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated header"},
		{"short magic", []byte{0, 0, 8}, "truncated header"},
		{"bad magic", idxBytes(0x01020304, nil, nil), "bad magic"},
		{"float type", idxBytes(0x0d03, []int{1, 1, 1}, []byte{0, 0, 0, 0}), "float32"},
		{"unknown type", idxBytes(0x0703, []int{1, 1, 1}, []byte{0}), "unknown element type"},
		{"no dims", idxBytes(0x0800, nil, nil), "0 dimensions"},
		{"truncated dims", tinyImages[:10], "truncated header"},
		{"truncated data", tinyImages[:len(tinyImages)-1], "truncated: 11 of 12"},
		{"truncated gzip", gz(t, tinyImages)[:30], "unexpected EOF"},
		{"trailing", append(slices.Clone(tinyLabels), 1), "trailing data"},
		{"huge", idxBytes(0x0803, []int{1 << 30, 1 << 30, 1 << 30}, nil), "too large"},
		{"huge truncated", idxBytes(0x0803, []int{1 << 20, 1 << 10, 1 << 3}, []byte{1, 2}), "truncated: 2 of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadIDXPair(t *testing.T) {
	dir := t.TempDir()
	img := writeFile(t, filepath.Join(dir, "img"), gz(t, tinyImages))
	lbl := writeFile(t, filepath.Join(dir, "lbl"), tinyLabels)
	ds, err := LoadIDXPair(img, lbl, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Inputs.Shape, []int{3, 1, 2, 2}) || !slices.Equal(ds.Labels, []int{7, 0, 9}) {
		t.Fatalf("shape %v labels %v", ds.Inputs.Shape, ds.Labels)
	}
	if got := ds.Inputs.Data[:4]; !slices.Equal(got, []float32{0, 1, 0.2, 0.4}) {
		t.Fatalf("first image %v", got)
	}

	for _, tc := range []struct {
		name     string
		img, lbl []byte
		file     string // which file the error must name
		want     string
	}{
		{"labels as images", tinyLabels, tinyLabels, "img", "bad magic 2049, want 2051"},
		{"images as labels", tinyImages, tinyImages, "lbl", "bad magic 2051, want 2049"},
		{"truncated images", tinyImages[:20], tinyLabels, "img", "truncated"},
		{"truncated labels", tinyImages, gz(t, tinyLabels)[:15], "lbl", "unexpected EOF"},
		{"count mismatch", tinyImages, idxBytes(MagicLabels, []int{2}, []byte{1, 2}), "lbl", "has 2 labels but"},
		{"label 10", tinyImages, idxBytes(MagicLabels, []int{3}, []byte{1, 10, 2}), "lbl", "label 10 of sample 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			img := writeFile(t, filepath.Join(d, "img"), tc.img)
			lbl := writeFile(t, filepath.Join(d, "lbl"), tc.lbl)
			_, err := LoadIDXPair(img, lbl, 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(d, tc.file)) {
				t.Fatalf("err = %v, want %q naming %s", err, tc.want, tc.file)
			}
		})
	}
}

// tinyMNISTDir writes a fake MNIST folder: 3 test images (gzipped) and
// the same 3 as training images (uncompressed, dotted names).
func tinyMNISTDir(t testing.TB) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), gz(t, tinyImages))
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), gz(t, tinyLabels))
	writeFile(t, filepath.Join(dir, "train-images.idx3-ubyte"), tinyImages)
	writeFile(t, filepath.Join(dir, "train-labels.idx1-ubyte"), idxBytes(MagicLabels, []int{3}, []byte{1, 2, 3}))
	return dir
}

func TestLoadMNISTNames(t *testing.T) {
	dir := tinyMNISTDir(t)
	test, err := LoadMNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	train, err := LoadMNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(test.Labels, []int{7, 0, 9}) || !slices.Equal(train.Labels, []int{1, 2, 3}) {
		t.Fatalf("labels %v %v", test.Labels, train.Labels)
	}
	if _, err := LoadMNIST(dir, "val"); err == nil || !strings.Contains(err.Error(), "unknown split") {
		t.Fatalf("split val: %v", err)
	}
	if _, err := LoadMNIST(t.TempDir(), "test"); err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") {
		t.Fatalf("empty dir: %v", err)
	}
}

func FuzzIDX(f *testing.F) {
	f.Add(tinyImages)
	f.Add(tinyLabels)
	f.Add(gz(f, tinyImages))
	f.Add(idxBytes(0x0802, []int{2, 3}, []byte{1, 2, 3, 4, 5, 6}))
	f.Add(idxBytes(0x0801, []int{0}, nil))
	f.Add(tinyImages[:9])
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if n != len(x.Data) {
			t.Fatalf("dims %v but %d values", x.Dims, len(x.Data))
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatalf("write: %v", err)
		}
		y, err := ReadIDX(&buf)
		if err != nil {
			t.Fatalf("reread: %v", err)
		}
		if !slices.Equal(x.Dims, y.Dims) || !bytes.Equal(x.Data, y.Data) {
			t.Fatal("round trip changed the file")
		}
	})
}
