package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/pipeline"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/workspace"
)

// Test seams: the context that ends serve, and a callback with the
// address it listens on.
var (
	serveContext = func() (context.Context, context.CancelFunc) {
		return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	}
	serveListening = func(addr string) {}
)

func serveCmd(g *globals) *cobra.Command {
	var listen, tokensFile, logFormat string
	var repos []string
	var cfg api.Config
	var readStatus, tokenReview bool
	var promURL, leaseNS, leaseName string
	var kubeOpts kube.Options
	var envContexts []string
	var evalWorkers int
	c := &cobra.Command{
		Use:   "serve --listen ADDR --tokens FILE [--repo NAME=URL ...]",
		Short: "Serve the job and task submission API",
		Long: `serve runs the dmls HTTP API (see /openapi.json): teams submit and change
training jobs and model services, and the server commits each change to the
ml-model repo (the specs, as apps/<app>/app.json) and publishes the generated
config to the config repos, as dmls publish does, for Argo CD to deploy.

The ml-model repo is the platform's repo named ml-model, or --repo
ml-model=URL; the platform (and with it the other repos) is read from it.
The workspace in -w DIR is only read to find the repos; its path prefix for
ml-model says where the workspace lives inside that repo.

Tokens come from --tokens FILE and from DMLS_API_TOKENS, one entry per line:

  TEAM=TOKEN              a team's token (at least 16 characters)
  TEAM/ACTOR=TOKEN        the same, naming who holds it in the audit log
  TEAM=sha256:HEX         the token's SHA-256, so that the file holds no token
  *=TOKEN                 an admin token that may act for every team

Lines starting with # are comments. The server keeps only SHA-256 hashes
and never logs tokens. When the platform sets api.auth (people log in
with the identity provider of api.auth.oidc, pods with service-account
tokens), team tokens are optional; both may be used together. Git credentials come from DMLS_GIT_* as for publish.

On SIGTERM or SIGINT the server stops taking changes, finishes those it
accepted, and exits. Logs and the audit log (one JSON line per request) go
to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" {
				return usageError{errors.New("--listen ADDR is required, for example --listen :8080")}
			}
			urls, err := g.repoFlags(repos)
			if err != nil {
				return err
			}
			auth, err := gitops.AuthFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			target, prefix, p, err := g.mlModel(urls)
			if err != nil {
				return err
			}
			// Team tokens are optional when the platform logs people in
			// (api.auth); the server checks it again in ml-model's platform.
			var tokens *api.Tokens
			if tokensFile != "" && p != nil && p.Auth != nil && os.Getenv(api.EnvTokens) == "" {
				// An optional tokens Secret that is not there (the
				// installation mounts it optionally under api.auth):
				// people log in, and no team token is on.
				if _, err := os.Stat(tokensFile); errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(g.stderr, "dmls serve: no tokens file %s: team tokens are off; people log in (api.auth)\n", tokensFile)
					tokensFile = ""
				}
			}
			if tokensFile != "" || os.Getenv(api.EnvTokens) != "" || p == nil || p.Auth == nil {
				if tokens, err = api.LoadTokens(tokensFile, os.Getenv(api.EnvTokens)); err != nil {
					return usageError{err}
				}
			}
			var h slog.Handler
			switch logFormat {
			case "json":
				h = slog.NewJSONHandler(g.stderr, nil)
			case "text":
				h = slog.NewTextHandler(g.stderr, nil)
			default:
				return usageError{fmt.Errorf("--log-format %q: want json or text", logFormat)}
			}
			log := slog.New(h)
			if readStatus {
				kubeOpts.EnvContexts = map[string]string{}
				for _, ec := range envContexts {
					env, ctx, ok := strings.Cut(ec, "=")
					if !ok || env == "" || ctx == "" {
						return usageError{fmt.Errorf("--env-context %q: want ENV=CONTEXT", ec)}
					}
					kubeOpts.EnvContexts[env] = ctx
				}
				if cfg.Status, err = kube.New(kubeOpts); err != nil {
					return usageError{fmt.Errorf("--status: %w", err)}
				}
			}
			if promURL != "" {
				// The URL may carry basic-auth credentials; DMLS_PROMETHEUS_TOKEN a bearer token.
				cfg.Prometheus = &gates.Client{URL: promURL, BearerToken: os.Getenv("DMLS_PROMETHEUS_TOKEN")}
			}
			if leaseNS != "" {
				if cfg.Status == nil {
					return usageError{fmt.Errorf("--lease-namespace needs --status: the lease is in Argo CD's cluster")}
				}
				host, _ := os.Hostname()
				cfg.Lease = &pipeline.Lease{Client: cfg.Status.ArgoCD, Namespace: leaseNS, Name: leaseName, Identity: host + "-" + randomSuffix()}
			}
			if tokenReview {
				rc, err := kube.RESTConfig(kubeOpts.Kubeconfig, kubeOpts.Context)
				if err != nil {
					return usageError{fmt.Errorf("--token-review: %w", err)}
				}
				if cfg.Reviewer, err = api.NewKubeTokenReviewer(rc); err != nil {
					return usageError{fmt.Errorf("--token-review: %w", err)}
				}
			}
			cfg.MLModel, cfg.Prefix, cfg.URLs, cfg.Auth, cfg.Tokens = target, prefix, urls, auth, tokens
			cfg.Log, cfg.Audit = log, log.With("log", "audit")
			// Each app of ml-model is evaluated first in a worker process
			// under the limits, so that one team's spec cannot stall the
			// others' submissions.
			pool := evallimit.NewPool(g.limits, evalWorkers, log)
			defer pool.Close()
			cfg.Eval = pool
			srv, err := api.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			log.Info("dmls API listening", "addr", ln.Addr().String(), "ml_model", repourl.Public(target.URL), "tokens", tokens.Len())
			serveListening(ln.Addr().String())
			ctx, stop := serveContext()
			defer stop()
			return srv.Serve(ctx, ln)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "address to listen on, such as :8080")
	c.Flags().StringVar(&tokensFile, "tokens", "", "file of team tokens (see above); DMLS_API_TOKENS may add more")
	c.Flags().StringArrayVar(&repos, "repo", nil, "override a repo's URL: NAME=URL (repeatable), as in publish; ml-model=URL names the workspace repo")
	c.Flags().StringVar(&logFormat, "log-format", "json", "log format: json or text")
	c.Flags().IntVar(&cfg.QueueSize, "queue", api.DefaultQueueSize, "changes that may wait for the writer; beyond, 429")
	c.Flags().IntVar(&cfg.MaxBatch, "batch", api.DefaultMaxBatch, "changes per group commit at most")
	c.Flags().Int64Var(&cfg.MaxBodyBytes, "max-body", api.DefaultMaxBodyBytes, "largest request body in bytes; beyond, 413")
	c.Flags().DurationVar(&cfg.ReconcileInterval, "reconcile", api.DefaultReconcileInterval, "how often an idle server checks that the config repos match ml-model")
	c.Flags().BoolVar(&readStatus, "status", false, "serve live status (GET .../status) read from the cluster: in a pod with its ServiceAccount, else from --kubeconfig")
	c.Flags().BoolVar(&tokenReview, "token-review", false, "take the service-account tokens of api.auth.serviceAccounts (audience dmls), checked by TokenReviews against the cluster: in a pod with its ServiceAccount, else from --kubeconfig and --context")
	c.Flags().StringVar(&kubeOpts.Kubeconfig, "kubeconfig", "", "kubeconfig file for --status and --token-review (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	c.Flags().StringVar(&kubeOpts.Context, "context", "", "kubeconfig context of Argo CD's cluster for --status")
	c.Flags().StringArrayVar(&envContexts, "env-context", nil, "kubeconfig context of one environment's cluster for --status: ENV=CONTEXT (repeatable)")
	c.Flags().IntVar(&evalWorkers, "eval-workers", runtime.GOMAXPROCS(0), "worker processes that evaluate apps, each under --eval-timeout and --eval-memory")
	c.Flags().StringVar(&promURL, "prometheus", "", "Prometheus base URL that evaluates the release pipelines' canary gates (basic auth in the URL, or a bearer token in DMLS_PROMETHEUS_TOKEN)")
	c.Flags().DurationVar(&cfg.ReleaseInterval, "release-interval", pipeline.DefaultInterval, "how often the release reconciler looks at every pipeline and schedule")
	c.Flags().StringVar(&leaseNS, "lease-namespace", "", "run the release reconciler on one replica only, elected by a Lease in this namespace of Argo CD's cluster (needs --status)")
	c.Flags().StringVar(&leaseName, "lease-name", "dmls-release", "name of that Lease")
	c.Flags().StringVar(&cfg.Author.Name, "author", "dmls-api", "name of the commits' author")
	c.Flags().StringVar(&cfg.Author.Email, "author-email", "dmls-api@localhost", "email of the commits' author")
	return c
}

// repoFlags reads --repo NAME=URL flags, and warns of credentials in
// their URLs: dmls uses them to connect and writes them nowhere, but they
// belong in DMLS_GIT_*.
func (g *globals) repoFlags(flags []string) (map[string]string, error) {
	urls, err := repourl.ParseFlags(flags)
	if err != nil {
		return nil, usageError{err}
	}
	for _, name := range slices.Sorted(maps.Keys(urls)) {
		if repourl.HasCredentials(urls[name]) {
			fmt.Fprintf(g.stderr, "dmls: warning: --repo %s: %s\n", name, repourl.CredentialsAdvice)
		}
	}
	return urls, nil
}

// mlModel finds the ml-model repo: --repo ml-model=URL, or the platform of
// the workspace in -w. Other --repo names must be repos of that platform.
func (g *globals) mlModel(urls map[string]string) (gitops.Target, string, *spec.Platform, error) {
	target := gitops.Target{Name: layout.RepoMLModel}
	var prefix string
	var p *spec.Platform
	if st, err := os.Stat(g.workspace); err == nil && st.IsDir() {
		ws, _ := workspace.LoadDir(g.workspace, workspace.Options{})
		if ws != nil {
			p = ws.Platform
		}
	}
	if p != nil {
		if r, ok := p.Repos[layout.RepoMLModel]; ok {
			target.URL, target.Branch, prefix = r.URL, r.Branch, r.Path
		}
		for name := range urls {
			if _, ok := p.Repos[name]; !ok && name != layout.RepoMLModel {
				return target, "", nil, usageError{fmt.Errorf("--repo %s: the platform in %s has no repo of that name", name, g.workspace)}
			}
		}
	}
	if u, ok := urls[layout.RepoMLModel]; ok {
		target.URL = u
	}
	if target.URL == "" {
		return target, "", nil, usageError{fmt.Errorf("no ml-model repo: give --repo ml-model=URL, or -w a workspace whose platform names repo ml-model")}
	}
	return target, prefix, p, nil
}

// randomSuffix tells replicas on one host apart in the release Lease.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
