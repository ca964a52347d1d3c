package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// This file holds small strict JSON helpers: encoding/json silently keeps the
// last of duplicate object keys, which the safetensors format forbids, so
// objects are walked token by token.

// errNotObject is returned by walkObject when the value is not an object.
var errNotObject = errors.New("not a JSON object")

// errTruncated is returned by walkObject when the input ends inside the
// object.
var errTruncated = errors.New("unexpected end of JSON input")

// duplicateKeyError reports a key seen twice in one JSON object.
type duplicateKeyError struct{ key string }

func (e *duplicateKeyError) Error() string { return fmt.Sprintf("duplicate key %q", e.key) }

// keyFunc is called by walkObject for each key of an object, with dec
// positioned at the key's value; it must consume the value.
type keyFunc func(dec *json.Decoder, key string) error

// walkObject reads one JSON object from dec and calls fn for each key, in
// order. A key that occurs twice is a *duplicateKeyError.
func walkObject(dec *json.Decoder, fn keyFunc) error {
	err := walkObjectTokens(dec, fn)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

// walkObjectTokens is walkObject without the translation of end-of-input
// errors.
func walkObjectTokens(dec *json.Decoder, fn keyFunc) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errNotObject
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string) // the decoder guarantees object keys are strings
		if seen[key] {
			return &duplicateKeyError{key}
		}
		seen[key] = true
		if err := fn(dec, key); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing '}'
	return err
}

// walkDocument walks raw, which must be exactly one JSON object optionally
// surrounded by whitespace.
func walkDocument(raw []byte, fn keyFunc) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := walkObject(dec, fn); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// decodeStringMap decodes raw, a JSON object whose values are all strings,
// rejecting duplicate keys. A JSON null gives a nil map.
func decodeStringMap(raw json.RawMessage) (map[string]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	m := make(map[string]string)
	err := walkDocument(raw, func(dec *json.Decoder, key string) error {
		s, err := decodeString(dec)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		m[key] = s
		return nil
	})
	return m, err
}

// decodeString decodes the next value of dec, which must be a string (not
// null).
func decodeString(dec *json.Decoder) (string, error) {
	var s *string
	if err := dec.Decode(&s); err != nil {
		return "", err
	}
	if s == nil {
		return "", errors.New("null instead of a string")
	}
	return *s, nil
}

// decodeInts decodes the next value of dec, which must be an array of
// integers (not null).
func decodeInts(dec *json.Decoder) ([]int64, error) {
	var v *[]*int64
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("null instead of an array")
	}
	out := make([]int64, len(*v))
	for i, p := range *v {
		if p == nil {
			return nil, errors.New("null instead of an integer")
		}
		out[i] = *p
	}
	return out, nil
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
