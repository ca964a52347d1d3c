package tensor

import (
	"math"
	"testing"
)

func TestViewAndResolveShape(t *testing.T) {
	x := New[float32](2, 3, 4)
	v := x.View(-1, 4)
	if v.Shape[0] != 6 || v.Rows() != 6 || &v.Data[0] != &x.Data[0] {
		t.Errorf("view %v does not share 6 rows", v.Shape)
	}
	defer func() {
		if recover() == nil {
			t.Error("viewing 24 values as [5, -1] did not panic")
		}
	}()
	x.View(5, -1)
}

func TestHelpers(t *testing.T) {
	a := FromSlice([]float64{1, 2, 3}, 3)
	b := a.Clone()
	b.AddInPlace(a)
	b.Scale(0.5)
	if MaxAbsDiff(a, b) != 0 {
		t.Errorf("(a + a)/2 = %v, want %v", b.Data, a.Data)
	}
	if a.FirstNonFinite() != -1 {
		t.Error("finite tensor reported non-finite")
	}
	a.Data[1] = math.Inf(1)
	if a.FirstNonFinite() != 1 {
		t.Error("infinity not found at index 1")
	}
	c := Convert[float32](FromSlice([]float64{1.5, -2}, 2))
	if c.Data[0] != 1.5 || c.Data[1] != -2 {
		t.Errorf("convert: %v", c.Data)
	}
}
