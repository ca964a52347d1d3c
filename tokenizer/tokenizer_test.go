package tokenizer

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The expected values of these tests follow the Rust library where the
// JavaScript port, which computes testdata/golden.json, lacks a feature
// or differs from Rust.

// build returns a Tokenizer for a tokenizer.json made of parts; the model
// defaults to a BPE whose vocabulary has the given tokens.
func build(t *testing.T, parts map[string]any, vocab ...string) *Tokenizer {
	t.Helper()
	if _, ok := parts["model"]; !ok {
		parts["model"] = bpeJSONFor(vocab, nil)
	}
	data, err := json.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bpeJSONFor returns a BPE model whose vocabulary has the tokens, with ids
// in order, and the merges.
func bpeJSONFor(vocab []string, merges []string, opts ...any) map[string]any {
	v := map[string]int{}
	for i, s := range vocab {
		v[s] = i
	}
	if merges == nil {
		merges = []string{}
	}
	m := map[string]any{"type": "BPE", "vocab": v, "merges": merges}
	for i := 0; i+1 < len(opts); i += 2 {
		m[opts[i].(string)] = opts[i+1]
	}
	return m
}

// pieces returns the texts of the pieces that reach the model, with added
// tokens shown as [id].
func pieces(tok *Tokenizer, text string) []string {
	ps := tok.added.extract(text, tok.norm)
	if tok.pre != nil {
		ps = preTokenizeAll(tok.pre, ps)
	}
	var out []string
	for _, p := range ps {
		if p.id >= 0 {
			out = append(out, "["+p.text+"]")
		} else {
			out = append(out, p.text)
		}
	}
	return out
}

func added(content string, opts ...any) map[string]any {
	a := map[string]any{"id": 0, "content": content, "single_word": false, "lstrip": false,
		"rstrip": false, "normalized": false, "special": true}
	for i := 0; i+1 < len(opts); i += 2 {
		a[opts[i].(string)] = opts[i+1]
	}
	return a
}

func split(regex, behavior string, invert bool) map[string]any {
	return map[string]any{"type": "Split", "pattern": map[string]string{"Regex": regex},
		"behavior": behavior, "invert": invert}
}

func TestSplitBehaviors(t *testing.T) {
	// \w+|[^\w\s]+ in Rust's test; \p{L}+ is \w+ for this text.
	const words = `\p{L}+|[^\p{L}\s]+`
	tests := []struct {
		behavior string
		want     []string
	}{
		{"Removed", []string{"How", "are", "you", "doing", "?"}},
		{"Isolated", []string{"How", " ", "are", " ", "you", " ", "doing", "?"}},
		{"MergedWithPrevious", []string{"How ", "are ", "you ", "doing", "?"}},
		{"MergedWithNext", []string{"How", " are", " you", " doing", "?"}},
		{"Contiguous", []string{"How", " ", "are", " ", "you", " ", "doing?"}},
	}
	for _, tt := range tests {
		tok := build(t, map[string]any{"pre_tokenizer": split(words, tt.behavior, true)})
		if got := pieces(tok, "How are you doing?"); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.behavior, got, tt.want)
		}
	}
	str := map[string]any{"type": "Split", "pattern": map[string]string{"String": "Hello"},
		"behavior": "Removed", "invert": true}
	tok := build(t, map[string]any{"pre_tokenizer": str})
	if got, want := pieces(tok, "Hello Hello Hello"), []string{"Hello", "Hello", "Hello"}; !slices.Equal(got, want) {
		t.Errorf("inverted string: got %q, want %q", got, want)
	}
}

func TestMetaspace(t *testing.T) {
	meta := func(scheme string, split bool) map[string]any {
		return map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split}
	}
	tests := []struct {
		scheme string
		split  bool
		text   string
		want   []string
	}{
		{"always", true, "Hey   friend!", []string{"▁Hey", "▁", "▁", "▁friend!"}},
		{"always", true, "Hey my friend <s>how▁are you",
			[]string{"▁Hey", "▁my", "▁friend", "▁", "[<s>]", "▁how", "▁are", "▁you"}},
		{"first", false, "Hey my friend <s>how▁are you", []string{"▁Hey▁my▁friend▁", "[<s>]", "how▁are▁you"}},
		{"first", false, " Hey <s>how <s>are <s> you",
			[]string{"▁Hey▁", "[<s>]", "how▁", "[<s>]", "are▁", "[<s>]", "▁you"}},
		{"never", true, "a b", []string{"a", "▁b"}},
	}
	for _, tt := range tests {
		tok := build(t, map[string]any{"pre_tokenizer": meta(tt.scheme, tt.split),
			"added_tokens": []any{added("<s>")}}, "<s>")
		if got := pieces(tok, tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("%s %v %q: got %q, want %q", tt.scheme, tt.split, tt.text, got, tt.want)
		}
	}
	legacy := map[string]any{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false}
	tok := build(t, map[string]any{"pre_tokenizer": legacy})
	if got, want := pieces(tok, "a b"), []string{"a", "▁b"}; !slices.Equal(got, want) {
		t.Errorf("add_prefix_space false: got %q, want %q", got, want)
	}
}

func TestAddedTokenOptions(t *testing.T) {
	tok := build(t, map[string]any{
		"normalizer": map[string]any{"type": "Lowercase"},
		"added_tokens": []any{
			added("my", "lstrip", true, "rstrip", true, "normalized", true, "special", false),
			added("name", "normalized", true, "special", false),
			added("ony", "single_word", true, "normalized", true, "special", false),
			added("[CLS]"), added("[SEP]"),
		},
	}, "x")
	got := pieces(tok, "[CLS] My name is Anthony [SEP]")
	want := []string{"[[CLS]]", "[ my ]", "[name]", " is anthony ", "[[SEP]]"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	tok = build(t, map[string]any{
		"normalizer":   map[string]any{"type": "Lowercase"},
		"added_tokens": []any{added("<mask>", "single_word", true, "normalized", true, "special", false)},
	}, "x")
	for text, want := range map[string][]string{
		"<mask> My name <mask> A<mask> <mask>ony <mask>": {"[<mask>]", " my name ", "[<mask>]", " a<mask> <mask>ony ", "[<mask>]"},
		"<mask>, <mask>- ◌̰<mask>":                       {"[<mask>]", ", ", "[<mask>]", "- ◌̰<mask>"},
	} {
		if got := pieces(tok, text); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", text, got, want)
		}
	}

	tok = build(t, map[string]any{"added_tokens": []any{added("<m>", "lstrip", true, "rstrip", true)}}, "x")
	for text, want := range map[string][]string{
		" \t<m>\n x": {"[ \t<m>\n ]", "x"},
		"a<m><m> b":  {"a", "[<m>]", "[<m> ]", "b"},
		"\u00a0<m>":  {"[\u00a0<m>]"},
	} {
		if got := pieces(tok, text); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", text, got, want)
		}
	}
}

func TestAddedTokenIDs(t *testing.T) {
	// Rust gives an added token the id it has in the vocabulary, or the
	// next one from the size of the vocabulary, whatever the file says.
	model := map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0, "b": 5, "<s>": 7}, "merges": []string{}}
	tok := build(t, map[string]any{"model": model, "added_tokens": []any{
		added("<x>", "id", 9), added("<s>", "id", 3), added("<y>", "id", 10),
	}})
	for s, want := range map[string]int{"<x>": 3, "<s>": 7, "<y>": 4, "b": 5} {
		if id, ok := tok.TokenID(s); !ok || id != want {
			t.Errorf("TokenID(%q) = %d, %v, want %d", s, id, ok, want)
		}
	}
	if got, want := tok.VocabSize(), 5; got != want {
		t.Errorf("VocabSize() = %d, want %d", got, want)
	}
	if s, ok := tok.Token(3); !ok || s != "<x>" {
		t.Errorf("Token(3) = %q, %v, want <x>", s, ok)
	}
	if ids, _ := tok.Encode("a<x>b<s>"); !slices.Equal(ids, []int{0, 3, 5, 7}) {
		t.Errorf("Encode = %v, want [0 3 5 7]", ids)
	}
}

func TestBPEOptions(t *testing.T) {
	tests := []struct {
		name  string
		model map[string]any
		text  string
		want  []int
	}{
		{"fuse_unk", bpeJSONFor([]string{"<unk>", "a", "b"}, nil, "unk_token", "<unk>", "fuse_unk", true),
			"axyb", []int{1, 0, 2}},
		{"no fuse_unk", bpeJSONFor([]string{"<unk>", "a", "b"}, nil, "unk_token", "<unk>"),
			"axyb", []int{1, 0, 0, 2}},
		{"no unk_token", bpeJSONFor([]string{"a", "b"}, nil), "axyb", []int{0, 1}},
		// Rust adds the bytes of x before the pending unk of y.
		{"byte_fallback", bpeJSONFor([]string{"<unk>", "a", "<0x78>"}, nil,
			"unk_token", "<unk>", "fuse_unk", true, "byte_fallback", true), "ayx", []int{1, 2, 0}},
		{"affixes", bpeJSONFor([]string{"h", "##e", "##y</w>", "he", "hey</w>"}, []string{"h ##e", "he ##y</w>"},
			"continuing_subword_prefix", "##", "end_of_word_suffix", "</w>"), "hey", []int{4}},
		{"merges", bpeJSONFor([]string{"a", "b", "c", "ab", "abc"}, []string{"a b"}), "abc", []int{3, 2}},
		{"ignore_merges", bpeJSONFor([]string{"a", "b", "c", "ab", "abc"}, []string{"a b"}, "ignore_merges", true),
			"abc", []int{4}},
		{"pair merges", bpeJSONFor([]string{"a", "b", "ab"}, nil, "merges", [][]string{{"a", "b"}}), "abab", []int{2, 2}},
		{"leftmost first", bpeJSONFor([]string{"a", "aa"}, []string{"a a"}), "aaa", []int{1, 0}},
		{"version line", bpeJSONFor([]string{"a", "b", "ab"}, []string{"#version: 0.2", "a b"}), "ab", []int{2}},
	}
	for _, tt := range tests {
		tok := build(t, map[string]any{"model": tt.model})
		got, err := tok.Encode(tt.text)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: Encode(%q) = %v, %v, want %v", tt.name, tt.text, got, err, tt.want)
		}
	}
	tok := build(t, map[string]any{"model": bpeJSONFor([]string{"a"}, nil, "unk_token", "<unk>")})
	if _, err := tok.Encode("b"); err == nil || !strings.Contains(err.Error(), `unk_token "<unk>"`) {
		t.Errorf("Encode with unk_token missing from the vocabulary: err = %v", err)
	}
}

// TestOniguruma checks the places where Oniguruma's meaning, which Go
// follows, differs from JavaScript's.
func TestOniguruma(t *testing.T) {
	gpt2 := build(t, map[string]any{"pre_tokenizer": split(gpt2Pattern, "Isolated", false)})
	llama3 := build(t, map[string]any{"pre_tokenizer": split(llama3Pattern, "Isolated", false)})
	tests := []struct {
		tok  *Tokenizer
		text string
		want []string
	}{
		// U+FEFF is not white space in Oniguruma; it is in JavaScript.
		{gpt2, "a\ufeff b", []string{"a", "\ufeff", " b"}},
		{llama3, "a \ufeffb", []string{"a", " \ufeff", "b"}},
		// U+0085 is white space in Oniguruma; it is not in JavaScript.
		{gpt2, "a\u0085\u0085b", []string{"a", "\u0085", "\u0085", "b"}},
		{llama3, "a\u0085\nb", []string{"a", "\u0085\n", "b"}},
		// Case folding maps ſ to s.
		{llama3, "it'ſt", []string{"it", "'ſ", "t"}},
		{llama3, "IT'S 'Ll", []string{"IT", "'S", " '", "Ll"}},
		{gpt2, "IT'S", []string{"IT", "'", "S"}},
	}
	for _, tt := range tests {
		if got := pieces(tt.tok, tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestDigits(t *testing.T) {
	for individual, want := range map[bool][]string{
		true:  {"x", "²", "3", "٣", "ab"},
		false: {"x", "²3٣", "ab"},
	} {
		tok := build(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Digits", "individual_digits": individual}})
		if got := pieces(tok, "x²3٣ab"); !slices.Equal(got, want) {
			t.Errorf("individual %v: got %q, want %q", individual, got, want)
		}
	}
}

func TestPreTokenizers(t *testing.T) {
	tests := []struct {
		pre  map[string]any
		text string
		want []string
	}{
		{map[string]any{"type": "Whitespace"}, "Hey man!! ok_2", []string{"Hey", "man", "!!", "ok_2"}},
		{map[string]any{"type": "WhitespaceSplit"}, " Hey  man!\n", []string{"Hey", "man!"}},
		{map[string]any{"type": "Punctuation", "behavior": "Isolated"}, "Hey, man!!", []string{"Hey", ",", " man", "!", "!"}},
		{map[string]any{"type": "BertPreTokenizer"}, "Hey, man!", []string{"Hey", ",", "man", "!"}},
		{map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": false}, "a b", []string{"ĠaĠb"}},
		{split(`\s+$`, "Isolated", false), "a \nb  ", []string{"a", " ", "\nb", "  "}},
		{split(`[\p{P}\S]+`, "Removed", false), "a, b", []string{" "}},
	}
	for _, tt := range tests {
		tok := build(t, map[string]any{"pre_tokenizer": tt.pre})
		if got := pieces(tok, tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("%v %q: got %q, want %q", tt.pre["type"], tt.text, got, tt.want)
		}
	}
}

func TestNormalizers(t *testing.T) {
	tests := []struct {
		norm map[string]any
		text string
		want string
	}{
		{map[string]any{"type": "Lowercase"}, "İSTANBUL ΣΑΣ", "i̇stanbul σασ"},
		{map[string]any{"type": "NFKC"}, "ﬁ x²", "fi x2"},
		{map[string]any{"type": "NFD"}, "é", "e\u0301"},
		{map[string]any{"type": "StripAccents"}, "e\u0301", "e"},
		{map[string]any{"type": "Strip", "strip_left": true, "strip_right": true}, " \ta\n", "a"},
		{map[string]any{"type": "Replace", "pattern": map[string]string{"Regex": `\s+`}, "content": "_"}, "a \t b\u3000c", "a_b_c"},
		{map[string]any{"type": "Prepend", "prepend": "▁"}, "a", "▁a"},
		{map[string]any{"type": "ByteLevel"}, "a é", "aĠÃ©"},
	}
	for _, tt := range tests {
		tok := build(t, map[string]any{"normalizer": tt.norm})
		if got := tok.norm.normalize(tt.text); got != tt.want {
			t.Errorf("%v(%q) = %q, want %q", tt.norm["type"], tt.text, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"model": bpeJSONFor([]string{"a", "b", "ab"}, []string{"a b"})}
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unigram", func(m map[string]any) { m["model"] = map[string]any{"type": "Unigram", "vocab": []any{}} },
			`tokenizer: tokenizer.json: model: model type "Unigram" is not supported`},
		{"no model", func(m map[string]any) { delete(m, "model") }, "no model"},
		{"merge token", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []string{"a c"} },
			`token "c" is not in the vocabulary`},
		{"merged token", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []string{"b a"} },
			`merged token "ba" is not in the vocabulary`},
		{"bad merge", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []string{"a b c"} },
			`merge 0, "a b c", is not two tokens`},
		{"bad pair", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{[]any{"a"}} },
			`merge 0, ["a"], is neither`},
		{"normalizer", func(m map[string]any) { m["normalizer"] = map[string]any{"type": "Precompiled"} },
			`normalizer: normalizer type "Precompiled" is not supported`},
		{"pre-tokenizer", func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "UnicodeScripts"} },
			`pre-tokenizer type "UnicodeScripts" is not supported`},
		{"regex", func(m map[string]any) { m["pre_tokenizer"] = split(`(?<=a)b`, "Isolated", false) },
			`regular expression "(?<=a)b" is not supported`},
		{"lookahead", func(m map[string]any) { m["pre_tokenizer"] = split(`a(?!b)`, "Isolated", false) },
			`regular expression "a(?!b)" is not supported`},
		{"possessive", func(m map[string]any) { m["pre_tokenizer"] = split(`a++`, "Isolated", false) },
			`regular expression "a++" is not supported`},
		{"word", func(m map[string]any) { m["pre_tokenizer"] = split(`\w+`, "Isolated", false) },
			`regular expression "\\w+" is not supported`},
		{"behavior", func(m map[string]any) { m["pre_tokenizer"] = split(`a`, "Sideways", false) },
			`behavior "Sideways" is not known`},
		{"template", func(m map[string]any) {
			m["post_processor"] = map[string]any{"type": "TemplateProcessing",
				"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}}}
		}, `special token "<s>" is not in special_tokens`},
		{"version", func(m map[string]any) { m["version"] = "2.0" }, `version "2.0" is not supported`},
		{"duplicate", func(m map[string]any) {
			m["normalizer"] = map[string]any{"type": "Lowercase"}
			m["added_tokens"] = []any{added("X", "normalized", true), added("x", "normalized", true)}
		}, `added tokens "X" and "x" match the same text "x"`},
	}
	for _, tt := range tests {
		m := good()
		tt.change(m)
		data, _ := json.Marshal(m)
		_, err := Parse(data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := Parse([]byte("{")); err == nil || !strings.HasPrefix(err.Error(), "tokenizer: tokenizer.json: invalid JSON") {
		t.Errorf("bad JSON: err = %v", err)
	}
	path := filepath.Join("testdata", "missing.json")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestAccessors(t *testing.T) {
	tok := loadFixture(t, "llama3")
	id, ok := tok.TokenID("<|eot_id|>")
	if !ok || id != len(tok.model.words().vocab)+7 {
		t.Errorf("TokenID(<|eot_id|>) = %d, %v", id, ok)
	}
	if s, ok := tok.Token(id); !ok || s != "<|eot_id|>" {
		t.Errorf("Token(%d) = %q, %v", id, s, ok)
	}
	if _, ok := tok.TokenID("<pad>"); ok {
		t.Error("TokenID(<pad>) found")
	}
	if got, want := tok.VocabSize(), len(tok.model.words().vocab)+8; got != want {
		t.Errorf("VocabSize() = %d, want %d", got, want)
	}
	ids, err := tok.Encode("")
	if bos, _ := tok.TokenID("<|begin_of_text|>"); err != nil || !slices.Equal(ids, []int{bos}) {
		t.Errorf(`Encode("") = %v, %v, want [%d]`, ids, err, bos)
	}
}

// TestKnownPatterns checks the hand-written matchers against the same
// regular expressions run by the general translation.
func TestKnownPatterns(t *testing.T) {
	texts := []string{
		"", "Hello world", "  a  \n\n b\t\r\n", "I'M it's 'll 'ſ", "12345 678", "x²³ ½",
		"naïve café 日本語 🙂", "a\u00a0b\u3000\u2028c", "!!!\n\n?? ...", " \n", "'", "' s",
	}
	for _, expr := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		hand, err := compilePattern(expr)
		if err != nil {
			t.Fatal(err)
		}
		general, err := compileGeneral(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range texts {
			if a, b := findAll(hand, s), findAll(general, s); !slices.Equal(a, b) {
				t.Errorf("%.20s... on %q: hand-written %v, general %v", expr, s, a, b)
			}
		}
	}
}
