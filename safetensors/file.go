package safetensors

import (
	"errors"
	"maps"
	"os"
	"sync"
)

// Reader is what a single file and a sharded checkpoint have in common.
type Reader interface {
	// Names returns the tensor names, sorted.
	Names() []string
	// Info returns the description of tensor name and whether it exists.
	Info(name string) (TensorInfo, bool)
	// Metadata returns the string metadata of the header.
	Metadata() map[string]string
	// Bytes returns a copy of the raw little-endian data of tensor name.
	Bytes(name string) ([]byte, error)
	// Float32 decodes a floating-point tensor to float32.
	Float32(name string) ([]float32, []int, error)
	// Float64 decodes a floating-point tensor to float64.
	Float64(name string) ([]float64, []int, error)
	// Int64 decodes an integer or BOOL tensor to int64.
	Int64(name string) ([]int64, []int, error)
	// Close releases the underlying files.
	Close() error
}

var (
	_ Reader = (*File)(nil)
	_ Reader = (*Checkpoint)(nil)
)

// File is an open safetensors file. Its header is parsed and validated by
// Open; tensor data is read from the memory-mapped file only when asked for.
// A File is safe for concurrent use; after Close every accessor but Names,
// Info and Metadata returns an error.
type File struct {
	path   string
	header *header
	start  int64 // offset of the data buffer in the file

	mu    sync.RWMutex // guards data against Close
	data  []byte       // the whole file, mapped or read; nil once closed
	unmap func() error // releases data
}

// Open maps the file at path read-only and parses and validates its header.
// The caller must Close the file. The file must not be truncated while it
// is open: on most systems that makes reading its data crash the program.
func Open(path string) (*File, error) {
	data, unmap, err := mapPath(path)
	if err != nil {
		return nil, err
	}
	f, err := newFile(path, data)
	if err != nil {
		unmap()
		return nil, err
	}
	f.unmap = unmap
	return f, nil
}

// newFile returns a File reading data, the content of the file at path.
func newFile(path string, data []byte) (*File, error) {
	h, start, err := parseFile(path, data)
	if err != nil {
		return nil, err
	}
	return &File{path: path, header: h, start: start, data: data, unmap: func() error { return nil }}, nil
}

// mapPath maps the regular file at path into memory.
func mapPath(path string) ([]byte, func() error, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, nil, &Error{Path: path, Err: unwrapPathError(err)}
	}
	defer osf.Close()
	st, err := osf.Stat()
	if err != nil {
		return nil, nil, &Error{Path: path, Err: unwrapPathError(err)}
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fileError(path, "not a regular file (use OpenDir for a folder)")
	}
	if st.Size() < 8 {
		return nil, nil, fileError(path, "file is %d bytes, shorter than the 8-byte header length", st.Size())
	}
	data, unmap, err := mapFile(osf, st.Size())
	if err != nil {
		return nil, nil, &Error{Path: path, Msg: "cannot map file", Err: err}
	}
	return data, unmap, nil
}

// unwrapPathError drops the *os.PathError wrapper, whose path Error repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Close unmaps the file. It is safe to call more than once.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data == nil {
		return nil
	}
	f.data = nil
	if err := f.unmap(); err != nil {
		return &Error{Path: f.path, Msg: "cannot unmap file", Err: err}
	}
	return nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Names returns the names of the tensors, sorted.
func (f *File) Names() []string { return append([]string{}, f.header.names...) }

// Info returns the description of tensor name and whether the file has it.
func (f *File) Info(name string) (TensorInfo, bool) {
	t, ok := f.header.tensors[name]
	return t.clone(), ok
}

// Metadata returns a copy of the header's __metadata__, or nil if it has
// none.
func (f *File) Metadata() map[string]string { return maps.Clone(f.header.metadata) }

// Bytes returns a copy of the raw little-endian data of tensor name.
func (f *File) Bytes(name string) ([]byte, error) {
	var out []byte
	_, err := f.withData(name, func(_ TensorInfo, b []byte) error {
		out = append([]byte{}, b...)
		return nil
	})
	return out, err
}

// withData calls fn with the info and the mapped bytes of tensor name, which
// fn must not keep or modify, and returns the info.
func (f *File) withData(name string, fn func(TensorInfo, []byte) error) (TensorInfo, error) {
	t, ok := f.header.tensors[name]
	if !ok {
		return TensorInfo{}, notFound(f.path, name)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.data == nil {
		return t, &Error{Path: f.path, Tensor: name, Err: os.ErrClosed}
	}
	b := f.data[f.start+t.Offsets[0] : f.start+t.Offsets[1]]
	if err := fn(t, b); err != nil {
		return t, &Error{Path: f.path, Tensor: name, Err: err}
	}
	return t, nil
}

// Float32 decodes tensor name, which must be of a floating-point dtype, to
// float32 and returns its values in row-major order and its shape. F64
// values are rounded to the nearest float32.
func (f *File) Float32(name string) ([]float32, []int, error) {
	var out []float32
	t, err := f.withData(name, func(t TensorInfo, b []byte) (err error) {
		out, err = decodeFloat32(t.Dtype, b)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, t.clone().Shape, nil
}

// Float64 decodes tensor name, which must be of a floating-point dtype, to
// float64 and returns its values in row-major order and its shape.
func (f *File) Float64(name string) ([]float64, []int, error) {
	var out []float64
	t, err := f.withData(name, func(t TensorInfo, b []byte) (err error) {
		out, err = decodeFloat64(t.Dtype, b)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, t.clone().Shape, nil
}

// Int64 decodes tensor name, which must be of an integer dtype or BOOL, to
// int64 and returns its values in row-major order and its shape. BOOL gives
// 0 and 1; a U64 value over the int64 range is an error.
func (f *File) Int64(name string) ([]int64, []int, error) {
	var out []int64
	t, err := f.withData(name, func(t TensorInfo, b []byte) (err error) {
		out, err = decodeInt64(t.Dtype, b)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, t.clone().Shape, nil
}
