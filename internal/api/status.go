package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/kube"
)

// Timing of the status event streams.
var (
	// statusResync is how often a stream reads again when no watch event
	// came, and statusHeartbeat how often it sends a comment so that
	// proxies keep the connection.
	statusResync    = 10 * time.Second
	statusHeartbeat = 15 * time.Second
)

// statusSettle lets a burst of watch events settle into one read.
const statusSettle = 200 * time.Millisecond

// streams lets Drain end every status stream, so that shutdown does not
// wait for clients that watch.
type streams struct {
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
}

func (st *streams) ch() chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done == nil {
		st.done = make(chan struct{})
	}
	return st.done
}

func (st *streams) end() {
	ch := st.ch()
	st.once.Do(func() { close(ch) })
}

func (s *Server) statusRoutes() []*route {
	team := "/v1/teams/{team}"
	query := []queryParam{
		{"env", "Only this environment.", "string"},
		{"watch", "Stream the status as server-sent events (text/event-stream): an event \"status\" whose data is the whole #StatusView, at once and after every change.", "boolean"},
	}
	return append([]*route{
		{method: "GET", path: team + "/trainingjobs/{app}/status", id: "getTrainingJobStatus",
			summary: "The live status of the app of a training job in each environment: Argo CD's sync and health, the TFJob's or TrainJob's conditions (and replicas), its Kueue Workload where it queues (pending with reason and position, admitted on which flavors, preempted, finished), and one summary state.",
			auth:    true, ok: 200, result: "#StatusView", query: query, h: func(req *request) *response { return s.appStatus(req, specops.Training) }},
		{method: "GET", path: team + "/modelservices/{app}/status", id: "getModelServiceStatus",
			summary: "The live status of the app of a model service in each environment: Argo CD's sync and health, Ready, URL, revisions and the traffic routed, and one summary state.",
			auth:    true, ok: 200, result: "#StatusView", query: query, h: func(req *request) *response { return s.appStatus(req, specops.Serving) }},
	}, s.consoleRoutes()...)
}

// appStatus answers a status route: the view, or a stream of it.
func (s *Server) appStatus(req *request, section string) *response {
	sn, ent, e := s.view(req)
	if e != nil {
		return errorResponse(e)
	}
	a := ent.App
	switch {
	case section == specops.Training && a.TrainingJob() == nil:
		return errorResponse(notFound("app %s has no training job", a.Name))
	case section == specops.Serving && a.ModelService() == nil:
		return errorResponse(notFound("app %s has no model service", a.Name))
	}
	q := req.r.URL.Query()
	env := q.Get("env")
	if env != "" && !slices.ContainsFunc(a.Envs, func(in *spec.Instance) bool { return in.Env.Name == env }) {
		return errorResponse(badRequest("env", "app %s does not run in environment %s", a.Name, env))
	}
	watch := false
	switch q.Get("watch") {
	case "", "false":
	case "true":
		watch = true
	default:
		return errorResponse(badRequest("watch", "must be true or false"))
	}
	clusters := &kube.Clusters{}
	if s.cfg.Status != nil {
		c := *s.cfg.Status
		clusters = &c
	}
	p := sn.Platform()
	clusters.ArgoCDNamespace = p.ArgoCD.Namespace
	repo := p.Repos[layout.RepoK8sConfig]
	k8s := gitops.Target{Name: layout.RepoK8sConfig, URL: repo.URL, Branch: repo.Branch}
	targets := kube.AppTargets(ent.Built, env, repo.Path)
	read := func(ctx context.Context) *status.View {
		// What dmls published to k8s-config; when it cannot be read,
		// states follow Argo CD's revision.
		var v *status.View
		err := s.store.History().Graph(ctx, k8s, "", func(h *gitops.CommitGraph) {
			v = clusters.View(ctx, a.Team, a.Name, sn.Commits[a.Name], targets, h)
		})
		if err != nil {
			s.log.Warn("status: cannot read what dmls published", "repo", layout.RepoK8sConfig, "error", err)
			v = clusters.View(ctx, a.Team, a.Name, sn.Commits[a.Name], targets, nil)
		}
		return v
	}
	if !watch {
		return &response{status: http.StatusOK, body: read(req.r.Context())}
	}
	return &response{status: http.StatusOK, stream: func(w http.ResponseWriter) {
		s.streamStatus(w, req.r, clusters, targets, read)
	}}
}

// streamStatus sends the view as server-sent events until the client
// leaves or the server drains.
func (s *Server) streamStatus(w http.ResponseWriter, r *http.Request, clusters *kube.Clusters, targets []kube.Target, read func(context.Context) *status.View) {
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := s.streams.ch()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	changes := clusters.Changes(ctx, targets, statusResync)
	heartbeat := time.NewTicker(statusHeartbeat)
	defer heartbeat.Stop()
	var last *status.View
	for id := 1; ; {
		v := read(ctx)
		if ctx.Err() != nil {
			return
		}
		if last == nil || !sameView(last, v) {
			b, err := json.Marshal(v)
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: status\ndata: %s\n\n", id, b); err != nil {
				return
			}
			id++
			last = v
			if flusher != nil {
				flusher.Flush()
			}
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-heartbeat.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return
				}
				if flusher != nil {
					flusher.Flush()
				}
			case <-changes:
				time.Sleep(statusSettle)
				break wait
			}
		}
	}
}

// sameView compares two views without their read times.
func sameView(a, b *status.View) bool {
	strip := func(v *status.View) status.View {
		c := *v
		c.Environments = nil
		for _, e := range v.Environments {
			e.ObservedAt = nil
			c.Environments = append(c.Environments, e)
		}
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}
