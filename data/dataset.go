// Package data holds the labelled image sets bico calibrates and evaluates
// on: a Dataset type (float32 images [N, C, H, W] in [0, 1] plus integer
// labels), its sources (MNIST idx files, folders of images with one
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

// Dataset is a labelled set of images. Images has shape [N, C, H, W] with
// values in [0, 1] (an 8-bit source value v is stored as v/255). Labels[i]
// is the class of image i, in [0, Classes). ClassNames, when not empty,
// has one name per class.
type Dataset struct {
	Images     *tensor.Tensor[float32]
	Labels     []int
	Classes    int
	ClassNames []string
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Labels) }

// Channels is the number of channels C of every image.
func (d *Dataset) Channels() int { return d.Images.Shape[1] }

// Height is the image height H.
func (d *Dataset) Height() int { return d.Images.Shape[2] }

// Width is the image width W.
func (d *Dataset) Width() int { return d.Images.Shape[3] }

// sampleSize is C·H·W, the number of values of one image.
func (d *Dataset) sampleSize() int {
	s := d.Images.Shape
	return s[1] * s[2] * s[3]
}

// Validate checks that d is well formed: a 4-D image tensor with one label
// per image, labels in [0, Classes), and ClassNames empty or of length
// Classes.
func (d *Dataset) Validate() error {
	if d.Images == nil {
		return fmt.Errorf("data: dataset has no images")
	}
	s := d.Images.Shape
	if len(s) != 4 {
		return fmt.Errorf("data: images have shape %v, want [N, C, H, W]", s)
	}
	for _, v := range s {
		if v < 0 {
			return fmt.Errorf("data: images have shape %v", s)
		}
	}
	if tensor.Numel(s) != len(d.Images.Data) {
		return fmt.Errorf("data: images have shape %v but %d values", s, len(d.Images.Data))
	}
	if s[0] != len(d.Labels) {
		return fmt.Errorf("data: %d images but %d labels", s[0], len(d.Labels))
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
		Images:     d.Images.Clone(),
		Labels:     append([]int(nil), d.Labels...),
		Classes:    d.Classes,
		ClassNames: append([]string(nil), d.ClassNames...),
	}
}

// withImages returns a dataset with d's labels and classes (copied) and the
// given images.
func (d *Dataset) withImages(images *tensor.Tensor[float32]) *Dataset {
	return &Dataset{
		Images:     images,
		Labels:     append([]int(nil), d.Labels...),
		Classes:    d.Classes,
		ClassNames: append([]string(nil), d.ClassNames...),
	}
}

// Subset returns a new dataset holding copies of the samples idx, in that
// order (an index may repeat). It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := d.Images.Shape
	size := d.sampleSize()
	out := &Dataset{
		Images:     tensor.New[float32](len(idx), s[1], s[2], s[3]),
		Labels:     make([]int, len(idx)),
		Classes:    d.Classes,
		ClassNames: append([]string(nil), d.ClassNames...),
	}
	for k, i := range idx {
		if i < 0 || i >= d.Len() {
			panic(fmt.Sprintf("data: subset index %d out of range [0, %d)", i, d.Len()))
		}
		copy(out.Images.Data[k*size:(k+1)*size], d.Images.Data[i*size:(i+1)*size])
		out.Labels[k] = d.Labels[i]
	}
	return out
}

// Batch returns samples [i, j) as an image tensor [j−i, C, H, W] and their
// labels. Both share memory with d. It panics unless 0 ≤ i ≤ j ≤ Len().
func (d *Dataset) Batch(i, j int) (*tensor.Tensor[float32], []int) {
	if i < 0 || j < i || j > d.Len() {
		panic(fmt.Sprintf("data: batch [%d, %d) of %d samples", i, j, d.Len()))
	}
	s := d.Images.Shape
	size := d.sampleSize()
	x := &tensor.Tensor[float32]{
		Shape: []int{j - i, s[1], s[2], s[3]},
		Data:  d.Images.Data[i*size : j*size : j*size],
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
// the same image shape [C, H, W] and number of classes; class names are taken
// from the first dataset that has them.
func Concat(ds ...*Dataset) (*Dataset, error) {
	if len(ds) == 0 {
		return nil, fmt.Errorf("data: concat of no datasets")
	}
	first := ds[0]
	n := 0
	for k, d := range ds {
		if !tensor.SameShape(d.Images.Shape[1:], first.Images.Shape[1:]) {
			return nil, fmt.Errorf("data: concat: dataset %d has images %v, dataset 0 has %v", k, d.Images.Shape[1:], first.Images.Shape[1:])
		}
		if d.Classes != first.Classes {
			return nil, fmt.Errorf("data: concat: dataset %d has %d classes, dataset 0 has %d", k, d.Classes, first.Classes)
		}
		n += d.Len()
	}
	s := first.Images.Shape
	out := &Dataset{Images: tensor.New[float32](n, s[1], s[2], s[3]), Labels: make([]int, 0, n), Classes: first.Classes}
	off := 0
	for _, d := range ds {
		off += copy(out.Images.Data[off:], d.Images.Data)
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
