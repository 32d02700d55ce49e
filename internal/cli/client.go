package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// Environment variables of the API client commands.
const (
	envServer = "DMLS_SERVER"
	envToken  = "DMLS_TOKEN"
	envTeam   = "DMLS_TEAM"
)

// clientFlags are the flags every API client command shares.
type clientFlags struct {
	g         *globals
	server    string
	tokenFile string
	team      string
	timeout   time.Duration
}

func (f *clientFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.server, "server", "", "API server URL (default $"+envServer+", or http://localhost:8080)")
	c.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the team's token (default: the token in $"+envToken+")")
	c.Flags().StringVar(&f.team, "team", "", "team the app belongs to (default $"+envTeam+", the token's team, or your team when you are in one)")
	c.Flags().DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to wait for the answer, retries included")
}

// client builds an API client from the flags and the environment. The
// token is never printed.
func (f *clientFlags) client() (*apiclient.Client, error) {
	server := f.server
	if server == "" {
		server = os.Getenv(envServer)
	}
	if server == "" {
		server = "http://localhost:8080"
	}
	token := os.Getenv(envToken)
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--token-file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		var err error
		if token, err = storedToken(server); err != nil {
			return nil, usageError{err}
		}
	}
	if token == "" {
		return nil, usageError{fmt.Errorf("no token: set $%s, give --token-file FILE, or run dmls login --server %s", envToken, server)}
	}
	return &apiclient.Client{BaseURL: server, Token: token}, nil
}

// run calls fn with a client, the team and a context that ends on
// interrupt or after --timeout, and prints what it returns.
func (f *clientFlags) run(fn func(ctx context.Context, c *apiclient.Client, team string) (any, error)) error {
	if err := f.g.checkOutput("text", "json", "yaml"); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	team := f.team
	if team == "" {
		team = os.Getenv(envTeam)
	}
	if team == "" {
		id, err := c.Whoami(ctx)
		if err != nil {
			return apiFailure(err)
		}
		if team, err = defaultTeam(id); err != nil {
			return err
		}
	}
	out, err := fn(ctx, c, team)
	if err != nil {
		return apiFailure(err)
	}
	return f.g.printAPI(out)
}

// apiFailure reports an API error with each finding on its own line.
func apiFailure(err error) error {
	var e *apiclient.Error
	if errors.As(err, &e) {
		return fmt.Errorf("the API answered %s", e.Error())
	}
	return err
}

// defaultTeam is the team a command acts for when none is given: the
// token's, or the user's only team.
func defaultTeam(id *apiclient.Identity) (string, error) {
	switch {
	case id.Admin:
		return "", usageError{errors.New("you act for every team (an admin): give --team")}
	case id.User != "" && len(id.Teams) == 1:
		return id.Teams[0], nil
	case id.User != "" && len(id.Teams) == 0:
		return "", usageError{fmt.Errorf("user %s is in no team: none of your groups is the group of a team of the platform", id.User)}
	case id.User != "":
		return "", usageError{fmt.Errorf("user %s acts for teams %s: give --team", id.User, strings.Join(id.Teams, ", "))}
	}
	return id.Team, nil
}

// printAPI prints an API answer as JSON, YAML or a short text.
func (g *globals) printAPI(v any) error {
	switch g.output {
	case "json":
		return g.printJSON(v)
	case "yaml":
		return g.printYAML(v)
	}
	switch x := v.(type) {
	case *apiclient.Result:
		verb := "changed"
		if !x.Changed {
			verb = "unchanged"
		}
		fmt.Fprintf(g.stdout, "%s %s/%s: %s\n", x.Operation, x.Team, x.App, verb)
		for _, c := range x.Commits {
			fmt.Fprintf(g.stdout, "  %s: %s\n", c.Repo, short(c.SHA))
		}
		if len(x.Applications) > 0 {
			fmt.Fprintf(g.stdout, "  Argo CD: %s\n", strings.Join(x.Applications, ", "))
		}
		if x.TrainingJob != nil {
			fmt.Fprintf(g.stdout, "  TFJob: %s\n", x.TrainingJob.TFJob)
		}
		if x.ModelService != nil {
			printTraffic(g, x.ModelService)
		}
		for _, w := range x.Warnings {
			fmt.Fprintf(g.stdout, "  warning: %s\n", w)
		}
	case *apiclient.ReleaseView:
		printRelease(g, x)
	case *apiclient.TrainingJob:
		printTrainingJob(g, x)
	case []apiclient.TrainingJob:
		for i := range x {
			printTrainingJob(g, &x[i])
		}
	case *apiclient.ModelService:
		printModelService(g, x)
	case []apiclient.ModelService:
		for i := range x {
			printModelService(g, &x[i])
		}
	case *apiclient.Identity:
		switch {
		case x.User != "":
			fmt.Fprintf(g.stdout, "user %s (subject %s), token expires %s\n", x.User, x.Subject, x.Expires)
			fmt.Fprintf(g.stdout, "groups: %s\n", strings.Join(x.Groups, ", "))
			printTeams(g, x)
		case x.ServiceAccount != "":
			fmt.Fprintf(g.stdout, "service account %s, team %s\n", x.ServiceAccount, x.Team)
		default:
			fmt.Fprintf(g.stdout, "team %s, actor %s\n", x.Team, x.Actor)
		}
	default:
		return g.printJSON(v)
	}
	return nil
}

func printTrainingJob(g *globals, j *apiclient.TrainingJob) {
	fmt.Fprintf(g.stdout, "%s/%s: run %d (%s), commit %s\n", j.Team, j.App, j.Run, j.TFJob, short(j.Commit))
	for _, e := range j.Environments {
		var roles []string
		for _, r := range sortedRoles(e.Replicas) {
			roles = append(roles, fmt.Sprintf("%s=%d", r, e.Replicas[r]))
		}
		fmt.Fprintf(g.stdout, "  %s: %s in %s, %s, %s\n", e.Env, e.TFJob, e.Namespace, e.Image, strings.Join(roles, " "))
	}
}

func printModelService(g *globals, s *apiclient.ModelService) {
	fmt.Fprintf(g.stdout, "%s/%s: commit %s\n", s.Team, s.App, short(s.Commit))
	printTraffic(g, s)
}

func printTraffic(g *globals, s *apiclient.ModelService) {
	for _, e := range s.Environments {
		var parts []string
		for _, t := range e.Traffic {
			target := t.Revision
			if t.LatestRevision {
				target = "latest"
			}
			parts = append(parts, fmt.Sprintf("%s %d%%", target, t.Percent))
		}
		fmt.Fprintf(g.stdout, "  %s: revision %s, traffic %s\n", e.Env, e.Revision, strings.Join(parts, ", "))
	}
}

func sortedRoles(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readBody reads a JSON or YAML file ("-" for stdin) into JSON data.
func readBody(file string) (map[string]any, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, usageError{fmt.Errorf("-f %s: %w", file, err)}
	}
	m, err := apiclient.ParseSpec(b)
	if err != nil {
		return nil, usageError{fmt.Errorf("-f %s: %w", file, err)}
	}
	return m, nil
}

func submitCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	var file string
	c := &cobra.Command{
		Use:   "submit -f FILE",
		Short: "Submit a training job or a model service through the API",
		Long: `submit sends an app spec (JSON or YAML, "-" for stdin) with a training job,
a model service or both: name, training and/or serving, and optionally envs,
labels and overrides, as in apps/<app>/ files but without team. The server
creates the app (or adds to an app of the team) and commits it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("-f FILE is required")}
			}
			body, err := readBody(file)
			if err != nil {
				return err
			}
			_, hasT := body["training"]
			_, hasS := body["serving"]
			if !hasT && !hasS {
				return usageError{fmt.Errorf("-f %s: the spec holds neither training nor serving", file)}
			}
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				var res *apiclient.Result
				for _, sec := range []string{"training", "serving"} {
					if _, ok := body[sec]; !ok {
						continue
					}
					part := apiclient.SplitSpec(body, sec)
					var err error
					if sec == "training" {
						res, err = c.SubmitTrainingJob(ctx, team, part)
					} else {
						res, err = c.SubmitModelService(ctx, team, part)
					}
					if err != nil {
						return nil, err
					}
					if hasT && hasS && sec == "training" {
						if err := g.printAPI(res); err != nil {
							return nil, err
						}
					}
				}
				return res, nil
			})
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "spec file (JSON or YAML), - for stdin")
	f.register(c)
	return c
}

func retrainCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	c := &cobra.Command{
		Use:   "retrain APP",
		Short: "Start a new training run (a new TFJob <app>-r<run>) through the API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.Retrain(ctx, team, args[0])
			})
		},
	}
	f.register(c)
	return c
}

func setCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	var env, image, file, cpu, memory string
	var gpu int
	var replicas, hps, args []string
	var retrain, clearArgs bool
	c := &cobra.Command{
		Use:   "set APP [--replicas ROLE=N] [--image IMG] [--arg A ...] [--hp NAME=VALUE ...] [--cpu Q] [--memory Q] [--gpu N]",
		Short: "Change parameters of a training job through the API",
		Long: `set changes a training job: replica counts, image, args, hyperparameters,
resources, or anything else of a training job with -f PATCH (a JSON merge
patch: maps merge, lists are replaced, null removes). --env changes only
that environment (overrides.<env>.training); --retrain also starts a new run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			patch := map[string]any{}
			if file != "" {
				p, err := readBody(file)
				if err != nil {
					return err
				}
				patch = p
			}
			if image != "" {
				patch["image"] = image
			}
			if len(args) > 0 || clearArgs {
				list := make([]any, len(args))
				for i, x := range args {
					list[i] = x
				}
				patch["args"] = list
			}
			for _, r := range replicas {
				role, n, ok := strings.Cut(r, "=")
				count, err := strconv.Atoi(n)
				if !ok || err != nil {
					return usageError{fmt.Errorf("--replicas %q: want ROLE=N, such as worker=4", r)}
				}
				rs, _ := patch["replicas"].(map[string]any)
				if rs == nil {
					rs = map[string]any{}
					patch["replicas"] = rs
				}
				rs[role] = map[string]any{"replicas": count}
			}
			for _, h := range hps {
				name, v, ok := strings.Cut(h, "=")
				if !ok || name == "" {
					return usageError{fmt.Errorf("--hp %q: want NAME=VALUE", h)}
				}
				m, _ := patch["hyperparameters"].(map[string]any)
				if m == nil {
					m = map[string]any{}
					patch["hyperparameters"] = m
				}
				m[name] = hyperValue(v)
			}
			res := map[string]any{}
			if cpu != "" {
				res["cpu"] = cpu
			}
			if memory != "" {
				res["memory"] = memory
			}
			if cmd.Flags().Changed("gpu") {
				res["gpu"] = gpu
			}
			if len(res) > 0 {
				patch["resources"] = res
			}
			if len(patch) == 0 && !retrain {
				return usageError{errors.New("nothing to set: give --replicas, --image, --arg, --hp, --cpu, --memory, --gpu, -f or --retrain")}
			}
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.SetTrainingJob(ctx, team, a[0], patch, apiclient.SetOptions{Env: env, Retrain: retrain})
			})
		},
	}
	c.Flags().StringVar(&env, "env", "", "change only this environment")
	c.Flags().StringVar(&image, "image", "", "training image")
	c.Flags().StringArrayVar(&replicas, "replicas", nil, "replica count of a role: ROLE=N (chief, worker, ps, evaluator; repeatable)")
	c.Flags().StringArrayVar(&args, "arg", nil, "an argument; the given ones replace the job's args (repeatable)")
	c.Flags().BoolVar(&clearArgs, "clear-args", false, "remove every argument")
	c.Flags().StringArrayVar(&hps, "hp", nil, "a hyperparameter: NAME=VALUE (numbers and true/false are typed; repeatable)")
	c.Flags().StringVar(&cpu, "cpu", "", "CPU request, such as 500m")
	c.Flags().StringVar(&memory, "memory", "", "memory request, such as 2Gi")
	c.Flags().IntVar(&gpu, "gpu", 0, "GPUs per container")
	c.Flags().StringVarP(&file, "file", "f", "", "a JSON merge patch of the training job (JSON or YAML)")
	c.Flags().BoolVar(&retrain, "retrain", false, "also start a new run")
	f.register(c)
	return c
}

// hyperValue types a --hp value: a number, a bool, or a string.
func hyperValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		return x
	}
	if b, err := strconv.ParseBool(s); err == nil && (s == "true" || s == "false") {
		return b
	}
	return s
}

func rolloutCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	var r apiclient.Rollout
	var canary int
	c := &cobra.Command{
		Use:   "rollout APP (--image IMG | --storage-uri URI) [--canary PERCENT] [--revision NAME] [--env ENV]",
		Short: "Roll out a new model version through the API",
		Long: `rollout makes a new revision of a model service from an image or a model in
storage. With --canary, that share of traffic goes to the new revision and
the rest stays on the current one until "dmls canary promote" or
"dmls rollback".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("canary") {
				r.CanaryPercent = &canary
			}
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.RolloutModel(ctx, team, args[0], r)
			})
		},
	}
	c.Flags().StringVar(&r.Image, "image", "", "model server image")
	c.Flags().StringVar(&r.StorageURI, "storage-uri", "", "saved model location, pvc://<claim>/<path>")
	c.Flags().StringVar(&r.Revision, "revision", "", "name of the new revision (default: the next, v3 after v2)")
	c.Flags().IntVar(&canary, "canary", 0, "percent of traffic for the new revision")
	c.Flags().StringVar(&r.Env, "env", "", "roll out in this environment only")
	f.register(c)
	return c
}

func canaryCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "canary",
		Short: "Change or promote a model service's canary through the API",
	}
	setF := &clientFlags{g: g}
	var env string
	set := &cobra.Command{
		Use:   "set APP PERCENT",
		Short: "Set the canary's share of traffic",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := strconv.Atoi(strings.TrimSuffix(args[1], "%"))
			if err != nil {
				return usageError{fmt.Errorf("PERCENT %q: want 0 to 100", args[1])}
			}
			return setF.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.SetCanary(ctx, team, args[0], apiclient.CanaryUpdate{Env: env, Percent: p})
			})
		},
	}
	set.Flags().StringVar(&env, "env", "", "the environment whose canary to change")
	setF.register(set)
	promoteF := &clientFlags{g: g}
	var penv string
	promote := &cobra.Command{
		Use:   "promote APP",
		Short: "Send all traffic to the canary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return promoteF.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.PromoteCanary(ctx, team, args[0], apiclient.Target{Env: penv})
			})
		},
	}
	promote.Flags().StringVar(&penv, "env", "", "the environment whose canary to promote")
	promoteF.register(promote)
	c.AddCommand(set, promote)
	return c
}

func rollbackCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	var env string
	c := &cobra.Command{
		Use:   "rollback APP [--env ENV]",
		Short: "Send a model service's traffic back to the previous revision through the API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.Rollback(ctx, team, args[0], apiclient.Target{Env: env})
			})
		},
	}
	c.Flags().StringVar(&env, "env", "", "roll back in this environment only")
	f.register(c)
	return c
}

func promoteCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	var p apiclient.Promotion
	c := &cobra.Command{
		Use:   "promote APP --from ENV [--to ENV]",
		Short: "Promote the version an app runs in one environment to the next through the API",
		Long: `promote copies the version that runs in --from (the model service's image or
storage URI and revision, the training job's image) into the overrides of the
next environment (dev → staging → prod).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.From == "" {
				return usageError{errors.New("--from ENV is required")}
			}
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.Promote(ctx, team, args[0], p)
			})
		},
	}
	c.Flags().StringVar(&p.From, "from", "", "environment to promote from")
	c.Flags().StringVar(&p.To, "to", "", "environment to promote to (default: the next)")
	f.register(c)
	return c
}

// kind resolves the resource kinds get, list and delete take.
func kind(arg string) (string, error) {
	switch strings.ToLower(arg) {
	case "trainingjob", "trainingjobs", "tj", "training":
		return "training", nil
	case "modelservice", "modelservices", "ms", "serving":
		return "serving", nil
	}
	return "", usageError{fmt.Errorf("unknown kind %q: want trainingjob (tj) or modelservice (ms)", arg)}
}

// kindCall calls the API for one kind of section with the command's args.
type kindCall func(ctx context.Context, c *apiclient.Client, team string, args []string) (any, error)

// kindCmd is a command whose first argument names the kind (training job
// or model service) and which calls training or serving accordingly.
func kindCmd(g *globals, use, short string, nargs int, training, serving kindCall) *cobra.Command {
	f := &clientFlags{g: g}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := kind(args[0])
			if err != nil {
				return err
			}
			call := serving
			if k == "training" {
				call = training
			}
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return call(ctx, c, team, args[1:])
			})
		},
	}
	f.register(c)
	return c
}

func getCmd(g *globals) *cobra.Command {
	return kindCmd(g, "get (trainingjob|modelservice) APP", "Show a training job or a model service through the API", 2,
		func(ctx context.Context, c *apiclient.Client, team string, args []string) (any, error) {
			return c.TrainingJob(ctx, team, args[0])
		},
		func(ctx context.Context, c *apiclient.Client, team string, args []string) (any, error) {
			return c.ModelService(ctx, team, args[0])
		})
}

func listCmd(g *globals) *cobra.Command {
	return kindCmd(g, "list (trainingjobs|modelservices)", "List the team's training jobs or model services through the API", 1,
		func(ctx context.Context, c *apiclient.Client, team string, _ []string) (any, error) {
			return c.TrainingJobs(ctx, team)
		},
		func(ctx context.Context, c *apiclient.Client, team string, _ []string) (any, error) {
			return c.ModelServices(ctx, team)
		})
}

func deleteCmd(g *globals) *cobra.Command {
	return kindCmd(g, "delete (trainingjob|modelservice) APP", "Delete a training job or a model service through the API", 2,
		func(ctx context.Context, c *apiclient.Client, team string, args []string) (any, error) {
			return c.DeleteTrainingJob(ctx, team, args[0])
		},
		func(ctx context.Context, c *apiclient.Client, team string, args []string) (any, error) {
			return c.DeleteModelService(ctx, team, args[0])
		})
}

func whoamiCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	c := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are: a token's team and actor, or your user, groups and teams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("text", "json", "yaml"); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
			defer cancel()
			id, err := c.Whoami(ctx)
			if err != nil {
				return apiFailure(err)
			}
			return g.printAPI(id)
		},
	}
	f.register(c)
	return c
}
