package gitops_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

func publicKeyOf(t *testing.T, keyFile, passphrase string) ssh.PublicKey {
	t.Helper()
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var signer ssh.Signer
	if passphrase == "" {
		signer, err = ssh.ParsePrivateKey(pem)
	} else {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return signer.PublicKey()
}

func TestPublishOverSSH(t *testing.T) {
	dir := t.TempDir()
	const phrase = "ssh-phrase-never-shown"
	key := writeKey(t, dir, "id_plain", "")
	encKey := writeKey(t, dir, "id_enc", phrase)
	strangerKey := writeKey(t, dir, "id_stranger", phrase)

	srv := gittest.Start(t)
	srv.CreateRepo(t, "config")
	ss := srv.StartSSH(t, publicKeyOf(t, key, ""), publicKeyOf(t, encKey, phrase))

	otherHost, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := ssh.NewPublicKey(otherHost)
	if err != nil {
		t.Fatal(err)
	}
	wrongKnownHosts := filepath.Join(dir, "wrong_known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(ss.Addr)}, otherPub) + "\n"
	if err := os.WriteFile(wrongKnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		env     map[string]string
		files   map[string]string
		wantErr error // nil: success; errAny: any error
	}{
		{name: "key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": key, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": ss.KnownHosts}, files: map[string]string{"apps/a.yaml": "1"}},
		{name: "encrypted key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": encKey, "DMLS_GIT_SSH_KEY_PASSPHRASE": phrase, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": ss.KnownHosts}, files: map[string]string{"apps/a.yaml": "2"}},
		{name: "unauthorized key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": strangerKey, "DMLS_GIT_SSH_KEY_PASSPHRASE": phrase, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": ss.KnownHosts}, files: map[string]string{"apps/a.yaml": "3"}, wantErr: gitops.ErrAuth},
		{name: "unknown host key", env: map[string]string{"DMLS_GIT_SSH_KEY_FILE": key, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": wrongKnownHosts}, files: map[string]string{"apps/a.yaml": "4"}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth, err := gitops.AuthFromEnv(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			before := srv.Head(t, "config", "main")
			res, err := gitops.Publish(context.Background(), gitops.Request{
				Target:  gitops.Target{URL: ss.RepoURL("config")},
				Files:   bytesOf(tt.files),
				Managed: []string{"apps"},
				Auth:    auth,
			})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				assertFiles(t, srv.Files(t, "config", "main"), tt.files)
				if res.Commit != srv.Head(t, "config", "main") {
					t.Fatalf("result commit %s is not the head", res.Commit)
				}
				again, err := gitops.Publish(context.Background(), gitops.Request{
					Target: gitops.Target{URL: ss.RepoURL("config")}, Files: bytesOf(tt.files), Managed: []string{"apps"}, Auth: auth,
				})
				if err != nil || again.Changed {
					t.Fatalf("republish: %+v, %v", again, err)
				}
				got, head, err := gitops.ReadTree(context.Background(), gitops.Target{URL: ss.RepoURL("config")}, auth, "apps")
				if err != nil || head != res.Commit || string(got["apps/a.yaml"]) != tt.files["apps/a.yaml"] {
					t.Fatalf("ReadTree = %q, %s, %v", got, head, err)
				}
				return
			}
			if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), phrase) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("error leaks key material: %v", err)
			}
			if head := srv.Head(t, "config", "main"); head != before {
				t.Fatalf("head moved from %s to %s", before, head)
			}
		})
	}
}

func TestPublishOverSSHHookRejects(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir, "id", "")
	srv := gittest.Start(t)
	srv.CreateRepo(t, "config")
	srv.SetHook(t, "config", "pre-receive", "#!/bin/sh\necho 'frozen for release' >&2\nexit 1\n")
	ss := srv.StartSSH(t, publicKeyOf(t, key, ""))
	auth, err := gitops.AuthFromEnv(env(map[string]string{"DMLS_GIT_SSH_KEY_FILE": key, "DMLS_GIT_SSH_KNOWN_HOSTS_FILE": ss.KnownHosts}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := gitops.Publish(context.Background(), gitops.Request{
		Target: gitops.Target{URL: ss.RepoURL("config")}, Files: bytesOf(map[string]string{"apps/a": "x"}), Managed: []string{"apps"}, Auth: auth,
	})
	if !errors.Is(err, gitops.ErrRejected) || res.Attempts != 1 || srv.Pushes("config") != 1 {
		t.Fatalf("error = %v, attempts %d, pushes %d; want ErrRejected once", err, res.Attempts, srv.Pushes("config"))
	}
	if !strings.Contains(err.Error(), "frozen for release") {
		t.Fatalf("error = %v, want the hook's message", err)
	}
}

var errAny = errors.New("any error")
