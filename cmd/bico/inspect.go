package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tokenizer"
	"github.com/spf13/cobra"
)

func inspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect PATH",
		Short: "List the tensors of a safetensors file or model folder",
		Long: `inspect lists the tensors of a safetensors file, a sharded index file or a model
folder (name, dtype, shape), their parameter count and, for a folder with a
config.json, the architecture it names (for a PEFT LoRA adapter's folder, its
rank, alpha and target modules) and whether bico reads it, checked without
loading the weights: which parameters it finds, which it lacks (a base
checkpoint lacks its task head), and its tokenizer.json.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			s, err := safetensors.Summarize(path)
			if err != nil {
				return err
			}
			arch, reads := architecture(path), readability(path)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*safetensors.Summary
					Architecture string `json:"architecture,omitempty"`
					Bico         string `json:"bico,omitempty"`
				}{s, arch, reads})
			}
			if arch != "" {
				fmt.Fprintf(out, "architecture: %s\n", arch)
			}
			if reads != "" {
				fmt.Fprintf(out, "bico: %s\n", reads)
			}
			fmt.Fprintf(out, "files: %v\n", s.Files)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "tensor\tdtype\tshape")
			for _, t := range s.Tensors {
				fmt.Fprintf(tw, "%s\t%s\t%v\n", t.Name, t.Dtype, t.Shape)
			}
			tw.Flush()
			fmt.Fprintf(out, "%d tensors, %d parameters, %d bytes\n", len(s.Tensors), s.Params, s.Bytes)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// architecture names the model in the config.json beside path (a folder,
// or a file inside one): its architectures list and model_type.
func architecture(path string) string {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	if model.IsAdapter(dir) {
		rank, cfg, err := model.AdapterRank(dir)
		if err != nil {
			return "PEFT adapter: " + err.Error()
		}
		desc := fmt.Sprintf("PEFT LoRA adapter (largest rank %d, lora_alpha %v, target_modules %v", rank, cfg["lora_alpha"], cfg["target_modules"])
		if dora, _ := cfg["use_dora"].(bool); dora {
			desc += ", DoRA"
		}
		if b, ok := cfg["base_model_name_or_path"].(string); ok && b != "" {
			desc += ", base " + b
		}
		return desc + ")"
	}
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return ""
	}
	mt, _ := cfg["model_type"].(string)
	if archs, ok := cfg["architectures"].([]any); ok && len(archs) > 0 {
		return fmt.Sprintf("%v (model_type %s)", archs[0], mt)
	}
	return "model_type " + mt
}

// readability says whether bico reads the model folder at path (or the
// folder of the file at path), from model.CheckDir and its tokenizer.json;
// "" for a path outside a model folder or a LoRA adapter's.
func readability(path string) string {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	if _, err := os.Stat(filepath.Join(dir, model.ConfigFile)); err != nil || model.IsAdapter(dir) {
		return ""
	}
	c, err := model.CheckDir(dir)
	if err != nil {
		return "cannot read it: " + err.Error()
	}
	desc := fmt.Sprintf("reads it as %s: %d of its %d parameters found", c.ModelType, c.Found, c.Parameters)
	if len(c.Missing) > 0 {
		desc += fmt.Sprintf("; missing %v (a base model's checkpoint may lack its task head only)", c.Missing)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		if tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json")); err != nil {
			desc += "; tokenizer.json not read: " + err.Error()
		} else {
			desc += fmt.Sprintf("; tokenizer.json of %d tokens", tok.VocabSize())
		}
	}
	return desc
}
