package memory

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the heap growth, in percent of the live heap after a
// collection, that SetGCPercent lets the Go runtime allow before the next
// one (the runtime's own default, GOGC, is 100).
//
// bico's live heap is mostly float32 and float64 slices without pointers,
// which the collector marks in no time, while "twice the live heap" is
// gigabytes: with GOGC = 40 a SmolLM2-sized bico transfer (the pair of
// examples/llmpair) peaked at 8.6 GB of resident memory instead of 11.3,
// for 3% more processor time and the same wall-clock time.
const DefaultGCPercent = 40

// SetGCPercent sets the collector's target to DefaultGCPercent unless the
// GOGC environment variable is set, which then stays in force, and returns
// the percentage in effect (negative: collection off).
func SetGCPercent() int {
	if _, ok := os.LookupEnv("GOGC"); ok {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}
