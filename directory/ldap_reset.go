package directory

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// StartReset begins the renewal of a forgotten password: a code for an
// account with a mobile, a link for one without. An unknown identifier or
// an account that is not active gets a reset id all the same, with nothing
// stored, so that the answer does not tell. Errors: ErrUnavailable.
func (s *Store) StartReset(ctx context.Context, identifier string) (ResetStart, error) {
	const op = "start reset"
	identifier, ok := CanonicalIdentifier(identifier)
	start := ResetStart{Reset: identifier + "." + randomToken()}
	if !ok {
		start.Reset = "x.x-px." + randomToken()
		return start, nil
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)), personAttrs)
	if errors.Is(err, ErrNotFound) {
		return start, nil
	}
	if err != nil {
		return ResetStart{}, err
	}
	p := s.personFromEntry(e)
	if p.State != StateActive {
		return start, nil
	}
	var rec resetRecord
	if p.Mobile != "" {
		code, err := randomDigits(6)
		if err != nil {
			return ResetStart{}, fmt.Errorf("%s: %w", op, err)
		}
		rec = resetRecord{kind: "code", hash: hashHex(start.Reset), expires: s.now().Add(s.signin.CodeTTL), codeHash: hashHex(start.Reset + "|" + code)}
		start.Channel, start.Code = ResetBySMS, code
	} else {
		start.Token = identifier + "." + randomToken()
		rec = resetRecord{kind: "link", hash: hashHex(start.Token), expires: s.now().Add(s.resetLinkTTL)}
		start.Channel = ResetByMail
	}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Replace("apexReset", []string{rec.String()})
		return c.Modify(req)
	})
	if err != nil {
		return ResetStart{}, err
	}
	start.Person = p
	return start, nil
}

// resetEntry reads the account and pending renewal named by a reset id or
// a link token ("<identifier>.<random>").
func (s *Store) resetEntry(ctx context.Context, op, token string) (*ldap.Entry, resetRecord, error) {
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil, resetRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)),
		append([]string{"apexReset"}, personAttrs...))
	if errors.Is(err, ErrNotFound) {
		return nil, resetRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if err != nil {
		return nil, resetRecord{}, err
	}
	rec, ok := parseResetRecord(e.GetAttributeValue("apexReset"))
	if !ok || subtle.ConstantTimeCompare([]byte(rec.hash), []byte(hashHex(token))) != 1 {
		return nil, resetRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	return e, rec, nil
}

// verifyResetCode checks the SMS code of a renewal (valid CodeTTL, once,
// CodeAttempts tries) and returns the token that lets the new password be
// set. Every failure is ErrInvalidCode, whether the code is wrong, used,
// too old or out of tries: a reset id given for an unknown identifier,
// which has no code to expire nor tries to count, must answer the same.
func (s *Store) verifyResetCode(ctx context.Context, reset, code string) (string, error) {
	token, err := s.tryResetCode(ctx, reset, code)
	if errors.Is(err, ErrCodeExpired) || errors.Is(err, ErrTooManyAttempts) {
		return "", fmt.Errorf("verify reset code: %w (%s)", ErrInvalidCode, err.Error())
	}
	return token, err
}

func (s *Store) tryResetCode(ctx context.Context, reset, code string) (string, error) {
	const op = "verify reset code"
	e, rec, err := s.resetEntry(ctx, op, reset)
	// Every answer costs one search and one write, so that its time does
	// not tell an unknown identifier, an account without a mobile (whose
	// renewal is a link) or a code out of tries from a wrong code, whose
	// try is written: those that have nothing to write write on the decoy.
	if errors.Is(err, ErrInvalidToken) || err == nil && rec.kind != "code" {
		if challengeIdentifier(reset) != "" { // a malformed id costs no search either
			s.decoyWrite(ctx, op)
		}
		return "", fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	if err != nil {
		return "", err
	}
	switch {
	case rec.attempts >= s.signin.CodeAttempts:
		s.decoyWrite(ctx, op)
		return "", fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	case !s.now().Before(rec.expires):
		s.decoyWrite(ctx, op)
		return "", fmt.Errorf("%s: %w", op, ErrCodeExpired)
	}
	old := e.GetAttributeValue("apexReset")
	right := subtle.ConstantTimeCompare([]byte(hashHex(reset+"|"+strings.TrimSpace(code))), []byte(rec.codeHash)) == 1
	token := ""
	next := rec
	if right {
		token = challengeIdentifier(reset) + "." + randomToken()
		next = resetRecord{kind: "link", hash: hashHex(token), expires: s.now().Add(s.signin.CodeTTL)}
	} else {
		next.attempts++
	}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexReset", []string{old})
		req.Add("apexReset", []string{next.String()})
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return "", fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	if err != nil {
		return "", err
	}
	if !right {
		if next.attempts >= s.signin.CodeAttempts {
			return "", fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
		}
		return "", fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	return token, nil
}

// checkResetToken says whether a renewal link or token is usable, changing
// nothing (mail scanners open links). Errors: ErrInvalidToken, ErrTokenExpired.
func (s *Store) checkResetToken(ctx context.Context, token string) (*Person, error) {
	e, err := s.linkEntry(ctx, "check reset token", token)
	if err != nil {
		return nil, err
	}
	return s.personFromEntry(e), nil
}

// linkEntry reads the account of a renewal link or token that is usable:
// a link's, not a code's, and not expired. Errors: ErrInvalidToken,
// ErrTokenExpired.
func (s *Store) linkEntry(ctx context.Context, op, token string) (*ldap.Entry, error) {
	e, rec, err := s.resetEntry(ctx, op, token)
	if err != nil {
		return nil, err
	}
	if rec.kind != "link" {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if !s.now().Before(rec.expires) {
		return nil, fmt.Errorf("%s: %w", op, ErrTokenExpired)
	}
	return e, nil
}

// resetPassword sets the new password of a renewal: the guide's rules,
// then slapd's. One modify spends the token (a compare-and-swap on its
// value) and replaces the password, which the ppolicy overlay checks
// against the history and hashes, lifting a lockout as it does for every
// password change (so the modify must not touch pwdAccountLockedTime
// itself, or ppolicy's own delete of it fails): the token is spent if and
// only if the password changed, so a refused password leaves it usable for
// another try and two uses of one token cannot both succeed. The same
// modify ends every session of the account. Errors:
// ErrInvalid and ErrPasswordPolicy (rules), ErrPasswordInHistory,
// ErrInvalidToken, ErrTokenExpired.
//
// keep, when not nil, gives the history value of the renewal, added by the
// same modify so that the audit trail costs the renewal no round trip.
func (s *Store) resetPassword(ctx context.Context, token, password string, keep func(*Person) string) (*Person, error) {
	const op = "reset password"
	e, err := s.linkEntry(ctx, op, token)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(password); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	p := s.personFromEntry(e)
	var history []string
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		controls := []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
		if keep != nil {
			controls = append(controls, postRead{[]string{"apexHistory"}})
		}
		req := ldap.NewModifyRequest(e.DN, controls)
		req.Delete("apexReset", []string{e.GetAttributeValue("apexReset")})
		req.Replace("userPassword", []string{password})
		req.Replace("apexSession", nil) // whoever held a session, the password is someone else's now
		if keep != nil {
			req.Add("apexHistory", []string{keep(p)})
		}
		res, err := c.ModifyWithResult(req)
		if err == nil && keep != nil {
			history, err = postReadValues(res.Controls, "apexHistory")
		}
		return err
	})
	if errors.Is(err, ErrConflict) { // the same token was used at the same moment
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if err != nil {
		return nil, err
	}
	// The password is set: a failed pruning waits for the next event.
	s.pruneHistory(ctx, op, e.DN, history)
	return p, nil
}
