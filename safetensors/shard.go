package safetensors

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// shardPattern matches the shard file names WriteSharded writes.
var shardPattern = regexp.MustCompile(`^model-[0-9]{5}-of-[0-9]{5}\.safetensors$`)

// ShardName returns the file name of shard i (counting from 1) of n, as
// transformers names it: model-00001-of-00003.safetensors.
func ShardName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i, n)
}

// WriteSharded writes tensors and metadata as the checkpoint in folder dir,
// creating dir if needed, and returns the paths written. If the tensors'
// data fits in maxShardBytes (or maxShardBytes <= 0) it writes
// model.safetensors; otherwise shards model-00001-of-0000N.safetensors, ...,
// then model.safetensors.index.json, as transformers does.
//
// Tensors are assigned to shards in name order: a shard is closed when the
// next tensor would take it over maxShardBytes, and a tensor larger than
// maxShardBytes gets a shard of its own. Every file is written atomically
// (see Write), the index last; then files of an earlier checkpoint in dir
// that this one does not use (model.safetensors, the index, shards named
// model-XXXXX-of-YYYYY.safetensors) are removed, so OpenDir reads the new
// checkpoint.
func WriteSharded(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) ([]string, error) {
	sorted, err := sortTensors(dir, tensors)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &Error{Path: dir, Err: unwrapPathError(err)}
	}
	shards := planShards(sorted, maxShardBytes)
	var written []string
	if len(shards) <= 1 {
		written, err = writeSingle(dir, sorted, metadata)
	} else {
		written, err = writeShards(dir, shards, metadata)
	}
	if err != nil {
		return nil, err
	}
	return written, removeStale(dir, written)
}

// planShards splits sorted into shards of at most maxBytes of data each,
// except for tensors larger than maxBytes, which get a shard each.
func planShards(sorted []Tensor, maxBytes int64) [][]Tensor {
	var shards [][]Tensor
	var cur []Tensor
	var size int64
	for _, t := range sorted {
		n := int64(len(t.Data))
		if maxBytes > 0 && len(cur) > 0 && size+n > maxBytes {
			shards = append(shards, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += n
	}
	if len(cur) > 0 {
		shards = append(shards, cur)
	}
	return shards
}

// writeSingle writes the unsharded checkpoint in dir.
func writeSingle(dir string, sorted []Tensor, metadata map[string]string) ([]string, error) {
	path := filepath.Join(dir, SingleFileName)
	if err := Write(path, sorted, metadata); err != nil {
		return nil, err
	}
	return []string{path}, nil
}

// index is the content of model.safetensors.index.json.
type index struct {
	Metadata  indexMetadata     `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// indexMetadata is the "metadata" of an index file.
type indexMetadata struct {
	TotalSize int64 `json:"total_size"` // bytes of tensor data in all shards
}

// writeShards writes the shards and then the index of a sharded checkpoint
// in dir.
func writeShards(dir string, shards [][]Tensor, metadata map[string]string) ([]string, error) {
	idx := index{WeightMap: make(map[string]string)}
	var written []string
	for i, shard := range shards {
		name := ShardName(i+1, len(shards))
		path := filepath.Join(dir, name)
		if err := Write(path, shard, metadata); err != nil {
			return nil, err
		}
		written = append(written, path)
		for _, t := range shard {
			idx.WeightMap[t.Name] = name
			idx.Metadata.TotalSize += int64(len(t.Data))
		}
	}
	path := filepath.Join(dir, IndexFileName)
	err := writeAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w) // maps are written sorted by key
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(idx)
	})
	if err != nil {
		return nil, err
	}
	return append(written, path), nil
}

// removeStale removes the checkpoint files in dir that are not in keep.
func removeStale(dir string, keep []string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &Error{Path: dir, Err: unwrapPathError(err)}
	}
	kept := make(map[string]bool)
	for _, p := range keep {
		kept[filepath.Base(p)] = true
	}
	for _, e := range entries {
		name := e.Name()
		stale := name == SingleFileName || name == IndexFileName || shardPattern.MatchString(name)
		if stale && !kept[name] && !e.IsDir() {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return &Error{Path: dir, Msg: "cannot remove stale file", Err: err}
			}
		}
	}
	return nil
}
