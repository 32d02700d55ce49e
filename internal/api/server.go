package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/pipeline"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/specrepo"
	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/submit"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TrailerIdempotency names the trailer of the ml-model commits that
// record an Idempotency-Key (see specrepo.TrailerIdempotency).
const TrailerIdempotency = specrepo.TrailerIdempotency

// Defaults of Config.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultQueueSize         = 256
	DefaultMaxBatch          = DefaultQueueSize
	DefaultReadMaxAge        = 2 * time.Second
	DefaultReconcileInterval = 30 * time.Second
	DefaultIdempotencyTTL    = 24 * time.Hour
	DefaultIdempotencyKeys   = 10000
	DefaultRetryAfter        = time.Second
	DefaultShutdownTimeout   = 2 * time.Minute
)

// Config configures a Server.
type Config struct {
	// MLModel is the repo (URL and branch) that holds the workspace.
	MLModel gitops.Target
	// Prefix is the workspace folder inside MLModel; "" is the root.
	Prefix string
	// URLs override the URLs of the platform's repos by name (--repo
	// NAME=URL); the generated config names the overridden URLs too.
	URLs map[string]string
	// Auth holds the git credentials of every repo.
	Auth gitops.Auth
	// Author signs the commits.
	Author gitops.Signature
	// Tokens are the teams' bearer tokens. They may be nil when the
	// platform in ml-model sets api.auth (OIDC or service accounts).
	Tokens *Tokens
	// OIDCTimeout bounds each request to the identity provider
	// (oidcauth.DefaultTimeout).
	OIDCTimeout time.Duration
	// Reviewer checks service-account tokens (api.auth.serviceAccounts)
	// with TokenReviews; nil refuses them.
	Reviewer TokenReviewer
	// Log receives operational messages; nil means slog.Default().
	Log *slog.Logger
	// Audit receives one line per request; nil means Log.
	Audit *slog.Logger
	// Registry receives the metrics; nil means a new registry with the Go
	// and process collectors.
	Registry *prometheus.Registry
	// MaxBodyBytes bounds request bodies (413 beyond).
	MaxBodyBytes int64
	// QueueSize bounds the changes waiting for the writer (429 beyond).
	QueueSize int
	// MaxBatch bounds the changes in one group commit. The default takes
	// every queued change: a batch's fixed cost (its checks, its pushes,
	// its share of a publish) is paid once for all of them, and a change
	// left for the next batch waits a whole cycle more (with 100 clients,
	// a cap of 64 made 17 commits of 1,000 submissions rather than 12,
	// and was a quarter slower at 1,000 apps, with a higher p99).
	MaxBatch int
	// ReadMaxAge is how stale a read (GET) may be when another server
	// replica changed ml-model; changes made through this server show at
	// once.
	ReadMaxAge time.Duration
	// ReconcileInterval is how often an idle server checks that the config
	// repos hold what ml-model's tip generates.
	ReconcileInterval time.Duration
	// IdempotencyTTL is how long answers are kept for Idempotency-Key
	// replays, and IdempotencyKeys how many at most.
	IdempotencyTTL  time.Duration
	IdempotencyKeys int
	// RetryAfter is what 429 and 503 answers ask clients to wait.
	RetryAfter time.Duration
	// Eval bounds the evaluation of each app of ml-model (dmls serve: a
	// pool of worker processes under limits); nil evaluates in this
	// process, unbounded.
	Eval workspace.Guard
	// Status reads live status from the clusters (status routes); nil
	// answers every environment Unknown, with no cluster access.
	Status *kube.Clusters
	// Prometheus evaluates the release pipelines' canary gates; nil makes
	// every gate wait (no Prometheus configured).
	Prometheus *gates.Client
	// Lease elects the replica that runs the release reconciler; nil:
	// this replica is the only one.
	Lease *pipeline.Lease
	// ReleaseInterval is how often the release reconciler looks at every
	// pipeline and schedule (pipeline.DefaultInterval when zero).
	ReleaseInterval time.Duration
	// Clock is the release reconciler's clock (time.Now when nil).
	Clock func() time.Time
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.ReadMaxAge <= 0 {
		c.ReadMaxAge = DefaultReadMaxAge
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.IdempotencyKeys <= 0 {
		c.IdempotencyKeys = DefaultIdempotencyKeys
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Audit == nil {
		c.Audit = c.Log
	}
	// No log line carries a credential, whatever error it quotes.
	c.Log = slog.New(repourl.LogHandler(c.Log.Handler()))
	c.Audit = slog.New(repourl.LogHandler(c.Audit.Handler()))
}

// Server is the dmls API server. Create it with New, start its writer with
// Start, serve Handler, and end with Shutdown (or run it all with Serve).
type Server struct {
	cfg     Config
	log     *slog.Logger
	audit   *slog.Logger
	store   *specrepo.Repo
	writer  *submit.Writer
	idem    *idemStore
	metrics *metrics
	auth    *authMetrics
	oidc    oidcState
	// saReviews keeps service-account token reviews a minute.
	saReviews saCache
	health    *health
	schema    *schema.Schema
	openapi   []byte
	mux       *http.ServeMux

	mu       sync.RWMutex // guards draining against enqueues
	draining bool
	ready    atomic.Bool

	hooks hooks

	// fatal receives the error that stops the server from starting (a
	// token of a team the platform does not hold); Serve returns it.
	fatal chan error

	// probe is the readiness probe in flight: done closes when it ends.
	probe struct {
		sync.Mutex
		done chan struct{}
	}

	// streams ends the status event streams when the server drains.
	streams streams

	// pipeline is the release reconciler; stopPipeline ends its loop.
	pipeline     *pipeline.Reconciler
	stopPipeline context.CancelFunc
	pipelineDone chan struct{}
}

// hooks are test seams.
type hooks struct {
	// beforeBatch runs in the writer before each batch
	// (submit.Config.BeforeBatch).
	beforeBatch func(jobs int)
	// beforeCommit and beforePublish run in the writer before each
	// ml-model commit and each config publish (submit.Config).
	beforeCommit  func(jobs, attempt int)
	beforePublish func(batches int)
	// afterPlan runs in the writer after each plan of a batch
	// (submit.Config.AfterPlan).
	afterPlan func(jobs int, speculative bool)
	// beforeHandle runs in every API handler after authentication.
	beforeHandle func(r *http.Request)
}

// New checks cfg and builds a server. It does no I/O: Start begins reading
// the workspace.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.MLModel.URL == "" {
		return nil, errors.New("no ml-model repo URL")
	}
	if cfg.MLModel.Name == "" {
		cfg.MLModel.Name = "ml-model"
	}
	schema, err := newAPISchema()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Log,
		audit:   cfg.Audit,
		idem:    newIdemStore(cfg.IdempotencyTTL, cfg.IdempotencyKeys),
		metrics: newMetrics(cfg.Registry),
		schema:  schema,
		fatal:   make(chan error, 1),
	}
	s.health = newHealth(s.metrics.registry)
	s.auth = newAuthMetrics(s.metrics.registry)
	s.store = specrepo.New(specrepo.Config{
		Target: cfg.MLModel, Prefix: cfg.Prefix, URLs: cfg.URLs, Auth: cfg.Auth, Author: cfg.Author,
		Eval: cfg.Eval, Observe: s.health.observe, SetBroken: s.health.setBroken,
	})
	var argo dynamic.Interface // Argo CD's cluster, for refresh annotations
	if cfg.Status != nil {
		argo = cfg.Status.ArgoCD
	}
	s.writer = submit.New(submit.Config{
		Repo: s.store, QueueSize: cfg.QueueSize, MaxBatch: cfg.MaxBatch,
		ReconcileInterval: cfg.ReconcileInterval, IdempotencyTTL: cfg.IdempotencyTTL,
		Auth: cfg.Auth, Author: cfg.Author, Log: cfg.Log, ArgoCD: argo,
		Metrics:    submit.Metrics{Commits: s.metrics.commits, Races: s.metrics.races, Speculation: s.metrics.speculation, QueueDepth: s.metrics.queueDepth, BatchSize: s.metrics.batchSize},
		CheckTeams: s.checkAuth,
		Fatal:      func(err error) { s.fatal <- err },
		Ready:      func() { s.ready.Store(true) },
		Observe:    s.health.observe,
		View:       fillViews,
		BeforeBatch: func(jobs int) {
			if h := s.hooks.beforeBatch; h != nil {
				h(jobs)
			}
		},
		BeforeCommit: func(jobs, attempt int) {
			if h := s.hooks.beforeCommit; h != nil {
				h(jobs, attempt)
			}
		},
		BeforePublish: func(batches int) {
			if h := s.hooks.beforePublish; h != nil {
				h(batches)
			}
		},
		AfterPlan: func(jobs int, speculative bool) {
			if h := s.hooks.afterPlan; h != nil {
				h(jobs, speculative)
			}
		},
	})

	s.pipeline = pipeline.New(pipeline.Config{
		Repo: s.store, Enqueue: s.writer.Enqueue, Status: cfg.Status, Prometheus: cfg.Prometheus,
		Lease: cfg.Lease, Interval: cfg.ReleaseInterval, Now: cfg.Clock, Log: cfg.Log, Registry: s.metrics.registry,
		Ready: s.Ready,
	})

	routes := s.routes()
	if s.openapi, err = s.openAPI(routes); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	for _, rt := range routes {
		s.mux.Handle(rt.method+" "+rt.path, s.serveRoute(rt))
	}
	s.mux.Handle("/", s.serveRoute(&route{method: "", path: "/", id: "notFound", h: func(*request) *response {
		return errorResponse(notFound("no such API route; see /openapi.json"))
	}}))
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Start starts the writer, which reads the workspace, marks the server
// ready, publishes the config if it is behind, and then commits changes.
func (s *Server) Start() {
	s.writer.Start()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopPipeline == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopPipeline, s.pipelineDone = cancel, make(chan struct{})
		go func() {
			defer close(s.pipelineDone)
			s.pipeline.Run(ctx)
		}()
	}
}

// Ready reports whether the server has read the workspace and is not
// shutting down.
func (s *Server) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ready.Load() && !s.draining
}

// Drain makes the server refuse new changes (503), while those already
// accepted go on.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.streams.end()
}

// Shutdown refuses new changes, finishes every accepted one and stops the
// writer. Requests that wait for their change get their answers.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.mu.Lock()
	stop, done := s.stopPipeline, s.pipelineDone
	s.mu.Unlock()
	if stop != nil {
		// The reconciler's step in flight is an accepted change: the
		// writer finishes it below.
		stop()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	if err := s.writer.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down the API server: %w", err)
	}
	return nil
}

// Serve runs the server on ln until ctx ends, then shuts down gracefully:
// it stops taking changes, waits (up to DefaultShutdownTimeout) for the
// requests in flight and their commits, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.Start()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	case serveErr = <-s.fatal:
	}
	s.log.Info("shutting down: finishing accepted changes")
	sctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
	defer cancel()
	s.Drain()
	if err := hs.Shutdown(sctx); err != nil && serveErr == nil {
		serveErr = err
	}
	if err := s.Shutdown(sctx); err != nil && serveErr == nil {
		serveErr = err
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// request is one HTTP request on its way through a route.
type request struct {
	r     *http.Request
	id    string
	ident identity
	body  []byte
	// idemKey and idemFP are the Idempotency-Key hashed with the actor
	// and the request's fingerprint, when the request has a key.
	idemKey, idemFP string
}

// response is a handler's answer, kept whole so that it can be replayed
// for an Idempotency-Key and described in the audit log.
type response struct {
	status     int
	body       any
	retryAfter int
	replayed   bool
	// raw, when set, is served instead of body as JSON.
	raw []byte
	// stream, when set, writes the answer itself (server-sent events).
	stream func(http.ResponseWriter)
}

func errorResponse(e *apiError) *response {
	return &response{status: e.Status, body: e.Errors, retryAfter: e.RetryAfter}
}

func (s *Server) retryAfter() int {
	return max(1, int((s.cfg.RetryAfter+time.Second-1)/time.Second))
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID(r *http.Request) string {
	if id := r.Header.Get(apiclient.HeaderRequestID); requestIDRE.MatchString(id) {
		return id
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serveRoute wraps a route: request id, panic recovery, authentication,
// body limit, idempotency, metrics and the audit line.
func (s *Server) serveRoute(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// No browser guesses another type than the one sent.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if rt.raw != nil {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			rt.raw.ServeHTTP(rec, r)
			s.metrics.requests.WithLabelValues(r.Pattern, r.Method, fmt.Sprint(rec.status)).Inc()
			return
		}
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		req := &request{r: r, id: newRequestID(r)}
		var resp *response
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in handler", "request_id", req.id, "route", rt.path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp = errorResponse(errorf(http.StatusInternalServerError, "internal error; the request id is %s", req.id))
				s.write(w, req, resp)
			}
			pattern := r.Pattern
			if pattern == "" {
				pattern = "unmatched"
			}
			s.metrics.requests.WithLabelValues(pattern, r.Method, fmt.Sprint(resp.status)).Inc()
			s.metrics.latency.WithLabelValues(pattern, r.Method).Observe(time.Since(start).Seconds())
			s.auditLine(req, rt, resp, time.Since(start))
		}()
		resp = s.handle(rt, req)
		s.write(w, req, resp)
	})
}

func (s *Server) handle(rt *route, req *request) *response {
	if rt.auth {
		id, e := s.authenticate(req.r)
		if e != nil {
			return errorResponse(e)
		}
		req.ident = id
	}
	if h := s.hooks.beforeHandle; h != nil {
		h(req.r)
	}
	if e := singleQuery(req.r); e != nil {
		return errorResponse(e)
	}
	if rt.mutation {
		if req.r.ContentLength > s.cfg.MaxBodyBytes {
			// Refused before a byte of the body is read.
			return errorResponse(errorf(http.StatusRequestEntityTooLarge, "the body (%d bytes) is larger than %d bytes, the most the server takes (--max-body)", req.r.ContentLength, s.cfg.MaxBodyBytes))
		}
		body, err := io.ReadAll(http.MaxBytesReader(nil, req.r.Body, s.cfg.MaxBodyBytes))
		var e *apiError
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errorResponse(errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes, the most the server takes (--max-body)", s.cfg.MaxBodyBytes))
		case err != nil:
			return errorResponse(badRequest("", "cannot read the body: %v", err))
		}
		if req.body, e = decodeBody(req.r, body); e != nil {
			return errorResponse(e)
		}
		// A dry run commits nothing, so it has nothing to do only once.
		if key := req.r.Header.Get(apiclient.HeaderIdempotencyKey); key != "" && req.r.URL.Query().Get(queryDryRun) != "true" {
			return s.idempotent(rt, req, key)
		}
	}
	return rt.h(req)
}

// idempotent runs a change at most once per actor and Idempotency-Key.
func (s *Server) idempotent(rt *route, req *request, key string) (resp *response) {
	if len(key) > maxIdempotencyKeyLen || !printableASCII(key) {
		return errorResponse(badRequest("", "%s must be 1 to %d printable ASCII characters", apiclient.HeaderIdempotencyKey, maxIdempotencyKeyLen))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", req.r.Method, req.r.URL.Path, req.r.URL.RawQuery)
	h.Write(req.body)
	var fp [sha256.Size]byte
	copy(fp[:], h.Sum(nil))
	req.idemKey, req.idemFP = specrepo.KeyHash(req.ident.actor, key), hex.EncodeToString(fp[:16])
	e, state := s.idem.begin(req.ident.actor+"\x00"+key, fp)
	switch state {
	case idemMismatch:
		return errorResponse(errorf(http.StatusUnprocessableEntity, "%s was used before for a different request; use a new key for a new request", apiclient.HeaderIdempotencyKey))
	case idemReplay:
		s.metrics.replays.Inc()
		c := *e.resp
		c.replayed = true
		return &c
	}
	finished := false
	defer func() {
		if !finished {
			s.idem.finish(e, &response{status: http.StatusInternalServerError})
		}
	}()
	resp = rt.h(req)
	s.idem.finish(e, resp)
	finished = true
	return resp
}

// singleQuery refuses a query parameter given more than once
// (?env=prod&env=dev): which one would win is not for the server to guess.
func singleQuery(r *http.Request) *apiError {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("", "the query string is malformed: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if len(q[k]) > 1 {
			return badRequest(k, "the query parameter %s is given %d times; give it once", k, len(q[k]))
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// statusRecorder notes the status a raw handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// write sends resp as JSON (an error list as an ErrorResponse).
func (s *Server) write(w http.ResponseWriter, req *request, resp *response) {
	h := w.Header()
	h.Set(apiclient.HeaderRequestID, req.id)
	h.Set("Cache-Control", "no-store")
	if resp.retryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(resp.retryAfter))
	}
	if resp.replayed {
		h.Set(apiclient.HeaderReplayed, "true")
	}
	if resp.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="dmls"`)
	}
	if resp.stream != nil {
		resp.stream(w)
		return
	}
	body := resp.raw
	if body == nil {
		v := resp.body
		switch x := v.(type) {
		case []apiclient.FieldError:
			v = apiclient.ErrorResponse{RequestID: req.id, Errors: scrubErrors(x)}
		case *apiclient.Result:
			// Warnings quote what git and the loader said.
			c := *x
			c.Warnings = scrubAll(x.Warnings)
			v = &c
		}
		var err error
		if body, err = json.MarshalIndent(v, "", "  "); err != nil {
			s.log.Error("encode answer", "request_id", req.id, "error", err)
			resp.status = http.StatusInternalServerError
			body = []byte(`{"errors":[{"message":"internal error"}]}`)
		}
		body = append(body, '\n')
	}
	if req.body == nil && req.r.ContentLength != 0 {
		// A body that was not read (no token, a bad one, a route that
		// takes none) is never read: the connection closes instead, so
		// that net/http does not wait for it before it answers.
		h.Set("Connection", "close")
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_, _ = w.Write(body)
}

// auditLine logs one request: who, what, and the resulting commits or the
// rejection. It never logs tokens, bodies or headers; the Idempotency-Key
// appears as a hash prefix.
func (s *Server) auditLine(req *request, rt *route, resp *response, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("request_id", req.id),
		slog.String("method", req.r.Method),
		slog.String("route", rt.path),
		slog.String("path", req.r.URL.Path),
		slog.Int("status", resp.status),
		slog.String("actor", req.ident.actor),
		slog.String("team", req.r.PathValue("team")),
		slog.String("token_team", req.ident.team),
		slog.String("auth", req.ident.method()),
		slog.String("app", req.r.PathValue("app")),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("remote", req.r.RemoteAddr),
	}
	if u := req.ident.user; u != nil {
		attrs = append(attrs, slog.String("subject", u.Subject), slog.String("email", u.Email))
	}
	if req.ident.sa != "" {
		attrs = append(attrs, slog.String("service_account", req.ident.sa))
	}
	if rt.mutation {
		if broken, _ := s.health.brokenApps(); len(broken) > 0 {
			attrs = append(attrs, slog.String("degraded_apps", strings.Join(broken, ",")))
		}
	}
	if key := req.r.Header.Get(apiclient.HeaderIdempotencyKey); key != "" {
		sum := sha256.Sum256([]byte(key))
		attrs = append(attrs, slog.String("idempotency_key_sha256", hex.EncodeToString(sum[:8])), slog.Bool("replayed", resp.replayed))
	}
	outcome := "ok"
	switch v := resp.body.(type) {
	case *apiclient.Result:
		outcome = "unchanged"
		if v.Changed {
			outcome = "committed"
		}
		attrs = append(attrs, slog.String("operation", v.Operation))
		for _, c := range v.Commits {
			attrs = append(attrs, slog.String("sha_"+c.Repo, c.SHA))
		}
		if len(v.Warnings) > 0 {
			attrs = append(attrs, slog.String("warning", v.Warnings[0]))
		}
	case []apiclient.FieldError:
		outcome = "rejected"
		if resp.status >= 500 {
			outcome = "failed"
		}
		if len(v) > 0 {
			msg := v[0].Message
			if v[0].Path != "" {
				msg = v[0].Path + ": " + msg
			}
			attrs = append(attrs, slog.String("error", msg), slog.Int("errors", len(v)))
		}
	}
	attrs = append(attrs, slog.String("outcome", outcome))
	level := slog.LevelInfo
	if resp.status >= 500 {
		level = slog.LevelError
	}
	s.audit.LogAttrs(req.r.Context(), level, "api request", attrs...)
}

// metricsHandler serves the registry.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

// scrubErrors returns errs with every credential in a URL removed
// (repourl.Scrub): an error of go-git or net/http names the URL it used.
func scrubErrors(errs []apiclient.FieldError) []apiclient.FieldError {
	out := make([]apiclient.FieldError, len(errs))
	for i, e := range errs {
		e.Message, e.Path = repourl.Scrub(e.Message), repourl.Scrub(e.Path)
		out[i] = e
	}
	return out
}

func scrubAll(list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = repourl.Scrub(s)
	}
	return out
}
