package spec

import (
	"maps"
	"slices"
	"time"
)

// Paths of api.auth in platform.cue, for findings.
const (
	PathAPIAuth       = "api.auth"
	PathOIDC          = "api.auth.oidc"
	PathOIDCIssuer    = "api.auth.oidc.issuer"
	PathServiceAccts  = "api.auth.serviceAccounts"
	ServiceAccountAud = "dmls"
)

// APIAuth is how dmls serve knows its callers beyond team tokens
// (schemas #APIAuth).
type APIAuth struct {
	OIDC *OIDC `json:"oidc,omitempty"`
	// ServiceAccounts maps "<namespace>/<name>" to the team the service
	// account acts for.
	ServiceAccounts map[string]string `json:"serviceAccounts,omitempty"`
}

// OIDC is the OpenID Connect issuer whose tokens the API accepts (schemas
// #OIDC).
type OIDC struct {
	Issuer           string   `json:"issuer"`
	ClientID         string   `json:"clientID"`
	Audience         string   `json:"audience"`
	UsernameClaim    string   `json:"usernameClaim"`
	GroupsClaim      string   `json:"groupsClaim"`
	AdminGroups      []string `json:"adminGroups"`
	ClockSkewSeconds int      `json:"clockSkewSeconds"`
}

// ClockSkew is how far the server's and the issuer's clocks may disagree.
func (o *OIDC) ClockSkew() time.Duration {
	return time.Duration(o.ClockSkewSeconds) * time.Second
}

// TeamsOfGroups returns, sorted, the teams of p whose group is among
// groups, and whether a group is one of o's admin groups. It is the one
// place where identity-provider groups become dmls teams.
func (p *Platform) TeamsOfGroups(o *OIDC, groups []string) (teams []string, admin bool) {
	for _, name := range slices.Sorted(maps.Keys(p.Teams)) {
		if slices.Contains(groups, p.Teams[name].Group) {
			teams = append(teams, name)
		}
	}
	if o != nil {
		for _, g := range o.AdminGroups {
			if slices.Contains(groups, g) {
				admin = true
			}
		}
	}
	return teams, admin
}
