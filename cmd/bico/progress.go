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
// count every few seconds and one when the stage ends. Stages may run side
// by side (the zoo trains several models at once): each keeps its own
// clock.
type progress struct {
	mu     sync.Mutex
	out    io.Writer
	tty    bool
	quiet  bool
	stages map[string]*stage
	now    func() time.Time
}

// stage is one running stage of a progress.
type stage struct {
	start   time.Time
	printed time.Time // last line written for this stage (zero: none)
	bar     *progressbar.ProgressBar
}

// lineEvery is how often a line is written for a running stage when the
// output is not a terminal.
const lineEvery = 5 * time.Second

func newProgress(out io.Writer, quiet bool) *progress {
	f, ok := out.(*os.File)
	return &progress{out: out, tty: ok && term.IsTerminal(int(f.Fd())), quiet: quiet, stages: map[string]*stage{}, now: time.Now}
}

// update reports that done of total units of stage are finished.
func (p *progress) update(name string, done, total int) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	st := p.stages[name]
	if st == nil {
		st = &stage{start: now}
		if p.tty {
			st.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.out),
				progressbar.OptionSetDescription(name), progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish())
		}
		p.stages[name] = st
	}
	if st.bar != nil {
		st.bar.Set(done)
	} else if done < total && now.Sub(st.start) > time.Second && now.Sub(st.printed) > lineEvery {
		fmt.Fprintf(p.out, "%s: %d/%d (%.0fs)\n", name, done, total, now.Sub(st.start).Seconds())
		st.printed = now
	}
	if done >= total {
		if st.bar != nil {
			st.bar.Finish()
		}
		if d := now.Sub(st.start); d > time.Second {
			fmt.Fprintf(p.out, "%s done in %.1fs\n", name, d.Seconds())
		}
		delete(p.stages, name)
	}
}
