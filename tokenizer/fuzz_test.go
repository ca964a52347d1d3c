package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fixtureNames are the tokenizers of testdata.
var fixtureNames = []string{
	"gpt2", "roberta", "llama3", "qwen2", "o200k", "deepseek", "normalized", "llama2", "mistral", "llama2unk",
}

// lossless are the fixtures whose ids spell the text exactly: byte-level
// vocabularies without a normalizer or an added prefix space.
var lossless = map[string]bool{"gpt2": true, "llama3": true, "o200k": true, "deepseek": true}

// charBytes maps GPT-2 characters back to bytes.
var charBytes = func() map[rune]byte {
	m := map[rune]byte{}
	for b, r := range byteChars {
		m[r] = byte(b)
	}
	return m
}()

// decodeByteLevel returns the text that the ids of a byte-level tokenizer
// spell.
func decodeByteLevel(t *testing.T, tok *Tokenizer, ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		s, ok := tok.Token(id)
		if !ok {
			t.Fatalf("id %d has no token", id)
		}
		if _, ok := tok.added.byID[id]; ok {
			b.WriteString(s)
			continue
		}
		for _, r := range s {
			c, ok := charBytes[r]
			if !ok {
				t.Fatalf("token %q of id %d is not byte-level", s, id)
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", "Hello world", "naïve café 日本語 🙂", "don't  stop\n\n", "<|eot_id|>x<s>", "\xff\xfe a",
		"  \t\r\n\u0085\ufeff", "'ſ'S 12345", "[INST] hi [/INST]", "a<mask> b", "ﬁ²",
	} {
		f.Add(s)
	}
	toks := map[string]*Tokenizer{}
	for _, name := range fixtureNames {
		toks[name] = loadFixture(f, name)
	}
	var general []pattern
	for _, expr := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		p, err := compileGeneral(expr)
		if err != nil {
			f.Fatal(err)
		}
		general = append(general, p)
	}
	hand := []pattern{
		alternation{handWritten(matchGPT2)}, alternation{handWritten(matchLlama3)}, alternation{handWritten(matchQwen2)},
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, name := range fixtureNames {
			tok := toks[name]
			ids, err := tok.Encode(text)
			if err != nil {
				t.Fatalf("%s: Encode(%q): %v", name, text, err)
			}
			for _, id := range ids {
				if _, ok := tok.Token(id); !ok {
					t.Fatalf("%s: Encode(%q) gives id %d, which has no token", name, text, id)
				}
			}
			if lossless[name] {
				raw, _ := tok.EncodeRaw(text)
				if got, want := decodeByteLevel(t, tok, raw), validUTF8(text); got != want {
					t.Fatalf("%s: ids of %q spell %q", name, want, got)
				}
			}
		}
		s := validUTF8(text)
		for i := range hand {
			if a, b := findAll(hand[i], s), findAll(general[i], s); !slices.Equal(a, b) {
				t.Fatalf("pattern %d on %q: hand-written %v, general %v", i, s, a, b)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"added_tokens":[{"id":3,"content":"<s>","special":true,"lstrip":true}],` +
		`"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},` +
		`{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},` +
		`"model":{"vocab":{"▁":0,"a":1,"▁a":2},"merges":[["▁","a"]],"byte_fallback":true,"unk_token":"<unk>"}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":` +
		`{"Regex":"\\p{N}{1,3}|\\s+(?!\\S)|[\\p{P}\\S]+$"},"behavior":"MergedWithNext","invert":true},` +
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},` +
		`{"type":"Digits","individual_digits":false}]},` +
		`"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},` +
		`{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]}}},` +
		`"model":{"type":"BPE","vocab":{"a":0},"merges":[],"continuing_subword_prefix":"##"}}`))
	data, err := os.ReadFile(filepath.Join("testdata", "llama3.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shrinkFixture(f, data))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tokenizer: tokenizer.json: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, s := range []string{"", "Hello  world\n<s> 123 ▁a", "\xff日本"} {
			if _, err := tok.Encode(s); err != nil && !utf8.ValidString(err.Error()) {
				t.Fatalf("bad error %q", err)
			}
			tok.EncodeRaw(s)
		}
	})
}

// shrinkFixture returns a fixture with its vocabulary and merges cut down,
// as a small seed for FuzzParse.
func shrinkFixture(f *testing.F, data []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		f.Fatal(err)
	}
	model := m["model"].(map[string]any)
	vocab := map[string]any{}
	for k, v := range model["vocab"].(map[string]any) {
		if id := v.(float64); id < 300 {
			vocab[k] = v
		}
	}
	model["vocab"] = vocab
	model["merges"] = model["merges"].([]any)[:20]
	out, err := json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return out
}
