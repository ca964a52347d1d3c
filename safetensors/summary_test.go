package safetensors

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	dir := writeShardedFixture(t)
	s, err := Summarize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path != dir || len(s.Files) != 5 || len(s.Tensors) != 11 {
		t.Errorf("summary %+v", s)
	}
	if s.Params != 10*16+100 || s.Bytes != 4*s.Params {
		t.Errorf("Params = %d, Bytes = %d", s.Params, s.Bytes)
	}
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d", n, err, buf.Len())
	}
	out := buf.String()
	for _, want := range []string{"NAME", "layer.a.weight  F32    [4, 4]  16", "huge", "[100]", "11 tensors, 260 parameters, 1,040 bytes in 5 file(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSummarizeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(path, allDtypeTensors(), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	s, err := Summarize(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Files) != 1 || s.Metadata["format"] != "pt" {
		t.Errorf("summary %+v", s)
	}
	var buf bytes.Buffer
	s.WriteTo(&buf)
	if !strings.Contains(buf.String(), "f64_scalar  F64      []") {
		t.Errorf("scalar not shown as []:\n%s", buf.String())
	}
	if _, err := Summarize(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Summarize of a missing path succeeded")
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}
