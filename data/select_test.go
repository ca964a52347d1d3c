package data

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/tensor"
)

// indexed returns a dataset of n 1×1 images whose value is the sample
// index, with the given labels, so selections can be traced back.
func indexed(labels []int, classes int) *Dataset {
	ds := &Dataset{Inputs: tensor.New[float32](len(labels), 1, 1, 1), Labels: labels, Classes: classes}
	for i := range labels {
		ds.Inputs.Data[i] = float32(i)
	}
	return ds
}

func origin(ds *Dataset) []int {
	out := make([]int, ds.Len())
	for i, v := range ds.Inputs.Data {
		out[i] = int(v)
	}
	return out
}

func TestPerClass(t *testing.T) {
	labels := make([]int, 100)
	for i := range labels {
		labels[i] = (i * 7) % 5
	}
	ds := indexed(labels, 5)
	a, err := PerClass(ds, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PerClass(ds, 4, 1)
	c, _ := PerClass(ds, 4, 2)
	if a.Len() != 20 || !slices.Equal(a.ClassCounts(), []int{4, 4, 4, 4, 4}) {
		t.Fatalf("counts %v", a.ClassCounts())
	}
	if !slices.Equal(origin(a), origin(b)) {
		t.Fatal("same seed, different selection")
	}
	if slices.Equal(origin(a), origin(c)) {
		t.Fatal("different seeds, same selection")
	}
	if !slices.IsSorted(origin(a)) {
		t.Fatal("selection not in dataset order")
	}
	for k, i := range origin(a) {
		if ds.Labels[i] != a.Labels[k] {
			t.Fatal("label does not follow its image")
		}
	}
	// A larger K with the same seed need not contain the smaller one, but
	// every selected sample is distinct.
	all, _ := PerClass(ds, 20, 3)
	if o := origin(all); len(slices.Compact(slices.Clone(o))) != 100 {
		t.Fatal("duplicates in selection")
	}

	ds.ClassNames = []string{"zero", "one", "two", "three", "four"}
	ds.Labels[0] = 1 // class 0 now has 19 samples
	_, err = PerClass(ds, 20, 1)
	if err == nil || !strings.Contains(err.Error(), `class 0 ("zero") has 19 samples`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := PerClass(ds, 0, 1); err == nil {
		t.Fatal("K = 0 accepted")
	}
}

func TestSplitHeldOut(t *testing.T) {
	// 3 classes of 10, 4 and 2 samples.
	var labels []int
	for c, n := range []int{10, 4, 2} {
		for range n {
			labels = append(labels, c)
		}
	}
	ds := Shuffle(indexed(labels, 3), 7)
	stats, held, err := SplitHeldOut(ds, 0.25, 5)
	if err != nil {
		t.Fatal(err)
	}
	// round(2.5) = 3, round(1) = 1, round(0.5) = 1 (at least one).
	if !slices.Equal(held.ClassCounts(), []int{3, 1, 1}) || !slices.Equal(stats.ClassCounts(), []int{7, 3, 1}) {
		t.Fatalf("held %v stats %v", held.ClassCounts(), stats.ClassCounts())
	}
	union := append(origin(stats), origin(held)...)
	slices.Sort(union)
	if !slices.Equal(union, slices.Sorted(slices.Values(origin(ds)))) {
		t.Fatal("parts do not partition the dataset")
	}
	s2, h2, _ := SplitHeldOut(ds, 0.25, 5)
	if !slices.Equal(origin(s2), origin(stats)) || !slices.Equal(origin(h2), origin(held)) {
		t.Fatal("split not deterministic")
	}
	// A fraction near 1 still leaves every class in the statistics part.
	stats, held, err = SplitHeldOut(ds, 0.99, 5)
	if err != nil || !slices.Equal(stats.ClassCounts(), []int{1, 1, 1}) || held.Len() != 13 {
		t.Fatalf("fraction 0.99: %v %v", stats.ClassCounts(), err)
	}

	// One sample per class: an error the caller can recognise.
	one := indexed([]int{0, 1, 2}, 3)
	if _, _, err := SplitHeldOut(one, 0.5, 1); !errors.Is(err, ErrHeldOutTooSmall) {
		t.Fatalf("K = 1: %v", err)
	}
	// Mixed: the single-sample class stays in the statistics part.
	mixed := indexed([]int{0, 0, 1}, 2)
	stats, held, err = SplitHeldOut(mixed, 0.5, 1)
	if err != nil || !slices.Equal(stats.ClassCounts(), []int{1, 1}) || !slices.Equal(held.ClassCounts(), []int{1, 0}) {
		t.Fatalf("mixed: %v %v %v", stats.ClassCounts(), held.ClassCounts(), err)
	}
	for _, f := range []float64{0, 1, -1} {
		if _, _, err := SplitHeldOut(ds, f, 1); err == nil {
			t.Fatalf("fraction %v accepted", f)
		}
	}
}
