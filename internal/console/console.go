// Package console serves the web console of dmls serve at /ui/: a small
// app for the people who submit work, in plain HTML, CSS and JavaScript,
// every asset embedded, nothing from a CDN and no other network use than
// the public API of the same server and, when the platform logs people in,
// the identity provider's token endpoint. It signs in with a team token,
// or with the ID token of the authorization code flow with PKCE, kept in
// the tab's sessionStorage and sent as a bearer header, never as a cookie,
// so it is immune to CSRF by construction.
//
// Every answer carries a strict Content-Security-Policy (scripts and
// styles from the same origin only: no inline script, no eval), denies
// framing and sniffing, and the script renders every user-supplied string
// as text (textContent), never as HTML.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/ui/"

// CSP is the Content-Security-Policy of every console answer when no
// identity provider is in use.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// CSPWith is CSP whose connect-src also allows origins (the identity
// provider's endpoints, where the console exchanges the login's code).
func CSPWith(origins []string) string {
	if len(origins) == 0 {
		return CSP
	}
	return strings.Replace(CSP, "connect-src 'self';", "connect-src 'self' "+strings.Join(origins, " ")+";", 1)
}

// Handler serves the console under Prefix. Paths without an extension
// get the app (index.html): it routes with the URL fragment. origins,
// called at each request, returns the origins the CSP's connect-src
// allows beyond the server's own (nil: none).
func Handler(origins func() []string) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		var extra []string
		if origins != nil {
			extra = origins()
		}
		h.Set("Content-Security-Policy", CSPWith(extra))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if path.Ext(name) == "" {
			name = "index.html"
		}
		b, err := fs.ReadFile(sub, path.Clean(name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			h.Set("Content-Type", ct)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	})
}
