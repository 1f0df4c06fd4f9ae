package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// OIDC is the door of the OpenID provider (httpapi/oidc) into the
// directory: the applications as clients, the sign-in requests, who may
// sign in to which application, what the tokens say, the signing keys.
// Each sign-in to an application, allowed or refused, is an event of the
// audit log (Audit), never of the account's history: a person signs in
// every day, and the history keeps the last 100 changes of the account.
type OIDC struct {
	Store  *Store
	Audit  *slog.Logger // one line per sign-in to an application; none when nil
	Policy OIDCPolicy
}

// Now is the directory's clock (StoreConfig.Now).
func (o OIDC) Now() time.Time { return o.Store.now() }

// Client returns the application that a client id names. Errors: ErrNotFound.
func (o OIDC) Client(ctx context.Context, id string) (*Application, error) {
	if !validSlug(id) {
		return nil, fmt.Errorf("oidc client: %w", ErrNotFound)
	}
	return o.Store.FindApplication(ctx, id)
}

// AuthenticateClient checks an application's client secret: the password
// of its bind account, which slapd checks. Wrong secrets count in the
// client address's sign-in limit, as wrong passwords do, over which none
// is checked. Each guess spends a code, which only a sign-in gives, so no
// burst of guesses outruns the count: a failure is counted after the bind,
// and a right secret costs one read, not the two writes of counting first.
// Errors: ErrInvalidCredentials, ErrRateLimited.
func (o OIDC) AuthenticateClient(ctx context.Context, id, secret string) error {
	const op = "authenticate client"
	s := o.Store
	keys := limitKeys(s.addressKey(ctx, LimitSignInAddress, s.limits.SignInAddress))
	counted, err := s.readLimits(ctx, op, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if le := over(k, counted[s.limitCN(k)], s.now()); le != nil {
			return fmt.Errorf("%s: %w", op, le)
		}
	}
	err = s.checkClientSecret(ctx, op, id, secret)
	if errors.Is(err, ErrInvalidCredentials) {
		if _, lerr := s.takeLimits(ctx, op, keys); lerr != nil && !errors.Is(lerr, ErrRateLimited) {
			return lerr
		}
	}
	return err
}

// Admit counts an authorization request in its client address's limit,
// before it is stored: each one lives in the directory until answered or
// expired. Errors: ErrRateLimited (a *LimitError).
func (o OIDC) Admit(ctx context.Context) error {
	s := o.Store
	_, err := s.takeLimits(ctx, "authorize", limitKeys(s.addressKey(ctx, LimitAuthorizeAddress, s.limits.AuthorizeAddress)))
	return err
}

// Begin stores a new sign-in request of an application, checked by
// OIDCRequest.Validate, and gives it its id. Errors: ErrInvalid (an
// *OIDCRequestError), ErrNotFound (the application).
func (o OIDC) Begin(ctx context.Context, r OIDCRequest) (*OIDCRequest, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("begin oidc request: %w", err)
	}
	if _, err := o.Client(ctx, r.ClientID); err != nil {
		return nil, err
	}
	r.Subject, r.AuthTime, r.CodeHash = "", time.Time{}, ""
	if err := o.Store.createOIDCRequest(ctx, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Request returns a live request. Errors: ErrNotFound when it is unknown,
// expired, or over (its code issued, refused).
func (o OIDC) Request(ctx context.Context, id string) (*OIDCRequest, error) {
	r, _, err := o.Store.oidcRequest(ctx, id)
	return r, err
}

// Continue carries a request on with the person signed in in this browser
// (nil when nobody is). It says OIDCSignIn when that person cannot answer
// for the request: nobody, an account that is not active, a session older
// than the request's max_age (prompt=login: older than the request), or
// another account than the id_token_hint's. With prompt=none that is
// OIDCLoginRequired instead, and the request is over. A person who holds
// no profile of the application gets OIDCAccessDenied, and the request is
// over; one who holds one gets OIDCDone, and the request names them. Both
// are events of the audit log. Errors: ErrNotFound when the request is
// unknown, expired or already answered.
func (o OIDC) Continue(ctx context.Context, id string, p *Person) (*OIDCRequest, OIDCStep, error) {
	s := o.Store
	r, raw, err := s.oidcRequest(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if r.Done() {
		return nil, 0, fmt.Errorf("continue oidc request: answered already: %w", ErrNotFound)
	}
	if !o.answers(p, r) {
		if r.PromptNone() {
			return r, OIDCLoginRequired, s.deleteOIDCRequest(ctx, id)
		}
		return r, OIDCSignIn, nil
	}
	ev := newEvent(ctx, p, ActionApplicationSignIn)
	ev.about(p)
	ev.Detail = r.ClientID
	defer func() { recordEvent(ctx, s, o.Audit, ev, err) }()
	if len(profilesOf(p, r.ClientID, o.Now())) == 0 {
		err = forbidden("sign in to " + r.ClientID)
		if derr := s.deleteOIDCRequest(ctx, id); derr != nil {
			return nil, 0, derr
		}
		return r, OIDCAccessDenied, nil
	}
	r.Subject, r.AuthTime = p.Identifier, sessionStart(p)
	if err = s.swapOIDCRequest(ctx, "continue oidc request", r, raw); err != nil {
		if errors.Is(err, ErrConflict) {
			err = fmt.Errorf("continue oidc request: answered meanwhile: %w", ErrNotFound)
		}
		return nil, 0, err
	}
	return r, OIDCDone, nil
}

// answers reports whether the person of this browser's session may answer
// for the request without signing in again.
func (o OIDC) answers(p *Person, r *OIDCRequest) bool {
	if p == nil || p.State != StateActive || p.Identifier == "" {
		return false
	}
	if r.HintSubject != "" && r.HintSubject != p.Identifier {
		return false
	}
	start := sessionStart(p)
	if start.IsZero() {
		return false
	}
	if r.MaxAge != nil && start.Before(r.Created) && o.Now().Sub(start) > time.Duration(*r.MaxAge)*time.Second {
		return false
	}
	return true
}

// sessionStart is when the session p was read with was opened (the sign-in
// with password and code), or zero when p was not read with a session.
func sessionStart(p *Person) time.Time {
	rec, ok := parseSessionRecord(p.session)
	if !ok {
		return time.Time{}
	}
	return time.Unix(rec.created, 0)
}

// NewCode is a new authorization code for the request of this id; it
// works once SaveCode has kept it.
func (o OIDC) NewCode(id string) string { return newOIDCCode(o.Store.oidcCN(id)) }

// SaveCode keeps the code issued for a request that names its person,
// valid two minutes. A request gets one code: a second one is refused.
// Errors: ErrNotFound (the request is gone, not answered, or has its code).
func (o OIDC) SaveCode(ctx context.Context, id, code string) error {
	const op = "save oidc code"
	r, raw, err := o.Store.oidcRequest(ctx, id)
	if err != nil {
		return err
	}
	if !r.Done() || r.CodeHash != "" || oidcCodeRequest(code) != o.Store.oidcCN(id) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	r.CodeHash = hashHex(code)
	if end := o.Now().Add(oidcCodeTTL); end.Before(r.Expires) {
		r.Expires = end
	}
	err = o.Store.swapOIDCRequest(ctx, op, r, raw)
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%s: a code was issued meanwhile: %w", op, ErrNotFound)
	}
	return err
}

// Exchange spends a code and returns its request: of any number of
// exchanges of one code, on any instances, one gets it. Errors:
// ErrNotFound when the code is unknown, expired or spent.
func (o OIDC) Exchange(ctx context.Context, code string) (*OIDCRequest, error) {
	return o.Store.takeOIDCCode(ctx, code)
}

// Forget ends a request, when the application got its answer another way.
func (o OIDC) Forget(ctx context.Context, id string) error {
	return o.Store.deleteOIDCRequest(ctx, id)
}

// User is what the tokens of an application say about the account of
// subject: the account, its structure, and its profiles of that
// application only. The account must still be active and hold a profile
// of the application. Errors: ErrNotFound, ErrForbidden.
func (o OIDC) User(ctx context.Context, subject, app string) (*OIDCUser, error) {
	const op = "oidc user"
	p, err := o.Store.FindPerson(ctx, subject)
	if err != nil {
		return nil, err
	}
	u := &OIDCUser{Person: p, Profiles: profilesOf(p, app, o.Now())}
	if p.State != StateActive || len(u.Profiles) == 0 {
		return nil, forbidden(op)
	}
	slices.Sort(u.Profiles)
	if p.SIRET != "" {
		if u.Structure, err = o.Store.FindStructure(ctx, p.SIRET); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// profilesOf are the profiles of app that p holds at now: a habilitation
// whose end date has come opens the application no more, though the
// end-date job, which runs every hour, may not have withdrawn it yet.
func profilesOf(p *Person, app string, now time.Time) []string {
	var profiles []string
	for _, h := range p.Habilitations {
		if h.Application == app && (h.EndDate.IsZero() || now.Before(h.EndDate)) {
			profiles = append(profiles, h.Profile)
		}
	}
	return profiles
}

// SigningKeys returns the key that signs, and the keys to publish: that
// one and those retired less than Policy.KeyRetention ago, whose tokens
// may still be alive. The first call on a new directory makes the first key.
func (o OIDC) SigningKeys(ctx context.Context) (OIDCKey, []OIDCKey, error) {
	keys, _, err := o.Store.oidcKeys(ctx)
	if err != nil {
		return OIDCKey{}, nil, err
	}
	now, keep := o.Now(), o.Policy.KeyRetention()
	var published []OIDCKey
	for _, k := range keys {
		if k.Retired.IsZero() || now.Sub(k.Retired) <= keep {
			published = append(published, k)
		}
	}
	signing := keys[0] // the newest
	if !signing.Retired.IsZero() {
		return OIDCKey{}, nil, fmt.Errorf("oidc keys: no key signs: %w", ErrUnavailable)
	}
	return signing, published, nil
}

// RotateKey makes a new signing key and retires the others: they stay
// published for Policy.KeyRetention, until the tokens they signed have
// expired, and the next rotation after that drops them. Errors:
// ErrConflict when another rotation passed first.
func (o OIDC) RotateKey(ctx context.Context) (*OIDCKey, error) {
	return o.Store.rotateOIDCKey(ctx, o.Policy.KeyRetention())
}
