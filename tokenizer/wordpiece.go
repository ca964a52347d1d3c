package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// A wordModel turns the words of the pre-tokenizer into ids: BPE or
// WordPiece.
type wordModel interface {
	// tokenize appends the ids of word to dst.
	tokenize(dst []int, word string) ([]int, error)
	// words is the model's vocabulary.
	words() *vocabulary
}

// vocabulary is what every model has: its tokens by text and by id, and
// how a token's text marks its place in a word.
type vocabulary struct {
	vocab        map[string]int
	vocabR       map[int]string
	prefix       string // continuing_subword_prefix: marks a token inside a word
	suffix       string // end_of_word_suffix: marks a token ending a word
	byteFallback bool   // spell unknown characters with <0xAB> tokens
}

// newVocabulary indexes vocab by id.
func newVocabulary(vocab map[string]int, prefix string) (vocabulary, error) {
	v := vocabulary{vocab: vocab, vocabR: make(map[int]string, len(vocab)), prefix: prefix}
	for s, id := range vocab {
		if id < 0 || id > 1<<31-1 {
			return v, fmt.Errorf("token %q has id %d, out of range", s, id)
		}
		v.vocabR[id] = s
	}
	return v, nil
}

func (v *vocabulary) words() *vocabulary { return v }

// wordPiece is the WordPiece model of BERT: each word is split greedily
// into the longest tokens of the vocabulary from its start, the ones after
// the first written with the continuing_subword_prefix ("##"); a word that
// cannot be split so, or is longer than maxChars characters, is the unknown
// token.
type wordPiece struct {
	vocabulary
	unk      int // the id of unk_token
	maxChars int // max_input_chars_per_word
}

// tokenize appends the ids of word to dst.
func (m *wordPiece) tokenize(dst []int, word string) ([]int, error) {
	if word == "" {
		return dst, nil
	}
	if utf8.RuneCountInString(word) > m.maxChars {
		return append(dst, m.unk), nil
	}
	n := len(dst)
	for start := 0; start < len(word); {
		end, id := len(word), -1
		for end > start {
			sub := word[start:end]
			if start > 0 {
				sub = m.prefix + sub
			}
			if found, ok := m.vocab[sub]; ok {
				id = found
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if id < 0 {
			return append(dst[:n], m.unk), nil // the whole word is unknown
		}
		dst = append(dst, id)
		start = end
	}
	return dst, nil
}
