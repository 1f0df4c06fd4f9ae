// Package oidc is the OpenID provider of DGFiP applications (OpenID
// Connect Core 1.0, authorization code flow with PKCE), built on
// zitadel/oidc's op package: the protocol (parsing, validation, JWTs,
// JWKS) is the library's, and this package gives it its storage over the
// directory's OIDC workflow, the applications as clients, and the keys.
// The sign-in itself (the pages, the session) is httpapi's, which carries
// a request on with Provider.Respond and Provider.ErrorURL.
//
// Endpoints, under the issuer (the service's public URL):
//
//	/.well-known/openid-configuration   discovery
//	/oidc/authorize                     authorization (code flow only, PKCE S256 required)
//	/oidc/token                         token (client_secret_basic or client_secret_post)
//	/oidc/userinfo                      userinfo (GET or POST, Bearer access token)
//	/oidc/keys                          JWKS
//	/oidc/end_session                   RP-initiated logout (httpapi's handler)
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dgfip/apex-partenaires/directory"
)

// The provider's paths.
const (
	PathDiscovery  = oidc.DiscoveryEndpoint // /.well-known/openid-configuration
	PathAuthorize  = "/oidc/authorize"
	PathToken      = "/oidc/token"
	PathUserinfo   = "/oidc/userinfo"
	PathKeys       = "/oidc/keys"
	PathEndSession = "/oidc/end_session"
	// PathLogin is where the authorization endpoint sends the browser with
	// the request's id: httpapi's page that signs the person in, or finds
	// them signed in, and answers the application.
	PathLogin = "/oidc/login"
)

// Errors that httpapi shows as a French page rather than sending the
// browser anywhere: a redirect is only ever made to a URI the
// application registered.
var (
	ErrUnknownClient = errors.New("oidc: unknown client")
	ErrRedirectURI   = errors.New("oidc: redirect_uri not registered for the client")
	ErrEndSession    = errors.New("oidc: invalid end_session request")
)

// Config is what the provider needs.
type Config struct {
	// Issuer is the service's public URL, without a trailing slash; https,
	// or http for a machine of one's own (make run, tests).
	Issuer string
	OIDC   directory.OIDC
}

// Provider serves the protocol endpoints and carries sign-in requests on.
type Provider struct {
	op     *op.Provider
	flow   directory.OIDC
	issuer string
}

// claims are the claims the provider may put in ID tokens and userinfo.
var claims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash",
	"name", "given_name", "family_name", "preferred_username", "email",
	claimStructure, claimService, claimRole, claimProfiles,
}

// New builds the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.OIDC.Store == nil {
		return nil, errors.New("oidc: the OIDC workflow is required")
	}
	cfg.OIDC.Policy = cfg.OIDC.Policy.WithDefaults()
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oidc: the issuer %q must be an http(s) URL", cfg.Issuer)
	}
	p := &Provider{flow: cfg.OIDC, issuer: issuer}
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint(PathAuthorize), op.NewEndpoint(PathToken), op.NewEndpoint(PathUserinfo),
			op.NewEndpoint("/oidc/revoke"), op.NewEndpoint(PathEndSession), op.NewEndpoint(PathKeys)),
		// Authorization codes only: access tokens are JWTs, nothing is
		// ever decrypted.
		op.WithCrypto(codeMinter{cfg.OIDC}),
		// The clients are the applications' servers: no browser calls
		// these endpoints from another origin.
		op.WithCORSOptions(nil),
	}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(&op.Config{
		CodeMethodS256: true,
		// A logout that names no registered address ends at the sign-in page.
		DefaultLogoutRedirectURI: issuer + "/connexion",
		AuthMethodPost:           true,
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, directory.ScopeApex},
		SupportedClaims:          claims,
	}, &storage{flow: cfg.OIDC, issuer: issuer}, op.StaticIssuer(issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	return p, nil
}

// Issuer is the provider's issuer identifier.
func (p *Provider) Issuer() string { return p.issuer }

// ServeHTTP serves the endpoints the library answers whole: authorize
// (after CheckAuthorize), token, userinfo, keys.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathToken || r.URL.Path == PathUserinfo {
		w.Header().Set("Cache-Control", "no-store")
	}
	p.op.ServeHTTP(w, r)
}

// CheckAuthorize checks, before the library sees an authorization
// request, that it names a known application and one of its redirect
// URIs exactly: anything else is answered here, never redirected (an
// open redirect otherwise); and counts it in its client address's limit.
// Errors: ErrUnknownClient, ErrRedirectURI, ErrRateLimited, the
// directory's.
func (p *Provider) CheckAuthorize(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: %w", ErrRedirectURI, err)
	}
	app, err := p.flow.Client(r.Context(), r.Form.Get("client_id"))
	if errors.Is(err, directory.ErrNotFound) {
		return ErrUnknownClient
	}
	if err != nil {
		return err
	}
	if uri := r.Form.Get("redirect_uri"); uri == "" || !slices.Contains(app.RedirectURIs, uri) {
		return ErrRedirectURI
	}
	return p.flow.Admit(r.Context())
}

// Discovery serves the discovery document: what the library describes,
// narrowed to what this provider does (the code flow with PKCE S256, the
// client secret, no refresh token, no introspection nor revocation).
func (p *Provider) Discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.op.Storage())
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpoint, d.RevocationEndpoint, d.DeviceAuthorizationEndpoint, d.CheckSessionIframe = "", "", "", ""
	d.IntrospectionEndpointAuthMethodsSupported, d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil, nil
	d.RevocationEndpointAuthMethodsSupported, d.RevocationEndpointAuthSigningAlgValuesSupported = nil, nil
	d.RequestObjectSigningAlgValuesSupported = nil
	d.ClaimsParameterSupported = false
	w.Header().Set("Cache-Control", "public, max-age=300")
	op.Discover(w, d)
}

// Respond issues the code of a request that names its person and returns
// the URL that takes it, with the state, to the application.
func (p *Provider) Respond(ctx context.Context, r *directory.OIDCRequest) (string, error) {
	return op.BuildAuthResponseCallbackURL(op.ContextWithIssuer(ctx, p.issuer), &authRequest{r}, p.op)
}

// AccessDeniedURL tells the application that the person holds no profile
// of it (error=access_denied), at the request's redirect URI, which was
// checked when the request began.
func (p *Provider) AccessDeniedURL(r *directory.OIDCRequest) (string, error) {
	return p.errorURL(r, oidc.ErrAccessDenied().WithDescription("the account holds no profile of this application"))
}

// LoginRequiredURL tells the application that nobody is signed in, for a
// request that asked that nothing be shown (prompt=none).
func (p *Provider) LoginRequiredURL(r *directory.OIDCRequest) (string, error) {
	return p.errorURL(r, oidc.ErrLoginRequired().WithDescription("nobody is signed in"))
}

func (p *Provider) errorURL(r *directory.OIDCRequest, e *oidc.Error) (string, error) {
	e.State = r.State
	return op.AuthResponseURL(r.RedirectURI, oidc.ResponseType(r.ResponseType), oidc.ResponseMode(r.ResponseMode), e, p.op.Encoder())
}

// EndSession is an RP-initiated logout, checked.
type EndSession struct {
	// Subject is the account the application's id_token_hint names; ""
	// without a hint (or with one that no longer verifies).
	Subject string
	// RedirectURI is where the browser goes afterwards: the
	// post_logout_redirect_uri, which must be the application's home URL or
	// one of its redirect URIs, or the sign-in page.
	RedirectURI string
}

// CheckEndSession reads and checks a logout request (GET or POST). A hint
// whose signature no longer verifies (its key retired long ago) counts as
// no hint. Errors: ErrEndSession.
func (p *Provider) CheckEndSession(r *http.Request) (*EndSession, error) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	req, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEndSession, err)
	}
	s, err := op.ValidateEndSessionRequest(ctx, req, p.op)
	if err != nil && req.IdTokenHint != "" {
		req.IdTokenHint = ""
		s, err = op.ValidateEndSessionRequest(ctx, req, p.op)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEndSession, err)
	}
	return &EndSession{Subject: s.UserID, RedirectURI: s.RedirectURI}, nil
}

// codeMinter is the library's Crypto, which it calls for one thing here:
// to make an authorization code of a request (Encrypt of its id). The code
// is the directory's: random, naming its request. Nothing is decrypted,
// access tokens being signed JWTs.
type codeMinter struct{ flow directory.OIDC }

func (m codeMinter) Encrypt(id string) (string, error) { return m.flow.NewCode(id), nil }

func (m codeMinter) Decrypt(string) (string, error) {
	return "", errors.New("oidc: no opaque token to decrypt")
}
