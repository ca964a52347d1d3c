package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/eval"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/spf13/cobra"
)

func evalCmd() *cobra.Command {
	var modelDir, baseDir, spec string
	var asJSON bool
	var batch, maxLength int
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Accuracy and mean loss of a model on a labelled dataset",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, err := linalg.Default()
			if err != nil {
				return err
			}
			m, dir, err := loadEvalModel(modelDir, baseDir)
			if err != nil {
				return err
			}
			ds, err := loadData(spec, textOptions(dir, m, maxLength))
			if err != nil {
				return err
			}
			if err := fitInputs(ds, dir, m); err != nil {
				return err
			}
			labels, err := model.Labels(m.Config())
			if err != nil {
				return fmt.Errorf("%s: %w", modelDir, err)
			}
			if err := data.MatchLabels(ds, labels); err != nil {
				return fmt.Errorf("%s: %w", spec, err)
			}
			r, err := eval.Evaluate(cmd.Context(), be, m, ds.Inputs, ds.Labels, batch)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", modelDir, spec, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					Model string `json:"model"`
					Data  string `json:"data"`
					eval.Result
				}{modelDir, spec, r})
			}
			if r.Tokens > 0 {
				fmt.Fprintf(out, "%s on %s: next-token accuracy %.4f, loss %.4f, perplexity %.2f (%d tokens of %d sequences)\n",
					modelDir, spec, r.Accuracy, r.Loss, math.Exp(r.Loss), r.Tokens, r.N)
				return nil
			}
			fmt.Fprintf(out, "%s on %s: accuracy %.4f, loss %.4f (%d samples)\n", modelDir, spec, r.Accuracy, r.Loss, r.N)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelDir, "model", "", "model folder, or a PEFT LoRA adapter folder (with --base)")
	fl.StringVar(&baseDir, "base", "", "with a LoRA adapter as --model: the model folder it adapts (bico transfer --save-lora's --target-base)")
	fl.StringVar(&spec, "data", "", "labelled data: "+dataSpecHelp)
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.IntVar(&batch, "batch", 128, "batch size")
	fl.IntVar(&maxLength, "max-length", 0, "text: keep at most this many tokens of each sequence (0: all)")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("data")
	return cmd
}

// loadEvalModel loads the model bico eval scores: the folder modelDir, or,
// when that is a LoRA adapter, the model in baseDir with it merged. It
// returns the folder that has the model's config and tokenizer.
func loadEvalModel(modelDir, baseDir string) (model.Model, string, error) {
	if !model.IsAdapter(modelDir) {
		if baseDir != "" {
			return nil, "", fmt.Errorf("--base %s: --model %s is a model, not a LoRA adapter", baseDir, modelDir)
		}
		m, err := model.Load(modelDir)
		return m, modelDir, err
	}
	if baseDir == "" {
		return nil, "", fmt.Errorf("--model %s is a LoRA adapter: give the model it adapts with --base", modelDir)
	}
	base, err := model.LoadWith(baseDir, model.LoadOptions{MissingHead: true})
	if err != nil {
		return nil, "", err
	}
	m, err := model.ApplyLoRA(base, modelDir)
	return m, baseDir, err
}
