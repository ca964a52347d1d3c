package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"unicode/utf8"
)

// MaxHeaderSize is the largest JSON header accepted, in bytes, as in the
// reference implementation.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a file, as given by the header.
type TensorInfo struct {
	Name  string `json:"name"`
	Dtype Dtype  `json:"dtype"`
	Shape []int  `json:"shape"` // empty for a scalar
	// Offsets are the header's data_offsets: the tensor's bytes are
	// [Offsets[0], Offsets[1]) of the data buffer that follows the header.
	Offsets [2]int64 `json:"data_offsets"`
}

// NumElements returns the number of elements: the product of the shape,
// which is 1 for a scalar.
func (t TensorInfo) NumElements() int64 {
	n, _ := numElements(t.Shape)
	return n
}

// Size returns the size of the tensor's data in bytes.
func (t TensorInfo) Size() int64 { return t.Offsets[1] - t.Offsets[0] }

// clone returns a copy of t that shares no memory with it.
func (t TensorInfo) clone() TensorInfo {
	t.Shape = append([]int{}, t.Shape...)
	return t
}

// header is a parsed and validated safetensors header.
type header struct {
	tensors  map[string]TensorInfo
	names    []string // sorted
	metadata map[string]string
}

// parseFile parses buf, the whole content of the file at path, and returns
// its header and the offset of the data buffer in buf.
func parseFile(path string, buf []byte) (*header, int64, error) {
	if len(buf) < 8 {
		return nil, 0, fileError(path, "file is %d bytes, shorter than the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > MaxHeaderSize {
		return nil, 0, fileError(path, "header length %d is over the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(buf)-8) {
		return nil, 0, fileError(path, "header length %d is longer than the %d bytes after it", n, len(buf)-8)
	}
	start := 8 + int64(n)
	h, err := parseHeader(path, buf[8:start], int64(len(buf))-start)
	return h, start, err
}

// parseHeader parses and validates raw, the JSON header of the file at path,
// whose data buffer is dataLen bytes long.
func parseHeader(path string, raw []byte, dataLen int64) (*header, error) {
	if !utf8.Valid(raw) {
		return nil, fileError(path, "header is not valid UTF-8")
	}
	h := &header{tensors: make(map[string]TensorInfo)}
	err := walkDocument(raw, func(dec *json.Decoder, key string) error {
		if key == metadataKey {
			return h.decodeMetadata(path, dec)
		}
		info, err := decodeTensor(path, key, dec)
		h.tensors[key] = info
		return err
	})
	if err != nil {
		return nil, headerError(path, err)
	}
	h.names = make([]string, 0, len(h.tensors))
	for name := range h.tensors {
		h.names = append(h.names, name)
	}
	sort.Strings(h.names)
	if err := h.validate(path, dataLen); err != nil {
		return nil, err
	}
	return h, nil
}

// headerError turns an error met while walking the header into an *Error.
func headerError(path string, err error) error {
	var e *Error
	var dup *duplicateKeyError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &dup) && dup.key == metadataKey:
		return fileError(path, "duplicate %s in header", metadataKey)
	case errors.As(err, &dup):
		return tensorError(path, dup.key, "duplicate tensor name in header")
	case errors.Is(err, errNotObject):
		return fileError(path, "header is not a JSON object")
	}
	return &Error{Path: path, Msg: "invalid JSON header", Err: err}
}

// decodeMetadata decodes the __metadata__ value at dec into h.
func (h *header) decodeMetadata(path string, dec *json.Decoder) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	m, err := decodeStringMap(raw)
	if err != nil {
		return &Error{Path: path, Msg: "invalid " + metadataKey, Err: err}
	}
	h.metadata = m
	return nil
}

// decodeTensor decodes the header entry of tensor name at dec. It checks
// the entry's fields one by one; validate checks them against each other.
func decodeTensor(path, name string, dec *json.Decoder) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	var shape, offsets []int64
	err := walkObject(dec, func(dec *json.Decoder, key string) error {
		var err error
		switch key {
		case "dtype":
			var s string
			s, err = decodeString(dec)
			info.Dtype = Dtype(s)
		case "shape":
			shape, err = decodeInts(dec)
		case "data_offsets":
			offsets, err = decodeInts(dec)
		default: // unknown fields are ignored, as by the reference
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return info, &Error{Path: path, Tensor: name, Msg: "invalid header entry", Err: err}
	}
	if err := info.setFields(shape, offsets); err != nil {
		return info, &Error{Path: path, Tensor: name, Err: err}
	}
	return info, nil
}

// setFields checks the dtype, shape and offsets of a header entry on their
// own and stores them in t.
func (t *TensorInfo) setFields(shape, offsets []int64) error {
	switch {
	case t.Dtype == DtypeInvalid:
		return errors.New("missing dtype")
	case !t.Dtype.Valid():
		return fmt.Errorf("unknown dtype %q", string(t.Dtype))
	case shape == nil:
		return errors.New("missing shape")
	case offsets == nil:
		return errors.New("missing data_offsets")
	case len(offsets) != 2:
		return fmt.Errorf("data_offsets has %d entries, want 2", len(offsets))
	}
	t.Shape = make([]int, len(shape))
	for i, d := range shape {
		if d < 0 || d > math.MaxInt {
			return fmt.Errorf("shape %v: dimension %d is %d", shape, i, d)
		}
		t.Shape[i] = int(d)
	}
	t.Offsets = [2]int64{offsets[0], offsets[1]}
	return nil
}

// numElements returns the product of shape, or false if it overflows an
// int64.
func numElements(shape []int) (int64, bool) {
	n := uint64(1)
	for _, d := range shape {
		if d == 0 {
			return 0, true
		}
	}
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// byteSize returns the number of bytes of a tensor of dtype and shape, or
// false if it overflows an int64.
func byteSize(dtype Dtype, shape []int) (int64, bool) {
	n, ok := numElements(shape)
	if !ok || n > math.MaxInt64/int64(dtype.Size()) {
		return 0, false
	}
	return n * int64(dtype.Size()), true
}

// validate checks every tensor's offsets against its size and the data
// buffer, then that the tensors cover the buffer exactly.
func (h *header) validate(path string, dataLen int64) error {
	for _, name := range h.names {
		if err := h.tensors[name].checkOffsets(dataLen); err != nil {
			return &Error{Path: path, Tensor: name, Err: err}
		}
	}
	return h.checkCoverage(path, dataLen)
}

// checkOffsets checks that t's offsets lie in a data buffer of dataLen
// bytes and span exactly the bytes its dtype and shape need.
func (t TensorInfo) checkOffsets(dataLen int64) error {
	b, e := t.Offsets[0], t.Offsets[1]
	if b < 0 || e < b || e > dataLen {
		return fmt.Errorf("data_offsets [%d, %d) out of range (data buffer is %d bytes)", b, e, dataLen)
	}
	want, ok := byteSize(t.Dtype, t.Shape)
	if !ok {
		return fmt.Errorf("shape %v of %s overflows", t.Shape, t.Dtype)
	}
	if want != e-b {
		return fmt.Errorf("shape %v of %s needs %d bytes but data_offsets [%d, %d) span %d",
			t.Shape, t.Dtype, want, b, e, e-b)
	}
	return nil
}

// checkCoverage checks that the tensors, sorted by offset, neither overlap
// nor leave holes, and together cover the data buffer to its end. The
// reference implementation requires the same.
func (h *header) checkCoverage(path string, dataLen int64) error {
	infos := make([]TensorInfo, 0, len(h.names))
	for _, name := range h.names {
		infos = append(infos, h.tensors[name])
	}
	sort.SliceStable(infos, func(i, j int) bool {
		a, b := infos[i].Offsets, infos[j].Offsets
		return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
	})
	var end int64
	prev := ""
	for _, t := range infos {
		switch b := t.Offsets[0]; {
		case b < end:
			return tensorError(path, t.Name, "data_offsets [%d, %d) overlap tensor %q, which ends at %d",
				b, t.Offsets[1], prev, end)
		case b > end:
			return tensorError(path, t.Name, "data_offsets [%d, %d) leave a hole: bytes [%d, %d) belong to no tensor",
				b, t.Offsets[1], end, b)
		}
		end, prev = t.Offsets[1], t.Name
	}
	if end != dataLen {
		return fileError(path, "bytes [%d, %d) at the end of the data buffer belong to no tensor", end, dataLen)
	}
	return nil
}
