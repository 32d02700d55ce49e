package publish

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestCatalogPublish: the catalog goes to the docs repo with each app's
// last change from the workspace's git history; publishing again changes
// nothing; a build without a catalog (dmls serve's) leaves it alone.
func TestCatalogPublish(t *testing.T) {
	dir := t.TempDir()
	for p, f := range exampleFS(t) {
		dst := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
			"GIT_AUTHOR_DATE=2026-12-01T09:00:00Z", "GIT_COMMITTER_DATE=2026-12-01T09:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitCmd("init", "-q", "-b", "main")
	gitCmd("add", ".")
	gitCmd("commit", "-q", "-m", "fashion-mnist: train and serve")
	sha := gitCmd("rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not an app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd("add", ".")
	gitCmd("commit", "-q", "-m", "docs")

	srv := gittest.Start(t)
	k8s := srv.CreateRepo(t, "k8s-config")
	docs := srv.CreateRepo(t, "docs")
	kubeflow := srv.CreateRepo(t, "kubeflow-config")
	infra := srv.CreateRepo(t, "infra")
	u, p := srv.Credentials()
	auth := gitops.Auth{Username: u, Password: p}
	urls := map[string]string{layout.RepoK8sConfig: k8s, RepoDocs: docs, layout.RepoKubeflowConfig: kubeflow, layout.RepoInfra: infra}
	run := func(withCatalog bool) []Result {
		t.Helper()
		ws, err := workspace.Load(os.DirFS(dir), dir, workspace.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ws.Platform.Repos[RepoDocs].URL == "" {
			ws.Platform.Repos[RepoDocs] = spec.Repo{Branch: "main"}
		}
		if err := OverrideURLs(ws.Platform, urls); err != nil {
			t.Fatal(err)
		}
		res, err := build.Workspace(ws, build.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if withCatalog {
			h, prefix, err := gitops.OpenHistory(dir)
			if err != nil {
				t.Fatal(err)
			}
			Catalog(ws.Platform, res, h, prefix)
		}
		out, err := Publish(context.Background(), ws.Platform, res.Repos(ws.Platform), Options{URLs: urls, Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	changed := func(rs []Result, repo string) bool {
		for _, r := range rs {
			if r.Name == repo {
				return r.Changed
			}
		}
		return false
	}
	if rs := run(true); !changed(rs, RepoDocs) {
		t.Fatalf("the first publish wrote no catalog: %+v", rs)
	}
	files := srv.Files(t, "docs", "main")
	page := files["catalog/ml-research/fashion-mnist.md"]
	if !strings.Contains(page, "| Last change | `"+sha[:12]+"` on 2026-12-01T09:00:00Z by Ada: fashion-mnist: train and serve |") {
		t.Errorf("the page does not name the app's last change %s:\n%s", sha, page)
	}
	for _, f := range []string{"catalog/README.md", "catalog/ml-research/README.md", "catalog/ml-serving/README.md"} {
		if files[f] == "" {
			t.Errorf("no %s", f)
		}
	}
	if rs := run(true); changed(rs, RepoDocs) || changed(rs, layout.RepoK8sConfig) {
		t.Errorf("publishing again changed something: %+v", rs)
	}
	if rs := run(false); changed(rs, RepoDocs) || len(srv.Files(t, "docs", "main")) != len(files) {
		t.Errorf("a publish without a catalog touched the docs repo: %+v", rs)
	}
}
