package data

import (
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/tensor"
)

// tinyDataset builds classes·perClass samples of [c, h, w] images whose
// values are multiples of 1/255 and differ between samples; labels cycle
// through the classes.
func tinyDataset(t testing.TB, classes, perClass, c, h, w int) *Dataset {
	t.Helper()
	n := classes * perClass
	ds := &Dataset{Inputs: tensor.New[float32](n, c, h, w), Labels: make([]int, n), Classes: classes}
	for i := range ds.Inputs.Data {
		ds.Inputs.Data[i] = float32((i*37+i/7)%256) / 255
	}
	for i := range n {
		ds.Labels[i] = i % classes
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestBatches(t *testing.T) {
	ds := tinyDataset(t, 3, 3, 1, 2, 2) // 9 samples
	var sizes []int
	var labels []int
	var data []float32
	for x, y := range ds.Batches(4) {
		if x.Shape[0] != len(y) || !slices.Equal(x.Shape[1:], []int{1, 2, 2}) {
			t.Fatalf("batch shape %v with %d labels", x.Shape, len(y))
		}
		sizes = append(sizes, len(y))
		labels = append(labels, y...)
		data = append(data, x.Data...)
	}
	if !slices.Equal(sizes, []int{4, 4, 1}) || ds.NumBatches(4) != 3 {
		t.Fatalf("batch sizes %v", sizes)
	}
	if !slices.Equal(labels, ds.Labels) || !slices.Equal(data, ds.Inputs.Data) {
		t.Fatal("batches do not cover the dataset in order")
	}
	for range ds.Batches(0) {
		t.Fatal("batch of size 0")
	}
	// Appending to a batch's labels must not write into the dataset.
	_, y := ds.Batch(0, 2)
	_ = append(y, 99)
	if ds.Labels[2] == 99 {
		t.Fatal("batch labels alias the rest of the dataset")
	}
}

func TestSubsetConcat(t *testing.T) {
	ds := tinyDataset(t, 2, 3, 2, 2, 2)
	ds.ClassNames = []string{"a", "b"}
	sub := ds.Subset([]int{4, 1, 4})
	if !slices.Equal(sub.Labels, []int{0, 1, 0}) || sub.ClassName(1) != "b" {
		t.Fatalf("labels %v", sub.Labels)
	}
	x, _ := ds.Batch(4, 5)
	y, _ := sub.Batch(2, 3)
	if !slices.Equal(x.Data, y.Data) {
		t.Fatal("subset image differs")
	}
	sub.Inputs.Data[0] = 42
	if slices.Contains(ds.Inputs.Data, 42) {
		t.Fatal("subset shares memory")
	}
	all, err := Concat(ds, sub)
	if err != nil {
		t.Fatal(err)
	}
	if all.Len() != 9 || all.Labels[6] != 0 || all.Inputs.Data[6*8] != 42 {
		t.Fatalf("concat: %d samples", all.Len())
	}
	if _, err := Concat(ds, tinyDataset(t, 2, 1, 1, 2, 2)); err == nil {
		t.Fatal("concat of different shapes accepted")
	}
}

func TestValidate(t *testing.T) {
	ds := tinyDataset(t, 2, 2, 1, 1, 1)
	ds.Labels[1] = 2
	if ds.Validate() == nil {
		t.Fatal("label out of range accepted")
	}
	ds = tinyDataset(t, 2, 2, 1, 1, 1)
	ds.Labels = ds.Labels[:3]
	if ds.Validate() == nil {
		t.Fatal("label count mismatch accepted")
	}
}

// TestMatchLabels: classes are renumbered by name to the model's labels,
// kept without names or with placeholder labels, and unknown names are an
// error naming them.
func TestMatchLabels(t *testing.T) {
	mk := func(names ...string) *Dataset {
		return &Dataset{Inputs: tensor.New[float32](3, 1, 1, 1), Labels: []int{0, 1, 1}, Classes: 2, ClassNames: names}
	}
	ds := mk("cat", "dog")
	if err := MatchLabels(ds, []string{"bird", "dog", "cat"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Labels, []int{2, 1, 1}) || ds.Classes != 3 || ds.ClassName(2) != "cat" {
		t.Errorf("renumbered to %v (%d classes, names %q), want [2 1 1] of the model's 3", ds.Labels, ds.Classes, ds.ClassNames)
	}
	if err := ds.Validate(); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		ds     *Dataset
		labels []string
	}{{mk(), []string{"dog", "cat"}}, {mk("cat", "dog"), []string{"LABEL_0", "LABEL_1"}}} {
		if err := MatchLabels(c.ds, c.labels); err != nil || !slices.Equal(c.ds.Labels, []int{0, 1, 1}) {
			t.Errorf("names %q against labels %q: %v, labels %v; want them kept", c.ds.ClassNames, c.labels, err, c.ds.Labels)
		}
	}
	err := MatchLabels(mk("cat", "emu"), []string{"cat", "dog"})
	if err == nil || !strings.Contains(err.Error(), `"emu"`) {
		t.Errorf("unknown class: error %v, want one naming emu", err)
	}
}
