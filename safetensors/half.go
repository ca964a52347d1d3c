package safetensors

import "math"

// F16ToFloat32 returns the value of the IEEE 754 binary16 number with bits h.
// Every binary16 value, including subnormals, infinities and NaNs, is exactly
// representable as a float32; NaN payloads are kept.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant × 2^-24, renormalised so the leading 1 is implicit.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// Float32ToF16 returns the IEEE 754 binary16 bits nearest to f, rounding
// ties to even. Values too large for binary16 become infinities, values too
// small become subnormals or signed zeros, and NaNs stay (quiet) NaNs.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		return sign | f16Subnormal(exp, mant)
	}
	h := uint32(e)<<10 | mant>>13
	// A carry out of the mantissa bumps the exponent, up to infinity: correct.
	return sign | uint16(roundShifted(h, mant, 13))
}

// f16Subnormal converts the magnitude of a float32 (biased exponent exp,
// mantissa mant) that is below the smallest normal binary16 into the
// binary16 bits of the nearest subnormal, rounding ties to even. The result
// may round up to 0x0400, the smallest normal, which is the right encoding.
func f16Subnormal(exp int, mant uint32) uint16 {
	// The value is (mant | 1<<23) × 2^(exp-150); in units of 2^-24 that is
	// full >> (126-exp).
	shift := 126 - exp
	if shift > 24 { // below half the smallest subnormal: rounds to zero
		return 0
	}
	full := mant | 0x800000
	return uint16(roundShifted(full>>shift, full, uint(shift)))
}

// roundShifted rounds q = x >> shift to nearest even, given the original x.
func roundShifted(q, x uint32, shift uint) uint32 {
	rest := x & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || (rest == half && q&1 == 1) {
		q++
	}
	return q
}

// BF16ToFloat32 returns the value of the bfloat16 number with bits h,
// which is exact: bfloat16 is the top half of a float32.
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// Float32ToBF16 returns the bfloat16 bits nearest to f, rounding ties to
// even; large finite values may round to infinity, and NaNs stay quiet NaNs.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: truncate, forcing the quiet bit
		return uint16(b>>16) | 0x0040
	}
	return uint16(roundShifted(b>>16, b, 16))
}

// f8e5m2ToFloat32 decodes an F8_E5M2 byte, which is the top byte of a
// binary16 number.
func f8e5m2ToFloat32(v byte) float32 { return F16ToFloat32(uint16(v) << 8) }

// f8e4m3ToFloat32 decodes an F8_E4M3 byte (the "fn" variant used by
// PyTorch's float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN.
func f8e4m3ToFloat32(v byte) float32 {
	sign := float32(1)
	if v&0x80 != 0 {
		sign = -1
	}
	exp := int(v>>3) & 0xf
	mant := float32(v & 7)
	switch {
	case exp == 0xf && v&7 == 7:
		return float32(math.NaN())
	case exp == 0:
		return sign * mant / 8 * float32(math.Ldexp(1, -6))
	}
	return sign * (1 + mant/8) * float32(math.Ldexp(1, exp-7))
}
