package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressDelay is how long a run goes before it shows a progress bar.
const progressDelay = time.Second

// progress is a progress bar on stderr, shown only when stderr is a
// terminal and the run takes longer than progressDelay; never in CI logs
// or pipes.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	start   time.Time
	last    time.Time
	now     func() time.Time
	enabled bool
	shown   bool
}

// newProgress returns the bar of a run that starts now.
func newProgress(stderr io.Writer, label string) *progress {
	return &progress{w: stderr, label: label, now: time.Now, start: time.Now(), enabled: showProgress(stderr, os.Getenv, isTTY)}
}

// showProgress decides whether a bar goes to w: only to a terminal, and
// not in CI (CI set, as every CI service sets it) nor on a dumb terminal.
func showProgress(w io.Writer, getenv func(string) string, tty func(*os.File) bool) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("CI") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return tty(f)
}

func isTTY(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// update shows done of total, at most ten times a second.
func (p *progress) update(done, total int) {
	if p == nil || !p.enabled || total == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.start) < progressDelay || (now.Sub(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = now
	p.shown = true
	const width = 30
	n := done * width / total
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d apps", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total)
}

// stop clears the bar, if it was shown.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
	p.enabled = false
}
