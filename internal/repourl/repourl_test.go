package repourl

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// Issue 8, section 2: credentials in a repo URL are used to connect only.
func TestPublic(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"https user and password", "https://user:s3cret@git.example.com/r.git", "https://git.example.com/r.git"},
		{"https token as user", "https://ghp_abcdef@github.com/o/r.git", "https://github.com/o/r.git"},
		{"https token with empty password", "https://tok:@host/r", "https://host/r"},
		{"http with port", "http://u:p@127.0.0.1:8080/r.git", "http://127.0.0.1:8080/r.git"},
		{"escaped password", "https://u:p%40ss@host/r", "https://host/r"},
		{"unescaped @ in password", "https://u:p@ss@host/r.git", "https://host/r.git"},
		{"password with slash-free junk", "https://u:%zz@host/r", "https://host/r"},
		{"query and fragment", "https://u:p@host?x=1#y", "https://host?x=1#y"},
		{"no path", "https://u:p@host", "https://host"},
		{"upper-case scheme", "HTTPS://u:p@host/r", "HTTPS://host/r"},
		{"file with user", "file://u:p@/srv/r.git", "file:///srv/r.git"},
		{"ssh user kept", "ssh://git@host/r.git", "ssh://git@host/r.git"},
		{"ssh password dropped", "ssh://git:pw@host:22/r.git", "ssh://git@host:22/r.git"},
		{"git+ssh password dropped", "git+ssh://git:pw@host/r.git", "git+ssh://git@host/r.git"},
		{"scp-like kept", "git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"scp-like password dropped", "git:pw@github.com:o/r.git", "git@github.com:o/r.git"},
		{"scp-like with @ in path", "git@host:o/r@v2.git", "git@host:o/r@v2.git"},
		{"plain https", "https://git.example.com/r.git", "https://git.example.com/r.git"},
		{"@ in path only", "https://host/a@b/r.git", "https://host/a@b/r.git"},
		{"plain path", "/srv/git/r.git", "/srv/git/r.git"},
		{"relative path with @", "./a@b:c/r.git", "./a@b:c/r.git"},
		{"empty", "", ""},
		// Issue 18, section 1: a token as the user name beside a password,
		// and credentials in the query string.
		{"github token as user with password", "http://ghp_SECRET:x-oauth-basic@127.0.0.1:9/r.git", "http://127.0.0.1:9/r.git"},
		{"redacted form keeps no user", "http://ghp_SECRET:***@host/r.git", "http://host/r.git"},
		{"query token", "https://host/r.git?token=SECRET", "https://host/r.git"},
		{"query access_token among others", "https://host/r.git?a=1&access_token=SECRET&b=2", "https://host/r.git?a=1&b=2"},
		{"query private_token upper case", "https://host/r?PRIVATE_TOKEN=SECRET#f", "https://host/r#f"},
		{"query escaped key", "https://host/r?access%5Ftoken=SECRET", "https://host/r"},
		{"query signature dash", "https://host/o?X-Amz-Signature=SECRET&X-Amz-Date=1", "https://host/o?X-Amz-Date=1"},
		{"query on host only", "https://host?password=SECRET", "https://host"},
		{"query suffix _token", "https://host/r?gitlab_ci_token=SECRET", "https://host/r"},
		{"query and userinfo", "https://u:p@host/r?sig=SECRET&x=1", "https://host/r?x=1"},
		{"harmless query kept as is", "https://host/r?ref=main&&x", "https://host/r?ref=main&&x"},
		{"empty query kept", "https://host/r?", "https://host/r?"},
		{"keys that look alike kept", "https://host/r?tokens=1&monkey=2", "https://host/r?tokens=1&monkey=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Public(tt.in)
			if got != tt.want {
				t.Fatalf("Public(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if Public(got) != got {
				t.Errorf("Public is not idempotent on %q", got)
			}
			if HasCredentials(tt.in) != (tt.in != tt.want) {
				t.Errorf("HasCredentials(%q) = %v", tt.in, HasCredentials(tt.in))
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", want: map[string]string{}},
		{name: "two", flags: []string{"a=https://h/a.git", "b=/srv/b.git"}, want: map[string]string{"a": "https://h/a.git", "b": "/srv/b.git"}},
		{name: "= in URL", flags: []string{"a=https://h/a.git?x=1"}, want: map[string]string{"a": "https://h/a.git?x=1"}},
		{name: "no =", flags: []string{"https://u:topsecret@h/a.git"}, wantErr: "want NAME=URL"},
		{name: "no name", flags: []string{"=https://h/a.git"}, wantErr: "want NAME=URL"},
		{name: "no URL", flags: []string{"a="}, wantErr: "want NAME=URL"},
		{name: "twice", flags: []string{"a=/x", "a=/y"}, wantErr: "--repo a is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFlags(tt.flags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFlags = %v, want error %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "topsecret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// Issue 18, section 1: every URL in free text loses its credentials,
// in the forms that net/url's Redacted, go-git and net/http leave.
func TestScrub(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"net/http error", `Get "http://ghp_SECRET:x-oauth-basic@127.0.0.1:8080/ml-model.git/info/refs?service=git-upload-pack": dial tcp 127.0.0.1:8080: connect: connection refused`,
			`Get "http://127.0.0.1:8080/ml-model.git/info/refs?service=git-upload-pack": dial tcp 127.0.0.1:8080: connect: connection refused`},
		{"redacted user kept by net/url", `Get "http://ghp_SECRET:***@host/r.git": EOF`, `Get "http://host/r.git": EOF`},
		{"lone user token", "fetch https://ghp_SECRET@github.com/o/r.git failed", "fetch https://github.com/o/r.git failed"},
		{"query token", "clone https://host/r.git?private_token=SECRET: 404", "clone https://host/r.git: 404"},
		{"two URLs", "a http://u:SECRET@h/x b https://v:SECRET2@g/y", "a http://h/x b https://g/y"},
		{"url in parentheses", "(https://u:SECRET@h/x)", "(https://h/x)"},
		{"after =", "url=https://u:SECRET@h/x,", "url=https://h/x,"},
		{"JSON", `{"url":"https://u:SECRET@h/x"}`, `{"url":"https://h/x"}`},
		{"escaped JSON", `"msg":"Get \"https://u:SECRET@h/x\": EOF"`, `"msg":"Get \"https://h/x\": EOF"`},
		{"url in a url's query", "https://h/?next=https://u:SECRET@g/x", "https://h/?next=https://g/x"},
		{"ssh keeps its user", "ssh://git:SECRET@h/r.git and git@h:r.git", "ssh://git@h/r.git and git@h:r.git"},
		{"scp-like password", "remote git:SECRET@h:r.git", "remote git@h:r.git"},
		{"e-mail kept", "author a@b.example and a:b", "author a@b.example and a:b"},
		{"no URL", "nothing to see", "nothing to see"},
		{"lines", "x\nhttps://u:SECRET@h/\ty", "x\nhttps://h/\ty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Scrub(tt.in); got != tt.want {
				t.Fatalf("Scrub(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
			err := Error(errors.New(tt.in))
			if err.Error() != tt.want {
				t.Errorf("Error(%q) = %q", tt.in, err)
			}
		})
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Fatal("Error(nil) is not nil")
	}
	clean := errors.New("no URL here")
	if Error(clean) != clean {
		t.Error("an error without credentials is wrapped")
	}
	inner := fmt.Errorf("Get %q: %w", "https://u:SECRET@h/r", io.ErrUnexpectedEOF)
	err := Error(fmt.Errorf("fetch: %w", inner))
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("Error kept the secret: %v", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("errors.Is lost the sentinel")
	}
	if errors.Unwrap(err) != nil {
		t.Error("the scrubbed error hands out the original")
	}
}

// secretChars is what the fuzz property's secrets are made of: the
// characters of real tokens, so that a secret is one URL component.
func secretChars(s string) bool {
	if len(s) < 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func FuzzPublic(f *testing.F) {
	for _, s := range []string{"https://u:p@h/r", "git:pw@h:r", "ssh://a:b@c/d", "/x", "a@b:c",
		// Issue 18, section 1.
		"http://ghp_SECRET:x-oauth-basic@127.0.0.1:8080/r.git", "http://ghp_SECRET:***@host/r.git",
		"https://host/r.git?token=SECRET", "https://host/r.git?access_token=SECRET&x=1", "https://host/r?private_token=SECRET#f",
		`Get "http://ghp_SECRET:x-oauth-basic@h/r.git/info/refs?service=git-upload-pack": EOF`,
		"https://h/?next=https://u:SECRET@g/x"} {
		f.Add(s, "ghp_SECRETabc")
	}
	f.Fuzz(func(t *testing.T, s, secret string) {
		p := Public(s)
		if Public(p) != p {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, p, Public(p))
		}
		if len(p) > len(s) {
			t.Fatalf("Public(%q) = %q grew", s, p)
		}
		if sc := Scrub(s); Scrub(sc) != sc {
			t.Fatalf("Scrub not idempotent: %q -> %q -> %q", s, sc, Scrub(sc))
		}
		// The property: a secret put where a credential goes, in any of
		// the forms, reaches no output of Public or Scrub.
		if !secretChars(secret) || strings.Contains(s, secret) {
			return
		}
		host := "h.example"
		forms := []string{
			"https://" + secret + "@" + host + "/r.git",
			"http://" + secret + ":x-oauth-basic@" + host + "/r.git",
			"http://" + secret + ":***@" + host + "/r.git",
			"https://user:" + secret + "@" + host + "/r.git",
			"https://" + host + "/r.git?token=" + secret,
			"https://" + host + "/r.git?a=1&access_token=" + secret + "#x",
			"https://" + host + "/r.git?PRIVATE_TOKEN=" + secret,
			"ssh://git:" + secret + "@" + host + "/r.git",
			"git:" + secret + "@" + host + ":r.git",
		}
		for _, u := range forms {
			if got := Public(u); strings.Contains(got, secret) {
				t.Fatalf("Public(%q) = %q keeps the secret", u, got)
			}
			for _, text := range []string{u, `Get "` + u + `": ` + s, s + " " + u + " " + s, "(" + u + ")", `{"url":"` + u + `"}`} {
				if got := Scrub(text); strings.Count(got, secret) > 0 {
					t.Fatalf("Scrub(%q) = %q keeps the secret", text, got)
				}
			}
		}
	})
}

// Issue 18, section 1: a log line carries no credential, whether it comes
// in the message, a string, an error or a group.
func TestLogHandler(t *testing.T) {
	var b strings.Builder
	log := slog.New(LogHandler(slog.NewJSONHandler(&b, nil))).With("repo", "https://ghp_SECRET1@h/r.git")
	log.WithGroup("g").Error(`Get "http://ghp_SECRET2:x-oauth-basic@h/r.git": EOF`,
		"error", fmt.Errorf("fetch http://ghp_SECRET3:***@h/r.git: %w", io.EOF),
		"url", "https://h/r.git?private_token=SECRET4",
		slog.Group("inner", "u", "ssh://git:SECRET5@h/r.git"),
		"map", map[string]string{"u": "https://u:SECRET6@h/"},
		"n", 42)
	out := b.String()
	if strings.Contains(out, "SECRET") {
		t.Fatalf("the log line holds a secret:\n%s", out)
	}
	for _, want := range []string{`"repo":"https://h/r.git"`, `"url":"https://h/r.git"`, `"u":"ssh://git@h/r.git"`, `"n":42`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log line lacks %s:\n%s", want, out)
		}
	}
}
