package tokenizer

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids as described by a tokenizer.json
// file. A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	name  string // file name used in error messages
	added *addedVocab
	norm  normalizer    // nil: no normalizer
	pre   preTokenizer  // nil: no pre-tokenizer
	model wordModel     // the model
	post  postProcessor // nil: no post-processor
}

// Load reads and parses the tokenizer.json file at path.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parse(path, data)
}

// Parse parses the contents of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	return parse("tokenizer.json", data)
}

// Encode returns the token ids of text, with the special tokens that the
// post-processor adds, such as a BOS token at the start.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	return t.encode(text, true)
}

// EncodeRaw returns the token ids of text without the special tokens of
// the post-processor. Added tokens written in the text, such as
// "<|eot_id|>", are still recognized.
func (t *Tokenizer) EncodeRaw(text string) ([]int, error) {
	return t.encode(text, false)
}

// TokenID returns the id of the token s, an added token such as "<pad>"
// or a token of the model's vocabulary, and whether there is one.
func (t *Tokenizer) TokenID(s string) (int, bool) {
	if id, ok := t.added.byContent[s]; ok {
		return id, true
	}
	id, ok := t.model.words().vocab[s]
	return id, ok
}

// Token returns the token whose id is id, and whether there is one.
func (t *Tokenizer) Token(id int) (string, bool) {
	if tok, ok := t.added.byID[id]; ok {
		return tok.content, true
	}
	s, ok := t.model.words().vocabR[id]
	return s, ok
}

// VocabSize returns the number of distinct tokens: those of the model's
// vocabulary and the added tokens. It is len(tokenizer) in transformers,
// and usually one more than the largest id.
func (t *Tokenizer) VocabSize() int {
	vocab := t.model.words().vocab
	n := len(vocab)
	for s := range t.added.byContent {
		if _, ok := vocab[s]; !ok {
			n++
		}
	}
	return n
}

// encode runs the whole pipeline on text.
func (t *Tokenizer) encode(text string, addSpecial bool) ([]int, error) {
	text = validUTF8(text)
	pieces := t.added.extract(text, t.norm)
	if t.pre != nil {
		pieces = preTokenizeAll(t.pre, pieces)
	}
	ids := make([]int, 0, len(text)/3+2)
	var err error
	for _, p := range pieces {
		if p.id >= 0 {
			ids = append(ids, p.id)
			continue
		}
		if ids, err = t.model.tokenize(ids, p.text); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", t.name, err)
		}
	}
	if t.post != nil {
		ids = t.post.process(ids, addSpecial)
	}
	return ids, nil
}

// validUTF8 returns s with each byte of an invalid UTF-8 sequence replaced
// by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// A piece is a part of the text on its way through the pipeline.
type piece struct {
	text  string
	id    int  // id of the added token the piece is, or -1
	first bool // whether the piece starts the text
}
