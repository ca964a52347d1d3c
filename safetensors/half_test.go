package safetensors

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

func f32bits(b uint32) float32 { return math.Float32frombits(b) }

func TestFloat32ToF16KnownBits(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.1, 0x2e66},
		{1.0 / 3, 0x3555},
		{65504, 0x7bff},                      // largest finite
		{65519.996, 0x7bff},                  // just under the midpoint to infinity
		{65520, 0x7c00},                      // the midpoint rounds to even: infinity
		{1e10, 0x7c00},                       // overflow
		{float32(math.Inf(-1)), 0xfc00},      // -inf
		{f32bits(0x38800000), 0x0400},        // 2^-14, smallest normal
		{f32bits(0x33800000), 0x0001},        // 2^-24, smallest subnormal
		{f32bits(0x33000000), 0x0000},        // 0.5 units of 2^-24: tie, to even 0
		{f32bits(0x33000001), 0x0001},        // just over 0.5 units
		{f32bits(0xb3000001), 0x8001},        // negative subnormal
		{f32bits(0x33c00000), 0x0002},        // 1.5 units: tie, to even 2
		{f32bits(0x34200000), 0x0002},        // 2.5 units: tie, to even 2
		{f32bits(0x34400000), 0x0003},        // 3 units exactly
		{f32bits(0x387fc000), 0x03ff},        // 1023 units: largest subnormal
		{f32bits(0x387fe000), 0x0400},        // 1023.5 units: tie, to even 0x0400 (normal)
		{f32bits(0x387fa000), 0x03fe},        // 1022.5 units: tie, to even 0x03fe
		{1 + 1.0/2048, 0x3c00},               // tie between 0x3c00 and 0x3c01, to even
		{1 + 3.0/2048, 0x3c02},               // tie between 0x3c01 and 0x3c02, to even
		{1 + 1.0/2048 + 1.0/(1<<20), 0x3c01}, // just over the tie
		{f32bits(0x00000001), 0x0000},        // float32 subnormal underflows
		{f32bits(0x7fc00000), 0x7e00},        // quiet NaN
		{f32bits(0xff800001), 0xfe00},        // signalling NaN stays a NaN, sign kept
	}
	for _, tt := range tests {
		if got := Float32ToF16(tt.in); got != tt.want {
			t.Errorf("Float32ToF16(%g [%#08x]) = %#04x, want %#04x", tt.in, math.Float32bits(tt.in), got, tt.want)
		}
	}
}

func TestF16ToFloat32KnownBits(t *testing.T) {
	tests := []struct {
		in   uint16
		want float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x7bff, 65504},
		{0x0400, f32bits(0x38800000)}, // 2^-14
		{0x0001, f32bits(0x33800000)}, // 2^-24
		{0x03ff, f32bits(0x387fc000)}, // largest subnormal
		{0x8001, f32bits(0xb3800000)},
		{0x3555, 0.333251953125},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		got := F16ToFloat32(tt.in)
		if math.Float32bits(got) != math.Float32bits(tt.want) {
			t.Errorf("F16ToFloat32(%#04x) = %g, want %g", tt.in, got, tt.want)
		}
	}
	if got := F16ToFloat32(0x8000); math.Float32bits(got) != 0x80000000 {
		t.Errorf("F16ToFloat32(0x8000) = %g, want -0", got)
	}
	for _, nan := range []uint16{0x7e00, 0x7c01, 0xfe00, 0x7fff} {
		if got := F16ToFloat32(nan); !math.IsNaN(float64(got)) {
			t.Errorf("F16ToFloat32(%#04x) = %g, want NaN", nan, got)
		}
	}
}

// TestF16AllValues checks that every binary16 value survives the trip
// through float32, and that the midpoint between neighbours rounds to the
// even one.
func TestF16AllValues(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToFloat32(h)
		back := Float32ToF16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != h&0x8000 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
	for h := uint16(0); h < 0x7c00; h++ {
		lo := float64(F16ToFloat32(h))
		hi := 65536.0 // the "next value" after 0x7bff, for rounding purposes
		if h < 0x7bff {
			hi = float64(F16ToFloat32(h + 1))
		}
		mid := float32((lo + hi) / 2) // exact: 12 significant bits at most
		want := h
		if h&1 == 1 {
			want = h + 1
		}
		if got := Float32ToF16(mid); got != want {
			t.Fatalf("midpoint %g of %#04x and next: got %#04x, want %#04x", mid, h, got, want)
		}
		if got := Float32ToF16(-mid); got != want|0x8000 {
			t.Fatalf("midpoint %g: got %#04x, want %#04x", -mid, got, want|0x8000)
		}
		below := math.Nextafter32(mid, 0)
		if got := Float32ToF16(below); got != h {
			t.Fatalf("just below midpoint %g: got %#04x, want %#04x", below, got, h)
		}
	}
}

// TestF16Reference compares Float32ToF16 with the rounding of an
// independent implementation, recorded in testdata/f16_reference.txt.
func TestF16Reference(t *testing.T) {
	f, err := os.Open("testdata/f16_reference.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		var in uint32
		var want uint16
		if _, err := fmt.Sscanf(line, "%x %x", &in, &want); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		if got := Float32ToF16(f32bits(in)); got != want {
			t.Errorf("Float32ToF16(%#08x = %g) = %#04x, want %#04x", in, f32bits(in), got, want)
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d reference values", n)
	}
}

func TestBF16KnownBits(t *testing.T) {
	tests := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x40490fdb, 0x4049}, // pi rounds down
		{0xc0000000, 0xc000}, // -2
		{0x3f808000, 0x3f80}, // tie, to even (down)
		{0x3f818000, 0x3f82}, // tie, to even (up)
		{0x3f808001, 0x3f81}, // just over the tie
		{0x3f807fff, 0x3f80}, // just under the tie
		{0x7f7fffff, 0x7f80}, // largest float32 rounds to infinity
		{0x7f800000, 0x7f80}, // +inf
		{0xff800000, 0xff80}, // -inf
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7f800001, 0x7fc0}, // signalling NaN stays a NaN
		{0xffc00001, 0xffc0}, // negative NaN
		{0x00000001, 0x0000}, // tiny subnormal
		{0x00008000, 0x0000}, // subnormal tie, to even
		{0x00018000, 0x0002}, // subnormal tie, to even
		{0x80000000, 0x8000}, // -0
	}
	for _, tt := range tests {
		if got := Float32ToBF16(f32bits(tt.in)); got != tt.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToFloat32(h)
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("BF16ToFloat32(%#04x) = %#08x", h, math.Float32bits(f))
		}
		if math.IsNaN(float64(f)) {
			if back := Float32ToBF16(f); back&0x7f80 != 0x7f80 || back&0x7f == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
		} else if back := Float32ToBF16(f); back != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
}

func TestF8(t *testing.T) {
	e4m3 := []struct {
		in   byte
		want float32
	}{
		{0x00, 0}, {0x38, 1}, {0xb8, -1}, {0x7e, 448}, {0x01, 1.0 / 512}, {0x08, 1.0 / 64}, {0x40, 2},
	}
	for _, tt := range e4m3 {
		if got := f8e4m3ToFloat32(tt.in); got != tt.want {
			t.Errorf("f8e4m3ToFloat32(%#02x) = %g, want %g", tt.in, got, tt.want)
		}
	}
	if got := f8e4m3ToFloat32(0x7f); !math.IsNaN(float64(got)) {
		t.Errorf("f8e4m3ToFloat32(0x7f) = %g, want NaN", got)
	}
	e5m2 := []struct {
		in   byte
		want float32
	}{
		{0x00, 0}, {0x3c, 1}, {0xc0, -2}, {0x7b, 57344}, {0x01, f32bits(0x37800000)}, {0x7c, float32(math.Inf(1))},
	}
	for _, tt := range e5m2 {
		if got := f8e5m2ToFloat32(tt.in); got != tt.want {
			t.Errorf("f8e5m2ToFloat32(%#02x) = %g, want %g", tt.in, got, tt.want)
		}
	}
}
