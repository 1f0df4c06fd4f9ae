package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// SelfServiceNotifier sends what the self-service journeys tell people
// (guide section 5 and « Gestion des données personnelles »).
type SelfServiceNotifier interface {
	// ResetCode sends a renewal's security code by SMS.
	ResetCode(ctx context.Context, p *Person, code string, validFor time.Duration) error
	// ResetLink mails a renewal link, to an account without a mobile.
	ResetLink(ctx context.Context, p *Person, token string, validFor time.Duration) error
	// PasswordChanged mails that the password was changed.
	PasswordChanged(ctx context.Context, p *Person) error
	// MailChangeRequested mails the new address of p its code and link,
	// and tells p's address that a new one waits for its confirmation; by
	// is who set it, nil when the person did.
	MailChangeRequested(ctx context.Context, p *Person, change *MailChange, by *Person) error
	// EmailChanged mails the old address and the new one, once the new
	// one is confirmed.
	EmailChanged(ctx context.Context, p *Person, oldEmail string) error
	// MobileChanged mails the address email (the account's before any
	// change of it made at the same time) that the mobile changed to
	// p.Mobile, or was removed.
	MobileChanged(ctx context.Context, p *Person, email string) error
}

// SelfService is what a person does for themselves: renew a forgotten
// password, change their personal data and password.
type SelfService struct {
	Store    *Store
	Notifier SelfServiceNotifier
	// ForgotDuration is the least time a renewal request takes, so that its
	// timing does not tell whether the identifier exists or has a mobile;
	// the code or link leaves in the background. 400 ms when zero.
	ForgotDuration time.Duration
	// OnSendError hears about a code or link that could not be sent; may be nil.
	OnSendError func(error)
	// Audit gets one line per change attempted (audit.go); none when nil.
	Audit *slog.Logger
}

func (s SelfService) record(ctx context.Context, ev *Event, err *error) {
	recordEvent(ctx, s.Store, s.Audit, ev, *err)
}

// Forgot starts the renewal of a forgotten password after a solved captcha:
// a security code by SMS when the account has a mobile, otherwise a link
// by mail. It answers the same, in the same time, for any identifier.
// Errors: ErrInvalidCaptcha (nothing is sent), ErrRateLimited, ErrUnavailable.
func (s SelfService) Forgot(ctx context.Context, identifier, captchaID, answer string) (string, error) {
	floor := s.ForgotDuration
	if floor <= 0 {
		floor = 400 * time.Millisecond
	}
	deadline := time.Now().Add(floor)
	defer func() {
		select {
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
		}
	}()
	if err := s.Store.solveCaptcha(ctx, captchaID, answer); err != nil {
		return "", err
	}
	// Counted after the captcha, so that nobody can use up a person's
	// requests without solving captchas; counted whether the identifier
	// exists or not, so that the limit tells nothing. What is not of an
	// identifier's form names nobody: StartReset answers it at once.
	if id, ok := CanonicalIdentifier(identifier); ok {
		l := s.Store.limits
		keys := limitKeys(identifierKey(LimitResetIdentifier, l.ResetIdentifier, id),
			s.Store.addressKey(ctx, LimitResetAddress, l.ResetAddress))
		if _, err := s.Store.takeLimits(ctx, "forgot password", keys); err != nil {
			return "", err
		}
	}
	start, err := s.Store.StartReset(ctx, identifier)
	if err != nil {
		return "", err
	}
	if start.Person != nil {
		go s.send(context.WithoutCancel(ctx), start)
	}
	return start.Reset, nil
}

// send sends the code or the link in the background. A gateway or a spool
// failing for a while must not lose it, and the person cannot be told (the
// answer is the same for any identifier): it is tried again, waiting twice
// as long each time (at most sendRetryMax), for as long as it is valid.
func (s SelfService) send(ctx context.Context, start ResetStart) {
	ttl := s.Store.signin.CodeTTL
	if start.Channel == ResetByMail {
		ttl = s.Store.resetLinkTTL
	}
	ctx, cancel := context.WithTimeout(ctx, ttl)
	defer cancel()
	wait := sendRetryFirst
	for try := 1; ; try++ {
		var err error
		switch start.Channel {
		case ResetBySMS:
			err = s.Notifier.ResetCode(ctx, start.Person, start.Code, s.Store.signin.CodeTTL)
		case ResetByMail:
			err = s.Notifier.ResetLink(ctx, start.Person, start.Token, s.Store.resetLinkTTL)
		}
		if err == nil {
			return
		}
		if s.OnSendError != nil {
			s.OnSendError(fmt.Errorf("forgot password: send the %s (try %d): %w", start.Channel, try, err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, sendRetryMax)
	}
}

// The waits between two tries of a renewal's code or link.
const (
	sendRetryFirst = time.Second
	sendRetryMax   = time.Minute
)

// VerifyCode checks the SMS code and returns the token for the new password.
// Wrong codes count in the client address's code limit (ErrRateLimited).
func (s SelfService) VerifyCode(ctx context.Context, reset, code string) (string, error) {
	return verifyCounted(ctx, s.Store, "verify reset code", func() (string, error) { return s.Store.verifyResetCode(ctx, reset, code) })
}

// NewCaptcha stores a captcha of answer for ttl (see Store.CreateCaptcha);
// each one counts in the client address's captcha limit (ErrRateLimited).
func (s SelfService) NewCaptcha(ctx context.Context, answer string, ttl time.Duration) (string, error) {
	keys := limitKeys(s.Store.addressKey(ctx, LimitCaptchaAddress, s.Store.limits.CaptchaAddress))
	if _, err := s.Store.takeLimits(ctx, "new captcha", keys); err != nil {
		return "", err
	}
	return s.Store.CreateCaptcha(ctx, answer, ttl)
}

// CaptchaDigits returns the answer of a live captcha, for drawing its
// image and sound; it changes nothing. Errors: ErrNotFound when the
// captcha is unknown, used or expired.
func (s SelfService) CaptchaDigits(ctx context.Context, id string) (string, error) {
	return s.Store.captchaDigits(ctx, id)
}

// CheckToken says whether a renewal link still works, changing nothing.
func (s SelfService) CheckToken(ctx context.Context, token string) error {
	_, err := s.Store.checkResetToken(ctx, token)
	return err
}

// Reset sets the new password and mails that it changed; a lockout ends,
// ppolicy's and the sign-in's (its counters per identifier are forgotten,
// as the lockout's message promises). The account is known only when the
// renewal succeeds: a failed one is a log line without an actor.
func (s SelfService) Reset(ctx context.Context, token, password string) (err error) {
	ev := newEvent(ctx, nil, ActionResetPassword)
	defer s.record(ctx, ev, &err)
	p, err := s.Store.resetPassword(ctx, token, password, func(p *Person) string {
		ev.Actor, ev.ActorRole = p.Identifier, p.Role
		ev.about(p)
		ev.At, ev.Outcome = s.Store.now().UTC(), OutcomeSuccess
		return ev.record(0)
	})
	if err != nil {
		ev.Actor, ev.ActorRole, ev.Account, ev.Structure, ev.Service = "", "", "", "", "" // known only on success
		return err
	}
	ev.kept = true // by the renewal's own modify
	l := s.Store.limits
	s.Store.forgetLimits(ctx, "reset password", limitKeys(identifierKey(LimitSignInIdentifier, l.SignInIdentifier, p.Identifier),
		identifierKey(LimitSignInIdentifierKnown, l.SignInIdentifierKnown, p.Identifier)))
	return s.Notifier.PasswordChanged(ctx, p)
}

// UpdateMe changes the signed-in person's names, mail or mobile. The
// identifier never changes. A change of mail or mobile, what a renewal of
// the password goes through, needs the current password, so that a
// session alone (a stolen one) cannot take the account: nothing changes
// without it. A new mail address takes effect only once confirmed by the
// code or the link mailed to it (ConfirmEmail, ConfirmEmailLink): until
// then it waits on the account (Person.PendingEmail), the old address told
// of it; a new or removed mobile is told to the account's address.
// Errors: ErrInvalid (the field currentPassword when it is missing),
// ErrInvalidCredentials (current password wrong), ErrAccountLocked,
// ErrConflict (mail used).
func (s SelfService) UpdateMe(ctx context.Context, actor *Person, u PersonUpdate, current string) (_ *Person, err error) {
	ev := newEvent(ctx, actor, ActionUpdatePersonal)
	defer s.record(ctx, ev, &err)
	if actor == nil || actor.State != StateActive {
		return nil, fmt.Errorf("update personal data: %w", ErrForbidden)
	}
	ev.keepOn(actor)
	u.State = nil
	var problems []Problem
	if ie := (*InvalidError)(nil); errors.As(u.Validate(), &ie) {
		problems = ie.Problems
	}
	newEmail := false
	if u.Email != nil {
		email, ok := normalizeEmail(*u.Email)
		newEmail = !ok || email != actor.Email
	}
	sensitive := newEmail || u.Mobile != nil && *u.Mobile != actor.Mobile
	if sensitive && current == "" {
		problems = append(problems, Problem{"currentPassword", "Saisissez votre mot de passe actuel pour modifier votre adresse mail ou votre numéro de téléphone portable."})
	}
	if err := invalid(problems); err != nil {
		return nil, fmt.Errorf("update personal data: %w", err)
	}
	if sensitive {
		if _, err := s.checkCurrentPassword(ctx, actor, current); err != nil {
			return nil, err
		}
	}
	var change *MailChange
	if newEmail { // first: a taken address changes nothing
		if change, err = s.Store.startMailChange(ctx, actor, *u.Email, ""); err != nil {
			return nil, err
		}
	}
	u.Email = nil // the account's once confirmed
	p, err := s.Store.UpdatePerson(ctx, actor.Identifier, u)
	if err != nil {
		return nil, err
	}
	ev.Detail = changedFields(actor, p)
	if p.Mobile != actor.Mobile {
		if err := s.Notifier.MobileChanged(ctx, p, actor.Email); err != nil {
			return nil, fmt.Errorf("update personal data: mail the change of mobile: %w", err)
		}
	}
	if change != nil {
		ev.Detail = strings.TrimPrefix(ev.Detail+",pendingEmail", ",")
		if err := s.Notifier.MailChangeRequested(ctx, p, change, nil); err != nil {
			return nil, fmt.Errorf("update personal data: mail the new address: %w", err)
		}
		return s.Store.FindPerson(ctx, p.Identifier)
	}
	return p, nil
}

// ConfirmEmail confirms, with the code mailed to it, the new address
// waiting on the signed-in person's account: it becomes the account's,
// and both addresses are told. Wrong codes count in the client address's
// code limit and in the change (CodeAttempts at most; then only the link
// confirms). Errors: ErrNotFound (no new address waiting, or it expired),
// ErrInvalidCode, ErrCodeExpired, ErrTooManyAttempts, ErrConflict (the
// address is another account's now), ErrRateLimited.
func (s SelfService) ConfirmEmail(ctx context.Context, actor *Person, code string) (_ *Person, err error) {
	ev := newEvent(ctx, actor, ActionConfirmEmail)
	ev.Detail = "code"
	defer s.record(ctx, ev, &err)
	if actor == nil || actor.State != StateActive {
		return nil, fmt.Errorf("confirm email: %w", ErrForbidden)
	}
	if actor.PendingEmail == "" { // as read with the session: a log line, not the account's history
		return nil, fmt.Errorf("confirm email: no new address waiting: %w", ErrNotFound)
	}
	ev.keepOn(actor)
	p, err := verifyCounted(ctx, s.Store, "confirm email", func() (*Person, error) {
		return s.Store.tryMailChangeCode(ctx, actor.Identifier, code)
	})
	if err != nil {
		return nil, err
	}
	ev.keepOn(p)
	return p, s.Notifier.EmailChanged(ctx, p, actor.Email)
}

// MailChange returns what the page of a confirmation link shows, changing
// nothing (mail scanners open links). Errors: ErrInvalidToken,
// ErrTokenExpired.
func (s SelfService) MailChange(ctx context.Context, token string) (*PendingMailChange, error) {
	e, rec, err := s.Store.mailChangeEntry(ctx, "find mail change", token)
	if err != nil {
		return nil, err
	}
	return &PendingMailChange{Person: s.Store.personFromEntry(e), Email: rec.email, ExpiresAt: rec.expires, NeedsPassword: rec.by != ""}, nil
}

// ConfirmEmailLink confirms a new address with the link mailed to it,
// signed in or not: the link proves the mailbox. When a manager set the
// address, the account's password is asked too (checked under the
// sign-in's limits), so that a manager who holds the new mailbox cannot
// make it the account's. The account is the event's actor, known once the
// link is. Errors: ErrInvalidToken, ErrTokenExpired, ErrInvalid (the
// password missing), ErrInvalidCredentials, ErrAccountLocked, ErrConflict
// (the address is another account's now), ErrRateLimited.
func (s SelfService) ConfirmEmailLink(ctx context.Context, token, password string) (_ *Person, err error) {
	const op = "confirm email"
	ev := newEvent(ctx, nil, ActionConfirmEmail)
	ev.Detail = "link"
	defer s.record(ctx, ev, &err)
	e, rec, err := s.Store.mailChangeEntry(ctx, op, token)
	if err != nil {
		return nil, err
	}
	before := s.Store.personFromEntry(e)
	ev.Actor, ev.ActorRole = before.Identifier, before.Role
	ev.keepOn(before)
	if rec.by != "" {
		if password == "" {
			return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"password", "Saisissez le mot de passe de votre compte pour confirmer cette adresse mail."}}})
		}
		if _, err := s.Store.checkPasswordCounted(ctx, op, before.Identifier, password); err != nil {
			return nil, err
		}
	}
	p, err := s.Store.confirmMailChange(ctx, op, e, e.GetAttributeValue("apexMailChange"), rec)
	if err != nil {
		return nil, err
	}
	ev.keepOn(p)
	return p, s.Notifier.EmailChanged(ctx, p, before.Email)
}

// ChangePassword checks the current password (a bind) and sets the new
// one. Every other session of the account ends in the same modify; the
// one actor was read with stays. Errors: ErrInvalidCredentials (current
// wrong), ErrAccountLocked, ErrInvalid and ErrPasswordPolicy,
// ErrPasswordInHistory.
func (s SelfService) ChangePassword(ctx context.Context, actor *Person, current, next string) (err error) {
	ev := newEvent(ctx, actor, ActionChangePassword)
	defer s.record(ctx, ev, &err)
	if actor == nil || actor.State != StateActive {
		return fmt.Errorf("change password: %w", ErrForbidden)
	}
	ev.keepOn(actor)
	if err := CheckPassword(next); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	p, err := s.checkCurrentPassword(ctx, actor, current)
	if err != nil {
		return err
	}
	if err := s.Store.changePassword(ctx, actor, next); err != nil {
		return err
	}
	return s.Notifier.PasswordChanged(ctx, p)
}

// checkCurrentPassword is the one check of a signed-in person's current
// password, before a change of password, mail or mobile: a bind as the
// person, counted in the sign-in's limits as a sign-in is (so that a
// stolen session guesses no more than a stranger). Errors:
// ErrInvalidCredentials, ErrAccountLocked (the sign-in's lockout, a
// *LimitError, or ppolicy's), ErrRateLimited.
func (s SelfService) checkCurrentPassword(ctx context.Context, actor *Person, current string) (*Person, error) {
	e, err := s.Store.checkPasswordCounted(ctx, "check the current password", actor.Identifier, current)
	if err != nil {
		return nil, err
	}
	return s.Store.personFromEntry(e), nil
}

// changedFields names, as the API does, the personal data that differ
// between before and after: never their values (the mobile is its owner's
// alone).
func changedFields(before, after *Person) string {
	var fields []string
	for _, f := range []struct{ name, old, new string }{
		{"firstName", before.FirstName, after.FirstName},
		{"lastName", before.LastName, after.LastName},
		{"email", before.Email, after.Email},
		{"mobile", before.Mobile, after.Mobile},
	} {
		if f.old != f.new {
			fields = append(fields, f.name)
		}
	}
	return strings.Join(fields, ",")
}
