package directory

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Limit allows at most Max events for one key (an identifier, a client
// address, an account) in a fixed window of Window that starts with the
// first event. Max < 0 turns the limit off; zero values take the default.
type Limit struct {
	Max    int
	Window time.Duration
}

// Off reports whether the limit is turned off.
func (l Limit) Off() bool { return l.Max < 0 }

func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.Max, l.Window)
}

// ParseLimit reads "MAX/WINDOW" ("10/15m") or "off".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Limit{Max: -1}, nil
	}
	max, window, ok := strings.Cut(s, "/")
	var l Limit
	if _, err := fmt.Sscanf(max, "%d", &l.Max); !ok || err != nil || l.Max < 1 {
		return Limit{}, fmt.Errorf("%q is not MAX/WINDOW (such as 10/15m) nor off", s)
	}
	d, err := time.ParseDuration(window)
	if err != nil || d < time.Second {
		return Limit{}, fmt.Errorf("%q is not MAX/WINDOW (such as 10/15m) nor off: the window must be a duration of a second or more", s)
	}
	l.Window = d
	return l, nil
}

// LimitPolicy holds the abuse limits. They are counted in the directory
// (ou=limits), so that every apexd instance on it counts the same events.
type LimitPolicy struct {
	// Failed password steps per identifier from the addresses it has not
	// signed in from (all addresses, for an unknown identifier): 4 per 15
	// minutes. Reached, the sign-in answers ErrAccountLocked.
	SignInIdentifier Limit
	// Failed password steps per identifier from the addresses it signed in
	// from (apexKnownAddress): 5 per 15 minutes, then ErrAccountLocked.
	SignInIdentifierKnown Limit
	SignInAddress         Limit // failed password steps per client address: 50 per 15 minutes
	CodeAddress           Limit // wrong codes (sign-in, renewal) and code resends per client address: 30 per 15 minutes
	CaptchaAddress        Limit // captchas drawn per client address: 60 per 15 minutes
	ResetIdentifier       Limit // renewal requests (captcha solved) per identifier: 5 per hour
	ResetAddress          Limit // renewal requests (captcha solved) per client address: 20 per hour
	InvitationAccount     Limit // pre-creation links sent, first or again, per account: 100 per hour
	InvitationBulk        Limit // rows invited by bulk invitations, per account: 5,000 per 24 hours
	// OpenID Connect authorization requests per client address, each kept
	// in the directory until answered or expired: 1000 per 15 minutes.
	AuthorizeAddress Limit
}

// DefaultLimits is the policy used for every limit left at its zero value.
//
// The sign-in's limits per identifier stay below ppolicy's lockout of 10
// failures in 15 minutes (ldif/base.ldif.tmpl), which guards the binds
// DGFiP applications make: with fixed windows, addresses an account never
// signed in from cause at most 2×4 = 8 failed binds in any 15 minutes, so
// that nobody but the person locks them out of those applications.
var DefaultLimits = LimitPolicy{
	SignInIdentifier:      Limit{4, 15 * time.Minute},
	SignInIdentifierKnown: Limit{5, 15 * time.Minute},
	SignInAddress:         Limit{50, 15 * time.Minute},
	CodeAddress:           Limit{30, 15 * time.Minute},
	CaptchaAddress:        Limit{60, 15 * time.Minute},
	ResetIdentifier:       Limit{5, time.Hour},
	ResetAddress:          Limit{20, time.Hour},
	InvitationAccount:     Limit{100, time.Hour},
	InvitationBulk:        Limit{5000, 24 * time.Hour},
	AuthorizeAddress:      Limit{1000, 15 * time.Minute},
}

func (p LimitPolicy) withDefaults() LimitPolicy {
	d := DefaultLimits
	for _, l := range []struct{ got, def *Limit }{
		{&p.SignInIdentifier, &d.SignInIdentifier}, {&p.SignInIdentifierKnown, &d.SignInIdentifierKnown},
		{&p.SignInAddress, &d.SignInAddress},
		{&p.CodeAddress, &d.CodeAddress}, {&p.CaptchaAddress, &d.CaptchaAddress},
		{&p.ResetIdentifier, &d.ResetIdentifier}, {&p.ResetAddress, &d.ResetAddress},
		{&p.InvitationAccount, &d.InvitationAccount}, {&p.InvitationBulk, &d.InvitationBulk}, {&p.AuthorizeAddress, &d.AuthorizeAddress},
	} {
		if l.got.Max == 0 {
			l.got.Max = l.def.Max
		}
		if l.got.Window <= 0 {
			l.got.Window = l.def.Window
		}
	}
	return p
}

// The names of the limits, as metrics and logs show them.
const (
	LimitSignInIdentifier      = "signin_identifier"
	LimitSignInIdentifierKnown = "signin_identifier_known"
	LimitSignInAddress         = "signin_address"
	LimitCodeAddress           = "code_address"
	LimitCaptchaAddress        = "captcha_address"
	LimitResetIdentifier       = "reset_identifier"
	LimitResetAddress          = "reset_address"
	LimitInvitationAccount     = "invitation_account"
	LimitInvitationBulk        = "invitation_bulk"
	LimitAuthorizeAddress      = "authorize_address"
)

// LimitNames lists every limit's name.
var LimitNames = []string{LimitSignInIdentifier, LimitSignInIdentifierKnown, LimitSignInAddress, LimitCodeAddress,
	LimitCaptchaAddress, LimitResetIdentifier, LimitResetAddress, LimitInvitationAccount, LimitInvitationBulk, LimitAuthorizeAddress}

// LimitError is the answer to a request over a limit. It matches
// ErrRateLimited; over a sign-in limit per identifier, ErrAccountLocked too.
type LimitError struct {
	Limit      string        // the limit's name
	RetryAfter time.Duration // until the window ends, a whole number of seconds, at least one
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %s reached, retry in %s", e.Limit, e.RetryAfter)
}

func (e *LimitError) Is(target error) bool {
	return target == ErrRateLimited || target == ErrAccountLocked && e.Lockout()
}

// Lockout says whether the limit is a sign-in's per identifier: the
// account's sign-in is then refused for now, whether the identifier
// exists or not.
func (e *LimitError) Lockout() bool {
	return e.Limit == LimitSignInIdentifier || e.Limit == LimitSignInIdentifierKnown
}

type clientAddressKey struct{}

// WithClientAddress gives the context the address of the client a request
// comes from, for the limits per address. The HTTP layer sets it from the
// connection (or a trusted proxy's header); without it, those limits do not
// apply (apexctl).
func WithClientAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddressKey{}, addr)
}

func clientAddress(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddressKey{}).(string)
	return addr
}

// limitKey is one counter: a limit applied to one key.
type limitKey struct {
	name  string
	limit Limit
	key   string
}

// limitKeys keeps the counters that apply: a limit turned off or an empty
// key (no client address known) counts nothing.
func limitKeys(keys ...limitKey) []limitKey {
	out := keys[:0:0]
	for _, k := range keys {
		if !k.limit.Off() && k.key != "" {
			out = append(out, k)
		}
	}
	return out
}

func (s *Store) addressKey(ctx context.Context, name string, l Limit) limitKey {
	return limitKey{name: name, limit: l, key: clientAddress(ctx)}
}

// identifierKey counts an identifier in its canonical form (CanonicalIdentifier).
func identifierKey(name string, l Limit, identifier string) limitKey {
	return limitKey{name: name, limit: l, key: identifier}
}
