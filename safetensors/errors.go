package safetensors

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is wrapped by the error returned when a tensor name is not in
// a file or checkpoint.
var ErrNotFound = errors.New("not found")

// Error describes what was wrong with which file and, when it concerns one
// tensor, which tensor. Its text reads, for example:
//
//	safetensors: model.safetensors: tensor "x": data_offsets [10, 4) out of range
type Error struct {
	Path   string // the file (or index file, or folder) concerned
	Tensor string // the tensor concerned, if any
	Msg    string // what was wrong, if not said by Err alone
	Err    error  // the underlying error, if any
}

// Error returns the message, naming the file and the tensor.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	b.WriteString(e.Path)
	if e.Tensor != "" {
		fmt.Fprintf(&b, ": tensor %q", e.Tensor)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// fileError returns an *Error about the file at path as a whole.
func fileError(path string, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// tensorError returns an *Error about one tensor of the file at path.
func tensorError(path, tensor string, format string, args ...any) error {
	return &Error{Path: path, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
}

// notFound returns the error for a tensor missing from path.
func notFound(path, tensor string) error {
	return &Error{Path: path, Tensor: tensor, Err: ErrNotFound}
}
