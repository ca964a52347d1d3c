package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// An addedToken is a token of the added_tokens list, matched in the text
// before the model runs.
type addedToken struct {
	content    string
	id         int
	singleWord bool // match only a whole word
	lstrip     bool // take the white space on its left
	rstrip     bool // take the white space on its right
	normalized bool // match against the normalized text
	special    bool
}

// An addedVocab holds the added tokens and the two sets that find them:
// one on the raw text, one on the normalized text.
type addedVocab struct {
	byContent map[string]int
	byID      map[int]*addedToken
	raw       *tokenMatcher // tokens with normalized false; nil if none
	norm      *tokenMatcher // tokens with normalized true; nil if none
}

// newAddedVocab adds the tokens in order as the Rust library does when it
// reads a file: a token takes the id that its content already has, in the
// added tokens or in the model's vocabulary, and otherwise the next id
// after the vocabulary.
func newAddedVocab(tokens []addedToken, m *vocabulary, norm normalizer) (*addedVocab, error) {
	v := &addedVocab{byContent: map[string]int{}, byID: map[int]*addedToken{}}
	next := len(m.vocab)
	for i := range tokens {
		t := tokens[i]
		if t.content == "" {
			continue
		}
		id, ok := v.byContent[t.content]
		if !ok {
			id, ok = m.vocab[t.content]
		}
		if !ok {
			id = next
			next++
		}
		t.id = id
		v.byContent[t.content] = id
		v.byID[id] = &t
	}
	return v, v.buildMatchers(norm)
}

// buildMatchers builds the raw and the normalized token sets.
func (v *addedVocab) buildMatchers(norm normalizer) error {
	raw, normed := newTokenMatcher(), newTokenMatcher()
	ids := make([]int, 0, len(v.byID))
	for id := range v.byID {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		t := v.byID[id]
		if !t.normalized {
			if err := raw.add(t.content, t); err != nil {
				return err
			}
			continue
		}
		pattern := t.content
		if norm != nil {
			pattern = norm.normalize(pattern)
		}
		if err := normed.add(pattern, t); err != nil {
			return err
		}
	}
	v.raw, v.norm = raw.done(), normed.done()
	return nil
}

// extract splits text into pieces: added tokens found in the raw text,
// then, in the rest normalized, added tokens found in the normalized text.
func (v *addedVocab) extract(text string, norm normalizer) []piece {
	var out []piece
	for _, sp := range v.raw.split(text) {
		s := text[sp.start:sp.end]
		if s == "" {
			continue
		}
		if sp.id >= 0 {
			out = append(out, piece{text: s, id: sp.id})
			continue
		}
		first := sp.start == 0
		if norm != nil {
			s = norm.normalize(s)
		}
		for _, sp2 := range v.norm.split(s) {
			if sp2.start == sp2.end {
				continue
			}
			out = append(out, piece{
				text:  s[sp2.start:sp2.end],
				id:    sp2.id,
				first: first && sp2.start == 0,
			})
		}
	}
	return out
}

// A tokenMatcher finds added tokens in a text, leftmost first and, among
// those starting at the same place, longest first.
type tokenMatcher struct {
	byFirst [256][]candidate // by first byte, longest first
	n       int
}

// A candidate is one pattern of a tokenMatcher.
type candidate struct {
	pattern string
	tok     *addedToken
}

func newTokenMatcher() *tokenMatcher { return &tokenMatcher{} }

// add adds pattern, which matches the token t.
func (m *tokenMatcher) add(pattern string, t *addedToken) error {
	if pattern == "" {
		return fmt.Errorf("added token %q is empty after normalization", t.content)
	}
	for _, c := range m.byFirst[pattern[0]] {
		if c.pattern == pattern {
			return fmt.Errorf("added tokens %q and %q match the same text %q", c.tok.content, t.content, pattern)
		}
	}
	m.byFirst[pattern[0]] = append(m.byFirst[pattern[0]], candidate{pattern, t})
	m.n++
	return nil
}

// done sorts the patterns, longest first, and returns m, or nil if m is
// empty.
func (m *tokenMatcher) done() *tokenMatcher {
	if m.n == 0 {
		return nil
	}
	for i := range m.byFirst {
		cs := m.byFirst[i]
		sort.SliceStable(cs, func(a, b int) bool { return len(cs[a].pattern) > len(cs[b].pattern) })
	}
	return m
}

// find returns the leftmost-longest match at or after byte offset from.
func (m *tokenMatcher) find(s string, from int) (start, end int, t *addedToken) {
	for p := from; p < len(s); p++ {
		for _, c := range m.byFirst[s[p]] {
			if strings.HasPrefix(s[p:], c.pattern) {
				return p, p + len(c.pattern), c.tok
			}
		}
	}
	return 0, 0, nil
}

// A tokenSpan is a part of a text, an added token (id >= 0) or not.
type tokenSpan struct {
	start, end int
	id         int
}

// split cuts s into spans, covering s, that are added tokens or not, with
// the tokens' single_word, lstrip and rstrip rules.
func (m *tokenMatcher) split(s string) []tokenSpan {
	if m == nil || s == "" {
		return []tokenSpan{{0, len(s), -1}}
	}
	var out []tokenSpan
	done := 0 // end of the last span
	for pos := 0; pos < len(s); {
		start, stop, t := m.find(s, pos)
		if t == nil {
			break
		}
		pos = stop
		if t.singleWord && !isSingleWord(s, start, stop) {
			continue
		}
		if t.lstrip {
			start = max(spacesAtEnd(s[:start]), done)
		}
		if t.rstrip {
			stop += spacesAtStart(s[stop:])
		}
		if start < done {
			// A previous token took this text with its white space.
			if stop <= done {
				continue
			}
			start = done
		}
		if done < start {
			out = append(out, tokenSpan{done, start, -1})
		}
		out = append(out, tokenSpan{start, stop, t.id})
		done = stop
	}
	if done != len(s) {
		out = append(out, tokenSpan{done, len(s), -1})
	}
	return out
}

// isSingleWord reports whether s[start:stop] is not preceded nor followed
// by a word character.
func isSingleWord(s string, start, stop int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:start])
		if isWordChar(r) {
			return false
		}
	}
	if stop < len(s) {
		r, _ := utf8.DecodeRuneInString(s[stop:])
		if isWordChar(r) {
			return false
		}
	}
	return true
}

// isWordChar reports whether r is a word character of Unicode regular
// expressions (\w): alphabetic, a mark, a decimal digit, a connector
// punctuation or a join control.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) ||
		unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.Is(unicode.Join_Control, r)
}

// spacesAtEnd returns the offset where the white space at the end of s
// starts.
func spacesAtEnd(s string) int {
	return len(strings.TrimRightFunc(s, unicode.IsSpace))
}

// spacesAtStart returns the length of the white space at the start of s.
func spacesAtStart(s string) int {
	return len(s) - len(strings.TrimLeftFunc(s, unicode.IsSpace))
}
