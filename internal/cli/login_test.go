package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/oidctest"
)

// TestLogin logs in through a real identity provider (issue 22): the
// loopback flow with PKCE and the device flow, each through the
// provider's login and consent pages in a scripted browser. The token is
// kept with mode 0600 and used by the client commands; a wider mode is
// refused; whoami shows the user, groups and teams; --team is needed
// where more than one team fits; logout forgets the token.
func TestLogin(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: map[string]oidctest.User{
		"alice": {Email: "alice@example.com", Groups: []string{"ml-research", "staff"}},
		"carol": {Email: "carol@example.com", Groups: []string{"ml-research", "ml-serving"}},
	}})
	g := apiRepos(t)
	platform := apiWorkspace(t)["platform.cue"] + "\napi: auth: oidc: {issuer: \"" + p.Issuer + "\", clientID: \"dmls\"}\n"
	g.Push(t, "ml-model", gittest.Change{Files: map[string]string{"platform.cue": platform}, Message: "log people in"})
	server := startAPIWith(t, g, nil)
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	t.Setenv(envServer, "")
	t.Setenv(envToken, "")
	t.Setenv(envTeam, "")

	// The browser: whoever is set logs in on the pages it is sent to.
	var visits sync.WaitGroup
	var user string
	var browserErr error
	old := openBrowser
	openBrowser = func(u string) error {
		visits.Add(1)
		go func() {
			defer visits.Done()
			_, page, err := oidctest.NewBrowser("").Visit(context.Background(), u, user)
			if err != nil {
				browserErr = err
			} else if !strings.Contains(page, "logged in") && !strings.Contains(page, "Sign-in Success") {
				t.Logf("the browser's last page: %.300s", page)
			}
		}()
		return nil
	}
	t.Cleanup(func() { openBrowser = old })

	run := func(code int, stdout, stderr string, args ...string) string {
		t.Helper()
		c, out, errOut := dmls(t, args...)
		if c != code || !strings.Contains(out, stdout) || !strings.Contains(errOut, stderr) {
			t.Fatalf("dmls %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, %q, %q", strings.Join(args, " "), c, out, errOut, code, stdout, stderr)
		}
		return out + errOut
	}

	user = "alice"
	out := run(0, "logged in to "+server+" as alice@example.com\nteams: ml-research", "Log in at:", "login", "--server", server)
	visits.Wait()
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	file := filepath.Join(config, "dmls", "credentials.json")
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v %v, want mode 0600", st, err)
	}
	b, _ := os.ReadFile(file)
	if tok := strings.SplitN(strings.SplitN(string(b), `"idToken": "`, 2)[1], `"`, 2)[0]; strings.Contains(out, tok[:30]) {
		t.Error("login printed the token")
	}
	t.Setenv(envServer, server)
	run(0, "user alice@example.com (subject alice)", "", "whoami")
	run(0, "groups: ml-research, staff\nteams: ml-research", "", "whoami")
	run(0, "submit-training-job ml-research/sso: changed", "", "submit", "-f", writeFile(t, `{"name":"sso","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`))
	run(1, "", "403 Forbidden", "list", "trainingjobs", "--team", "ml-serving")

	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	run(2, "", "its mode is 0644", "whoami")
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}

	user = "carol"
	run(0, "teams: ml-research, ml-serving", "enter the code", "login", "--device")
	visits.Wait()
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	run(2, "", "user carol@example.com acts for teams ml-research, ml-serving: give --team", "list", "trainingjobs")
	run(0, "ml-research/sso", "", "list", "trainingjobs", "--team", "ml-research")

	run(0, "logged out of "+server, "", "logout")
	run(2, "", "run dmls login --server "+server, "whoami")
	run(0, "not logged in", "", "logout")
}
