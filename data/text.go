package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/bico-dev/bico/tensor"
)

// Encoder turns a text into token ids: what a tokenizer provides.
type Encoder interface {
	Encode(text string) ([]int, error)
}

// NoPad is the TextOptions.PadID of a model without a pad token.
const NoPad = -1

// FieldInputIDs is the JSONL field of a sequence that is already tokenised.
const FieldInputIDs = "input_ids"

const (
	// maxTokenID bounds token ids (exclusive): they are stored as float32,
	// which holds every integer below 2²⁴ exactly.
	maxTokenID = 1 << 24
	// maxClassNumber bounds integer labels (exclusive): a class number
	// beyond it is surely a typo, and would make per-class tables huge.
	maxClassNumber = 1 << 20
)

// TextOptions says how LoadJSONL and LoadText turn lines into token
// sequences.
type TextOptions struct {
	// Encoder tokenises the text field. Nil: every line must hold
	// input_ids.
	Encoder Encoder
	// PadID is the token appended to sequences shorter than the longest:
	// the model's pad_token_id. NoPad (any negative value) says the model
	// has none, and then every sequence must have the same length. The
	// zero value pads with token 0.
	PadID int
	// MaxLength, when positive, truncates longer sequences to their first
	// MaxLength tokens (transformers' default truncation side). Zero: no
	// limit.
	MaxLength int
	// TextField and LabelField name the fields holding a line's text and
	// label; empty means "text" and "label".
	TextField, LabelField string
	// Unlabelled reads text for a language model, whose targets are the
	// text's own next tokens: lines need no label (one they have is
	// ignored), and every sample is of the one class 0.
	Unlabelled bool
	// Source, when set, also encodes each text for the source model of a
	// transfer whose tokenizer differs from Encoder, into the dataset's
	// Source. Every line must then hold text, not input_ids, and Encoder
	// must be a TextEncoder.
	Source *SourceText
}

// textField is the name of the text field.
func (o *TextOptions) textField() string { return orDefault(o.TextField, "text") }

// labelField is the name of the label field.
func (o *TextOptions) labelField() string { return orDefault(o.LabelField, "label") }

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// check reports options that no file can satisfy.
func (o *TextOptions) check() error {
	if o.MaxLength < 0 {
		return fmt.Errorf("maximum length %d, want a positive length or 0 for no limit", o.MaxLength)
	}
	if o.PadID >= maxTokenID {
		return fmt.Errorf("pad token id %d out of range [0, 2²⁴)", o.PadID)
	}
	return nil
}

// LoadText reads the text dataset a spec names: a FILE.jsonl, read by
// LoadJSONL with opts. It is the entry point for text models, whose
// caller knows the tokenizer and pad_token_id; Load reads the same files
// without either.
func LoadText(spec string, opts TextOptions) (*Dataset, error) {
	if !isJSONL(spec) {
		return nil, fmt.Errorf("data: dataset %q: a text dataset is a .jsonl file", spec)
	}
	return LoadJSONL(spec, opts)
}

// isJSONL reports whether path names a JSONL file.
func isJSONL(path string) bool {
	return strings.HasSuffix(strings.ToLower(path), ".jsonl")
}

// LoadJSONL reads a text dataset with one JSON object a line (blank lines
// are skipped). A line holds the sequence either as "input_ids", an array
// of token ids used as they are, or as a text field, tokenised by
// opts.Encoder; and a label field, either a class name (a string) or a
// class number (a non-negative integer), one kind for the whole file. A
// null field counts as missing. Class names become classes in sorted order
// (as image folders do) and ClassNames; class numbers are used as they
// are, with Classes the largest plus one. Sequences are truncated to
// opts.MaxLength and padded at their end with opts.PadID to the longest.
// An error names the file and the line.
func LoadJSONL(path string, opts TextOptions) (*Dataset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return parseJSONL(path, b, opts)
}

// textLine is one parsed line of a JSONL file.
type textLine struct {
	line int // 1-based
	ids  []int
	// srcIDs are the source's ids (TextOptions.Source), rows the pairs of
	// matched positions.
	srcIDs []int
	rows   []RowPair
	name   string // the class name, when named
	class  int    // the class number, when not named
	named  bool
}

// parseJSONL reads the contents b of the JSONL file name.
func parseJSONL(name string, b []byte, opts TextOptions) (*Dataset, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	rows, err := opts.parseLines(name, b)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Labels: make([]int, len(rows))}
	if err := ds.setLabels(name, rows, opts.labelField()); err != nil {
		return nil, err
	}
	x, err := padSequences(name, rows, opts.PadID)
	if err != nil {
		return nil, err
	}
	ds.Inputs = x
	if opts.Source != nil {
		src := &SourceTokens{Rows: make([][]RowPair, len(rows))}
		srcRows := make([]textLine, len(rows))
		for i, r := range rows {
			srcRows[i] = textLine{line: r.line, ids: r.srcIDs}
			src.Rows[i] = r.rows
		}
		if src.Inputs, err = padSequences(name, srcRows, opts.Source.PadID); err != nil {
			return nil, fmt.Errorf("source tokens: %w", err)
		}
		ds.Source = src
	}
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	return ds, nil
}

// parseLines parses the non-blank lines of the contents b of the JSONL
// file name, skipping a leading byte order mark.
func (o *TextOptions) parseLines(name string, b []byte) ([]textLine, error) {
	var rows []textLine
	n := 0
	for line := range bytes.Lines(bytes.TrimPrefix(b, []byte("\uFEFF"))) {
		n++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		row, err := o.parseLine(line)
		if err != nil {
			return nil, lineError(name, n, err)
		}
		row.line = n
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("data: %s: no samples", name)
	}
	return rows, nil
}

// lineError is err found at line n of the file name.
func lineError(name string, n int, err error) error {
	return fmt.Errorf("data: %s:%d: %w", name, n, err)
}

// parseLine reads one non-blank line: its sequence, truncated, and label.
func (o *TextOptions) parseLine(line []byte) (textLine, error) {
	var row textLine
	if line[0] != '{' {
		return row, fmt.Errorf("line is not a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return row, fmt.Errorf("invalid JSON: %v", err)
	}
	ids, text, err := o.sequence(obj)
	if err != nil {
		return row, err
	}
	if err := checkIDs(ids); err != nil {
		return row, err
	}
	row.ids = o.truncate(ids)
	if o.Source != nil {
		if err := o.encodeSource(&row, text); err != nil {
			return row, err
		}
	}
	if o.Unlabelled {
		return row, nil
	}
	raw, ok := field(obj, o.labelField())
	if !ok {
		return row, fmt.Errorf("field %q is missing", o.labelField())
	}
	err = row.parseLabel(raw, o.labelField())
	return row, err
}

// field returns the value of obj's key; a null value counts as missing.
func field(obj map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	v, ok := obj[key]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// sequence returns a line's token ids: its input_ids, else its text
// encoded.
func (o *TextOptions) sequence(obj map[string]json.RawMessage) (ids []int, text *string, err error) {
	if raw, ok := field(obj, FieldInputIDs); ok {
		ids, err := parseIDs(raw)
		return ids, nil, err
	}
	tf := o.textField()
	raw, ok := field(obj, tf)
	if !ok {
		return nil, nil, fmt.Errorf("neither field %q nor field %q is present", FieldInputIDs, tf)
	}
	text = new(string)
	if err := json.Unmarshal(raw, text); err != nil {
		return nil, nil, fmt.Errorf("field %q is %s, not a string", tf, snippet(raw))
	}
	if o.Encoder == nil {
		return nil, nil, fmt.Errorf("field %q needs a tokenizer to encode it, and none is given (or give %q)", tf, FieldInputIDs)
	}
	ids, err = o.Encoder.Encode(*text)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenize field %q: %w", tf, err)
	}
	return ids, text, nil
}

// truncate returns ids cut to MaxLength.
func (o *TextOptions) truncate(ids []int) []int {
	if o.MaxLength > 0 && len(ids) > o.MaxLength {
		return ids[:o.MaxLength]
	}
	return ids
}

// encodeSource encodes text (nil for a line of input_ids) with the
// source's tokenizer into row, and matches its tokens with row.ids'.
func (o *TextOptions) encodeSource(row *textLine, text *string) error {
	if text == nil {
		return fmt.Errorf("the line gives %q, but the source and the target tokenise text differently: give the text in field %q", FieldInputIDs, o.textField())
	}
	tgt, ok := o.Encoder.(TextEncoder)
	if !ok {
		return fmt.Errorf("the target's tokenizer does not say which text its tokens stand for")
	}
	ids, err := o.Source.Encoder.Encode(*text)
	if err != nil {
		return fmt.Errorf("source tokenizer: %w", err)
	}
	if err := checkIDs(ids); err != nil {
		return fmt.Errorf("source tokenizer: %w", err)
	}
	row.srcIDs = o.truncate(ids)
	a, err := tokenTexts(o.Source.Encoder, row.srcIDs)
	if err != nil {
		return fmt.Errorf("source tokenizer: %w", err)
	}
	b, err := tokenTexts(tgt, row.ids)
	if err != nil {
		return fmt.Errorf("target tokenizer: %w", err)
	}
	row.rows = MatchTokens(a, b)
	return nil
}

// parseIDs reads an input_ids array of integers.
func parseIDs(raw json.RawMessage) ([]int, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("field %q is %s, not an array of token ids", FieldInputIDs, snippet(raw))
	}
	ids := make([]int, len(elems))
	for i, e := range elems {
		v, err := strconv.Atoi(string(e))
		if err != nil {
			return nil, fmt.Errorf("token %d of %q is %s, not a token id", i, FieldInputIDs, snippet(e))
		}
		ids[i] = v
	}
	return ids, nil
}

// checkIDs checks that a sequence is not empty and holds token ids that
// float32 stores exactly.
func checkIDs(ids []int) error {
	if len(ids) == 0 {
		return fmt.Errorf("empty sequence")
	}
	for i, id := range ids {
		if id < 0 || id >= maxTokenID {
			return fmt.Errorf("token %d is %d, outside the token ids [0, 2²⁴)", i, id)
		}
	}
	return nil
}

// parseLabel reads the label field's value raw: a class name or number.
func (r *textLine) parseLabel(raw json.RawMessage, key string) error {
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &r.name); err != nil {
			return fmt.Errorf("field %q: %v", key, err)
		}
		if r.name == "" {
			return fmt.Errorf("field %q is an empty class name", key)
		}
		r.named = true
		return nil
	}
	c, err := strconv.Atoi(string(raw))
	switch {
	case err != nil:
		return fmt.Errorf("field %q is %s: want a class name (a string) or a class number (an integer)", key, snippet(raw))
	case c < 0:
		return fmt.Errorf("field %q is %d: a class number cannot be negative", key, c)
	case c >= maxClassNumber:
		return fmt.Errorf("field %q is %d: a class number must be below %d", key, c, maxClassNumber)
	}
	r.class = c
	return nil
}

// snippet is raw JSON as an error shows it: cut short when long.
func snippet(raw json.RawMessage) string {
	const n = 40
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}

// setLabels sets d's labels, classes and class names from the rows of the
// file name, whose labels must all be names or all numbers.
func (d *Dataset) setLabels(name string, rows []textLine, key string) error {
	index := map[string]int{}
	for _, r := range rows {
		if r.named != rows[0].named {
			return lineError(name, r.line, fmt.Errorf("field %q is %s but line %d gives %s: all labels of a file must be of one kind",
				key, labelKind(r.named), rows[0].line, labelKind(rows[0].named)))
		}
		if r.named {
			index[r.name] = 0
		}
		d.Classes = max(d.Classes, r.class+1)
	}
	if rows[0].named {
		d.ClassNames = slices.Sorted(maps.Keys(index))
		for c, name := range d.ClassNames {
			index[name] = c
		}
		d.Classes = len(d.ClassNames)
	}
	for i, r := range rows {
		d.Labels[i] = r.class
		if r.named {
			d.Labels[i] = index[r.name]
		}
	}
	return nil
}

// labelKind describes a label that is a class name or a class number.
func labelKind(named bool) string {
	if named {
		return "a class name"
	}
	return "a class number"
}

// padSequences stacks the sequences of the rows of the file name into
// token ids [N, T], padding each at its end with pad to the longest, T.
// With pad < 0 every sequence must have the same length.
func padSequences(name string, rows []textLine, pad int) (*tensor.Tensor[float32], error) {
	t := 0
	for _, r := range rows {
		if pad < 0 && len(r.ids) != len(rows[0].ids) {
			return nil, lineError(name, r.line, fmt.Errorf("%d tokens but line %d has %d: the model has no pad token (pad_token_id), so every sequence must have the same length",
				len(r.ids), rows[0].line, len(rows[0].ids)))
		}
		t = max(t, len(r.ids))
	}
	x := tensor.New[float32](len(rows), t)
	for i, r := range rows {
		row := x.Data[i*t : (i+1)*t]
		for k, id := range r.ids {
			row[k] = float32(id)
		}
		for k := len(r.ids); k < t; k++ {
			row[k] = float32(pad)
		}
	}
	return x, nil
}
