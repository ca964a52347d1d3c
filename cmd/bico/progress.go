package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far long work has got: a bar per stage on a terminal,
// and otherwise, for stages that take more than a second, a line with the
// count every few seconds and one when the stage ends.
type progress struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	stage   string
	bar     *progressbar.ProgressBar
	start   time.Time
	printed time.Time // last line written for this stage (zero: none)
	quiet   bool
}

// lineEvery is how often a line is written for a running stage when the
// output is not a terminal.
const lineEvery = 5 * time.Second

func newProgress(out io.Writer, quiet bool) *progress {
	f, ok := out.(*os.File)
	return &progress{out: out, tty: ok && term.IsTerminal(int(f.Fd())), quiet: quiet}
}

// update reports that done of total units of stage are finished.
func (p *progress) update(stage string, done, total int) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if stage != p.stage {
		p.finishLocked()
		p.stage, p.start, p.printed = stage, time.Now(), time.Time{}
		if p.tty {
			p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.out),
				progressbar.OptionSetDescription(stage), progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish())
		}
	}
	if p.bar != nil {
		p.bar.Set(done)
	} else if done < total && time.Since(p.start) > time.Second && time.Since(p.printed) > lineEvery {
		fmt.Fprintf(p.out, "%s: %d/%d (%.0fs)\n", stage, done, total, time.Since(p.start).Seconds())
		p.printed = time.Now()
	}
	if done >= total {
		p.finishLocked()
	}
}

func (p *progress) finishLocked() {
	if p.stage == "" {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
	if d := time.Since(p.start); d > time.Second {
		fmt.Fprintf(p.out, "%s done in %.1fs\n", p.stage, d.Seconds())
	}
	p.stage = ""
}
