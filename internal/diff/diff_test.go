package diff

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// ksvcHead starts Knative Service m of namespace t-prod, up to its
// template's name.
const ksvcHead = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: m
  namespace: t-prod
spec:
  template:
    metadata:
`

func service(canary int, extra string) string {
	return ksvcHead + fmt.Sprintf(`      name: m-v2
    spec:
      containers:
      - image: serve:1%s
  traffic:
  - percent: %d
    revisionName: m-v1
    tag: stable
  - percent: %d
    revisionName: m-v2
    tag: canary
`, extra, 100-canary, canary)
}

const argoApp = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: m-prod
  namespace: argocd
  annotations: {argocd.argoproj.io/sync-wave: "0"}
  labels: {dmls.dev/app: m, dmls.dev/env: prod}
spec:
  project: t
  source: {path: apps/m/overlays/prod}
  ignoreDifferences:
  - group: serving.knative.dev
    kind: Service
    name: m
    jsonPointers: [/spec/template/spec/timeoutSeconds]
`

func sides(base, head string) (*Side, *Side) {
	mk := func(rev, y string) *Side {
		return &Side{Rev: rev, Envs: []string{"dev", "prod"}, Units: []Unit{
			{Key: "prod/m", Kind: KindApp, Env: "prod", App: "m", Title: "m/prod", Source: "apps/m/overlays/prod", YAML: []byte(y)},
			{Key: "_argocd/prod", Kind: KindArgoCD, Env: "prod", Title: "prod Argo CD", Source: "argocd/prod", YAML: []byte(argoApp)},
		}}
	}
	return mk("base", base), mk("head", head)
}

func TestCompare(t *testing.T) {
	pvc := "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: t-prod}\nspec: {resources: {requests: {storage: 1Gi}}}\n"
	tests := []struct {
		name        string
		base, head  string
		wantSummary []string
		wantRisks   []string
		wantChanged bool
	}{
		{name: "same objects in another order", base: service(10, "") + "---\n" + pvc, head: pvc + "---\n" + service(10, ""), wantSummary: []string{}},
		{name: "canary step", base: service(10, ""), head: service(25, ""), wantChanged: true,
			wantSummary: []string{"m/prod: canary 10%→25% (v1 → v2)"}},
		{name: "canary jump", base: service(10, ""), head: service(80, ""), wantChanged: true,
			wantSummary: []string{"m/prod: canary 10%→80% (v1 → v2)"},
			wantRisks:   []string{"m/prod: canary jumps 10%→80% (70 points in one step)"}},
		{name: "PVC deleted", base: service(10, "") + "---\n" + pvc, head: service(10, ""), wantChanged: true,
			wantSummary: []string{"m/prod: volume claim data removed"},
			wantRisks:   []string{"m/prod: PersistentVolumeClaim data is deleted, and its data with it"}},
		{name: "ignored field only", base: service(10, ""), head: service(10, "\n        timeoutSeconds: 30"), wantChanged: true,
			wantSummary: []string{"m/prod: Service m changed"}},
		// Knative refuses a changed template under the old revision name
		// on update only: each side alone is valid.
		{name: "new image, same revision name", base: service(10, ""), head: strings.Replace(service(10, ""), "serve:1", "serve:2", 1), wantChanged: true,
			wantSummary: []string{"m/prod: serving image serve:1 → serve:2"},
			wantRisks:   []string{"m/prod: Knative will refuse this update of Service t-prod/m: spec.template.metadata.name: Saw the following changes without a name change (-old +new): {*v1.RevisionTemplateSpec}.Spec.PodSpec.Containers[0].Image; give serving.revision a new name, or keep the template as it was"}},
		{name: "new image, new revision name", base: service(10, ""), head: strings.NewReplacer("serve:1", "serve:2", "name: m-v2", "name: m-v3", "revisionName: m-v2", "revisionName: m-v3").Replace(service(10, "")), wantChanged: true,
			wantSummary: []string{"m/prod: canary at 10%: v1 → v2 now v1 → v3, new revision v3 (was v2), serving image serve:1 → serve:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, h := sides(tt.base, tt.head)
			r, err := Compare(b, h, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed() != tt.wantChanged {
				t.Fatalf("Changed() = %v, want %v: %+v", r.Changed(), tt.wantChanged, r.Units)
			}
			if got := strs(r.Summary); strings.Join(got, "\n") != strings.Join(tt.wantSummary, "\n") {
				t.Errorf("summary = %q, want %q", got, tt.wantSummary)
			}
			if got := strs(r.Risks); strings.Join(got, "\n") != strings.Join(tt.wantRisks, "\n") {
				t.Errorf("risks = %q, want %q", got, tt.wantRisks)
			}
		})
	}
}

func TestIgnoredFields(t *testing.T) {
	b, h := sides(service(10, ""), service(10, "\n        timeoutSeconds: 30"))
	r, err := Compare(b, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Units[0].Objects[0]
	// timeoutSeconds sits in the container here, which the rule does not
	// cover: Argo CD sees the change.
	if o.AllIgnored {
		t.Fatalf("a field outside ignoreDifferences is marked ignored: %v", o.Ignored)
	}
	b, h = sides(service(10, ""), strings.Replace(service(10, ""), "    spec:\n      containers:", "    spec:\n      timeoutSeconds: 30\n      containers:", 1))
	r, err = Compare(b, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o = r.Units[0].Objects[0]
	if !o.AllIgnored || strings.Join(o.Ignored, ",") != "/spec/template/spec/timeoutSeconds" {
		t.Fatalf("ignored = %v (all: %v), want /spec/template/spec/timeoutSeconds", o.Ignored, o.AllIgnored)
	}
	if len(r.ArgoCD) != 0 {
		t.Fatalf("Argo CD would sync an ignored change: %+v", r.ArgoCD)
	}
	var out bytes.Buffer
	if err := Text(&out, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "every changed field is ignored by Argo CD: /spec/template/spec/timeoutSeconds") {
		t.Fatalf("text does not mark the ignored field:\n%s", out.String())
	}
}

func TestGPUBeyondQuota(t *testing.T) {
	quota := func(gpu int) Unit {
		return Unit{Key: "prod/_platform", Kind: KindPlatform, Env: "prod", Title: "prod platform", YAML: []byte(fmt.Sprintf(
			"apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: t-prod, labels: {dmls.dev/team: t, dmls.dev/env: prod}}\nspec: {hard: {requests.nvidia.com/gpu: \"%d\"}}\n", gpu))}
	}
	b := &Side{Envs: []string{"prod"}, Units: []Unit{quota(4)}, GPU: map[string]int{"t-prod": 4}}
	h := &Side{Envs: []string{"prod"}, Units: []Unit{quota(4)}, GPU: map[string]int{"t-prod": 6}}
	r, err := Compare(b, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strs(r.Risks); len(got) != 1 || got[0] != "t/prod quota: GPU requests 4→6 exceed the quota of 4" {
		t.Fatalf("risks = %q", got)
	}
	h.GPU["t-prod"] = 4
	if r, _ = Compare(b, h, Options{}); len(r.Risks) != 0 {
		t.Fatalf("risks within the quota: %q", strs(r.Risks))
	}
}

// TestMarkdownLimit checks that a huge change still fits in one comment.
func TestMarkdownLimit(t *testing.T) {
	var b, h strings.Builder
	for i := range 400 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d, namespace: t-prod}\ndata:\n", i)
		fmt.Fprintf(&h, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d, namespace: t-prod}\ndata:\n", i)
		for j := range 20 {
			fmt.Fprintf(&b, "  k%d: old\n", j)
			fmt.Fprintf(&h, "  k%d: new-%d\n", j, i)
		}
	}
	bs, hs := sides(b.String(), h.String())
	r, err := Compare(bs, hs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var full, cut bytes.Buffer
	Markdown(&full, r, 1<<30)
	if full.Len() <= CommentLimit {
		t.Fatalf("test input too small: %d", full.Len())
	}
	if err := Markdown(&cut, r, CommentLimit); err != nil {
		t.Fatal(err)
	}
	if cut.Len() > CommentLimit {
		t.Fatalf("markdown is %d characters, over the limit", cut.Len())
	}
	if !strings.Contains(cut.String(), "65,536-character comment limit") || !strings.Contains(cut.String(), "left out to stay under the comment limit") {
		t.Fatalf("truncated markdown does not say so")
	}
	if !strings.Contains(cut.String(), "```diff") {
		t.Fatalf("every diff was cut, though some fit")
	}
}

func strs(ls []Line) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.String())
	}
	return out
}

func TestTextColour(t *testing.T) {
	b, h := sides(service(10, ""), service(25, ""))
	r, err := Compare(b, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var plain, colour bytes.Buffer
	Text(&plain, r, false)
	Text(&colour, r, true)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("plain text has escape codes")
	}
	if !strings.Contains(colour.String(), green+"+  - percent: 25"+reset) || !strings.Contains(colour.String(), red+"-  - percent: 10"+reset) {
		t.Errorf("coloured text lacks coloured diff lines:\n%q", colour.String())
	}
}
