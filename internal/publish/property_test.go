package publish

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestValidateImpliesPublish is the property test of issue 8, section 5:
// for generated workspaces with random names near every limit (and a
// little past them), either validate refuses the workspace at a spec
// position, or generate, render and publish into a real bare repo all
// succeed, and the repo passes git fsck and a clone with
// transfer.fsckObjects and receive.fsckObjects on.
func TestValidateImpliesPublish(t *testing.T) {
	const workspaces = 24
	srv := gittest.Start(t)
	valid, refused := 0, 0
	for i := range workspaces {
		rng := rand.New(rand.NewPCG(uint64(i), 8))
		fsys := randomWorkspace(rng)
		name := fmt.Sprintf("ws-%02d", i)
		ws, err := workspace.Load(fsys, name, workspace.Options{})
		if err == nil {
			var res *build.Result
			if res, err = build.Workspace(ws, build.Options{}); err == nil {
				valid++
				checkPublishes(t, srv, name, ws, res)
				continue
			}
		}
		var d diag.List
		if !errors.As(err, &d) {
			t.Errorf("%s: validate failed without findings: %v\n%s", name, err, dump(fsys))
			continue
		}
		t.Logf("%s refused: %s", name, d[0])
		for _, x := range d {
			if !strings.HasPrefix(x.Pos.File, name+"/") {
				t.Errorf("%s: a finding without a spec position: %s", name, x)
			}
		}
		refused++
	}
	t.Logf("%d workspaces valid and published, %d refused at a spec position", valid, refused)
	if valid < workspaces/3 || refused == 0 {
		t.Errorf("%d valid, %d refused: the generator no longer covers both sides of the limits", valid, refused)
	}
}

func checkPublishes(t *testing.T, srv *gittest.Server, name string, ws *spec.Workspace, res *build.Result) {
	t.Helper()
	// render: every overlay and platform folder builds.
	for _, a := range res.Apps {
		for _, in := range a.App.Envs {
			if _, err := kbuild.Build(a.Tree, layout.OverlayDir(a.App.Name, in.Env.Name)); err != nil {
				t.Errorf("%s: render %s in %s: %v", name, a.App.Name, in.Env.Name, err)
			}
		}
	}
	for _, env := range ws.Envs {
		if _, err := kbuild.Build(res.ArgoCD, layout.ArgoCDEnvDir(env.Name)); err != nil {
			t.Errorf("%s: render %s: %v", name, layout.ArgoCDEnvDir(env.Name), err)
		}
	}
	// publish into a real bare repo.
	srv.CreateRepo(t, name)
	url := srv.RepoURL(name)
	u, p := srv.Credentials()
	if err := OverrideURLs(ws.Platform, map[string]string{layout.RepoK8sConfig: url}); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(context.Background(), ws.Platform, res.Repos(ws.Platform), Options{
		URLs: map[string]string{layout.RepoK8sConfig: url}, Auth: gitops.Auth{Username: u, Password: p},
	}); err != nil {
		t.Errorf("%s: publish: %v", name, err)
		return
	}
	// git fsck, and a clone that checks every object.
	dir := srv.RepoDir(name)
	if out, err := exec.Command("git", "-C", dir, "fsck", "--strict", "--no-dangling").CombinedOutput(); err != nil {
		t.Errorf("%s: git fsck: %v\n%s", name, err, out)
	}
	clone := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("git", "-c", "transfer.fsckObjects=true", "-c", "fetch.fsckObjects=true", "-c", "receive.fsckObjects=true", "clone", "-q", dir, clone)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: git clone with fsckObjects: %v\n%s", name, err, out)
	}
}

// randomWorkspace makes a workspace of one to three environments and one
// to three apps with every feature, whose names are random and often
// within two characters of a limit, on either side.
func randomWorkspace(rng *rand.Rand) fstest.MapFS {
	letters := "abcdefghijklmnopqrstuvwxyz"
	word := func(n int) string {
		n = max(n, 1)
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		if n > 2 && rng.IntN(2) == 0 {
			b[n/2] = '-'
		}
		return string(b)
	}
	// near is within two of limit, and past it one time in forty.
	near := func(limit int) int {
		if rng.IntN(40) == 0 {
			return limit + 1
		}
		return limit - rng.IntN(3)
	}
	prefixes := []string{"", "k8s", ".github/dmls", "a.b/c-d", "x/.gitx", ".git", ".GIT.", "cfg/.gitmodules", "deep/er/path"}
	prefix := prefixes[rng.IntN(len(prefixes))]
	if rng.IntN(3) > 0 {
		prefix = prefixes[rng.IntN(5)] // mostly usable ones
	}
	fsys := fstest.MapFS{}
	put := func(p, s string) { fsys[p] = &fstest.MapFile{Data: []byte(s)} }
	team := word(near(12))
	put("platform.cue", fmt.Sprintf("name: %q\nteams: %q: {}\nrepos: \"k8s-config\": {url: \"https://git.example.com/k8s.git\", path: %q}\n", word(8), team, prefix))

	envs := []string{}
	longest := 0
	for range 1 + rng.IntN(3) {
		var e string
		switch rng.IntN(8) {
		case 0, 1:
			e = word(near(53)) // dmls-root-<env>
		case 2:
			e = []string{"shared", "bootstrap", "dmls-api", "dev", "prod", "staging"}[rng.IntN(6)]
		default:
			e = word(1 + rng.IntN(8))
		}
		if strings.HasSuffix(e, "-") || strings.HasPrefix(e, "-") {
			e = "e" + strings.Trim(e, "-") + "e"
		}
		envs = append(envs, e)
		longest = max(longest, len(e))
		put("overlays/"+e+".cue", fmt.Sprintf("order: %d\nnamespaces: %q: %q\n", len(envs), team, word(near(30))+"x"))
	}
	for a := range 1 + rng.IntN(3) {
		// <app>-<env>, the TFJob's pods <app>-r<run>-evaluator-<i>, the
		// canary route canary-<app>.
		limit := min(63-longest-1, 63-len("-evaluator-")-4-len("-r1"), 63-len("canary-"))
		app := strings.Trim(word(near(limit)), "-")
		if app == "" || app[0] < 'a' {
			app = "a" + app
		}
		app = fmt.Sprintf("%s%d", app[:len(app)-1], a)
		if app[0] >= '0' && app[0] <= '9' {
			app = "a" + app[1:]
		}
		var b strings.Builder
		fmt.Fprintf(&b, "name: %q\nteam: %q\n", app, team)
		fmt.Fprintf(&b, "labels: %q: %q\n", "tier", word(near(63)))
		fmt.Fprintf(&b, "training: {\n\timage: \"registry.example.com/trainer:1.0\"\n\trun: %d\n", 1+rng.IntN(3))
		fmt.Fprintf(&b, "\tvolumes: %q: {mountPath: \"/data\", create: size: \"1Gi\"}\n", strings.Trim(word(near(63-len(app)-1)-1), "-")+"v")
		b.WriteString("\treplicas: {worker: replicas: 2, evaluator: replicas: 1}\n}\n")
		rev := strings.Trim(word(near(63-len(app)-1)-1), "-") + "r"
		fmt.Fprintf(&b, "serving: {\n\timage: \"registry.example.com/model:1.0\"\n\trevision: %q\n", rev)
		fmt.Fprintf(&b, "\ttraffic: {stable: \"v1\", canaryPercent: 10, tags: %q: \"v1\"}\n}\n", word(near(63-len(app)-1)))
		put("apps/"+app+"/app.cue", b.String())
	}
	return fsys
}

func dump(fsys fstest.MapFS) string {
	var b strings.Builder
	for p, f := range fsys {
		fmt.Fprintf(&b, "-- %s --\n%s", p, f.Data)
	}
	return b.String()
}
