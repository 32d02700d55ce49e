package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

// credURL returns the URL of repo on g with user and password in it, as a
// careless user would give it.
func credURL(g *gittest.Server, user, password, repo string) string {
	return strings.Replace(g.RepoURL(repo), "http://", "http://"+user+":"+password+"@", 1)
}

// uniquePassword returns a password that appears nowhere unless dmls put it
// there.
func uniquePassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

// clearGitEnv makes the URL's credentials the only ones.
func clearGitEnv(t *testing.T) {
	for _, k := range []string{gitops.EnvToken, gitops.EnvUsername, gitops.EnvPassword, gitops.EnvSSHKeyFile,
		gitops.EnvSSHPassphrase, gitops.EnvCredentialFile, gitops.EnvInsecureHTTP, api.EnvTokens} {
		t.Setenv(k, "")
	}
}

// assertNoSecret fails if secret is in any object of any repo of g (every
// blob, tree and commit, reachable or not), in a ref, in the repos' config,
// or in any of texts.
func assertNoSecret(t *testing.T, g *gittest.Server, repos []string, secret string, texts map[string]string) {
	t.Helper()
	objects := 0
	for _, repo := range repos {
		all := g.Git(t, repo, "cat-file", "--batch-all-objects", "--batch")
		objects += strings.Count(all, "\n")
		if strings.Contains(all, secret) {
			for path, content := range g.Files(t, repo, "") {
				if strings.Contains(content, secret) {
					t.Errorf("repo %s: %s holds the password", repo, path)
				}
			}
			for _, m := range g.Messages(t, repo, "") {
				if strings.Contains(m, secret) {
					t.Errorf("repo %s: a commit message holds the password: %q", repo, m)
				}
			}
			t.Errorf("repo %s: an object holds the password", repo)
		}
		err := filepath.Walk(g.RepoDir(repo), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || strings.Contains(p, string(filepath.Separator)+"objects"+string(filepath.Separator)) {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), secret) {
				t.Errorf("repo %s: %s holds the password", repo, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if objects == 0 {
		t.Fatal("the repos hold no objects: nothing was checked")
	}
	for name, text := range texts {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds the password:\n%s", name, text)
		}
	}
}

// Issue 8, section 2: a password in a --repo URL or in platform.cue is used
// to connect, and reaches no committed file, commit message, output, log
// line or error.
func TestPublishKeepsURLCredentialsOutOfGit(t *testing.T) {
	clearGitEnv(t)
	pw := uniquePassword(t)
	g := gittest.Start(t, gittest.WithBasicAuth("bot", pw))
	for _, r := range []string{"k8s-config", "infra", "ml-model", "kubeflow-config", "docs"} {
		g.CreateRepo(t, r)
	}
	// A workspace whose platform.cue names every repo with the password.
	ws := credWorkspace(t, g, "bot", pw)
	texts := map[string]string{}

	// validate warns, at the URL's line, and does not fail.
	code, out, errOut := dmls(t, "validate", "-w", ws)
	if code != 0 || !strings.Contains(errOut, "warning: repos.k8s-config.url: the URL carries credentials; they belong in DMLS_GIT_TOKEN") ||
		!strings.Contains(errOut, "[credentials-in-url]") || !strings.Contains(errOut, "platform.cue:") {
		t.Errorf("validate: exit %d, stderr %q", code, errOut)
	}
	texts["validate stdout"], texts["validate stderr"] = out, errOut
	_, out, errOut = dmls(t, "validate", "-w", ws, "-o", "json")
	if !strings.Contains(out, `"rule": "credentials-in-url"`) {
		t.Errorf("validate -o json lists no warning: %s", out)
	}
	texts["validate json"], texts["validate json stderr"] = out, errOut

	// render and generate write no password.
	code, out, errOut = dmls(t, "render", "-w", ws)
	if code != 0 || !strings.Contains(out, "repoURL") && !strings.Contains(out, "--repo") {
		t.Errorf("render: exit %d: %s", code, errOut)
	}
	texts["render stdout"], texts["render stderr"] = out, errOut
	gen := filepath.Join(t.TempDir(), "gen")
	if code, _, errOut := dmls(t, "generate", "-w", ws, "--out", gen); code != 0 {
		t.Fatalf("generate: %s", errOut)
	}
	filepath.Walk(gen, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			texts["generated "+path] = string(b)
		}
		return nil
	})

	// publish connects with the URL's credentials: platform.cue's for
	// k8s-config, and --repo's, which carry them too, for ml-model.
	for i, args := range [][]string{
		{"publish", "-w", ws},
		{"publish", "-w", ws, "--dry-run", "-o", "json"},
		{"publish", "-w", ws, "-o", "yaml", "--repo", "k8s-config=" + credURL(g, "bot", pw, "k8s-config")},
	} {
		code, out, errOut := dmls(t, args...)
		if code != 0 {
			t.Fatalf("dmls %v: exit %d: %s", args, code, errOut)
		}
		texts[strings.Join(args[:3], " ")+" stdout "+string(rune('0'+i))] = out
		texts[strings.Join(args[:3], " ")+" stderr "+string(rune('0'+i))] = errOut
	}
	if g.CommitCount(t, "k8s-config", "") != 1 {
		t.Fatalf("k8s-config has %d commits, want 1", g.CommitCount(t, "k8s-config", ""))
	}
	files := g.Files(t, "k8s-config", "")
	if app := files["argocd/dev/application-fashion-mnist-dev.argocd.yaml"]; !strings.Contains(app, "repoURL: "+g.RepoURL("k8s-config")) {
		t.Errorf("the Application does not name the repo without credentials:\n%s", app)
	}
	if dep := files["platform/dmls-api/deployment-dmls-api.dmls-system.yaml"]; !strings.Contains(dep, "ml-model="+g.RepoURL("ml-model")) {
		t.Errorf("the API Deployment does not name ml-model without credentials:\n%s", dep)
	}

	// Errors name the repo without the password: a wrong password, a
	// missing repo, a bad scheme, a bad flag.
	for _, args := range [][]string{
		{"publish", "-w", ws, "--repo", "k8s-config=" + credURL(g, "bot", "wrong-"+pw, "k8s-config")},
		{"publish", "-w", ws, "--repo", "k8s-config=" + credURL(g, "bot", pw, "missing")},
		{"publish", "-w", ws, "--repo", "k8s-config=ftp://bot:" + pw + "@127.0.0.1/k8s-config.git"},
		{"publish", "-w", ws, "--repo", "http://bot:" + pw + "@127.0.0.1/x.git"},
		{"publish", "-w", ws, "--repo", "nosuch=" + credURL(g, "bot", pw, "k8s-config")},
	} {
		code, out, errOut := dmls(t, args...)
		if code == 0 {
			t.Errorf("dmls %v succeeded", args)
		}
		texts["error stdout "+args[4]] = out
		texts["error stderr "+args[4]] = errOut
	}
	assertNoSecret(t, g, []string{"k8s-config", "infra", "ml-model", "kubeflow-config", "docs"}, pw, texts)
}

// Issue 8, section 2, through dmls serve: --repo URLs with a password; every
// submission, answer, error and log line, and every object of every repo,
// is free of it.
func TestServeKeepsURLCredentialsOutOfGit(t *testing.T) {
	clearGitEnv(t)
	pw := uniquePassword(t)
	g := gittest.Start(t, gittest.WithBasicAuth("bot", pw))
	g.CreateRepo(t, "ml-model")
	g.CreateRepo(t, "k8s-config")
	g.CreateRepo(t, "kubeflow-config")
	g.CreateRepo(t, "docs")
	files := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	// The submitted jobs set no requests and limits; prod's
	// policy.resources reports them instead of refusing them here.
	files["overlays/prod.cue"] = strings.Replace(files["overlays/prod.cue"], `resources:          "error"`, `resources:          "warn"`, 1)
	g.Push(t, "ml-model", gittest.Change{Files: files, Message: "seed"})

	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(cliTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	serveListening = func(a string) { addr <- a }
	t.Cleanup(func() {
		serveContext = func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
		serveListening = func(string) {}
	})
	stderr := &lockedWriter{}
	stdout := &lockedWriter{}
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--listen", "127.0.0.1:0", "--tokens", tokens, "-w", t.TempDir(),
			"--repo", "ml-model=" + credURL(g, "bot", pw, "ml-model"),
			"--repo", "k8s-config=" + credURL(g, "bot", pw, "k8s-config"),
			"--repo", "kubeflow-config=" + credURL(g, "bot", pw, "kubeflow-config"),
			"--repo", "docs=" + credURL(g, "bot", pw, "docs")}, stdout, stderr)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dmls serve not ready: %s", stderr.String())
		}
	}
	t.Setenv(envServer, base)
	t.Setenv(envToken, cliToken)
	texts := map[string]string{}
	steps := []struct {
		args []string
		ok   bool
	}{
		{[]string{"submit", "-f", writeFile(t, `{"name":"svc","serving":{"image":"registry.example.com/svc:1.0"}}`), "-o", "json"}, true},
		{[]string{"submit", "-f", writeFile(t, `{"name":"mnist","training":{"image":"registry.example.com/t:1.0","replicas":{"worker":{"replicas":2}}}}`)}, true},
		{[]string{"retrain", "mnist"}, true},
		{[]string{"set", "mnist", "--replicas", "worker=3"}, true},
		{[]string{"get", "tj", "mnist", "-o", "json"}, true},
		{[]string{"list", "modelservices", "-o", "json"}, true},
		{[]string{"set", "mnist", "--replicas", "worker=0"}, false},
		{[]string{"get", "tj", "nosuch"}, false},
		{[]string{"delete", "modelservice", "svc"}, true},
	}
	for i, st := range steps {
		code, out, errOut := dmls(t, st.args...)
		if (code == 0) != st.ok {
			t.Errorf("dmls %v: exit %d: %s %s", st.args, code, out, errOut)
		}
		texts["answer "+string(rune('a'+i))] = out + errOut
	}
	for _, path := range []string{"/readyz", "/healthz", "/openapi.json", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		texts[path] = string(b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}
	log := stderr.String()
	if !strings.Contains(log, "dmls: warning: --repo k8s-config: the URL carries credentials") {
		t.Errorf("serve does not warn of the credentials in --repo:\n%s", log)
	}
	if !strings.Contains(log, `"ml_model":"`+g.RepoURL("ml-model")+`"`) {
		t.Errorf("the log does not name ml-model without credentials:\n%s", log)
	}
	texts["serve log"], texts["serve stdout"] = log, stdout.String()
	if g.CommitCount(t, "k8s-config", "") < 2 || g.CommitCount(t, "ml-model", "") < 4 || g.CommitCount(t, "docs", "") < 1 {
		t.Fatalf("too few commits: k8s-config %d, ml-model %d, docs %d", g.CommitCount(t, "k8s-config", ""), g.CommitCount(t, "ml-model", ""), g.CommitCount(t, "docs", ""))
	}
	assertNoSecret(t, g, []string{"ml-model", "k8s-config", "docs"}, pw, texts)
	files = g.Files(t, "k8s-config", "")
	if app := files["argocd/dev/application-mnist-dev.argocd.yaml"]; !strings.Contains(app, "repoURL: "+g.RepoURL("k8s-config")) {
		t.Errorf("the Application does not name the repo without credentials:\n%s", app)
	}
}

// credWorkspace returns a copy of the bundled example whose platform.cue
// names every repo on g with user and password in its URL.
func credWorkspace(t *testing.T, g *gittest.Server, user, password string) string {
	t.Helper()
	ws := t.TempDir()
	copyWorkspace(t, ws)
	platform, err := os.ReadFile(filepath.Join(ws, "platform.cue"))
	if err != nil {
		t.Fatal(err)
	}
	p := string(platform)
	for _, r := range []string{"k8s-config", "infra", "ml-model", "kubeflow-config", "docs"} {
		p = strings.Replace(p, "https://git.example.com/dmls/"+r+"-repo.git", credURL(g, user, password, r), 1)
	}
	if !strings.Contains(p, user) || !strings.Contains(p, password) {
		t.Fatal("the credentials did not get into platform.cue")
	}
	if err := os.WriteFile(filepath.Join(ws, "platform.cue"), []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	return ws
}

// copyWorkspace copies the bundled example workspace into dir.
func copyWorkspace(t *testing.T, dir string) {
	t.Helper()
	root := filepath.Join("..", "..")
	for _, p := range []string{"platform.cue", "overlays", "apps", "charts"} {
		err := filepath.Walk(filepath.Join(root, p), func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if info.IsDir() {
				return os.MkdirAll(filepath.Join(dir, rel), 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Issue 18, section 1: a token as the user name beside a password
// (GitHub's documented http://ghp_…:x-oauth-basic@host form) was kept
// by the error scrubber, so that dmls publish printed it once the git
// server was down. Nothing dmls writes or prints holds it: the commits,
// the rendered files, the dmls-api Deployment's args, the cache, and
// publish's output and errors, with the server up and down.
func TestPublishTokenAsUserName(t *testing.T) {
	clearGitEnv(t)
	secret := "ghp_" + uniquePassword(t)
	root := t.TempDir()
	g, err := gittest.Listen("127.0.0.1:0", root, gittest.WithBasicAuth(secret, "x-oauth-basic"))
	if err != nil {
		t.Fatal(err)
	}
	repos := []string{"k8s-config", "infra", "ml-model", "kubeflow-config", "docs"}
	for _, r := range repos {
		g.CreateRepo(t, r)
	}
	ws := credWorkspace(t, g, secret, "x-oauth-basic")
	cache := t.TempDir()
	texts := map[string]string{}
	code, out, errOut := dmls(t, "publish", "-w", ws)
	if code != 0 {
		t.Fatalf("publish while git is up: exit %d: %s", code, errOut)
	}
	texts["publish stdout"], texts["publish stderr"] = out, errOut
	if dep := g.Files(t, "k8s-config", "")["platform/dmls-api/deployment-dmls-api.dmls-system.yaml"]; !strings.Contains(dep, "ml-model="+g.RepoURL("ml-model")) {
		t.Errorf("the dmls-api Deployment does not name ml-model without the token:\n%s", dep)
	}
	gen := filepath.Join(t.TempDir(), "gen")
	if code, _, errOut := dmls(t, "generate", "-w", ws, "--out", gen, "--cache-dir", cache); code != 0 {
		t.Fatalf("generate: %s", errOut)
	}
	for _, dir := range []string{gen, cache} {
		_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(path)
				texts[path] = string(b)
			}
			return nil
		})
	}

	// The git server goes down: publish fails and says which server.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"publish", "-w", ws},
		{"publish", "-w", ws, "--dry-run", "-o", "json"},
	} {
		code, out, errOut := dmls(t, args...)
		if code == 0 || !strings.Contains(errOut, "127.0.0.1") {
			t.Errorf("dmls %v while git is down: exit %d, stderr %q; want a failure naming the server", args, code, errOut)
		}
		texts[strings.Join(args, " ")+" stdout"], texts[strings.Join(args, " ")+" stderr"] = out, errOut
	}
	g2, err := gittest.Listen("127.0.0.1:0", root, gittest.WithBasicAuth(secret, "x-oauth-basic"))
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	assertNoSecret(t, g2, repos, secret, texts)
}
