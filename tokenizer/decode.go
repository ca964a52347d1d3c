package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// TokenText returns the text a token stands for, as the token's share of
// the text it was encoded from: a byte-level token's bytes, a <0xAB>
// byte-fallback token's byte, the space of a metaspace "▁" (or of whatever
// a Replace normalizer put for a space), without the model's
// continuing_subword_prefix and end_of_word_suffix. A special added token
// (such as "<s>") stands for no text: "". ok is false when no token has
// this id.
//
// Concatenated over an encoding, the texts give back the encoded text up to
// what the normalizer changed (a space prepended, case, Unicode
// normalization) and up to byte-level tokens that split a character (whose
// texts are then parts of its UTF-8 bytes).
func (t *Tokenizer) TokenText(id int) (string, bool) {
	if tok, ok := t.added.byID[id]; ok {
		if tok.special {
			return "", true
		}
		return tok.content, true
	}
	w := t.model.words()
	s, ok := w.vocabR[id]
	if !ok {
		return "", false
	}
	if w.byteFallback {
		if b, ok := fallbackByte(s); ok {
			return string([]byte{b}), true
		}
	}
	if w.prefix != "" {
		s = strings.TrimPrefix(s, w.prefix)
	}
	if w.suffix != "" {
		s = strings.TrimSuffix(s, w.suffix)
	}
	if usesByteLevel(t.norm, t.pre) {
		return byteLevelBytes(s), true
	}
	for _, sp := range spaceStandIns(t.norm, t.pre) {
		s = strings.ReplaceAll(s, sp, " ")
	}
	return s, true
}

// fallbackByte reads a byte-fallback token "<0xAB>".
func fallbackByte(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range s[3:5] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = byte(c - '0')
		case 'A' <= c && c <= 'F':
			v = byte(c-'A') + 10
		case 'a' <= c && c <= 'f':
			v = byte(c-'a') + 10
		default:
			return 0, false
		}
		b = b<<4 | v
	}
	return b, true
}

// byteOfChar maps GPT-2's byte-level characters back to their bytes.
var byteOfChar = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteChars {
		m[r] = byte(b)
	}
	return m
}()

// byteLevelBytes returns the bytes a byte-level token's characters stand
// for; a character outside the byte-level alphabet stands for itself.
func byteLevelBytes(s string) string {
	var b strings.Builder
	for _, r := range s {
		if c, ok := byteOfChar[r]; ok {
			b.WriteByte(c)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// usesByteLevel reports whether the normalizer or the pre-tokenizer maps
// bytes to GPT-2's byte-level characters.
func usesByteLevel(n normalizer, p preTokenizer) bool {
	found := false
	walkNormalizers(n, func(n normalizer) {
		_, ok := n.(byteLevelNorm)
		found = found || ok
	})
	walkPreTokenizers(p, func(p preTokenizer) {
		_, ok := p.(byteLevel)
		found = found || ok
	})
	return found
}

// spaceStandIns returns the strings the normalizer or the pre-tokenizer
// writes in place of a space: a metaspace replacement, a Replace of " ".
func spaceStandIns(n normalizer, p preTokenizer) []string {
	var out []string
	walkNormalizers(n, func(n normalizer) {
		if r, ok := n.(replace); ok && r.isLit && r.lit == " " && r.content != " " && r.content != "" {
			out = append(out, r.content)
		}
	})
	walkPreTokenizers(p, func(p preTokenizer) {
		if m, ok := p.(metaspace); ok && m.replacement != ' ' && utf8.ValidRune(m.replacement) {
			out = append(out, string(m.replacement))
		}
	})
	return out
}

// walkNormalizers calls f on n and, for a sequence, on each member.
func walkNormalizers(n normalizer, f func(normalizer)) {
	if q, ok := n.(normSequence); ok {
		for _, m := range q {
			walkNormalizers(m, f)
		}
		return
	}
	if n != nil {
		f(n)
	}
}

// walkPreTokenizers calls f on p and, for a sequence, on each member.
func walkPreTokenizers(p preTokenizer, f func(preTokenizer)) {
	if q, ok := p.(preSequence); ok {
		for _, m := range q {
			walkPreTokenizers(m, f)
		}
		return
	}
	if p != nil {
		f(p)
	}
}
