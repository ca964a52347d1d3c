package safetensors

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File names of Hugging Face checkpoints, as transformers writes them.
const (
	// SingleFileName is the name of an unsharded checkpoint.
	SingleFileName = "model.safetensors"
	// IndexFileName is the name of the index of a sharded checkpoint.
	IndexFileName = "model.safetensors.index.json"
)

// Checkpoint is a set of tensors read from one safetensors file or from the
// shards listed by an index file. It has the accessors of File and routes
// each tensor to the file holding it.
type Checkpoint struct {
	path     string // the index file, or the single file
	files    []*File
	owner    map[string]*File
	names    []string // sorted
	metadata map[string]string
}

// OpenCheckpoint opens path, which may be a folder (see OpenDir), an index
// file (see OpenIndex) or a single safetensors file.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Path: path, Err: unwrapPathError(err)}
	}
	switch {
	case st.IsDir():
		return OpenDir(path)
	case strings.HasSuffix(path, ".json"):
		return OpenIndex(path)
	}
	return openSingle(path)
}

// OpenDir opens the checkpoint in folder dir: model.safetensors if present,
// else model.safetensors.index.json and its shards, else the only
// *.safetensors.index.json or the only *.safetensors file in dir.
func OpenDir(dir string) (*Checkpoint, error) {
	path, err := findCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".json") {
		return OpenIndex(path)
	}
	return openSingle(path)
}

// findCheckpoint returns the file OpenDir opens in dir.
func findCheckpoint(dir string) (string, error) {
	for _, name := range []string{SingleFileName, IndexFileName} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", &Error{Path: dir, Err: unwrapPathError(err)}
	}
	var indexes, files []string
	for _, e := range entries {
		switch name := e.Name(); {
		case e.IsDir():
		case strings.HasSuffix(name, ".safetensors.index.json"):
			indexes = append(indexes, name)
		case strings.HasSuffix(name, ".safetensors"):
			files = append(files, name)
		}
	}
	switch {
	case len(indexes) == 1:
		return filepath.Join(dir, indexes[0]), nil
	case len(indexes) == 0 && len(files) == 1:
		return filepath.Join(dir, files[0]), nil
	case len(indexes) == 0 && len(files) == 0:
		return "", fileError(dir, "no %s, %s or other *.safetensors file", SingleFileName, IndexFileName)
	}
	return "", fileError(dir, "no %s or %s, and several candidates: %s",
		SingleFileName, IndexFileName, strings.Join(append(indexes, files...), ", "))
}

// openSingle opens one safetensors file as a checkpoint.
func openSingle(path string) (*Checkpoint, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: path, files: []*File{f}, owner: make(map[string]*File)}
	for _, name := range f.header.names {
		c.owner[name] = f
	}
	c.names = f.Names()
	c.metadata = f.Metadata()
	return c, nil
}

// OpenIndex opens a sharded checkpoint from its index file, whose
// "weight_map" maps each tensor name to the shard file holding it, relative
// to the index's folder. Every shard must exist and hold the tensors the
// index assigns to it; tensors a shard holds but the index does not list
// are ignored, as by transformers.
func OpenIndex(path string) (*Checkpoint, error) {
	weightMap, err := readIndex(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: path, owner: make(map[string]*File, len(weightMap))}
	if err := c.openShards(weightMap); err != nil {
		c.Close()
		return nil, err
	}
	c.names = slices.Sorted(maps.Keys(weightMap))
	for _, f := range c.files {
		for k, v := range f.header.metadata {
			if _, ok := c.metadata[k]; !ok {
				if c.metadata == nil {
					c.metadata = make(map[string]string)
				}
				c.metadata[k] = v
			}
		}
	}
	return c, nil
}

// readIndex reads the index file at path and returns its weight map.
func readIndex(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: path, Err: unwrapPathError(err)}
	}
	var weightMap map[string]string
	err = walkDocument(raw, func(dec *json.Decoder, key string) error {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil || key != "weight_map" {
			return err
		}
		m, err := decodeStringMap(v)
		var dup *duplicateKeyError
		if errors.As(err, &dup) {
			return tensorError(path, dup.key, "listed twice in weight_map")
		}
		weightMap = m
		return err
	})
	var e *Error
	switch {
	case errors.As(err, &e):
		return nil, e
	case err != nil:
		return nil, &Error{Path: path, Msg: "invalid index file", Err: err}
	case weightMap == nil:
		return nil, fileError(path, "index file has no weight_map")
	}
	return weightMap, nil
}

// openShards opens the shards named by weightMap and assigns each tensor
// to its shard.
func (c *Checkpoint) openShards(weightMap map[string]string) error {
	dir := filepath.Dir(c.path)
	byShard := make(map[string][]string)
	for name, shard := range weightMap {
		byShard[shard] = append(byShard[shard], name)
	}
	for _, shard := range slices.Sorted(maps.Keys(byShard)) {
		names := byShard[shard]
		slices.Sort(names)
		if !filepath.IsLocal(shard) {
			return tensorError(c.path, names[0], "shard %q is not a file name inside the index's folder", shard)
		}
		f, err := Open(filepath.Join(dir, shard))
		if errors.Is(err, fs.ErrNotExist) {
			return tensorError(c.path, names[0], "shard %q is missing", shard)
		}
		if err != nil {
			return err
		}
		c.files = append(c.files, f)
		for _, name := range names {
			if _, ok := f.header.tensors[name]; !ok {
				return tensorError(c.path, name, "not found in its shard %q", shard)
			}
			c.owner[name] = f
		}
	}
	return nil
}

// Path returns the file the checkpoint was opened from: the index file of a
// sharded checkpoint, else the single safetensors file.
func (c *Checkpoint) Path() string { return c.path }

// Files returns the paths of the safetensors files read, sorted.
func (c *Checkpoint) Files() []string {
	out := make([]string, len(c.files))
	for i, f := range c.files {
		out[i] = f.path
	}
	return out
}

// Close closes every file of the checkpoint.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Names returns the tensor names, sorted.
func (c *Checkpoint) Names() []string { return append([]string{}, c.names...) }

// Info returns the description of tensor name, whose offsets are relative
// to its own file, and whether the checkpoint has it.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	if f, ok := c.owner[name]; ok {
		return f.Info(name)
	}
	return TensorInfo{}, false
}

// Metadata returns a copy of the files' __metadata__ merged, the first file
// in name order winning, or nil if none has any.
func (c *Checkpoint) Metadata() map[string]string { return maps.Clone(c.metadata) }

// file returns the file holding tensor name.
func (c *Checkpoint) file(name string) (*File, error) {
	if f, ok := c.owner[name]; ok {
		return f, nil
	}
	return nil, notFound(c.path, name)
}

// Bytes returns a copy of the raw little-endian data of tensor name.
func (c *Checkpoint) Bytes(name string) ([]byte, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, err
	}
	return f.Bytes(name)
}

// Float32 decodes a floating-point tensor to float32; see File.Float32.
func (c *Checkpoint) Float32(name string) ([]float32, []int, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float32(name)
}

// Float64 decodes a floating-point tensor to float64; see File.Float64.
func (c *Checkpoint) Float64(name string) ([]float64, []int, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float64(name)
}

// Int64 decodes an integer or BOOL tensor to int64; see File.Int64.
func (c *Checkpoint) Int64(name string) ([]int64, []int, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Int64(name)
}
