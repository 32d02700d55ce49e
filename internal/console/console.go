// Package console serves the web console of dmls serve at /ui/: a small
// app for the people who submit work, in plain HTML, CSS and JavaScript,
// every asset embedded, nothing from a CDN and no other network use than
// the public API of the same server. It signs in with a team token kept
// in the tab's sessionStorage and sent as a bearer header, never as a
// cookie, so it is immune to CSRF by construction.
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

// CSP is the Content-Security-Policy of every console answer.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console under Prefix. Paths without an extension
// get the app (index.html): it routes with the URL fragment.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
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
