package gitops_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/dmls-project/dmls/internal/gitops"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeKey(t *testing.T, dir, name, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthFromEnv(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir, "id_ed25519", "")
	encKey := writeKey(t, dir, "id_enc", "open-sesame-77")
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	credFile := func(content string) string {
		p := filepath.Join(t.TempDir(), "creds")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	relKeyDir := t.TempDir()
	writeKey(t, relKeyDir, "deploy_key", "")
	relCreds := filepath.Join(relKeyDir, "creds")
	if err := os.WriteFile(relCreds, []byte("DMLS_GIT_SSH_KEY_FILE=deploy_key\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		env     map[string]string
		check   func(*testing.T, gitops.Auth)
		wantErr bool
		secret  string // must not appear in the error
	}{
		{name: "nothing", env: nil, check: func(t *testing.T, a gitops.Auth) {
			if a.Username != "" || a.Password != "" || a.SSHKey != nil {
				t.Fatalf("auth = %v, want zero", a)
			}
		}},
		{name: "token", env: map[string]string{"DMLS_GIT_TOKEN": "tok1"}, check: func(t *testing.T, a gitops.Auth) {
			if a.Username != gitops.TokenUser || a.Password != "tok1" {
				t.Fatalf("got %q/%q", a.Username, a.Password)
			}
		}},
		{name: "token with username", env: map[string]string{"DMLS_GIT_TOKEN": "tok1", "DMLS_GIT_USERNAME": "bot"}, check: func(t *testing.T, a gitops.Auth) {
			if a.Username != "bot" || a.Password != "tok1" {
				t.Fatalf("got %q/%q", a.Username, a.Password)
			}
		}},
		{name: "basic", env: map[string]string{"DMLS_GIT_USERNAME": "alice", "DMLS_GIT_PASSWORD": "pw"}, check: func(t *testing.T, a gitops.Auth) {
			if a.Username != "alice" || a.Password != "pw" {
				t.Fatalf("got %q/%q", a.Username, a.Password)
			}
		}},
		{name: "password without user", env: map[string]string{"DMLS_GIT_PASSWORD": "pw-secret-1"}, wantErr: true, secret: "pw-secret-1"},
		{name: "token and password", env: map[string]string{"DMLS_GIT_TOKEN": "t-secret", "DMLS_GIT_PASSWORD": "p-secret", "DMLS_GIT_USERNAME": "u"}, wantErr: true, secret: "secret"},
		{name: "user alone", env: map[string]string{"DMLS_GIT_USERNAME": "alice"}, wantErr: true},
		{name: "ssh key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": key, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": knownHosts}, check: func(t *testing.T, a gitops.Auth) {
			if !bytes.Contains(a.SSHKey, []byte("PRIVATE KEY")) || a.SSHKnownHostsFile != knownHosts {
				t.Fatalf("auth = %v", a)
			}
		}},
		{name: "encrypted ssh key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": encKey, "DMLS_GIT_SSH_KEY_PASSPHRASE": "open-sesame-77"}, check: func(t *testing.T, a gitops.Auth) {
			if a.SSHKeyPassphrase != "open-sesame-77" {
				t.Fatalf("auth = %v", a)
			}
		}},
		{name: "wrong passphrase", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": encKey, "DMLS_GIT_SSH_KEY_PASSPHRASE": "wrong-phrase-5"}, wantErr: true, secret: "wrong-phrase-5"},
		{name: "passphrase without key", env: map[string]string{"DMLS_GIT_SSH_KEY_PASSPHRASE": "lonely-phrase"}, wantErr: true, secret: "lonely-phrase"},
		{name: "missing key file", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": filepath.Join(dir, "nope")}, wantErr: true},
		{name: "not a key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": knownHosts}, wantErr: true},
		{name: "missing known hosts", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": key, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": filepath.Join(dir, "nope")}, wantErr: true},
		{name: "insecure http", env: map[string]string{"DMLS_GIT_TOKEN": "t", "DMLS_GIT_ALLOW_INSECURE_HTTP": "true"}, check: func(t *testing.T, a gitops.Auth) {
			if !a.AllowInsecureHTTP {
				t.Fatal("AllowInsecureHTTP not set")
			}
		}},
		{name: "insecure http bad value", env: map[string]string{"DMLS_GIT_ALLOW_INSECURE_HTTP": "maybe"}, wantErr: true},
		{
			name: "credentials file",
			env: map[string]string{"DMLS_GIT_CREDENTIALS_FILE": credFile(`# comment

  DMLS_GIT_USERNAME = bot
DMLS_GIT_TOKEN="file-token"
`)},
			check: func(t *testing.T, a gitops.Auth) {
				if a.Username != "bot" || a.Password != "file-token" {
					t.Fatalf("got %q/%q", a.Username, a.Password)
				}
			},
		},
		{
			name: "environment overrides file",
			env: map[string]string{
				"DMLS_GIT_CREDENTIALS_FILE": credFile("DMLS_GIT_USERNAME=bot\nDMLS_GIT_TOKEN=file-token\n"),
				"DMLS_GIT_TOKEN":            "env-token",
			},
			check: func(t *testing.T, a gitops.Auth) {
				if a.Username != "bot" || a.Password != "env-token" {
					t.Fatalf("got %q/%q", a.Username, a.Password)
				}
			},
		},
		{
			name: "key path relative to the file",
			env:  map[string]string{"DMLS_GIT_CREDENTIALS_FILE": relCreds},
			check: func(t *testing.T, a gitops.Auth) {
				if len(a.SSHKey) == 0 {
					t.Fatal("key not loaded")
				}
			},
		},
		{name: "file unknown key", env: map[string]string{"DMLS_GIT_CREDENTIALS_FILE": credFile("GIT_TOKEN=leaky-value\n")}, wantErr: true, secret: "leaky-value"},
		{name: "file line without equals", env: map[string]string{"DMLS_GIT_CREDENTIALS_FILE": credFile("DMLS_GIT_TOKEN leaky-value\n")}, wantErr: true, secret: "leaky-value"},
		{name: "file duplicate key", env: map[string]string{"DMLS_GIT_CREDENTIALS_FILE": credFile("DMLS_GIT_TOKEN=a-secret\nDMLS_GIT_TOKEN=b-secret\n")}, wantErr: true, secret: "secret"},
		{name: "file missing", env: map[string]string{"DMLS_GIT_CREDENTIALS_FILE": filepath.Join(dir, "none")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := gitops.AuthFromEnv(env(tt.env))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, gitops.ErrCredentials) {
					t.Fatalf("error = %v, want ErrCredentials", err)
				}
				if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
					t.Fatalf("error leaks %q: %v", tt.secret, err)
				}
				return
			}
			tt.check(t, a)
		})
	}
}

func TestAuthIsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	a, err := gitops.AuthFromEnv(env(map[string]string{
		"DMLS_GIT_USERNAME":           "bot",
		"DMLS_GIT_TOKEN":              "tok-PRINTED-never",
		"DMLS_GIT_SSH_KEY_FILE":       writeKey(t, dir, "k", "phrase-PRINTED-never"),
		"DMLS_GIT_SSH_KEY_PASSPHRASE": "phrase-PRINTED-never",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%T"} {
		fmt.Fprintf(&out, verb+"\n", a)
		fmt.Fprintf(&out, verb+"\n", &a)
		fmt.Fprintf(&out, verb+"\n", struct{ A gitops.Auth }{a})
	}
	j, err := json.Marshal(map[string]any{"auth": a})
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "auth", a)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "auth", a)
	for _, s := range []string{"PRINTED", "PRIVATE KEY"} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("output contains %q:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "password=***") || !strings.Contains(out.String(), "username=bot") {
		t.Fatalf("output does not say which credentials are set:\n%s", out.String())
	}
}
