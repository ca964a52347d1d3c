package main

import (
	"fmt"
	"os"
	"path/filepath"

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
