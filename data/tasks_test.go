package data

import (
	"slices"
	"testing"
)

// taskInput is real MNIST when available (a few hundred digits), else a
// synthetic set.
func taskInput(t *testing.T) *Dataset {
	if _, err := MNISTDir(); err == nil {
		ds := realMNIST(t)
		return ds.Subset([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	}
	return tinyDataset(t, 10, 2, 1, 28, 28)
}

func TestTasks(t *testing.T) {
	ds := taskInput(t)
	orig := ds.Clone()
	names := map[string]bool{}
	for _, task := range Tasks() {
		t.Run(task.Name, func(t *testing.T) {
			names[task.Name] = true
			a := task.Apply(ds, 1)
			b := task.Apply(ds, 1)
			if !slices.Equal(a.Inputs.Data, b.Inputs.Data) {
				t.Fatal("not deterministic")
			}
			if !slices.Equal(a.Labels, ds.Labels) || a.Classes != ds.Classes || !slices.Equal(a.ClassNames, ds.ClassNames) {
				t.Fatal("labels changed")
			}
			if !slices.Equal(a.Inputs.Shape, ds.Inputs.Shape) {
				t.Fatalf("shape %v", a.Inputs.Shape)
			}
			if !slices.Equal(ds.Inputs.Data, orig.Inputs.Data) {
				t.Fatal("input modified")
			}
			if lo, hi := slices.Min(a.Inputs.Data), slices.Max(a.Inputs.Data); lo < 0 || hi > 1 {
				t.Fatalf("values in [%v, %v]", lo, hi)
			}
			changed := !slices.Equal(a.Inputs.Data, ds.Inputs.Data)
			if changed != (task.Name != "identity") {
				t.Fatalf("changed = %v", changed)
			}
			// Every image (not just the set) changes, or stays, alike.
			size := ds.sampleSize()
			for i := range ds.Len() {
				same := slices.Equal(a.Inputs.Data[i*size:(i+1)*size], ds.Inputs.Data[i*size:(i+1)*size])
				if same != (task.Name == "identity") {
					t.Fatalf("sample %d: unchanged = %v", i, same)
				}
			}
			got, err := TaskByName(task.Name)
			if err != nil || got.Name != task.Name {
				t.Fatalf("TaskByName: %v", err)
			}
		})
	}
	if len(names) != 9 {
		t.Fatalf("%d tasks", len(names))
	}
	if _, err := TaskByName("rot45"); err == nil {
		t.Fatal("unknown task accepted")
	}
}

func TestTaskProperties(t *testing.T) {
	ds := taskInput(t)
	apply := func(name string, ds *Dataset, seed uint64) *Dataset {
		task, err := TaskByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return task.Apply(ds, seed)
	}
	x := ds
	for range 4 {
		x = apply("rot90", x, 0)
	}
	if !slices.Equal(x.Inputs.Data, ds.Inputs.Data) {
		t.Error("rot90 four times is not the identity")
	}
	if !slices.Equal(apply("hflip", apply("hflip", ds, 0), 0).Inputs.Data, ds.Inputs.Data) {
		t.Error("hflip twice is not the identity")
	}
	inv := apply("invert", ds, 0)
	for i, v := range ds.Inputs.Data {
		if inv.Inputs.Data[i] != 1-v {
			t.Fatal("invert is not 1 − x")
		}
	}
	// rot90 is counter-clockwise: the top row becomes the left column, read
	// bottom to top.
	r := apply("rot90", ds, 0)
	for x := range 28 {
		if r.Inputs.Data[(27-x)*28] != ds.Inputs.Data[x] {
			t.Fatal("rot90 is not counter-clockwise")
		}
	}
	st := apply("stripes", ds, 0)
	for y := range 28 {
		row := st.Inputs.Data[y*28 : (y+1)*28]
		if zero := slices.Max(row) == 0; (y%7 >= 2 && y%7 <= 4) && !zero {
			t.Fatalf("row %d not zeroed", y)
		}
	}
	for _, name := range []string{"noise", "affine"} {
		if slices.Equal(apply(name, ds, 1).Inputs.Data, apply(name, ds, 2).Inputs.Data) {
			t.Errorf("%s: seed has no effect", name)
		}
	}
	// Downscaling keeps the ink, a quarter of it, in the centre.
	d := apply("downscale", ds, 0)
	var in, out, border float64
	for i := range 28 * 28 {
		in += float64(ds.Inputs.Data[i])
		out += float64(d.Inputs.Data[i])
		if y, x := i/28, i%28; y < 7 || y >= 21 || x < 7 || x >= 21 {
			border += float64(d.Inputs.Data[i])
		}
	}
	if border != 0 || out < in/4*0.99 || out > in/4*1.01 {
		t.Errorf("downscale: ink %v → %v, border %v", in, out, border)
	}
	// Blur keeps the ink (away from the border) and spreads it.
	b := apply("blur", ds, 0)
	if bi := mean(b.Inputs.Data[:784]); bi < in/784*0.97 || bi > in/784*1.03 {
		t.Errorf("blur: mean %v → %v", in/784, bi)
	}
	if slices.Max(b.Inputs.Data[:784]) >= slices.Max(ds.Inputs.Data[:784]) {
		t.Error("blur did not lower the peak")
	}
}

func BenchmarkTasks(b *testing.B) {
	ds := tinyDataset(b, 10, 100, 1, 28, 28)
	for _, task := range Tasks() {
		b.Run(task.Name, func(b *testing.B) {
			for b.Loop() {
				task.Apply(ds, 1)
			}
		})
	}
}
