package data

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// RowPair is a pair of token positions in two encodings of one text, the
// source model's (A) and the target model's (B), after which both models
// have read the same part of the text.
type RowPair struct{ A, B int }

// TextEncoder is an Encoder that also says which text each token stands
// for (tokenizer.Tokenizer is one).
type TextEncoder interface {
	Encoder
	TokenText(id int) (string, bool)
}

// SourceText asks LoadText to encode each text a second time, for the
// source model of a transfer whose tokenizer differs from the target's
// (TextOptions.Encoder), and to match the two encodings' tokens
// (MatchTokens).
type SourceText struct {
	// Encoder is the source's tokenizer.
	Encoder TextEncoder
	// PadID is the source's pad token, as TextOptions.PadID.
	PadID int
}

// SourceTokens are a text dataset's sequences as the source model of a
// transfer tokenises them (TextOptions.Source).
type SourceTokens struct {
	// Inputs are the source's token ids [N, T_A], padded at their end
	// with its pad token.
	Inputs *tensor.Tensor[float32]
	// Rows holds, for each sample, the positions (source, target) after
	// which both encodings have read the same text, in increasing order.
	Rows [][]RowPair
}

// validate checks s (nil is valid) against the target's token ids of
// shape [N, T]: one source sequence and one list of pairs per sample, the
// pairs within both sequences.
func (s *SourceTokens) validate(shape []int) error {
	if s == nil {
		return nil
	}
	if len(shape) != 2 || s.Inputs == nil || len(s.Inputs.Shape) != 2 || s.Inputs.Shape[0] != shape[0] || len(s.Rows) != shape[0] {
		return fmt.Errorf("data: source tokens do not fit the %v samples", shape)
	}
	for i, rows := range s.Rows {
		for _, r := range rows {
			if r.A < 0 || r.A >= s.Inputs.Shape[1] || r.B < 0 || r.B >= shape[1] {
				return fmt.Errorf("data: sample %d pairs source token %d with target token %d, beyond its %d and %d tokens", i, r.A, r.B, s.Inputs.Shape[1], shape[1])
			}
		}
	}
	return nil
}

// subset returns samples idx of s.
func (s *SourceTokens) subset(idx []int) *SourceTokens {
	t := s.Inputs.Shape[1]
	out := &SourceTokens{Inputs: tensor.New[float32](len(idx), t), Rows: make([][]RowPair, len(idx))}
	for k, i := range idx {
		copy(out.Inputs.Data[k*t:(k+1)*t], s.Inputs.Data[i*t:(i+1)*t])
		out.Rows[k] = s.Rows[i]
	}
	return out
}

// MatchTokens returns the pairs of positions (i in a, j in b) of two
// encodings of one text, given as the texts of their tokens, after which
// both have read the same text, white space and ASCII case aside (an
// uncased tokenizer lowercases): the folded non-space bytes of a's tokens
// 0…i are those of b's tokens 0…j. Where several tokens of an
// encoding end at the same place (a token of spaces, a special token such
// as BOS), the last of a's are paired with the last of b's, in order, as
// many as both have: two identical encodings pair every token. Past the
// first byte where the two texts differ (a normalizer lowercased one, an
// unknown token), nothing is paired.
func MatchTokens(a, b []string) []RowPair {
	endsA, textA := contentEnds(a)
	endsB, textB := contentEnds(b)
	same := 0
	for same < min(len(textA), len(textB)) && textA[same] == textB[same] {
		same++
	}
	var out []RowPair
	i, j := 0, 0
	for i < len(endsA) && endsA[i] <= same {
		e := endsA[i]
		for j < len(endsB) && endsB[j] < e {
			j++
		}
		// The groups of tokens that end at e: a's [i, i2), b's [j, j2).
		i2, j2 := i, j
		for i2 < len(endsA) && endsA[i2] == e {
			i2++
		}
		for j2 < len(endsB) && endsB[j2] == e {
			j2++
		}
		n := min(i2-i, j2-j)
		for k := n; k > 0; k-- {
			out = append(out, RowPair{A: i2 - k, B: j2 - k})
		}
		i, j = i2, j2
	}
	return out
}

// contentEnds returns, for each token, the number of folded non-space
// bytes the tokens up to it stand for, and those bytes.
func contentEnds(tokens []string) ([]int, []byte) {
	ends := make([]int, len(tokens))
	var text []byte
	for i, s := range tokens {
		s = fold(s)
		for k := 0; k < len(s); k++ {
			if c := s[k]; c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f' {
				text = append(text, c)
			}
		}
		ends[i] = len(text)
	}
	return ends, text
}

// tokenTexts returns the texts of ids by enc.
func tokenTexts(enc TextEncoder, ids []int) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		s, ok := enc.TokenText(id)
		if !ok {
			return nil, fmt.Errorf("token id %d is not in the tokenizer's vocabulary", id)
		}
		out[i] = s
	}
	return out, nil
}

// fold returns s with its ASCII letters lowercased, as an uncased
// tokenizer leaves them. Byte by byte, so that it does not depend on where
// tokens cut the text (a byte-level token may hold part of a character);
// other characters, accented ones included, are compared as they are.
func fold(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			if b == nil {
				b = []byte(s)
			}
			b[i] = c + 'a' - 'A'
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}
