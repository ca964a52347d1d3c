package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressStagesSideBySide: two stages updated in turn (two models
// trained at once) each get their count lines and their end line, timed
// from their own start. Before, every switch restarted the clock and no
// line was written until a stage ended.
func TestProgressStagesSideBySide(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&out, false)
	p.now = func() time.Time { return clock }
	for i := 1; i <= 10; i++ {
		for _, name := range []string{"pretrain v1", "pretrain v2"} {
			clock = clock.Add(time.Second)
			p.update(name, i, 10)
		}
	}
	got := out.String()
	// Each stage starts at its first update, a second after the other's.
	for _, want := range []string{"pretrain v1: 2/10 (2s)\n", "pretrain v2: 2/10 (2s)\n", "pretrain v1: 5/10 (8s)\n",
		"pretrain v2: 8/10 (14s)\n", "pretrain v1 done in 18.0s\n", "pretrain v2 done in 18.0s\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress lacks %q:\n%s", want, got)
		}
	}
	if p.update("quick", 1, 1); strings.Contains(out.String(), "quick") {
		t.Errorf("a stage done within a second printed a line:\n%s", out.String())
	}
}
