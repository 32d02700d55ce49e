package publish

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// exampleFS copies the bundled example workspace into memory, so a test
// can change it.
func exampleFS(t *testing.T) fstest.MapFS {
	t.Helper()
	root := os.DirFS("../..")
	out := fstest.MapFS{}
	for _, pattern := range []string{"platform.cue", "overlays/*.cue", "apps/*/*.cue", "charts/*/*.yaml", "charts/*/templates/*"} {
		names, err := fs.Glob(root, pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := fs.ReadFile(root, n)
			if err != nil {
				t.Fatal(err)
			}
			out[n] = &fstest.MapFile{Data: b}
		}
	}
	return out
}

// publishFS publishes fsys to the k8s-config repo at url, and to the
// infra and kubeflow-config repos at url with "k8s-config" replaced by
// their names, and returns the result of k8s-config first, then the others
// in name order (infra, kubeflow-config).
func publishFS(t *testing.T, fsys fs.FS, url string, auth gitops.Auth, dryRun bool) []Result {
	t.Helper()
	urls := map[string]string{
		layout.RepoK8sConfig:      url,
		layout.RepoInfra:          strings.Replace(url, "k8s-config", "infra", 1),
		layout.RepoKubeflowConfig: strings.Replace(url, "k8s-config", "kubeflow-config", 1),
	}
	ws, res := buildFor(t, fsys, urls)
	out, err := Publish(context.Background(), ws.Platform, res.Repos(ws.Platform), Options{
		URLs: urls, Auth: auth, DryRun: dryRun, SourceCommit: "0123456789abcdef",
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	// Repos are published in name order: infra, k8s-config,
	// kubeflow-config.
	if len(out) == 3 && out[1].Name == layout.RepoK8sConfig {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// TestPublishExample publishes the example workspace into a real git
// server: first publish, a no-op republish, a dry run, and a removed app.
func TestPublishExample(t *testing.T) {
	srv := gittest.Start(t)
	url := srv.CreateRepo(t, "k8s-config")
	srv.CreateRepo(t, "infra")
	kubeflowURL := srv.CreateRepo(t, "kubeflow-config")
	user, pass := srv.Credentials()
	auth := gitops.Auth{Username: user, Password: pass}

	// Another writer owns a file outside dmls's folders.
	srv.Push(t, "k8s-config", gittest.Change{Files: map[string]string{"README.md": "hand-written\n"}})

	fsys := exampleFS(t)
	res := publishFS(t, fsys, url, auth, false)
	if len(res) != 3 || !res[0].Changed || !res[1].Changed || !res[2].Changed || res[1].Name != layout.RepoInfra || res[2].Name != layout.RepoKubeflowConfig {
		t.Fatalf("first publish: %+v, want k8s-config, infra and kubeflow-config changed", res)
	}
	// The platform components: their Applications, and the manifests of
	// the chart dmls renders.
	kf := srv.Files(t, "kubeflow-config", "main")
	for _, p := range []string{
		"argocd/kustomization.yaml",
		"argocd/application-training-operator.argocd.yaml",
		"argocd/application-nvidia-device-plugin.argocd.yaml",
		"components/nvidia-device-plugin/daemonset-nvidia-device-plugin.nvidia-device-plugin.yaml",
	} {
		if _, ok := kf[p]; !ok {
			t.Errorf("kubeflow-config lacks %s", p)
		}
	}
	if app := kf["argocd/application-nvidia-device-plugin.argocd.yaml"]; !strings.Contains(app, "repoURL: "+kubeflowURL) {
		t.Errorf("the component Application does not read the published kubeflow-config repo:\n%s", app)
	}
	// The infra repo gets the example's kops manifests, one file each.
	infra := srv.Files(t, "infra", "main")
	for _, p := range []string{
		"kops/mycluster/cluster.yaml",
		"kops/mycluster/instancegroups/control-plane-us-east-1a.yaml",
		"kops/mycluster/instancegroups/nodes.yaml",
		"kops/mycluster/instancegroups/gpu-training.yaml",
	} {
		if !strings.Contains(infra[p], "apiVersion: kops.k8s.io/v1alpha2") {
			t.Errorf("infra repo lacks %s: %v", p, infra[p])
		}
	}
	files := srv.Files(t, "k8s-config", "main")
	for _, p := range []string{
		"apps/fashion-mnist/base/kustomization.yaml",
		"apps/fashion-mnist/base/tfjob-fashion-mnist-r1.yaml",
		"apps/fashion-mnist/overlays/prod/patch-tfjob-fashion-mnist-r1.yaml",
		"platform/dev/kustomization.yaml",
		"argocd/dev/application-fashion-mnist-dev.argocd.yaml",
		"argocd/bootstrap/application-dmls-root.argocd.yaml",
		"README.md",
	} {
		if _, ok := files[p]; !ok {
			t.Errorf("remote lacks %s", p)
		}
	}
	if app := files["argocd/dev/application-fashion-mnist-dev.argocd.yaml"]; !strings.Contains(app, "repoURL: "+url) {
		t.Errorf("the Application does not point at the published repo %s:\n%s", url, app)
	}
	msgs := srv.Messages(t, "k8s-config", "main")
	if !strings.Contains(msgs[0], "app fashion-mnist: all environments, dev, prod, staging") || !strings.Contains(msgs[0], "Dmls-Source-Commit: 0123456789abcdef") {
		t.Errorf("commit message lacks the apps, envs or trailer:\n%s", msgs[0])
	}
	count := srv.CommitCount(t, "k8s-config", "main")

	// The same specs make no commit.
	if res := publishFS(t, fsys, url, auth, false); res[0].Changed || res[1].Changed || res[2].Changed {
		t.Errorf("second publish changed %+v", res)
	}
	if got := srv.CommitCount(t, "k8s-config", "main"); got != count {
		t.Errorf("second publish made a commit: %d commits, want %d", got, count)
	}

	// A dry run of a change reports it and leaves the remote alone.
	fsys["apps/fashion-mnist/training.cue"].Data = []byte(strings.Replace(string(fsys["apps/fashion-mnist/training.cue"].Data), "replicas: worker: replicas: 2", "replicas: worker: replicas: 3", 1))
	head := srv.Head(t, "k8s-config", "main")
	dry := publishFS(t, fsys, url, auth, true)
	if !dry[0].Changed || len(dry[0].Modified) == 0 {
		t.Errorf("dry run reports no change: %+v", dry[0])
	}
	if srv.Head(t, "k8s-config", "main") != head {
		t.Errorf("dry run moved the branch")
	}

	// Removing the app deletes its files, and only those.
	for name := range fsys {
		if strings.HasPrefix(name, "apps/") {
			delete(fsys, name)
		}
	}
	res = publishFS(t, fsys, url, auth, false)
	if !res[0].Changed || len(res[0].Deleted) == 0 {
		t.Fatalf("publish after removing the app: %+v", res[0])
	}
	files = srv.Files(t, "k8s-config", "main")
	for p := range files {
		if strings.HasPrefix(p, "apps/") {
			t.Errorf("%s survived the app's removal", p)
		}
	}
	if files["README.md"] != "hand-written\n" {
		t.Errorf("file outside the managed folders changed: %q", files["README.md"])
	}
	if msg := srv.Messages(t, "k8s-config", "main")[0]; !strings.Contains(msg, "app fashion-mnist") {
		t.Errorf("deletion commit does not name the app:\n%s", msg)
	}
}

func TestPublishUnknownRepoOverride(t *testing.T) {
	ws, err := workspace.Load(exampleFS(t), "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Publish(context.Background(), ws.Platform, nil, Options{URLs: map[string]string{"nope": "file:///x"}})
	if err == nil || !strings.Contains(err.Error(), "--repo nope: the platform has no repo of that name") {
		t.Errorf("err = %v", err)
	}
}

// TestPublishParallel: with Parallel, every repo gets the same commit as
// one after another (the same files, in name order in the results), and a
// repo that cannot be reached fails the publish without stopping the
// others before the catalog, which is then left alone.
func TestPublishParallel(t *testing.T) {
	srv, ws, res, urls, auth := fourRepos(t)
	url := urls[layout.RepoK8sConfig]
	Catalog(ws.Platform, res, nil, "")
	out, err := Publish(context.Background(), ws.Platform, res.Repos(ws.Platform), Options{URLs: urls, Auth: auth, Parallel: true, SourceCommit: "0123456789abcdef"})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	var names []string
	for _, r := range out {
		if !r.Changed || r.Commit == "" {
			t.Errorf("%s: %+v, want a commit", r.Name, r)
		}
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "infra k8s-config kubeflow-config docs"; got != want {
		t.Errorf("results in order %q, want %q", got, want)
	}
	for name, tree := range res.Repos(ws.Platform) {
		if len(tree) == 0 {
			continue
		}
		files := srv.Files(t, name, "main")
		for p, b := range tree {
			if files[p] != string(b) {
				t.Errorf("%s: %s is not what was built", name, p)
			}
		}
	}

	// infra cannot be reached: the publish fails, k8s-config still gets
	// its commit, and the catalog is not pushed.
	docsBefore := srv.Head(t, "docs", "main")
	k8sBefore := srv.Head(t, "k8s-config", "main")
	trees := res.Repos(ws.Platform)
	trees[layout.RepoK8sConfig]["apps/extra/README.md"] = []byte("changed\n")
	trees[RepoDocs]["catalog/README.md"] = []byte("changed\n")
	bad := maps.Clone(urls)
	bad[layout.RepoInfra] = strings.Replace(url, "k8s-config", "no-such-repo", 1)
	out, err = Publish(context.Background(), ws.Platform, trees, Options{URLs: bad, Auth: auth, Parallel: true})
	if err == nil || !strings.Contains(err.Error(), "publish to infra") {
		t.Fatalf("publish with infra unreachable: %v, want its error", err)
	}
	if len(out) != 2 || out[0].Name != layout.RepoK8sConfig || out[1].Name != layout.RepoKubeflowConfig {
		t.Errorf("results %+v, want k8s-config and kubeflow-config", out)
	}
	if srv.Head(t, "k8s-config", "main") == k8sBefore {
		t.Error("k8s-config did not get its commit")
	}
	if srv.Head(t, "docs", "main") != docsBefore {
		t.Error("the catalog was pushed although a repo failed")
	}
}

// fourRepos is the example workspace, built, with its config repos and
// docs on a git server.
func fourRepos(t *testing.T) (*gittest.Server, *spec.Workspace, *build.Result, map[string]string, gitops.Auth) {
	t.Helper()
	srv := gittest.Start(t)
	url := srv.CreateRepo(t, "k8s-config")
	srv.CreateRepo(t, "infra")
	srv.CreateRepo(t, "kubeflow-config")
	docsURL := srv.CreateRepo(t, "docs")
	user, pass := srv.Credentials()
	urls := map[string]string{
		layout.RepoK8sConfig:      url,
		layout.RepoInfra:          strings.Replace(url, "k8s-config", "infra", 1),
		layout.RepoKubeflowConfig: strings.Replace(url, "k8s-config", "kubeflow-config", 1),
		RepoDocs:                  docsURL,
	}
	ws, res := buildFor(t, exampleFS(t), urls)
	return srv, ws, res, urls, gitops.Auth{Username: user, Password: pass}
}

// buildFor loads the workspace of fsys, points its repos at urls and
// builds it.
func buildFor(t *testing.T, fsys fs.FS, urls map[string]string) (*spec.Workspace, *build.Result) {
	t.Helper()
	ws, err := workspace.Load(fsys, "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := OverrideURLs(ws.Platform, urls); err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ws, res
}

// TestReleaseDeployedBeforeDocs: Release tells Deployed of the config
// repos once they are pushed and before the catalog goes to docs (dmls
// serve answers its jobs there), then pushes the catalog, and returns
// every repo's result.
func TestReleaseDeployedBeforeDocs(t *testing.T) {
	srv, ws, res, urls, auth := fourRepos(t)
	docsBefore := srv.Head(t, "docs", "main")
	var deployed []string
	calls := 0
	out, err := Release(context.Background(), ws.Platform, res, ReleaseOptions{
		Options: Options{URLs: urls, Auth: auth, Parallel: true, SourceCommit: "0123456789abcdef"},
		Deployed: func(results []Result, err error) {
			calls++
			if err != nil {
				t.Errorf("Deployed got %v", err)
			}
			for _, r := range results {
				deployed = append(deployed, r.Name)
				if r.Commit == "" || srv.Head(t, r.Name, "main") != r.Commit {
					t.Errorf("Deployed: %s is not at its commit %q", r.Name, r.Commit)
				}
			}
			if srv.Head(t, "docs", "main") != docsBefore {
				t.Error("the catalog was pushed before Deployed")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || strings.Join(deployed, " ") != "infra k8s-config kubeflow-config" {
		t.Errorf("Deployed called %d times with %q, want once with the three config repos", calls, deployed)
	}
	if n := len(out); n != 4 || out[3].Name != RepoDocs || out[3].Commit == "" || srv.Head(t, "docs", "main") != out[3].Commit {
		t.Errorf("results %+v, want the config repos and then docs at its new commit", out)
	}
}
