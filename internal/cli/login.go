package cli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/oidcauth"
	"github.com/dmls-project/dmls/internal/rules"
)

// openBrowser opens url in the user's browser; tests replace it with a
// scripted browser.
var openBrowser = func(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func loginCmd(g *globals) *cobra.Command {
	var server string
	var device, noBrowser bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "login --server URL",
		Short: "Log in to a dmls API server with the company's identity provider",
		Long: `login logs you in to the dmls API server at URL through the identity
provider that its platform names (api.auth.oidc in platform.cue): it opens
the provider's login page in your browser (authorization code with PKCE and
a redirect to a port of 127.0.0.1), or, with --device, prints a code to
enter on any device that has a browser (the device flow).

The ID token is kept in your config folder (` + "`$XDG_CONFIG_HOME/dmls/credentials.json`" + `,
mode 0600; a file that others may read is refused) and sent by the client
commands to URL until it expires; then log in again. $DMLS_TOKEN and
--token-file take precedence over it. dmls whoami shows who you are, your
groups and your teams; dmls logout forgets the token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				server = os.Getenv(envServer)
			}
			if server == "" {
				return usageError{errors.New("--server URL is required, for example --server https://dmls.example.com")}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			ac, err := (&apiclient.Client{BaseURL: server, Retries: -1}).AuthConfig(ctx)
			if err != nil {
				return apiFailure(err)
			}
			if ac.OIDC == nil {
				return usageError{fmt.Errorf("%s does not log people in: its platform sets no api.auth.oidc; use a team token ($%s)", server, envToken)}
			}
			if why := rules.IssuerURL(ac.OIDC.Issuer); why != "" {
				return fmt.Errorf("%s names an identity provider that dmls will not use: %s", server, why)
			}
			e, err := oidcauth.New(oidcauth.Config{Issuer: ac.OIDC.Issuer}).Endpoints(ctx)
			if err != nil {
				return fmt.Errorf("the identity provider of %s: %w", server, err)
			}
			conf := &oauth2.Config{
				ClientID: ac.OIDC.ClientID,
				Scopes:   ac.OIDC.Scopes,
				Endpoint: oauth2.Endpoint{AuthURL: e.Authorization, TokenURL: e.Token, DeviceAuthURL: e.DeviceAuthorization, AuthStyle: oauth2.AuthStyleInParams},
			}
			var tok *oauth2.Token
			if device {
				tok, err = deviceLogin(ctx, g, conf, noBrowser)
			} else {
				tok, err = browserLogin(ctx, g, conf, noBrowser)
			}
			if err != nil {
				return err
			}
			raw, _ := tok.Extra("id_token").(string)
			if raw == "" {
				return errors.New("the identity provider answered without an ID token")
			}
			// The server verifies the token and says who it is.
			id, err := (&apiclient.Client{BaseURL: server, Token: raw, Retries: -1}).Whoami(ctx)
			if err != nil {
				return apiFailure(err)
			}
			expiry, err := time.Parse(time.RFC3339, id.Expires)
			if err != nil {
				return fmt.Errorf("%s did not say when the token expires", server)
			}
			creds, path, err := readCredentials()
			if err != nil {
				return err
			}
			creds.Servers[serverKey(server)] = &login{Issuer: ac.OIDC.Issuer, User: id.User, IDToken: raw, Expiry: expiry}
			if err := creds.write(path); err != nil {
				return fmt.Errorf("keep the login: %w", err)
			}
			fmt.Fprintf(g.stdout, "logged in to %s as %s\n", server, id.User)
			printTeams(g, id)
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "API server URL (default $"+envServer+")")
	c.Flags().BoolVar(&device, "device", false, "use the device flow: enter a code on any device with a browser")
	c.Flags().BoolVar(&noBrowser, "no-browser", false, "print the URL to open instead of opening a browser")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the login")
	return c
}

func logoutCmd(g *globals) *cobra.Command {
	var server string
	c := &cobra.Command{
		Use:   "logout [--server URL]",
		Short: "Forget the login to a dmls API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				server = os.Getenv(envServer)
			}
			if server == "" {
				return usageError{errors.New("--server URL is required")}
			}
			creds, path, err := readCredentials()
			if err != nil {
				return err
			}
			if creds.Servers[serverKey(server)] == nil {
				fmt.Fprintf(g.stdout, "not logged in to %s\n", server)
				return nil
			}
			delete(creds.Servers, serverKey(server))
			if err := creds.write(path); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "logged out of %s\n", server)
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "API server URL (default $"+envServer+")")
	return c
}

// printTeams says which teams a user acts for.
func printTeams(g *globals, id *apiclient.Identity) {
	switch {
	case id.Admin:
		fmt.Fprintf(g.stdout, "admin: acts for every team\n")
	case len(id.Teams) == 0:
		fmt.Fprintf(g.stdout, "in no team: none of your groups is the group of a team of the platform\n")
	default:
		fmt.Fprintf(g.stdout, "teams: %s\n", strings.Join(id.Teams, ", "))
	}
}

// browserLogin runs the authorization code flow with PKCE, with a
// redirect to a port of 127.0.0.1 (RFC 8252): the browser comes back to
// this process, which checks the state and exchanges the code.
func browserLogin(ctx context.Context, g *globals, conf *oauth2.Config, noBrowser bool) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	conf.RedirectURL = fmt.Sprintf("http://%s/callback", ln.Addr())
	verifier := oauth2.GenerateVerifier()
	state := randomHex(16)
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	codes := make(chan string, 1)
	errs := make(chan error, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			// Not the answer to this login: another page's, or forged.
			http.Error(w, "this is not the login that dmls started (state mismatch)", http.StatusBadRequest)
			return
		}
		if e := q.Get("error"); e != "" {
			http.Error(w, "login failed: "+e, http.StatusBadRequest)
			select {
			case errs <- fmt.Errorf("the identity provider refused the login: %s %s", e, q.Get("error_description")):
			default:
			}
			return
		}
		select {
		case codes <- q.Get("code"):
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("You are logged in to dmls. You may close this window.\n"))
		default:
			http.Error(w, "this login is over", http.StatusConflict)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintf(g.stderr, "Log in at:\n  %s\n", authURL)
	if !noBrowser {
		if err := openBrowser(authURL); err != nil {
			fmt.Fprintf(g.stderr, "could not open a browser (%v): open the URL above, or use --device\n", err)
		}
	}
	var code string
	select {
	case code = <-codes:
	case err := <-errs:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("no login within the time given (--timeout): %w", ctx.Err())
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange the authorization code: %w", err)
	}
	return tok, nil
}

// deviceLogin runs the device flow (RFC 8628).
func deviceLogin(ctx context.Context, g *globals, conf *oauth2.Config, noBrowser bool) (*oauth2.Token, error) {
	if conf.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("the identity provider has no device flow (no device_authorization_endpoint); log in without --device")
	}
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("start the device flow: %w", err)
	}
	fmt.Fprintf(g.stderr, "To log in, open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" && !noBrowser {
		if err := openBrowser(da.VerificationURIComplete); err != nil {
			fmt.Fprintf(g.stderr, "could not open a browser (%v)\n", err)
		}
	}
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		return nil, fmt.Errorf("device flow: %w", err)
	}
	return tok, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
