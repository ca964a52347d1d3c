package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/internal/memory"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/report"
	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/transfer"
	"github.com/spf13/cobra"
)

type transferFlags struct {
	sourceBase, sourceFT, targetBase string
	calib, out, method, alpha        string
	perClass                         int
	seed                             uint64
	heldOut                          float64
	batch, maxLength                 int
	tokens, statsFrom, norms, embeds string
	pairing                          string
	center, polar, force, quiet      bool
	sharedQK, blockAlpha             bool
	whiten                           float64
	shardMB                          int64
	statMemory                       string
	saveLoRA                         bool
	dtype                            string
}

func transferCmd() *cobra.Command {
	var f transferFlags
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Transfer a fine-tune from a source base model to a target base model",
		Long: `transfer reads the source base model, its fine-tuned version and the target base
model (Hugging Face model folders: config.json + *.safetensors), runs one forward
and backward pass of both base models over K labelled calibration samples per
class, and writes the target with the transported task vector, θ_B + α·ΔB, to
--out, with bico-report.json and bico-report.md.

With --alpha auto, α is chosen on a held-out part of the calibration samples
(highest accuracy, then lowest loss); the evaluation data is never used.

When the fine-tune's head has other labels (id2label) than a base's, or a base
has no head (a ViTModel checkpoint), that base is first given the task's head: the source base the fine-tuned head, the target
base that head through the map of the head's input (one more forward pass of
both bases). The output carries the fine-tune's labels.

--source-finetuned may also be a PEFT LoRA adapter (adapter_config.json and
adapter_model.safetensors): the fine-tune is then the source base with the
adapter merged, W + (lora_alpha/r)·B·A per adapted module.

Sites whose weight and bias the fine-tune left exactly unchanged (those a LoRA
adapter does not touch, a frozen backbone) get a zero delta and are left out:
no statistics or maps for them. A fine-tune identical to its base is refused.

Text is tokenised by the target's tokenizer.json. When the source's differs
(a new base with a new tokenizer), each model reads the text in its own tokens;
the statistics take the target's tokens after which the source has read the same
text (white space aside), and a changed embedding table or lm_head moves row by row
to the target's tokens of the same text (the others get no delta).

The output folder also gets the target base's tokenizer, image-processor and
generation files (tokenizer.json, preprocessor_config.json, …).

The output is written in the precision the target base is stored in (bfloat16
for most language models), or in --dtype's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTransfer(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sourceBase, "source-base", "", "source base model folder (θ_A)")
	fl.StringVar(&f.sourceFT, "source-finetuned", "", "fine-tuned source model folder (θ_A^ft)")
	fl.StringVar(&f.targetBase, "target-base", "", "target base model folder (θ_B)")
	fl.StringVar(&f.calib, "calib", "", "labelled calibration data: "+dataSpecHelp)
	fl.StringVar(&f.out, "out", "", "output model folder")
	fl.IntVar(&f.perClass, "per-class", 16, "calibration samples per class (K); for a causal language model, the number of sequences")
	fl.StringVar(&f.method, "method", "bico-blend", "method: "+strings.Join(transfer.Methods(), ", "))
	fl.StringVar(&f.alpha, "alpha", "auto", "scale α of the transported delta, or auto (chosen on held-out calibration samples)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the calibration sample selection and split")
	fl.Float64Var(&f.heldOut, "heldout", 0.25, "fraction of calibration samples held out to choose α (auto only)")
	fl.IntVar(&f.batch, "batch", 32, "calibration batch size")
	fl.IntVar(&f.maxLength, "max-length", 0, "text: keep at most this many tokens of each sequence (0: all)")
	fl.StringVar(&f.tokens, "tokens", "resample", "row correspondence when token counts differ: resample, cls or mean")
	fl.StringVar(&f.statsFrom, "stats-from", "base", "source model of the statistics: base or finetuned")
	fl.StringVar(&f.norms, "norms", "map", "norm scale/shift transport: map, diag or drop")
	fl.StringVar(&f.embeds, "embeds", "map", "class token / position embedding transport: map or zero")
	fl.StringVar(&f.pairing, "pairing", "relative", "block pairing across depths: relative or cka")
	fl.BoolVar(&f.sharedQK, "shared-qk", false, "one output map for each block's query and key")
	fl.BoolVar(&f.blockAlpha, "block-alpha", false, "after the global α, give each block its own multiple of it, chosen on held-out loss")
	fl.BoolVar(&f.center, "center", false, "centre rows before the cross-covariances")
	fl.Float64Var(&f.whiten, "whiten", 0, "partial whitening power p in [0, 0.5]")
	fl.BoolVar(&f.polar, "polar", false, "maps by Newton–Schulz polar iteration instead of SVD")
	fl.BoolVar(&f.force, "force", false, "replace --out if it exists")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress output")
	fl.Int64Var(&f.shardMB, "max-shard-mb", 5000, "largest safetensors shard written, in MB")
	fl.BoolVar(&f.saveLoRA, "save-lora", false, "with a LoRA adapter as --source-finetuned: write --out as a LoRA adapter of the target base, of the source adapter's rank, instead of a full model")
	fl.StringVar(&f.dtype, "dtype", "auto", "precision of the weights written: float32, bfloat16, float16, or auto (the target base's; with --save-lora, the source adapter's)")
	fl.StringVar(&f.statMemory, "stat-memory", "auto", "largest memory the statistics take at once (e.g. 6GiB): more calibration passes, each for a part of the blocks; auto: a third of the free memory; off: one pass (methods without a setting to choose only)")
	for _, name := range []string{"source-base", "source-finetuned", "target-base", "calib", "out"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func (f transferFlags) options(be linalg.Backend, prog *progress) (transfer.Options, error) {
	o := transfer.Options{
		Backend: be, BatchSize: f.batch, Tokens: transfer.TokenRule(f.tokens),
		StatsFrom: transfer.StatsSource(f.statsFrom), Center: f.center, Whiten: f.whiten,
		Norms: transfer.NormRule(f.norms), Embeds: transfer.EmbedRule(f.embeds), Polar: f.polar,
		Pairing: transfer.PairingRule(f.pairing), SharedQK: f.sharedQK, BlockAlpha: f.blockAlpha,
		Progress: prog.update,
	}
	return o, o.Validate()
}

// outputDtype returns the precision --dtype asks the output to be written
// in; auto is that of the target base's checkpoint (with --save-lora, the
// source adapter's).
func (f transferFlags) outputDtype() (safetensors.Dtype, error) {
	if f.dtype != "auto" {
		d, err := model.ParseDtype(f.dtype)
		if err != nil {
			return "", fmt.Errorf("--dtype: %w", err)
		}
		return d, nil
	}
	from := f.targetBase
	if f.saveLoRA {
		from = f.sourceFT
	}
	return model.StoredDtype(from)
}

func (f transferFlags) optionMap() map[string]string {
	return map[string]string{
		"tokens": f.tokens, "stats-from": f.statsFrom, "norms": f.norms, "embeds": f.embeds,
		"center": strconv.FormatBool(f.center), "whiten": strconv.FormatFloat(f.whiten, 'g', -1, 64),
		"polar": strconv.FormatBool(f.polar), "batch": strconv.Itoa(f.batch), "max-length": strconv.Itoa(f.maxLength),
		"pairing": f.pairing, "shared-qk": strconv.FormatBool(f.sharedQK), "block-alpha": strconv.FormatBool(f.blockAlpha),
		"dtype": f.dtype,
	}
}

func runTransfer(cmd *cobra.Command, f transferFlags) error {
	ctx := cmd.Context()
	prog := newProgress(cmd.ErrOrStderr(), f.quiet)
	be, err := linalg.Default()
	if err != nil {
		return err
	}
	method, err := transfer.Lookup(f.method)
	if err != nil {
		return err
	}
	if f.saveLoRA && !model.IsAdapter(f.sourceFT) {
		return fmt.Errorf("--save-lora: %s is not a LoRA adapter (no %s): the transfer of a full fine-tune is written as a full model", f.sourceFT, model.AdapterConfigFile)
	}
	alpha := -1.0
	if f.alpha != "auto" {
		if alpha, err = strconv.ParseFloat(f.alpha, 64); err != nil || alpha < 0 {
			return fmt.Errorf("--alpha %q: want auto or a non-negative number", f.alpha)
		}
	}
	opts, err := f.options(be, prog)
	if err != nil {
		return err
	}
	if err := checkOutput(f.out, f.force, f.sourceBase, f.sourceFT, f.targetBase); err != nil {
		return err
	}
	dtype, err := f.outputDtype()
	if err != nil {
		return err
	}
	rep := &report.Transfer{Method: method.Name(), SourceBase: f.sourceBase, SourceFinetuned: f.sourceFT, TargetBase: f.targetBase, Options: f.optionMap()}
	start := time.Now()
	ms, err := loadModels(f.sourceBase, f.sourceFT, f.targetBase)
	if err != nil {
		return err
	}
	labels, err := model.Labels(ms.SourceFinetuned.Config())
	if err != nil {
		return fmt.Errorf("%s: %w", f.sourceFT, err)
	}
	cross, err := compareTokenizers(sourceTokenizerFolder(f.sourceFT, f.sourceBase), f.targetBase, ms)
	if err != nil {
		return err
	}
	if cross == nil {
		ms, err = transfer.TaskPadToken(ms)
	} else {
		ms, err = cross.padTokens(ms)
	}
	if err != nil {
		return err
	}
	text := textOptions(f.targetBase, ms.TargetBase, f.maxLength)
	if cross != nil {
		text = cross.textOptions(text, ms)
	}
	stats, held, err := calibration(f.calib, text, f.perClass, f.seed, f.heldOut, alpha < 0, labels, func(ds *data.Dataset) error {
		return fitInputs(ds, f.targetBase, ms.TargetBase)
	})
	if err != nil {
		return err
	}
	rep.Calibration = report.Calibration{Data: f.calib, PerClass: f.perClass, Seed: f.seed, Stats: stats.Len(), HeldOut: held.Len()}
	if cross != nil {
		opts.Vocab = cross.vocab
		rep.Calibration.Tokenizers = cross.report(stats, ms.TargetBase)
		fmt.Fprintln(cmd.OutOrStdout(), rep.Calibration.Tokenizers.Summary())
	}
	rep.Seconds.Load = time.Since(start).Seconds()

	p, finishWith, err := prepare(ctx, ms, stats, method, opts, f.statMemory)
	if err != nil {
		return err
	}
	rep.Seconds.Calibration = p.Seconds
	rep.Calibration.Passes = p.Parts
	res, err := transfer.Finish(ctx, p, finishWith, held, alpha, nil)
	if err != nil {
		return err
	}
	fillReport(rep, p, res)

	if err := writeModelDir(f.out, f.force, func(dir string) error {
		start := time.Now()
		if f.saveLoRA {
			if err := saveAdapter(dir, f, p, res.Model, dtype, be); err != nil {
				return err
			}
		} else if err := model.SaveWith(dir, res.Model, model.SaveOptions{MaxShardBytes: f.shardMB << 20, Dtype: dtype}); err != nil {
			return err
		} else if err := copyCompanions(f.targetBase, dir); err != nil {
			return err
		}
		rep.Seconds.Write = time.Since(start).Seconds()
		return rep.Write(dir)
	}); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (method %s, α = %g, %s; %s)\n", f.out, res.Method, res.Alpha, res.AlphaFrom, model.DtypeName(dtype))
	if n := len(p.Unchanged); n > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%d of %d site pairs were left out: the fine-tune did not change them (bico-report.md lists them)\n", n, n+len(p.Pairs))
	}
	return nil
}

// prepare runs the calibration pass, in parts when the statistics take
// more memory than statMemory allows ("auto", "off" or a size), and returns
// the method for Finish: for a transfer in parts, one holding its delta. A
// method with a setting to choose on held-out samples (bico-blend) needs
// every statistic at once: with "auto" it has one pass.
func prepare(ctx context.Context, ms transfer.Models, calib transfer.Samples, method transfer.Method, opts transfer.Options, statMemory string) (*transfer.Prepared, transfer.Method, error) {
	var limit int64
	switch statMemory {
	case "auto":
		if _, tunable := method.(transfer.Tunable); tunable {
			limit = -1
		}
	case "off":
		limit = -1
	default:
		var err error
		if limit, err = memory.ParseSize(statMemory); err != nil {
			return nil, nil, fmt.Errorf("--stat-memory: %w", err)
		}
	}
	if limit < 0 {
		p, err := transfer.Prepare(ctx, ms, calib, method.Needs(), opts)
		return p, method, err
	}
	return transfer.PrepareInParts(ctx, ms, calib, method, opts, limit)
}

// saveAdapter writes the change from the target base to the transferred
// model as a LoRA adapter of the source adapter's rank (--save-lora). A
// task head the target base was given for the task's classes (every layer
// of it: RoBERTa's classifier.dense too) goes whole into the adapter
// (modules_to_save), for a target loaded with that many classes.
func saveAdapter(dir string, f transferFlags, p *transfer.Prepared, tuned model.Model, dtype safetensors.Dtype, be linalg.Backend) error {
	rank, src, err := model.AdapterRank(f.sourceFT)
	if err != nil {
		return err
	}
	fields := map[string]any{"base_model_name_or_path": f.targetBase}
	if tt, ok := src["task_type"]; ok {
		fields["task_type"] = tt
	}
	var whole []string
	if p.Head != nil && p.Head.TargetBase {
		for _, h := range model.TaskHeadSites(tuned) {
			whole = append(whole, h.Weight)
			if h.Bias != "" {
				whole = append(whole, h.Bias)
			}
		}
	}
	return model.SaveLoRA(dir, p.Models.TargetBase, tuned, model.AdapterOptions{Rank: rank, Whole: whole, Fields: fields, Dtype: dtype}, be)
}

// fillReport copies a finished transfer's facts into the report.
func fillReport(rep *report.Transfer, p *transfer.Prepared, res *transfer.Result) {
	rep.Alpha, rep.AlphaFrom, rep.Setting = res.Alpha, res.AlphaFrom, res.Setting
	for _, pt := range res.Curve {
		rep.AlphaCurve = append(rep.AlphaCurve, report.AlphaPoint(pt))
	}
	for _, m := range res.Maps {
		rep.Sites = append(rep.Sites, report.SiteMap{Statistic: m.Key.String(), DA: m.DA, DB: m.DB, Rank: m.Rank, Quality: m.Quality, Alignment: m.Alignment})
	}
	for _, s := range p.Unpaired {
		rep.Unpaired = append(rep.Unpaired, s.Name)
	}
	for _, sp := range p.Unchanged {
		rep.Unchanged = append(rep.Unchanged, sp.B.Name)
	}
	if h := p.Head; h != nil {
		rep.TaskHead = &report.TaskHead{Labels: h.Labels, SourceBase: h.SourceBase, TargetBase: h.TargetBase, Seconds: h.Seconds}
		if h.Map != nil {
			rep.TaskHead.Alignment = h.Map.Alignment
		}
	}
	rep.Seconds.Transport, rep.Seconds.Alpha = res.DeltaSeconds, res.AlphaSeconds
}

// loadModels reads the three model folders of a transfer. The bases may
// lack a head (a transformers base model such as ViTModel): the transfer
// gives them the task's head.
func loadModels(sourceBase, sourceFT, targetBase string) (transfer.Models, error) {
	var ms transfer.Models
	var err error
	if model.IsAdapter(sourceFT) {
		// A PEFT LoRA adapter: the fine-tune is the source base with it
		// merged.
		if ms.SourceBase, err = model.LoadWith(sourceBase, model.LoadOptions{MissingHead: true}); err != nil {
			return ms, err
		}
		if ms.SourceFinetuned, err = model.ApplyLoRA(ms.SourceBase, sourceFT); err != nil {
			return ms, err
		}
	} else if ms.SourceFinetuned, err = model.Load(sourceFT); err != nil {
		return ms, err
	} else if ms.SourceBase, err = loadBase(sourceBase, ms.SourceFinetuned); err != nil {
		return ms, err
	}
	if ms.TargetBase, err = loadBase(targetBase, ms.SourceFinetuned); err != nil {
		return ms, err
	}
	if ms.SourceBase.Type() != ms.SourceFinetuned.Type() {
		return ms, fmt.Errorf("source base %s is a %q model but the fine-tuned source %s a %q model", sourceBase, ms.SourceBase.Type(), sourceFT, ms.SourceFinetuned.Type())
	}
	return ms, nil
}

// loadBase loads a base model as the architecture of the fine-tune ft made
// from it, when both are of one model_type (a LlamaForCausalLM checkpoint
// as the base of a LlamaForSequenceClassification fine-tune), and without
// its head when it has none.
func loadBase(dir string, ft model.Model) (model.Model, error) {
	opts := model.LoadOptions{MissingHead: true}
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if mt, _ := cfg["model_type"].(string); mt == ft.Type() {
		if archs, _ := ft.Config()["architectures"].([]any); len(archs) > 0 {
			opts.Architecture, _ = archs[0].(string)
		}
	}
	return model.LoadWith(dir, opts)
}

// calibration loads the calibration data, keeps K samples per class, fits
// them to the model and, when α is to be chosen, splits off the held-out
// part.
//
// The selected samples' classes are renumbered as labels (the fine-tuned
// head's id2label) number them, after the selection and the split, which
// therefore do not depend on the model.
func calibration(spec string, text data.TextOptions, k int, seed uint64, heldOut float64, split bool, labels []string, fit func(*data.Dataset) error) (stats, held transfer.Samples, err error) {
	ds, err := loadData(spec, text)
	if err != nil {
		return stats, held, err
	}
	sel, err := data.PerClass(ds, k, seed)
	if err != nil {
		return stats, held, fmt.Errorf("calibration data %s: %w", spec, err)
	}
	if err := fit(sel); err != nil {
		return stats, held, fmt.Errorf("calibration data %s: %w", spec, err)
	}
	if !split {
		if err := data.MatchLabels(sel, labels); err != nil {
			return stats, held, fmt.Errorf("calibration data %s: %w", spec, err)
		}
		return samples(sel), held, nil
	}
	s, h, err := data.SplitHeldOut(sel, heldOut, seed)
	if err != nil {
		return stats, held, fmt.Errorf("calibration data %s: %w", spec, err)
	}
	for _, part := range []*data.Dataset{s, h} {
		if err := data.MatchLabels(part, labels); err != nil {
			return stats, held, fmt.Errorf("calibration data %s: %w", spec, err)
		}
	}
	return samples(s), samples(h), nil
}

func samples(ds *data.Dataset) transfer.Samples {
	s := transfer.Samples{Inputs: ds.Inputs, Labels: ds.Labels}
	if ds.Source != nil {
		s.SourceInputs, s.Rows = ds.Source.Inputs, ds.Source.Rows
	}
	return s
}

// dataSpecHelp describes the dataset grammar of --calib and --data.
const dataSpecHelp = `mnist[:train|:test], an MNIST idx folder[:train|:test], a folder of class sub-folders, or a .safetensors file, ` +
	`with @TASK appended for a shifted task (e.g. mnist:test@invert); or, for a text model, a .jsonl file of {"text" or "input_ids", "label"} lines`

// loadData loads a dataset spec, with an optional "@task" suffix that
// applies one of the built-in shifted tasks to images. A .jsonl file is
// read with text (the model's pad token and tokenizer).
func loadData(spec string, text data.TextOptions) (*data.Dataset, error) {
	base, task, hasTask := strings.Cut(spec, "@")
	if _, err := os.Stat(spec); err == nil {
		base, hasTask = spec, false
	}
	var ds *data.Dataset
	var err error
	if strings.HasSuffix(strings.ToLower(base), ".jsonl") {
		ds, err = data.LoadText(base, text)
	} else {
		ds, err = data.Load(base)
	}
	if err != nil {
		return nil, err
	}
	if !hasTask {
		return ds, nil
	}
	if ds.IsText() {
		return nil, fmt.Errorf("dataset %q: the shifted tasks (@%s) apply to images, not text", spec, task)
	}
	t, err := data.TaskByName(task)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", spec, err)
	}
	return t.Apply(ds, 0), nil
}

// checkOutput refuses an output folder that is, contains or lies inside an
// input, or that exists without --force.
func checkOutput(out string, force bool, inputs ...string) error {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	for _, in := range inputs {
		absIn, err := filepath.Abs(in)
		if err != nil {
			return err
		}
		if absIn == absOut || strings.HasPrefix(absIn+string(filepath.Separator), absOut+string(filepath.Separator)) || strings.HasPrefix(absOut, absIn+string(filepath.Separator)) {
			return fmt.Errorf("--out %s would overwrite the input %s", out, in)
		}
	}
	if _, err := os.Stat(out); err == nil && !force {
		return fmt.Errorf("--out %s exists (use --force to replace it)", out)
	}
	return nil
}

// companionFiles are the files of a model folder besides the weights and
// config.json that a transformers user loads with it: the tokenizer's, the
// image processor's and the generation settings.
var companionFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
	"chat_template.jinja", "chat_template.json", "preprocessor_config.json", "generation_config.json",
}

// copyCompanions copies the companion files the model folder from has into
// the folder to: the transferred model is the target's new version, read
// with the target's tokenizer or image processor.
func copyCompanions(from, to string) error {
	for _, name := range companionFiles {
		b, err := os.ReadFile(filepath.Join(from, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("copy the target base's %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o644); err != nil {
			return fmt.Errorf("copy the target base's %s: %w", name, err)
		}
	}
	return nil
}

// writeModelDir builds an output folder under a temporary name beside dir
// and renames it into place only when write succeeded, so dir never holds a
// half-written model.
func writeModelDir(dir string, force bool, write func(tmp string) error) error {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if force {
		if err := os.RemoveAll(dir); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return nil
}
