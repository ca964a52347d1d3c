package tokenizer

import (
	"strings"
	"unicode"
)

// A preTokenizer splits a piece of normalized text into words.
type preTokenizer interface {
	// split appends the parts of p to dst. Empty parts are dropped by
	// the caller.
	split(dst []piece, p piece) []piece
}

// preTokenizeAll applies t to the pieces that are not added tokens and
// drops the empty results.
func preTokenizeAll(t preTokenizer, ps []piece) []piece {
	out := make([]piece, 0, len(ps)*4)
	for _, p := range ps {
		if p.id >= 0 {
			out = append(out, p)
			continue
		}
		n := len(out)
		out = t.split(out, p)
		kept := n
		for _, q := range out[n:] {
			if q.text != "" {
				out[kept] = q
				kept++
			}
		}
		out = out[:kept]
	}
	return out
}

// preSequence runs pre-tokenizers in turn.
type preSequence []preTokenizer

func (q preSequence) split(dst []piece, p piece) []piece {
	ps := []piece{p}
	for _, t := range q {
		ps = preTokenizeAll(t, ps)
	}
	return append(dst, ps...)
}

// A behavior says what a split does with the matches of its pattern.
type behavior int

const (
	removed            behavior = iota // drop the matches
	isolated                           // keep each match as its own part
	mergedWithPrevious                 // append each match to the part before
	mergedWithNext                     // prepend each match to the part after
	contiguous                         // keep runs of matches as one part
)

// behaviors maps the names of tokenizer.json to behaviors.
var behaviors = map[string]behavior{
	"Removed":            removed,
	"Isolated":           isolated,
	"MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext":     mergedWithNext,
	"Contiguous":         contiguous,
}

// splitSpans appends to dst the parts of p cut at spans, which cover
// p.text, as behavior b says.
func splitSpans(dst []piece, p piece, spans []span, b behavior) []piece {
	var parts []span // parts to keep; match is true for parts to remove
	switch b {
	case isolated:
		parts = spans
		for i := range parts {
			parts[i].match = false
		}
	case removed:
		parts = spans
	case contiguous:
		prev := false
		for _, s := range spans {
			if s.match == prev && len(parts) > 0 {
				parts[len(parts)-1].end = s.end
			} else {
				parts = append(parts, span{s.start, s.end, false})
			}
			prev = s.match
		}
	case mergedWithPrevious:
		prev := false
		for _, s := range spans {
			if s.match && !prev && len(parts) > 0 {
				parts[len(parts)-1].end = s.end
			} else {
				parts = append(parts, span{s.start, s.end, false})
			}
			prev = s.match
		}
	case mergedWithNext:
		prev := false
		for i := len(spans) - 1; i >= 0; i-- {
			s := spans[i]
			if s.match && !prev && len(parts) > 0 {
				parts[len(parts)-1].start = s.start
			} else {
				parts = append(parts, span{s.start, s.end, false})
			}
			prev = s.match
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	for _, s := range parts {
		if !s.match {
			dst = append(dst, piece{text: p.text[s.start:s.end], id: -1, first: p.first && s.start == 0})
		}
	}
	return dst
}

// byteLevel splits with the GPT-2 pattern, if useRegex is set, and maps
// the bytes of each part to GPT-2 characters.
type byteLevel struct {
	addPrefixSpace bool
	useRegex       bool
}

var gpt2Regexp = alternation{handWritten(matchGPT2)}

func (t byteLevel) split(dst []piece, p piece) []piece {
	if t.addPrefixSpace && !strings.HasPrefix(p.text, " ") {
		p.text = " " + p.text
	}
	n := len(dst)
	if t.useRegex {
		dst = splitSpans(dst, p, patternSpans(gpt2Regexp, p.text), isolated)
	} else {
		dst = append(dst, p)
	}
	for i := n; i < len(dst); i++ {
		dst[i].text = byteLevelString(dst[i].text)
	}
	return dst
}

// splitPattern splits at the matches of a pattern, or of the text between
// them if invert is set.
type splitPattern struct {
	pat      pattern
	behavior behavior
	invert   bool
}

func (t splitPattern) split(dst []piece, p piece) []piece {
	spans := patternSpans(t.pat, p.text)
	if t.invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	return splitSpans(dst, p, spans, t.behavior)
}

// A prependScheme says when Metaspace adds a replacement character in
// front of a piece.
type prependScheme int

const (
	prependAlways prependScheme = iota // always
	prependFirst                       // only for the piece that starts the text
	prependNever                       // never
)

// metaspace replaces spaces with a replacement character, prepends one,
// and cuts the text before each one if splitWords is set.
type metaspace struct {
	replacement rune
	scheme      prependScheme
	splitWords  bool
}

func (t metaspace) split(dst []piece, p piece) []piece {
	rep := string(t.replacement)
	p.text = strings.ReplaceAll(p.text, " ", rep)
	if p.text != "" && !strings.HasPrefix(p.text, rep) &&
		(t.scheme == prependAlways || t.scheme == prependFirst && p.first) {
		p.text = rep + p.text
	}
	if !t.splitWords {
		return append(dst, p)
	}
	is := func(r rune) bool { return r == t.replacement }
	return splitSpans(dst, p, runeSpans(is, p.text), mergedWithNext)
}

// digits splits out numbers, each digit alone if individual is set.
type digits struct{ individual bool }

func (t digits) split(dst []piece, p piece) []piece {
	b := contiguous
	if t.individual {
		b = isolated
	}
	return splitSpans(dst, p, runeSpans(unicode.IsNumber, p.text), b)
}

// whitespaceSplit splits at white space, which it drops.
type whitespaceSplit struct{}

func (whitespaceSplit) split(dst []piece, p piece) []piece {
	return splitSpans(dst, p, runeSpans(unicode.IsSpace, p.text), removed)
}

// whitespace keeps the runs of word characters and the runs of other
// characters that are not white space: \w+|[^\w\s]+.
type whitespace struct{}

func (whitespace) split(dst []piece, p piece) []piece {
	s := p.text
	var spans []span
	for i := 0; i < len(s); {
		end := runEnd(s, i, isWordChar)
		if end == i {
			end = runEnd(s, i, func(r rune) bool { return !isWordChar(r) && !unicode.IsSpace(r) })
		}
		if end == i {
			end = runEnd(s, i, unicode.IsSpace)
			spans = append(spans, span{i, end, true})
		} else {
			spans = append(spans, span{i, end, false})
		}
		i = end
	}
	return splitSpans(dst, p, spans, removed)
}

// punctuation splits out punctuation characters.
type punctuation struct{ behavior behavior }

func (t punctuation) split(dst []piece, p piece) []piece {
	return splitSpans(dst, p, runeSpans(isPunctuation, p.text), t.behavior)
}

// isPunctuation reports whether r is ASCII punctuation or in a Unicode
// punctuation category.
func isPunctuation(r rune) bool {
	return unicode.IsPunct(r) || r < 0x80 && unicode.IsSymbol(r)
}

// bertPre splits at white space, then isolates punctuation.
type bertPre struct{}

func (bertPre) split(dst []piece, p piece) []piece {
	var words []piece
	words = splitSpans(words, p, runeSpans(unicode.IsSpace, p.text), removed)
	for _, w := range words {
		dst = splitSpans(dst, w, runeSpans(isPunctuation, w.text), isolated)
	}
	return dst
}
