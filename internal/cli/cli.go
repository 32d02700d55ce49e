// Package cli implements the dmls command line. Each subcommand lives in a
// file of its own and only wires packages together.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // spec errors and failed operations
	ExitUsage = 2 // bad flags or arguments
)

// usageError marks errors in how dmls was called.
type usageError struct{ error }

// globals are the flags every command shares.
type globals struct {
	workspace string
	output    string
	stdout    io.Writer
	stderr    io.Writer
	// limits bound the evaluation of each app (--eval-timeout,
	// --eval-memory).
	limits     evallimit.Limits
	evalMemory string
	stops      stopHooks
	// stopWatchdog ends the evaluation watchdog that the command started.
	stopWatchdog func()
}

// Main runs dmls with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	// Every load of this process (a worker's too) defaults api.image to
	// this dmls's release image.
	defer workspace.SetVersion(version())()
	if evallimit.IsWorker() {
		// dmls serve started this process to evaluate apps.
		return evallimit.RunWorker()
	}
	root, g := newRoot(stdout, stderr)
	defer func() {
		if g.stopWatchdog != nil {
			g.stopWatchdog()
		}
	}()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var se silentExit
	if errors.As(err, &se) {
		return se.code
	}
	return printError(stderr, err)
}

// Command returns dmls's command tree, which runs nothing until executed:
// the man pages, the shell completions and the CLI reference are generated
// from it.
func Command() *cobra.Command {
	root, _ := newRoot(io.Discard, io.Discard)
	return root
}

// newRoot builds the command tree that writes to stdout and stderr, and
// the flags its commands share.
func newRoot(stdout, stderr io.Writer) (*cobra.Command, *globals) {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "dmls",
		Short: "GitOps for distributed machine learning on Kubernetes",
		Long: `dmls turns small typed specs of training jobs (Kubeflow TFJob) and model
services (Knative Service or KServe InferenceService) into kustomize trees, commits them to the config
repos and registers them with Argo CD, which deploys them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.workspace, "workspace", "w", ".", "workspace folder")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format where output is structured: text, yaml or json")
	root.PersistentFlags().DurationVar(&g.limits.Timeout, "eval-timeout", evallimit.DefaultTimeout, "longest the CUE evaluation of one app may take; beyond, the command stops (serve: the app is broken)")
	root.PersistentFlags().StringVar(&g.evalMemory, "eval-memory", "1Gi", "heap the CUE evaluation of one app may use; beyond, the command stops (serve: the app is broken)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if g.limits.Memory, err = evallimit.ParseMemory(g.evalMemory); err != nil {
			return usageError{err}
		}
		if g.limits.Timeout < 0 {
			return usageError{fmt.Errorf("--eval-timeout %s: want a duration such as 10s", g.limits.Timeout)}
		}
		if cmd.Name() != "serve" {
			g.stopWatchdog = g.watchEvaluation()
		}
		return nil
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, c := range []*cobra.Command{
		withBatchGC(validateCmd(g)), withBatchGC(renderCmd(g)), withBatchGC(generateCmd(g)), publishCmd(g), initCmd(g), versionCmd(g),
		serveCmd(g), submitCmd(g), retrainCmd(g), setCmd(g), rolloutCmd(g), canaryCmd(g), rollbackCmd(g), approveCmd(g), releaseCmd(g),
		promoteCmd(g), getCmd(g), listCmd(g), deleteCmd(g), whoamiCmd(g), loginCmd(g), logoutCmd(g), statusCmd(g), withBatchGC(diffCmd(g)), importCmd(g),
	} {
		root.AddCommand(c)
	}
	return root, g
}

// printError reports err on stderr and returns the exit code it calls for.
// The text loses every credential of a URL in it (repourl.Scrub), whatever
// library wrote it.
func printError(stderr io.Writer, err error) int {
	var d diag.List
	if errors.As(err, &d) {
		for _, x := range d {
			fmt.Fprintln(stderr, repourl.Scrub(x.String()))
		}
		fmt.Fprintf(stderr, "dmls: %d error(s) in the specs\n", len(d))
		return ExitError
	}
	var u usageError
	if errors.As(err, &u) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "dmls: %s\nRun 'dmls --help' for usage.\n", repourl.Scrub(err.Error()))
		return ExitUsage
	}
	fmt.Fprintf(stderr, "dmls: %s\n", repourl.Scrub(err.Error()))
	return ExitError
}

// isCobraUsage recognises cobra's own argument errors.
func isCobraUsage(err error) bool {
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand", "flag needs an argument"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}

// load reads and checks the workspace.
func (g *globals) load() (*spec.Workspace, error) {
	st, err := os.Stat(g.workspace)
	if err != nil {
		return nil, usageError{fmt.Errorf("workspace %s: %w", g.workspace, errors.Unwrap(err))}
	}
	if !st.IsDir() {
		return nil, usageError{fmt.Errorf("workspace %s is not a folder", g.workspace)}
	}
	ws, err := workspace.LoadDir(g.workspace, workspace.Options{})
	if ws != nil {
		g.warn(ws.Warnings)
	}
	return ws, err
}

// build loads the workspace and runs the generators over it.
func (g *globals) build(opts build.Options) (*spec.Workspace, *build.Result, error) {
	ws, err := g.load()
	if err != nil {
		return nil, nil, err
	}
	res, err := g.generate(ws, opts)
	return ws, res, err
}

// generate runs the generators over a loaded workspace and prints their
// warnings.
func (g *globals) generate(ws *spec.Workspace, opts build.Options) (*build.Result, error) {
	res, err := build.Workspace(ws, opts)
	if res != nil {
		g.warn(res.Warnings)
	}
	return res, err
}

// warn prints findings that do not fail the run on stderr, one per line.
func (g *globals) warn(d diag.List) {
	for _, x := range d {
		fmt.Fprintln(g.stderr, x.String())
	}
}

// checkOutput validates -o for commands that support the given formats.
func (g *globals) checkOutput(formats ...string) error {
	for _, f := range formats {
		if g.output == f {
			return nil
		}
	}
	return usageError{fmt.Errorf("-o %s is not supported here; use one of %v", g.output, formats)}
}

// printJSON writes v as indented JSON.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
