package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// credentialsFile is where dmls login keeps the tokens, in the user's
// config folder ($XDG_CONFIG_HOME/dmls, ~/.config/dmls).
const credentialsFile = "credentials.json"

// credentials are the logins of dmls login, by server URL.
type credentials struct {
	Servers map[string]*login `json:"servers"`
}

// login is one server's login: the identity provider's ID token (sent as
// the bearer token) and when it expires.
type login struct {
	Issuer  string    `json:"issuer"`
	User    string    `json:"user"`
	IDToken string    `json:"idToken"`
	Expiry  time.Time `json:"expiry"`
}

// credentialsPath returns the file of the logins.
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder for the login: %w", err)
	}
	return filepath.Join(dir, "dmls", credentialsFile), nil
}

// readCredentials reads the logins. A file that others may read or write
// is refused: it holds tokens.
func readCredentials() (*credentials, string, error) {
	path, err := credentialsPath()
	if err != nil {
		return nil, "", err
	}
	c := &credentials{Servers: map[string]*login{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, path, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 || !st.Mode().IsRegular() {
		return nil, path, fmt.Errorf("refusing %s: its mode is %#o, so other users may read the tokens it holds; chmod 600 it, or remove it and run dmls login again", path, perm)
	}
	if err := json.NewDecoder(f).Decode(c); err != nil {
		return nil, path, fmt.Errorf("%s: %w; remove it and run dmls login again", path, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]*login{}
	}
	return c, path, nil
}

// write replaces the file whole (a temporary file of mode 0600, renamed),
// so that no reader sees half of it and no other user can read it.
func (c *credentials) write(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// serverKey is how a server is named in the file: its URL without a
// trailing slash.
func serverKey(server string) string { return strings.TrimRight(server, "/") }

// storedToken returns the ID token of dmls login for server, "" when there
// is no login, or an error when the login expired.
func storedToken(server string) (string, error) {
	c, _, err := readCredentials()
	if err != nil {
		return "", err
	}
	l := c.Servers[serverKey(server)]
	if l == nil {
		return "", nil
	}
	if !time.Now().Before(l.Expiry) {
		return "", fmt.Errorf("your login to %s (as %s) expired at %s: run dmls login --server %s", server, l.User, l.Expiry.Local().Format(time.RFC3339), server)
	}
	return l.IDToken, nil
}
