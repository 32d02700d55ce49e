package gitops_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

func TestReadTree(t *testing.T) {
	f := newFixture(t)
	target := gitops.Target{URL: f.srv.RepoURL(f.repo)}

	files, head, err := gitops.ReadTree(context.Background(), target, f.auth, "specs")
	if err != nil || head != "" || len(files) != 0 {
		t.Fatalf("empty repo: %q, %q, %v; want nothing", files, head, err)
	}

	sha := f.srv.Push(t, f.repo, gittest.Change{
		Files: map[string]string{
			"specs/train.cue":      "train: {}",
			"specs/sub/serve.cue":  "serve: {}",
			"specsheet.txt":        "not under specs/",
			"README.md":            "readme",
			"generated/apps/x.yml": "x",
		},
		Symlinks: map[string]string{"docs/link": "../README.md"},
	})

	tests := []struct {
		name    string
		prefix  string
		want    map[string]string
		wantErr error
	}{
		{name: "prefix", prefix: "specs", want: map[string]string{"specs/train.cue": "train: {}", "specs/sub/serve.cue": "serve: {}"}},
		{name: "nested prefix", prefix: "specs/sub", want: map[string]string{"specs/sub/serve.cue": "serve: {}"}},
		{name: "missing prefix", prefix: "nope/deeper", want: map[string]string{}},
		{name: "prefix is a file", prefix: "README.md", wantErr: gitops.ErrUnsafeTree},
		{name: "symlink under prefix", prefix: "docs", wantErr: gitops.ErrUnsafeTree},
		{name: "whole repo has a symlink", prefix: "", wantErr: gitops.ErrUnsafeTree},
		{name: "bad prefix", prefix: "../etc", wantErr: gitops.ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, head, err := gitops.ReadTree(context.Background(), target, f.auth, tt.prefix)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if head != sha {
				t.Fatalf("head = %s, want %s", head, sha)
			}
			got := map[string]string{}
			for p, b := range files {
				got[p] = string(b)
			}
			assertFiles(t, got, tt.want)
		})
	}

	// What ReadTree returns can be published back unchanged.
	files, _, err = gitops.ReadTree(context.Background(), target, f.auth, "specs")
	if err != nil {
		t.Fatal(err)
	}
	res, err := gitops.Publish(context.Background(), gitops.Request{Target: target, Files: files, Managed: []string{"specs"}, Auth: f.auth})
	if err != nil || res.Changed {
		t.Fatalf("round trip: %+v, %v; want no change", res, err)
	}
}

func TestReadTreeMissingBranch(t *testing.T) {
	f := newFixture(t)
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"a": "b"}})
	files, head, err := gitops.ReadTree(context.Background(), gitops.Target{URL: f.srv.RepoURL(f.repo), Branch: "nope"}, f.auth, "")
	if err != nil || head != "" || len(files) != 0 {
		t.Fatalf("missing branch: %q, %q, %v; want nothing", files, head, err)
	}
}
