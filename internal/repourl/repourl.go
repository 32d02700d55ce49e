// Package repourl reads the repo URLs a user gives dmls (--repo NAME=URL
// and platform.cue) and strips their credentials, so that the user info of
// a URL is used to connect and nowhere else.
//
// Public is the one function that makes a URL fit to write: every
// generated object (Argo CD repoURL and sourceRepos, the API server's
// --repo args), commit, log line, error and API answer names a repo by it.
// Scrub does the same to every URL inside free text (an error of go-git or
// net/http, a log line), and Error to an error's text.
package repourl

import (
	"errors"
	"fmt"
	"net/url"
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
// loses its whole user info (a lone user there is usually a token, as in
// GitHub's https://ghp_…:x-oauth-basic@github.com form) and every query
// parameter that carries a credential (see CredentialParam); an ssh:// URL
// or an SCP-like address (git@host:path) keeps its user, which SSH needs
// and which is not a secret, but not a password. Plain paths are returned
// as they are. Public never fails: it works on the text, so a URL that
// does not parse is stripped all the same.
func Public(raw string) string {
	if scheme, rest, ok := strings.Cut(raw, "://"); ok && isScheme(scheme) {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority, tail := rest[:end], publicTail(rest[end:])
		at := strings.LastIndex(authority, "@")
		if at < 0 {
			return scheme + "://" + authority + tail
		}
		info, host := authority[:at], authority[at+1:]
		if isSSH(scheme) {
			if user, _, _ := strings.Cut(info, ":"); user != "" {
				return scheme + "://" + user + "@" + host + tail
			}
		}
		return scheme + "://" + host + tail
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

func isSSH(scheme string) bool {
	s := strings.ToLower(scheme)
	return s == "ssh" || strings.HasPrefix(s, "git+ssh") || strings.HasPrefix(s, "ssh+")
}

// publicTail drops the credential parameters from the path, query and
// fragment that follow a URL's authority. Only the query is read: a path
// holds no parameters, and a fragment never leaves the client.
func publicTail(tail string) string {
	q := strings.IndexByte(tail, '?')
	if q < 0 {
		return tail
	}
	path, query, frag := tail[:q], tail[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	var kept []string
	dropped := false
	for _, p := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		if k, _, _ := strings.Cut(p, "="); CredentialParam(k) {
			dropped = true
		} else {
			kept = append(kept, p)
		}
	}
	if !dropped {
		return tail
	}
	if len(kept) == 0 {
		return path + frag
	}
	return path + "?" + strings.Join(kept, "&") + frag
}

// credentialParams are query parameters that carry a credential, as
// services name them: GitLab's private_token, OAuth's access_token, signed
// URLs' sig and X-Amz-Signature, and the plain ones.
var credentialParams = map[string]bool{
	"token": true, "access_token": true, "private_token": true, "job_token": true, "oauth_token": true,
	"refresh_token": true, "id_token": true, "auth": true, "authorization": true, "auth_token": true,
	"password": true, "passwd": true, "pass": true, "pwd": true, "secret": true, "client_secret": true,
	"key": true, "apikey": true, "api_key": true, "access_key": true, "secret_key": true,
	"sig": true, "signature": true, "x_amz_signature": true, "x_amz_credential": true,
	"x_amz_security_token": true, "x_goog_signature": true, "x_goog_credential": true,
}

// CredentialParam reports whether the query parameter named key (as it
// appears in the URL, escaped or not) carries a credential: one of the
// well-known names, case-insensitive, '-' and '_' alike, or a name that
// ends in _token, _secret, _password or _signature.
func CredentialParam(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	k := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "-", "_")
	if credentialParams[k] {
		return true
	}
	for _, suffix := range []string{"_token", "_secret", "_password", "_signature", "_sig"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// Scrub returns text with every URL in it made Public: the user info of
// http(s) URLs (a token as the user name, a password, or the "***" that
// net/url's Redacted leaves next to a user name), the password of ssh
// URLs and SCP-like addresses, and credential query parameters. It finds
// URLs the way they appear in the errors of go-git and net/http
// (Get "https://u:p@host/r.git/info/refs": dial tcp …), in log lines and
// in JSON. Text without a URL is returned as it is.
func Scrub(text string) string {
	if !strings.Contains(text, "@") && !strings.Contains(text, "?") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	start := -1
	flush := func(end int) {
		if start >= 0 {
			b.WriteString(scrubWord(text[start:end]))
			start = -1
		}
	}
	for i := 0; i < len(text); i++ {
		if isSeparator(text[i]) {
			flush(i)
			b.WriteByte(text[i])
			continue
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(text))
	return b.String()
}

// isSeparator reports whether c ends a URL in free text: white space,
// quotes, angle brackets and the characters that JSON escapes.
func isSeparator(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>', '\\':
		return true
	}
	return c < 0x20
}

// scrubWord makes each URL in a word of free text Public, the last one
// first, so that a URL inside another's query is scrubbed as well.
func scrubWord(w string) string {
	if !strings.Contains(w, "://") {
		// An SCP-like address with a password: user:pass@host:path.
		if at := strings.Index(w, "@"); at > 0 {
			lead := strings.LastIndexAny(w[:at], "([{=,;")
			return w[:lead+1] + Public(w[lead+1:])
		}
		return w
	}
	end := len(w)
	for {
		i := strings.LastIndex(w[:end], "://")
		if i < 0 {
			return w
		}
		s := i
		for s > 0 && (isLetter(w[s-1]) || w[s-1] >= '0' && w[s-1] <= '9' || w[s-1] == '+' || w[s-1] == '-' || w[s-1] == '.') {
			s--
		}
		if s < i && isScheme(w[s:i]) {
			for s < i && !isLetter(w[s]) {
				s++
			}
			// Punctuation after a URL (a colon before the error, a
			// closing parenthesis) stays, as a query value would take it.
			e := len(w)
			for e > i+3 && strings.IndexByte(".,:;)]}!", w[e-1]) >= 0 {
				e--
			}
			w = w[:s] + Public(w[s:e]) + w[e:]
		}
		end = s
	}
}

// Error returns err with its text scrubbed (see Scrub), or err itself when
// its text holds no credential. The scrubbed error still answers errors.Is
// for what err wraps, but gives no way back to the text it had.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s := Scrub(msg); s != msg {
		return &scrubbed{msg: s, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }

// Is lets errors.Is see what the original error wraps, without Unwrap,
// which would hand out the original and its text.
func (e *scrubbed) Is(target error) bool { return errors.Is(e.err, target) }

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
