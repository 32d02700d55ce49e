package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dmls-project/dmls/internal/console"
)

// tab drives one page of a headless Chromium.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (p tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p tab) eval(expr string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// waitText waits until the element of sel holds want.
func (p tab) waitText(sel, want string) {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.eval(`(document.querySelector(` + string(q) + `) || {}).textContent || ""`)
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %q, want %q (at %s)", sel, s, want, p.eval("location.href"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// login clicks the console's Log in button and goes through the identity
// provider's real pages: its login form (typed into) and its consent
// (clicked), whichever it shows (a provider session may skip them), until
// the browser is back in the console at issuer-free URL base.
func (p tab) login(user, base string) {
	p.t.Helper()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	p.run("log in", chromedp.Click(css("#oidc-login"), chromedp.NodeVisible))
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond)
		href := p.eval("location.href")
		switch {
		case strings.HasPrefix(href, base):
			if p.eval(`document.querySelector("#view").textContent`) != "" {
				return
			}
		case p.eval(`String(!!document.querySelector('input[name="login"]'))`) == "true":
			p.run("login form", chromedp.SendKeys(css(`input[name="login"]`), user), chromedp.SendKeys(css(`input[name="password"]`), "any\r"))
		case p.eval(`String(!!document.querySelector('button[type="submit"]'))`) == "true":
			p.run("consent", chromedp.Click(css(`button[type="submit"]`)))
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("log in as %s: stuck at %s", user, href)
		}
	}
}

// TestConsoleSSO logs in to the console through the identity provider's
// real login page (issue 22): authorization code with PKCE, the code gone
// from the URL, the token in sessionStorage only (nothing in localStorage,
// no cookie of the server), a change submitted and the user's name in the
// app's history, a token the server refuses signs out with the reason,
// sign out, and a user in no team told so. The CSP's connect-src allows
// the provider's origin and nothing more.
func TestConsoleSSO(t *testing.T) {
	exe := chromium(t)
	ts, p, _ := startSSO(t, noTokens)

	resp, err := http.Get(ts.http.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Content-Security-Policy"), console.CSPWith([]string{p.Issuer}); got != want || !strings.Contains(got, "connect-src 'self' "+p.Issuer+";") {
		t.Errorf("CSP = %q, want %q", got, want)
	}

	b := tab{t, browser(t, exe)}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	b.run("open", chromedp.Navigate(ts.http.URL+"/ui/"), chromedp.WaitVisible(css("#oidc-login")))
	if hidden := b.eval(`String(document.getElementById("signin-form").hidden)`); hidden != "true" {
		t.Error("the token form shows on a server without tokens")
	}
	// A callback this tab did not start (a forged or stale code): refused
	// before any exchange, the code out of the URL, and the page stays in
	// the console whatever it is told (no open redirect).
	// The tab has a login under way (its state "started"); the callback
	// brings another state.
	b.eval(`(() => { sessionStorage.setItem("dmls.login", JSON.stringify({verifier: "v", state: "started", nonce: "n"})); return ""; })()`)
	b.run("forged callback", chromedp.Navigate(ts.http.URL+"/ui/?code=forged&state=forged&redirect_uri=https://evil.example.com/&next=https://evil.example.com/"))
	b.waitText("#signin-note", "This login was not started here (state mismatch)")
	if u := b.eval("location.href"); u != ts.http.URL+"/ui/" {
		t.Errorf("the URL after a forged callback: %s", u)
	}

	b.login("alice", ts.http.URL+"/ui/")
	b.waitText("#view h1", "Apps of team ml-research")
	b.waitText("#who", "alice@example.com")
	if u := b.eval("location.href"); strings.Contains(u, "code=") || strings.Contains(u, "state=") || !strings.HasPrefix(u, ts.http.URL+"/ui/") {
		t.Errorf("the URL after the login: %s", u)
	}
	if n := b.eval(`String(localStorage.length)`); n != "0" {
		t.Errorf("%s items in localStorage", n)
	}
	if tok := b.eval(`sessionStorage.getItem("dmls.token") || ""`); strings.Count(tok, ".") != 2 {
		t.Errorf("sessionStorage holds %q, want the ID token", tok)
	}
	if c := b.eval(`document.cookie`); c != "" {
		t.Errorf("the console's cookies: %q", c)
	}

	// A change, then the user's name in the app's history.
	b.run("submit", chromedp.Navigate(ts.http.URL+"/ui/#/submit"), chromedp.WaitVisible(css("#spec-editor")),
		chromedp.SetValue(css("#kind"), "training"),
		chromedp.SetValue(css("#spec-editor"), "name: sso-web\nenvs: [dev]\ntraining:\n  image: registry.example.com/t:1.0\n  replicas:\n    worker:\n      replicas: 1\n"),
		chromedp.Click(css(`#submit-form button[type="submit"]`)))
	b.waitText("#confirm-summary", "new app sso-web")
	b.run("confirm", chromedp.Click(css("#confirm-ok"), chromedp.NodeVisible))
	b.waitText("#view h1", "sso-web")
	b.waitText("#history", "by alice@example.com")

	// The server refuses a token (expired, revoked, tampered): signed out,
	// with the reason.
	b.eval(`(() => { sessionStorage.setItem("dmls.token", "a.b.c"); location.hash = "#/x"; return ""; })()`)
	b.waitText("#signin-note", "Signed out: invalid bearer token")

	b.login("alice", ts.http.URL+"/ui/")
	b.waitText("#view h1", "Apps of team ml-research")
	b.run("sign out", chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#oidc-login")))
	if tok := b.eval(`sessionStorage.getItem("dmls.token") || ""`); tok != "" {
		t.Error("sign out left the token")
	}

	// A user in no team, in a browser of their own.
	d := tab{t, browser(t, exe)}
	d.run("open", chromedp.Navigate(ts.http.URL+"/ui/"), chromedp.WaitVisible(css("#oidc-login")))
	d.login("dave", ts.http.URL+"/ui/")
	d.waitText("#no-team", "You are logged in as dave@example.com, but in no team: none of your groups (staff)")
}
