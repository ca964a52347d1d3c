package data

import (
	"strings"
	"testing"

	"github.com/bico-dev/bico/tensor"
)

func TestImageTokens(t *testing.T) {
	// One 4×8 image: two 4×4 blocks. The first has quadrant means 0, 0.3,
	// 0.6 and 1 (levels 0, 1, 2, 3); the second is uniform 0.5 (level 2).
	img := tensor.New[float32](1, 1, 4, 8)
	quad := []float32{0, 0.3, 0.6, 1}
	for y := 0; y < 4; y++ {
		for x := 0; x < 8; x++ {
			v := float32(0.5)
			if x < 4 {
				v = quad[(y/2)*2+x/2]
			}
			img.Data[y*8+x] = v
		}
	}
	ds := &Dataset{Inputs: img, Labels: []int{1}, Classes: 2, ClassNames: []string{"a", "b"}}
	got, err := ImageTokens(ds, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0 + 4*1 + 16*2 + 64*3, 2 * (1 + 4 + 16 + 64)}
	if !tensor.SameShape(got.Inputs.Shape, []int{1, 2}) || got.Inputs.Data[0] != want[0] || got.Inputs.Data[1] != want[1] {
		t.Errorf("tokens %v %v, want [1 2] %v", got.Inputs.Shape, got.Inputs.Data, want)
	}
	if err := got.Validate(); err != nil || !got.IsText() || got.Labels[0] != 1 || got.ClassNames[1] != "b" {
		t.Errorf("token dataset: %v, labels %v, names %v", err, got.Labels, got.ClassNames)
	}
	for _, block := range []int{3, 0, 8} {
		if _, err := ImageTokens(ds, block); err == nil || !strings.Contains(err.Error(), "block") {
			t.Errorf("block %d: error %v", block, err)
		}
	}
	if _, err := ImageTokens(got, 2); err == nil {
		t.Error("tokens of tokens")
	}
}
