package zoo

import (
	"context"
	"fmt"
	"slices"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
)

// FewShotPath is FewShot along one training run: it fine-tunes a copy of
// base on samples with FewShotRecipe(max(checkpoints), lr, seed) and calls
// at with the model being trained after each step count of checkpoints.
// The model passed to at is trained further afterwards: at must score it
// or copy it (model.Clone), not keep it. Because the recipe's learning
// rate is constant, the model at checkpoint s is the model FewShot trains
// for s steps, up to the order of the samples within a batch of more than
// 256 samples; one run serves every step count for the cost of the
// longest.
func FewShotPath(ctx context.Context, base model.Model, samples *data.Dataset, checkpoints []int, lr float64, seed uint64, at func(steps int, m model.Model) error) error {
	if len(checkpoints) == 0 {
		return fmt.Errorf("zoo: few-shot path: no checkpoints")
	}
	last := slices.Max(checkpoints)
	if slices.Min(checkpoints) <= 0 {
		return fmt.Errorf("zoo: few-shot path: checkpoint %d steps", slices.Min(checkpoints))
	}
	r := FewShotRecipe(last, lr, seed)
	m, err := model.Clone(base)
	if err != nil {
		return fmt.Errorf("zoo: recipe %q: copying the base: %w", r.Name, err)
	}
	if _, lm := m.(model.TargetMaker); samples != nil && !lm && samples.Classes != m.NumLabels() {
		return fmt.Errorf("zoo: few-shot path: %d classes in the samples, %d in the model's head", samples.Classes, m.NumLabels())
	}
	var atErr error
	err = fit(ctx, m, r, samples, func(done, _ int) {
		if atErr == nil && slices.Contains(checkpoints, done) {
			atErr = at(done, m)
		}
	})
	if err != nil {
		return err
	}
	return atErr
}
