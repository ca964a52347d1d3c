package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/report"
	"github.com/bico-dev/bico/tokenizer"
	"github.com/bico-dev/bico/transfer"
)

// textOptions says how a .jsonl dataset is made into token ids for the
// model m held in folder dir: padded with m's pad_token_id, truncated to
// maxLength tokens (0: no limit), and, for lines with text instead of
// input_ids, tokenised by dir's tokenizer.json. A causal language model's
// data needs no labels: it predicts the text's own next tokens.
func textOptions(dir string, m model.Model, maxLength int) data.TextOptions {
	pad := model.PadTokenID(m)
	if pad < 0 {
		pad = data.NoPad
	}
	_, lm := m.(model.TargetMaker)
	return data.TextOptions{Encoder: &folderTokenizer{dir: dir}, PadID: pad, MaxLength: maxLength, Unlabelled: lm}
}

// folderTokenizer is the tokenizer.json of a model folder, read when the
// first text is encoded, so that data of input_ids needs no tokenizer.
type folderTokenizer struct {
	dir string
	enc data.Encoder
}

// Encode implements data.Encoder.
func (f *folderTokenizer) Encode(text string) ([]int, error) {
	if f.enc == nil {
		path := filepath.Join(f.dir, "tokenizer.json")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("the model folder %s has no tokenizer.json to tokenise text with; give input_ids instead", f.dir)
		}
		enc, err := loadTokenizer(path)
		if err != nil {
			return nil, err
		}
		f.enc = enc
	}
	return f.enc.Encode(text)
}

// loadTokenizer reads a tokenizer.json.
func loadTokenizer(path string) (data.Encoder, error) {
	return tokenizer.Load(path)
}

// sourceTokenizerFolder returns the source folder whose tokenizer.json
// tokenises the source's text: the fine-tune's, else the source base's;
// "" when neither has one.
func sourceTokenizerFolder(sourceFT, sourceBase string) string {
	for _, dir := range []string{sourceFT, sourceBase} {
		if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
			return dir
		}
	}
	return ""
}

// crossTokens is how a transfer reads text when the source and the target
// tokenise it differently: each model reads its own token ids, the
// statistics take the rows where both have read the same text, and a
// changed embedding table or lm_head moves row by row between tokens of the
// same text.
type crossTokens struct {
	srcPath, tgtPath string
	// vocab maps the target's token ids to the source's
	// (transfer.Options.Vocab); nil when both number tokens alike.
	vocab []int
	// matched counts the target tokens with a source vocabulary entry.
	matched int
	// src and tgt are the two tokenizers.
	src, tgt *tokenizer.Tokenizer
}

// compareTokenizers compares the source's tokenizer.json (in folder
// sourceDir) with the target's. When they differ it returns how the
// transfer reads text: each model its own ids (see crossTokens); nil when
// they are the same file or either is missing (then both models read the
// target's ids). ms gives the models' vocabulary sizes.
func compareTokenizers(sourceDir, targetDir string, ms transfer.Models) (*crossTokens, error) {
	if sourceDir == "" {
		return nil, nil
	}
	srcPath, tgtPath := filepath.Join(sourceDir, "tokenizer.json"), filepath.Join(targetDir, "tokenizer.json")
	srcRaw, err1 := os.ReadFile(srcPath)
	tgtRaw, err2 := os.ReadFile(tgtPath)
	if err1 != nil || err2 != nil || bytes.Equal(srcRaw, tgtRaw) {
		return nil, nil
	}
	src, err := tokenizer.Parse(srcRaw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", srcPath, err)
	}
	tgt, err := tokenizer.Parse(tgtRaw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tgtPath, err)
	}
	cross := &crossTokens{srcPath: srcPath, tgtPath: tgtPath, src: src, tgt: tgt}
	vocabA, vocabB := vocabSize(ms.SourceBase), vocabSize(ms.TargetBase)
	if vocabA != vocabB || !sameVocabulary(src, tgt) {
		cross.vocab, cross.matched = vocabMap(src, tgt, vocabB)
	}
	return cross, nil
}

// padTokens returns ms with the fine-tune's pad token on the source base,
// and on the target base its own: the one its config names, else its
// tokenizer's token of the same text as the fine-tune's.
func (c *crossTokens) padTokens(ms transfer.Models) (transfer.Models, error) {
	ms, err := transfer.SourcePadToken(ms)
	if err != nil || model.PadTokenID(ms.TargetBase) >= 0 {
		return ms, err
	}
	pad := model.PadTokenID(ms.SourceFinetuned)
	if pad < 0 {
		return ms, nil
	}
	name, _ := c.src.Token(pad)
	id, ok := c.tgt.TokenID(name)
	if !ok {
		return ms, fmt.Errorf("the target base names no pad_token_id, and its tokenizer %s has no %q, the fine-tune's pad token: set pad_token_id in its config.json", c.tgtPath, name)
	}
	ms.TargetBase, err = model.WithPadToken(ms.TargetBase, id)
	return ms, err
}

// textOptions makes text read each line in both models' tokens.
func (c *crossTokens) textOptions(text data.TextOptions, ms transfer.Models) data.TextOptions {
	pad := model.PadTokenID(ms.SourceBase)
	if pad < 0 {
		pad = data.NoPad
	}
	text.Encoder = c.tgt
	text.Source = &data.SourceText{Encoder: c.src, PadID: pad}
	return text
}

// vocabSize is the number of rows of m's token-embedding table; 0 for a
// model without one.
func vocabSize(m model.Model) int {
	for _, s := range m.Sites() {
		if s.IsTable() {
			return s.In
		}
	}
	return 0
}

// sameVocabulary reports whether a and b give every id both have to the
// same token.
func sameVocabulary(a, b *tokenizer.Tokenizer) bool {
	for id := range max(a.VocabSize(), b.VocabSize()) {
		sa, okA := a.Token(id)
		sb, okB := b.Token(id)
		if okA && okB && sa != sb {
			return false
		}
	}
	return true
}

// vocabMap returns, for each of the target's n token ids, the source's id
// of the token that stands for the same text (a special token: of the same
// name), or −1, and how many target tokens have one.
func vocabMap(src, tgt *tokenizer.Tokenizer, n int) ([]int, int) {
	byText := map[string]int{}
	for id := src.VocabSize() - 1; id >= 0; id-- { // the lowest id wins
		if k, ok := tokenKey(src, id); ok {
			byText[k] = id
		}
	}
	out := make([]int, n)
	matched := 0
	for j := range out {
		out[j] = -1
		if k, ok := tokenKey(tgt, j); ok {
			if i, ok := byText[k]; ok {
				out[j] = i
				matched++
			}
		}
	}
	return out, matched
}

// tokenKey is what vocabMap matches tokens by: the text a token stands for,
// or a special token's name.
func tokenKey(t *tokenizer.Tokenizer, id int) (string, bool) {
	s, ok := t.TokenText(id)
	if !ok {
		return "", false
	}
	if s == "" {
		name, _ := t.Token(id)
		return "\x00special " + name, true
	}
	return s, true
}

// report describes the two tokenizations of the statistics' samples stats
// for the transfer's report: how many of the target's tokens (padding
// aside) line up with one of the source's, and how many of its vocabulary
// entries have a source token.
func (c *crossTokens) report(stats transfer.Samples, target model.Model) *report.Tokenizers {
	r := &report.Tokenizers{Source: c.srcPath, Target: c.tgtPath, TargetTokens: stats.Inputs.Numel()}
	if pad := model.Padding(target, stats.Inputs); pad != nil {
		r.TargetTokens = 0
		for _, p := range pad {
			if !p {
				r.TargetTokens++
			}
		}
	}
	for _, rows := range stats.Rows {
		r.MatchedTokens += len(rows)
	}
	if c.vocab != nil {
		r.TargetVocab, r.VocabMatched = len(c.vocab), c.matched
	}
	return r
}
