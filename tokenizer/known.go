package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds hand-written matchers for the regular expressions of
// GPT-2 and of Llama-3 (cl100k) and Qwen2, with the meaning Oniguruma gives
// them: \s is Unicode white space, \p{L} letters, \p{N} numbers, and the
// alternatives are tried in order at each position.

// matchGPT2 matches gpt2Pattern at p:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func matchGPT2(s string, p int) int {
	if p >= len(s) {
		return -1
	}
	if s[p] == '\'' {
		if end := contraction(s, p+1, false); end >= 0 {
			return end
		}
	}
	q := p
	if s[p] == ' ' {
		q++
	}
	if q < len(s) {
		r, n := utf8.DecodeRuneInString(s[q:])
		switch {
		case unicode.IsLetter(r):
			return runEnd(s, q+n, unicode.IsLetter)
		case unicode.IsNumber(r):
			return runEnd(s, q+n, unicode.IsNumber)
		case isOther(r):
			return runEnd(s, q+n, isOther)
		}
	}
	return matchSpaces(s, p)
}

// matchLlama3 matches llama3Pattern at p:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func matchLlama3(s string, p int) int { return matchCL100k(s, p, 3) }

// matchQwen2 matches qwen2Pattern at p, which is llama3Pattern with \p{N}
// in place of \p{N}{1,3}.
func matchQwen2(s string, p int) int { return matchCL100k(s, p, 1) }

// matchCL100k matches llama3Pattern at p, with at most maxDigits numbers
// in a match.
func matchCL100k(s string, p, maxDigits int) int {
	if p >= len(s) {
		return -1
	}
	if s[p] == '\'' {
		if end := contraction(s, p+1, true); end >= 0 {
			return end
		}
	}
	r, n := utf8.DecodeRuneInString(s[p:])
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if unicode.IsLetter(r) {
		return runEnd(s, p+n, unicode.IsLetter)
	}
	if r != '\r' && r != '\n' && !unicode.IsNumber(r) && p+n < len(s) {
		r2, n2 := utf8.DecodeRuneInString(s[p+n:])
		if unicode.IsLetter(r2) {
			return runEnd(s, p+n+n2, unicode.IsLetter)
		}
	}
	// \p{N}{1,3}
	if unicode.IsNumber(r) {
		end := p + n
		for k := 1; k < maxDigits && end < len(s); k++ {
			r2, n2 := utf8.DecodeRuneInString(s[end:])
			if !unicode.IsNumber(r2) {
				break
			}
			end += n2
		}
		return end
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	if r == ' ' && p+1 < len(s) {
		r2, n2 := utf8.DecodeRuneInString(s[p+1:])
		if isOther(r2) {
			return newlinesEnd(s, runEnd(s, p+1+n2, isOther))
		}
	}
	if isOther(r) {
		return newlinesEnd(s, runEnd(s, p+n, isOther))
	}
	// \s*[\r\n]+
	if end, count, _ := spaceRun(s, p); count > 0 {
		if j := strings.LastIndexAny(s[p:end], "\r\n"); j >= 0 {
			return p + j + 1
		}
	}
	return matchSpaces(s, p)
}

// contraction matches one of s, t, re, ve, m, ll and d at i, ignoring case
// if fold is set, and returns the end of the match or -1.
func contraction(s string, i int, fold bool) int {
	for _, c := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
		if end := matchFold(s, i, c, fold); end >= 0 {
			return end
		}
	}
	return -1
}

// matchFold matches the lower-case ASCII lit at i, ignoring case if fold
// is set, and returns the end of the match or -1. Ignoring case, s also
// matches the long s, ſ, which Unicode case folding maps to s.
func matchFold(s string, i int, lit string, fold bool) int {
	for j := 0; j < len(lit); j++ {
		switch {
		case i < len(s) && s[i] == lit[j]:
			i++
		case !fold:
			return -1
		case i < len(s) && s[i] == lit[j]-'a'+'A':
			i++
		case lit[j] == 's' && strings.HasPrefix(s[i:], "ſ"):
			i += len("ſ")
		default:
			return -1
		}
	}
	return i
}

// matchSpaces matches \s+(?!\S)|\s+ at p.
func matchSpaces(s string, p int) int {
	end, n, last := spaceRun(s, p)
	switch {
	case n == 0:
		return -1
	case end == len(s) || n == 1:
		return end
	}
	return end - last
}

// runEnd returns the end of the run of characters with property is that
// starts at i.
func runEnd(s string, i int, is func(rune) bool) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !is(r) {
			break
		}
		i += n
	}
	return i
}

// newlinesEnd returns the end of the run of \r and \n that starts at i.
func newlinesEnd(s string, i int) int {
	for i < len(s) && (s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// isOther reports whether r is neither white space, a letter nor a
// number: [^\s\p{L}\p{N}].
func isOther(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
}
