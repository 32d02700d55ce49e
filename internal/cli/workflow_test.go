package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/gittest"
)

const workflows = "../../.github"

// workflow is what the tests read of a GitHub Actions workflow.
type workflow struct {
	On          map[string]any    `json:"on"`
	Permissions map[string]string `json:"permissions"`
	Jobs        map[string]struct {
		Steps []struct {
			Uses string            `json:"uses"`
			Run  string            `json:"run"`
			With map[string]any    `json:"with"`
			Env  map[string]string `json:"env"`
		} `json:"steps"`
	} `json:"jobs"`
}

func readWorkflow(t *testing.T, name string) (workflow, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(workflows, "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// YAML 1.1 reads the key on as true.
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if w.On == nil {
		w.On, _ = raw["true"].(map[string]any)
	}
	return w, string(b)
}

// TestWorkflowsAreSafe checks what keeps fork pull requests away from
// secrets: the run of the pull request's code may only read, and the run
// that may write never runs it.
func TestWorkflowsAreSafe(t *testing.T) {
	pre, text := readWorkflow(t, "dmls-preview.yml")
	if _, ok := pre.On["pull_request"]; !ok || len(pre.On) != 1 {
		t.Errorf("dmls-preview.yml runs on %v, want pull_request only (never pull_request_target)", pre.On)
	}
	if len(pre.Permissions) != 1 || pre.Permissions["contents"] != "read" {
		t.Errorf("dmls-preview.yml has permissions %v, want contents: read only", pre.Permissions)
	}
	if strings.Contains(text, "secrets.") {
		t.Errorf("dmls-preview.yml uses a secret")
	}
	usesAction := false
	for _, j := range pre.Jobs {
		for _, s := range j.Steps {
			usesAction = usesAction || s.Uses == "./"
		}
	}
	if !usesAction {
		t.Errorf("dmls-preview.yml does not use the dmls action (uses: ./)")
	}
	// The action installs dmls and runs the preview script, with no secret.
	action, err := os.ReadFile(filepath.Join(workflows, "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".github/scripts/dmls-install.sh", ".github/scripts/dmls-preview.sh", "using: composite"} {
		if !strings.Contains(string(action), want) {
			t.Errorf("action.yml lacks %s", want)
		}
	}
	if strings.Contains(string(action), "secrets.") {
		t.Errorf("action.yml uses a secret")
	}

	com, text := readWorkflow(t, "dmls-preview-comment.yml")
	if _, ok := com.On["workflow_run"]; !ok || len(com.On) != 1 {
		t.Errorf("dmls-preview-comment.yml runs on %v, want workflow_run only", com.On)
	}
	if com.Permissions["pull-requests"] != "write" || com.Permissions["contents"] == "write" {
		t.Errorf("dmls-preview-comment.yml has permissions %v, want pull-requests: write and no contents: write", com.Permissions)
	}
	if strings.Contains(text, "secrets.") {
		t.Errorf("dmls-preview-comment.yml uses a secret beyond its own token")
	}
	var runs []string
	for _, j := range com.Jobs {
		for _, s := range j.Steps {
			if strings.HasPrefix(s.Uses, "actions/checkout") {
				if _, ok := s.With["ref"]; ok {
					t.Errorf("dmls-preview-comment.yml checks out %v: it must stay on the default branch", s.With["ref"])
				}
				if s.With["repository"] != nil {
					t.Errorf("dmls-preview-comment.yml checks out another repository")
				}
			}
			for _, bad := range []string{"go ", "make", "dmls ", "source ", "eval"} {
				if strings.Contains(s.Run, bad) {
					t.Errorf("dmls-preview-comment.yml runs %q: it must not run code from the pull request", s.Run)
				}
			}
			runs = append(runs, s.Run)
		}
	}
	if !strings.Contains(strings.Join(runs, "\n"), ".github/scripts/dmls-preview-comment.sh") {
		t.Errorf("dmls-preview-comment.yml does not run the comment script: %q", runs)
	}
}

// runScript runs one of the workflow scripts with bash in dir.
func runScript(t *testing.T, dir, name string, env ...string) (string, int) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(workflows, "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestWorkflowScripts runs the shell steps of both workflows as GitHub
// would: the preview on a repository built here, with the example
// workspace in a subfolder, then the comment against a local server that
// answers the few GitHub REST calls the script makes.
func TestWorkflowScripts(t *testing.T) {
	dmls, err := exec.LookPath("dmls") // the test binary, set up by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	l := gittest.NewLocal(t, t.TempDir())
	files := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue", "apps/fashion-mnist/app.cue", "apps/fashion-mnist/serving.cue", "apps/fashion-mnist/training.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		files["specs/"+p] = string(b)
	}
	l.Write(files)
	base := l.Commit("base")
	l.Write(map[string]string{"specs/apps/fashion-mnist/serving.cue": strings.Replace(files["specs/apps/fashion-mnist/serving.cue"], "canaryPercent: 10", "canaryPercent: 25", 1)})
	head := l.Commit("canary 25%")

	out := filepath.Join(t.TempDir(), "artifact")
	env := []string{"DMLS=" + dmls, "BASE_SHA=" + base, "HEAD_SHA=" + head, "PR_NUMBER=7", "DMLS_WORKSPACE=specs", "OUT=" + out}
	log, code := runScript(t, l.Dir, "dmls-preview.sh", env...)
	if code != 0 {
		t.Fatalf("dmls-preview.sh exit %d:\n%s", code, log)
	}
	md := read(t, out, "preview.md")
	if !strings.HasPrefix(md, "<!-- dmls-preview -->\n") || !strings.Contains(md, "| fashion-mnist/staging | canary 10%→25% (v1 → v2) |") {
		t.Fatalf("preview.md lacks the summary:\n%s", md)
	}
	if read(t, out, "pr-number") != "7\n" || read(t, out, "changes") != "yes\n" || read(t, out, "head-sha") != head+"\n" {
		t.Fatalf("artifact: pr-number %q, changes %q", read(t, out, "pr-number"), read(t, out, "changes"))
	}
	if log, code := runScript(t, l.Dir, "dmls-preview.sh", append(env, "PR_NUMBER=7;id")...); code != 2 || !strings.Contains(log, "PR_NUMBER must be a number") {
		t.Fatalf("a bad PR_NUMBER: exit %d:\n%s", code, log)
	}
	broken := filepath.Join(t.TempDir(), "broken")
	if log, code := runScript(t, l.Dir, "dmls-preview.sh", append(env, "BASE_SHA=nope", "OUT="+broken)...); code != 1 || read(t, broken, "changes") != "error\n" || !strings.Contains(read(t, broken, "preview.md"), "no such revision") {
		t.Fatalf("a failing diff: exit %d:\n%s", code, log)
	}

	gh := newFakeGitHub(t, "o/r", 7, head)
	cenv := []string{"GITHUB_TOKEN=t0ken", "REPO=o/r", "HEAD_SHA=" + head, "PREVIEW_DIR=" + out, "GITHUB_API_URL=" + gh.srv.URL}
	for run := 1; run <= 2; run++ {
		log, code := runScript(t, t.TempDir(), "dmls-preview-comment.sh", cenv...)
		if code != 0 {
			t.Fatalf("comment run %d: exit %d:\n%s", run, code, log)
		}
		mine := gh.bodies("github-actions[bot]")
		if len(mine) != 1 || mine[0] != md {
			t.Fatalf("after run %d the bot has %d comments, want exactly one holding preview.md:\n%s", run, len(mine), log)
		}
	}
	if n := gh.count("someone"); n != 1 {
		t.Fatalf("another user's comment was touched: %d left", n)
	}
	if gh.posts != 1 || gh.patches != 1 {
		t.Fatalf("posts %d, patches %d; want one of each", gh.posts, gh.patches)
	}
	// A preview of an older head: no comment.
	log, code = runScript(t, t.TempDir(), "dmls-preview-comment.sh", append(cenv, "HEAD_SHA="+base)...)
	if code != 0 || !strings.Contains(log, "not commenting") || gh.posts+gh.patches != 2 {
		t.Fatalf("a stale preview: exit %d, %d writes:\n%s", code, gh.posts+gh.patches, log)
	}
	// An artifact whose number is not a number: refused.
	if err := os.WriteFile(filepath.Join(out, "pr-number"), []byte("7/../../8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if log, code := runScript(t, t.TempDir(), "dmls-preview-comment.sh", cenv...); code != 1 || !strings.Contains(log, "not a number") {
		t.Fatalf("a forged pr-number: exit %d:\n%s", code, log)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeGitHub answers the REST calls of dmls-preview-comment.sh for one
// pull request, and checks their token.
type fakeGitHub struct {
	srv            *httptest.Server
	mu             sync.Mutex
	comments       []ghComment
	posts, patches int
}

type ghComment struct {
	ID   int    `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

func newFakeGitHub(t *testing.T, repo string, pr int, head string) *fakeGitHub {
	g := &fakeGitHub{}
	other := ghComment{ID: 1, Body: "<!-- dmls-preview -->\nsomeone else's"}
	other.User.Login = "someone"
	g.comments = append(g.comments, other)
	// Enough comments to need a second page.
	for i := 0; i < 120; i++ {
		c := ghComment{ID: 100 + i, Body: "lgtm"}
		c.User.Login = "github-actions[bot]"
		g.comments = append(g.comments, c)
	}
	prefix := fmt.Sprintf("/repos/%s", repo)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/pulls/{n}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("n") != strconv.Itoa(pr) {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"number": %d, "head": {"sha": %q}}`, pr, head)
	})
	mux.HandleFunc("GET "+prefix+"/issues/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		lo, hi := min(len(g.comments), (page-1)*per), min(len(g.comments), page*per)
		json.NewEncoder(w).Encode(g.comments[lo:hi])
	})
	mux.HandleFunc("POST "+prefix+"/issues/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		var c ghComment
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil || r.PathValue("n") != strconv.Itoa(pr) {
			http.Error(w, "bad request", 400)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		c.ID = 1000 + len(g.comments)
		c.User.Login = "github-actions[bot]"
		g.comments = append(g.comments, c)
		g.posts++
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(c)
	})
	mux.HandleFunc("PATCH "+prefix+"/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		var c ghComment
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		id, _ := strconv.Atoi(r.PathValue("id"))
		g.mu.Lock()
		defer g.mu.Unlock()
		for i := range g.comments {
			if g.comments[i].ID == id {
				g.comments[i].Body = c.Body
				g.patches++
				json.NewEncoder(w).Encode(g.comments[i])
				return
			}
		}
		http.NotFound(w, r)
	})
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// bodies are the bodies of login's comments that carry the marker.
func (g *fakeGitHub) bodies(login string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.comments {
		if c.User.Login == login && strings.HasPrefix(c.Body, "<!-- dmls-preview -->") {
			out = append(out, c.Body)
		}
	}
	return out
}

func (g *fakeGitHub) count(login string) int { return len(g.bodies(login)) }
