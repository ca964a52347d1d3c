package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// goldenCase is an entry of testdata/golden.json: the ids that the
// reference implementation gives for a text, with and without special
// tokens.
type goldenCase struct {
	Tokenizer string `json:"tokenizer"`
	Text      string `json:"text"`
	IDs       []int  `json:"ids"`
	Raw       []int  `json:"raw"`
}

func readGolden(t testing.TB) []goldenCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// loadFixture loads testdata/name.json, once per test binary.
func loadFixture(t testing.TB, name string) *Tokenizer {
	t.Helper()
	if tok, ok := fixtures[name]; ok {
		return tok
	}
	tok, err := Load(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	fixtures[name] = tok
	return tok
}

var fixtures = map[string]*Tokenizer{}

func TestGolden(t *testing.T) {
	cases := readGolden(t)
	if len(cases) < 1000 {
		t.Fatalf("golden.json has %d cases, want at least 1000", len(cases))
	}
	matched := map[string]int{}
	total := map[string]int{}
	for _, c := range cases {
		tok := loadFixture(t, c.Tokenizer)
		total[c.Tokenizer]++
		ids, err := tok.Encode(c.Text)
		if err != nil {
			t.Errorf("%s: Encode(%q): %v", c.Tokenizer, c.Text, err)
			continue
		}
		raw, err := tok.EncodeRaw(c.Text)
		if err != nil {
			t.Errorf("%s: EncodeRaw(%q): %v", c.Tokenizer, c.Text, err)
			continue
		}
		ok := true
		if !slices.Equal(ids, c.IDs) {
			t.Errorf("%s: Encode(%q)\n got %v\nwant %v", c.Tokenizer, c.Text, ids, c.IDs)
			ok = false
		}
		if !slices.Equal(raw, c.Raw) {
			t.Errorf("%s: EncodeRaw(%q)\n got %v\nwant %v", c.Tokenizer, c.Text, raw, c.Raw)
			ok = false
		}
		if ok {
			matched[c.Tokenizer]++
		}
	}
	for name, n := range total {
		t.Logf("%-10s %3d/%3d golden cases match", name, matched[name], n)
	}
}
