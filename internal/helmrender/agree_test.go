package helmrender

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/dmls-project/dmls/internal/spec"
)

// helmTemplate renders c with Helm's own action.Install, as `helm
// template --include-crds` does: the client dry-run strategy, no cluster,
// no DNS lookups. It returns the manifest and the hooks as render does.
func helmTemplate(c *chart.Chart, name, namespace string, vals map[string]any) (string, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	in.IncludeCRDs = true
	in.Replace = true
	in.DisableOpenAPIValidation = true
	in.EnableDNS = false
	in.ReleaseName = name
	in.Namespace = namespace
	kv := KubeVersion
	in.KubeVersion = &kv
	r, err := in.Run(c, vals)
	if err != nil {
		return "", err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return "", fmt.Errorf("helm returned a %T release", r)
	}
	out := rel.Manifest
	for _, h := range rel.Hooks {
		out += fmt.Sprintf("\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return out, nil
}

// TestRenderAgreesWithHelm holds install, dmls's expression of Helm's
// action.Install, to the action itself: the same manifest, hooks and
// order, or the same error, for charts with CRDs, a subchart, hooks of
// several weights, notes, a values schema, a kubeVersion constraint, a bad
// release name and broken templates.
func TestRenderAgreesWithHelm(t *testing.T) {
	with := func(extra ...spec.ChartFile) Files {
		out := append(Files{}, readDemo(t)...)
		for _, e := range extra {
			replaced := false
			for i, f := range out {
				if f.Name == e.Name {
					out[i], replaced = e, true
				}
			}
			if !replaced {
				out = append(out, e)
			}
		}
		return out
	}
	file := func(name, data string) spec.ChartFile { return spec.ChartFile{Name: name, Data: []byte(data)} }
	hook := func(kind, name, event, weight string) string {
		return "apiVersion: v1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n  annotations:\n    helm.sh/hook: " + event +
			"\n    helm.sh/hook-weight: \"" + weight + "\"\n"
	}
	schema := `{"type": "object", "properties": {"replicas": {"type": "integer"}}}`
	tests := []struct {
		name    string
		files   Files
		release string
		values  map[string]any
		wantErr bool
		// want is in Helm's output: the case tests what it says.
		want []string
	}{
		{name: "demo", files: readDemo(t), values: demoValues},
		{name: "hooks and notes", files: with(
			file("templates/hooks.yaml", hook("ConfigMap", "late", "post-install", "5")+"---\n"+hook("ConfigMap", "early", "pre-install", "-1")+"---\n"+hook("Secret", "both", "pre-install,post-install", "0")),
			file("templates/more.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n---\n# only a comment\n"),
			file("charts/metrics/templates/NOTES.txt", "metrics notes {{ .Release.Name }}\n"),
		), values: demoValues, want: []string{"name: early", "name: late", "name: both", "kind: Namespace", "kind: ClusterRole"}},
		{name: "values schema holds", files: with(file("values.schema.json", schema)), values: demoValues},
		{name: "values schema refuses", files: with(file("values.schema.json", schema)), values: map[string]any{"image": map[string]any{"tag": "1"}, "replicas": "two"}, wantErr: true},
		{name: "kubeVersion refuses", files: with(file("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\nkubeVersion: \"<1.20.0\"\ndependencies:\n  - name: metrics\n    version: 0.1.0\n")), values: demoValues, wantErr: true},
		{name: "kubeVersion holds", files: with(file("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\nkubeVersion: \">=1.30.0-0\"\ndependencies:\n  - name: metrics\n    version: 0.1.0\n")), values: demoValues},
		{name: "disabled subchart", files: with(file("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies:\n  - name: metrics\n    version: 0.1.0\n    condition: metrics.enabled\n")),
			values: map[string]any{"image": map[string]any{"tag": "1"}, "metrics": map[string]any{"enabled": false}}},
		{name: "bad release name", files: readDemo(t), release: "Demo_1", values: demoValues, wantErr: true},
		{name: "required value", files: readDemo(t), values: map[string]any{}, wantErr: true},
		{name: "template error", files: with(file("templates/bad.yaml", "{{ .Values.nosuch.field }}\n")), values: demoValues, wantErr: true},
		{name: "broken YAML", files: with(file("templates/bad.yaml", "apiVersion: v1\nkind: [ConfigMap\n")), values: demoValues, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.release
			if name == "" {
				name = "demo"
			}
			load := func() *chart.Chart {
				c, err := Load(tt.files)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			ours, ourErr := render(load(), Options{Release: name, Namespace: "demo-system", Values: tt.values})
			theirs, theirErr := helmTemplate(load(), name, "demo-system", mustCopy(t, tt.values))
			if (theirErr != nil) != tt.wantErr {
				t.Fatalf("Helm: err = %v, want an error: %v; the case tests nothing", theirErr, tt.wantErr)
			}
			if theirErr != nil {
				if ourErr == nil || ourErr.Error() != "render chart demo: "+theirErr.Error() {
					t.Errorf("err = %v, want render chart demo: %v", ourErr, theirErr)
				}
				return
			}
			if ourErr != nil {
				t.Fatalf("err = %v; Helm renders it", ourErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(theirs, w) {
					t.Errorf("Helm's output lacks %q; the case tests nothing", w)
				}
			}
			if ours != theirs {
				t.Errorf("render differs from Helm's action.Install:\n--- ours\n%s\n--- Helm's\n%s", ours, theirs)
			}
		})
	}
}

func mustCopy(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	if v == nil {
		v = map[string]any{}
	}
	out, err := copyValues(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
