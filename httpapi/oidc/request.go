package oidc

import (
	"log/slog"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/dgfip/apex-partenaires/directory"
)

// authRequest is a sign-in request as the library reads it (op.AuthRequest).
type authRequest struct{ r *directory.OIDCRequest }

func (a *authRequest) GetID() string          { return a.r.ID }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return a.r.AMR() }
func (a *authRequest) GetAudience() []string  { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.r.AuthTime }
func (a *authRequest) GetClientID() string    { return a.r.ClientID }
func (a *authRequest) GetNonce() string       { return a.r.Nonce }
func (a *authRequest) GetRedirectURI() string { return a.r.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.r.ResponseType)
}
func (a *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.r.ResponseMode)
}
func (a *authRequest) GetScopes() []string { return a.r.Scopes }
func (a *authRequest) GetState() string    { return a.r.State }
func (a *authRequest) GetSubject() string  { return a.r.Subject }
func (a *authRequest) Done() bool          { return a.r.Done() }

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}

// LogValue is what the library logs of a request: never its id, state,
// nonce nor code.
func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client", a.r.ClientID), slog.String("redirect_uri", a.r.RedirectURI))
}
