// Package apiclient is the typed Go client of the dmls HTTP API and holds
// the API's request and response types.
//
// Every change a Client sends carries an Idempotency-Key (a random one
// unless the caller sets its own with WithIdempotencyKey), so the Client
// can safely retry a change whose answer was lost: the server answers the
// retry with the first result and makes no second commit. It retries
// 429 and 503 answers, after their Retry-After, and failed connections, at
// most Retries times.
package apiclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dmls-project/dmls/internal/repourl"
)

// Header names the API uses.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	HeaderRequestID      = "X-Request-Id"
)

// DefaultRetries bounds how often a Client repeats a request that met a
// full queue, a draining server or a broken connection.
const DefaultRetries = 4

// Client calls one dmls API server. Its zero value is not usable; set
// BaseURL and Token. A Client is safe for concurrent use.
type Client struct {
	// BaseURL is the server's root, such as https://dmls.example.com.
	BaseURL string
	// Token is the bearer token of a team.
	Token string
	// HTTP is the transport; nil means http.DefaultClient.
	HTTP *http.Client
	// Retries bounds repeated attempts; 0 means DefaultRetries, a negative
	// value none.
	Retries int
	// MaxRetryWait caps the wait before a retry; 0 means 10 seconds.
	MaxRetryWait time.Duration
}

// Error is an answer other than 2xx. It lists the server's findings, each
// with the field of the request it is about.
type Error struct {
	Status     int
	RequestID  string
	Errors     []FieldError
	RetryAfter time.Duration
}

// Error implements error: the status and one finding per line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		if fe.Path != "" {
			b.WriteString(fe.Path + ": ")
		}
		b.WriteString(fe.Message)
	}
	return b.String()
}

// IsStatus reports whether err is an *Error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// Option changes one call.
type Option func(*call)

type call struct {
	key      string
	replayed *bool
	status   *int
}

// WithIdempotencyKey sends key instead of a random Idempotency-Key, so
// that a caller can repeat a change across processes.
func WithIdempotencyKey(key string) Option { return func(c *call) { c.key = key } }

// Replayed records whether the server answered from its idempotency store.
func Replayed(p *bool) Option { return func(c *call) { c.replayed = p } }

// Status records the HTTP status of the final answer.
func Status(p *int) Option { return func(c *call) { c.status = p } }

// Whoami returns the team and actor of the client's token.
func (c *Client) Whoami(ctx context.Context) (*Identity, error) {
	var out Identity
	return &out, c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &out)
}

// AuthConfig returns how to log in to the server; it needs no token.
func (c *Client) AuthConfig(ctx context.Context) (*AuthConfig, error) {
	var out AuthConfig
	return &out, c.do(ctx, http.MethodGet, "/v1/auth/config", nil, nil, &out)
}

// SubmitTrainingJob adds a training job to an app of team, creating the app
// if needed.
func (c *Client) SubmitTrainingJob(ctx context.Context, team string, job any, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "trainingjobs"), job, nil, &out, opts...)
}

// TrainingJob returns the training job of app.
func (c *Client) TrainingJob(ctx context.Context, team, app string) (*TrainingJob, error) {
	var out TrainingJob
	return &out, c.do(ctx, http.MethodGet, teamPath(team, "trainingjobs", app), nil, nil, &out)
}

// TrainingJobs lists the training jobs of team.
func (c *Client) TrainingJobs(ctx context.Context, team string) ([]TrainingJob, error) {
	var out TrainingJobList
	return out.Items, c.do(ctx, http.MethodGet, teamPath(team, "trainingjobs"), nil, nil, &out)
}

// SetOptions qualify SetTrainingJob.
type SetOptions struct {
	// Env changes overrides.<env>.training instead of the app's own
	// training job.
	Env string
	// Retrain also starts a new run in the same commit.
	Retrain bool
}

// SetTrainingJob changes parameters of a training job. patch is a JSON
// merge patch (RFC 7386) of a #TrainingJob: maps merge, lists are
// replaced, null removes a field.
func (c *Client) SetTrainingJob(ctx context.Context, team, app string, patch any, so SetOptions, opts ...Option) (*Result, error) {
	q := url.Values{}
	if so.Env != "" {
		q.Set("env", so.Env)
	}
	if so.Retrain {
		q.Set("retrain", "true")
	}
	var out Result
	return &out, c.do(ctx, http.MethodPatch, teamPath(team, "trainingjobs", app), patch, q, &out, opts...)
}

// Retrain starts a new run of app's training job: a new TFJob or TrainJob
// <app>-r<run+1>.
func (c *Client) Retrain(ctx context.Context, team, app string, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "trainingjobs", app, "retrain"), struct{}{}, nil, &out, opts...)
}

// DeleteTrainingJob removes app's training job, and the app when nothing
// else is left in it.
func (c *Client) DeleteTrainingJob(ctx context.Context, team, app string, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodDelete, teamPath(team, "trainingjobs", app), nil, nil, &out, opts...)
}

// SubmitModelService adds a model service to an app of team, creating the
// app if needed.
func (c *Client) SubmitModelService(ctx context.Context, team string, svc any, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "modelservices"), svc, nil, &out, opts...)
}

// ModelService returns the model service of app.
func (c *Client) ModelService(ctx context.Context, team, app string) (*ModelService, error) {
	var out ModelService
	return &out, c.do(ctx, http.MethodGet, teamPath(team, "modelservices", app), nil, nil, &out)
}

// ModelServices lists the model services of team.
func (c *Client) ModelServices(ctx context.Context, team string) ([]ModelService, error) {
	var out ModelServiceList
	return out.Items, c.do(ctx, http.MethodGet, teamPath(team, "modelservices"), nil, nil, &out)
}

// DeleteModelService removes app's model service, and the app when
// nothing else is left in it.
func (c *Client) DeleteModelService(ctx context.Context, team, app string, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodDelete, teamPath(team, "modelservices", app), nil, nil, &out, opts...)
}

// RolloutModel rolls out a new version of app's model service.
func (c *Client) RolloutModel(ctx context.Context, team, app string, r Rollout, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "modelservices", app, "rollouts"), r, nil, &out, opts...)
}

// SetCanary sets the share of traffic of the canary revision.
func (c *Client) SetCanary(ctx context.Context, team, app string, u CanaryUpdate, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPut, teamPath(team, "modelservices", app, "canary"), u, nil, &out, opts...)
}

// PromoteCanary sends all traffic to the canary revision.
func (c *Client) PromoteCanary(ctx context.Context, team, app string, t Target, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "modelservices", app, "canary", "promote"), t, nil, &out, opts...)
}

// Rollback sends all traffic back to the previous revision.
func (c *Client) Rollback(ctx context.Context, team, app string, t Target, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "modelservices", app, "rollback"), t, nil, &out, opts...)
}

// Promote copies the version of app that runs in p.From to the next
// environment.
func (c *Client) Promote(ctx context.Context, team, app string, p Promotion, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "apps", app, "promote"), p, nil, &out, opts...)
}

func teamPath(team string, rest ...string) string {
	p := "/v1/teams/" + url.PathEscape(team)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// do sends one request, retrying as the package documentation says, and
// decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, method, path string, body any, q url.Values, out any, opts ...Option) error {
	var cl call
	for _, o := range opts {
		o(&cl)
	}
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		payload = b
	}
	if method != http.MethodGet && cl.key == "" {
		cl.key = randomKey()
	}
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	retries := c.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, u, payload, &cl, out)
		if err == nil || attempt >= retries || ctx.Err() != nil {
			return err
		}
		wait, again := c.retryable(err, attempt)
		if !again {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryable says whether err may pass on a later attempt, and when.
func (c *Client) retryable(err error, attempt int) (time.Duration, bool) {
	maxWait := c.MaxRetryWait
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	backoff := min(200*time.Millisecond<<attempt, maxWait)
	var e *Error
	if errors.As(err, &e) {
		if e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
			return 0, false
		}
		if e.RetryAfter > 0 {
			return min(e.RetryAfter, maxWait), true
		}
		return backoff, true
	}
	var ne *netError
	return backoff, errors.As(err, &ne)
}

// netError marks a failure to reach the server or to read its answer.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

func (c *Client) once(ctx context.Context, method, u string, payload []byte, cl *call, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if cl.key != "" {
		req.Header.Set(HeaderIdempotencyKey, cl.key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &netError{repourl.Error(fmt.Errorf("%s %s: %w", method, repourl.Public(u), err))}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &netError{repourl.Error(fmt.Errorf("%s %s: read answer: %w", method, repourl.Public(u), err))}
	}
	if cl.status != nil {
		*cl.status = resp.StatusCode
	}
	if cl.replayed != nil {
		*cl.replayed = resp.Header.Get(HeaderReplayed) == "true"
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get(HeaderRequestID)}
		var body ErrorResponse
		if json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
			e.Errors = body.Errors
		} else if s := strings.TrimSpace(string(b)); s != "" {
			e.Errors = []FieldError{{Message: truncate(s, 500)}}
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, repourl.Public(u), err)
	}
	return nil
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Release returns an app's release pipeline.
func (c *Client) Release(ctx context.Context, team, app string, opts ...Option) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, http.MethodGet, teamPath(team, "apps", app, "release"), nil, nil, &out, opts...)
}

// ReleaseAction takes a person's release step in env: "approve", "abort"
// or "resume".
func (c *Client) ReleaseAction(ctx context.Context, team, app, action, env string, opts ...Option) (*Result, error) {
	var out Result
	return &out, c.do(ctx, http.MethodPost, teamPath(team, "apps", app, "release", action), ReleaseTarget{Env: env}, nil, &out, opts...)
}
