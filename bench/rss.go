package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// resetPeakRSS returns freed memory to the system and, where the kernel
// allows it (Linux: writing 5 to /proc/self/clear_refs), resets the
// process's peak resident set size to its current size, so that a later
// PeakRSS measures what happens in between. It reports whether the reset
// took place.
func resetPeakRSS() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// PeakRSS returns the peak resident set size of the process in bytes:
// VmHWM from /proc/self/status (since the last reset), or the maximum RSS
// from getrusage where there is no /proc.
func PeakRSS() int64 {
	if v := procStatus("VmHWM:"); v > 0 {
		return v
	}
	return maxRSS()
}

// CurrentRSS returns the resident set size of the process in bytes (0
// where /proc is missing).
func CurrentRSS() int64 { return procStatus("VmRSS:") }

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field) {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, field))
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
