package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A pattern finds matches in a text, as a regular expression does.
type pattern interface {
	// find returns the leftmost match starting at or after byte offset
	// from, if any.
	find(s string, from int) (start, end int, ok bool)
}

// findAll returns the successive non-overlapping matches of p in s. As in
// Oniguruma, an empty match right after the previous match is skipped.
func findAll(p pattern, s string) [][2]int {
	var out [][2]int
	pos, last := 0, -1
	for pos <= len(s) {
		start, end, ok := p.find(s, pos)
		if !ok {
			break
		}
		if start == end && end == last {
			if pos == len(s) {
				break
			}
			_, n := utf8.DecodeRuneInString(s[pos:])
			pos += n
			continue
		}
		out = append(out, [2]int{start, end})
		pos, last = end, end
	}
	return out
}

// A span is a part of a text, a match of a pattern or not.
type span struct {
	start, end int
	match      bool
}

// patternSpans cuts s into the matches of p and the text between them.
func patternSpans(p pattern, s string) []span {
	if s == "" {
		return []span{{0, 0, false}}
	}
	var out []span
	prev := 0
	for _, m := range findAll(p, s) {
		if prev != m[0] {
			out = append(out, span{prev, m[0], false})
		}
		out = append(out, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// runeSpans cuts s into the characters for which is returns true, each
// its own match, and the text between them.
func runeSpans(is func(rune) bool, s string) []span {
	if s == "" {
		return []span{{0, 0, false}}
	}
	var out []span
	last := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if is(r) {
			if last < i {
				out = append(out, span{last, i, false})
			}
			last = i + n
			out = append(out, span{i, last, true})
		}
		i += n
	}
	if last < len(s) {
		out = append(out, span{last, len(s), false})
	}
	return out
}

// A literal pattern matches a fixed string.
type literal string

func (l literal) find(s string, from int) (int, int, bool) {
	i := strings.Index(s[from:], string(l))
	if i < 0 {
		return 0, 0, false
	}
	return from + i, from + i + len(l), true
}

// A goRegexp pattern is a regular expression that Go's regexp runs with
// the meaning it has in Oniguruma.
type goRegexp struct{ re *regexp.Regexp }

func (g goRegexp) find(s string, from int) (int, int, bool) {
	loc := g.re.FindStringIndex(s[from:])
	if loc == nil {
		return 0, 0, false
	}
	return from + loc[0], from + loc[1], true
}

// An alternation tries its alternatives in order at each position.
type alternation []matcher

// A matcher matches at a given position only.
type matcher interface {
	// matchAt returns the end of the match starting at byte offset p, or
	// -1 if there is none.
	matchAt(s string, p int) int
}

func (a alternation) find(s string, from int) (int, int, bool) {
	for p := from; p <= len(s); {
		for _, m := range a {
			if end := m.matchAt(s, p); end >= 0 {
				return p, end, true
			}
		}
		if p == len(s) {
			break
		}
		_, n := utf8.DecodeRuneInString(s[p:])
		p += n
	}
	return 0, 0, false
}

// An anchored matcher runs a Go regular expression that starts with ^.
type anchored struct{ re *regexp.Regexp }

func (a anchored) matchAt(s string, p int) int {
	loc := a.re.FindStringIndex(s[p:])
	if loc == nil {
		return -1
	}
	return p + loc[1]
}

// spaceNotBeforeNonSpace matches \s+(?!\S): the white space at p, less its
// last character when a non-space character follows.
type spaceNotBeforeNonSpace struct{}

func (spaceNotBeforeNonSpace) matchAt(s string, p int) int {
	end, n, last := spaceRun(s, p)
	switch {
	case n == 0:
		return -1
	case end == len(s):
		return end
	case n == 1:
		return -1
	}
	return end - last
}

// spaceRun returns the end of the white space starting at p, the number of
// its characters and the size of the last one.
func spaceRun(s string, p int) (end, n, last int) {
	end = p
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsSpace(r) {
			break
		}
		end += size
		n++
		last = size
	}
	return end, n, last
}

// A handWritten matcher is the code for a well-known pattern.
type handWritten func(s string, p int) int

func (h handWritten) matchAt(s string, p int) int { return h(s, p) }

// The well-known patterns matched by hand-written code.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// compilePattern returns the pattern for an Oniguruma regular expression.
func compilePattern(expr string) (pattern, error) {
	switch expr {
	case gpt2Pattern:
		return alternation{handWritten(matchGPT2)}, nil
	case llama3Pattern:
		return alternation{handWritten(matchLlama3)}, nil
	case qwen2Pattern:
		return alternation{handWritten(matchQwen2)}, nil
	}
	return compileGeneral(expr)
}

// compileGeneral returns the pattern for an Oniguruma regular expression
// translated to Go's syntax, with \s+(?!\S) alternatives run by hand.
func compileGeneral(expr string) (pattern, error) {
	alts, err := splitAlternatives(expr)
	if err != nil {
		return nil, err
	}
	var out alternation
	var group []string
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		re, err := regexp.Compile(`^(?:` + strings.Join(group, "|") + `)`)
		if err != nil {
			return fmt.Errorf("regular expression %q is not supported: %v", expr, err)
		}
		out = append(out, anchored{re})
		group = group[:0]
		return nil
	}
	for _, alt := range alts {
		if alt == `\s+(?!\S)` {
			if err := flush(); err != nil {
				return nil, err
			}
			out = append(out, spaceNotBeforeNonSpace{})
			continue
		}
		goAlt, err := translateRegexp(alt)
		if err != nil {
			return nil, fmt.Errorf("regular expression %q is not supported: %v", expr, err)
		}
		group = append(group, goAlt)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(out) == 1 {
		if a, ok := out[0].(anchored); ok {
			// A single Go expression searches faster unanchored.
			re, err := regexp.Compile(strings.TrimPrefix(a.re.String(), "^"))
			if err != nil {
				return nil, fmt.Errorf("regular expression %q is not supported: %v", expr, err)
			}
			return goRegexp{re}, nil
		}
	}
	return out, nil
}

// splitAlternatives splits a regular expression at its top-level |.
func splitAlternatives(expr string) ([]string, error) {
	var alts []string
	depth, inClass, start := 0, false, 0
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			if i+1 < len(expr) && expr[i+1] == '^' {
				i++
			}
			if i+1 < len(expr) && expr[i+1] == ']' {
				i++
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ) in %q", expr)
			}
		case c == '|' && depth == 0:
			alts = append(alts, expr[start:i])
			start = i + 1
		}
	}
	return append(alts, expr[start:]), nil
}

// Go equivalents of Oniguruma's Unicode \s and \d.
const (
	spaceClass = `\t-\r\x{85}\p{Z}`
	digitClass = `\p{Nd}`
)

// translateRegexp rewrites an Oniguruma regular expression in Go's syntax,
// or returns an error if the meaning would change.
func translateRegexp(expr string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\':
			n, err := translateEscape(&b, expr[i+1:], false)
			if err != nil {
				return "", err
			}
			i += n
		case c == '[':
			n, err := translateClass(&b, expr[i:])
			if err != nil {
				return "", err
			}
			i += n - 1
		case c == '(' && i+1 < len(expr) && expr[i+1] == '?':
			rest := expr[i+2:]
			if !strings.HasPrefix(rest, ":") && !strings.HasPrefix(rest, "i:") && !strings.HasPrefix(rest, "-i:") {
				return "", fmt.Errorf("group (?%.3s is not supported", rest)
			}
			b.WriteByte(c)
		case c == '^':
			return "", fmt.Errorf("^ is not supported")
		case c == '$':
			// End of line, as in Oniguruma's default syntax.
			b.WriteString(`(?m:$)`)
		case c == '{' && i+1 < len(expr) && expr[i+1] == ',':
			return "", fmt.Errorf("quantifier {,n} is not supported")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// translateClass writes the Go form of the character class at the start
// of expr and returns its length. A class holding \S is written as an
// alternation, which Go allows where a class is.
func translateClass(b *strings.Builder, expr string) (int, error) {
	var in strings.Builder
	negated, nonSpace := false, false
	i := 1
	if i < len(expr) && expr[i] == '^' {
		negated = true
		i++
	}
	if i < len(expr) && expr[i] == ']' {
		in.WriteString(`\]`)
		i++
	}
	for ; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == ']':
			return i + 1, writeClass(b, in.String(), negated, nonSpace)
		case c == '\\' && i+1 < len(expr) && expr[i+1] == 'S':
			nonSpace = true
			i++
		case c == '\\':
			n, err := translateEscape(&in, expr[i+1:], true)
			if err != nil {
				return 0, err
			}
			i += n
		case c == '[' || c == '&' && i+1 < len(expr) && expr[i+1] == '&':
			return 0, fmt.Errorf("nested classes and class operations are not supported")
		default:
			in.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("unterminated class")
}

// writeClass writes a class with contents in; nonSpace adds \S to it.
func writeClass(b *strings.Builder, in string, negated, nonSpace bool) error {
	neg := ""
	if negated {
		neg = "^"
	}
	switch {
	case !nonSpace:
		b.WriteString("[" + neg + in + "]")
	case negated:
		return fmt.Errorf("\\S in a negated class is not supported")
	case in == "":
		b.WriteString(`[^` + spaceClass + `]`)
	default:
		b.WriteString(`(?:[` + in + `]|[^` + spaceClass + `])`)
	}
	return nil
}

// translateEscape writes the Go form of the escape \rest and returns the
// number of bytes of rest it used.
func translateEscape(b *strings.Builder, rest string, inClass bool) (int, error) {
	if rest == "" {
		return 0, fmt.Errorf("trailing \\")
	}
	c := rest[0]
	switch {
	case c == 's':
		if inClass {
			b.WriteString(spaceClass)
		} else {
			b.WriteString(`[` + spaceClass + `]`)
		}
		return 1, nil
	case c == 'S' && !inClass:
		b.WriteString(`[^` + spaceClass + `]`)
		return 1, nil
	case c == 'd':
		b.WriteString(digitClass)
		return 1, nil
	case c == 'D':
		b.WriteString(`\P{Nd}`)
		return 1, nil
	case c == 'p' || c == 'P':
		n := 2
		if len(rest) > 1 && rest[1] == '{' {
			j := strings.IndexByte(rest, '}')
			if j < 0 {
				return 0, fmt.Errorf("unterminated \\%c{", c)
			}
			n = j + 1
		}
		if n > len(rest) {
			return 0, fmt.Errorf("unterminated \\%c", c)
		}
		b.WriteString(`\` + rest[:n])
		return n, nil
	case c == 'x':
		n := 1
		if len(rest) > 1 && rest[1] == '{' {
			j := strings.IndexByte(rest, '}')
			if j < 0 {
				return 0, fmt.Errorf("unterminated \\x{")
			}
			n = j + 1
		} else {
			for n < len(rest) && n < 3 && isHex(rest[n]) {
				n++
			}
			if n != 3 {
				return 0, fmt.Errorf("\\x needs two hexadecimal digits")
			}
		}
		b.WriteString(`\` + rest[:n])
		return n, nil
	case strings.IndexByte("nrtfva", c) >= 0:
		b.WriteString(`\` + string(c))
		return 1, nil
	case c < utf8.RuneSelf && !isAlnum(c):
		b.WriteString(`\` + string(c))
		return 1, nil
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return 0, fmt.Errorf("escape \\%c is not supported", r)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
