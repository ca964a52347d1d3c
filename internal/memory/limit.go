package memory

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultLimitFraction is the part of the memory available to the process
// (Available) that SetLimit's "auto" lets the Go heap use before the
// collector works harder to stay under it.
//
// Without a limit the collector lets the heap grow to twice the memory in
// use before it collects (GOGC = 100). bico's largest jobs hold gigabytes
// of statistics and maps, so "twice" can exceed the machine: choosing β
// and α for ViT-B/16 with bico-blend (`bico bench --skip-small --method
// bico-blend --tune`) reached 21.9 GB of resident memory on a 24 GB
// machine without a limit.
const DefaultLimitFraction = 0.9

// SetLimit sets the Go runtime's soft memory limit (runtime/debug's
// SetMemoryLimit) from spec and returns the limit in effect, in bytes
// (math.MaxInt64 for none):
//
//   - "" or "auto": DefaultLimitFraction of Available, unless the
//     GOMEMLIMIT environment variable is set, which then stays in force;
//     no limit when Available cannot tell;
//   - "off": no limit;
//   - a size as ParseSize reads it ("14GiB").
//
// The limit is soft: a live heap above it is not an error, the collector
// then only runs more often.
func SetLimit(spec string) (int64, error) {
	switch strings.TrimSpace(spec) {
	case "", "auto":
		if os.Getenv("GOMEMLIMIT") != "" {
			return debug.SetMemoryLimit(-1), nil
		}
		avail := Available()
		if avail <= 0 {
			return debug.SetMemoryLimit(-1), nil
		}
		limit := int64(DefaultLimitFraction * float64(avail))
		debug.SetMemoryLimit(limit)
		return limit, nil
	case "off":
		debug.SetMemoryLimit(math.MaxInt64)
		return math.MaxInt64, nil
	}
	n, err := ParseSize(spec)
	if err != nil {
		return 0, err
	}
	debug.SetMemoryLimit(n)
	return n, nil
}

// sizeUnits are the units ParseSize accepts, as GOMEMLIMIT spells them.
var sizeUnits = []struct {
	suffix string
	bytes  float64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// ParseSize reads a size in bytes written as GOMEMLIMIT writes it: a
// non-negative number (a decimal fraction is allowed) followed by an
// optional unit, B, KiB, MiB, GiB or TiB, for example "14GiB", "1.5TiB" or
// "1000000". The size must be at least one byte and fit in an int64.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num, scale := t, 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			num, scale = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.bytes
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || strings.ContainsAny(num, "eEnNxXpP_+-") {
		return 0, fmt.Errorf("memory size %q: want a number of bytes with an optional unit B, KiB, MiB, GiB or TiB, such as 14GiB", s)
	}
	b := v * scale
	if b < 1 || b >= math.MaxInt64 {
		return 0, fmt.Errorf("memory size %q: want between 1 B and 8 EiB", s)
	}
	return int64(b), nil
}

// Available returns the memory the process may use, in bytes: the
// machine's physical memory (MemTotal in /proc/meminfo), or the memory
// limit of the cgroup the process runs in when lower (cgroup v2's
// memory.max or v1's memory.limit_in_bytes at the usual mount point). It
// returns 0 where none of these can be read.
func Available() int64 {
	total := readWith("/proc/meminfo", parseMemTotal)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if lim := readWith(f, parseCgroupLimit); lim > 0 && (total == 0 || lim < total) {
			total = lim
		}
	}
	return total
}

// readWith reads the file at path and returns parse of its contents; 0
// when it cannot be read.
func readWith(path string, parse func([]byte) int64) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parse(b)
}

// parseMemTotal finds the line "MemTotal: N kB" in /proc/meminfo's text and
// returns N KiB in bytes; 0 when there is none.
func parseMemTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "MemTotal:" || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || kb <= 0 || kb > math.MaxInt64>>10 {
			return 0
		}
		return kb << 10
	}
	return 0
}

// parseCgroupLimit reads the text of a cgroup memory limit file: a number
// of bytes, or "max"; 0 for none. Values of 2⁶² and more are v1's way of
// saying "none".
func parseCgroupLimit(b []byte) int64 {
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}
