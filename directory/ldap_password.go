package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// changePassword is SetPassword for an account read with one of its
// sessions (SignIn.Session): that session stays open, every other one ends.
func (s *Store) changePassword(ctx context.Context, p *Person, password string) error {
	return s.setPassword(ctx, "change password", p, password, p.session)
}

// setPassword replaces the password and the sessions, keeping only the
// stored session value keep (none when empty), in one modify: a plain
// modify rather than the Password Modify operation, which can change
// nothing else, so that no session outlives the password it was opened
// with. ppolicy checks, hashes (olcPPolicyHashCleartext) and records the
// new password as it does for the extended operation.
func (s *Store) setPassword(ctx context.Context, op string, p *Person, password, keep string) error {
	if err := CheckPassword(password); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return err
	}
	var sessions []string
	if keep != "" {
		sessions = []string{keep}
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, []ldap.Control{ldap.NewControlBeheraPasswordPolicy()})
		req.Replace("userPassword", []string{password})
		req.Replace("apexSession", sessions)
		return c.Modify(req)
	})
}

// Authenticate checks an identifier and password by a bind as that person
// on a fresh connection, never a pooled one. An unknown identifier, a wrong
// password and an account that is not active all give
// ErrInvalidCredentials; a locked account gives ErrAccountLocked.
func (s *Store) Authenticate(ctx context.Context, identifier, password string) (*Person, error) {
	e, err := s.authenticate(ctx, "authenticate", identifier, password)
	if err != nil {
		return nil, err
	}
	return s.personFromEntry(e), nil
}

// authenticate is Authenticate, returning the entry read on the way.
func (s *Store) authenticate(ctx context.Context, op, identifier, password string) (*ldap.Entry, error) {
	if password == "" || identifier == "" {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials) // an empty password would be an anonymous bind
	}
	e, err := s.signInEntry(ctx, op, identifier)
	if err != nil {
		return nil, err
	}
	return e, s.checkPassword(ctx, op, e, password)
}

// signInEntry reads the account of an identifier for a password check,
// with the addresses it signed in from; nil, and no error, when there is
// no such account.
func (s *Store) signInEntry(ctx context.Context, op, identifier string) (*ldap.Entry, error) {
	e, err := s.personEntry(ctx, op, identifier, append([]string{"apexKnownAddress"}, personAttrs...))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return e, err
}

// checkPassword checks password by a bind as the account e on a fresh
// connection. No account (e nil) and an account that is not active cost
// what a wrong password costs, a bind that makes slapd verify an Argon2
// hash (the decoy's), and give ErrInvalidCredentials alike; a lockout by
// ppolicy gives ErrAccountLocked.
func (s *Store) checkPassword(ctx context.Context, op string, e *ldap.Entry, password string) error {
	if password == "" {
		return fmt.Errorf("%s: %w", op, ErrInvalidCredentials) // an empty password would be an anonymous bind
	}
	if e == nil {
		return s.decoyBind(ctx, op, password)
	}
	if st := AccountState(e.GetAttributeValue("apexAccountState")); st != StateActive {
		// slapd would refuse the bind before hashing (ACL): as long as an unknown identifier.
		if err := s.decoyBind(ctx, op, password); !errors.Is(err, ErrInvalidCredentials) {
			return err
		}
		return fmt.Errorf("%s: account %s: %w", op, st, ErrInvalidCredentials)
	}
	res, err := s.bindFresh(ctx, op, e.DN, password)
	if err != nil {
		return err
	}
	if res != nil {
		for _, c := range res.Controls {
			if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok && pp.Error >= 0 {
				// A successful bind with a policy error (say, a reset that must be
				// changed) leaves the session unusable.
				return fmt.Errorf("%s: password policy error %d: %w", op, pp.Error, ErrInvalidCredentials)
			}
		}
	}
	return nil
}

// bindFresh binds as dn on a fresh connection, closed at once.
func (s *Store) bindFresh(ctx context.Context, op, dn, password string) (*ldap.SimpleBindResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	conn, err := s.dialFresh()
	if err != nil {
		return nil, translate(op, err)
	}
	defer conn.Close()
	res, err := conn.SimpleBind(&ldap.SimpleBindRequest{
		Username: dn,
		Password: password,
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()},
	})
	if err := cutByServer(conn, err); err != nil {
		return nil, translate(op, err)
	}
	return res, nil
}

// decoyDN is an entry with a random password nobody knows, hashed by slapd
// like people's, under the system policy (never locked: a locked entry is
// refused before its hash is checked, and the decoy must always cost a hash).
func (s *Store) decoyDN() string { return "cn=apex-decoy," + s.system }

const decoyDescription = "Bound with the password of identifiers that cannot sign in, so that they cost what a wrong password costs."

// decoyBind binds as the decoy with password and returns
// ErrInvalidCredentials: what a wrong password costs and answers, for an
// identifier that cannot sign in. The decoy is added on first use.
func (s *Store) decoyBind(ctx context.Context, op, password string) error {
	if !s.decoyReady.Load() {
		if err := s.ensureDecoy(ctx); err != nil {
			return err
		}
	}
	_, err := s.bindFresh(ctx, op, s.decoyDN(), password)
	if err == nil { // a guess of 256 random bits: never, but never a success either
		err = ErrInvalidCredentials
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		return err
	}
	// A person's failed bind also makes slapd write the failure
	// (pwdFailureTime, synced to disk): the decoy's costs a like write.
	// (pwdFailureTime itself is slapd's alone, and the decoy's policy
	// records nothing: it never locks.)
	s.decoyWrite(ctx, op)
	return fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
}

// decoyWrite writes on the decoy what a failure writes on a person, one
// value replaced so that it never grows, for a failure that has nothing of
// its own to write and must cost the same. Its own failure changes nothing.
func (s *Store) decoyWrite(ctx context.Context, op string) {
	if !s.decoyReady.Load() && s.ensureDecoy(ctx) != nil {
		return
	}
	s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(s.decoyDN(), nil)
		req.Replace("description", []string{decoyDescription + " Last failure: " + s.now().UTC().Format(time.RFC3339Nano)})
		return c.Modify(req)
	})
}

// ensureDecoy adds the decoy unless it exists; another instance adding it
// at the same moment is no error.
func (s *Store) ensureDecoy(ctx context.Context) error {
	const op = "add decoy"
	_, err := s.searchOne(ctx, op, s.decoyDN(), ldap.ScopeBaseObject, "(objectClass=simpleSecurityObject)", []string{"1.1"})
	if errors.Is(err, ErrNotFound) {
		secret := make([]byte, 32)
		rand.Read(secret)
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.decoyDN(), nil)
			req.Attribute("objectClass", []string{"applicationProcess", "simpleSecurityObject"})
			req.Attribute("cn", []string{"apex-decoy"})
			req.Attribute("description", []string{decoyDescription})
			req.Attribute("userPassword", []string{base64.RawStdEncoding.EncodeToString(secret)})
			req.Attribute("pwdPolicySubentry", []string{s.systemPolicyDN()})
			return c.Add(req)
		})
		if errors.Is(err, ErrConflict) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	s.decoyReady.Store(true)
	return nil
}

// systemPolicyDN is the password policy of bind accounts: the one of the
// service's own account, which has no lockout.
func (s *Store) systemPolicyDN() string {
	suffix := s.base
	if dn, err := ldap.ParseDN(s.system); err == nil && len(dn.RDNs) > 1 {
		suffix = (&ldap.DN{RDNs: dn.RDNs[1:]}).String()
	}
	return "cn=system,ou=policies," + suffix
}
