package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fileJSON is the top level of a tokenizer.json file. The decoder,
// truncation and padding are not read.
type fileJSON struct {
	Version       *string          `json:"version"`
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	Model         json.RawMessage  `json:"model"`
	PostProcessor json.RawMessage  `json:"post_processor"`
}

// addedTokenJSON is an entry of added_tokens.
type addedTokenJSON struct {
	ID         *int64 `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

// typed is the part of a component that names its type.
type typed struct {
	Type *string `json:"type"`
}

// parse parses a tokenizer.json file; name is used in error messages.
func parse(name string, data []byte) (*Tokenizer, error) {
	t, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	t.name = name
	return t, nil
}

func parseFile(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if f.Version != nil && *f.Version != "1.0" {
		return nil, fmt.Errorf("version %q is not supported", *f.Version)
	}
	t := &Tokenizer{}
	var err error
	if isNull(f.Model) {
		return nil, errors.New("no model")
	}
	if t.model, err = parseModel(f.Model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	tokens := make([]addedToken, len(f.AddedTokens))
	for i, a := range f.AddedTokens {
		normalized := !a.Special
		if a.Normalized != nil {
			normalized = *a.Normalized
		}
		tokens[i] = addedToken{content: a.Content, singleWord: a.SingleWord,
			lstrip: a.LStrip, rstrip: a.RStrip, normalized: normalized, special: a.Special}
	}
	if t.added, err = newAddedVocab(tokens, t.model.words(), t.norm); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	return t, nil
}

// isNull reports whether a component is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// typeOf returns the type of a component.
func typeOf(raw json.RawMessage) (string, error) {
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", err
	}
	if t.Type == nil {
		return "", errors.New(`no "type"`)
	}
	return *t.Type, nil
}

// decode unmarshals a component into v.
func decode(raw json.RawMessage, kind, typ string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %q: %w", kind, typ, err)
	}
	return nil
}

// bpeJSON is a BPE model.
type bpeJSON struct {
	Type                    *string           `json:"type"`
	Dropout                 *float64          `json:"dropout"`
	UnkToken                *string           `json:"unk_token"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	FuseUnk                 *bool             `json:"fuse_unk"`
	ByteFallback            *bool             `json:"byte_fallback"`
	IgnoreMerges            *bool             `json:"ignore_merges"`
	Vocab                   map[string]int64  `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
}

func parseModel(raw json.RawMessage) (wordModel, error) {
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if t.Type != nil && *t.Type == "WordPiece" {
		return parseWordPiece(raw)
	}
	if t.Type != nil && *t.Type != "BPE" {
		return nil, fmt.Errorf("model type %q is not supported", *t.Type)
	}
	var m bpeJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m.Type == nil && m.Merges == nil {
		return nil, errors.New(`no "type" and no merges: only BPE models are supported`)
	}
	if m.Vocab == nil || m.Merges == nil {
		return nil, errors.New("BPE model without vocab or merges")
	}
	if m.Dropout != nil && (*m.Dropout < 0 || *m.Dropout > 1) {
		return nil, fmt.Errorf("dropout %v is not in [0, 1]", *m.Dropout)
	}
	vocab := make(map[string]int, len(m.Vocab))
	for s, id := range m.Vocab {
		if id < 0 || id > 1<<31-1 {
			return nil, fmt.Errorf("token %q has id %d, out of range", s, id)
		}
		vocab[s] = int(id)
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	b, err := newBPE(vocab, merges, deref(m.ContinuingSubwordPrefix))
	if err != nil {
		return nil, err
	}
	b.unk = deref(m.UnkToken)
	b.suffix = deref(m.EndOfWordSuffix)
	b.fuseUnk = m.FuseUnk != nil && *m.FuseUnk
	b.byteFallback = m.ByteFallback != nil && *m.ByteFallback
	b.ignoreMerges = m.IgnoreMerges != nil && *m.IgnoreMerges
	return b, nil
}

// parseWordPiece reads a WordPiece model: vocab, unk_token (which must be
// in it), continuing_subword_prefix ("##") and max_input_chars_per_word
// (100).
func parseWordPiece(raw json.RawMessage) (wordModel, error) {
	var m struct {
		UnkToken                *string          `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int             `json:"max_input_chars_per_word"`
		Vocab                   map[string]int64 `json:"vocab"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m.Vocab == nil {
		return nil, errors.New("WordPiece model without vocab")
	}
	vocab := make(map[string]int, len(m.Vocab))
	for s, id := range m.Vocab {
		if id < 0 || id > 1<<31-1 {
			return nil, fmt.Errorf("token %q has id %d, out of range", s, id)
		}
		vocab[s] = int(id)
	}
	prefix := "##"
	if m.ContinuingSubwordPrefix != nil {
		prefix = *m.ContinuingSubwordPrefix
	}
	v, err := newVocabulary(vocab, prefix)
	if err != nil {
		return nil, err
	}
	w := &wordPiece{vocabulary: v, maxChars: 100}
	if m.MaxInputCharsPerWord != nil {
		if *m.MaxInputCharsPerWord < 1 {
			return nil, fmt.Errorf("max_input_chars_per_word %d, want at least 1", *m.MaxInputCharsPerWord)
		}
		w.maxChars = *m.MaxInputCharsPerWord
	}
	unk := "[UNK]"
	if m.UnkToken != nil {
		unk = *m.UnkToken
	}
	var ok bool
	if w.unk, ok = vocab[unk]; !ok {
		return nil, fmt.Errorf("unk_token %q is not in the vocabulary", unk)
	}
	return w, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// parseMerges reads merges written as "a b" strings or as ["a", "b"]
// pairs. Strings starting with "#version" are skipped.
func parseMerges(raw []json.RawMessage) ([][2]string, error) {
	merges := make([][2]string, 0, len(raw))
	for i, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			if strings.HasPrefix(s, "#version") {
				continue
			}
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("merge %d, %q, is not two tokens separated by a space", i, s)
			}
			merges = append(merges, [2]string{a, b})
			continue
		}
		var pair []string
		if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("merge %d, %s, is neither a string nor a pair of strings", i, abbreviate(r))
		}
		merges = append(merges, [2]string{pair[0], pair[1]})
	}
	return merges, nil
}

// abbreviate returns the start of a JSON value for an error message.
func abbreviate(r json.RawMessage) string {
	const n = 40
	if len(r) <= n {
		return string(r)
	}
	s := string(r[:n])
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// patternJSON is a String or Regex pattern.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// compile returns the pattern, and the literal string for a String one.
func (p patternJSON) compile() (pat pattern, lit string, isLit bool, err error) {
	switch {
	case p.String != nil:
		return literal(*p.String), *p.String, true, nil
	case p.Regex != nil:
		pat, err = compilePattern(*p.Regex)
		return pat, "", false, err
	}
	return nil, "", false, errors.New(`pattern is neither "String" nor "Regex"`)
}

// parseEach parses the members of a Sequence component with parse, leaving
// out the null ones (parse returns the zero value, nil, for them).
func parseEach[E comparable](raws []json.RawMessage, parse func(json.RawMessage) (E, error)) ([]E, error) {
	var none E
	var out []E
	for _, r := range raws {
		e, err := parse(r)
		if err != nil {
			return nil, err
		}
		if e != none {
			out = append(out, e)
		}
	}
	return out, nil
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var v struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := decode(raw, "normalizer", typ, &v); err != nil {
			return nil, err
		}
		q, err := parseEach(v.Normalizers, parseNormalizer)
		return normSequence(q), err
	case "Prepend":
		var v struct {
			Prepend string `json:"prepend"`
		}
		err := decode(raw, "normalizer", typ, &v)
		return prepend(v.Prepend), err
	case "Replace":
		var v struct {
			Pattern patternJSON `json:"pattern"`
			Content string      `json:"content"`
		}
		if err := decode(raw, "normalizer", typ, &v); err != nil {
			return nil, err
		}
		pat, lit, isLit, err := v.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("Replace: %w", err)
		}
		return replace{pat: pat, lit: lit, isLit: isLit, content: v.Content}, nil
	case "NFC":
		return unicodeForm{norm.NFC}, nil
	case "NFD":
		return unicodeForm{norm.NFD}, nil
	case "NFKC":
		return unicodeForm{norm.NFKC}, nil
	case "NFKD":
		return unicodeForm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "StripAccents":
		return stripAccents{}, nil
	case "ByteLevel":
		return byteLevelNorm{}, nil
	case "BertNormalizer":
		var v struct {
			CleanText          *bool `json:"clean_text"`
			HandleChineseChars *bool `json:"handle_chinese_chars"`
			StripAccents       *bool `json:"strip_accents"`
			Lowercase          *bool `json:"lowercase"`
		}
		if err := decode(raw, "normalizer", typ, &v); err != nil {
			return nil, err
		}
		or := func(b *bool, def bool) bool {
			if b == nil {
				return def
			}
			return *b
		}
		n := bertNormalizer{cleanText: or(v.CleanText, true), chinese: or(v.HandleChineseChars, true), lowercase: or(v.Lowercase, true)}
		n.stripAccents = or(v.StripAccents, n.lowercase) // null: as lowercase
		return n, nil
	case "Strip":
		var v struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		err := decode(raw, "normalizer", typ, &v)
		return strip{v.Left, v.Right}, err
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", typ)
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var v struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := decode(raw, "pre-tokenizer", typ, &v); err != nil {
			return nil, err
		}
		q, err := parseEach(v.PreTokenizers, parsePreTokenizer)
		return preSequence(q), err
	case "ByteLevel":
		v := struct {
			AddPrefixSpace bool `json:"add_prefix_space"`
			UseRegex       bool `json:"use_regex"`
		}{UseRegex: true}
		err := decode(raw, "pre-tokenizer", typ, &v)
		return byteLevel{addPrefixSpace: v.AddPrefixSpace, useRegex: v.UseRegex}, err
	case "Split":
		return parseSplit(raw)
	case "Metaspace":
		return parseMetaspace(raw)
	case "Digits":
		var v struct {
			IndividualDigits bool `json:"individual_digits"`
		}
		err := decode(raw, "pre-tokenizer", typ, &v)
		return digits{v.IndividualDigits}, err
	case "Whitespace":
		return whitespace{}, nil
	case "WhitespaceSplit":
		return whitespaceSplit{}, nil
	case "BertPreTokenizer":
		return bertPre{}, nil
	case "Punctuation":
		v := struct {
			Behavior string `json:"behavior"`
		}{Behavior: "Isolated"}
		if err := decode(raw, "pre-tokenizer", typ, &v); err != nil {
			return nil, err
		}
		b, ok := behaviors[v.Behavior]
		if !ok {
			return nil, fmt.Errorf("Punctuation: behavior %q is not known", v.Behavior)
		}
		return punctuation{b}, nil
	}
	return nil, fmt.Errorf("pre-tokenizer type %q is not supported", typ)
}

func parseSplit(raw json.RawMessage) (preTokenizer, error) {
	var v struct {
		Pattern  patternJSON `json:"pattern"`
		Behavior string      `json:"behavior"`
		Invert   bool        `json:"invert"`
	}
	if err := decode(raw, "pre-tokenizer", "Split", &v); err != nil {
		return nil, err
	}
	b, ok := behaviors[v.Behavior]
	if !ok {
		return nil, fmt.Errorf("Split: behavior %q is not known", v.Behavior)
	}
	pat, _, _, err := v.Pattern.compile()
	if err != nil {
		return nil, fmt.Errorf("Split: %w", err)
	}
	return splitPattern{pat: pat, behavior: b, invert: v.Invert}, nil
}

func parseMetaspace(raw json.RawMessage) (preTokenizer, error) {
	var v struct {
		Replacement    string  `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := decode(raw, "pre-tokenizer", "Metaspace", &v); err != nil {
		return nil, err
	}
	r, n := utf8.DecodeRuneInString(v.Replacement)
	if n == 0 || n != len(v.Replacement) {
		return nil, fmt.Errorf("Metaspace: replacement %q is not one character", v.Replacement)
	}
	m := metaspace{replacement: r, scheme: prependAlways, splitWords: v.Split == nil || *v.Split}
	if v.PrependScheme != nil {
		schemes := map[string]prependScheme{"always": prependAlways, "first": prependFirst, "never": prependNever}
		s, ok := schemes[*v.PrependScheme]
		if !ok {
			return nil, fmt.Errorf("Metaspace: prepend_scheme %q is not known", *v.PrependScheme)
		}
		m.scheme = s
	}
	if v.AddPrefixSpace != nil && !*v.AddPrefixSpace {
		if v.PrependScheme != nil && m.scheme != prependNever {
			return nil, errors.New("Metaspace: add_prefix_space false does not match prepend_scheme")
		}
		m.scheme = prependNever
	}
	return m, nil
}

// specialJSON is an entry of TemplateProcessing's special_tokens.
type specialJSON struct {
	ID     string   `json:"id"`
	IDs    []int64  `json:"ids"`
	Tokens []string `json:"tokens"`
}

// pieceJSON is a part of a template.
type pieceJSON struct {
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var v struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := decode(raw, "post-processor", typ, &v); err != nil {
			return nil, err
		}
		q, err := parseEach(v.Processors, parsePostProcessor)
		return postSequence(q), err
	case "ByteLevel":
		return noPost{}, nil
	case "TemplateProcessing":
		return parseTemplate(raw)
	case "BertProcessing", "RobertaProcessing":
		var v struct {
			Sep []json.RawMessage `json:"sep"`
			Cls []json.RawMessage `json:"cls"`
		}
		if err := decode(raw, "post-processor", typ, &v); err != nil {
			return nil, err
		}
		cls, err := tokenPairID(v.Cls)
		if err != nil {
			return nil, fmt.Errorf("%s: cls: %w", typ, err)
		}
		sep, err := tokenPairID(v.Sep)
		if err != nil {
			return nil, fmt.Errorf("%s: sep: %w", typ, err)
		}
		return template{{cls}, nil, {sep}}, nil
	}
	return nil, fmt.Errorf("post-processor type %q is not supported", typ)
}

// tokenPairID returns the id of a ["token", id] pair.
func tokenPairID(pair []json.RawMessage) (int, error) {
	var id int64
	if len(pair) != 2 || json.Unmarshal(pair[1], &id) != nil || id < 0 {
		return 0, errors.New(`not a ["token", id] pair`)
	}
	return int(id), nil
}

func parseTemplate(raw json.RawMessage) (postProcessor, error) {
	var v struct {
		Single        []pieceJSON            `json:"single"`
		SpecialTokens map[string]specialJSON `json:"special_tokens"`
	}
	if err := decode(raw, "post-processor", "TemplateProcessing", &v); err != nil {
		return nil, err
	}
	t := template{}
	for _, p := range v.Single {
		switch {
		case p.Sequence != nil:
			if p.Sequence.ID != "A" {
				return nil, fmt.Errorf("TemplateProcessing: single template uses sequence %q", p.Sequence.ID)
			}
			t = append(t, nil)
		case p.SpecialToken != nil:
			sp, ok := v.SpecialTokens[p.SpecialToken.ID]
			if !ok {
				return nil, fmt.Errorf("TemplateProcessing: special token %q is not in special_tokens", p.SpecialToken.ID)
			}
			ids := make([]int, len(sp.IDs))
			for i, id := range sp.IDs {
				if id < 0 {
					return nil, fmt.Errorf("TemplateProcessing: special token %q has id %d", p.SpecialToken.ID, id)
				}
				ids[i] = int(id)
			}
			t = append(t, ids)
		default:
			return nil, errors.New("TemplateProcessing: template part is neither Sequence nor SpecialToken")
		}
	}
	return t, nil
}
