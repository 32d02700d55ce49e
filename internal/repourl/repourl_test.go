package repourl

import (
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

func FuzzPublic(f *testing.F) {
	for _, s := range []string{"https://u:p@h/r", "git:pw@h:r", "ssh://a:b@c/d", "/x", "a@b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Public(s)
		if Public(p) != p {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, p, Public(p))
		}
		if len(p) > len(s) {
			t.Fatalf("Public(%q) = %q grew", s, p)
		}
	})
}
