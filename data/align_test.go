package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bico-dev/bico/tokenizer"
)

func TestMatchTokens(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b []string
		want []RowPair
	}{
		{"same", []string{"a", "b c", "d"}, []string{"a", "b c", "d"}, []RowPair{{0, 0}, {1, 1}, {2, 2}}},
		{"other splits", []string{"", "Hello", " world", "!"}, []string{"Hello", " wor", "ld!"}, []RowPair{{1, 0}, {3, 2}}},
		{"a space token", []string{"Hello", " ", "world"}, []string{"Hello", " world"}, []RowPair{{1, 0}, {2, 1}}},
		{"both BOS", []string{"", "x", "y"}, []string{"", "xy"}, []RowPair{{0, 0}, {2, 1}}},
		{"texts differ", []string{"abc", "def", "g"}, []string{"abc", "xyz", "g"}, []RowPair{{0, 0}, {2, 2}}},
		{"accents stripped", []string{"Café", " au", " lait", "."}, []string{"cafe", "au", "lait", "."}, []RowPair{{1, 1}, {2, 2}, {3, 3}}},
		{"a ligature expanded", []string{"the", " ﬁrst", " time"}, []string{"the", "fi", "rst", "time"}, []RowPair{{0, 0}, {1, 2}, {2, 3}}},
		{"nothing shared", []string{"abc"}, []string{"xyz"}, nil},
		{"one longer", []string{"ab", "cd", "ef"}, []string{"abc", "d"}, []RowPair{{1, 1}}},
		{"empty", nil, []string{"a"}, nil},
		{"same with a space token", []string{"", " ", "A"}, []string{"", " ", "A"}, []RowPair{{0, 0}, {1, 1}, {2, 2}}},
		{"spaces on one side", []string{"", " ", " ", "A"}, []string{"", "A"}, []RowPair{{2, 0}, {3, 1}}},
		{"cased and uncased", []string{"The", " Cat", "!"}, []string{"the", "cat", "!"}, []RowPair{{0, 0}, {1, 1}, {2, 2}}},
	} {
		if got := MatchTokens(c.a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestLoadTextWithSource: text read for a source and a target with
// different tokenizers (Llama 2's and Llama 3's) gets both encodings, and
// the pairs of positions that have read the same text, which Subset keeps
// with their samples.
func TestLoadTextWithSource(t *testing.T) {
	load := func(name string) *tokenizer.Tokenizer {
		tok, err := tokenizer.Load(filepath.Join("..", "tokenizer", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	src, tgt := load("llama2.json"), load("llama3.json")
	texts := []string{"The quick brown fox jumps over the lazy dog.", "It's a small town, but it's a happy one.", "Hi"}
	var lines []string
	for i, s := range texts {
		lines = append(lines, fmt.Sprintf(`{"text": %q, "label": %d}`, s, i%2))
	}
	path := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := LoadJSONL(path, TextOptions{Encoder: tgt, PadID: 0, Source: &SourceText{Encoder: src, PadID: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Source == nil || ds.Source.Inputs.Shape[0] != 3 {
		t.Fatalf("no source tokens: %+v", ds.Source)
	}
	for i, s := range texts {
		a, _ := src.Encode(s)
		b, _ := tgt.Encode(s)
		ta, _ := tokenTexts(src, a)
		tb, _ := tokenTexts(tgt, b)
		rows := ds.Source.Rows[i]
		// Both start with a BOS token, and both end where the text ends.
		if len(rows) < 2 || rows[0] != (RowPair{0, 0}) || rows[len(rows)-1] != (RowPair{len(a) - 1, len(b) - 1}) {
			t.Errorf("%q: pairs %v (source %q, target %q)", s, rows, ta, tb)
		}
		for _, r := range rows {
			ca, _ := contentEnds(ta[:r.A+1])
			cb, _ := contentEnds(tb[:r.B+1])
			if ca[r.A] != cb[r.B] {
				t.Errorf("%q: pair %v: %q against %q", s, r, ta[:r.A+1], tb[:r.B+1])
			}
		}
		for k, id := range a {
			if got := ds.Source.Inputs.Data[i*ds.Source.Inputs.Shape[1]+k]; got != float32(id) {
				t.Fatalf("%q: source token %d is %g, want %d", s, k, got, id)
			}
		}
	}
	sub := ds.Subset([]int{2, 0})
	if !slices.Equal(sub.Source.Rows[0], ds.Source.Rows[2]) || sub.Source.Inputs.Data[0] != ds.Source.Inputs.Data[2*ds.Source.Inputs.Shape[1]] {
		t.Error("Subset does not carry the source tokens with their samples")
	}
	// A line of input_ids cannot be tokenised for the source.
	if err := os.WriteFile(path, []byte(`{"input_ids": [1, 2], "label": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadJSONL(path, TextOptions{Encoder: tgt, Source: &SourceText{Encoder: src}}); err == nil || !strings.Contains(err.Error(), ":1:") || !strings.Contains(err.Error(), "tokenise text differently") {
		t.Errorf("input_ids with a source tokenizer: %v", err)
	}
}

// FuzzMatchTokens splits one text two ways at the fuzzer's cut points (a
// cut list of byte offsets, one byte each, taken modulo the text's length)
// and checks MatchTokens: pairs increase on both sides, each pair has read
// the same text on both sides, the last tokens pair up, and one split
// matched with itself pairs every token.
func FuzzMatchTokens(f *testing.F) {
	f.Add("Hello world, again", []byte{5, 6}, []byte{3, 11})
	f.Add("  a  b ", []byte{0, 1, 2}, []byte{4})
	f.Fuzz(func(t *testing.T, text string, cutsA, cutsB []byte) {
		if len(text) == 0 || len(cutsA) > 64 || len(cutsB) > 64 {
			return
		}
		split := func(cuts []byte) []string {
			at := []int{0, len(text)}
			for _, c := range cuts {
				at = append(at, int(c)%len(text))
			}
			slices.Sort(at)
			var out []string
			for i := 1; i < len(at); i++ {
				out = append(out, text[at[i-1]:at[i]])
			}
			return out
		}
		a, b := split(cutsA), split(cutsB)
		rows := MatchTokens(a, b)
		for k, r := range rows {
			if r.A < 0 || r.A >= len(a) || r.B < 0 || r.B >= len(b) || k > 0 && (r.A <= rows[k-1].A || r.B <= rows[k-1].B) {
				t.Fatalf("pairs %v of %q and %q", rows, a, b)
			}
			ea, _ := contentEnds(a[:r.A+1])
			eb, _ := contentEnds(b[:r.B+1])
			if ea[r.A] != eb[r.B] {
				t.Fatalf("pair %v of %q and %q has read different text", r, a, b)
			}
		}
		if len(rows) == 0 || rows[len(rows)-1] != (RowPair{len(a) - 1, len(b) - 1}) {
			t.Fatalf("the last tokens of %q and %q do not pair: %v", a, b, rows)
		}
		if self := MatchTokens(a, a); len(self) != len(a) {
			t.Fatalf("%q with itself pairs %v", a, self)
		}
		// With a byte of b's text changed, pairs still increase and end
		// on a byte both texts have.
		if len(cutsB) > 0 {
			pos := int(cutsB[0]) % len(text)
			edited := text[:pos] + "#" + text[pos+1:]
			b := split(cutsA)
			for i, k := 0, 0; i < len(b); i++ {
				b[i] = edited[k : k+len(b[i])]
				k += len(b[i])
			}
			last := func(tokens []string) (byte, bool) {
				_, s := contentEnds(tokens)
				if len(s) == 0 {
					return 0, false
				}
				return s[len(s)-1], true
			}
			rows := MatchTokens(a, b)
			for k, r := range rows {
				if k > 0 && (r.A <= rows[k-1].A || r.B <= rows[k-1].B) {
					t.Fatalf("pairs %v of %q and %q", rows, a, b)
				}
				ca, okA := last(a[:r.A+1])
				cb, okB := last(b[:r.B+1])
				if ca != cb || okA != okB {
					t.Fatalf("pair %v of %q and %q ends on %q and %q", r, a, b, ca, cb)
				}
			}
		}
	})
}
