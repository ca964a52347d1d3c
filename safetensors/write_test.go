package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenTensors are the tensors of testdata/golden.safetensors.
func goldenTensors() []Tensor {
	return []Tensor{
		F32("weight", []int{2, 2}, []float32{1, 2, 3, 4}),
		BF16("bias", []int{2}, []float32{1, -2}),
		I64("step", nil, []int64{7}),
		F16("a<b>&\"c\"", []int{1}, []float32{0.5}),
	}
}

// TestWriteGolden checks the exact bytes Write produces against
// testdata/golden.safetensors (go test -update rewrites it).
func TestWriteGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := Write(path, goldenTensors(), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := `{"__metadata__":{"format":"pt"},` +
		`"a<b>&\"c\"":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},` +
		`"bias":{"dtype":"BF16","shape":[2],"data_offsets":[2,6]},` +
		`"step":{"dtype":"I64","shape":[],"data_offsets":[6,14]},` +
		`"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[14,30]}}`
	n := binary.LittleEndian.Uint64(got)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	if header := string(got[8 : 8+n]); strings.TrimRight(header, " ") != wantHeader || len(header)-len(wantHeader) >= 8 {
		t.Errorf("header =\n%q\nwant\n%q padded with fewer than 8 spaces", header, wantHeader)
	}
	golden := filepath.Join("testdata", "golden.safetensors")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Write output differs from %s (run go test -update if intended)", golden)
	}
}

func TestReadGolden(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, want := range goldenTensors() {
		got, err := f.Bytes(want.Name)
		if err != nil || !bytes.Equal(got, want.Data) {
			t.Errorf("Bytes(%q) = %v, %v; want %v", want.Name, got, err, want.Data)
		}
	}
}

func TestWriteDeterministic(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	tensors := allDtypeTensors()
	meta := map[string]string{"z": "1", "a": "2", "m": "3"}
	if err := Write(a, tensors, meta); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(tensors)
	if err := Write(b, tensors, meta); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("the same tensors in another order give other bytes")
	}
}

func TestWriteErrors(t *testing.T) {
	ok := F32("ok", []int{1}, []float32{1})
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		tensor  string
		want    string
	}{
		{"duplicate", []Tensor{ok, F32("ok", []int{1}, []float32{2})}, nil, "ok", "duplicate tensor name"},
		{"short data", []Tensor{F32("x", []int{2, 2}, []float32{1, 2, 3})}, nil, "x", "shape [2 2] of F32 needs 16 bytes of data, got 12"},
		{"unknown dtype", []Tensor{{Name: "x", Dtype: "F4", Shape: []int{1}, Data: []byte{0}}}, nil, "x", `unknown dtype "F4"`},
		{"no dtype", []Tensor{{Name: "x", Shape: []int{0}}}, nil, "x", `unknown dtype ""`},
		{"negative dim", []Tensor{{Name: "x", Dtype: DtypeU8, Shape: []int{-1}}}, nil, "x", "negative dimension"},
		{"empty name", []Tensor{F32("", nil, []float32{1})}, nil, "", "empty tensor name"},
		{"reserved name", []Tensor{F32(metadataKey, nil, []float32{1})}, nil, metadataKey, "reserved"},
		{"bad UTF-8 name", []Tensor{F32("\xff", nil, []float32{1})}, nil, "\xff", "not valid UTF-8"},
		{"bad UTF-8 metadata", []Tensor{ok}, map[string]string{"k": "\xff"}, "", `metadata "k" is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			err := Write(path, tt.tensors, tt.meta)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			checkError(t, err, path, tt.tensor, tt.want)
			checkDirFiles(t, dir)
		})
	}
}

// checkDirFiles checks that dir holds exactly the files named want.
func checkDirFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	for _, v := range []float32{1, 2} { // the second write replaces the first
		if err := Write(path, []Tensor{F32("x", nil, []float32{v})}, nil); err != nil {
			t.Fatal(err)
		}
		checkDirFiles(t, dir, "model.safetensors")
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, _ := f.Float32("x"); !slices.Equal(got, []float32{v}) {
			t.Errorf("x = %v, want %v", got, v)
		}
		f.Close()
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
}

// TestWriteAtomicFailure makes the final rename fail, by putting a folder
// where the file should go, and checks that no temporary file is left.
func TestWriteAtomicFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(path, []Tensor{F32("x", []int{1024}, make([]float32, 1024))}, nil)
	if err == nil {
		t.Fatal("Write over a folder succeeded")
	}
	checkError(t, err, path, "", "cannot write")
	checkDirFiles(t, dir, "model.safetensors")
	_, err = WriteSharded(filepath.Join(dir, "missing", "deeper"), nil, nil, 0)
	if err != nil {
		t.Errorf("WriteSharded into a new folder: %v", err)
	}
	err = Write(filepath.Join(dir, "missing", "x.safetensors", "y"), nil, nil)
	checkError(t, err, filepath.Join(dir, "missing", "x.safetensors", "y"), "", "cannot create temporary file")
}

// shardTensors returns 10 F32 tensors of 64 bytes each and one of 400 bytes.
func shardTensors() []Tensor {
	var ts []Tensor
	for i := range 10 {
		data := make([]float32, 16)
		for j := range data {
			data[j] = float32(i*100 + j)
		}
		ts = append(ts, F32("layer."+string(rune('a'+i))+".weight", []int{4, 4}, data))
	}
	return append(ts, F32("huge", []int{100}, make([]float32, 100)))
}

func TestWriteShardedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tensors := shardTensors()
	meta := map[string]string{"format": "pt"}
	written, err := WriteSharded(dir, tensors, meta, 200)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted: huge (400 bytes, alone), then a..j in threes (192 bytes) and j.
	wantFiles := []string{ShardName(1, 5), ShardName(2, 5), ShardName(3, 5), ShardName(4, 5), ShardName(5, 5), IndexFileName}
	var got []string
	for _, p := range written {
		got = append(got, filepath.Base(p))
	}
	if !slices.Equal(got, wantFiles) {
		t.Fatalf("written %v, want %v", got, wantFiles)
	}
	if wantFiles[0] != "model-00001-of-00005.safetensors" {
		t.Errorf("shard name %s", wantFiles[0])
	}
	checkDirFiles(t, dir, wantFiles...)
	checkIndex(t, filepath.Join(dir, IndexFileName), tensors)

	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files()) != 5 || c.Path() != filepath.Join(dir, IndexFileName) {
		t.Errorf("Files() = %v, Path() = %s", c.Files(), c.Path())
	}
	if !reflect.DeepEqual(c.Metadata(), meta) {
		t.Errorf("Metadata() = %v", c.Metadata())
	}
	if len(c.Names()) != len(tensors) {
		t.Errorf("Names() = %v", c.Names())
	}
	for _, want := range tensors {
		got, shape, err := c.Float32(want.Name)
		if err != nil || !sameShape(shape, want.Shape) || !bytes.Equal(F32("", nil, got).Data, want.Data) {
			t.Errorf("Float32(%q) = %v, %v, %v", want.Name, got, shape, err)
		}
	}
	_, _, err = c.Int64("nope")
	checkError(t, err, c.Path(), "nope", "not found")
}

// checkIndex checks the index file at path against tensors.
func checkIndex(t *testing.T, path string, tensors []Tensor) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, ts := range tensors {
		total += int64(len(ts.Data))
	}
	if idx.Metadata["total_size"] != total || len(idx.WeightMap) != len(tensors) {
		t.Errorf("index %s", raw)
	}
	if idx.WeightMap["huge"] != ShardName(1, 5) || idx.WeightMap["layer.j.weight"] != ShardName(5, 5) {
		t.Errorf("weight_map %v", idx.WeightMap)
	}
	if !strings.HasPrefix(string(raw), "{\n  \"metadata\": {\n    \"total_size\": ") {
		t.Errorf("index is not laid out as transformers writes it:\n%s", raw)
	}
}

func TestWriteShardedReplaces(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "config.json")
	if err := os.WriteFile(other, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tensors := shardTensors()
	if _, err := WriteSharded(dir, tensors, nil, 0); err != nil { // no limit: one file
		t.Fatal(err)
	}
	checkDirFiles(t, dir, "config.json", SingleFileName)
	if _, err := WriteSharded(dir, tensors, nil, 1000); err != nil {
		t.Fatal(err)
	}
	checkDirFiles(t, dir, "config.json", ShardName(1, 2), ShardName(2, 2), IndexFileName)
	if _, err := WriteSharded(dir, tensors[:1], nil, 1000); err != nil { // fits: one file again
		t.Fatal(err)
	}
	checkDirFiles(t, dir, "config.json", SingleFileName)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Names(); !slices.Equal(got, []string{tensors[0].Name}) {
		t.Errorf("Names() = %v", got)
	}
}

func TestWriteShardedErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteSharded(dir, []Tensor{F32("x", []int{2}, nil)}, nil, 10)
	checkError(t, err, dir, "x", "needs 8 bytes")
	checkDirFiles(t, dir)
}

// writeShardedFixture writes the tensors of shardTensors as a checkpoint
// of 5 shards in a new folder and returns the folder.
func writeShardedFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := WriteSharded(dir, shardTensors(), nil, 200); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMissingShard(t *testing.T) {
	dir := writeShardedFixture(t)
	if err := os.Remove(filepath.Join(dir, ShardName(2, 5))); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(dir)
	index := filepath.Join(dir, IndexFileName)
	checkError(t, err, index, "layer.a.weight", `shard "model-00002-of-00005.safetensors" is missing`)
}

// rewriteIndex replaces the weight map of the index in dir by edit's result.
func rewriteIndex(t *testing.T, dir string, edit func(map[string]string)) string {
	t.Helper()
	path := filepath.Join(dir, IndexFileName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]json.RawMessage
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	var wm map[string]string
	json.Unmarshal(idx["weight_map"], &wm)
	edit(wm)
	idx["weight_map"], _ = json.Marshal(wm)
	raw, _ = json.Marshal(idx)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIndexErrors(t *testing.T) {
	dir := writeShardedFixture(t)
	index := rewriteIndex(t, dir, func(wm map[string]string) { wm["layer.a.weight"] = ShardName(1, 5) })
	_, err := OpenDir(dir)
	checkError(t, err, index, "layer.a.weight", `not found in its shard "model-00001-of-00005.safetensors"`)

	index = rewriteIndex(t, dir, func(wm map[string]string) { wm["layer.a.weight"] = "../model.safetensors" })
	_, err = OpenIndex(index)
	checkError(t, err, index, "layer.a.weight", "not a file name inside the index's folder")

	tests := []struct{ content, tensor, want string }{
		{`{"metadata":{}}`, "", "index file has no weight_map"},
		{`{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}`, "a", "listed twice in weight_map"},
		{`{"weight_map":{"a":1}}`, "", `invalid index file: key "a"`},
		{`{"weight_map":{}} x`, "", "invalid index file"},
		{`[]`, "", "invalid index file: not a JSON object"},
	}
	for _, tt := range tests {
		if err := os.WriteFile(index, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenCheckpoint(index)
		checkError(t, err, index, tt.tensor, tt.want)
	}
}

func TestIndexShardIsInvalid(t *testing.T) {
	dir := writeShardedFixture(t)
	shard := filepath.Join(dir, ShardName(3, 5))
	if err := os.WriteFile(shard, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(dir)
	checkError(t, err, shard, "", "shorter than the 8-byte header length")
}

func TestOpenDirChoice(t *testing.T) {
	x := []Tensor{F32("x", nil, []float32{1})}
	y := []Tensor{F32("y", nil, []float32{2})}

	empty := t.TempDir()
	_, err := OpenDir(empty)
	checkError(t, err, empty, "", "no model.safetensors, model.safetensors.index.json or other *.safetensors file")

	one := t.TempDir()
	if err := Write(filepath.Join(one, "adapter.safetensors"), x, nil); err != nil {
		t.Fatal(err)
	}
	checkNames(t, one, "x")

	if err := Write(filepath.Join(one, "other.safetensors"), y, nil); err != nil {
		t.Fatal(err)
	}
	_, err = OpenDir(one)
	checkError(t, err, one, "", "several candidates: adapter.safetensors, other.safetensors")

	if err := Write(filepath.Join(one, SingleFileName), y, nil); err != nil {
		t.Fatal(err)
	}
	checkNames(t, one, "y") // model.safetensors wins

	sharded := writeShardedFixture(t)
	if err := os.Rename(filepath.Join(sharded, IndexFileName), filepath.Join(sharded, "diffusion_pytorch_model.safetensors.index.json")); err != nil {
		t.Fatal(err)
	}
	c, err := OpenDir(sharded)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Names()) != 11 {
		t.Errorf("Names() = %v", c.Names())
	}
	c.Close()

	file := filepath.Join(one, "other.safetensors")
	c, err = OpenCheckpoint(file)
	if err != nil || c.Path() != file || !slices.Equal(c.Names(), []string{"y"}) {
		t.Errorf("OpenCheckpoint(%s) = %v, %v", file, c, err)
	}
	c.Close()
	_, err = OpenCheckpoint(filepath.Join(one, "missing"))
	checkError(t, err, filepath.Join(one, "missing"), "", "no such file")
}

// checkNames checks that OpenCheckpoint(path) holds exactly names.
func checkNames(t *testing.T, path string, names ...string) {
	t.Helper()
	c, err := OpenCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Names(); !slices.Equal(got, names) {
		t.Errorf("%s: Names() = %v, want %v", path, got, names)
	}
}

func TestCheckpointClose(t *testing.T) {
	dir := writeShardedFixture(t)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Bytes("huge")
	if !errors.Is(err, os.ErrClosed) {
		t.Errorf("Bytes after Close: %v", err)
	}
}

func TestShardedAllDtypes(t *testing.T) {
	dir := t.TempDir()
	tensors := allDtypeTensors()
	written, err := WriteSharded(dir, tensors, nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files()) != len(written)-1 || len(c.Files()) < 5 {
		t.Errorf("%d files for %d written", len(c.Files()), len(written))
	}
	for _, tt := range tensors {
		checkTensor(t, c, tt)
	}
	if _, ok := c.Info("nope"); ok {
		t.Error("Info(nope) found")
	}
}
