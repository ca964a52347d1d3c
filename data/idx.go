package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// IDX is the content of an idx file, the format of the MNIST distribution,
// whose elements are unsigned bytes: Dims are the sizes read from the header
// and Data holds their product of values in row-major order.
type IDX struct {
	Dims []int
	Data []byte
}

// Magic returns the magic number an idx file of unsigned bytes with these
// dimensions starts with: 0x0800 plus the number of dimensions (2051 for
// MNIST images, 2049 for labels).
func (x *IDX) Magic() uint32 { return idxUbyte<<8 | uint32(len(x.Dims)) }

const (
	idxUbyte       = 0x08
	idxMaxDims     = 16
	idxMaxElements = 1 << 34 // well beyond any idx file; guards overflow

	// MagicImages and MagicLabels are the magic numbers of MNIST image
	// (3-D) and label (1-D) idx files.
	MagicImages = 2051
	MagicLabels = 2049
)

var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
	0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX parses an idx stream of unsigned bytes, gzip-compressed or not
// (detected from the first bytes). The header is big-endian: a magic number
// 0x0000TTDD (TT the element type, which must be 0x08, DD the number of
// dimensions), then DD uint32 sizes, then the data. Bytes after the data
// are an error, so is a stream that ends early.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: gzip: %w", err)
		}
		defer zr.Close()
		return readIDX(bufio.NewReaderSize(zr, 1<<16))
	}
	return readIDX(br)
}

func readIDX(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("idx: truncated header: %w", unexpected(err))
	}
	m := binary.BigEndian.Uint32(magic[:])
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic 0x%08x (%d): not an idx file", m, m)
	}
	if magic[2] != idxUbyte {
		name, ok := idxTypeNames[magic[2]]
		if !ok {
			return nil, fmt.Errorf("idx: bad magic 0x%08x (%d): unknown element type 0x%02x", m, m, magic[2])
		}
		return nil, fmt.Errorf("idx: element type %s (magic 0x%08x) not supported, want unsigned byte", name, m)
	}
	nd := int(magic[3])
	if nd == 0 || nd > idxMaxDims {
		return nil, fmt.Errorf("idx: bad magic 0x%08x (%d): %d dimensions", m, m, nd)
	}
	hdr := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("idx: truncated header (%d dimensions): %w", nd, unexpected(err))
	}
	x := &IDX{Dims: make([]int, nd)}
	n := int64(1)
	for i := range x.Dims {
		d := int64(binary.BigEndian.Uint32(hdr[4*i:]))
		x.Dims[i] = int(d)
		if d != 0 && n > idxMaxElements/d {
			return nil, fmt.Errorf("idx: dimensions %v too large", x.Dims[:i+1])
		}
		n *= d
	}
	data, err := readN(r, n)
	if err != nil {
		return nil, fmt.Errorf("idx: dimensions %v: %w", x.Dims, err)
	}
	x.Data = data
	var one [1]byte
	switch k, err := io.ReadFull(r, one[:]); {
	case k > 0:
		return nil, fmt.Errorf("idx: dimensions %v: trailing data after %d values", x.Dims, n)
	case err != io.EOF:
		return nil, fmt.Errorf("idx: dimensions %v: after data: %w", x.Dims, err)
	}
	return x, nil
}

// readN reads exactly n bytes, growing its buffer as data arrives so that a
// header claiming a huge size costs nothing when the data is missing.
func readN(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, 1<<16))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			if int64(len(buf)) < n {
				return nil, fmt.Errorf("truncated: %d of %d data bytes", len(buf), n)
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// unexpected turns io.EOF into io.ErrUnexpectedEOF: a header cut short is
// never a clean end.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadIDXFile reads the idx file at path (gzip-compressed or not). Errors
// name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return x, nil
}

// WriteIDX writes x as an uncompressed idx stream.
func WriteIDX(w io.Writer, x *IDX) error {
	if len(x.Dims) == 0 || len(x.Dims) > idxMaxDims {
		return fmt.Errorf("idx: %d dimensions", len(x.Dims))
	}
	n := 1
	hdr := binary.BigEndian.AppendUint32(nil, x.Magic())
	for _, d := range x.Dims {
		if d < 0 || uint64(d) > math.MaxUint32 {
			return fmt.Errorf("idx: dimension %d out of range", d)
		}
		n *= d
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
	}
	if n != len(x.Data) {
		return fmt.Errorf("idx: dimensions %v need %d values, have %d", x.Dims, n, len(x.Data))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(x.Data)
	return err
}
