package gitops

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Names of the variables (and credentials-file keys) that AuthFromEnv reads.
const (
	EnvToken          = "DMLS_GIT_TOKEN"
	EnvUsername       = "DMLS_GIT_USERNAME"
	EnvPassword       = "DMLS_GIT_PASSWORD"
	EnvSSHKeyFile     = "DMLS_GIT_SSH_KEY_FILE"
	EnvSSHPassphrase  = "DMLS_GIT_SSH_KEY_PASSPHRASE"
	EnvSSHKnownHosts  = "DMLS_GIT_SSH_KNOWN_HOSTS_FILE"
	EnvInsecureHTTP   = "DMLS_GIT_ALLOW_INSECURE_HTTP"
	EnvCredentialFile = "DMLS_GIT_CREDENTIALS_FILE"
)

// TokenUser is the basic-auth user sent with a token when no username is set; GitHub, GitLab
// and Gitea accept any user with a token, and this one says what the password is.
const TokenUser = "x-access-token"

// maxCredentialsFile bounds the credentials file so that a wrong path cannot make us read a
// large file into memory.
const maxCredentialsFile = 64 << 10

var fileKeys = map[string]bool{
	EnvToken: true, EnvUsername: true, EnvPassword: true, EnvSSHKeyFile: true,
	EnvSSHPassphrase: true, EnvSSHKnownHosts: true, EnvInsecureHTTP: true,
}

// Auth holds the credentials for one remote. The zero value means anonymous access (or, for
// SSH, go-git's default of the SSH agent). Printing, logging or JSON-encoding an Auth shows
// which credentials are set, never their values.
type Auth struct {
	// Username is the HTTP basic-auth user, and the SSH user when the URL names none.
	Username string
	// Password is the HTTP basic-auth password or access token.
	Password string
	// SSHKey is a PEM-encoded private key for ssh:// and user@host:path URLs.
	SSHKey []byte
	// SSHKeyPassphrase decrypts SSHKey.
	SSHKeyPassphrase string
	// SSHKnownHostsFile verifies the server's host key; empty means go-git's default
	// ($SSH_KNOWN_HOSTS or ~/.ssh/known_hosts).
	SSHKnownHostsFile string
	// AllowInsecureHTTP permits sending Password over plain http:// to a host that is not a
	// loopback address. Without it such a request fails before anything is sent.
	AllowInsecureHTTP bool
}

// AuthFromEnv builds an Auth from the DMLS_GIT_* variables that getenv returns (os.Getenv in
// production), and from the credentials file that DMLS_GIT_CREDENTIALS_FILE names. A variable
// that is set overrides the same key in the file. See the package documentation for the keys.
func AuthFromEnv(getenv func(string) string) (Auth, error) {
	vals := map[string]string{}
	fromFile := map[string]bool{}
	baseDir := ""
	if file := getenv(EnvCredentialFile); file != "" {
		fv, err := readCredentialsFile(file)
		if err != nil {
			return Auth{}, err
		}
		for k, v := range fv {
			vals[k], fromFile[k] = v, true
		}
		baseDir = filepath.Dir(file)
	}
	for k := range fileKeys {
		if v := getenv(k); v != "" {
			vals[k], fromFile[k] = v, false
		}
	}
	// Relative paths in the file are relative to the file, so that it can sit next to its key.
	resolve := func(k string) string {
		p := vals[k]
		if p != "" && fromFile[k] && !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		return p
	}

	var a Auth
	token, user, pass := vals[EnvToken], vals[EnvUsername], vals[EnvPassword]
	switch {
	case token != "" && pass != "":
		return Auth{}, fmt.Errorf("%w: set %s or %s, not both", ErrCredentials, EnvToken, EnvPassword)
	case token != "":
		a.Username, a.Password = user, token
		if a.Username == "" {
			a.Username = TokenUser
		}
	case pass != "":
		if user == "" {
			return Auth{}, fmt.Errorf("%w: %s is set but %s is not", ErrCredentials, EnvPassword, EnvUsername)
		}
		a.Username, a.Password = user, pass
	default:
		a.Username = user
	}

	keyFile := resolve(EnvSSHKeyFile)
	a.SSHKeyPassphrase = vals[EnvSSHPassphrase]
	if keyFile != "" {
		key, err := os.ReadFile(keyFile)
		if err != nil {
			return Auth{}, fmt.Errorf("%w: read %s: %w", ErrCredentials, EnvSSHKeyFile, err)
		}
		a.SSHKey = key
		// Parse now so that a wrong passphrase or a public key is reported before any network use.
		if _, err := gitssh.NewPublicKeys("git", key, a.SSHKeyPassphrase); err != nil {
			r := newRedactor(a.SSHKeyPassphrase, string(key))
			return Auth{}, fmt.Errorf("%w: parse SSH key %s: %s", ErrCredentials, keyFile, r.scrub(err.Error()))
		}
	} else if a.SSHKeyPassphrase != "" {
		return Auth{}, fmt.Errorf("%w: %s is set but %s is not", ErrCredentials, EnvSSHPassphrase, EnvSSHKeyFile)
	}
	if user != "" && a.Password == "" && keyFile == "" {
		return Auth{}, fmt.Errorf("%w: %s is set without %s, %s or %s", ErrCredentials, EnvUsername, EnvToken, EnvPassword, EnvSSHKeyFile)
	}
	if kh := resolve(EnvSSHKnownHosts); kh != "" {
		if _, err := os.Stat(kh); err != nil {
			return Auth{}, fmt.Errorf("%w: %s: %w", ErrCredentials, EnvSSHKnownHosts, err)
		}
		a.SSHKnownHostsFile = kh
	}
	switch v := strings.ToLower(vals[EnvInsecureHTTP]); v {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		a.AllowInsecureHTTP = true
	default:
		return Auth{}, fmt.Errorf("%w: %s must be true or false", ErrCredentials, EnvInsecureHTTP)
	}
	return a, nil
}

// readCredentialsFile parses KEY=value lines; errors name the line, never the value.
func readCredentialsFile(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCredentials, EnvCredentialFile, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrCredentials, name, err)
	}
	if len(data) > maxCredentialsFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCredentials, name, maxCredentialsFile)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("%w: %s:%d: want KEY=value", ErrCredentials, name, n)
		}
		if !fileKeys[k] {
			return nil, fmt.Errorf("%w: %s:%d: unknown key %q (valid: %s)", ErrCredentials, name, n, k, validKeys())
		}
		if _, dup := vals[k]; dup {
			return nil, fmt.Errorf("%w: %s:%d: %s is set twice", ErrCredentials, name, n, k)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrCredentials, name, err)
	}
	return vals, nil
}

func validKeys() string {
	return strings.Join([]string{EnvToken, EnvUsername, EnvPassword, EnvSSHKeyFile, EnvSSHPassphrase, EnvSSHKnownHosts, EnvInsecureHTTP}, ", ")
}

// method returns the go-git auth method for ep, or nil to let go-git use the URL's userinfo or
// its SSH defaults.
func (a Auth) method(ep *transport.Endpoint) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "http", "https":
		if a.Password == "" {
			return nil, nil
		}
		if ep.Protocol == "http" && !a.AllowInsecureHTTP && !isLoopback(ep.Host) {
			return nil, fmt.Errorf("%w: refusing to send credentials over plain http to %s; use https or set %s",
				ErrInvalidRequest, ep.Host, EnvInsecureHTTP)
		}
		user := a.Username
		if user == "" {
			user = TokenUser
		}
		return &githttp.BasicAuth{Username: user, Password: a.Password}, nil
	case "ssh":
		if len(a.SSHKey) == 0 {
			return nil, nil
		}
		user := ep.User
		if user == "" {
			user = a.Username
		}
		if user == "" {
			user = "git"
		}
		pk, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("%w: parse SSH key: %s", ErrCredentials, a.redactor().scrub(err.Error()))
		}
		if a.SSHKnownHostsFile != "" {
			cb, err := gitssh.NewKnownHostsCallback(a.SSHKnownHostsFile)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrCredentials, EnvSSHKnownHosts, err)
			}
			pk.HostKeyCallback = cb
		}
		return pk, nil
	}
	return nil, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (a Auth) redactor() *redactor {
	return newRedactor(a.Password, a.SSHKeyPassphrase, string(a.SSHKey))
}

// String describes which credentials are set without revealing them.
func (a Auth) String() string {
	var parts []string
	if a.Username != "" {
		parts = append(parts, "username="+a.Username)
	}
	if a.Password != "" {
		parts = append(parts, "password=***")
	}
	if len(a.SSHKey) > 0 {
		parts = append(parts, "ssh-key=***")
	}
	if a.SSHKeyPassphrase != "" {
		parts = append(parts, "ssh-key-passphrase=***")
	}
	if a.SSHKnownHostsFile != "" {
		parts = append(parts, "ssh-known-hosts="+a.SSHKnownHostsFile)
	}
	if a.AllowInsecureHTTP {
		parts = append(parts, "allow-insecure-http")
	}
	return "gitops.Auth{" + strings.Join(parts, " ") + "}"
}

// GoString keeps %#v from printing the fields.
func (a Auth) GoString() string { return a.String() }

// Format makes every fmt verb, including %d and %x, print String instead of the fields.
func (a Auth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// LogValue keeps log/slog from printing the fields.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalJSON keeps encoding/json from serialising the secrets.
func (a Auth) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }
