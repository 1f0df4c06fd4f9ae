package directory

import (
	"context"
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

const passwordModifyOID = "1.3.6.1.4.1.4203.1.11.1" // RFC 3062

// SetPassword gives an account a new password, checked first against the
// guide's rules, then sent in clear with the Password Modify extended
// operation so that slapd hashes it and checks it against the last ones.
// The service's bind account has write, not manage, on userPassword, so
// slapd applies the policy to it as to the person. Errors: ErrInvalid and
// ErrPasswordPolicy (rules), ErrPasswordInHistory, ErrNotFound.
func (s *Store) SetPassword(ctx context.Context, identifier, password string) error {
	const op = "set password"
	if err := CheckPassword(password); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	dn, err := s.personDN(ctx, op, identifier)
	if err != nil {
		return err
	}
	return s.setPasswordDN(ctx, op, dn, password)
}

// setPasswordDN is SetPassword for an entry already found, rules checked.
func (s *Store) setPasswordDN(ctx context.Context, op, dn, password string) error {
	return s.do(ctx, op, func(c *ldap.Conn) error {
		value := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Password Modify Request")
		value.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, dn, "User Identity"))
		value.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, password, "New Password"))
		req := ldap.NewExtendedRequest(passwordModifyOID, value)
		req.Controls = []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
		_, err := c.Extended(req)
		return err
	})
}

// Unlock clears a lockout that the password policy set after repeated
// failures; an account that is not locked is left as it is. Errors: ErrNotFound.
func (s *Store) Unlock(ctx context.Context, identifier string) error {
	const op = "unlock"
	dn, err := s.personDN(ctx, op, identifier)
	if err != nil {
		return err
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace("pwdAccountLockedTime", nil)
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
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)), personAttrs)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
	}
	if err != nil {
		return nil, err
	}
	dn := e.DN
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
	if res != nil {
		for _, c := range res.Controls {
			if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok && pp.Error >= 0 {
				// A successful bind with a policy error (say, a reset that must be
				// changed) leaves the session unusable.
				return nil, fmt.Errorf("%s: password policy error %d: %w", op, pp.Error, ErrInvalidCredentials)
			}
		}
	}
	if st := AccountState(e.GetAttributeValue("apexAccountState")); st != StateActive {
		return nil, fmt.Errorf("%s: account %s: %w", op, st, ErrInvalidCredentials)
	}
	return e, nil
}
