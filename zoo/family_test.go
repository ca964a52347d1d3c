package zoo

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/bico-dev/bico/model"
)

// TestFewShotPath checks that each checkpoint of one run is the model
// FewShot trains for that many steps, and that the base is not modified.
func TestFewShotPath(t *testing.T) {
	train := mnist(t, "train", 0, 500)
	r := tinyRecipe()
	r.Epochs = 1
	base, err := Pretrain(context.Background(), r, train, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(base)
	samples := mnist(t, "train", 500, 40)
	var seen []int
	err = FewShotPath(context.Background(), base, samples, []int{3, 7}, 1e-3, 5, func(steps int, m model.Model) error {
		seen = append(seen, steps)
		want, err := FewShot(context.Background(), base, samples, steps, 1e-3, 5)
		if err != nil {
			return err
		}
		if !sameParams(snapshot(want), snapshot(m)) {
			t.Errorf("checkpoint %d differs from FewShot(%d steps)", steps, steps)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{3, 7}) {
		t.Errorf("checkpoints seen %v, want [3 7]", seen)
	}
	if !sameParams(before, snapshot(base)) {
		t.Error("FewShotPath modified the base")
	}
	if err := FewShotPath(context.Background(), base, samples, nil, 1e-3, 5, nil); err == nil {
		t.Error("no checkpoints accepted")
	}
}

// TestFamilies checks the relations of every family's versions.
func TestFamilies(t *testing.T) {
	for _, f := range Families() {
		if len(f.Versions) != 4 {
			t.Fatalf("family %s: %d versions", f.Name, len(f.Versions))
		}
		keys := map[string]bool{}
		for _, v := range f.Versions {
			keys[v.Recipe.Key()] = true
			if v.Recipe.Data != pretrainData+f.dataSuffix() {
				t.Errorf("%s %s pre-trains on %q", f.Name, v.Name, v.Recipe.Data)
			}
		}
		if len(keys) != 4 {
			t.Errorf("family %s: %d distinct recipes", f.Name, len(keys))
		}
		v1, v2, v3, v4 := f.Versions[0].Recipe, f.Versions[1].Recipe, f.Versions[2].Recipe, f.Versions[3].Recipe
		// Token families cannot shift images: their v2 differs by seeds.
		if !reflect.DeepEqual(v1.Config, v2.Config) || v1.InitSeed == v2.InitSeed || v1.DataSeed == v2.DataSeed || v2.Augment != (f.ImageTokens == 0) || v1.Augment {
			t.Errorf("family %s: v2 is not v1's shape with other seeds and (for images) augmentation", f.Name)
		}
		m1, err := model.Build(model.CloneConfig(v1.Config), nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		m3, _ := model.Build(model.CloneConfig(v3.Config), nil, 1)
		m4, _ := model.Build(model.CloneConfig(v4.Config), nil, 1)
		depth := func(m model.Model) (blocks, width int) {
			for _, s := range m.Sites() {
				blocks = max(blocks, s.Block+1)
				if s.OutSpace != "" { // not a vocabulary
					width = max(width, s.Out)
				}
			}
			return
		}
		b1, w1 := depth(m1)
		b3, w3 := depth(m3)
		b4, w4 := depth(m4)
		if b3 != b1 || w3 <= w1 || b4 <= b1 || w4 != w1 {
			t.Errorf("family %s: v1 %d blocks width %d, v3 %d/%d (want wider), v4 %d/%d (want deeper)", f.Name, b1, w1, b3, w3, b4, w4)
		}
		ft := f.FineTuneRecipe(f.Versions[2], "rot90")
		if ft.Base != v3.Key() || ft.Name != f.Name+"-v3-rot90" {
			t.Errorf("fine-tune recipe %+v", ft)
		}
		if g, err := FamilyByName(f.Name); err != nil || g.Name != f.Name {
			t.Errorf("FamilyByName(%q): %v", f.Name, err)
		}
	}
	if _, err := FamilyByName("cnn"); err == nil {
		t.Error("unknown family accepted")
	}
	if n := len(ShiftedTasks()); n != 8 {
		t.Errorf("%d shifted tasks, want 8", n)
	}
}
