package submit

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/refresh"
	"github.com/dmls-project/dmls/internal/spec"
)

// refreshTimeout bounds one notification of Argo CD.
const refreshTimeout = 15 * time.Second

// notifyArgoCD tells Argo CD what a publish pushed, as argocd.refresh of
// platform.cue says, in the background: it is best effort, a failure is
// a logged warning, and Argo CD's poll catches up.
func (w *Writer) notifyArgoCD(p *spec.Platform, res *build.Result, results []publish.Result) {
	rc := p.ArgoCD.Refresh
	pushes := refresh.Pushes(p, results)
	if rc == nil || len(pushes) == 0 {
		return
	}
	// The Applications are read in the background too: the jobs of the
	// batch are answered meanwhile (at 1,000 apps, reading a batch's new
	// Applications took 10 ms of a batch's 175).
	go func() {
		n := &refresh.Notifier{Config: rc, Namespace: p.ArgoCD.Namespace, Applications: w.refreshApps.of(res.ArgoCD), Getenv: os.Getenv}
		if w.cfg.ArgoCD != nil {
			n.Cluster = w.cfg.ArgoCD
		}
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		refreshed, warnings := n.Notify(ctx, pushes)
		for _, msg := range warnings {
			w.cfg.Log.Warn(msg)
		}
		if len(refreshed) > 0 {
			w.cfg.Log.Info("refreshed Argo CD Applications", "applications", refreshed)
		}
	}()
}

// refreshApps keeps the Applications that refresh.Applications reads from
// each file of the Argo CD tree, so that a publish parses only the files
// that changed since the last one rather than every app's Application.
type refreshApps struct {
	mu    sync.Mutex
	files map[string]refreshFile
}

type refreshFile struct {
	data []byte
	apps []refresh.Application
}

// of returns refresh.Applications(tree), reading only changed files.
func (c *refreshApps) of(tree generators.Tree) []refresh.Application {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]refreshFile{}
	}
	var out []refresh.Application
	seen := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if !strings.HasPrefix(path.Base(p), "application-") {
			continue
		}
		seen[p] = true
		f, ok := c.files[p]
		if !ok || !bytes.Equal(f.data, tree[p]) {
			f = refreshFile{data: tree[p], apps: refresh.Applications(generators.Tree{p: tree[p]})}
			c.files[p] = f
		}
		out = append(out, f.apps...)
	}
	for p := range c.files {
		if !seen[p] {
			delete(c.files, p)
		}
	}
	return out
}
