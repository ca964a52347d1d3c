package safetensors

import (
	"cmp"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzPath is the file name the fuzz tests parse under.
const fuzzPath = "fuzz.safetensors"

// seedHeaders are headers the fuzz tests start from.
var seedHeaders = []string{
	`{}`,
	`{"__metadata__":{"format":"pt"}}`,
	`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
	`{"x":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"y":{"dtype":"BOOL","shape":[0],"data_offsets":[2,2]}}`,
	`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}`,
	`{"a":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]},"__metadata__":{"k":"v","k2":""}}      `,
	`{"x":{"dtype":"BF16","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`,
	`{"x":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[0,3],"extra":[1,{"y":null}]}}`,
	`{"x":{"dtype":"F64","shape":[-1],"data_offsets":[8,0]}}`,
	`{"x":{"dtype":"U64","dtype":"U64","shape":[1],"data_offsets":[0,8]}}`,
	`{"\u00e9\"":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`,
}

func FuzzParseHeader(f *testing.F) {
	for _, h := range seedHeaders {
		for _, n := range []uint16{0, 1, 2, 3, 8, 12, 16} {
			f.Add([]byte(h), n)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint16) {
		dataLen := int64(n)
		h, err := parseHeader(fuzzPath, raw, dataLen)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		checkHeaderInvariants(t, h, dataLen)
		checkDecodes(t, raw, h, dataLen)
		checkRewrite(t, h, dataLen)
	})
}

// checkFuzzError checks that a rejection is an *Error naming the file.
func checkFuzzError(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Path != fuzzPath || !strings.HasPrefix(err.Error(), "safetensors: "+fuzzPath+": ") {
		t.Fatalf("error %q (%T) does not name the file", err, err)
	}
}

// checkHeaderInvariants checks what every accepted header must satisfy.
func checkHeaderInvariants(t *testing.T, h *header, dataLen int64) {
	if !slices.IsSorted(h.names) || len(h.names) != len(h.tensors) {
		t.Fatalf("names %q do not match tensors", h.names)
	}
	var infos []TensorInfo
	for _, name := range h.names {
		ti := h.tensors[name]
		if ti.Name != name || !ti.Dtype.Valid() {
			t.Fatalf("bad tensor %+v", ti)
		}
		b, e := ti.Offsets[0], ti.Offsets[1]
		if b < 0 || e < b || e > dataLen {
			t.Fatalf("tensor %q: offsets [%d, %d) outside a %d-byte buffer", name, b, e, dataLen)
		}
		size, ok := byteSize(ti.Dtype, ti.Shape)
		if !ok || size != e-b {
			t.Fatalf("tensor %q: %v of %s in [%d, %d)", name, ti.Shape, ti.Dtype, b, e)
		}
		infos = append(infos, ti)
	}
	slices.SortFunc(infos, func(a, b TensorInfo) int {
		return cmp.Or(cmp.Compare(a.Offsets[0], b.Offsets[0]), cmp.Compare(a.Offsets[1], b.Offsets[1]))
	})
	var end int64
	for _, ti := range infos {
		if ti.Offsets[0] != end {
			t.Fatalf("tensor %q starts at %d, previous tensor ends at %d", ti.Name, ti.Offsets[0], end)
		}
		end = ti.Offsets[1]
	}
	if end != dataLen {
		t.Fatalf("tensors end at %d of %d bytes", end, dataLen)
	}
}

// checkDecodes opens an accepted header as a whole file, with zero data,
// and decodes every tensor.
func checkDecodes(t *testing.T, raw []byte, h *header, dataLen int64) {
	file, err := newFile(fuzzPath, rawFile(string(raw), make([]byte, dataLen)))
	if err != nil {
		t.Fatalf("header accepted alone but not in a file: %v", err)
	}
	for _, name := range h.names {
		ti := h.tensors[name]
		var n int
		if ti.Dtype.IsFloat() {
			v, _, err := file.Float32(name)
			n = len(v)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			v, _, err := file.Int64(name)
			n = len(v)
			if err != nil {
				t.Fatal(err)
			}
		}
		if int64(n) != ti.NumElements() {
			t.Fatalf("tensor %q: %d values for %d elements", name, n, ti.NumElements())
		}
	}
}

// checkRewrite checks that what the reader accepts, the writer writes back
// with the same tensors and metadata.
func checkRewrite(t *testing.T, h *header, dataLen int64) {
	var tensors []Tensor
	for _, name := range h.names {
		ti := h.tensors[name]
		tensors = append(tensors, Tensor{Name: name, Dtype: ti.Dtype, Shape: ti.Shape, Data: make([]byte, ti.Size())})
	}
	sorted, err := sortTensors(fuzzPath, tensors)
	if err != nil {
		return // the writer is stricter about names ("" and __metadata__)
	}
	raw := encodeHeader(sorted, h.metadata)
	h2, err := parseHeader(fuzzPath, raw, dataLen)
	if err != nil {
		t.Fatalf("rewritten header %q rejected: %v", raw, err)
	}
	if !slices.Equal(h.names, h2.names) || !maps.Equal(h.metadata, h2.metadata) {
		t.Fatalf("rewritten header %q differs", raw)
	}
	for _, name := range h.names {
		a, b := h.tensors[name], h2.tensors[name]
		if a.Dtype != b.Dtype || !slices.Equal(a.Shape, b.Shape) {
			t.Fatalf("tensor %q rewritten as %+v, was %+v", name, b, a)
		}
	}
}

// FuzzOpen fuzzes whole files, including the 8-byte header length.
func FuzzOpen(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	for _, h := range seedHeaders {
		f.Add(rawFile(h, make([]byte, 8)))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := newFile(fuzzPath, data)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		checkHeaderInvariants(t, file.header, int64(len(data))-file.start)
		for _, name := range file.Names() {
			if b, err := file.Bytes(name); err != nil || int64(len(b)) != file.header.tensors[name].Size() {
				t.Fatalf("Bytes(%q) = %d bytes, %v", name, len(b), err)
			}
			file.Float64(name)
			file.Int64(name)
		}
	})
}
