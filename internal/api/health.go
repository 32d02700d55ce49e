package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/repourl"
)

// health is what /readyz reports beyond startup and shutdown: the git
// repos that could not be reached at their last use, and the apps whose
// specs in ml-model are broken (they keep their last good config; see
// submit.Writer). Safe for concurrent use.
type health struct {
	unreachable *prometheus.GaugeVec // by repo
	degraded    prometheus.Gauge

	mu     sync.Mutex
	git    map[string]string // repo → error, while unreachable
	broken map[string]string // app → its first finding
	used   map[string]bool   // repos the server has read or published to
	issuer string            // the identity provider's error, while unreachable
}

func newHealth(reg prometheus.Registerer) *health {
	h := &health{
		unreachable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmls_api_git_unreachable",
			Help: "1 while a git repo could not be reached at its last use, by repo.",
		}, []string{"repo"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmls_api_apps_degraded",
			Help: "Apps in ml-model that do not validate; they keep their last good generated config.",
		}),
		git: map[string]string{}, broken: map[string]string{}, used: map[string]bool{},
	}
	reg.MustRegister(h.unreachable, h.degraded)
	return h
}

// observe records the outcome of a git operation on repo: an unreachable
// repo is marked until an operation on it succeeds. Other failures (a
// refused push, bad credentials) say nothing about reachability.
func (h *health) observe(repo string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.used[repo] = true
	switch {
	case err == nil:
		delete(h.git, repo)
		h.unreachable.WithLabelValues(repo).Set(0)
	case errors.Is(err, gitops.ErrUnreachable):
		h.git[repo] = err.Error()
		h.unreachable.WithLabelValues(repo).Set(1)
	}
}

// usedRepos returns the repos the server has read or published to, sorted.
func (h *health) usedRepos() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.used))
}

// setBroken replaces the set of broken apps.
func (h *health) setBroken(broken map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broken = broken
	h.degraded.Set(float64(len(broken)))
}

// brokenApps returns the broken apps, sorted, with their first findings.
func (h *health) brokenApps() ([]string, map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.broken)), maps.Clone(h.broken)
}

// probed records what a readiness probe found on repo: the current error,
// of any kind (a repo that refuses the credentials is not ready either),
// replaces the one before, and no error clears it.
func (h *health) probed(repo string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.git, repo)
		h.unreachable.WithLabelValues(repo).Set(0)
		return
	}
	h.git[repo] = err.Error()
	if errors.Is(err, gitops.ErrUnreachable) {
		h.unreachable.WithLabelValues(repo).Set(1)
	}
}

// status returns the /readyz answer: 503 while ml-model cannot be reached
// (no change can be committed), 200 "degraded" while a config repo cannot
// be reached or apps are broken (changes still commit), 200 "ok" otherwise.
// Only with details does it say why (the git error, scrubbed of
// credentials, and each broken app's first finding): an unauthenticated
// probe learns which repo or app is affected and nothing more.
func (h *health) status(details bool) (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	why := func(e string) string {
		if !details {
			return ""
		}
		return ": " + repourl.Scrub(e)
	}
	code := http.StatusOK
	if e, ok := h.git[layout.RepoMLModel]; ok {
		code = http.StatusServiceUnavailable
		fmt.Fprintf(&b, "not ready: git repo %s unreachable%s\n", layout.RepoMLModel, why(e))
	}
	for _, repo := range slices.Sorted(maps.Keys(h.git)) {
		if repo != layout.RepoMLModel {
			fmt.Fprintf(&b, "degraded: git repo %s unreachable (config not published)%s\n", repo, why(h.git[repo]))
		}
	}
	if h.issuer != "" {
		fmt.Fprintf(&b, "degraded: identity provider unreachable (keys already fetched keep working)%s\n", why(h.issuer))
	}
	for _, app := range slices.Sorted(maps.Keys(h.broken)) {
		fmt.Fprintf(&b, "degraded: app %s does not validate and keeps its last good config%s\n", app, why(h.broken[app]))
	}
	if b.Len() == 0 {
		return code, "ok\n"
	}
	return code, b.String()
}

// setIssuer records whether the identity provider answered.
func (h *health) setIssuer(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.issuer = ""
	if err != nil {
		h.issuer = err.Error()
	}
}

// probeTimeout bounds each repo's ls-remote in a readiness probe.
const probeTimeout = 3 * time.Second

// readyz answers the readiness probe. It lists the refs of ml-model and of
// each config repo the server has published to (git ls-remote: no objects
// are fetched) at each probe, so that what it says is true now and not at the
// last request. A caller with a valid token is told why.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	if !s.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	s.probeRepos(r.Context())
	details := false
	if _, ok := bearer(r); ok {
		_, e := s.authenticate(r)
		details = e == nil
	}
	code, body := s.health.status(details)
	if code != http.StatusOK {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// probeRepos runs gitops.Tip on each repo that readiness depends on, at
// once, and records the findings. Probes that come while one runs wait for
// its findings instead of starting their own, so that a flood of /readyz
// makes one ls-remote per repo at a time. A probe that finds ml-model back
// reads it, so that requests find the workspace loaded.
func (s *Server) probeRepos(ctx context.Context) {
	s.probe.Lock()
	if done := s.probe.done; done != nil {
		s.probe.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
		return
	}
	done := make(chan struct{})
	s.probe.done = done
	s.probe.Unlock()
	defer func() {
		s.probe.Lock()
		s.probe.done = nil
		s.probe.Unlock()
		close(done)
	}()
	// The probe is shared: the first caller's going away does not end it.
	ctx = context.WithoutCancel(ctx)
	wasDown := false
	if code, _ := s.health.status(false); code != http.StatusOK {
		wasDown = true
	}
	targets := []gitops.Target{s.store.Target()}
	if sn := s.store.Latest(); sn != nil && sn.Platform() != nil {
		p := sn.Platform()
		for _, name := range s.health.usedRepos() {
			if r, ok := p.Repos[name]; ok && name != layout.RepoMLModel {
				targets = append(targets, gitops.Target{Name: name, URL: r.URL, Branch: r.Branch})
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := gitops.Tip(ctx, t, s.cfg.Auth)
			if ctx.Err() != nil && err != nil {
				err = fmt.Errorf("%w: %s: no answer within %s", gitops.ErrUnreachable, t.Name, probeTimeout)
			}
			s.health.probed(t.Name, err)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.probeIssuer(ctx)
	}()
	wg.Wait()
	if code, _ := s.health.status(false); wasDown && code == http.StatusOK {
		_, _ = s.store.Current(ctx, 0)
	}
}
