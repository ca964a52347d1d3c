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
// and otherwise a line when a stage starts and when it ends.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	tty   bool
	stage string
	bar   *progressbar.ProgressBar
	start time.Time
	quiet bool
}

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
		p.stage, p.start = stage, time.Now()
		if p.tty {
			p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.out),
				progressbar.OptionSetDescription(stage), progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish())
		} else {
			fmt.Fprintf(p.out, "%s ...\n", stage)
		}
	}
	if p.bar != nil {
		p.bar.Set(done)
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
	fmt.Fprintf(p.out, "%s done in %.1fs\n", p.stage, time.Since(p.start).Seconds())
	p.stage = ""
}
