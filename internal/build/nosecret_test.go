package build

import (
	"bytes"
	"io/fs"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// secretsWorkspace uses every generator: training with volumes, serving,
// app and platform secrets, secret and config map references, the API
// server, three environments.
func secretsWorkspace() fs.FS { return os.DirFS("testdata/secrets") }

// TestNoGeneratorEmitsASecret is the guarantee of issue 8: whatever the
// specs say, no generator writes a Secret (its values would be in git).
// Secrets reach the cluster only through ExternalSecrets, or exist there
// already.
func TestNoGeneratorEmitsASecret(t *testing.T) {
	for name, ws := range map[string]func(t *testing.T) *spec.Workspace{
		"example": func(t *testing.T) *spec.Workspace { return loadExample(t) },
		"every feature": func(t *testing.T) *spec.Workspace {
			ws, err := workspace.Load(secretsWorkspace(), "ws", workspace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return ws
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := ws(t)
			res, err := Workspace(w, Options{})
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for repo, tree := range res.Repos(w.Platform) {
				for p, b := range tree {
					if !strings.HasSuffix(p, ".yaml") {
						continue
					}
					for _, doc := range bytes.Split(b, []byte("\n---\n")) {
						var x any
						if err := yaml.Unmarshal(doc, &x); err != nil {
							t.Fatalf("%s/%s: %v", repo, p, err)
						}
						m, ok := x.(map[string]any)
						if !ok {
							continue // a JSON 6902 patch: a list of operations
						}
						kind, _ := m["kind"].(string)
						apiVersion, _ := m["apiVersion"].(string)
						kinds[apiVersion+" "+kind]++
						if kind == "Secret" && (apiVersion == "v1" || apiVersion == "") {
							t.Errorf("%s/%s is a plain Secret", repo, p)
						}
					}
				}
			}
			for _, a := range res.Apps {
				for env, objs := range a.Objects {
					for _, o := range objs {
						if o.GetKind() == "Secret" && o.GroupVersionKind().Group == "" {
							t.Errorf("app %s in %s generates Secret %s", a.App.Name, env, o.GetName())
						}
						kinds[o.GetAPIVersion()+" "+o.GetKind()]++
					}
				}
			}
			if name == "every feature" && kinds["external-secrets.io/v1 ExternalSecret"] == 0 {
				t.Fatalf("no ExternalSecret generated; kinds: %v", kinds)
			}
			t.Logf("kinds: %v", kinds)
		})
	}
}
