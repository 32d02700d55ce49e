package rules

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// APIAuth checks what the schema cannot say of api.auth: an OIDC issuer
// is an https:// URL, or an http:// one on a loopback address only (a test
// provider), since tokens and codes would otherwise cross the network in
// the clear; it has no query or fragment (OpenID Connect Discovery 1.0,
// section 4).
func APIAuth(a *spec.APIAuth, prov provenance.Map) diag.List {
	var d diag.List
	if a == nil || a.OIDC == nil {
		return d
	}
	if err := IssuerURL(a.OIDC.Issuer); err != "" {
		pos, _ := prov.Lookup(spec.PathOIDCIssuer)
		d.Add(pos, spec.PathOIDCIssuer, "%s", err)
	}
	return d
}

// IssuerURL returns why issuer cannot be an OIDC issuer of dmls serve, or
// "" when it can.
func IssuerURL(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("issuer %q is not a URL; want https://HOST[/PATH]", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Sprintf("issuer %q has a query, a fragment or user info; want https://HOST[/PATH]", issuer)
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if Loopback(u.Hostname()) {
			return ""
		}
		return fmt.Sprintf("issuer %q is http:// on a host that is not a loopback address: tokens would cross the network unencrypted; use https:// (http:// is for a test provider on 127.0.0.1, [::1] or localhost)", issuer)
	}
	return fmt.Sprintf("issuer %q has scheme %s; want https://", issuer, u.Scheme)
}

// Loopback reports whether host (no port) is localhost or a loopback IP.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
