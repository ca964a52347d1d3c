package main

import (
	"fmt"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
)

// fitInputs prepares a dataset's images for the model in dir: with the
// folder's preprocessor_config.json when it has one (resize, crop,
// normalise, as transformers' image processor does); otherwise, for a model
// whose config.json names image_size and num_channels, by resizing and
// converting channels when they differ. Other models take the images as
// they are.
func fitInputs(ds *data.Dataset, dir string, m model.Model) error {
	if ds.IsText() {
		return nil // token ids: made for the model by loadData
	}
	pp, ok, err := data.LoadPreprocessor(dir)
	if err != nil {
		return err
	}
	cfg := m.Config()
	if vc, ok := cfg["vision_config"].(map[string]any); ok {
		cfg = vc // CLIP keeps the image settings there
	}
	channels, _ := model.ConfigIntOr(cfg, "num_channels", 0)
	if ok {
		images, err := pp.Apply(ds.Inputs, channels)
		if err != nil {
			return fmt.Errorf("%s: preprocessing: %w", dir, err)
		}
		ds.Inputs = images
		return nil
	}
	size, err := model.ConfigIntOr(cfg, "image_size", 0)
	if err != nil || size == 0 || len(ds.Inputs.Shape) != 4 {
		return nil
	}
	if channels > 0 && ds.Channels() != channels {
		if ds.Inputs, err = data.ConvertChannels(ds.Inputs, channels); err != nil {
			return err
		}
	}
	if ds.Height() != size || ds.Width() != size {
		ds.Inputs = data.Resize(ds.Inputs, size, size)
	}
	return nil
}
