package evallimit

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// Pool evaluates apps first in long-lived worker processes, each under the
// limits: an app that passes one is a broken app whose finding names the
// limit, and its worker is killed and replaced (lazily, by the next app).
// An app the worker found broken gets the worker's findings; a valid app
// is then evaluated in this process, which the worker showed to be safe,
// for its typed model. It is a workspace.Guard, safe for concurrent use.
type Pool struct {
	limits Limits
	log    *slog.Logger
	// slots hold the idle workers; nil is a worker not started yet.
	slots chan *worker
	// broken remembers the apps that passed a limit, by their files, so
	// that each load does not wait out the limit again.
	broken *memo.Cache[diag.List]
	stats  struct{ jobs, broken, killed atomic.Int64 }
}

// Stats count what a pool did.
type Stats struct {
	// Jobs are the apps evaluated in workers, Broken those found broken
	// there and Killed those that passed a limit.
	Jobs, Broken, Killed int64
}

// Stats returns what the pool did so far.
func (p *Pool) Stats() Stats {
	return Stats{Jobs: p.stats.jobs.Load(), Broken: p.stats.broken.Load(), Killed: p.stats.killed.Load()}
}

var _ workspace.Guard = (*Pool)(nil)

// Timing of the workers.
const (
	// startTimeout bounds a worker's start, before it takes jobs.
	startTimeout = time.Minute
	// grace is how long past the time limit the pool waits for a
	// worker's own watchdog before it kills the worker itself.
	grace = 5 * time.Second
	// maxJobs is how many apps a worker evaluates before it is replaced:
	// a CUE context keeps some of what it evaluated, and a worker's heap
	// must stay the app's alone.
	maxJobs = 1000
)

// NewPool returns a pool of at most size workers (at least 1) under
// limits. Workers are this program (os.Executable) started with a mark in
// their environment: the program calls RunWorker when IsWorker.
func NewPool(limits Limits, size int, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.Default()
	}
	p := &Pool{limits: limits, log: log, slots: make(chan *worker, max(size, 1)), broken: memo.New[diag.List](1024)}
	for range cap(p.slots) {
		p.slots <- nil
	}
	return p
}

// Close stops the workers, waiting for those at work.
func (p *Pool) Close() {
	for range cap(p.slots) {
		if w := <-p.slots; w != nil {
			w.stop()
		}
	}
}

// Evaluate evaluates the app of job in a worker, then, if it is valid, in
// this process by eval.
func (p *Pool) Evaluate(job *workspace.AppJob, eval func() (*spec.App, diag.List)) (*spec.App, diag.List) {
	key := jobKey(job)
	if d, ok := p.broken.Get(key); ok {
		return nil, d
	}
	w := <-p.slots
	r, limit, err := p.run(&w, job)
	p.slots <- w
	p.stats.jobs.Add(1)
	switch {
	case limit != "":
		p.stats.killed.Add(1)
		p.log.Warn("an app passed an evaluation limit; its worker was killed", "app", job.Display(), "limit", limit)
		d := job.LimitFinding(limit)
		p.broken.Put(key, d)
		return nil, d
	case err != nil:
		p.log.Error("evaluation worker", "app", job.Display(), "err", err)
		var d diag.List
		d.Add(provenance.Pos{File: job.FirstFile()}, "", "app %s: could not be evaluated: %v", job.Dir, err)
		return nil, d
	case r.Findings.HasErrors():
		p.stats.broken.Add(1)
		return nil, r.Findings
	}
	return eval()
}

// run runs job in the worker *wp, starting one if it is nil; it leaves nil
// in *wp when the worker is gone. It returns the worker's result, or the
// limit the app passed, or why it could not be evaluated.
func (p *Pool) run(wp **worker, job *workspace.AppJob) (result, string, error) {
	if *wp == nil {
		w, err := p.start()
		if err != nil {
			return result{}, "", err
		}
		*wp = w
	}
	w := *wp
	send := *job
	if w.digest == job.ContextDigest {
		send.Context = nil // the worker has it
	}
	type reply struct {
		r   result
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		if err := w.enc.Encode(&send); err != nil {
			ch <- reply{err: err}
			return
		}
		var r result
		err := w.dec.Decode(&r)
		ch <- reply{r, err}
	}()
	var timeout <-chan time.Time
	if p.limits.Timeout > 0 {
		t := time.NewTimer(p.limits.Timeout + grace)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case rep := <-ch:
		switch {
		case rep.err != nil:
			*wp = nil
			err := w.died(p.limits)
			if le, ok := err.(*limitError); ok {
				return result{}, le.limit, nil
			}
			return result{}, "", err
		case rep.r.Limit != "":
			*wp = nil
			w.stop()
			return result{}, rep.r.Limit, nil
		case rep.r.Err != "":
			w.digest = ""
			return result{}, "", errors.New(rep.r.Err)
		}
		w.digest = job.ContextDigest
		if w.jobs++; w.jobs >= maxJobs {
			*wp = nil
			w.stop()
		}
		return rep.r, "", nil
	case <-timeout:
		*wp = nil
		w.stop()
		return result{}, p.limits.timeText(), nil
	}
}

// limitError is a worker's death that a limit explains.
type limitError struct{ limit string }

func (e *limitError) Error() string { return e.limit }

// worker is one worker process.
type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	enc    *gob.Encoder
	dec    *gob.Decoder
	stderr *tail
	exited chan struct{}
	err    error // of Wait, once exited is closed
	// digest names the workspace context the worker holds.
	digest string
	// jobs counts the apps it evaluated.
	jobs int
}

// start starts a worker and waits until it is ready.
func (p *Pool) start() (*worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start an evaluation worker: %w", err)
	}
	env, err := json.Marshal(p.limits)
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	w := &worker{stdin: inW, stdout: outR, stderr: &tail{}, exited: make(chan struct{})}
	w.cmd = exec.Command(exe)
	w.cmd.Env = append(os.Environ(), workerEnv+"="+string(env))
	w.cmd.Stdin, w.cmd.Stdout, w.cmd.Stderr = inR, outW, w.stderr
	err = w.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start an evaluation worker: %w", err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.exited)
	}()
	w.enc, w.dec = gob.NewEncoder(inW), gob.NewDecoder(outR)
	ready := make(chan error, 1)
	go func() {
		var r result
		err := w.dec.Decode(&r)
		if err == nil && !r.Ready {
			err = errors.New("no ready message")
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("start an evaluation worker: %v%s", err, w.stderr.line())
		}
	case <-time.After(startTimeout):
		w.stop()
		return nil, fmt.Errorf("start an evaluation worker: not ready after %s", startTimeout)
	}
	return w, nil
}

// stop kills the worker and waits for it.
func (w *worker) stop() {
	w.stdin.Close()
	_ = w.cmd.Process.Kill()
	<-w.exited
	w.stdout.Close()
}

// died explains a worker that stopped answering: out of memory, or else
// how it ended. A worker whose resident set passed the memory limit passed
// it, however the Go runtime ended when the kernel's limit of its data
// segment refused it memory: "out of memory" mostly, but a fault in the
// runtime too (a SIGSEGV, seen on a loaded machine, when the heap's
// watchdog came too late).
func (w *worker) died(l Limits) error {
	w.stop()
	if strings.Contains(w.stderr.String(), "out of memory") ||
		l.Memory > 0 && w.cmd.ProcessState != nil && peakRSS(w.cmd.ProcessState) >= l.Memory {
		return &limitError{l.memoryText()}
	}
	return fmt.Errorf("the evaluation worker stopped (%v)%s", w.err, w.stderr.line())
}

// tail keeps the first few KiB a worker writes on stderr (a Go runtime's
// fatal error comes first, then a trace of every goroutine).
type tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailBytes = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := tailBytes - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// line is the first line of the worker's stderr, as ": line", or "".
func (t *tail) line() string {
	s, _, _ := strings.Cut(strings.TrimSpace(t.String()), "\n")
	if s == "" {
		return ""
	}
	return ": " + s
}

// jobKey names an app's files in its workspace.
func jobKey(job *workspace.AppJob) string {
	h := sha256.New()
	fmt.Fprintf(h, "context %s\napp %s\n", job.ContextDigest, job.Dir)
	for _, f := range job.Files {
		fmt.Fprintf(h, "file %s %d\n", f.Rel, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
