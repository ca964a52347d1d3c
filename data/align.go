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
// 0…i and of b's tokens 0…j end at one point of the shortest edit script
// between the two texts, each with a byte both texts share. Where a
// normalizer changed the text (an accent stripped, a ligature expanded),
// the tokens around the change pair with none and those after it pair
// again. Where several tokens of an encoding end at the same place (a token
// of spaces, a special token such as BOS), the last of a's are paired with
// the last of b's, in order, as many as both have: two identical encodings
// pair every token.
func MatchTokens(a, b []string) []RowPair {
	endsA, textA := contentEnds(a)
	endsB, textB := contentEnds(b)
	at := alignText(textA, textB)
	var out []RowPair
	i, j := 0, 0
	for i < len(endsA) {
		e := endsA[i]
		i2 := i
		for i2 < len(endsA) && endsA[i2] == e {
			i2++
		}
		f := at[e]
		if f < 0 {
			i = i2
			continue
		}
		for j < len(endsB) && endsB[j] < f {
			j++
		}
		// The groups of tokens that end at the aligned points: a's [i, i2),
		// b's [j, j2).
		j2 := j
		for j2 < len(endsB) && endsB[j2] == f {
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

// maxEdits bounds the edit script alignText looks for: texts further apart
// align on their common prefix alone.
const maxEdits = 512

// alignText returns, for each cut point p of x (0 … len(x)), the cut point
// of y that a shortest edit script from x to y (Myers' greedy algorithm)
// passes through with a shared byte just before it, or at the start; −1
// where there is none.
func alignText(x, y []byte) []int {
	n, m := len(x), len(y)
	at := make([]int, n+1)
	for i := range at {
		at[i] = -1
	}
	at[0] = 0
	// far[k] is the furthest x on diagonal k = x − y, offset by off; trace
	// keeps, for each number of edits d, the band of far for diagonals −d … d
	// before round d.
	off := min(n+m, maxEdits) + 1
	far := make([]int, 2*off+1)
	var trace [][]int
	end := -1
	for d := 0; d <= min(n+m, maxEdits) && end < 0; d++ {
		trace = append(trace, append([]int(nil), far[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var i int
			if k == -d || k != d && far[off+k-1] < far[off+k+1] {
				i = far[off+k+1] // from the diagonal above: y advanced
			} else {
				i = far[off+k-1] + 1 // from the diagonal below: x advanced
			}
			j := i - k
			for i < n && j < m && x[i] == y[j] {
				i, j = i+1, j+1
			}
			far[off+k] = i
			if i >= n && j >= m {
				end = d
				break
			}
		}
	}
	if end < 0 {
		// Too far apart: align the common prefix.
		for p := 0; p < min(n, m) && x[p] == y[p]; p++ {
			at[p+1] = p + 1
		}
		return at
	}
	i, j := n, m
	for d := end; d >= 0; d-- {
		k := i - j
		prevI, prevJ := 0, 0
		if d > 0 {
			band := trace[d] // far for diagonals −d … d before round d
			get := func(k int) int { return band[k+d] }
			prevK := k - 1
			if k == -d || k != d && get(k-1) < get(k+1) {
				prevK = k + 1
			}
			prevI = get(prevK)
			prevJ = prevI - prevK
		}
		for i > prevI && j > prevJ {
			at[i] = j // a shared byte, x[i−1] = y[j−1], before this point
			i, j = i-1, j-1
		}
		i, j = prevI, prevJ
	}
	return at
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
