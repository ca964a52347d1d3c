package safetensors

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Summary describes a checkpoint for display, as by `bico inspect`.
type Summary struct {
	Path     string            `json:"path"`     // what was opened
	Files    []string          `json:"files"`    // the safetensors files read
	Tensors  []TensorInfo      `json:"tensors"`  // sorted by name
	Params   int64             `json:"params"`   // elements in all tensors
	Bytes    int64             `json:"bytes"`    // bytes of tensor data
	Metadata map[string]string `json:"metadata"` // see Checkpoint.Metadata
}

// Summarize opens the checkpoint at path (a file, an index file or a
// folder; see OpenCheckpoint), summarises it and closes it.
func Summarize(path string) (*Summary, error) {
	c, err := OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	s := NewSummary(c)
	s.Path = path
	return s, nil
}

// NewSummary summarises the open checkpoint c.
func NewSummary(c *Checkpoint) *Summary {
	s := &Summary{Path: c.Path(), Files: c.Files(), Metadata: c.Metadata()}
	for _, name := range c.Names() {
		t, _ := c.Info(name)
		s.Tensors = append(s.Tensors, t)
		s.Params += t.NumElements()
		s.Bytes += t.Size()
	}
	return s
}

// WriteTo writes s as a table of tensors (name, dtype, shape, elements)
// followed by a line of totals. It implements io.WriterTo.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	tw := tabwriter.NewWriter(cw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tPARAMS")
	for _, t := range s.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Name, t.Dtype, formatShape(t.Shape), t.NumElements())
	}
	if err := tw.Flush(); err != nil {
		return cw.n, err
	}
	_, err := fmt.Fprintf(cw, "%d tensors, %s parameters, %s bytes in %d file(s)\n",
		len(s.Tensors), groupDigits(s.Params), groupDigits(s.Bytes), len(s.Files))
	return cw.n, err
}

// formatShape formats a shape as [2, 3], and a scalar's as [].
func formatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// groupDigits formats n with commas between groups of three digits.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

// Write writes p to the underlying writer and counts the bytes written.
func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
