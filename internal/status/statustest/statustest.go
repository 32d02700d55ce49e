// Package statustest serves the status documents of internal/status's
// testdata as a Kubernetes API server would, for tests of what reads them
// (dmls status, the API's status routes, the console).
package statustest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// FixtureCommit is the published commit in the fixtures; Cluster
// replaces it with its Commit.
const FixtureCommit = "3f5e1d2c4b6a79881726354453627180a9b8c7d6"

// Cluster answers gets of Applications, TFJobs, Knative Services and
// InferenceServices with the fixture named for the kind (the same in every
// namespace), 404 for a kind without one, and watches with an empty
// stream, so that readers fall back to reading on their interval.
type Cluster struct {
	*httptest.Server

	mu sync.Mutex
	// commit replaces FixtureCommit in the documents (SetCommit).
	commit string
	files  map[string]string // resource → fixture name
	gets   int
}

// SetCommit makes the documents name commit where the fixtures name
// FixtureCommit.
func (c *Cluster) SetCommit(commit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commit = commit
}

// Gets counts the gets served so far.
func (c *Cluster) Gets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

// Start serves c until the test ends.
func Start(t testing.TB, commit string) *Cluster {
	c := &Cluster{commit: commit, files: map[string]string{}}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

// Set names the fixtures (file names in internal/status/testdata without
// .yaml; "" for none) of the Application, the TFJob and the Knative
// Service.
func (c *Cluster) Set(app, tfjob, ksvc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files = map[string]string{"applications": app, "tfjobs": tfjob, "services": ksvc}
}

// Testdata is the folder of the fixtures.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

func (c *Cluster) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("watch") != "" {
		return
	}
	c.mu.Lock()
	files, commit := c.files, c.commit
	c.gets++
	c.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	name := ""
	if len(parts) == 7 {
		name = files[parts[5]]
	}
	if name == "" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		return
	}
	b, err := os.ReadFile(filepath.Join(Testdata(), name+".yaml"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = bytes.ReplaceAll(b, []byte(FixtureCommit), []byte(commit))
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(j)
}

// Client is a dynamic client of c.
func (c *Cluster) Client(t testing.TB) dynamic.Interface {
	cl, err := dynamic.NewForConfig(&rest.Config{Host: c.URL, QPS: 100, Burst: 200})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Kubeconfig writes a kubeconfig for server and returns its path.
func Kubeconfig(t testing.TB, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`, server)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
