package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators/apiserver"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/status/reads"
	"github.com/dmls-project/dmls/internal/workspace"
)

// request is one API request as RBAC sees it.
type request struct{ verb, group, resource, namespace string }

// recorder is an API server that answers every read with 404 (gets) or an
// empty stream (watches) and records what was asked, as the API server's
// authorizer sees it.
type recorder struct {
	mu   sync.Mutex
	seen map[request]bool
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /apis/GROUP/VERSION/namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]]
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	req := request{verb: "?"}
	if len(parts) >= 6 && parts[0] == "apis" && parts[3] == "namespaces" {
		req.group, req.namespace, req.resource = parts[1], parts[4], parts[5]
		if len(parts) == 8 {
			req.resource += "/" + parts[7]
		}
		switch {
		case r.Method != http.MethodGet:
			req.verb = strings.ToLower(r.Method)
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			req.verb = "watch"
		case len(parts) >= 7:
			req.verb = "get"
		default:
			req.verb = "list"
		}
	} else {
		req.resource = r.URL.Path
	}
	rec.mu.Lock()
	rec.seen[req] = true
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if req.verb == "watch" {
		w.WriteHeader(http.StatusOK)
		return
	}
	// A queued job exists, and Kueue holds a pending Workload for it, so
	// that the reader goes on to the Workload and the queue's positions.
	switch {
	case req.verb == "get" && (req.resource == "trainjobs" || req.resource == "tfjobs"):
		fmt.Fprintf(w, `{"apiVersion":"%s/v1","kind":"Job","metadata":{"name":%q,"namespace":%q,"uid":"u1"}}`, req.group, parts[6], req.namespace)
		return
	case req.verb == "list" && req.resource == "workloads":
		fmt.Fprintf(w, `{"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"WorkloadList","metadata":{},"items":[{"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"Workload","metadata":{"name":"trainjob-x","namespace":%q}}]}`, req.namespace)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
}

// TestRolesCoverExactlyWhatIsRead reads the status of the example app
// (and an InferenceService) and watches it, against a server that records
// every request, and checks the Roles the example platform publishes for
// dmls serve: each request is allowed by a Role of its namespace, and each
// kind a Role grants is read (no more rights than the code uses). The
// Roles are read-only: get, list and watch.
func TestRolesCoverExactlyWhatIsRead(t *testing.T) {
	ws, err := workspace.Load(os.DirFS("../../.."), ".", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var roles []rbacv1.Role
	for p, b := range res.Platform {
		if strings.HasPrefix(p, layout.APIServerDir+"/role-"+apiserver.StatusRole+".") {
			var r rbacv1.Role
			if err := yaml.UnmarshalStrict(b, &r); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			roles = append(roles, r)
		}
		if strings.Contains(p, "clusterrole") {
			t.Errorf("dmls serve gets a cluster-wide role: %s", p)
		}
	}
	if len(roles) == 0 {
		t.Fatal("the example platform publishes no Role for dmls serve")
	}

	rec := &recorder{seen: map[request]bool{}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cl, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := &kube.Clusters{ArgoCD: cl, ArgoCDNamespace: ws.Platform.ArgoCD.Namespace}
	var targets []kube.Target
	for _, a := range res.Apps {
		targets = append(targets, kube.Targets(a, "")...)
	}
	targets = append(targets, kube.Target{Env: "dev", Namespace: "ml-serving-dev", Application: "shared-dev", ServingKind: reads.KindInferenceService, ServingName: "shared"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tg := range targets {
		e := c.Read(ctx, tg, nil)
		if e.State != status.Deploying {
			t.Errorf("%s: %s (%s), want Deploying with no Application", tg.Application, e.State, e.Reason)
		}
	}
	wctx, wcancel := context.WithCancel(ctx)
	ch := c.Changes(wctx, targets, 0)
	deadline := time.After(3 * time.Second)
	for watching := false; !watching; {
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("no watch within 3s")
		case <-time.After(50 * time.Millisecond):
		}
		rec.mu.Lock()
		for r := range rec.seen {
			watching = watching || r.verb == "watch"
		}
		rec.mu.Unlock()
	}
	time.Sleep(200 * time.Millisecond)
	wcancel()

	allowed := func(r request) bool {
		for _, role := range roles {
			if role.Namespace != r.namespace {
				continue
			}
			for _, rule := range role.Rules {
				if slices.Contains(rule.APIGroups, r.group) && slices.Contains(rule.Resources, r.resource) && slices.Contains(rule.Verbs, r.verb) {
					return true
				}
			}
		}
		return false
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	kindsRead := map[string]bool{}
	for r := range rec.seen {
		if !allowed(r) {
			t.Errorf("the reader asks %+v, which no Role allows", r)
		}
		kindsRead[r.group+"/"+r.resource+"@"+r.verb] = true
	}
	for _, role := range roles {
		for _, rule := range role.Rules {
			if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
				t.Errorf("Role %s/%s: unexpected rule %+v", role.Namespace, role.Name, rule)
			}
			for _, v := range rule.Verbs {
				if !slices.Contains([]string{"get", "list", "watch"}, v) {
					t.Errorf("Role %s/%s grants %v, want read-only get, list, watch", role.Namespace, role.Name, rule.Verbs)
				}
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					if g == "*" || res == "*" {
						t.Errorf("Role %s/%s grants a wildcard", role.Namespace, role.Name)
					}
					for _, v := range rule.Verbs {
						// list comes with a watch: a watch lists first.
						if v == "list" && kindsRead[g+"/"+res+"@watch"] {
							continue
						}
						if !kindsRead[g+"/"+res+"@"+v] {
							t.Errorf("Role %s/%s grants %s on %s/%s, which the reader never does", role.Namespace, role.Name, v, g, res)
						}
					}
				}
			}
		}
	}
	// The namespaces: Argo CD's and the team namespaces of every
	// environment on the platform's own cluster.
	var nss []string
	for _, role := range roles {
		nss = append(nss, role.Namespace)
	}
	want := []string{ws.Platform.ArgoCD.Namespace}
	for _, env := range ws.Envs {
		for _, ns := range env.Namespaces {
			want = append(want, ns)
		}
	}
	slices.Sort(nss)
	slices.Sort(want)
	if !slices.Equal(nss, slices.Compact(want)) {
		t.Errorf("Roles in %v, want %v", nss, want)
	}
}
