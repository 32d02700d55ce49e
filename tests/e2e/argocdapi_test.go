//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// argocdAPI reads what Argo CD 3 keeps outside the Application object
// through its API server (argocd-server, which cluster.sh starts), logged
// in as the admin account of the throwaway cluster.
type argocdAPI struct {
	base string

	mu    sync.Mutex
	token string
}

var (
	argoOnce sync.Once
	argo     *argocdAPI
	argoErr  error
)

// argoAPI returns the API client of the cluster that cluster.sh runs,
// from E2E_ARGOCD_SERVER_URL and E2E_ARGOCD_ADMIN_PASSWORD_FILE.
func argoAPI(t *testing.T) *argocdAPI {
	t.Helper()
	argoOnce.Do(func() {
		base := os.Getenv("E2E_ARGOCD_SERVER_URL")
		if base == "" || os.Getenv("E2E_ARGOCD_ADMIN_PASSWORD_FILE") == "" {
			argoErr = fmt.Errorf("E2E_ARGOCD_SERVER_URL and E2E_ARGOCD_ADMIN_PASSWORD_FILE are not set: run the tests with make e2e (cluster.sh env)")
			return
		}
		argo = &argocdAPI{base: strings.TrimSuffix(base, "/")}
	})
	if argoErr != nil {
		t.Fatal(argoErr)
	}
	return argo
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// login gets a session token for the admin account (POST /api/v1/session).
func (a *argocdAPI) login(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" {
		return a.token, nil
	}
	pw, err := os.ReadFile(os.Getenv("E2E_ARGOCD_ADMIN_PASSWORD_FILE"))
	if err != nil {
		return "", err
	}
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": strings.TrimSpace(string(pw))})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/api/v1/session", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		Token string `json:"token"`
	}
	if err := do(req, &out); err != nil {
		return "", fmt.Errorf("log in to Argo CD as admin: %w", err)
	}
	a.token = out.Token
	return a.token, nil
}

// TreeNode is one object of an Application's resource tree, with the
// health Argo CD computed for it.
type TreeNode struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Health    *struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"health"`
}

// ResourceTree returns the nodes of Application app's resource tree
// (GET /api/v1/applications/<app>/resource-tree). Since Argo CD 3.0 this
// tree, kept in Argo CD's cache, is where each object's health lives: the
// Application's status.resources no longer carries health unless the
// controller is told to persist it (controller.resource.health.persist),
// and says so with status.resourceHealthSource: appTree.
func (a *argocdAPI) ResourceTree(ctx context.Context, app string) ([]TreeNode, error) {
	token, err := a.login(ctx)
	if err != nil {
		return nil, err
	}
	u := a.base + "/api/v1/applications/" + url.PathEscape(app) + "/resource-tree?appNamespace=" + url.QueryEscape(ArgoCDNamespace)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var out struct {
		Nodes []TreeNode `json:"nodes"`
	}
	if err := do(req, &out); err != nil {
		return nil, fmt.Errorf("resource tree of %s: %w", app, err)
	}
	return out.Nodes, nil
}

// Health returns the health status of the object of kind and name in
// app's resource tree, or "" while the tree does not hold it.
func (a *argocdAPI) Health(ctx context.Context, app, kind, name string) (string, error) {
	nodes, err := a.ResourceTree(ctx, app)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if n.Kind == kind && n.Name == name && n.Health != nil {
			return n.Health.Status, nil
		}
	}
	return "", nil
}

func do(req *http.Request, out any) error {
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}
