package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sync/atomic"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memfs"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/spec"
)

// Guard bounds the evaluation of each app. CUE's evaluator cannot be
// cancelled from inside the process (cue-lang/cue#3752), and a few lines of
// CUE (a comprehension over list.Range, a string doubled 24 times, a
// disjunction that multiplies) take gigabytes and minutes: so a guard
// either watches the evaluation in this process (the CLI, which it stops
// with an error naming the app) or runs it first in a process it can kill
// (dmls serve).
//
// Evaluate is called from the loader's workers, concurrently, once for
// each app that is not in the cache, after its files are read.
type Guard interface {
	// Evaluate evaluates the app of job: it calls eval, which evaluates
	// it in this process, and returns its result, or returns instead the
	// findings of an app that passed a limit or was found broken
	// elsewhere (EvalApp's findings, the same as eval's).
	Evaluate(job *AppJob, eval func() (*spec.App, diag.List)) (*spec.App, diag.List)
}

// defaultGuard is the guard of loads whose Options name none.
var defaultGuard atomic.Pointer[Guard]

// SetDefaultGuard makes g the guard of every Load whose Options.Guard is
// nil, for a process (the CLI) that bounds all its loads alike, and
// returns what restores the previous one.
func SetDefaultGuard(g Guard) (restore func()) {
	prev := defaultGuard.Swap(&g)
	return func() { defaultGuard.Store(prev) }
}

// version is the running dmls's version (SetVersion).
var version atomic.Pointer[string]

// SetVersion records the version of the running dmls, whose release image
// (spec.ReleaseImage) is a platform's api.image when the spec sets none.
// The CLI sets it once, before any load; it returns what restores the
// previous one.
func SetVersion(v string) (restore func()) {
	prev := version.Swap(&v)
	return func() { version.Store(prev) }
}

// runningVersion is the version SetVersion recorded, or "" when none was.
func runningVersion() string {
	if v := version.Load(); v != nil {
		return *v
	}
	return ""
}

// File is a spec file as the loader read it.
type File struct {
	// Rel is its path in the workspace, slash-separated.
	Rel  string
	Data []byte
}

// AppJob is everything needed to evaluate one app on its own, elsewhere:
// the workspace's platform and environment files (Context, which
// ContextDigest names) and the app's own files. Its fields are exported so
// that it can cross a pipe (encoding/gob).
type AppJob struct {
	// Root names the workspace in findings, as for Load.
	Root string
	// Dir is the app's folder under apps/.
	Dir string
	// Context are the platform's and the environments' spec files.
	Context       []File
	ContextDigest string
	Files         []File
}

// Display names the app's folder as the user sees it.
func (j *AppJob) Display() string { return displayPath(j.Root, path.Join(layout.AppsDir, j.Dir)) }

// FirstFile is the app's first spec file as the user sees it, where
// findings about the app as a whole are placed.
func (j *AppJob) FirstFile() string {
	if len(j.Files) == 0 {
		return j.Display()
	}
	return displayPath(j.Root, j.Files[0].Rel)
}

// LimitFinding is the finding of an app whose evaluation passed a limit:
// it names the app, its file and the limit, so that the app is a broken
// app like any other.
func (j *AppJob) LimitFinding(limit string) diag.List {
	var d diag.List
	d.Add(provenance.Pos{File: j.FirstFile()}, "", "app %s: evaluating its CUE passed %s; look for a comprehension, list.Range, repeated string or disjunction that grows without bound", j.Dir, limit)
	return d
}

// EvalApp evaluates the app of a job on its own, as Load evaluates it, and
// returns its findings (nil for a valid app): the side of a worker process.
// It keeps the platform and environments of the last context it loaded.
type EvalApp struct {
	digest string
	l      *loader
	ev     *schema.Evaluator
}

// Eval evaluates the app of job.
func (e *EvalApp) Eval(job *AppJob) (diag.List, error) {
	if e.l == nil || e.digest != job.ContextDigest || job.ContextDigest == "" {
		if len(job.Context) == 0 {
			return nil, fmt.Errorf("no context for workspace %s", job.ContextDigest)
		}
		l, ev, err := loadContext(mapFS(job.Context), job.Root, false)
		if err != nil {
			return nil, err
		}
		if l.diags.HasErrors() {
			return nil, fmt.Errorf("the platform or the environments do not load: %v", l.diags.Err())
		}
		e.l, e.ev, e.digest = l, ev, job.ContextDigest
	}
	files := make([]string, len(job.Files))
	srcs := make([][]byte, len(job.Files))
	for i, f := range job.Files {
		files[i], srcs[i] = f.Rel, f.Data
	}
	_, d := e.l.evalApp(e.ev, job.Dir, files, srcs, "")
	return d, nil
}

// mapFS holds files as an fs.FS.
func mapFS(files []File) fs.FS {
	m := make(map[string][]byte, len(files))
	for _, f := range files {
		m[f.Rel] = f.Data
	}
	return memfs.New(m)
}

// contextDigest names the platform and environment files.
func contextDigest(root string, files []File) string {
	h := sha256.New()
	fmt.Fprintf(h, "root %s\n", root)
	for _, f := range files {
		fmt.Fprintf(h, "file %s %d\n", f.Rel, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
