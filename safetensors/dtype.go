// Package safetensors reads and writes checkpoints in the safetensors format
// used by Hugging Face: an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON describing every tensor, then the raw little-endian tensor data.
//
// Files are memory-mapped read-only and tensors are decoded lazily, one at a
// time, on request. Sharded checkpoints (model.safetensors.index.json plus
// model-0000i-of-0000n.safetensors) are read with [OpenDir] and written with
// [WriteSharded]. Writes are atomic: a file is written under a temporary
// name, synced and renamed, so a crash never leaves a half-written file.
//
// The reader is strict, like the reference implementation: besides checking
// the JSON, dtypes, shapes and offsets, it requires the tensors to cover the
// data buffer exactly, without overlaps, holes or trailing bytes.
package safetensors

// Dtype is the element type of a tensor, spelled as in the safetensors header
// ("F32", "BF16", ...).
type Dtype string

// The element types of the safetensors format.
const (
	DtypeF64     Dtype = "F64"     // IEEE 754 binary64
	DtypeF32     Dtype = "F32"     // IEEE 754 binary32
	DtypeF16     Dtype = "F16"     // IEEE 754 binary16
	DtypeBF16    Dtype = "BF16"    // bfloat16: the top half of a binary32
	DtypeF8E4M3  Dtype = "F8_E4M3" // 8-bit float, 4 exponent bits, 3 mantissa bits, no infinities
	DtypeF8E5M2  Dtype = "F8_E5M2" // 8-bit float, 5 exponent bits, 2 mantissa bits
	DtypeI64     Dtype = "I64"     // signed 64-bit integer
	DtypeI32     Dtype = "I32"     // signed 32-bit integer
	DtypeI16     Dtype = "I16"     // signed 16-bit integer
	DtypeI8      Dtype = "I8"      // signed 8-bit integer
	DtypeU64     Dtype = "U64"     // unsigned 64-bit integer
	DtypeU32     Dtype = "U32"     // unsigned 32-bit integer
	DtypeU16     Dtype = "U16"     // unsigned 16-bit integer
	DtypeU8      Dtype = "U8"      // unsigned 8-bit integer
	DtypeBool    Dtype = "BOOL"    // one byte per element, 0 or 1
	DtypeInvalid Dtype = ""        // the zero value: no dtype
)

// dtypeSizes maps every known dtype to its element size in bytes.
var dtypeSizes = map[Dtype]int{
	DtypeF64: 8, DtypeF32: 4, DtypeF16: 2, DtypeBF16: 2, DtypeF8E4M3: 1, DtypeF8E5M2: 1,
	DtypeI64: 8, DtypeI32: 4, DtypeI16: 2, DtypeI8: 1,
	DtypeU64: 8, DtypeU32: 4, DtypeU16: 2, DtypeU8: 1,
	DtypeBool: 1,
}

// Size returns the size in bytes of one element, or 0 for an unknown dtype.
func (d Dtype) Size() int { return dtypeSizes[d] }

// Valid reports whether d is a dtype this package knows.
func (d Dtype) Valid() bool { return d.Size() > 0 }

// IsFloat reports whether d is a floating-point type, readable with
// Float32 and Float64.
func (d Dtype) IsFloat() bool {
	switch d {
	case DtypeF64, DtypeF32, DtypeF16, DtypeBF16, DtypeF8E4M3, DtypeF8E5M2:
		return true
	}
	return false
}

// IsInt reports whether d is an integer type or BOOL, readable with Int64.
func (d Dtype) IsInt() bool { return d.Valid() && !d.IsFloat() }

// String returns the dtype as spelled in the header.
func (d Dtype) String() string { return string(d) }
