// Package repourl reads the repo URLs a user gives dmls (--repo NAME=URL
// and platform.cue) and strips their credentials, so that the user info of
// a URL is used to connect and nowhere else.
//
// Public is the one function that makes a URL fit to write: every
// generated object (Argo CD repoURL and sourceRepos, the API server's
// --repo args), commit, log line, error and API answer names a repo by it.
package repourl

import (
	"fmt"
	"strings"
)

// ParseFlags reads --repo NAME=URL flags into a map from repo name to URL.
// A name given twice is an error, so that the later flag cannot silently
// win. Errors name the flag without its URL, which may hold a password.
func ParseFlags(flags []string) (map[string]string, error) {
	urls := map[string]string{}
	for _, f := range flags {
		name, url, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.TrimSpace(url) == "" {
			return nil, fmt.Errorf("--repo %q: want NAME=URL, for example --repo k8s-config=https://git.example.com/k8s.git", Public(f))
		}
		if _, dup := urls[name]; dup {
			return nil, fmt.Errorf("--repo %s is given twice; give each repo once", name)
		}
		urls[name] = url
	}
	return urls, nil
}

// CredentialsAdvice says where credentials go instead of a URL.
const CredentialsAdvice = "the URL carries credentials; they belong in DMLS_GIT_TOKEN or DMLS_GIT_USERNAME and DMLS_GIT_PASSWORD (or DMLS_GIT_CREDENTIALS_FILE), not in a URL. dmls connects with them but writes the URL without them"

// Public returns raw without credentials: an http(s), file or other URL
// loses its whole user info (a lone user there is usually a token), an
// ssh:// URL or an SCP-like address (git@host:path) keeps its user, which
// SSH needs and which is not a secret, but not a password. Plain paths are
// returned as they are. Public never fails: it works on the text, so a URL
// that does not parse is stripped all the same.
func Public(raw string) string {
	if scheme, rest, ok := strings.Cut(raw, "://"); ok && isScheme(scheme) {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		at := strings.LastIndex(authority, "@")
		if at < 0 {
			return raw
		}
		info, host := authority[:at], authority[at+1:]
		if strings.EqualFold(scheme, "ssh") || strings.HasPrefix(strings.ToLower(scheme), "git+ssh") || strings.HasPrefix(strings.ToLower(scheme), "ssh+") {
			if user, _, _ := strings.Cut(info, ":"); user != "" {
				return scheme + "://" + user + "@" + host + rest[end:]
			}
		}
		return scheme + "://" + host + rest[end:]
	}
	// SCP-like: user[:password]@host:path. As for git, the user info
	// ends at the first '@' and holds no '/'.
	if at := strings.Index(raw, "@"); at > 0 && !strings.Contains(raw[:at], "/") && strings.Contains(raw[at:], ":") {
		if user, _, hasPass := strings.Cut(raw[:at], ":"); hasPass {
			return user + raw[at:]
		}
	}
	return raw
}

// HasCredentials reports whether raw carries a password or token that
// Public would strip.
func HasCredentials(raw string) bool { return Public(raw) != raw }

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
