package oidc

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dgfip/apex-partenaires/directory"
)

// storage is the library's Storage over the directory's OIDC workflow.
// What the provider does not do (refresh tokens, introspection,
// revocation, JWT profile grants, client credentials) answers an error.
type storage struct {
	flow   directory.OIDC
	issuer string
}

var errUnsupported = errors.New("oidc: not supported by this provider")

// The claims of the apex scope.
const (
	claimStructure = "apex_structure"
	claimService   = "apex_service"
	claimRole      = "apex_role"
	claimProfiles  = "apex_profiles"
)

// serverError marks a failure of the directory as the server's, which the
// library answers 500 (anything else it takes for the client's fault).
func serverError(err error) error {
	return oidc.ErrServerError().WithParent(err)
}

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	r := directory.OIDCRequest{
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, Scopes: req.Scopes, State: req.State, Nonce: req.Nonce,
		ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt: req.Prompt, HintSubject: hintSubject,
	}
	if req.MaxAge != nil {
		age := int64(*req.MaxAge)
		r.MaxAge = &age
	}
	got, err := s.flow.Begin(ctx, r)
	var refused *directory.OIDCRequestError
	switch {
	case errors.As(err, &refused):
		return nil, oidc.ErrInvalidRequest().WithDescription("%s", refused.Description)
	case errors.Is(err, directory.ErrNotFound):
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown client")
	case err != nil:
		return nil, serverError(err)
	}
	return &authRequest{got}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.flow.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

// AuthRequestByCode spends the code: a second exchange of it finds
// nothing, even if the first fails later (a wrong client secret, a wrong
// code_verifier).
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.flow.Exchange(ctx, code)
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.flow.SaveCode(ctx, id, code)
}

func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.flow.Forget(ctx, id) // a request whose code was spent is gone already
}

// CreateAccessToken names an access token, a JWT the library signs: its
// id (jti) carries the application and the scopes, which userinfo reads
// back from the verified token, so that no token is stored.
func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	client := ""
	if r, ok := req.(*authRequest); ok {
		client = r.r.ClientID
	}
	if client == "" || strings.ContainsAny(client, ":") {
		return "", time.Time{}, errUnsupported
	}
	id := client + ":" + strings.Join(req.GetScopes(), " ") + ":" + directory.NewRequestID()
	return id, time.Now().UTC().Add(s.flow.Policy.AccessTokenTTL), nil
}

// tokenID reads what CreateAccessToken put in a token's id.
func tokenID(id string) (client string, scopes []string, ok bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 || parts[0] == "" {
		return "", nil, false
	}
	return parts[0], strings.Fields(parts[1]), true
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errUnsupported
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

// TerminateSession is not called: httpapi ends the browser's session
// itself at the end_session endpoint.
func (s *storage) TerminateSession(context.Context, string, string) error { return errUnsupported }

func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrRequestNotSupported()
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, _, err := s.flow.SigningKeys(ctx)
	if err != nil {
		return nil, serverError(err)
	}
	return signingKey{id: k.ID, key: k.Private}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet is the public half of the keys published: the one that signs,
// and those retired whose tokens may still be alive.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	_, published, err := s.flow.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]op.Key, len(published))
	for i, k := range published {
		keys[i] = publicKey{id: k.ID, key: &k.Private.PublicKey}
	}
	return keys, nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	app, err := s.flow.Client(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("unknown client: %w", err)
	}
	if err != nil {
		return nil, serverError(err)
	}
	return &client{app: app, issuer: s.issuer, policy: s.flow.Policy}, nil
}

// AuthorizeClientIDSecret checks the secret by a bind as the application's
// account; a wrong one (or too many wrong ones from this address) is
// invalid_client, 401.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	err := s.flow.AuthenticateClient(ctx, id, secret)
	if err == nil || errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, directory.ErrRateLimited) {
		return err
	}
	return serverError(err)
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil // SetUserinfoFromRequest does it
}

// SetUserinfoFromRequest puts the claims of the scopes in an ID token, at
// the token endpoint: the account must still be active and hold a profile
// of the application, or no token is issued.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	err := s.userinfo(ctx, info, req.GetSubject(), req.GetClientID(), scopes)
	if errors.Is(err, directory.ErrForbidden) || errors.Is(err, directory.ErrNotFound) {
		return oidc.ErrInvalidGrant().WithDescription("the account can no longer sign in to this application")
	}
	return err
}

// SetUserinfoFromToken answers the userinfo endpoint, for the application
// and the scopes its access token carries.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, id, subject, _ string) error {
	client, scopes, ok := tokenID(id)
	if !ok {
		return oidc.ErrAccessDenied().WithDescription("not an access token of this provider")
	}
	err := s.userinfo(ctx, info, subject, client, scopes)
	if errors.Is(err, directory.ErrForbidden) || errors.Is(err, directory.ErrNotFound) {
		return oidc.ErrAccessDenied().WithDescription("the account can no longer sign in to this application")
	}
	return err
}

// userinfo fills the claims of an account for one application: profile
// (names, identifier), email, and apex (structure, service, role, the
// profiles of that application only).
func (s *storage) userinfo(ctx context.Context, info *oidc.UserInfo, subject, app string, scopes []string) error {
	u, err := s.flow.User(ctx, subject, app)
	if err != nil {
		return err
	}
	p := u.Person
	info.Subject = p.Identifier
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.GivenName, info.FamilyName = p.FirstName, p.LastName
		info.Name = p.FirstName + " " + p.LastName
		info.PreferredUsername = p.Identifier
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = p.Email
	}
	if slices.Contains(scopes, directory.ScopeApex) {
		if st := u.Structure; st != nil {
			info.AppendClaims(claimStructure, map[string]string{"siret": st.SIRET, "name": st.Name, "category": st.Category})
		}
		if p.Service != "" {
			info.AppendClaims(claimService, p.Service)
		}
		info.AppendClaims(claimRole, string(p.Role))
		info.AppendClaims(claimProfiles, u.Profiles)
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errUnsupported
}

// GetPrivateClaimsFromScopes: the access token carries no claim about the
// person; userinfo gives them.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnsupported
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

func (s *storage) Health(context.Context) error { return nil }

// signingKey is the key that signs (op.SigningKey).
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

// publicKey is a key published in the JWKS (op.Key).
type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }

// The library finds the claims of an ID token through this optional interface.
var _ op.CanSetUserinfoFromRequest = (*storage)(nil)
