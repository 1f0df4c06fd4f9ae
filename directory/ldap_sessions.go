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

// CreateSession opens a session for an account that passed both sign-in
// steps and returns its token. Sessions idle longer than SessionIdle are
// pruned, and the client's address noted as one the account signed in
// from (see noteKnownAddress), by the same modify. Errors: ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, identifier string) (string, error) {
	const op = "create session"
	for try := 1; ; try++ {
		e, err := s.personEntry(ctx, op, identifier, []string{"uid", "apexSession", "apexKnownAddress"})
		if err != nil {
			return "", err
		}
		token := e.GetAttributeValue("uid") + "." + randomToken()
		now := s.now().Unix()
		req := ldap.NewModifyRequest(e.DN, nil)
		for _, v := range e.GetAttributeValues("apexSession") {
			if rec, ok := parseSessionRecord(v); !ok || s.sessionIdle(rec) {
				req.Delete("apexSession", []string{v})
			}
		}
		req.Add("apexSession", []string{sessionRecord{hash: hashHex(token), lastSeen: now, created: now}.String()})
		if err := s.noteKnownAddress(ctx, req, e); err != nil {
			return "", err
		}
		err = s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) })
		if errors.Is(err, ErrConflict) && try < 3 {
			continue // another sign-in of the account changed the values read: read them again
		}
		if err != nil {
			return "", err
		}
		return token, nil
	}
}

// sessionAnd returns the account of a session token and keeps the session
// alive, reading in the same search the account named by other (nil when
// there is none, or other is empty): a request that shows an account costs
// one round trip to the directory, not two. Errors: ErrSessionExpired when
// the token is unknown, ended or idle too long, or the account is no
// longer active.
func (s *Store) sessionAnd(ctx context.Context, token, other string) (*Person, *Person, error) {
	const op = "session"
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
	}
	if other != "" {
		other, _ = CanonicalIdentifier(other) // an identifier of no account's form names none
	}
	uids := eq("uid", identifier)
	if other != "" && !strings.EqualFold(other, identifier) {
		uids = or(uids, eq("uid", other))
	}
	entries, err := s.searchFew(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", uids),
		append([]string{"apexSession"}, personAttrs...), 2)
	if err != nil {
		return nil, nil, err
	}
	var e *ldap.Entry
	var found *Person
	for _, x := range entries {
		switch uid := x.GetAttributeValue("uid"); {
		case strings.EqualFold(uid, identifier):
			e = x
		case other != "" && strings.EqualFold(uid, other):
			found = s.personFromEntry(x)
		}
	}
	if e == nil {
		return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
	}
	if other != "" && strings.EqualFold(other, identifier) {
		found = s.personFromEntry(e)
	}
	want := hashHex(token)
	for _, v := range e.GetAttributeValues("apexSession") {
		rec, ok := parseSessionRecord(v)
		if !ok || subtle.ConstantTimeCompare([]byte(rec.hash), []byte(want)) != 1 {
			continue
		}
		p := s.personFromEntry(e)
		if s.sessionIdle(rec) || p.State != StateActive {
			s.do(ctx, op, func(c *ldap.Conn) error { return deleteValue(c, e.DN, "apexSession", v) })
			return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
		}
		p.session = v
		if now := s.now().Unix(); now-rec.lastSeen >= int64(sessionTouchEvery/time.Second) {
			touched := rec
			touched.lastSeen = now
			// A failed touch (another request touched it first) is harmless.
			err := s.do(ctx, op, func(c *ldap.Conn) error {
				req := ldap.NewModifyRequest(e.DN, nil)
				req.Delete("apexSession", []string{v})
				req.Add("apexSession", []string{touched.String()})
				return c.Modify(req)
			})
			if err == nil {
				p.session = touched.String()
			}
		}
		return p, found, nil
	}
	return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
}

// endSession closes a session for good; an unknown token is not an error.
func (s *Store) endSession(ctx context.Context, token string) error {
	const op = "end session"
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)), []string{"apexSession"})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	want := hashHex(token)
	for _, v := range e.GetAttributeValues("apexSession") {
		if rec, ok := parseSessionRecord(v); ok && rec.hash == want {
			err := s.do(ctx, op, func(c *ldap.Conn) error { return deleteValue(c, e.DN, "apexSession", v) })
			if errors.Is(err, ErrConflict) {
				return nil // ended meanwhile
			}
			return err
		}
	}
	return nil
}

func (s *Store) sessionIdle(r sessionRecord) bool {
	return s.now().Sub(time.Unix(r.lastSeen, 0)) >= s.signin.SessionIdle
}

func deleteValue(c *ldap.Conn, dn, attr, value string) error {
	req := ldap.NewModifyRequest(dn, nil)
	req.Delete(attr, []string{value})
	return c.Modify(req)
}

// sessionTouchEvery bounds the writes that keep a session alive: a request
// writes the last-seen time only when it is older than this.
const sessionTouchEvery = time.Minute
