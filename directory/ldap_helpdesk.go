package directory

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// What the helpdesk reads and writes of an account (workflow_helpdesk.go):
// its lockouts, a renewal link sent by a manager, an invitation cancelled;
// and the counts and recipients of the notifications.

// relaxRules is the Relax Rules control: with manage access, it lets the
// service delete pwdFailureTime, which slapd marks NO-USER-MODIFICATION.
var relaxRules = ldap.NewControlString("1.3.6.1.4.1.4203.666.5.12", true, "")

// lockedForever is the pwdAccountLockedTime of an account locked by hand,
// with no end (draft-behera-ldap-password-policy).
const lockedForever = "000001010000Z"

// defaultPolicyDN is the password policy of people.
func (s *Store) defaultPolicyDN() string {
	suffix := s.base
	if dn, err := ldap.ParseDN(s.system); err == nil && len(dn.RDNs) > 1 {
		suffix = (&ldap.DN{RDNs: dn.RDNs[1:]}).String()
	}
	return "cn=default,ou=policies," + suffix
}

// signInKeys are the counters of an identifier's sign-in lockout.
func (s *Store) signInKeys(identifier string) []limitKey {
	l := s.limits
	return limitKeys(identifierKey(LimitSignInIdentifier, l.SignInIdentifier, identifier),
		identifierKey(LimitSignInIdentifierKnown, l.SignInIdentifierKnown, identifier))
}

// accountStatus reads how p, as read, is locked out: ppolicy's lock, from
// its pwdAccountLockedTime and the policy's lockout duration, and the
// espace's sign-in counters of its identifier.
func (s *Store) accountStatus(ctx context.Context, p *Person) (*AccountStatus, error) {
	const op = "account status"
	st := &AccountStatus{Person: p}
	now := s.now()
	switch {
	case p.lockedAt == lockedForever:
		st.PolicyLockedForever = true
	case p.lockedAt != "":
		e, err := s.searchOne(ctx, op, s.defaultPolicyDN(), ldap.ScopeBaseObject, "(objectClass=pwdPolicy)", []string{"pwdLockoutDuration"})
		if err != nil {
			return nil, err
		}
		secs, err := strconv.Atoi(e.GetAttributeValue("pwdLockoutDuration"))
		if err != nil || secs <= 0 {
			st.PolicyLockedForever = true // no duration: locked until unlocked
			break
		}
		if until := parseSlapdTime(p.lockedAt).Add(time.Duration(secs) * time.Second); until.After(now) {
			st.PolicyLockedUntil = until
		}
	}
	if p.Identifier == "" {
		return st, nil
	}
	keys := s.signInKeys(p.Identifier)
	counters, err := s.readLimits(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		le := over(k, counters[s.limitCN(k)], now)
		if le == nil {
			continue
		}
		until := now.Add(le.RetryAfter)
		if k.name == LimitSignInIdentifier {
			st.SignInLockedUntil = until
		} else {
			st.SignInKnownLockedUntil = until
		}
	}
	return st, nil
}

// unlock lifts p's lockouts as a renewal of its password does: ppolicy's
// lock and its failures (so that the next failure does not lock it again
// at once), in one modify, then the sign-in's counters of its identifier.
func (s *Store) unlock(ctx context.Context, p *Person) error {
	const op = "unlock"
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return err
	}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, []ldap.Control{relaxRules})
		req.Replace("pwdAccountLockedTime", nil)
		req.Replace("pwdFailureTime", nil)
		return c.Modify(req)
	})
	if err != nil {
		return err
	}
	s.forgetLimits(ctx, op, s.signInKeys(p.Identifier))
	return nil
}

// startRenewalLink records a renewal link for the active account p, as
// the forgotten password's mail link (in place of any renewal waiting),
// and returns its token. The modify asserts that the account is still
// active with the address read, so that the link never goes to an address
// that stopped being the account's meanwhile. Errors: ErrConflict (the
// account changed), ErrNotFound.
func (s *Store) startRenewalLink(ctx context.Context, p *Person) (string, error) {
	const op = "start renewal link"
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return "", err
	}
	token := p.Identifier + "." + randomToken()
	rec := resetRecord{kind: "link", hash: hashHex(token), expires: s.now().Add(s.resetLinkTTL)}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		same := and(eq("apexAccountState", string(StateActive)), eq("mail", p.Email))
		req := ldap.NewModifyRequest(dn, []ldap.Control{assertion{same}})
		req.Replace("apexReset", []string{rec.String()})
		return c.Modify(req)
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// cancelInvitation deletes the entry of an invited account, e as read:
// the request goes, and its address is free again. The delete asserts that
// the form is still not filled; an entry moved meanwhile (the form moves
// it to its service) is followed. Errors: ErrConflict (the form was sent
// meanwhile), ErrAlreadyDecided, ErrNotFound.
func (s *Store) cancelInvitation(ctx context.Context, requestID string) error {
	const op = "cancel invitation"
	e, err := s.requestEntry(ctx, op, requestID)
	if err != nil {
		return err
	}
	if st := AccountState(e.GetAttributeValue("apexAccountState")); st != StateInvited {
		return fmt.Errorf("%s: request is %s: %w", op, st, ErrConflict)
	}
	_, err = s.writeRequest(ctx, op, e, StateInvited, func(c *ldap.Conn, dn string) error {
		return c.Del(ldap.NewDelRequest(dn, []ldap.Control{assertion{eq("apexAccountState", string(StateInvited))}}))
	})
	return err
}

// countPersons counts the accounts that filter matches under base: one
// search that returns no attribute, never a listing.
func (s *Store) countPersons(ctx context.Context, op, base, filter string) (int, error) {
	entries, err := s.searchAll(ctx, op, base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", filter), []string{"1.1"})
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return len(entries), err
}

// managersOf are the people who manage p and are told about it: for a
// collaborateur, the responsables of its service and the administrators
// of its structure; for a responsable, the administrators; for an
// administrator, the agents' mailbox (none when empty). Only active
// accounts, and never p itself.
func (s *Store) managersOf(ctx context.Context, p *Person, agentsMailbox string) ([]Recipient, error) {
	var filter string
	switch p.Role {
	case RoleCollaborateur:
		filter = or(eq("apexRole", string(RoleAdministrateur)),
			and(eq("apexRole", string(RoleResponsable)), eq("apexService", s.serviceDN(p.SIRET, p.Service))))
	case RoleResponsable:
		filter = eq("apexRole", string(RoleAdministrateur))
	case RoleAdministrateur:
		if agentsMailbox == "" {
			return nil, nil
		}
		return []Recipient{{Email: agentsMailbox}}, nil
	default:
		return nil, nil
	}
	entries, err := s.searchAll(ctx, "find managers", s.structureDN(p.SIRET), ldap.ScopeWholeSubtree,
		and("(objectClass=apexPerson)", eq("apexAccountState", string(StateActive)), filter), []string{"uid", "mail", "givenName"})
	if err != nil {
		return nil, err
	}
	var out []Recipient
	for _, e := range entries {
		if uid := e.GetAttributeValue("uid"); uid == "" || uid == p.Identifier || e.GetAttributeValue("mail") == "" {
			continue
		}
		out = append(out, Recipient{Email: e.GetAttributeValue("mail"), FirstName: e.GetAttributeValue("givenName")})
	}
	return out, nil
}
