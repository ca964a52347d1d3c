package memory

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestSetGCPercent: the default without GOGC; GOGC left in force with it.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	debug.SetGCPercent(77)
	if got := SetGCPercent(); got != 77 || debug.SetGCPercent(77) != 77 {
		t.Errorf("with GOGC set: %d, want the runtime's 77 left alone", got)
	}
	// t.Setenv cannot unset; the Setenv above restores GOGC afterwards.
	os.Unsetenv("GOGC")
	if got := SetGCPercent(); got != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
		t.Errorf("without GOGC: %d, want %d", got, DefaultGCPercent)
	}
}
