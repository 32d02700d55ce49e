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
	"github.com/dmls-project/dmls/internal/spec"
)

// health is what /readyz reports beyond startup and shutdown: the git
// repos that could not be reached at their last use, and the apps whose
// specs in ml-model are broken (they keep their last good config; see
// writer.publishConfig). Safe for concurrent use.
type health struct {
	unreachable *prometheus.GaugeVec // by repo
	degraded    prometheus.Gauge

	mu     sync.Mutex
	git    map[string]string // repo → error, while unreachable
	broken map[string]string // app → its first finding
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
		git: map[string]string{}, broken: map[string]string{},
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
	switch {
	case err == nil:
		delete(h.git, repo)
		h.unreachable.WithLabelValues(repo).Set(0)
	case errors.Is(err, gitops.ErrUnreachable):
		h.git[repo] = err.Error()
		h.unreachable.WithLabelValues(repo).Set(1)
	}
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

// status returns the /readyz answer: 503 while ml-model cannot be reached
// (no change can be committed), 200 "degraded" while a config repo cannot
// be reached or apps are broken (changes still commit), 200 "ok" otherwise.
func (h *health) status() (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	code := http.StatusOK
	if e, ok := h.git[spec.RepoMLModel]; ok {
		code = http.StatusServiceUnavailable
		fmt.Fprintf(&b, "not ready: git repo %s unreachable: %s\n", spec.RepoMLModel, e)
	}
	for _, repo := range slices.Sorted(maps.Keys(h.git)) {
		if repo != spec.RepoMLModel {
			fmt.Fprintf(&b, "degraded: git repo %s unreachable (config not published): %s\n", repo, h.git[repo])
		}
	}
	for _, app := range slices.Sorted(maps.Keys(h.broken)) {
		fmt.Fprintf(&b, "degraded: app %s does not validate and keeps its last good config: %s\n", app, h.broken[app])
	}
	if b.Len() == 0 {
		return code, "ok\n"
	}
	return code, b.String()
}

// readyz answers the readiness probe. While ml-model is unreachable it
// tries to read it again (sharing a read in flight), so that readiness
// comes back without waiting for a request that an unready replica would
// not get.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if !s.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	if code, _ := s.health.status(); code != http.StatusOK {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		_, _ = s.store.current(ctx, 0)
		cancel()
	}
	code, body := s.health.status()
	if code != http.StatusOK {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
