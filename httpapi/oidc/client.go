package oidc

import (
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dgfip/apex-partenaires/directory"
)

// client is a DGFiP application as the library reads it (op.Client): a
// confidential web application, the code flow only, its secret the
// password of its bind account.
type client struct {
	app    *directory.Application
	issuer string
	policy directory.OIDCPolicy
}

func (c *client) GetID() string          { return c.app.ID }
func (c *client) RedirectURIs() []string { return c.app.RedirectURIs }

// PostLogoutRedirectURIs are where a logout may return: the application's
// home URL and its redirect URIs.
func (c *client) PostLogoutRedirectURIs() []string {
	uris := slices.Clone(c.app.RedirectURIs)
	if c.app.HomeURL != "" {
		uris = append(uris, c.app.HomeURL)
	}
	return uris
}

func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration       { return c.policy.IDTokenTTL }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == directory.ScopeApex }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true } // the claims in the ID token too
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// LoginURL is httpapi's page that carries the request on.
func (c *client) LoginURL(id string) string {
	return c.issuer + PathLogin + "?id=" + url.QueryEscape(id)
}
