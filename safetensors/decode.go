package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// le is the byte order of all tensor data.
var le = binary.LittleEndian

// notFloatError is the error for a float accessor on a non-float dtype.
func notFloatError(d Dtype) error {
	return fmt.Errorf("dtype %s is not a floating-point type (use Int64 or Bytes)", d)
}

// decodeFloat32 decodes b, little-endian data of dtype d, to float32.
func decodeFloat32(d Dtype, b []byte) ([]float32, error) {
	switch d {
	case DtypeF32: // the common case, without an indirect call per element
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return out, nil
	case DtypeF64:
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
		return out, nil
	}
	conv, err := float32Converter(d)
	if err != nil {
		return nil, err
	}
	size := d.Size()
	out := make([]float32, len(b)/size)
	for i := range out {
		out[i] = conv(b[size*i:])
	}
	return out, nil
}

// decodeFloat64 decodes b, little-endian data of dtype d, to float64.
func decodeFloat64(d Dtype, b []byte) ([]float64, error) {
	if d == DtypeF64 {
		out := make([]float64, len(b)/8)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return out, nil
	}
	conv, err := float32Converter(d)
	if err != nil {
		return nil, err
	}
	size := d.Size()
	out := make([]float64, len(b)/size)
	for i := range out {
		out[i] = float64(conv(b[size*i:]))
	}
	return out, nil
}

// float32Converter returns the function decoding one element of dtype d,
// which must be a floating-point type narrower than F64, to float32.
func float32Converter(d Dtype) (func([]byte) float32, error) {
	switch d {
	case DtypeF32:
		return func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }, nil
	case DtypeF16:
		return func(b []byte) float32 { return F16ToFloat32(le.Uint16(b)) }, nil
	case DtypeBF16:
		return func(b []byte) float32 { return BF16ToFloat32(le.Uint16(b)) }, nil
	case DtypeF8E4M3:
		return func(b []byte) float32 { return f8e4m3ToFloat32(b[0]) }, nil
	case DtypeF8E5M2:
		return func(b []byte) float32 { return f8e5m2ToFloat32(b[0]) }, nil
	}
	return nil, notFloatError(d)
}

// decodeInt64 decodes b, little-endian data of integer dtype d or BOOL, to
// int64.
func decodeInt64(d Dtype, b []byte) ([]int64, error) {
	conv, err := int64Converter(d)
	if err != nil {
		return nil, err
	}
	size := d.Size()
	out := make([]int64, len(b)/size)
	for i := range out {
		out[i] = conv(b[size*i:])
	}
	if d == DtypeU64 {
		for i, v := range out {
			if v < 0 {
				return nil, fmt.Errorf("element %d is %d, over the int64 range", i, uint64(v))
			}
		}
	}
	return out, nil
}

// int64Converter returns the function decoding one element of integer dtype
// d or BOOL to int64. U64 values wrap; the caller checks them.
func int64Converter(d Dtype) (func([]byte) int64, error) {
	switch d {
	case DtypeI64:
		return func(b []byte) int64 { return int64(le.Uint64(b)) }, nil
	case DtypeI32:
		return func(b []byte) int64 { return int64(int32(le.Uint32(b))) }, nil
	case DtypeI16:
		return func(b []byte) int64 { return int64(int16(le.Uint16(b))) }, nil
	case DtypeI8:
		return func(b []byte) int64 { return int64(int8(b[0])) }, nil
	case DtypeU64:
		return func(b []byte) int64 { return int64(le.Uint64(b)) }, nil
	case DtypeU32:
		return func(b []byte) int64 { return int64(le.Uint32(b)) }, nil
	case DtypeU16:
		return func(b []byte) int64 { return int64(le.Uint16(b)) }, nil
	case DtypeU8:
		return func(b []byte) int64 { return int64(b[0]) }, nil
	case DtypeBool:
		return decodeBool, nil
	}
	return nil, fmt.Errorf("dtype %s is not an integer type (use Float32, Float64 or Bytes)", d)
}

// decodeBool decodes a BOOL element: any non-zero byte is true.
func decodeBool(b []byte) int64 {
	if b[0] != 0 {
		return 1
	}
	return 0
}
