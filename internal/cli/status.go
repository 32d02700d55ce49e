package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/pipeline"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/release"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/kube"
)

// statusFlags are the flags of dmls status.
type statusFlags struct {
	env         string
	kubeconfig  string
	context     string
	envContexts []string
	repos       []string
	watch       bool
	wait        bool
	timeout     time.Duration
	interval    time.Duration
	prometheus  string
}

func statusCmd(g *globals) *cobra.Command {
	var f statusFlags
	c := &cobra.Command{
		Use:   "status [APP] [--env ENV] [-o text|json|yaml] [--watch] [--wait [--timeout D]]",
		Short: "Show the live status of apps in the cluster",
		Long: `status reads, for each app of the workspace (or APP) and each environment,
the Argo CD Application (sync status, health, the revision it synced, the last
sync), the TFJob of the current run (conditions, replicas, start and
completion) and the Knative Service or InferenceService (Ready, URL,
revisions, traffic), and sums it up in one state per environment:

  Deploying   the published commit is not synced yet (or its objects are being created)
  Running     training runs (or restarts)
  Succeeded   training finished
  Failed      training failed
  Serving     the model service is ready
  Degraded    the model service (or the Application) is not healthy
  OutOfSync   the cluster differs from git and no sync runs
  Unknown     the cluster could not be read

The commit a state is about is the last commit of the k8s-config repo, which
dmls publish writes, that changed the app's folders there (read with the
DMLS_GIT_* credentials; --repo overrides its URL). The cluster is reached as kubectl does: --kubeconfig, $KUBECONFIG or
~/.kube/config, --context, and in a pod the in-cluster configuration; an
environment on another cluster takes --env-context ENV=CONTEXT.

--watch prints every change. --wait blocks until every environment is
Serving or Succeeded, and exits 1 as soon as one is Failed or Degraded, or
at --timeout:

  dmls submit -f job.yaml && dmls status mnist --wait`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput("text", "json", "yaml"); err != nil {
				return err
			}
			if f.watch && f.wait {
				return usageError{errors.New("--watch and --wait exclude each other")}
			}
			app := ""
			if len(args) == 1 {
				app = args[0]
			}
			return g.runStatus(f, app)
		},
	}
	c.Flags().StringVar(&f.env, "env", "", "only this environment")
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	c.Flags().StringVar(&f.context, "context", "", "kubeconfig context of Argo CD's cluster and of every environment without --env-context")
	c.Flags().StringArrayVar(&f.envContexts, "env-context", nil, "kubeconfig context of one environment's cluster: ENV=CONTEXT (repeatable)")
	c.Flags().StringArrayVar(&f.repos, "repo", nil, "override a repo's URL: NAME=URL, as in publish (k8s-config names the published commit)")
	c.Flags().BoolVar(&f.watch, "watch", false, "print every change until interrupted")
	c.Flags().BoolVar(&f.wait, "wait", false, "wait until deployed and healthy, or training finished; exit 1 on Failed, Degraded or timeout")
	c.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "how long --wait waits")
	c.Flags().StringVar(&f.prometheus, "prometheus", "", "Prometheus base URL to evaluate the canary gates of an app's release pipeline with")
	c.Flags().DurationVar(&f.interval, "interval", 2*time.Second, "how often --watch and --wait read again when nothing is heard from the cluster")
	return c
}

// statusList is the answer for several apps.
type statusList struct {
	Items []*status.View `json:"items"`
}

func (g *globals) runStatus(f statusFlags, app string) error {
	urls, err := g.repoFlags(f.repos)
	if err != nil {
		return err
	}
	envContexts := map[string]string{}
	for _, ec := range f.envContexts {
		env, ctx, ok := strings.Cut(ec, "=")
		if !ok || env == "" || ctx == "" {
			return usageError{fmt.Errorf("--env-context %q: want ENV=CONTEXT", ec)}
		}
		envContexts[env] = ctx
	}
	ws, err := g.load()
	if err != nil {
		return err
	}
	if err := publish.OverrideURLs(ws.Platform, urls); err != nil {
		return usageError{err}
	}
	if f.env != "" && ws.Env(f.env) == nil {
		return usageError{fmt.Errorf("--env %s: the workspace has no such environment", f.env)}
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		return err
	}
	var apps []*build.App
	for _, a := range res.Apps {
		if app == "" || a.App.Name == app {
			apps = append(apps, a)
		}
	}
	if app != "" && len(apps) == 0 {
		return usageError{fmt.Errorf("the workspace has no app %s", app)}
	}
	clusters, err := kube.New(kube.Options{Kubeconfig: f.kubeconfig, Context: f.context, EnvContexts: envContexts, ArgoCDNamespace: ws.Platform.ArgoCD.Namespace})
	if err != nil {
		return usageError{err}
	}
	auth, err := gitops.AuthFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	repo := ws.Platform.Repos[layout.RepoK8sConfig]
	target := gitops.Target{Name: layout.RepoK8sConfig, URL: repo.URL, Branch: repo.Branch}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if f.wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	warned := false
	var hist *gitops.CommitGraph
	read := func() []*status.View {
		// Fetch the history again only when the tip moved.
		if tip, err := gitops.Tip(ctx, target, auth); err != nil || hist == nil || tip != hist.Tip() {
			h, err := gitops.ReadHistory(ctx, target, auth)
			switch {
			case err == nil:
				hist = h
			case !warned && ctx.Err() == nil:
				fmt.Fprintf(g.stderr, "dmls: warning: cannot read what dmls published, so states follow Argo CD's revision: %v\n", err)
				warned = true
			}
		}
		var pub kube.Published
		if hist != nil {
			pub = hist
		}
		var out []*status.View
		for _, a := range apps {
			out = append(out, clusters.AppView(ctx, a, f.env, "", repo.Path, pub))
		}
		return out
	}
	views := read()
	if !f.watch && !f.wait {
		if err := g.printStatus(views, app != "", true); err != nil {
			return err
		}
		if len(apps) == 1 && apps[0].App.Base.Spec.Release != nil && g.output == "text" && f.env == "" {
			g.printPipeline(ctx, ws, apps[0], views[0], f.prometheus)
		}
		return nil
	}
	var targets []kube.Target
	for _, a := range apps {
		targets = append(targets, kube.AppTargets(a, f.env, repo.Path)...)
	}
	changes := clusters.Changes(ctx, targets, f.interval)
	first := true
	var last []*status.View
	for {
		if !sameStatus(last, views) {
			if err := g.printStatus(diffViews(last, views), app != "", first); err != nil {
				return err
			}
			first = false
		}
		last = views
		if f.wait {
			outcome := status.Done
			for _, v := range views {
				switch status.Overall(v) {
				case status.Fail:
					for _, e := range v.Environments {
						if status.DoneState(e.State) == status.Fail {
							fmt.Fprintf(g.stderr, "dmls: %s in %s is %s: %s\n", v.App, e.Env, e.State, e.Reason)
						}
					}
					return silentExit{ExitError}
				case status.Wait:
					outcome = status.Wait
				}
			}
			if outcome == status.Done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if f.wait && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %s waiting for %s", f.timeout, waitingFor(views))
			}
			return nil
		case <-changes:
			// Let a burst of events settle into one read.
			time.Sleep(100 * time.Millisecond)
		}
		if v := read(); ctx.Err() == nil {
			views = v // a read cut short by the end says nothing of the cluster
		}
	}
}

// waitingFor names the environments that are not done yet.
func waitingFor(views []*status.View) string {
	var out []string
	for _, v := range views {
		for _, e := range v.Environments {
			if status.DoneState(e.State) != status.Done {
				out = append(out, fmt.Sprintf("%s in %s (%s: %s)", v.App, e.Env, e.State, e.Reason))
			}
		}
	}
	return strings.Join(out, ", ")
}

// sameStatus compares views without their read times.
func sameStatus(a, b []*status.View) bool {
	return reflect.DeepEqual(strip(a), strip(b))
}

func strip(vs []*status.View) []status.View {
	var out []status.View
	for _, v := range vs {
		c := *v
		c.Environments = nil
		for _, e := range v.Environments {
			e.ObservedAt = nil
			c.Environments = append(c.Environments, e)
		}
		out = append(out, c)
	}
	return out
}

// diffViews keeps, of now, the environments that differ from before.
func diffViews(before, now []*status.View) []*status.View {
	if before == nil {
		return now
	}
	old := map[string]status.Environment{}
	for _, v := range strip(before) {
		for _, e := range v.Environments {
			old[v.App+"/"+e.Env] = e
		}
	}
	var out []*status.View
	for _, v := range now {
		c := *v
		c.Environments = nil
		for _, e := range v.Environments {
			x := e
			x.ObservedAt = nil
			if !reflect.DeepEqual(old[v.App+"/"+e.Env], x) {
				c.Environments = append(c.Environments, e)
			}
		}
		if len(c.Environments) > 0 {
			out = append(out, &c)
		}
	}
	return out
}

// printStatus prints views: a table (with its header when header is
// set), or JSON and YAML documents (one view for a single app, else a
// list). With --watch, JSON is one compact line per change.
func (g *globals) printStatus(views []*status.View, single, header bool) error {
	var v any = statusList{Items: views}
	if single && len(views) == 1 {
		v = views[0]
	}
	switch g.output {
	case "json":
		if !header {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "%s\n", b)
			return err
		}
		return g.printJSON(v)
	case "yaml":
		if !header {
			fmt.Fprintln(g.stdout, "---")
		}
		return g.printYAML(v)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
	if header {
		fmt.Fprintln(tw, "APP\tENV\tSTATE\tCOMMIT\tSYNCED\tHEALTH\tREASON")
	}
	for _, v := range views {
		for _, e := range v.Environments {
			synced, health := "-", "-"
			if a := e.Application; a != nil && a.Found {
				synced, health = dash(status.Short(a.Revision)), dash(a.Health)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.App, e.Env, e.State, dash(status.Short(e.Commit)), synced, health, oneLine(e.Reason))
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// printPipeline prints the release pipeline of a, decided as the
// reconciler of dmls serve decides it, from the status just read and the
// gates evaluated on promURL ("" evaluates none).
func (g *globals) printPipeline(ctx context.Context, ws *spec.Workspace, a *build.App, v *status.View, promURL string) {
	var prom *gates.Client
	if promURL != "" {
		prom = &gates.Client{URL: promURL, BearerToken: os.Getenv("DMLS_PROMETHEUS_TOKEN")}
	}
	now := time.Now()
	p := pipeline.PlanApp(ws, a.App, v.Environments, func(inst *spec.Instance, st *release.EnvState, ev status.Environment) []release.GateResult {
		return pipeline.EvaluateGates(ctx, prom, inst, st, ev, now)
	}, "", now)
	p.Managed = len(a.App.Files) == 1 && path.Base(a.App.Files[0]) == "app.json"
	fmt.Fprintln(g.stdout)
	printRelease(g, p.View(a.App))
}
