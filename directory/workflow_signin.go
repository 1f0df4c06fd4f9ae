package directory

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Notifier tells people, by mail, what concerns them. The notify package
// implements it; sending may be queued, and a send that fails is retried
// there, so an error here means the message could not even be queued.
type Notifier interface {
	LoginCode(ctx context.Context, to *Person, code string, validFor time.Duration) error
}

// SignIn is the guide's section 3: identifier and password, then a code
// sent by mail, then a session.
type SignIn struct {
	Store    *Store
	Notifier Notifier
}

// Login checks the password and mails a verification code; it returns the
// challenge the code belongs to. An unknown identifier, a wrong password
// and an account that is not active give ErrInvalidCredentials alike, in
// every sequence of attempts.
//
// Each attempt is counted before the password is tried, and a right
// password gives its count back (see LimitPolicy): per client address,
// over which ErrRateLimited; and per identifier, known or not, apart for
// the addresses its account signed in from and for all others, over which
// the sign-in is locked: a *LimitError that matches ErrAccountLocked. The
// lockout of ppolicy (binds made to slapd directly) is never told: such a
// bind counts and answers as a wrong password.
func (s SignIn) Login(ctx context.Context, identifier, password string) (string, error) {
	const op = "login"
	id, ok := CanonicalIdentifier(identifier)
	if !ok {
		return "", fmt.Errorf("%s: not an identifier: %w", op, ErrInvalidCredentials)
	}
	e, err := s.Store.checkPasswordCounted(ctx, op, id, password)
	if errors.Is(err, ErrAccountLocked) && !errors.Is(err, ErrRateLimited) {
		err = fmt.Errorf("%s: locked by the password policy: %w", op, ErrInvalidCredentials)
	}
	if err != nil {
		return "", err
	}
	lc, err := s.Store.issueCode(ctx, op, e)
	if err != nil {
		return "", err
	}
	if err := s.Notifier.LoginCode(ctx, lc.Person, lc.Code, s.Store.signin.CodeTTL); err != nil {
		return "", fmt.Errorf("login: send the code: %w", err)
	}
	return lc.Challenge, nil
}

// Resend mails a new code for a pending challenge, valid until the
// challenge's own expiry, which a resend never extends; the previous code
// no longer works, and the wrong tries made still count. Each resend
// counts in the client address's code limit. Errors: ErrInvalidCode (the
// challenge is unknown or used, or the password changed since),
// ErrCodeExpired, ErrTooManyAttempts, ErrRateLimited.
func (s SignIn) Resend(ctx context.Context, challenge string) error {
	keys := limitKeys(s.Store.addressKey(ctx, LimitCodeAddress, s.Store.limits.CodeAddress))
	if _, err := s.Store.takeLimits(ctx, "resend", keys); err != nil {
		return err
	}
	lc, err := s.Store.resendLoginCode(ctx, challenge)
	if err != nil {
		return err
	}
	// The code lives as long as its challenge, which a resend does not
	// extend; the mail says so in whole minutes, rounded up.
	left := lc.ExpiresAt.Sub(s.Store.now())
	left = max((left+time.Minute-1)/time.Minute*time.Minute, time.Minute)
	if err := s.Notifier.LoginCode(ctx, lc.Person, lc.Code, left); err != nil {
		return fmt.Errorf("resend: send the code: %w", err)
	}
	return nil
}

// Verify checks the code and opens a session: it returns the account and
// the session's token. Wrong codes count in the client address's code
// limit, over which no code is checked. Errors: ErrInvalidCode (wrong,
// unknown or used, or the password changed), ErrCodeExpired,
// ErrTooManyAttempts, ErrInvalidCredentials when the account is no longer
// active, ErrRateLimited.
func (s SignIn) Verify(ctx context.Context, challenge, code string) (*Person, string, error) {
	p, err := verifyCounted(ctx, s.Store, "verify", func() (*Person, error) { return s.Store.verifyLoginCode(ctx, challenge, code) })
	if err != nil {
		return nil, "", err
	}
	token, err := s.Store.CreateSession(ctx, p.Identifier)
	if err != nil {
		return nil, "", err
	}
	return p, token, nil
}

// Session returns the account of a session token and keeps the session
// alive. about, when not empty, names the account the request is about: it
// is read in the same search, for the reads that follow
// (Consultation.Account, Accounts.ManagedAccount), so that a request that
// shows an account costs one round trip to the directory, not two.
// Errors: ErrSessionExpired when the token is unknown, ended or idle too
// long, or the account is no longer active.
func (s SignIn) Session(ctx context.Context, token, about string) (*Person, error) {
	p, other, err := s.Store.sessionAnd(ctx, token, about)
	if err != nil {
		return nil, err
	}
	p.about, p.aboutName = other, about
	return p, nil
}

// EndSession closes a session for good; an unknown token is not an error.
func (s SignIn) EndSession(ctx context.Context, token string) error {
	return s.Store.endSession(ctx, token)
}

// Outcome names the result of a sign-in step for metrics and logs.
func Outcome(err error) string {
	for _, o := range []struct {
		err  error
		name string
	}{
		{ErrInvalidCredentials, "invalid_credentials"},
		{ErrAccountLocked, "account_locked"},
		{ErrInvalidCode, "invalid_code"},
		{ErrCodeExpired, "code_expired"},
		{ErrTooManyAttempts, "too_many_attempts"},
		{ErrRateLimited, "rate_limited"},
		{ErrUnavailable, "unavailable"},
	} {
		if errors.Is(err, o.err) {
			return o.name
		}
	}
	if err != nil {
		return "error"
	}
	return "success"
}

// verifyCounted checks a code with check under the client address's code
// limit. The try is counted first, so that parallel tries never pass the
// limit, and given back unless the code was wrong, unknown or out of tries.
func verifyCounted[T any](ctx context.Context, store *Store, op string, check func() (T, error)) (T, error) {
	var zero T
	slots, err := store.takeLimits(ctx, op, limitKeys(store.addressKey(ctx, LimitCodeAddress, store.limits.CodeAddress)))
	if err != nil {
		return zero, err
	}
	v, err := check()
	if !errors.Is(err, ErrInvalidCode) && !errors.Is(err, ErrTooManyAttempts) {
		store.releaseLimits(ctx, op, slots)
	}
	return v, err
}
