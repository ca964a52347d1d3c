package safetensors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Write writes tensors and metadata to the safetensors file at path,
// replacing any file there. Tensors are stored sorted by name, at increasing
// offsets, and the header is padded with spaces to a multiple of 8 bytes.
// Metadata may be nil; note that transformers refuses a file whose metadata
// is present but lacks "format" (usually "pt").
//
// The file is written under a temporary name in the same folder, synced and
// renamed over path, so path holds either its old content or the whole new
// file; on error the temporary file is removed.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	sorted, err := sortTensors(path, tensors)
	if err != nil {
		return err
	}
	if err := checkMetadata(path, metadata); err != nil {
		return err
	}
	header := encodeHeader(sorted, metadata)
	return writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		le.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, t := range sorted {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// sortTensors checks tensors for writing to path and returns them sorted by
// name.
func sortTensors(path string, tensors []Tensor) ([]Tensor, error) {
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range sorted {
		if err := t.check(); err != nil {
			return nil, &Error{Path: path, Tensor: t.Name, Err: err}
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return nil, tensorError(path, t.Name, "duplicate tensor name")
		}
	}
	return sorted, nil
}

// check reports what makes t unfit for writing.
func (t Tensor) check() error {
	switch {
	case t.Name == "":
		return fmt.Errorf("empty tensor name")
	case t.Name == metadataKey:
		return fmt.Errorf("the name %s is reserved", metadataKey)
	case !utf8.ValidString(t.Name):
		return fmt.Errorf("name is not valid UTF-8")
	case !t.Dtype.Valid():
		return fmt.Errorf("unknown dtype %q", string(t.Dtype))
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dimension", t.Shape)
		}
	}
	want, ok := byteSize(t.Dtype, t.Shape)
	if !ok {
		return fmt.Errorf("shape %v of %s overflows", t.Shape, t.Dtype)
	}
	if int64(len(t.Data)) != want {
		return fmt.Errorf("shape %v of %s needs %d bytes of data, got %d", t.Shape, t.Dtype, want, len(t.Data))
	}
	return nil
}

// checkMetadata checks that metadata can be written to path exactly.
func checkMetadata(path string, metadata map[string]string) error {
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fileError(path, "metadata %q is not valid UTF-8", k)
		}
	}
	return nil
}

// encodeHeader returns the JSON header describing sorted, stored in that
// order, padded with spaces so that its length is a multiple of 8.
func encodeHeader(sorted []Tensor, metadata map[string]string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	var offset int64
	for i, t := range sorted {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		end := offset + int64(len(t.Data))
		writeTensorEntry(&b, t, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// writeTensorEntry writes the header entry of t, stored at [begin, end).
func writeTensorEntry(b *bytes.Buffer, t Tensor, begin, end int64) {
	writeJSONString(b, t.Name)
	b.WriteString(`:{"dtype":`)
	writeJSONString(b, string(t.Dtype))
	b.WriteString(`,"shape":[`)
	for i, d := range t.Shape {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(d))
	}
	fmt.Fprintf(b, `],"data_offsets":[%d,%d]}`, begin, end)
}

// writeJSONString writes s as a JSON string, escaping only what JSON
// requires (and not <, >, & as json.Marshal does).
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // cannot fail for a string
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// writeAtomic writes the file at path with write, through a temporary file
// in the same folder that is synced and then renamed to path. On error the
// temporary file is removed.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return &Error{Path: path, Msg: "cannot create temporary file", Err: unwrapPathError(err)}
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = &Error{Path: path, Msg: "cannot write", Err: err}
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the system allows it; errors
// are ignored, as some systems cannot sync folders.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
