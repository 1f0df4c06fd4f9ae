package directory

import (
	"crypto/rsa"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The OpenID provider of DGFiP applications (guide section 4): an
// application sends a person to apexd, who signs in as in the espace
// (password, then the code by mail) unless a live session already says
// who they are, and comes back with a code that the application exchanges
// for an ID token. What is decided here: which requests are taken, who may
// sign in to which application (a profile of it), what the tokens say.
// The protocol itself (parsing, JWTs, JWKS) is httpapi/oidc's, on
// zitadel/oidc.

// OIDCPolicy is how long the tokens of the OpenID provider live.
type OIDCPolicy struct {
	IDTokenTTL     time.Duration // 5 minutes when zero
	AccessTokenTTL time.Duration // 5 minutes when zero
}

// WithDefaults fills the lifetimes left zero.
func (p OIDCPolicy) WithDefaults() OIDCPolicy {
	if p.IDTokenTTL <= 0 {
		p.IDTokenTTL = 5 * time.Minute
	}
	if p.AccessTokenTTL <= 0 {
		p.AccessTokenTTL = 5 * time.Minute
	}
	return p
}

// KeyRetention is how long a signing key stays published once a newer one
// signs: until the last token it signed has expired, with a minute for
// the clocks of the instances and of the applications.
func (p OIDCPolicy) KeyRetention() time.Duration {
	p = p.WithDefaults()
	return max(p.IDTokenTTL, p.AccessTokenTTL) + time.Minute
}

const (
	// ScopeApex asks for the claims of APEX Partenaires: the structure, the
	// service, the role and the profiles of the application.
	ScopeApex = "apex"
	// oidcRequestTTL bounds a sign-in, password and code included (the
	// code itself lives 10 minutes).
	oidcRequestTTL = 30 * time.Minute
	// oidcCodeTTL is the life of an authorization code, which the
	// application exchanges at once.
	oidcCodeTTL = 2 * time.Minute
	// oidcTextMax bounds what an application passes through (state, nonce).
	oidcTextMax = 1024
	oidcURIMax  = 2048
)

// OIDCRequest is a sign-in asked for by a DGFiP application (an OpenID
// Connect authorization request), from the authorization endpoint until
// its code is exchanged. It is kept in the directory (ou=oidc,ou=system),
// so that any instance carries it on.
type OIDCRequest struct {
	ID                  string   `json:"-"` // names it for the browser; only its hash is kept
	ClientID            string   `json:"client"`
	RedirectURI         string   `json:"redirect_uri"`
	Scopes              []string `json:"scopes"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	ResponseType        string   `json:"response_type"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	CodeChallenge       string   `json:"code_challenge"`
	CodeChallengeMethod string   `json:"code_challenge_method"`
	Prompt              []string `json:"prompt,omitempty"`
	// MaxAge, in seconds, when the application asked for one; prompt=login
	// is a MaxAge of 0: a sign-in made for this very request.
	MaxAge *int64 `json:"max_age,omitempty"`
	// HintSubject is the subject of the id_token_hint: a session of
	// another account is not used.
	HintSubject string    `json:"hint,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`

	// Once the person is known and habilitated:
	Subject  string    `json:"sub,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	// CodeHash is the hash of the code issued, once issued.
	CodeHash string `json:"code,omitempty"`
}

// Done reports whether the request names its person.
func (r *OIDCRequest) Done() bool { return r.Subject != "" }

// AMR is how the person authenticated (RFC 8176): a password, then a
// one-time code.
func (r *OIDCRequest) AMR() []string {
	if !r.Done() {
		return nil
	}
	return []string{"pwd", "otp"}
}

// PromptNone reports whether the application asked that nothing be shown.
func (r *OIDCRequest) PromptNone() bool { return slices.Contains(r.Prompt, "none") }

// OIDCRequestError is an authorization request the provider refuses;
// Description says why, in ASCII English for the application's developers
// (RFC 6749 allows no other characters in error_description). It matches
// ErrInvalid.
type OIDCRequestError struct{ Description string }

func (e *OIDCRequestError) Error() string { return "invalid authorization request: " + e.Description }

func (e *OIDCRequestError) Is(target error) bool { return target == ErrInvalid }

// Validate checks what the provider demands of every request beyond the
// protocol, which the library checked before: the code flow only, PKCE
// with S256, the openid scope, and what passes through kept short.
func (r *OIDCRequest) Validate() error {
	bad := func(d string) error { return &OIDCRequestError{d} }
	switch {
	case r.ResponseType != "code":
		return bad("only the authorization code flow is supported (response_type=code)")
	case r.ResponseMode != "" && r.ResponseMode != "query":
		return bad("only response_mode=query is supported")
	case r.CodeChallenge == "":
		return bad("PKCE is required: code_challenge with code_challenge_method=S256")
	case r.CodeChallengeMethod != "S256":
		return bad("code_challenge_method must be S256")
	case !validPKCEChallenge(r.CodeChallenge):
		return bad("code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)")
	case !slices.Contains(r.Scopes, "openid"):
		return bad("the openid scope is required")
	case !passThrough(r.State) || !passThrough(r.Nonce):
		return bad("state and nonce must be UTF-8, 1024 bytes at most")
	case r.MaxAge != nil && *r.MaxAge < 0:
		return bad("max_age must not be negative")
	}
	return nil
}

// validPKCEChallenge accepts a base64url SHA-256: 43 characters.
func validPKCEChallenge(s string) bool { return validCaptchaID(s) }

func passThrough(s string) bool {
	return len(s) <= oidcTextMax && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// OIDCStep is where a sign-in request stands once the person's session
// (or its absence) is known.
type OIDCStep int

const (
	// OIDCSignIn: the person must sign in (password and code); the
	// request waits.
	OIDCSignIn OIDCStep = iota
	// OIDCDone: the person is known and habilitated; a code may be issued.
	OIDCDone
	// OIDCAccessDenied: the person holds no profile of the application;
	// the request is over.
	OIDCAccessDenied
	// OIDCLoginRequired: nobody is signed in and the application asked
	// that nothing be shown (prompt=none); the request is over.
	OIDCLoginRequired
)

// OIDCUser is what the tokens of one application say about a person.
type OIDCUser struct {
	Person    *Person
	Structure *Structure // nil for DGFiP agents
	Profiles  []string   // the profiles of that application only
}

// OIDCKey is a key that signs the provider's tokens (RS256).
type OIDCKey struct {
	ID      string
	Private *rsa.PrivateKey
	Created time.Time
	Retired time.Time // zero while it signs
}

// checkAppURL checks a URL of an application: absolute, https (or http to
// a loopback host, for tests and a developer's machine), no user nor
// fragment, printable ASCII. It is kept as given: redirect URIs are
// matched exactly.
func checkAppURL(field, label, value string) []Problem {
	problem := func(why string) []Problem { return []Problem{{field, label + " " + why}} }
	if len(value) > oidcURIMax {
		return problem("est trop longue.")
	}
	for i := range len(value) {
		if value[i] <= ' ' || value[i] > '~' {
			return problem("ne doit contenir ni espace ni caractère accentué (encodez-les).")
		}
	}
	u, err := url.Parse(value)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return problem("doit être une adresse complète, par exemple https://application.dgfip.gouv.fr/retour.")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(value, "#") {
		return problem("ne doit contenir ni identifiant ni fragment (#).")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	default:
		return problem("doit commencer par https:// (http:// n'est admis que vers la machine locale).")
	}
	return nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
