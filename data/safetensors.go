package data

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/bico-dev/bico/safetensors"
	"github.com/bico-dev/bico/tensor"
)

// Names of the tensors and metadata keys of a safetensors dataset file.
const (
	TensorImages  = "images"      // F32 (or another float dtype) [N, C, H, W] or [N, H, W], values in [0, 1]
	TensorLabels  = "labels"      // I64 (or another integer dtype) [N]
	MetaClasses   = "classes"     // optional: the number of classes, in decimal
	MetaClassName = "class_names" // optional: a JSON array of class names
)

// LoadSafetensors reads a dataset file: a tensor "images" of shape
// [N, C, H, W] or [N, H, W] (one channel) with values in [0, 1], and a
// tensor "labels" of shape [N] of non-negative integers. The number of
// classes is the metadata "classes" when present, else the largest label
// plus one; the metadata "class_names", a JSON array, names them.
func LoadSafetensors(path string) (*Dataset, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("data: %s: %s", path, fmt.Sprintf(format, args...))
	}
	for _, name := range []string{TensorImages, TensorLabels} {
		if _, ok := f.Info(name); !ok {
			return nil, fail("no tensor %q (a dataset file holds %q and %q)", name, TensorImages, TensorLabels)
		}
	}
	pix, shape, err := f.Float32(TensorImages)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	switch len(shape) {
	case 3:
		shape = []int{shape[0], 1, shape[1], shape[2]}
	case 4:
	default:
		return nil, fail("tensor %q has shape %v, want [N, C, H, W] or [N, H, W]", TensorImages, shape)
	}
	for i, v := range pix {
		if !(v >= 0 && v <= 1) {
			return nil, fail("tensor %q: value %v at index %d outside [0, 1] (store 8-bit pixels as v/255)", TensorImages, v, i)
		}
	}
	raw, lshape, err := f.Int64(TensorLabels)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if len(lshape) != 1 || lshape[0] != shape[0] {
		return nil, fail("tensor %q has shape %v, want [%d] (one label per image)", TensorLabels, lshape, shape[0])
	}
	ds := &Dataset{Inputs: tensor.FromSlice(pix, shape...), Labels: make([]int, len(raw))}
	maxLabel := int64(-1)
	for i, l := range raw {
		if l < 0 || l > math.MaxInt32 {
			return nil, fail("label %d of sample %d out of range", l, i)
		}
		ds.Labels[i] = int(l)
		maxLabel = max(maxLabel, l)
	}
	ds.Classes = int(maxLabel + 1)
	meta := f.Metadata()
	if s, ok := meta[MetaClasses]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fail("metadata %q = %q, want a positive integer", MetaClasses, s)
		}
		if int64(n) <= maxLabel {
			return nil, fail("label %d but metadata says %d classes", maxLabel, n)
		}
		ds.Classes = n
	}
	if s, ok := meta[MetaClassName]; ok {
		if err := json.Unmarshal([]byte(s), &ds.ClassNames); err != nil {
			return nil, fail("metadata %q: %v", MetaClassName, err)
		}
		if len(ds.ClassNames) != ds.Classes {
			if _, set := meta[MetaClasses]; set || len(ds.ClassNames) < ds.Classes {
				return nil, fail("metadata %q has %d names for %d classes", MetaClassName, len(ds.ClassNames), ds.Classes)
			}
			ds.Classes = len(ds.ClassNames) // classes without samples
		}
	}
	if ds.Classes == 0 {
		return nil, fail("no samples and no %q metadata", MetaClasses)
	}
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return ds, nil
}

// SaveSafetensors writes ds as a dataset file LoadSafetensors reads back:
// "images" F32 [N, C, H, W], "labels" I64 [N], and the metadata "classes"
// and, when ds has them, "class_names". The file is replaced atomically.
// Token sequences are refused: a text dataset is a .jsonl file.
func SaveSafetensors(path string, ds *Dataset) error {
	if err := ds.Validate(); err != nil {
		return err
	}
	if ds.IsText() {
		return fmt.Errorf("data: save %s: the dataset holds token sequences, not images (a text dataset is a .jsonl file)", path)
	}
	labels := make([]int64, len(ds.Labels))
	for i, l := range ds.Labels {
		labels[i] = int64(l)
	}
	meta := map[string]string{MetaClasses: strconv.Itoa(ds.Classes)}
	if len(ds.ClassNames) > 0 {
		b, err := json.Marshal(ds.ClassNames)
		if err != nil {
			return err
		}
		meta[MetaClassName] = string(b)
	}
	tensors := []safetensors.Tensor{
		safetensors.F32(TensorImages, slices.Clone(ds.Inputs.Shape), ds.Inputs.Data),
		safetensors.I64(TensorLabels, []int{len(labels)}, labels),
	}
	if err := safetensors.Write(path, tensors, meta); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
