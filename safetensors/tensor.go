package safetensors

import (
	"math"
	"slices"
)

// Tensor is a tensor to write: its name, dtype, shape (empty for a scalar)
// and raw little-endian data, len(Data) being the number of elements times
// the dtype's size.
type Tensor struct {
	Name  string
	Dtype Dtype
	Shape []int
	Data  []byte
}

// F32 returns an F32 tensor holding data, in row-major order.
func F32(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		le.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, Dtype: DtypeF32, Shape: slices.Clone(shape), Data: b}
}

// F64 returns an F64 tensor holding data, in row-major order.
func F64(name string, shape []int, data []float64) Tensor {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		le.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, Dtype: DtypeF64, Shape: slices.Clone(shape), Data: b}
}

// F16 returns an F16 tensor holding data rounded to binary16 (to nearest,
// ties to even; see Float32ToF16).
func F16(name string, shape []int, data []float32) Tensor {
	return halfTensor(name, DtypeF16, shape, data, Float32ToF16)
}

// BF16 returns a BF16 tensor holding data rounded to bfloat16 (to nearest,
// ties to even; see Float32ToBF16).
func BF16(name string, shape []int, data []float32) Tensor {
	return halfTensor(name, DtypeBF16, shape, data, Float32ToBF16)
}

// halfTensor returns a 16-bit float tensor holding data encoded by enc.
func halfTensor(name string, dtype Dtype, shape []int, data []float32, enc func(float32) uint16) Tensor {
	b := make([]byte, 2*len(data))
	for i, v := range data {
		le.PutUint16(b[2*i:], enc(v))
	}
	return Tensor{Name: name, Dtype: dtype, Shape: slices.Clone(shape), Data: b}
}

// I64 returns an I64 tensor holding data, in row-major order.
func I64(name string, shape []int, data []int64) Tensor {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		le.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, Dtype: DtypeI64, Shape: slices.Clone(shape), Data: b}
}

// I32 returns an I32 tensor holding data, in row-major order.
func I32(name string, shape []int, data []int32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		le.PutUint32(b[4*i:], uint32(v))
	}
	return Tensor{Name: name, Dtype: DtypeI32, Shape: slices.Clone(shape), Data: b}
}

// U8 returns a U8 tensor holding a copy of data, in row-major order.
func U8(name string, shape []int, data []byte) Tensor {
	return Tensor{Name: name, Dtype: DtypeU8, Shape: slices.Clone(shape), Data: slices.Clone(data)}
}

// Bool returns a BOOL tensor holding data, in row-major order.
func Bool(name string, shape []int, data []bool) Tensor {
	b := make([]byte, len(data))
	for i, v := range data {
		if v {
			b[i] = 1
		}
	}
	return Tensor{Name: name, Dtype: DtypeBool, Shape: slices.Clone(shape), Data: b}
}
