package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bico-dev/bico/tensor"
)

// words is a fake tokenizer: a space-separated word maps to its id in the
// map or, when it is a decimal number, to that number; any other word is
// an error.
type words map[string]int

func (w words) Encode(text string) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(text) {
		id, ok := w[f]
		if !ok {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("unknown word %q", f)
			}
			id = n
		}
		ids = append(ids, id)
	}
	return ids, nil
}

var vocab = words{"good": 5, "bad": 6, "movie": 7, "very": 8}

// writeJSONL writes lines as the file name in a temporary folder.
func writeJSONL(t testing.TB, name string, lines ...string) string {
	t.Helper()
	return writeFile(t, filepath.Join(t.TempDir(), name), []byte(strings.Join(lines, "\n")))
}

// checkText checks ds's token ids, labels, classes and class names.
func checkText(t *testing.T, ds *Dataset, ids [][]float32, labels []int, classes int, names []string) {
	t.Helper()
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(ids...)
	if !ds.IsText() || !slices.Equal(ds.Inputs.Shape, []int{len(ids), len(ids[0])}) || !slices.Equal(ds.Inputs.Data, want) {
		t.Errorf("inputs %v %v, want %v", ds.Inputs.Shape, ds.Inputs.Data, ids)
	}
	if !slices.Equal(ds.Labels, labels) || ds.Classes != classes || !slices.Equal(ds.ClassNames, names) {
		t.Errorf("labels %v, %d classes %q; want %v, %d classes %q", ds.Labels, ds.Classes, ds.ClassNames, labels, classes, names)
	}
}

func TestJSONLClassNames(t *testing.T) {
	path := writeJSONL(t, "reviews.jsonl",
		`{"text": "good movie", "label": "pos"}`,
		``,
		"{\"text\": \"bad\", \"label\": \"neg\"}\r",
		`  {"label": "meh", "text": null, "input_ids": [1, 2, 3, 4]}  `,
		`{"text": "ignored: input_ids win", "input_ids": [9], "label": "pos"}`,
	)
	ds, err := LoadJSONL(path, TextOptions{Encoder: vocab, PadID: 0})
	if err != nil {
		t.Fatal(err)
	}
	checkText(t, ds, [][]float32{{5, 7, 0, 0}, {6, 0, 0, 0}, {1, 2, 3, 4}, {9, 0, 0, 0}},
		[]int{2, 1, 0, 2}, 3, []string{"meh", "neg", "pos"})
}

func TestJSONLClassNumbers(t *testing.T) {
	path := writeJSONL(t, "ids.jsonl",
		`{"input_ids": [1, 2], "label": 3}`,
		`{"input_ids": [3, 16777215], "label": 0}`,
	)
	ds, err := LoadJSONL(path, TextOptions{PadID: NoPad})
	if err != nil {
		t.Fatal(err)
	}
	checkText(t, ds, [][]float32{{1, 2}, {3, 16777215}}, []int{3, 0}, 4, nil)
}

func TestJSONLTruncateAndPad(t *testing.T) {
	path := writeJSONL(t, "t.jsonl",
		`{"sentence": "very good movie", "labels": 1}`,
		`{"sentence": "bad", "labels": 0}`,
		`{"sentence": "very very bad movie", "labels": 1}`,
	)
	for _, tc := range []struct {
		pad, maxLength int
		want           [][]float32
	}{
		{2, 0, [][]float32{{8, 5, 7, 2}, {6, 2, 2, 2}, {8, 8, 6, 7}}},
		{2, 3, [][]float32{{8, 5, 7}, {6, 2, 2}, {8, 8, 6}}},
		{99, 1, [][]float32{{8}, {6}, {8}}},
		{NoPad, 1, [][]float32{{8}, {6}, {8}}}, // equal once truncated
	} {
		opts := TextOptions{Encoder: vocab, PadID: tc.pad, MaxLength: tc.maxLength, TextField: "sentence", LabelField: "labels"}
		ds, err := LoadJSONL(path, opts)
		if err != nil {
			t.Fatalf("pad %d, max length %d: %v", tc.pad, tc.maxLength, err)
		}
		checkText(t, ds, tc.want, []int{1, 0, 1}, 2, nil)
	}
}

func TestJSONLErrors(t *testing.T) {
	first := `{"input_ids": [1, 2], "label": 0}`
	text := TextOptions{Encoder: vocab, PadID: 0}
	for _, tc := range []struct {
		line string // the second line of the file
		opts TextOptions
		want string
	}{
		{`{"input_ids": [1, 2], "label": 0`, text, "invalid JSON"},
		{`{"input_ids": [1, 2], "label": 0} x`, text, "invalid JSON"},
		{`[1, 2]`, text, "not a JSON object"},
		{`"good"`, text, "not a JSON object"},
		{`{"input_ids": [1, 2]}`, text, `field "label" is missing`},
		{`{"input_ids": [1, 2], "label": null}`, text, `field "label" is missing`},
		{`{"input_ids": [1, 2], "label": true}`, text, "want a class name (a string) or a class number (an integer)"},
		{`{"input_ids": [1, 2], "label": 1.5}`, text, "want a class name"},
		{`{"input_ids": [1, 2], "label": [1]}`, text, "want a class name"},
		{`{"input_ids": [1, 2], "label": -1}`, text, "cannot be negative"},
		{`{"input_ids": [1, 2], "label": 1048576}`, text, "must be below"},
		{`{"input_ids": [1, 2], "label": 99999999999999999999}`, text, "want a class name"},
		{`{"input_ids": [1, 2], "label": ""}`, text, "empty class name"},
		{`{"input_ids": [1, 2], "label": "pos"}`, text, `field "label" is a class name but line 1 gives a class number`},
		{`{"label": 1}`, text, `neither field "input_ids" nor field "text" is present`},
		{`{"text": null, "label": 1}`, text, `neither field "input_ids" nor field "text"`},
		{`{"text": 7, "label": 1}`, text, `field "text" is 7, not a string`},
		{`{"text": "good", "label": 1}`, TextOptions{PadID: 0}, `field "text" needs a tokenizer`},
		{`{"text": "great", "label": 1}`, text, `tokenize field "text": unknown word "great"`},
		{`{"text": "good -3", "label": 1}`, text, "token 1 is -3"},
		{`{"text": "good 16777216", "label": 1}`, text, "token 1 is 16777216, outside the token ids"},
		{`{"text": "  ", "label": 1}`, text, "empty sequence"},
		{`{"input_ids": [], "label": 1}`, text, "empty sequence"},
		{`{"input_ids": {"a": 1}, "label": 1}`, text, `field "input_ids" is {"a": 1}, not an array`},
		{`{"input_ids": [1, 2.5], "label": 1}`, text, `token 1 of "input_ids" is 2.5, not a token id`},
		{`{"input_ids": [1, "2"], "label": 1}`, text, `token 1 of "input_ids" is "2", not a token id`},
		{`{"input_ids": [-1], "label": 1}`, text, "token 0 is -1"},
		{`{"input_ids": [1, 2, 3], "label": 1}`, TextOptions{PadID: NoPad}, "3 tokens but line 1 has 2: the model has no pad token (pad_token_id)"},
		{`{"input_ids": [1], "label": 1}`, TextOptions{PadID: NoPad, MaxLength: 3}, "1 tokens but line 1 has 2"},
	} {
		path := writeJSONL(t, "calib.jsonl", first, tc.line)
		_, err := LoadJSONL(path, tc.opts)
		prefix := "data: " + path + ":2: "
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("line %s: error %v, want %q after %q", tc.line, err, tc.want, prefix)
		}
	}
}

func TestJSONLFileErrors(t *testing.T) {
	for _, tc := range []struct {
		contents string
		opts     TextOptions
		want     string
	}{
		{"", TextOptions{}, "no samples"},
		{"\n  \n\r\n", TextOptions{}, "no samples"},
		{`{"input_ids": [1], "label": 0}`, TextOptions{MaxLength: -1}, "maximum length -1"},
		{`{"input_ids": [1], "label": 0}`, TextOptions{PadID: 1 << 24}, "pad token id 16777216 out of range"},
	} {
		path := writeJSONL(t, "f.jsonl", tc.contents)
		_, err := LoadJSONL(path, tc.opts)
		if err == nil || !strings.HasPrefix(err.Error(), "data: "+path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.contents, err, tc.want)
		}
	}
	if _, err := LoadJSONL(filepath.Join(t.TempDir(), "missing.jsonl"), TextOptions{}); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	// A byte order mark is not part of the first line.
	path := writeJSONL(t, "bom.jsonl", "\uFEFF"+`{"input_ids": [4], "label": "a"}`)
	if ds, err := LoadJSONL(path, TextOptions{}); err != nil || ds.Inputs.Data[0] != 4 {
		t.Errorf("file with a byte order mark: %v", err)
	}
}

func TestLoadTextSpec(t *testing.T) {
	ids := writeJSONL(t, "ids.JSONL", `{"input_ids": [1, 2], "label": 1}`, `{"input_ids": [3, 4], "label": 0}`)
	ds, err := Load(ids)
	if err != nil {
		t.Fatal(err)
	}
	checkText(t, ds, [][]float32{{1, 2}, {3, 4}}, []int{1, 0}, 2, nil)

	texts := writeJSONL(t, "texts.jsonl", `{"text": "good movie", "label": "pos"}`, `{"text": "bad", "label": "neg"}`)
	if _, err := Load(texts); err == nil || !strings.Contains(err.Error(), texts+":1: ") || !strings.Contains(err.Error(), "needs a tokenizer") {
		t.Errorf("Load of texts: %v", err)
	}
	if _, err := Load(texts + ":train"); err == nil || !strings.Contains(err.Error(), "applies only to a folder of idx files") {
		t.Errorf("Load of a split of texts: %v", err)
	}
	ds, err = LoadText(texts, TextOptions{Encoder: vocab, PadID: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkText(t, ds, [][]float32{{5, 7}, {6, 3}}, []int{1, 0}, 2, []string{"neg", "pos"})
	if _, err := LoadText("calib.safetensors", TextOptions{}); err == nil || !strings.Contains(err.Error(), "a text dataset is a .jsonl file") {
		t.Errorf("LoadText of a safetensors file: %v", err)
	}
}

// tokenDataset is n sequences of length t whose first token is the sample
// index, labelled cyclically with classes named c0, c1, ….
func tokenDataset(n, t, classes int) *Dataset {
	ds := &Dataset{Inputs: tensor.New[float32](n, t), Labels: make([]int, n), Classes: classes}
	for i := range n {
		ds.Inputs.Data[i*t] = float32(i)
		ds.Inputs.Data[i*t+1] = float32(i % 3)
		ds.Labels[i] = i % classes
	}
	for c := range classes {
		ds.ClassNames = append(ds.ClassNames, fmt.Sprintf("c%d", c))
	}
	return ds
}

// TestTextSelection runs the generic parts of the package on token ids
// [N, T]: selection, held-out splits, shuffles, batches, concatenation
// and label matching keep each sequence whole and with its label.
func TestTextSelection(t *testing.T) {
	ds := tokenDataset(30, 4, 3)
	whole := func(name string, d *Dataset) {
		t.Helper()
		if err := d.Validate(); err != nil || !d.IsText() || d.Inputs.Shape[1] != 4 {
			t.Fatalf("%s: %v, shape %v", name, err, d.Inputs.Shape)
		}
		for i, l := range d.Labels {
			row := d.Inputs.Data[i*4 : (i+1)*4]
			src := int(row[0])
			if !slices.Equal(row, ds.Inputs.Data[src*4:(src+1)*4]) || l != ds.Labels[src] {
				t.Fatalf("%s: sample %d is %v with label %d, not sample %d", name, i, row, l, src)
			}
		}
	}
	pc, err := PerClass(ds, 4, 1)
	if err != nil || pc.Len() != 12 || !slices.Equal(pc.ClassCounts(), []int{4, 4, 4}) {
		t.Fatalf("per class: %v, counts %v", err, pc.ClassCounts())
	}
	whole("per class", pc)
	stats, held, err := SplitHeldOut(ds, 0.3, 2)
	if err != nil || stats.Len()+held.Len() != 30 || !slices.Equal(held.ClassCounts(), []int{3, 3, 3}) {
		t.Fatalf("held out: %v", err)
	}
	whole("statistics part", stats)
	whole("held-out part", held)
	whole("shuffle", Shuffle(ds, 3))
	cat, err := Concat(stats, held)
	if err != nil || cat.Len() != 30 {
		t.Fatalf("concat: %v", err)
	}
	whole("concat", cat)
	if _, err := Concat(ds, tokenDataset(3, 5, 3)); err == nil {
		t.Error("concat of sequences of lengths 4 and 5")
	}
	for x, y := range ds.Batches(7) {
		if !slices.Equal(x.Shape, []int{len(y), 4}) {
			t.Fatalf("batch of shape %v", x.Shape)
		}
	}
	m := ds.Clone()
	if err := MatchLabels(m, []string{"c2", "c0", "c1"}); err != nil || m.Labels[0] != 1 || m.Labels[2] != 0 {
		t.Fatalf("match labels: %v %v", err, m.Labels[:3])
	}
}

// TestTextImageOnly checks that image-only operations refuse token ids
// with an error, or a panic that says why, rather than an index panic.
func TestTextImageOnly(t *testing.T) {
	ds := tokenDataset(4, 3, 2)
	dir := t.TempDir()
	if err := SaveImageFolder(filepath.Join(dir, "f"), ds); err == nil || !strings.Contains(err.Error(), "token sequences") {
		t.Errorf("save image folder: %v", err)
	}
	if err := SaveSafetensors(filepath.Join(dir, "f.safetensors"), ds); err == nil || !strings.Contains(err.Error(), "token sequences") {
		t.Errorf("save safetensors: %v", err)
	}
	if _, err := DefaultPreprocess().Apply(ds.Inputs, 3); err == nil {
		t.Error("preprocess of token ids")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "applies to images") {
			t.Errorf("task on token ids: panic %v", r)
		}
	}()
	Tasks()[0].Apply(ds, 0)
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"text": "good movie", "label": "pos"}` + "\n" + `{"text": "bad", "label": "neg"}`,
		`{"input_ids": [1, 2], "label": 3}` + "\n\n" + `{"input_ids": [3], "label": 0}`,
		`{"input_ids": [1, 2], "label": 1}` + "\r\n" + `{"text": "very good", "label": 0}`,
		"\uFEFF" + `{"text": "1 2 3", "label": 0, "input_ids": null}`,
		`{"text": "good", "label": -1}`,
		`{"input_ids": [16777215, 0], "label": 1048575}`,
		`{"text": "", "label": "x"}`,
		`[]`,
	} {
		f.Add([]byte(s), 0, 0)
		f.Add([]byte(s), -1, 2)
	}
	f.Fuzz(func(t *testing.T, b []byte, pad, maxLength int) {
		opts := TextOptions{Encoder: vocab, PadID: pad, MaxLength: maxLength}
		ds, err := parseJSONL("fuzz.jsonl", b, opts)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "data: fuzz.jsonl:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := ds.Validate(); err != nil {
			t.Fatalf("invalid dataset: %v", err)
		}
		if !ds.IsText() || ds.Len() == 0 || maxLength > 0 && ds.Inputs.Shape[1] > maxLength {
			t.Fatalf("dataset of shape %v with max length %d", ds.Inputs.Shape, maxLength)
		}
	})
}

// TestUnlabelledText: text for a language model needs no labels; every
// sample is of class 0.
func TestUnlabelledText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lm.jsonl")
	if err := os.WriteFile(path, []byte(`{"input_ids": [3, 4, 5]}`+"\n"+`{"input_ids": [6], "label": "x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := LoadJSONL(path, TextOptions{PadID: 0, Unlabelled: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Classes != 1 || ds.Labels[0] != 0 || ds.Labels[1] != 0 || !slices.Equal(ds.Inputs.Data, []float32{3, 4, 5, 6, 0, 0}) {
		t.Errorf("dataset: %d classes, labels %v, inputs %v", ds.Classes, ds.Labels, ds.Inputs.Data)
	}
	if _, err := LoadJSONL(path, TextOptions{PadID: 0}); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("labelled read of unlabelled text: %v", err)
	}
}
