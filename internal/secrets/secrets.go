// Package secrets finds secret-looking literal values in specs: credentials
// in well-known key formats, and random-looking values under names that say
// they hold a secret. The loader calls it on every app; the API and an
// importer reach it through the loader or call Literal directly.
package secrets

import (
	"github.com/dmls-project/dmls/internal/diag"

	"math"
	"regexp"
	"strings"
	"unicode"
)

// Rule is the ID of the rule that reports secret literals, in findings and
// in an environment's policy (policy.secretLiterals).
const Rule = diag.RuleSecretLiteral

// Finding says what a literal looks like.
type Finding struct {
	// Kind names the kind of secret, e.g. "an AWS access key ID".
	Kind string
	// Name is the variable or flag name the value was found under, if any.
	Name string
}

// format is a well-known credential format.
type format struct {
	kind string
	re   *regexp.Regexp
	// whole, when true, matches against the whole value rather than its
	// tokens (a private-key block spans lines and spaces).
	whole bool
}

var formats = []format{
	{kind: "a private key block", re: regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`), whole: true},
	{kind: "credentials in a URL", re: regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`), whole: true},
	{kind: "a Slack webhook URL", re: regexp.MustCompile(`https://hooks\.slack\.com/(services|workflows)/[A-Za-z0-9/_-]{20,}`), whole: true},
	{kind: "an AWS access key ID", re: regexp.MustCompile(`^(AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}$`)},
	{kind: "a GitHub token", re: regexp.MustCompile(`^(gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})$`)},
	{kind: "a GitLab token", re: regexp.MustCompile(`^(glpat|gldt|glrt|glptt|glcbt|gloas)-[A-Za-z0-9_-]{20,}$`)},
	{kind: "a Slack token", re: regexp.MustCompile(`^xox[abposre]-[A-Za-z0-9-]{10,}$`)},
	{kind: "a Google API key", re: regexp.MustCompile(`^AIza[0-9A-Za-z_-]{35}$`)},
	{kind: "a Stripe secret key", re: regexp.MustCompile(`^(sk|rk)_live_[0-9A-Za-z]{16,}$`)},
	{kind: "a JSON Web Token", re: regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$`)},
	{kind: "an AWS secret access key", re: regexp.MustCompile(`^[A-Za-z0-9/+]{40}$`)},
}

// tokenSep splits a value into the tokens that key formats are matched
// against: "--key=AKIA...", "Bearer eyJ..." and "user:ghp_..." all yield
// the key as a token.
func tokenSep(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune(`=:,;"'`, r)
}

// Literal reports whether value, found under name (a variable, flag or
// field name; may be empty), looks like a secret.
func Literal(name, value string) (Finding, bool) {
	if n, v, ok := flagValue(value); ok && name == "" {
		if f, ok := Literal(n, v); ok {
			return f, true
		}
	}
	for _, f := range formats {
		if f.whole {
			if f.re.MatchString(value) {
				return Finding{Kind: f.kind, Name: name}, true
			}
			continue
		}
		for _, tok := range strings.FieldsFunc(value, tokenSep) {
			if f.re.MatchString(tok) && (f.kind != "an AWS secret access key" || awsSecretLike(tok)) {
				return Finding{Kind: f.kind, Name: name}, true
			}
		}
	}
	if name == "" || !plausibleSecret(value) {
		return Finding{}, false
	}
	switch nameClass(name) {
	case strongName:
		if len(value) >= 6 && Entropy(value) >= 0.75*math.Log2(float64(min(len(value), 32))) {
			return Finding{Kind: "a high-entropy value under a secret's name", Name: name}, true
		}
	case weakName:
		if len(value) >= 16 && Entropy(value) >= 3.5 {
			return Finding{Kind: "a high-entropy value under a key's name", Name: name}, true
		}
	}
	return Finding{}, false
}

// awsSecretLike tells a 40-character AWS secret access key from other
// 40-character strings such as git commit hashes: it mixes cases and
// digits and is random-looking.
func awsSecretLike(s string) bool {
	var upper, lower, digit bool
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9' || r == '/' || r == '+':
			digit = true
		}
	}
	return upper && lower && digit && Entropy(s) >= 4.0
}

// flagValue splits "--name=value" (or "-name=value") into name and value.
func flagValue(s string) (name, value string, ok bool) {
	if !strings.HasPrefix(s, "-") {
		return "", "", false
	}
	name, value, ok = strings.Cut(strings.TrimLeft(s, "-"), "=")
	return name, value, ok && name != ""
}

// FlagName returns the name of a flag argument that takes its value from
// the next argument ("--password" gives "password"), or "".
func FlagName(arg string) string {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return ""
	}
	return strings.TrimLeft(arg, "-")
}

type class int

const (
	plainName class = iota
	// strongName says a secret: PASSWORD, SECRET, TOKEN, ...
	strongName
	// weakName ends in KEY, which is as often a lookup key as a secret.
	weakName
)

var (
	strongWords = map[string]bool{
		"PASSWORD": true, "PASSWD": true, "PASSPHRASE": true, "PWD": true, "SECRET": true,
		"TOKEN": true, "CREDENTIAL": true, "CREDENTIALS": true, "APIKEY": true, "PRIVATEKEY": true,
		"AUTHTOKEN": true, "ACCESSKEY": true, "SECRETKEY": true, "CLIENTSECRET": true,
	}
	// benignLast are last words that make a secret-sounding name about
	// the secret rather than the secret itself: DB_PASSWORD_FILE,
	// TOKEN_TTL, SECRET_NAME.
	benignLast = map[string]bool{
		"FILE": true, "PATH": true, "DIR": true, "NAME": true, "NAMES": true, "ID": true, "ARN": true,
		"REF": true, "URL": true, "URI": true, "HOST": true, "PORT": true, "ENDPOINT": true,
		"TTL": true, "TIMEOUT": true, "EXPIRY": true, "TYPE": true, "KIND": true, "MODE": true,
		"FORMAT": true, "HEADER": true, "FIELD": true, "PROPERTY": true, "ENABLED": true,
		"DISABLED": true, "REQUIRED": true, "LENGTH": true, "LEN": true, "SIZE": true, "MIN": true,
		"MAX": true, "COUNT": true, "LIMIT": true, "POLICY": true, "VERSION": true, "ALGORITHM": true,
		"ALG": true, "PREFIX": true, "SUFFIX": true, "USER": true, "USERNAME": true, "ROTATION": true,
		"STORE": true, "KEY": false, "REGION": true, "PROVIDER": true, "SOURCE": true,
	}
)

// words splits a name into upper-case words at '_', '-', '.' and
// lower-to-upper case changes: "dbPassword" and "DB_PASSWORD" both give
// DB, PASSWORD.
func words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToUpper(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			flush()
			continue
		case unicode.IsUpper(r) && i > 0 && unicode.IsLower(rs[i-1]):
			flush()
		}
		cur = append(cur, r)
	}
	flush()
	return out
}

func nameClass(name string) class {
	ws := words(name)
	if len(ws) == 0 {
		return plainName
	}
	last := ws[len(ws)-1]
	if benignLast[last] {
		return plainName
	}
	// Joined pairs catch API_KEY, ACCESS_KEY, PRIVATE_KEY, CLIENT_SECRET.
	for i, w := range ws {
		if strongWords[w] {
			return strongName
		}
		if i > 0 && strongWords[ws[i-1]+w] {
			return strongName
		}
	}
	if last == "KEY" {
		return weakName
	}
	return plainName
}

var (
	placeholder = regexp.MustCompile(`^(\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|<[^<>]*>|\{\{[^{}]*\}\})$`)
	number      = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?[a-zA-Z]{0,3}$`)
	scheme      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
)

// plausibleSecret rules out values that cannot be a secret however they
// are named: empty, numbers and durations, booleans, placeholders and
// variable references, paths and URLs without credentials.
func plausibleSecret(v string) bool {
	switch strings.ToLower(v) {
	case "", "true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled":
		return false
	}
	if placeholder.MatchString(v) || number.MatchString(v) {
		return false
	}
	if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "~/") || scheme.MatchString(v) {
		return false
	}
	return !strings.ContainsAny(v, " \t\n")
}

// Entropy is the Shannon entropy of s in bits per character.
func Entropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

// Suggest returns the secretRef form that replaces a literal under name:
// the key is name in lower case with '-' for '_'.
func Suggest(name string) string {
	key := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	if key == "" {
		key = "value"
	}
	return key
}
