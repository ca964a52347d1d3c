package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tokenizer"
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

// agreeOnTokens makes text's encoder check that the source's tokenizer
// (the one in folder sourceDir) agrees with the target's, whose ids both
// models are given. It refuses tokenizers that give one id to different
// tokens at once, and checks each text's ids as it is encoded. Without a
// tokenizer.json on both sides there is nothing to compare.
func agreeOnTokens(text data.TextOptions, sourceDir, targetDir string) (data.TextOptions, error) {
	if _, ok := text.Encoder.(*folderTokenizer); !ok || sourceDir == "" {
		return text, nil
	}
	srcPath, tgtPath := filepath.Join(sourceDir, "tokenizer.json"), filepath.Join(targetDir, "tokenizer.json")
	srcRaw, err1 := os.ReadFile(srcPath)
	tgtRaw, err2 := os.ReadFile(tgtPath)
	if err1 != nil || err2 != nil || bytes.Equal(srcRaw, tgtRaw) {
		return text, nil
	}
	src, err := tokenizer.Parse(srcRaw)
	if err != nil {
		return text, fmt.Errorf("%s: %w", srcPath, err)
	}
	tgt, err := tokenizer.Parse(tgtRaw)
	if err != nil {
		return text, fmt.Errorf("%s: %w", tgtPath, err)
	}
	if err := sameVocabulary(src, tgt); err != nil {
		return text, fmt.Errorf("the source's tokenizer %s and the target's %s %w: bico gives both models the target's token ids, so they need one vocabulary", srcPath, tgtPath, err)
	}
	text.Encoder = &agreedEncoder{target: tgt, source: src, srcPath: srcPath, tgtPath: tgtPath}
	return text, nil
}

// sameVocabulary returns an error naming the first token id that a and b
// give to different tokens. Ids only one of them has are not compared (a
// newer vocabulary may add tokens).
func sameVocabulary(a, b *tokenizer.Tokenizer) error {
	n := max(a.VocabSize(), b.VocabSize())
	for id := 0; id < n; id++ {
		sa, okA := a.Token(id)
		sb, okB := b.Token(id)
		if okA && okB && sa != sb {
			return fmt.Errorf("give token id %d to %q and %q", id, sa, sb)
		}
	}
	return nil
}

// agreedEncoder encodes with the target's tokenizer and refuses text the
// source's tokenizer splits otherwise.
type agreedEncoder struct {
	target, source   *tokenizer.Tokenizer
	srcPath, tgtPath string
}

// Encode implements data.Encoder.
func (e *agreedEncoder) Encode(text string) ([]int, error) {
	ids, err := e.target.Encode(text)
	if err != nil {
		return nil, err
	}
	src, err := e.source.Encode(text)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(ids, src) {
		i := 0
		for i < min(len(ids), len(src)) && ids[i] == src[i] {
			i++
		}
		return nil, fmt.Errorf("the source's tokenizer %s and the target's %s split this text differently (%d and %d tokens, first difference at token %d): bico gives both models the target's token ids, so the tokenizers must agree",
			e.srcPath, e.tgtPath, len(src), len(ids), i)
	}
	return ids, nil
}
