package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// rawFile returns a safetensors file made of header, as given, and data.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// writeTemp writes content to a file named name in a new temporary folder
// and returns its path.
func writeTemp(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// allDtypeTensors returns tensors of every dtype, with a scalar and empty
// tensors among them.
func allDtypeTensors() []Tensor {
	return []Tensor{
		F64("f64", []int{3}, []float64{1.5, -math.MaxFloat64, math.SmallestNonzeroFloat64}),
		F64("f64_scalar", []int{}, []float64{math.Pi}),
		F32("f32", []int{2, 3}, []float32{0, -1, 2.5, float32(math.Inf(1)), 1e-40, 3}),
		F32("f32_empty", []int{0, 4}, nil),
		F32("f32_scalar", nil, []float32{7}),
		F16("f16", []int{4}, []float32{1, -2, 65504, f32bits(0x33800000)}),
		BF16("bf16", []int{2, 2}, []float32{1, -2, 3.140625, float32(math.Inf(-1))}),
		{Name: "f8_e4m3", Dtype: DtypeF8E4M3, Shape: []int{2}, Data: []byte{0x38, 0xc0}},
		{Name: "f8_e5m2", Dtype: DtypeF8E5M2, Shape: []int{2}, Data: []byte{0x3c, 0xc0}},
		I64("i64", []int{3}, []int64{math.MinInt64, 0, math.MaxInt64}),
		I64("i64_empty", []int{0}, []int64{}),
		I64("i64_scalar", []int{}, []int64{-42}),
		I32("i32", []int{2}, []int32{math.MinInt32, math.MaxInt32}),
		{Name: "i16", Dtype: DtypeI16, Shape: []int{2}, Data: []byte{0x00, 0x80, 0xff, 0x7f}},
		{Name: "i8", Dtype: DtypeI8, Shape: []int{2}, Data: []byte{0x80, 0x7f}},
		{Name: "u64", Dtype: DtypeU64, Shape: []int{1}, Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{Name: "u32", Dtype: DtypeU32, Shape: []int{1}, Data: []byte{0xff, 0xff, 0xff, 0xff}},
		{Name: "u16", Dtype: DtypeU16, Shape: []int{1}, Data: []byte{0xff, 0xff}},
		U8("u8", []int{1, 1, 2}, []byte{0, 255}),
		Bool("bool", []int{3}, []bool{true, false, true}),
	}
}

// wantValues gives the values each tensor of allDtypeTensors decodes to.
var wantValues = map[string]any{
	"f64":        []float64{1.5, -math.MaxFloat64, math.SmallestNonzeroFloat64},
	"f64_scalar": []float64{math.Pi},
	"f32":        []float64{0, -1, 2.5, math.Inf(1), float64(float32(1e-40)), 3},
	"f32_empty":  []float64{},
	"f32_scalar": []float64{7},
	"f16":        []float64{1, -2, 65504, math.Ldexp(1, -24)},
	"bf16":       []float64{1, -2, 3.140625, math.Inf(-1)},
	"f8_e4m3":    []float64{1, -2},
	"f8_e5m2":    []float64{1, -2},
	"i64":        []int64{math.MinInt64, 0, math.MaxInt64},
	"i64_empty":  []int64{},
	"i64_scalar": []int64{-42},
	"i32":        []int64{math.MinInt32, math.MaxInt32},
	"i16":        []int64{math.MinInt16, math.MaxInt16},
	"i8":         []int64{math.MinInt8, math.MaxInt8},
	"u64":        []int64{math.MaxInt64},
	"u32":        []int64{math.MaxUint32},
	"u16":        []int64{math.MaxUint16},
	"u8":         []int64{0, 255},
	"bool":       []int64{1, 0, 1},
}

func TestRoundTripAllDtypes(t *testing.T) {
	tensors := allDtypeTensors()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	meta := map[string]string{"format": "pt", "note": `quotes " and <tags> & ünïcode`}
	if err := Write(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	for _, tt := range tensors {
		names = append(names, tt.Name)
	}
	slices.Sort(names)
	if got := f.Names(); !reflect.DeepEqual(got, names) {
		t.Errorf("Names() = %v, want %v", got, names)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("Metadata() = %v, want %v", got, meta)
	}
	for _, tt := range tensors {
		checkTensor(t, f, tt)
	}
}

// checkTensor checks that r holds tensor want, through every accessor.
func checkTensor(t *testing.T, r Reader, want Tensor) {
	t.Helper()
	info, ok := r.Info(want.Name)
	if !ok {
		t.Fatalf("Info(%q): not found", want.Name)
	}
	if info.Dtype != want.Dtype || !sameShape(info.Shape, want.Shape) || info.Size() != int64(len(want.Data)) {
		t.Errorf("Info(%q) = %+v, want dtype %s shape %v size %d", want.Name, info, want.Dtype, want.Shape, len(want.Data))
	}
	b, err := r.Bytes(want.Name)
	if err != nil || !slices.Equal(b, want.Data) {
		t.Errorf("Bytes(%q) = %v, %v; want %v", want.Name, b, err, want.Data)
	}
	switch wv := wantValues[want.Name].(type) {
	case []float64:
		checkFloats(t, r, want, wv)
	case []int64:
		got, shape, err := r.Int64(want.Name)
		if err != nil || !slices.Equal(got, wv) || !sameShape(shape, want.Shape) {
			t.Errorf("Int64(%q) = %v, %v, %v; want %v, %v", want.Name, got, shape, err, wv, want.Shape)
		}
		if _, _, err := r.Float32(want.Name); err == nil || !strings.Contains(err.Error(), want.Name) {
			t.Errorf("Float32(%q) of %s: error %v, want one naming the tensor", want.Name, want.Dtype, err)
		}
	}
}

// checkFloats checks the Float32 and Float64 values of want in r.
func checkFloats(t *testing.T, r Reader, want Tensor, wv []float64) {
	t.Helper()
	got64, shape, err := r.Float64(want.Name)
	if err != nil || !slices.Equal(got64, wv) || !sameShape(shape, want.Shape) {
		t.Errorf("Float64(%q) = %v, %v, %v; want %v, %v", want.Name, got64, shape, err, wv, want.Shape)
	}
	got32, shape, err := r.Float32(want.Name)
	want32 := make([]float32, len(wv))
	for i, v := range wv {
		want32[i] = float32(v)
	}
	if err != nil || !slices.Equal(got32, want32) || !sameShape(shape, want.Shape) {
		t.Errorf("Float32(%q) = %v, %v, %v; want %v, %v", want.Name, got32, shape, err, want32, want.Shape)
	}
	if _, _, err := r.Int64(want.Name); err == nil || !strings.Contains(err.Error(), want.Name) {
		t.Errorf("Int64(%q) of %s: error %v, want one naming the tensor", want.Name, want.Dtype, err)
	}
}

// sameShape compares shapes, taking nil and empty as equal.
func sameShape(a, b []int) bool { return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b)) }

// TestReadHandCrafted reads bytes laid out as the Python safetensors library
// writes them: compact JSON with __metadata__ first, fields in the order
// dtype, shape, data_offsets, and space padding to a multiple of 8.
func TestReadHandCrafted(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},` +
		`"bias":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},` +
		`"step":{"dtype":"I64","shape":[],"data_offsets":[4,12]},` +
		`"weight":{"dtype":"F16","shape":[1,2],"data_offsets":[12,16]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	data := []byte{
		0x80, 0x3f, 0x00, 0xc0, // bias: 1, -2 in BF16
		0x07, 0, 0, 0, 0, 0, 0, 0, // step: 7
		0x00, 0x3c, 0x00, 0x38, // weight: 1, 0.5 in F16
	}
	f, err := Open(writeTemp(t, "model.safetensors", rawFile(header, data)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Metadata(); !reflect.DeepEqual(got, map[string]string{"format": "pt"}) {
		t.Errorf("Metadata() = %v", got)
	}
	bias, _, err := f.Float32("bias")
	if err != nil || !slices.Equal(bias, []float32{1, -2}) {
		t.Errorf("bias = %v, %v", bias, err)
	}
	step, shape, err := f.Int64("step")
	if err != nil || !slices.Equal(step, []int64{7}) || len(shape) != 0 || shape == nil {
		t.Errorf("step = %v, shape %#v, %v", step, shape, err)
	}
	w, shape, err := f.Float64("weight")
	if err != nil || !slices.Equal(w, []float64{1, 0.5}) || !slices.Equal(shape, []int{1, 2}) {
		t.Errorf("weight = %v, %v, %v", w, shape, err)
	}
	info, _ := f.Info("weight")
	if info.Offsets != [2]int64{12, 16} || info.NumElements() != 2 {
		t.Errorf("Info(weight) = %+v", info)
	}
}

func TestReadNoTensors(t *testing.T) {
	for _, header := range []string{"{}", "{}      ", `{"__metadata__":null}`, `{"__metadata__":{}}`} {
		f, err := Open(writeTemp(t, "empty.safetensors", rawFile(header, nil)))
		if err != nil {
			t.Fatalf("header %q: %v", header, err)
		}
		if len(f.Names()) != 0 {
			t.Errorf("header %q: names %v", header, f.Names())
		}
		f.Close()
	}
}

// entry returns the header entry of a tensor.
func entry(name, dtype, shape, offsets string) string {
	return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offsets + `}`
}

func TestOpenErrors(t *testing.T) {
	x := func(dtype, shape, offsets string) string { return "{" + entry("x", dtype, shape, offsets) + "}" }
	tests := []struct {
		name    string
		content []byte
		tensor  string // the tensor the error must name, if any
		want    string
	}{
		{"short file", []byte{1, 2, 3}, "", "shorter than the 8-byte header length"},
		{"empty file", nil, "", "shorter than the 8-byte header length"},
		{"header past end", rawFile("{}", nil)[:9], "", "header length 2 is longer than the 1 bytes after it"},
		{"header over limit", binary.LittleEndian.AppendUint64(nil, 200_000_000), "", "over the limit"},
		{"bad JSON", rawFile(`{"x":{"dtype":"F32",]}`, nil), "x", "invalid header entry: invalid character ']'"},
		{"truncated JSON", rawFile(`{"__metadata__":{}`, nil), "", "invalid JSON header: unexpected end of JSON input"},
		{"truncated key", rawFile(`{"x"`, nil), "x", "unexpected end of JSON input"},
		{"truncated entry", rawFile(`{"x":`, nil), "x", "invalid header entry: unexpected end of JSON input"},
		{"bad top-level JSON", rawFile(`{"__metadata__":{} "y"}`, nil), "", "invalid JSON header: invalid character"},
		{"not an object", rawFile(`[1,2]`, nil), "", "header is not a JSON object"},
		{"null header", rawFile(`null`, nil), "", "header is not a JSON object"},
		{"trailing data", rawFile(`{} {}`, nil), "", "unexpected data after the JSON object"},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), "", "not valid UTF-8"},
		{"unknown dtype", rawFile(x("F4", "[1]", "[0,1]"), make([]byte, 1)), "x", `unknown dtype "F4"`},
		{"missing dtype", rawFile(`{"x":{"shape":[],"data_offsets":[0,0]}}`, nil), "x", "missing dtype"},
		{"missing shape", rawFile(`{"x":{"dtype":"F32","data_offsets":[0,0]}}`, nil), "x", "missing shape"},
		{"missing offsets", rawFile(`{"x":{"dtype":"F32","shape":[0]}}`, nil), "x", "missing data_offsets"},
		{"null shape", rawFile(x("F32", "null", "[0,0]"), nil), "x", "shape: null instead of an array"},
		{"null dim", rawFile(x("F32", "[null]", "[0,0]"), nil), "x", "null instead of an integer"},
		{"fractional dim", rawFile(x("F32", "[1.5]", "[0,6]"), make([]byte, 6)), "x", "shape: json: cannot unmarshal"},
		{"negative dim", rawFile(x("F32", "[2,-1]", "[0,0]"), nil), "x", "shape [2 -1]: dimension 1 is -1"},
		{"size mismatch", rawFile(x("F32", "[2]", "[0,4]"), make([]byte, 4)), "x", "shape [2] of F32 needs 8 bytes but data_offsets [0, 4) span 4"},
		{"shape overflow", rawFile(x("F32", "[4611686018427387904,4]", "[0,0]"), nil), "x", "overflows"},
		{"offsets reversed", rawFile(x("U8", "[0]", "[10,4]"), make([]byte, 10)), "x", "data_offsets [10, 4) out of range"},
		{"offsets past end", rawFile(x("U8", "[4]", "[0,4]"), make([]byte, 3)), "x", "data_offsets [0, 4) out of range (data buffer is 3 bytes)"},
		{"negative offset", rawFile(x("U8", "[0]", "[-1,-1]"), nil), "x", "out of range"},
		{"three offsets", rawFile(x("U8", "[0]", "[0,0,0]"), nil), "x", "data_offsets has 3 entries, want 2"},
		{"overlap", rawFile("{"+entry("a", "U8", "[8]", "[0,8]")+","+entry("b", "U8", "[8]", "[4,12]")+"}", make([]byte, 12)),
			"b", `data_offsets [4, 12) overlap tensor "a", which ends at 8`},
		{"same range", rawFile("{"+entry("a", "U8", "[4]", "[0,4]")+","+entry("b", "U8", "[4]", "[0,4]")+"}", make([]byte, 4)),
			"b", `overlap tensor "a"`},
		{"hole", rawFile("{"+entry("a", "U8", "[4]", "[0,4]")+","+entry("b", "U8", "[4]", "[8,12]")+"}", make([]byte, 12)),
			"b", "leave a hole: bytes [4, 8) belong to no tensor"},
		{"hole at start", rawFile(x("U8", "[4]", "[4,8]"), make([]byte, 8)), "x", "bytes [0, 4) belong to no tensor"},
		{"trailing bytes", rawFile(x("U8", "[4]", "[0,4]"), make([]byte, 8)), "", "bytes [4, 8) at the end of the data buffer belong to no tensor"},
		{"duplicate name", rawFile("{"+entry("x", "U8", "[0]", "[0,0]")+","+entry("x", "U8", "[0]", "[0,0]")+"}", nil),
			"x", "duplicate tensor name in header"},
		{"duplicate field", rawFile(`{"x":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil),
			"x", `duplicate key "dtype"`},
		{"entry not an object", rawFile(`{"x":[1]}`, nil), "x", "not a JSON object"},
		{"null entry", rawFile(`{"x":null}`, nil), "x", "not a JSON object"},
		{"metadata not strings", rawFile(`{"__metadata__":{"a":1}}`, nil), "", `invalid __metadata__: key "a"`},
		{"metadata null value", rawFile(`{"__metadata__":{"a":null}}`, nil), "", "null instead of a string"},
		{"metadata duplicate key", rawFile(`{"__metadata__":{"a":"1","a":"2"}}`, nil), "", `duplicate key "a"`},
		{"metadata not an object", rawFile(`{"__metadata__":"pt"}`, nil), "", "invalid __metadata__"},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "", "duplicate __metadata__ in header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "model.safetensors", tt.content)
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.want)
			}
			t.Log(err)
			checkError(t, err, path, tt.tensor, tt.want)
		})
	}
}

// checkError checks that err is an *Error naming path and tensor (if not
// empty) whose text contains want.
func checkError(t *testing.T, err error, path, tensor, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	msg := err.Error()
	if e.Path != path || !strings.HasPrefix(msg, "safetensors: "+path+": ") {
		t.Errorf("error %q does not name the file %s", msg, path)
	}
	if e.Tensor != tensor {
		t.Errorf("error %q names tensor %q, want %q", msg, e.Tensor, tensor)
	}
	if tensor != "" && !strings.Contains(msg, fmt.Sprintf("tensor %q", tensor)) {
		t.Errorf("error %q does not name tensor %q", msg, tensor)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

func TestOpenNotAFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir)
	checkError(t, err, dir, "", "not a regular file")
	missing := filepath.Join(dir, "missing.safetensors")
	_, err = Open(missing)
	checkError(t, err, missing, "", "no such file")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v is not fs.ErrNotExist", err)
	}
}

func TestAccessorErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	big := Tensor{Name: "big", Dtype: DtypeU64, Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0, 0x80}}
	if err := Write(path, []Tensor{F32("x", []int{1}, []float32{1}), big}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata() != nil {
		t.Errorf("Metadata() = %v, want nil", f.Metadata())
	}
	_, _, err = f.Float32("nope")
	checkError(t, err, path, "nope", "not found")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v is not ErrNotFound", err)
	}
	_, _, err = f.Int64("big")
	checkError(t, err, path, "big", "element 0 is 9223372036854775808, over the int64 range")
	if _, ok := f.Info("nope"); ok {
		t.Error("Info(nope) found")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err = f.Float32("x")
	checkError(t, err, path, "x", "file already closed")
	if got := f.Names(); !slices.Equal(got, []string{"big", "x"}) {
		t.Errorf("Names() after Close = %v", got)
	}
}

func TestInfoIsACopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := Write(path, []Tensor{F32("x", []int{1, 2}, []float32{1, 2})}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Info("x")
	info.Shape[0] = 99
	_, shape, _ := f.Float32("x")
	shape[1] = 99
	if again, _ := f.Info("x"); !slices.Equal(again.Shape, []int{1, 2}) {
		t.Errorf("shape changed to %v", again.Shape)
	}
}

func TestConcurrentReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	tensors := allDtypeTensors()
	if err := Write(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, tt := range tensors {
				if b, err := f.Bytes(tt.Name); err != nil || !slices.Equal(b, tt.Data) {
					t.Errorf("Bytes(%q) = %v, %v", tt.Name, b, err)
				}
			}
		})
	}
	wg.Wait()
}
