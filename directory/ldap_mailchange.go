package directory

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// A new mail address waiting for its confirmation (mailchange.go) is one
// value of apexMailChange on the account's entry (mailChangeRecord): a new
// request replaces it, its confirmation spends it by the same modify that
// makes the address the account's, and a wrong code counts in it, each a
// compare-and-swap on the value read.

// startMailChange records email as p's new address, waiting for its
// confirmation, in place of any other; by is the identifier of the manager
// who asks, "" when the person does. Errors: ErrInvalid (not an address, or
// the account's own), ErrConflict (the address is another account's in the
// structure, or among agents), ErrNotFound.
func (s *Store) startMailChange(ctx context.Context, p *Person, email, by string) (*MailChange, error) {
	const op = "start mail change"
	email, ok := normalizeEmail(email)
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"email", "L'adresse mail n'est pas valide."}}})
	case email == p.Email:
		return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"email", "Cette adresse mail est déjà celle du compte."}}})
	}
	// Checked here so that a taken address is said at once; slapd's unique
	// overlay checks it again when the address is confirmed.
	other, err := s.FindPersonByEmail(ctx, p.SIRET, email)
	switch {
	case err == nil && !sameDN(other.dn, p.dn):
		return nil, fmt.Errorf("%s: address used in the structure: %w", op, ErrConflict)
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, err
	}
	key, err := s.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	code, err := randomDigits(6)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	token := p.Identifier + "." + randomToken()
	rec := mailChangeRecord{email: email, linkHash: hashHex(token), expires: s.now().Add(s.mailChangeTTL).Truncate(time.Second), by: by}
	rec.codeMAC = mailChangeCode(key, rec.linkHash, code)
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return nil, err
	}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace("apexMailChange", []string{rec.String()})
		return c.Modify(req)
	})
	if err != nil {
		return nil, err
	}
	return &MailChange{Email: email, Token: token, Code: code, ExpiresAt: rec.expires}, nil
}

// mailChangeAttrs are what a confirmation reads of the account.
var mailChangeAttrs = append([]string{"apexReset"}, personAttrs...)

// mailChangeEntry reads the account and the waiting mail change of a
// confirmation link's token ("<identifier>.<random>"). Errors:
// ErrInvalidToken (unknown, replaced or spent), ErrTokenExpired.
func (s *Store) mailChangeEntry(ctx context.Context, op, token string) (*ldap.Entry, mailChangeRecord, error) {
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil, mailChangeRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	e, err := s.personEntry(ctx, op, identifier, mailChangeAttrs)
	if errors.Is(err, ErrNotFound) {
		return nil, mailChangeRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if err != nil {
		return nil, mailChangeRecord{}, err
	}
	rec, ok := parseMailChangeRecord(e.GetAttributeValue("apexMailChange"))
	if !ok || subtle.ConstantTimeCompare([]byte(rec.linkHash), []byte(hashHex(token))) != 1 {
		return nil, mailChangeRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if AccountState(e.GetAttributeValue("apexAccountState")) != StateActive {
		return nil, mailChangeRecord{}, fmt.Errorf("%s: account not active: %w", op, ErrInvalidToken)
	}
	if !s.now().Before(rec.expires) {
		return nil, mailChangeRecord{}, fmt.Errorf("%s: %w", op, ErrTokenExpired)
	}
	return e, rec, nil
}

// tryMailChangeCode checks the code of the mail change waiting on the
// account of identifier: valid until the change expires, CodeAttempts
// wrong tries at most (each counted by a compare-and-swap), then the link
// alone confirms. The right code confirms the change. Errors: ErrNotFound
// (no change waiting), ErrCodeExpired, ErrTooManyAttempts, ErrInvalidCode,
// and those of confirmMailChange.
func (s *Store) tryMailChangeCode(ctx context.Context, identifier, code string) (*Person, error) {
	const op = "confirm mail change"
	e, err := s.personEntry(ctx, op, identifier, mailChangeAttrs)
	if err != nil {
		return nil, err
	}
	stored := e.GetAttributeValue("apexMailChange")
	rec, ok := parseMailChangeRecord(stored)
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: no new address waiting: %w", op, ErrNotFound)
	case !s.now().Before(rec.expires):
		return nil, fmt.Errorf("%s: %w", op, ErrCodeExpired)
	case rec.attempts >= s.signin.CodeAttempts:
		return nil, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	}
	key, err := s.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(mailChangeCode(key, rec.linkHash, strings.TrimSpace(code))), []byte(rec.codeMAC)) == 1 {
		return s.confirmMailChange(ctx, op, e, stored, rec)
	}
	next := rec
	next.attempts++
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexMailChange", []string{stored})
		req.Add("apexMailChange", []string{next.String()})
		return c.Modify(req)
	})
	switch {
	case errors.Is(err, ErrConflict): // another answer, or a new change, came first
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	case err != nil:
		return nil, err
	case next.attempts >= s.signin.CodeAttempts:
		return nil, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	}
	return nil, fmt.Errorf("%s: %w", op, ErrInvalidCode)
}

// confirmMailChange makes rec's address the account's, e as read with
// stored, its apexMailChange: one modify spends the value read and
// replaces mail and apexMailKey, so that two confirmations cannot both
// pass and slapd's unique overlay refuses an address that another account
// of the structure took meanwhile. A renewal link waiting, mailed to the
// old address, ends in the same modify. Errors: ErrConflict (the address
// is taken now), ErrInvalidToken (the change was spent or replaced
// meanwhile).
func (s *Store) confirmMailChange(ctx context.Context, op string, e *ldap.Entry, stored string, rec mailChangeRecord) (*Person, error) {
	identifier := e.GetAttributeValue("uid")
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexMailChange", []string{stored})
		req.Replace("mail", []string{rec.email})
		req.Replace("apexMailKey", []string{s.mailKey(e.GetAttributeValue("apexSiret"), rec.email)})
		if r, ok := parseResetRecord(e.GetAttributeValue("apexReset")); ok && r.kind == "link" {
			req.Replace("apexReset", nil)
		}
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		// Either the value read is gone (used, replaced) or the unique
		// overlay refused the address: the value still there tells which.
		again, rerr := s.personEntry(ctx, op, identifier, []string{"apexMailChange"})
		if rerr != nil {
			return nil, rerr
		}
		if again.GetAttributeValue("apexMailChange") != stored {
			return nil, fmt.Errorf("%s: %w", op, ErrInvalidToken)
		}
		return nil, fmt.Errorf("%s: address taken meanwhile: %w", op, err)
	}
	if err != nil {
		return nil, err
	}
	return s.FindPerson(ctx, identifier)
}
