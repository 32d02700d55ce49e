// Package refresh tells Argo CD what a push changed, so that it syncs
// within seconds instead of at its next poll of git: by a GitHub-style
// push event to Argo CD's webhook endpoint, signed with a shared secret,
// or by the argocd.argoproj.io/refresh annotation on exactly the
// Applications whose sources changed. Failures are returned as warnings
// by the callers (dmls publish, dmls serve), never as failed publishes:
// the poll still catches up.
package refresh

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/status/reads"
)

// AnnotationRefresh is the annotation that makes Argo CD's controller
// compare an Application with git now; it removes it when done.
// AnnotationRefreshTimestamp tells one request from another (Annotate).
const (
	AnnotationRefresh          = "argocd.argoproj.io/refresh"
	AnnotationRefreshTimestamp = "argocd.argoproj.io/refresh-timestamp"
)

// Push is one push to a config repo.
type Push struct {
	// URL is the repo's clone URL, as the Applications name it.
	URL    string
	Branch string
	// Before and After are the tips before and after the push.
	Before, After string
	// Added, Modified and Deleted are the repo paths the push changed.
	Added, Modified, Deleted []string
}

func (p Push) paths() []string {
	var out []string
	out = append(out, p.Added...)
	out = append(out, p.Modified...)
	out = append(out, p.Deleted...)
	return out
}

// Application is an Argo CD Application and what it syncs.
type Application struct {
	Name    string
	RepoURL string
	Path    string
}

// Applications reads the Applications of a generated tree (the argocd/
// folders dmls writes).
func Applications(tree generators.Tree) []Application {
	var out []Application
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if !strings.HasPrefix(path.Base(p), "application-") {
			continue
		}
		var a struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Source *struct {
					RepoURL string `json:"repoURL"`
					Path    string `json:"path"`
				} `json:"source"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(tree[p], &a); err != nil || a.Kind != "Application" || a.Spec.Source == nil {
			continue
		}
		out = append(out, Application{Name: a.Metadata.Name, RepoURL: a.Spec.Source.RepoURL, Path: a.Spec.Source.Path})
	}
	return out
}

// Affected returns the Applications, of apps, whose sources push changed:
// those of the pushed repo with a changed file in their folder, or in the
// kustomize base of an app overlay (apps/<app>/base for
// apps/<app>/overlays/<env>), sorted by name.
func Affected(apps []Application, p Push) []string {
	// Every folder that holds a changed file, at any depth: a folder is
	// affected when it is one of them. Computed once, so that a push is
	// matched against thousands of Applications in linear time.
	changed := map[string]bool{}
	paths := p.paths()
	for _, f := range paths {
		for i := range len(f) {
			if f[i] == '/' {
				changed[f[:i]] = true
			}
		}
	}
	pushed := normRepo(p.URL)
	same := map[string]bool{}
	var out []string
	for _, a := range apps {
		s, ok := same[a.RepoURL]
		if !ok {
			s = normRepo(a.RepoURL) == pushed
			same[a.RepoURL] = s
		}
		if !s {
			continue
		}
		dirs := layout.DirsOf(a.Path)
		if len(paths) > 0 && slices.ContainsFunc(dirs, func(d string) bool { return d == "" || d == "." || changed[d] }) {
			out = append(out, a.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// normRepo is a repo URL as Affected compares it: lower case, without a
// trailing slash or .git, and without credentials.
func normRepo(s string) string {
	s = strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(s), "/"), ".git")
	if u, err := url.Parse(repourl.Public(s)); err == nil && u.Host != "" {
		return u.Host + u.Path
	}
	return s
}

// Annotate asks Argo CD's controller to refresh each named Application
// in namespace ns, as Argo CD's own clients do (util/argo.RefreshApp): a
// merge patch that sets AnnotationRefresh ("normal") and
// AnnotationRefreshTimestamp, a timestamp unique to the request.
//
// The timestamp makes every request a change of the Application, which
// the controller's informer sees, even while the annotation of an earlier
// request is still there; and the controller removes the two annotations
// with a JSON patch that tests the timestamp it read, so that a request
// made during its refresh (whose commit that refresh may not have read)
// is kept and refreshed again rather than dropped until the next poll of
// git (Argo CD 3.6; argoproj/argo-cd#28392). A request that the
// controller lost or left (the annotation stays) is taken up by the next
// one, which changes the timestamp: setting the same annotation again
// would change nothing and wake nothing.
func Annotate(ctx context.Context, cl dynamic.Interface, ns string, apps []string) error {
	var errs []string
	ri := cl.Resource(reads.ResourceOf(reads.KindApplication).GVR).Namespace(ns)
	for _, name := range apps {
		if err := annotate(ctx, ri, name); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("refresh Applications: %s", strings.Join(errs, "; "))
	}
	return nil
}

// conflictRetries and conflictWait are how often, and after how long, a
// patch that met a conflict is made again, as util/argo.RefreshApp does.
const (
	conflictRetries = 5
	conflictWait    = 100 * time.Millisecond
)

func annotate(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	opts := metav1.PatchOptions{FieldManager: "dmls"}
	var err error
	for range conflictRetries {
		if _, err = ri.Patch(ctx, name, types.MergePatchType, RequestPatch(time.Now()), opts); !apierrors.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(conflictWait):
		}
	}
	return err
}

// RequestPatch is the merge patch of a refresh requested at t (see
// Annotate).
func RequestPatch(t time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationRefresh:          "normal",
		AnnotationRefreshTimestamp: t.UTC().Format(time.RFC3339Nano),
	}}})
	return b
}

// pushEvent is the part of GitHub's push event payload that Argo CD reads
// (util/webhook, through go-playground/webhooks' github.PushPayload).
type pushEvent struct {
	Ref        string     `json:"ref"`
	Before     string     `json:"before"`
	After      string     `json:"after"`
	Repository repository `json:"repository"`
	Commits    []commit   `json:"commits"`
	HeadCommit *commit    `json:"head_commit"`
}

type repository struct {
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	DefaultBranch string `json:"default_branch"`
}

type commit struct {
	ID       string   `json:"id"`
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

// Payload is the push event of p, as GitHub sends it.
func Payload(p Push) []byte {
	web := strings.TrimSuffix(repourl.Public(p.URL), ".git") // never send credentials
	c := commit{ID: p.After, Added: nonNil(p.Added), Modified: nonNil(p.Modified), Removed: nonNil(p.Deleted)}
	ev := pushEvent{
		Ref: "refs/heads/" + p.Branch, Before: p.Before, After: p.After,
		Repository: repository{Name: path.Base(web), FullName: strings.TrimPrefix(urlPath(web), "/"), HTMLURL: web, CloneURL: web + ".git", DefaultBranch: p.Branch},
		Commits:    []commit{c}, HeadCommit: &c,
	}
	b, _ := json.Marshal(ev)
	return b
}

func urlPath(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Path
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Signature is the X-Hub-Signature-256 of body under secret.
func Signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhook posts the push event of p to Argo CD's webhook endpoint,
// signed with secret. The secret is never part of an error.
func Webhook(ctx context.Context, client *http.Client, endpoint, secret string, p Push) error {
	if secret == "" {
		return fmt.Errorf("webhook %s: no shared secret", redact(endpoint))
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	body := Payload(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return repourl.Error(fmt.Errorf("webhook %s: %w", redact(endpoint), err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", p.After)
	req.Header.Set("X-Hub-Signature-256", Signature(secret, body))
	req.Header.Set("User-Agent", "dmls")
	resp, err := client.Do(req)
	if err != nil {
		// net/http's error names the URL with its query; the query may
		// hold a secret under any name, so say what failed without it.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return repourl.Error(fmt.Errorf("webhook %s: %w", redact(endpoint), err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s: %s", redact(endpoint), resp.Status, repourl.Scrub(strings.TrimSpace(string(msg))))
	}
	return nil
}

// redact is the webhook endpoint as errors name it: without credentials
// (repourl.Public) and without its query, which may hold a secret under
// any name.
func redact(s string) string {
	s, _, _ = strings.Cut(repourl.Public(s), "#")
	s, _, _ = strings.Cut(s, "?")
	return s
}
