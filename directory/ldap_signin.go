package directory

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

func (s *Store) issueCode(ctx context.Context, op string, e *ldap.Entry) (LoginCode, error) {
	challenge, code, expires, err := s.newChallenge(ctx, e.GetAttributeValue("uid"), e.GetAttributeValue("pwdChangedTime"))
	if err != nil {
		return LoginCode{}, fmt.Errorf("%s: %w", op, err)
	}
	return LoginCode{Challenge: challenge, Code: code, ExpiresAt: expires, Person: s.personFromEntry(e)}, nil
}

// resendLoginCode sends a new code for a pending challenge, valid until the
// challenge's own expiry: a resend never extends it. The previous code no
// longer works. The wrong tries already made still count, so that asking
// for codes again and again gives no more guesses. Errors: ErrInvalidCode
// when the challenge is unknown or used, or the password changed since it
// was issued; ErrCodeExpired; ErrTooManyAttempts.
func (s *Store) resendLoginCode(ctx context.Context, challenge string) (LoginCode, error) {
	const op = "resend login code"
	code, err := randomDigits(6)
	if err != nil {
		return LoginCode{}, fmt.Errorf("%s: %w", op, err)
	}
	for range codeCASTries {
		pc, err := s.pendingCode(ctx, op, challenge)
		if err != nil {
			return LoginCode{}, err
		}
		next := pc.rec
		next.codeHash = hashHex(challenge + "|" + code)
		err = s.swapCodeRecord(ctx, op, pc, next)
		if errors.Is(err, errEntryChanged) {
			continue
		}
		if err != nil {
			return LoginCode{}, err
		}
		return LoginCode{Challenge: challenge, Code: code, ExpiresAt: next.expires, Person: s.personFromEntry(pc.entry)}, nil
	}
	return LoginCode{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
}

// verifyLoginCode checks the code of a challenge: right, before the
// challenge's expiry, within CodeAttempts tries, once, and with the password
// the challenge was issued for. Each step is a compare-and-swap on the
// account's entry, so two instances (or two tabs) racing on one code cannot
// both use it nor get extra tries, the first answer included. Errors:
// ErrInvalidCode (wrong, unknown or used, or the password changed),
// ErrCodeExpired, ErrTooManyAttempts, ErrInvalidCredentials when the
// account is no longer active.
func (s *Store) verifyLoginCode(ctx context.Context, challenge, code string) (*Person, error) {
	const op = "verify login code"
	code = strings.TrimSpace(code)
	for range codeCASTries {
		pc, err := s.pendingCode(ctx, op, challenge)
		if err != nil {
			return nil, err
		}
		rec := pc.rec
		var right bool
		if rec.codeHash == codeDerived {
			right = subtle.ConstantTimeCompare([]byte(derivedCode(pc.key, challenge)), []byte(code)) == 1
		} else {
			right = subtle.ConstantTimeCompare([]byte(hashHex(challenge+"|"+code)), []byte(rec.codeHash)) == 1
		}
		next := rec
		if right {
			next.codeHash = codeUsed
		} else {
			next.attempts++
		}
		err = s.swapCodeRecord(ctx, op, pc, next)
		if errors.Is(err, errEntryChanged) {
			continue // read again: the answer is judged on what the record holds now
		}
		if err != nil {
			return nil, err
		}
		if !right {
			if next.attempts >= s.signin.CodeAttempts {
				return nil, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
			}
			return nil, fmt.Errorf("%s: %d tries left: %w", op, s.signin.CodeAttempts-next.attempts, ErrInvalidCode)
		}
		s.pruneCodeRecords(ctx, op, pc.entry)
		p := s.personFromEntry(pc.entry)
		if p.State != StateActive {
			return nil, fmt.Errorf("%s: account %s: %w", op, p.State, ErrInvalidCredentials)
		}
		return p, nil
	}
	// Other answers kept coming first: nothing was judged nor counted.
	return nil, fmt.Errorf("%s: %w", op, ErrInvalidCode)
}

// pendingChallenge is a live challenge and what the directory remembers of
// it, as read: the record, the stored values to swap (none before the first
// answer, several when answers of an older version raced), and the
// account's pwdChangedTime, which every write asserts.
type pendingChallenge struct {
	entry      *ldap.Entry
	key        []byte
	rec        codeRecord
	old        []string
	pwdChanged string
}

// pendingCode authenticates a challenge, then reads its account and what
// the directory remembers of it, and refuses it when it is used, out of
// tries, expired, or issued for a password that changed since.
func (s *Store) pendingCode(ctx context.Context, op, challenge string) (pendingChallenge, error) {
	lc, key, ok, err := s.parseChallenge(ctx, challenge)
	if err != nil {
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, err)
	}
	if !ok {
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", lc.identifier)),
		append([]string{"apexLoginCode"}, personAttrs...))
	if errors.Is(err, ErrNotFound) {
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	if err != nil {
		return pendingChallenge{}, err
	}
	if !hmac.Equal(lc.stamp, passwordStamp(key, e.GetAttributeValue("pwdChangedTime"))) {
		return pendingChallenge{}, fmt.Errorf("%s: the password changed since: %w", op, ErrInvalidCode)
	}
	pc := pendingChallenge{entry: e, key: key, pwdChanged: e.GetAttributeValue("pwdChangedTime"),
		rec: codeRecord{challengeHash: hashHex(challenge), expires: lc.expires, codeHash: codeDerived}}
	for _, v := range e.GetAttributeValues("apexLoginCode") {
		r, ok := parseCodeRecord(v)
		if !ok || r.codeHash == codeOpened || subtle.ConstantTimeCompare([]byte(r.challengeHash), []byte(pc.rec.challengeHash)) != 1 {
			continue
		}
		switch {
		case len(pc.old) > 0 && pc.rec.codeHash == codeUsed: // used stays used
		case len(pc.old) == 0, r.codeHash == codeUsed, r.attempts > pc.rec.attempts:
			pc.rec = r
		}
		pc.old = append(pc.old, v)
	}
	// The signed expiry is the challenge's: a record written by an older
	// version, whose resends extended it, gets no longer.
	if lc.expires.Before(pc.rec.expires) {
		pc.rec.expires = lc.expires
	}
	switch {
	case pc.rec.codeHash == codeUsed:
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	case pc.rec.attempts >= s.signin.CodeAttempts:
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	case !s.now().Before(pc.rec.expires):
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrCodeExpired)
	}
	return pc, nil
}

// swapCodeRecord replaces the values read by next: a compare-and-swap, as
// the delete of a value another answer replaced first fails. The first
// answer has no value to delete: it adds the challenge's marker, which a
// racing first answer has added first or not at all. Every write asserts
// the pwdChangedTime read, so that an answer read just before a password
// change writes nothing. The loser gets errEntryChanged, and its try does
// not count until it is judged again on a new read.
func (s *Store) swapCodeRecord(ctx context.Context, op string, pc pendingChallenge, next codeRecord) error {
	unchanged := eq("pwdChangedTime", pc.pwdChanged)
	if pc.pwdChanged == "" {
		unchanged = "(!(pwdChangedTime=*))"
	}
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(pc.entry.DN, []ldap.Control{assertion{unchanged}})
		if len(pc.old) > 0 {
			req.Delete("apexLoginCode", pc.old)
		} else {
			marker := codeRecord{challengeHash: next.challengeHash, expires: next.expires, codeHash: codeOpened}
			req.Add("apexLoginCode", []string{marker.String()})
		}
		req.Add("apexLoginCode", []string{next.String()})
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%s: %w", op, errEntryChanged)
	}
	return err
}

// errEntryChanged: a challenge's record was not written because another
// answer or a password change came first; the answer is judged again on a
// new read.
var errEntryChanged = errors.New("the entry changed since it was read")

// codeCASTries bounds the reads and writes of one answer to a challenge
// when other answers to it keep coming first; each round lets one through.
const codeCASTries = 16

// pruneCodeRecords forgets the records of expired challenges, whose codes
// fail on their expiry alone. It runs after a sign-in succeeded, apart
// from the compare-and-swap, and a failure (another instance pruned
// first) changes nothing that matters.
func (s *Store) pruneCodeRecords(ctx context.Context, op string, e *ldap.Entry) {
	var stale []string
	for _, v := range e.GetAttributeValues("apexLoginCode") {
		if r, ok := parseCodeRecord(v); !ok || !s.now().Before(r.expires) {
			stale = append(stale, v)
		}
	}
	if len(stale) == 0 {
		return
	}
	s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexLoginCode", stale)
		return c.Modify(req)
	})
}

// checkPasswordCounted checks the password of the account of identifier
// (canonical), counting the attempt before it is tried and giving the
// count back when the password is right: per client address, over which
// ErrRateLimited; per identifier, known or not, apart for the addresses
// its account signed in from and for all others, over which a *LimitError
// that matches ErrAccountLocked. The sign-in and the checks of a signed-in
// person's current password go through it alike, so that a stolen session
// cannot guess more than a stranger. It returns the account's entry, nil
// for an unknown identifier.
func (s *Store) checkPasswordCounted(ctx context.Context, op, id, password string) (*ldap.Entry, error) {
	l := s.limits
	e, err := s.signInEntry(ctx, op, id)
	if err != nil {
		return nil, err
	}
	known, err := s.fromKnownAddress(ctx, e)
	if err != nil {
		return nil, err
	}
	perIdentifier := identifierKey(LimitSignInIdentifier, l.SignInIdentifier, id)
	if known {
		perIdentifier = identifierKey(LimitSignInIdentifierKnown, l.SignInIdentifierKnown, id)
	}
	// The address first: over its limit nothing else counts; over the
	// identifier's, the attempt still counts for the address.
	slots, err := s.takeLimits(ctx, op, limitKeys(s.addressKey(ctx, LimitSignInAddress, l.SignInAddress)))
	if err != nil {
		return nil, err
	}
	more, err := s.takeLimits(ctx, op, limitKeys(perIdentifier))
	if err != nil {
		if !errors.Is(err, ErrRateLimited) {
			s.releaseLimits(ctx, op, slots)
		}
		return nil, err
	}
	slots = append(slots, more...)
	err = s.checkPassword(ctx, op, e, password)
	if !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrAccountLocked) {
		s.releaseLimits(ctx, op, slots)
	}
	return e, err
}
