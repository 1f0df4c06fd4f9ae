package directory

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Captchas of the forgotten-password step live in the directory, so that
// every apexd instance behind a load balancer sees the same ones:
//
//	ou=captchas,ou=system,SUFFIX
//	  cn=SHA256(ID)  applicationProcess, description "v1 EXPIRY DIGITS"
//
// The digits are kept in clear because the image and the sound are drawn
// from them at each request; slapd lets only the service account read
// ou=system. An entry is never modified: it is added, read, and deleted, and
// the one delete that succeeds is the one attempt at answering it.

const (
	captchaMaxDigits = 20
	// Each creation looks at up to captchaPurgeScan captchas and deletes up
	// to captchaPurgeMax expired ones, so that no sweeper has to run. slapd
	// lists children in the order of their (random) RDNs: the scan is a
	// random sample, which keeps the expired ones to about 1% of the
	// captchas once there are more than captchaPurgeScan.
	captchaPurgeScan = 100
	captchaPurgeMax  = 20
)

func (s *Store) captchasDN() string { return "ou=captchas," + s.system }

// captchaDN names a captcha by the SHA-256 of its id: the id is the
// client's token, and the directory keeps no token in clear.
func (s *Store) captchaDN(id string) string { return rdn("cn", captchaCN(id)) + "," + s.captchasDN() }

func captchaCN(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// CreateCaptcha stores a captcha whose answer is the given ASCII digits (1
// to 20), valid for ttl, and returns its id: a 256-bit random token for the
// client to send back. Some expired captchas are deleted first. Errors:
// ErrInvalid for an answer that is not digits or a ttl that is not positive.
func (s *Store) CreateCaptcha(ctx context.Context, answer string, ttl time.Duration) (string, error) {
	const op = "create captcha"
	if !validCaptchaAnswer(answer) || ttl <= 0 {
		return "", fmt.Errorf("%s: answer of 1 to %d digits and a positive ttl: %w", op, captchaMaxDigits, ErrInvalid)
	}
	s.purgeCaptchas(ctx)
	id := randomToken()
	rec := captchaRecord{expires: s.now().Add(ttl), digits: answer}
	add := func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.captchaDN(id), nil)
		req.Attribute("objectClass", []string{"applicationProcess"})
		req.Attribute("cn", []string{captchaCN(id)})
		req.Attribute("description", []string{rec.String()})
		return c.Add(req)
	}
	err := s.do(ctx, op, add)
	if errors.Is(err, ErrNotFound) {
		// A directory set up before captchas existed has no ou=captchas.
		if err := s.createCaptchaContainer(ctx); err != nil {
			return "", err
		}
		err = s.do(ctx, op, add)
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// createCaptchaContainer adds ou=captchas; another instance adding it at the
// same moment is no error.
func (s *Store) createCaptchaContainer(ctx context.Context) error {
	err := s.do(ctx, "create captcha container", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.captchasDN(), nil)
		req.Attribute("objectClass", []string{"organizationalUnit"})
		req.Attribute("ou", []string{"captchas"})
		req.Attribute("description", []string{"Pending captchas of the forgotten-password step, each used once"})
		return c.Add(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// purgeCaptchas deletes up to captchaPurgeMax expired captchas. It is
// housekeeping: a failure (another instance deleting the same entry, a
// missing container) does not stop the creation that called it.
func (s *Store) purgeCaptchas(ctx context.Context) {
	now := s.now()
	s.do(ctx, "purge captchas", func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(s.captchasDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			captchaPurgeScan, int(s.cfg.Timeout/time.Second), false, "(objectClass=applicationProcess)", []string{"description"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return err
		}
		deleted := 0
		for _, e := range res.Entries {
			rec, ok := parseCaptchaRecord(e.GetAttributeValue("description"))
			if !ok || now.Before(rec.expires) {
				continue
			}
			if err := c.Del(ldap.NewDelRequest(e.DN, nil)); isNetworkError(err) {
				return err
			}
			if deleted++; deleted == captchaPurgeMax {
				break
			}
		}
		return nil
	})
}

// captchaDigits returns the answer of a live captcha, for drawing its image
// and sound; it changes nothing. Errors: ErrNotFound when the captcha is
// unknown, used or expired.
func (s *Store) captchaDigits(ctx context.Context, id string) (string, error) {
	const op = "captcha digits"
	if !validCaptchaID(id) {
		return "", fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	e, err := s.searchOne(ctx, op, s.captchaDN(id), ldap.ScopeBaseObject, "(objectClass=applicationProcess)", []string{"description"})
	if err != nil {
		return "", err
	}
	rec, ok := parseCaptchaRecord(e.GetAttributeValue("description"))
	if !ok || !s.now().Before(rec.expires) {
		return "", fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return rec.digits, nil
}

// solveCaptcha checks an answer (spaces ignored) and uses the captcha up,
// right or wrong: a new one must be asked for after each attempt. Of two
// attempts on one captcha, on one instance or two, only the first counts.
// Errors: ErrInvalidCaptcha when the answer is wrong or the captcha unknown,
// used or expired.
func (s *Store) solveCaptcha(ctx context.Context, id, answer string) error {
	const op = "solve captcha"
	if !validCaptchaID(id) {
		return fmt.Errorf("%s: %w", op, ErrInvalidCaptcha)
	}
	dn := s.captchaDN(id)
	e, err := s.searchOne(ctx, op, dn, ldap.ScopeBaseObject, "(objectClass=applicationProcess)", []string{"description"})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s: %w", op, ErrInvalidCaptcha)
	}
	if err != nil {
		return err
	}
	// The entry never changes once added, so what was read is what this
	// delete removes; the delete that succeeds is the one attempt allowed.
	err = s.do(ctx, op, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) })
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s: used meanwhile: %w", op, ErrInvalidCaptcha)
	}
	if err != nil {
		return err
	}
	rec, ok := parseCaptchaRecord(e.GetAttributeValue("description"))
	given := strings.Join(strings.Fields(answer), "")
	switch {
	case !ok:
		return fmt.Errorf("%s: unreadable record: %w", op, ErrInvalidCaptcha)
	case !s.now().Before(rec.expires):
		return fmt.Errorf("%s: expired: %w", op, ErrInvalidCaptcha)
	case subtle.ConstantTimeCompare([]byte(given), []byte(rec.digits)) != 1:
		return fmt.Errorf("%s: wrong answer: %w", op, ErrInvalidCaptcha)
	}
	return nil
}
