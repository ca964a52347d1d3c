package memory

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"1000000", 1000000}, {"512B", 512}, {"4KiB", 4096}, {"3MiB", 3 << 20},
		{"14GiB", 14 << 30}, {" 14 GiB ", 14 << 30}, {"1.5GiB", 3 << 29}, {"2TiB", 2 << 40},
	} {
		got, err := ParseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "GiB", "0", "0.1", "-1GiB", "14GB", "14G", "1e9", "0x10", "NaN", "Inf", "1_000", "+5", "9EiB", "9000000TiB", "auto"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"14GiB", "1.5TiB", "1000", "0", "-3MiB", "1e3", "KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 1 {
			t.Errorf("ParseSize(%q) = %d without an error", s, n)
		}
	})
}

const meminfo = `MemTotal:       24563448 kB
MemFree:         1234567 kB
MemAvailable:   20000000 kB
`

func TestParseMemTotal(t *testing.T) {
	if got, want := parseMemTotal([]byte(meminfo)), int64(24563448)<<10; got != want {
		t.Errorf("MemTotal = %d, want %d", got, want)
	}
	for _, in := range []string{"", "MemFree: 5 kB\n", "MemTotal: 5\n", "MemTotal: x kB\n", "MemTotal: -5 kB\n", "MemTotal: 5 MB\n"} {
		if got := parseMemTotal([]byte(in)); got != 0 {
			t.Errorf("parseMemTotal(%q) = %d, want 0", in, got)
		}
	}
}

func FuzzParseMemTotal(f *testing.F) {
	f.Add([]byte(meminfo))
	f.Add([]byte("MemTotal: 99999999999999999 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := parseMemTotal(b); n < 0 || n%1024 != 0 {
			t.Errorf("parseMemTotal(%q) = %d, want 0 or whole KiB", b, n)
		}
	})
}

func TestParseCgroupLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"8589934592\n", 8 << 30}, {"max\n", 0}, {"9223372036854771712\n", 0}, {"", 0}, {"-1", 0}, {"12x", 0},
	} {
		if got := parseCgroupLimit([]byte(c.in)); got != c.want {
			t.Errorf("parseCgroupLimit(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func FuzzParseCgroupLimit(f *testing.F) {
	f.Add([]byte("max\n"))
	f.Add([]byte("8589934592\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := parseCgroupLimit(b); n < 0 || n >= 1<<62 {
			t.Errorf("parseCgroupLimit(%q) = %d", b, n)
		}
	})
}

// TestSetLimit checks each spelling of the limit against what the runtime
// then holds, and puts the test process's limit back.
func TestSetLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)

	check := func(spec string, want int64) {
		t.Helper()
		got, err := SetLimit(spec)
		if err != nil {
			t.Fatalf("SetLimit(%q): %v", spec, err)
		}
		if got != want || debug.SetMemoryLimit(-1) != want {
			t.Errorf("SetLimit(%q) = %d, runtime limit %d; want %d", spec, got, debug.SetMemoryLimit(-1), want)
		}
	}
	check("3GiB", 3<<30)
	check("off", math.MaxInt64)

	t.Setenv("GOMEMLIMIT", "")
	if avail := Available(); avail > 0 {
		check("auto", int64(DefaultLimitFraction*float64(avail)))
		check("", int64(DefaultLimitFraction*float64(avail)))
	} else {
		t.Log("Available cannot tell on this system; auto sets no limit")
		check("auto", debug.SetMemoryLimit(-1))
	}
	// A GOMEMLIMIT set by the user stays in force.
	debug.SetMemoryLimit(5 << 30)
	t.Setenv("GOMEMLIMIT", "5GiB")
	check("auto", 5<<30)

	if _, err := SetLimit("lots"); err == nil {
		t.Error(`SetLimit("lots"): no error`)
	}
}
