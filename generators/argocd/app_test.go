package argocd

import (
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/layout"
)

// treeObjects parses every object file of the tree, as the repo-server
// would read it, keyed by file path.
func treeObjects(t *testing.T, tree generators.Tree) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for p, b := range tree {
		if path.Base(p) == layout.KustomizationFile {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[p] = m
	}
	return out
}

func get(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestSyncPolicyShape reads every Application file back and checks the
// sync policy where Argo CD looks for it: automated holds prune and
// selfHeal only, syncOptions are its sibling, and retry backs off.
func TestSyncPolicyShape(t *testing.T) {
	tree, err := Tree(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for file, obj := range treeObjects(t, tree) {
		if obj["kind"] != "Application" {
			continue
		}
		n++
		sp, ok := get(obj, "spec", "syncPolicy").(map[string]any)
		if !ok {
			t.Errorf("%s: no spec.syncPolicy", file)
			continue
		}
		wantAutomated := map[string]any{"prune": true, "selfHeal": true}
		if got := sp["automated"]; !reflect.DeepEqual(got, wantAutomated) {
			t.Errorf("%s: syncPolicy.automated = %v, want exactly %v (syncOptions belong beside it)", file, got, wantAutomated)
		}
		opts := strs(sp["syncOptions"])
		for _, want := range []string{"ServerSideApply=true", "ApplyOutOfSyncOnly=true"} {
			if !slices.Contains(opts, want) {
				t.Errorf("%s: syncPolicy.syncOptions %v lack %s", file, opts, want)
			}
		}
		if slices.Contains(opts, "CreateNamespace=true") {
			t.Errorf("%s: CreateNamespace=true, but namespaces come from platform-<env>", file)
		}
		// For custom resources Argo CD would copy whole lists from live
		// (argoproj/argo-cd#17694), and git's containers would never apply.
		if slices.Contains(opts, "RespectIgnoreDifferences=true") {
			for _, ig := range asList(get(obj, "spec", "ignoreDifferences")) {
				if k, _ := ig.(map[string]any)["kind"].(string); k == "Service" || k == "InferenceService" {
					t.Errorf("%s: RespectIgnoreDifferences=true freezes the Knative containers list", file)
				}
			}
		}
		wantRetry := map[string]any{
			"limit":   float64(5),
			"backoff": map[string]any{"duration": "5s", "factor": float64(2), "maxDuration": "3m"},
		}
		if got := sp["retry"]; !reflect.DeepEqual(got, wantRetry) {
			t.Errorf("%s: syncPolicy.retry = %v, want %v", file, got, wantRetry)
		}
	}
	if n != 8 {
		t.Errorf("checked %d Applications, want 8 (3 apps, 2 platform, 2 env roots, 1 bootstrap root)", n)
	}
}

// TestPathsMatchLayout checks that each Application reads the folder the
// other generators write: app overlays (layout.OverlayDir), platform
// folders, and the roots' folders in this tree, all under the path prefix.
func TestPathsMatchLayout(t *testing.T) {
	in := fixtureInput(t)
	prefix := in.Platform.Repos["k8s-config"].Path
	tree, err := Tree(in)
	if err != nil {
		t.Fatal(err)
	}
	// The app trees as the build lays them out.
	layouts := generators.Tree{}
	byApp := map[string]*kustomize.App{}
	for _, a := range in.Apps {
		k := byApp[a.Name]
		if k == nil {
			k = &kustomize.App{Name: a.Name, Base: a.Objects}
			byApp[a.Name] = k
		}
		k.Overlays = append(k.Overlays, kustomize.Overlay{Env: a.Env, Namespace: "ns-" + a.Env, Objects: a.Objects})
	}
	for _, k := range byApp {
		lt, err := kustomize.Layout(*k)
		if err != nil {
			t.Fatal(err)
		}
		layouts.Add("", lt)
	}
	exists := func(dir string) bool {
		_, inLayout := layouts[dir+"/"+layout.KustomizationFile]
		_, inTree := tree[dir+"/"+layout.KustomizationFile]
		return inLayout || inTree
	}
	seen := 0
	for file, obj := range treeObjects(t, tree) {
		if obj["kind"] != "Application" {
			continue
		}
		name, _ := get(obj, "metadata", "name").(string)
		labels, _ := get(obj, "metadata", "labels").(map[string]any)
		env, _ := labels["dmls.dev/env"].(string)
		app, _ := labels["dmls.dev/app"].(string)
		var want string
		switch {
		case app != "":
			want = layout.OverlayDir(app, env)
		case name == PlatformApplicationName(env):
			want = platformDir(env)
		case name == EnvRootName(env):
			want = layout.ArgoCDEnvDir(env)
		case name == RootName:
			want = SharedDir
		default:
			t.Errorf("%s: unexpected Application %s", file, name)
			continue
		}
		got, _ := get(obj, "spec", "source", "path").(string)
		if got != path.Join(prefix, want) {
			t.Errorf("%s: source.path = %q, want %q", file, got, path.Join(prefix, want))
		}
		if !strings.HasPrefix(want, "platform/") && !exists(want) {
			t.Errorf("%s: source.path %q has no kustomization in the generated trees", file, want)
		}
		if get(obj, "spec", "source", "repoURL") != "https://git.example.com/dmls/k8s-config.git" || get(obj, "spec", "source", "targetRevision") != "main" {
			t.Errorf("%s: source = %v, want the k8s-config repo at main", file, get(obj, "spec", "source"))
		}
		seen++
	}
	if seen != 8 {
		t.Errorf("checked %d Applications, want 8", seen)
	}
}

// TestPathsWithoutPrefix checks an empty path prefix gives paths from the
// repo root, not "/apps/...".
func TestPathsWithoutPrefix(t *testing.T) {
	in := fixtureInput(t)
	r := in.Platform.Repos["k8s-config"]
	r.Path = ""
	in.Platform.Repos["k8s-config"] = r
	tree, err := Tree(in)
	if err != nil {
		t.Fatal(err)
	}
	obj := treeObjects(t, tree)["argocd/dev/application-fashion-mnist-dev.argocd.yaml"]
	if got := get(obj, "spec", "source", "path"); got != "apps/fashion-mnist/overlays/dev" {
		t.Errorf("source.path = %v, want apps/fashion-mnist/overlays/dev", got)
	}
}

// TestTreeBuilds runs kustomize on each folder of the tree and checks it
// renders every object file the folder holds.
func TestTreeBuilds(t *testing.T) {
	tree, err := Tree(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{BootstrapDir: 2, SharedDir: 6, layout.ArgoCDEnvDir("dev"): 3, layout.ArgoCDEnvDir("prod"): 2}
	for dir, n := range want {
		out, err := kbuild.Build(tree, dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if got := len(strings.Split(string(out), "\n---\n")); got != n {
			t.Errorf("%s renders %d objects, want %d", dir, got, n)
		}
	}
	dirs := map[string]bool{}
	for p := range tree {
		dirs[path.Dir(p)] = true
	}
	if len(dirs) != len(want) {
		t.Errorf("tree has folders %v, want %v", dirs, want)
	}
}

// TestTreeDeterministic checks two runs give the same bytes.
func TestTreeDeterministic(t *testing.T) {
	a, err := Tree(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Tree(fixtureInput(t))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatal("two runs over the same input differ")
		}
	}
}

// TestApplicationsRejectBadApps covers app input Applications refuses.
func TestApplicationsRejectBadApps(t *testing.T) {
	tests := []struct {
		name    string
		app     App
		wantErr string
	}{
		{name: "fine", app: App{Name: "ok", Team: "ml-serving", Env: "dev"}},
		{name: "other environment is skipped", app: App{Name: "ok", Team: "nobody", Env: "prod"}},
		{name: "unknown team", app: App{Name: "x", Team: "nobody", Env: "dev"}, wantErr: `app x: unknown team "nobody"`},
		{name: "collides with platform-dev", app: App{Name: "platform", Team: "ml-serving", Env: "dev"}, wantErr: `"platform-dev" has the same name as the platform Application`},
		// Issue 19: Argo CD 3 tracks resources by annotation, so an
		// Application name is not a label value and may pass 63 characters.
		{name: "name past 63 characters", app: App{Name: strings.Repeat("a", 60), Team: "ml-serving", Env: "dev"}},
		{name: "name too long", app: App{Name: strings.Repeat("a", 250), Team: "ml-serving", Env: "dev"}, wantErr: "more than the 253 of an object name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fixturePlatform()
			src, _ := SourceOf(p)
			_, err := Applications(p, fixtureEnvs()[0], src, "platform/dev", []App{tt.app})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestTreeRejectsNameClashes covers Application names that clash across
// folders: they all live in Argo CD's namespace.
func TestTreeRejectsNameClashes(t *testing.T) {
	tests := []struct {
		name    string
		app     App
		wantErr string
	}{
		{name: "fine", app: App{Name: "ok", Team: "ml-serving", Env: "dev"}},
		{name: "app named dmls-root", app: App{Name: "dmls-root", Team: "ml-serving", Env: "dev"}, wantErr: "Application dmls-root-dev is generated in both argocd/shared and argocd/dev"},
		{name: "unknown environment", app: App{Name: "ok", Team: "ml-serving", Env: "qa"}, wantErr: `app ok: unknown environment "qa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixtureInput(t)
			in.Apps = append(in.Apps, tt.app)
			_, err := Tree(in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
