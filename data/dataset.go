// Package data holds the labelled sets bico calibrates and evaluates on: a
// Dataset type (float32 images [N, C, H, W] in [0, 1], or token ids [N, T],
// plus integer labels), its sources (MNIST idx files, folders of images with one
// sub-folder per class, safetensors dataset files, see Load for the spec
// grammar), per-class selection and held-out splits, the Hugging Face image
// preprocessing (Preprocess), and the deterministic shifted MNIST tasks used
// by experiments (Task).
package data

import (
	"fmt"
	"iter"
	"runtime"
	"sync"

	"github.com/bico-dev/bico/tensor"
)

// Dataset is a labelled set of images or token sequences. Inputs holds one
// sample per leading index: images [N, C, H, W] with values in [0, 1] (an
// 8-bit source value v is stored as v/255), or token ids [N, T] stored as
// float32 (exact below 2²⁴), each sequence padded at its end. Labels[i] is
// the class of sample i, in [0, Classes). ClassNames, when not empty, has
// one name per class.
type Dataset struct {
	Inputs     *tensor.Tensor[float32]
	Labels     []int
	Classes    int
	ClassNames []string
	// Source, for text read with TextOptions.Source, holds the samples as
	// the source model of a transfer tokenises them.
	Source *SourceTokens
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Labels) }

// IsText reports whether the samples are token sequences [N, T].
func (d *Dataset) IsText() bool { return len(d.Inputs.Shape) == 2 }

// Channels is the number of channels C of every image.
func (d *Dataset) Channels() int { return d.Inputs.Shape[1] }

// Height is the image height H.
func (d *Dataset) Height() int { return d.Inputs.Shape[2] }

// Width is the image width W.
func (d *Dataset) Width() int { return d.Inputs.Shape[3] }

// sampleSize is the number of values of one sample: C·H·W, or T.
func (d *Dataset) sampleSize() int { return tensor.Numel(d.Inputs.Shape[1:]) }

// Validate checks that d is well formed: 4-D images or 2-D token ids with
// one label per sample, token ids non-negative integers, labels in
// [0, Classes), and ClassNames empty or of length Classes.
func (d *Dataset) Validate() error {
	if d.Inputs == nil {
		return fmt.Errorf("data: dataset has no inputs")
	}
	s := d.Inputs.Shape
	if len(s) != 4 && len(s) != 2 {
		return fmt.Errorf("data: inputs have shape %v, want images [N, C, H, W] or token ids [N, T]", s)
	}
	for _, v := range s {
		if v < 0 {
			return fmt.Errorf("data: inputs have shape %v", s)
		}
	}
	if tensor.Numel(s) != len(d.Inputs.Data) {
		return fmt.Errorf("data: inputs have shape %v but %d values", s, len(d.Inputs.Data))
	}
	if d.IsText() {
		for i, v := range d.Inputs.Data {
			if v < 0 || v != float32(int(v)) || v >= 1<<24 {
				return fmt.Errorf("data: token %d of sample %d is %g, not a token id", i%s[1], i/s[1], v)
			}
		}
	}
	if s[0] != len(d.Labels) {
		return fmt.Errorf("data: %d samples but %d labels", s[0], len(d.Labels))
	}
	if err := d.Source.validate(s); err != nil {
		return err
	}
	if d.Classes <= 0 {
		return fmt.Errorf("data: dataset has %d classes", d.Classes)
	}
	for i, l := range d.Labels {
		if l < 0 || l >= d.Classes {
			return fmt.Errorf("data: label %d of sample %d out of range [0, %d)", l, i, d.Classes)
		}
	}
	if len(d.ClassNames) != 0 && len(d.ClassNames) != d.Classes {
		return fmt.Errorf("data: %d class names for %d classes", len(d.ClassNames), d.Classes)
	}
	return nil
}

// ClassName is the name of class c: ClassNames[c] when set, else its number.
func (d *Dataset) ClassName(c int) string {
	if c >= 0 && c < len(d.ClassNames) {
		return d.ClassNames[c]
	}
	return fmt.Sprint(c)
}

// ClassCounts returns the number of samples of each class.
func (d *Dataset) ClassCounts() []int {
	n := make([]int, d.Classes)
	for _, l := range d.Labels {
		if l >= 0 && l < d.Classes {
			n[l]++
		}
	}
	return n
}

// Clone returns a deep copy of d.
func (d *Dataset) Clone() *Dataset {
	return &Dataset{
		Inputs:     d.Inputs.Clone(),
		Labels:     append([]int(nil), d.Labels...),
		Classes:    d.Classes,
		ClassNames: append([]string(nil), d.ClassNames...),
	}
}

// withInputs returns a dataset with d's labels and classes (copied) and the
// given inputs.
func (d *Dataset) withInputs(inputs *tensor.Tensor[float32]) *Dataset {
	return &Dataset{
		Inputs:     inputs,
		Labels:     append([]int(nil), d.Labels...),
		Classes:    d.Classes,
		ClassNames: append([]string(nil), d.ClassNames...),
	}
}

// Subset returns a new dataset holding copies of the samples idx, in that
// order (an index may repeat). It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := d.Inputs.Shape
	size := d.sampleSize()
	out := &Dataset{
		Inputs:     tensor.New[float32](append([]int{len(idx)}, s[1:]...)...),
		Labels:     make([]int, len(idx)),
		Classes:    d.Classes,
		ClassNames: append([]string(nil), d.ClassNames...),
	}
	for k, i := range idx {
		if i < 0 || i >= d.Len() {
			panic(fmt.Sprintf("data: subset index %d out of range [0, %d)", i, d.Len()))
		}
		copy(out.Inputs.Data[k*size:(k+1)*size], d.Inputs.Data[i*size:(i+1)*size])
		out.Labels[k] = d.Labels[i]
	}
	if d.Source != nil {
		out.Source = d.Source.subset(idx)
	}
	return out
}

// Batch returns samples [i, j) as a tensor [j−i, …] (images or token ids) and their
// labels. Both share memory with d. It panics unless 0 ≤ i ≤ j ≤ Len().
func (d *Dataset) Batch(i, j int) (*tensor.Tensor[float32], []int) {
	if i < 0 || j < i || j > d.Len() {
		panic(fmt.Sprintf("data: batch [%d, %d) of %d samples", i, j, d.Len()))
	}
	s := d.Inputs.Shape
	size := d.sampleSize()
	x := &tensor.Tensor[float32]{
		Shape: append([]int{j - i}, s[1:]...),
		Data:  d.Inputs.Data[i*size : j*size : j*size],
	}
	return x, d.Labels[i:j:j]
}

// NumBatches is the number of batches of at most size samples that cover d.
func (d *Dataset) NumBatches(size int) int {
	if size <= 0 {
		return 0
	}
	return (d.Len() + size - 1) / size
}

// Batches iterates over consecutive batches of size samples (the last one may
// be smaller), in order, as Batch would return them:
//
//	for x, y := range ds.Batches(64) { ... }
//
// It yields nothing when size ≤ 0.
func (d *Dataset) Batches(size int) iter.Seq2[*tensor.Tensor[float32], []int] {
	return func(yield func(*tensor.Tensor[float32], []int) bool) {
		if size <= 0 {
			return
		}
		for i := 0; i < d.Len(); i += size {
			x, y := d.Batch(i, min(i+size, d.Len()))
			if !yield(x, y) {
				return
			}
		}
	}
}

// Concat returns the samples of every dataset in turn. The datasets must have
// the same sample shape ([C, H, W] or [T]) and number of classes; class names are taken
// from the first dataset that has them.
func Concat(ds ...*Dataset) (*Dataset, error) {
	if len(ds) == 0 {
		return nil, fmt.Errorf("data: concat of no datasets")
	}
	first := ds[0]
	n := 0
	for k, d := range ds {
		if !tensor.SameShape(d.Inputs.Shape[1:], first.Inputs.Shape[1:]) {
			return nil, fmt.Errorf("data: concat: dataset %d has samples %v, dataset 0 has %v", k, d.Inputs.Shape[1:], first.Inputs.Shape[1:])
		}
		if d.Classes != first.Classes {
			return nil, fmt.Errorf("data: concat: dataset %d has %d classes, dataset 0 has %d", k, d.Classes, first.Classes)
		}
		n += d.Len()
	}
	s := first.Inputs.Shape
	out := &Dataset{Inputs: tensor.New[float32](append([]int{n}, s[1:]...)...), Labels: make([]int, 0, n), Classes: first.Classes}
	off := 0
	for _, d := range ds {
		off += copy(out.Inputs.Data[off:], d.Inputs.Data)
		out.Labels = append(out.Labels, d.Labels...)
		if out.ClassNames == nil && len(d.ClassNames) > 0 {
			out.ClassNames = append([]string(nil), d.ClassNames...)
		}
	}
	return out, nil
}

// parallelFor calls fn(i) for every i in [0, n) on up to GOMAXPROCS
// goroutines. fn must only write state owned by index i.
func parallelFor(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, workers)
	for range workers {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// MatchLabels renumbers ds's classes as a model's head numbers them:
// class c becomes the index of its name, ClassNames[c], among labels (the
// model's id2label in order), and ClassNames becomes labels. Class ids are
// kept as they are when ds has no class names, when labels are
// transformers' placeholders (LABEL_0, LABEL_1, …), or when the names are
// already labels in the same order. A class whose name is not among labels
// is an error naming it: a folder "cat/" fed to a head whose labels are
// "dog" and "cat" must not train or score as class 0.
func MatchLabels(ds *Dataset, labels []string) error {
	if len(ds.ClassNames) == 0 || placeholderLabels(labels) {
		return nil
	}
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		index[l] = i
	}
	to := make([]int, len(ds.ClassNames))
	var missing []string
	for c, name := range ds.ClassNames {
		i, ok := index[name]
		if !ok {
			missing = append(missing, name)
		}
		to[c] = i
	}
	if len(missing) > 0 {
		return fmt.Errorf("data: classes %q are not among the model's labels %q", missing, labels)
	}
	for i, l := range ds.Labels {
		ds.Labels[i] = to[l]
	}
	ds.Classes, ds.ClassNames = len(labels), append([]string(nil), labels...)
	return nil
}

// placeholderLabels reports whether labels are transformers' defaults for
// a head without names: LABEL_0, LABEL_1, … in order.
func placeholderLabels(labels []string) bool {
	for i, l := range labels {
		if l != fmt.Sprintf("LABEL_%d", i) {
			return false
		}
	}
	return true
}
