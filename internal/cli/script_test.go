package cli

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dmls-project/dmls/internal/evallimit"
)

// cleanM removes the tests' cache folder after the tests.
type cleanM struct {
	m   *testing.M
	dir string
}

func (c cleanM) Run() int {
	defer os.RemoveAll(c.dir)
	return c.m.Run()
}

func TestMain(m *testing.M) {
	// dmls serve, run by a test, starts this binary as its evaluation
	// workers.
	if evallimit.IsWorker() {
		os.Exit(evallimit.RunWorker())
	}
	// Tests that call Main use a cache of their own, never the user's.
	dir, err := os.MkdirTemp("", "dmls-cli-test-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	testscript.Main(cleanM{m, dir}, map[string]func(){
		"dmls": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script: validate, render,
// generate and init, including their error output and exit codes.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// mkfifo PATH makes a named pipe, which txtar cannot hold.
			"mkfifo": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: mkfifo PATH")
				}
				ts.Check(syscall.Mkfifo(ts.MkAbs(args[0]), 0o644))
			},
			// bigfile PATH SIZE writes a YAML file of SIZE bytes.
			"bigfile": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: bigfile PATH SIZE")
				}
				size, err := strconv.Atoi(args[1])
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte("a: "+strings.Repeat("x", size-4)+"\n"), 0o644))
			},
		},
	})
}
