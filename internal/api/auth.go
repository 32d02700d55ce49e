package api

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/dmls-project/dmls/internal/oidcauth"
)

// EnvTokens names the variable that holds team tokens in the token file's
// format, in addition to or instead of --tokens FILE.
const EnvTokens = "DMLS_API_TOKENS"

// AdminTeam, as the team of a token, lets the token act for every team.
const AdminTeam = "*"

// minTokenLen is the shortest plain token accepted: anything shorter is
// guessable.
const minTokenLen = 16

// ErrTokens means the token file or variable is malformed.
var ErrTokens = errors.New("invalid API tokens")

var (
	teamRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	actorRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// identity is who sent a request: the team the token belongs to and the
// actor it names, or a user of the identity provider (oidc.go) with the
// teams of the user's groups.
type identity struct {
	team  string
	actor string
	// user, for a person logged in through OIDC, and the teams whose
	// group is among the user's groups; userAdmin when one of them is an
	// admin group.
	user      *oidcauth.User
	teams     []string
	userAdmin bool
	// sa is a Kubernetes service account, as "<namespace>/<name>".
	sa string
}

// method is how the caller authenticated, "" for nobody.
func (id identity) method() string {
	switch {
	case id.user != nil:
		return methodOIDC
	case id.sa != "":
		return methodServiceAccount
	case id.actor != "":
		return methodToken
	}
	return ""
}

func (id identity) admin() bool { return id.team == AdminTeam || id.userAdmin }

// mayActFor reports whether the caller may act for team: an admin for
// every team, a token for its own, a user for each team of the user's
// groups.
func (id identity) mayActFor(team string) bool {
	return id.admin() || (id.team != "" && id.team == team) || slices.Contains(id.teams, team)
}

// actorTrailer describes the caller in a commit's Dmls-Actor trailer: a
// user's subject and email, a service account, or a token's actor (which
// names the token's holder and never holds the token).
func (id identity) actorTrailer() string {
	switch {
	case id.user != nil:
		s := "sub=" + id.user.Subject
		if id.user.Email != "" {
			s += " email=" + id.user.Email
		}
		return s
	case id.sa != "":
		return "serviceaccount=" + id.sa
	}
	return "token=" + id.actor
}

// Tokens maps bearer tokens to teams. It keeps only the tokens' SHA-256
// hashes, and compares a presented token's hash with every known hash in
// constant time, so neither the tokens nor the timing of a comparison
// leak. A Tokens is read-only after ParseTokens and safe for concurrent use.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	hash [sha256.Size]byte
	id   identity
	at   string // file:line, for errors
}

// Len returns the number of tokens; a nil Tokens has none.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// ParseTokens reads tokens in the token file format:
//
//	# comment
//	TEAM=TOKEN
//	TEAM/ACTOR=TOKEN
//	TEAM=sha256:HEX
//
// One entry per line; blank lines and lines starting with # are ignored,
// and spaces around the key and the value are trimmed. TEAM is a team of the
// platform, or * for a token that may act for every team. ACTOR names who
// holds the token in the audit log (by default TEAM plus the first 8 hex
// digits of the token's hash, which identify a token without revealing
// it). TOKEN is at least 16 characters; sha256:HEX gives the SHA-256 of the
// token instead, so that the file need not hold the token itself. A team
// may have several tokens (for rotation); a token may belong to one team
// only. name labels errors; they never quote a token.
func ParseTokens(r io.Reader, name string) (*Tokens, error) {
	t := &Tokens{}
	return t, t.add(r, name)
}

// LoadTokens reads the token file named file (if not empty) and the
// DMLS_API_TOKENS value env (if not empty), and requires at least one token.
func LoadTokens(file, env string) (*Tokens, error) {
	t := &Tokens{}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTokens, err)
		}
		defer f.Close()
		if err := t.add(f, file); err != nil {
			return nil, err
		}
	}
	if env != "" {
		if err := t.add(strings.NewReader(env), "$"+EnvTokens); err != nil {
			return nil, err
		}
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("%w: no tokens: give --tokens FILE or set %s", ErrTokens, EnvTokens)
	}
	return t, nil
}

func (t *Tokens) add(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%w: %s:%d: want TEAM=TOKEN", ErrTokens, name, n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		team, actor, _ := strings.Cut(key, "/")
		if team != AdminTeam && !teamRE.MatchString(team) {
			return fmt.Errorf("%w: %s:%d: team %q must be a team name (a DNS-1123 label) or *", ErrTokens, name, n, team)
		}
		if actor != "" && !actorRE.MatchString(actor) {
			return fmt.Errorf("%w: %s:%d: actor %q: want letters, digits, '.', '_', '@' or '-', at most 63", ErrTokens, name, n, actor)
		}
		var h [sha256.Size]byte
		if hx, isHash := strings.CutPrefix(value, "sha256:"); isHash {
			b, err := hex.DecodeString(hx)
			if err != nil || !sha256RE.MatchString(hx) {
				return fmt.Errorf("%w: %s:%d: sha256: wants 64 lower-case hex digits", ErrTokens, name, n)
			}
			copy(h[:], b)
		} else {
			if len(value) < minTokenLen {
				return fmt.Errorf("%w: %s:%d: token of team %s is shorter than %d characters", ErrTokens, name, n, team, minTokenLen)
			}
			if strings.ContainsFunc(value, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return fmt.Errorf("%w: %s:%d: token of team %s contains spaces or control characters", ErrTokens, name, n, team)
			}
			h = sha256.Sum256([]byte(value))
		}
		if actor == "" {
			actor = team + "#" + hex.EncodeToString(h[:4])
		}
		for _, e := range t.entries {
			if e.hash == h && e.id.team != team {
				return fmt.Errorf("%w: %s:%d: the same token is given to teams %s and %s", ErrTokens, name, n, e.id.team, team)
			}
		}
		t.entries = append(t.entries, tokenEntry{hash: h, id: identity{team: team, actor: actor}, at: fmt.Sprintf("%s:%d", name, n)})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrTokens, name, err)
	}
	return nil
}

// CheckTeams refuses a token of a team that teams (the platform's) does
// not hold, naming the file and line: a misspelt team would otherwise
// give a token that can do nothing, silently. The admin team * is always
// known.
func (t *Tokens) CheckTeams(teams []string) error {
	if t == nil {
		return nil
	}
	for _, e := range t.entries {
		if e.id.team != AdminTeam && !slices.Contains(teams, e.id.team) {
			return fmt.Errorf("%w: %s: team %s is not a team of the platform; its teams are %s (or * for an admin)", ErrTokens, e.at, e.id.team, strings.Join(teams, ", "))
		}
	}
	return nil
}

// lookup returns the identity of token. It hashes the token and compares
// the hash with every entry, without stopping at a match.
func (t *Tokens) lookup(token string) (identity, bool) {
	if t == nil {
		return identity{}, false
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return identity{}, false
	}
	return t.entries[found].id, true
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
