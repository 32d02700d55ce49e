// Package oidctest runs a real OpenID Connect provider for tests: panva's
// oidc-provider under Node, installed by make oidc-provider into
// .cache/oidc, with users whose ID tokens carry a groups claim, and a
// scripted browser that goes through its login and consent pages.
package oidctest

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

//go:embed provider/provider.mjs
var providerScript []byte

// EnvSkip names the variable that lets tests skip, instead of fail, when
// the provider is not installed. CI never sets it.
const EnvSkip = "DMLS_SKIP_OIDC_PROVIDER"

// ClientID is the provider's one client: public, PKCE, loopback redirects
// on any port, the device flow.
const ClientID = "dmls"

// User is a user of the provider. Groups nil leaves the groups claim out.
type User struct {
	Email  string   `json:"email"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups"`
}

// Options configure a Provider.
type Options struct {
	// Users by login name (the login page takes any password).
	Users map[string]User
	// RedirectURIs of the client; loopback ones match on any port.
	// Default: http://127.0.0.1/callback (the CLI) and
	// http://127.0.0.1/ui/ (the console).
	RedirectURIs []string
	// IDTokenTTL in seconds (600).
	IDTokenTTL int
}

// Provider is a running provider.
type Provider struct {
	// Issuer is its issuer URL, http://127.0.0.1:PORT.
	Issuer string
	cmd    *exec.Cmd
}

// Dir returns the folder that make oidc-provider installs into: .cache/oidc
// at the module root.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "oidc"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start starts a provider and stops it when the test ends. Without the
// installed provider the test fails, or skips when EnvSkip is 1.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		if os.Getenv(EnvSkip) == "1" {
			t.Skipf("oidc-provider is not installed in %s and %s=1", dir, EnvSkip)
		}
		t.Fatalf("oidc-provider is not installed in %s: run make oidc-provider (or set %s=1 to skip)", dir, EnvSkip)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("no node on PATH for oidc-provider: %v", err)
	}
	// The script lives beside node_modules, where its import resolves; its
	// name holds its hash so that concurrent test processes agree.
	sum := sha256.Sum256(providerScript)
	script := filepath.Join(dir, "provider-"+hex.EncodeToString(sum[:6])+".mjs")
	if _, err := os.Stat(script); err != nil {
		tmp := script + fmt.Sprintf(".%d.tmp", os.Getpid())
		if err := os.WriteFile(tmp, providerScript, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, script); err != nil {
			t.Fatal(err)
		}
	}
	if opts.RedirectURIs == nil {
		opts.RedirectURIs = []string{"http://127.0.0.1/callback", "http://127.0.0.1/ui/"}
	}
	conf, err := json.Marshal(map[string]any{"clientID": ClientID, "redirectURIs": opts.RedirectURIs, "users": opts.Users, "idTokenTTL": opts.IDTokenTTL})
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(t.TempDir(), "provider.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, confFile)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Provider{cmd: cmd}
	t.Cleanup(p.Stop)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		var first struct{ Issuer string }
		if !ok || json.Unmarshal([]byte(l), &first) != nil || first.Issuer == "" {
			t.Fatalf("oidc-provider did not start: %q; stderr: %s", l, stderr.String())
		}
		p.Issuer = first.Issuer
	case <-time.After(30 * time.Second):
		t.Fatalf("oidc-provider did not start within 30s; stderr: %s", stderr.String())
	}
	return p
}

// Stop stops the provider (by its PID).
func (p *Provider) Stop() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// OAuth2 returns the client's oauth2 configuration for redirect.
func (p *Provider) OAuth2(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    ClientID,
		RedirectURL: redirect,
		Scopes:      []string{"openid", "email", "profile", "groups"},
		Endpoint: oauth2.Endpoint{
			AuthURL: p.Issuer + "/auth", TokenURL: p.Issuer + "/token", DeviceAuthURL: p.Issuer + "/device/auth",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// Browser goes through the provider's pages as a user would: it follows
// redirects, fills each form (the login with user, the consent, the device
// confirmation) and submits it, and stops at a redirect to a URL that
// starts with stopAt (returned) or at a page without a form.
type Browser struct {
	client *http.Client
	stopAt string
	stop   *url.URL
}

// NewBrowser returns a browser with a cookie jar of its own.
func NewBrowser(stopAt string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{stopAt: stopAt}
	b.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if b.stopAt != "" && strings.HasPrefix(req.URL.String(), b.stopAt) {
			b.stop = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`<input[^>]*>`)
	attrRE   = regexp.MustCompile(`(\w+)="([^"]*)"`)
	errorRE  = regexp.MustCompile(`(?s)<pre>(.*?)</pre>`)
	maxPages = 10
)

// Visit opens u and goes through the pages, logging in as user. It
// returns the URL it stopped at (stopAt...) or nil, and the last page.
func (b *Browser) Visit(ctx context.Context, u, user string) (*url.URL, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	for range maxPages {
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if b.stop != nil {
			return b.stop, "", nil
		}
		page := string(body)
		m := formRE.FindStringSubmatch(page)
		if m == nil {
			if e := errorRE.FindStringSubmatch(page); e != nil {
				return nil, page, fmt.Errorf("the provider says: %s", html.UnescapeString(e[1]))
			}
			return nil, page, nil
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
		if err != nil {
			return nil, page, err
		}
		form := url.Values{}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			switch attrs["name"] {
			case "":
			case "login":
				form.Set("login", user)
			case "password":
				form.Set("password", "any")
			default:
				form.Set(attrs["name"], attrs["value"])
			}
		}
		if strings.Contains(m[2], `name="confirm"`) || strings.Contains(page, "op.deviceConfirmForm") {
			form.Set("confirm", "yes")
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return nil, page, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return nil, "", errors.New("too many pages")
}

// Code runs the authorization code flow with PKCE for user up to the
// redirect http://127.0.0.1/callback (no listener: the browser stops at
// it) and returns the client's configuration, the code and the PKCE
// verifier.
func (p *Provider) Code(t testing.TB, user string) (conf *oauth2.Config, code, verifier string) {
	t.Helper()
	const redirect = "http://127.0.0.1/callback"
	conf = p.OAuth2(redirect)
	verifier = oauth2.GenerateVerifier()
	u := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier))
	stopped, page, err := NewBrowser(redirect).Visit(context.Background(), u, user)
	if err != nil || stopped == nil {
		t.Fatalf("log in as %s: %v; last page: %.500s", user, err, page)
	}
	q := stopped.Query()
	if q.Get("state") != "state-1" || q.Get("code") == "" {
		t.Fatalf("log in as %s: redirected to %s", user, stopped.Redacted())
	}
	return conf, q.Get("code"), verifier
}

// Login is Code and the code's exchange: the token response (its
// id_token in Extra).
func (p *Provider) Login(t testing.TB, user string) *oauth2.Token {
	t.Helper()
	conf, code, verifier := p.Code(t, user)
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("log in as %s: exchange the code: %v", user, err)
	}
	return tok
}

// IDToken is Login's ID token.
func (p *Provider) IDToken(t testing.TB, user string) string {
	t.Helper()
	raw, _ := p.Login(t, user).Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("log in as %s: no id_token", user)
	}
	return raw
}
