package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenText: the texts of an encoding's tokens, concatenated, give back
// the text: exactly for byte-level tokenizers, after the space prepended
// for Llama-2's and Mistral's (the normalizer's) and RoBERTa's
// (add_prefix_space).
func TestTokenText(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	lines = append(lines, "tabs\tand\nnew lines, émigré 東京 🙂 <0x41>")
	for _, c := range []struct {
		file    string
		prepend string
		always  bool // prepend also to text that starts with a space
	}{
		{"gpt2.json", "", false}, {"llama3.json", "", false}, {"qwen2.json", "", false}, {"o200k.json", "", false}, {"deepseek.json", "", false},
		{"roberta.json", " ", false}, {"llama2.json", " ", true}, {"mistral.json", " ", false},
	} {
		tok, err := Load(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range lines {
			ids, err := tok.Encode(line)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, id := range ids {
				s, ok := tok.TokenText(id)
				if !ok {
					t.Fatalf("%s: no text for id %d", c.file, id)
				}
				b.WriteString(s)
			}
			want := c.prepend + line
			if line == "" || !c.always && strings.HasPrefix(line, " ") {
				want = line
			}
			if got := b.String(); got != want {
				t.Errorf("%s: the tokens' texts of %q give %q", c.file, line, got)
				break
			}
		}
	}
	tok, err := Load(filepath.Join("testdata", "llama2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.TokenText(1 << 30); ok {
		t.Error("a text for an id beyond the vocabulary")
	}
}

// TestTokenTextWordPiece: a WordPiece token stands for its text without the
// "##" that marks it inside a word; the spaces between words are the
// pre-tokenizer's, in no token.
func TestTokenTextWordPiece(t *testing.T) {
	tok, err := Load(filepath.Join("testdata", "bert.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode("Hello, World! The weather is fine.")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, id := range ids {
		s, _ := tok.TokenText(id)
		b.WriteString(s)
	}
	if got, want := b.String(), "hello,world!theweatherisfine."; got != want {
		t.Errorf("the tokens' texts give %q, want %q", got, want)
	}
}
