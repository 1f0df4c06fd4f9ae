package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

var personAttrs = []string{
	"uid", "givenName", "sn", "mail", "mobile", "apexRole", "apexAccountState", "apexSiret", "apexService",
	"apexRequestId", "apexRequestedBy", "apexRequestedAt", "apexDecidedBy", "apexDecidedAt", "apexRefusalReason",
	"memberOf", "pwdAccountLockedTime", "pwdChangedTime", "authTimestamp", "apexActiveSince", "apexEnd", "apexNextEnd",
	"apexInvitationExpires", "apexMailChange",
}

// invitedSurname stands for the surname of an invited account until its
// form is filled: inetOrgPerson requires one.
const invitedSurname = "-"

// maxHomonyms bounds the search for a free identifier.
const maxHomonyms = 1000

// CreatePerson adds an account with its password, which slapd hashes and
// checks against the password policy. An active account gets its
// identifier at once: the first of prenom.nom-px, prenom.nom2-px, … that
// the directory accepts; one in another state is named by its request id.
// Errors: ErrInvalid (listing every problem, password rules included),
// ErrNotFound when the structure or service does not exist, ErrConflict
// when the mail is already used, ErrPasswordPolicy.
func (s *Store) CreatePerson(ctx context.Context, n NewPerson, password string) (*Person, error) {
	const op = "create person"
	err := n.Validate()
	var problems []Problem
	if ie := (*InvalidError)(nil); errors.As(err, &ie) {
		problems = ie.Problems
	}
	if pe := (*InvalidError)(nil); errors.As(CheckPassword(password), &pe) {
		problems = append(problems, pe.Problems...)
	}
	if err := invalid(problems); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if n.RequestID == "" {
		n.RequestID = NewRequestID()
	}
	now := s.now().UTC().Truncate(time.Second)
	parent := s.personParentDN(n.Role, n.SIRET, n.Service)
	attrs := s.personEntryAttributes(n, now)
	if n.State != StateActive {
		dn := rdn("apexRequestId", n.RequestID) + "," + parent
		if err := s.addPerson(ctx, op, dn, attrs, password); err != nil {
			return nil, err
		}
		return s.findPerson(ctx, op, eq("apexRequestId", n.RequestID))
	}
	id, err := s.addWithIdentifier(ctx, op, n.FirstName, n.LastName, func(id string) error {
		return s.addPerson(ctx, op, rdn("uid", id)+","+parent, append(attrs, ldap.Attribute{Type: "uid", Vals: []string{id}}), password)
	})
	if err != nil {
		return nil, err
	}
	return s.FindPerson(ctx, id)
}

// errIdentifierTaken tells addWithIdentifier to try the next number.
var errIdentifierTaken = errors.New("identifier taken")

// addWithIdentifier reserves the first free identifier for the name and
// calls add with it. The reservation is an entry named by the identifier:
// slapd adds it or answers "already exists", atomically, so two accounts
// created at the same moment never get the same identifier, and an
// identifier once given is never given again. add returns
// errIdentifierTaken when the uid turns out to be used all the same.
func (s *Store) addWithIdentifier(ctx context.Context, op, firstName, lastName string, add func(id string) error) (string, error) {
	base, err := Identifier(firstName, lastName)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	for n := 1; n <= maxHomonyms; n++ {
		id := NumberedIdentifier(base, n)
		err := s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.identifierDN(id), nil)
			req.Attribute("objectClass", []string{"applicationProcess"})
			req.Attribute("cn", []string{id})
			return c.Add(req)
		})
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return "", err
		}
		err = add(id)
		if errors.Is(err, errIdentifierTaken) {
			continue // keep the reservation: the identifier is in use
		}
		if err != nil {
			// Give the identifier back. Should this fail too, the reservation
			// only makes the identifier unusable, which harms nobody.
			s.do(context.WithoutCancel(ctx), op, func(c *ldap.Conn) error {
				return c.Del(ldap.NewDelRequest(s.identifierDN(id), nil))
			})
			return "", err
		}
		return id, nil
	}
	return "", fmt.Errorf("%s: no free identifier for %s: %w", op, base, ErrConflict)
}

// addPerson adds a person entry with its password in clear, for slapd to
// hash, asking for the ppolicy response control so that a refused password
// can be told from a duplicate mail.
func (s *Store) addPerson(ctx context.Context, op, dn string, attrs []ldap.Attribute, password string) error {
	var uidTaken bool
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, []ldap.Control{ldap.NewControlBeheraPasswordPolicy()})
		req.Attributes = append(req.Attributes, attrs...)
		req.Attribute("userPassword", []string{password})
		err := c.Add(req)
		if err == nil {
			return nil
		}
		uid := ""
		for _, a := range req.Attributes {
			if a.Type == "uid" {
				uid = a.Vals[0]
			}
		}
		if uid == "" {
			return err
		}
		var lerr *ldap.Error
		if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			uidTaken = true
		} else if errors.As(err, &lerr) && lerr.ResultCode == ldap.LDAPResultConstraintViolation && ppolicyError(lerr.Packet) < 0 {
			// The unique overlay refused the uid or the mail: find out which.
			res, serr := c.Search(ldap.NewSearchRequest(s.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
				1, 0, false, eq("uid", uid), []string{"1.1"}, nil))
			uidTaken = serr == nil && len(res.Entries) > 0
		}
		return err
	})
	if uidTaken {
		return errIdentifierTaken
	}
	return err
}

func (s *Store) personEntryAttributes(n NewPerson, now time.Time) []ldap.Attribute {
	attrs := []ldap.Attribute{
		{Type: "objectClass", Vals: []string{"inetOrgPerson", "apexPerson"}},
		{Type: "cn", Vals: []string{strings.TrimSpace(n.FirstName + " " + n.LastName)}},
		{Type: "displayName", Vals: []string{strings.TrimSpace(n.FirstName + " " + n.LastName)}},
		{Type: "sn", Vals: []string{n.LastName}},
		{Type: "mail", Vals: []string{n.Email}},
		{Type: "apexMailKey", Vals: []string{s.mailKey(n.SIRET, n.Email)}},
		{Type: "apexRole", Vals: []string{string(n.Role)}},
		{Type: "apexAccountState", Vals: []string{string(n.State)}},
		{Type: "apexRequestId", Vals: []string{n.RequestID}},
		{Type: "apexRequestedAt", Vals: []string{ldapTime(now)}},
		{Type: "apexSortKey", Vals: []string{personSortKey(n.FirstName, n.LastName, n.Email, n.State)}},
	}
	if n.FirstName != "" {
		attrs = append(attrs, ldap.Attribute{Type: "givenName", Vals: []string{n.FirstName}})
	}
	if n.Mobile != "" {
		attrs = append(attrs, ldap.Attribute{Type: "mobile", Vals: []string{n.Mobile}})
	}
	if n.SIRET != "" {
		attrs = append(attrs, ldap.Attribute{Type: "apexSiret", Vals: []string{n.SIRET}})
	}
	if n.Role.InService() {
		attrs = append(attrs, ldap.Attribute{Type: "apexService", Vals: []string{s.serviceDN(n.SIRET, n.Service)}})
	}
	if n.RequestedBy != "" {
		attrs = append(attrs, ldap.Attribute{Type: "apexRequestedBy", Vals: []string{n.RequestedBy}})
	}
	if n.State == StateActive {
		attrs = append(attrs, ldap.Attribute{Type: "apexActiveSince", Vals: []string{ldapTime(now)}})
	}
	return attrs
}

// FindPerson returns the account of that identifier. Errors: ErrNotFound.
func (s *Store) FindPerson(ctx context.Context, identifier string) (*Person, error) {
	e, err := s.personEntry(ctx, "find person", identifier, personAttrs)
	if err != nil {
		return nil, err
	}
	return s.personFromEntry(e), nil
}

// FindPersonByEmail returns the account of that mail in the structure of
// that SIRET, or among agents when siret is empty: a mail is unique there
// among requests not refused, not across structures. Errors: ErrNotFound.
func (s *Store) FindPersonByEmail(ctx context.Context, siret, email string) (*Person, error) {
	siret = NormalizeSIRET(siret)
	base := s.agentsDN()
	if siret != "" {
		base = s.structureDN(siret)
	}
	e, err := s.searchOne(ctx, "find person by mail", base, ldap.ScopeWholeSubtree,
		and("(objectClass=apexPerson)", eq("apexMailKey", s.mailKey(siret, email)), "(!(apexAccountState=refused))"), personAttrs)
	if err != nil {
		return nil, err
	}
	return s.personFromEntry(e), nil
}

// MailKey is what makes a mail unique within its structure (siret), or
// among agents (siret empty), in the tree of base: apexMailKey, which the
// unique overlay holds unique among requests not refused, in the whole
// server (so the tree is part of it: two trees on one server count apart).
// The store sets it with every mail, by the same add or modify, so that
// slapd refuses a duplicate atomically; what writes entries offline (the
// benchmark's LDIF) sets it too.
func MailKey(base, siret, email string) string {
	scope := siret
	if scope == "" {
		scope = "agents"
	}
	sum := sha256.Sum256([]byte(strings.ToLower(base) + "\x00" + scope + "\x00" + strings.ToLower(email)))
	return hex.EncodeToString(sum[:])
}

func (s *Store) mailKey(siret, email string) string { return MailKey(s.base, siret, email) }

// FindPersonByRequest returns the account of a request id. Errors: ErrNotFound.
func (s *Store) FindPersonByRequest(ctx context.Context, requestID string) (*Person, error) {
	return s.findPerson(ctx, "find person by request", eq("apexRequestId", requestID))
}

func (s *Store) findPerson(ctx context.Context, op, filter string) (*Person, error) {
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", filter), personAttrs)
	if err != nil {
		return nil, err
	}
	return s.personFromEntry(e), nil
}

// dnOf is the DN of an account: the one it was read with, or found by its
// identifier. Errors: ErrNotFound.
func (s *Store) dnOf(ctx context.Context, op string, p *Person) (string, error) {
	if p.dn != "" {
		return p.dn, nil
	}
	return s.personDN(ctx, op, p.Identifier)
}

// personDN returns the DN of the account of that identifier. Errors: ErrNotFound.
func (s *Store) personDN(ctx context.Context, op, identifier string) (string, error) {
	e, err := s.personEntry(ctx, op, identifier, []string{"1.1"})
	if err != nil {
		return "", err
	}
	return e.DN, nil
}

// personEntry reads the account of an identifier that came from outside:
// one that is not of an identifier's form (see CanonicalIdentifier) names
// no account, and slapd never sees it. Errors: ErrNotFound.
func (s *Store) personEntry(ctx context.Context, op, identifier string, attrs []string) (*ldap.Entry, error) {
	id, ok := CanonicalIdentifier(identifier)
	if !ok {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", id)), attrs)
}

// ListPersons returns the accounts that match, sorted by last and first name.
// Errors: ErrNotFound when the filter's structure or service does not exist.
func (s *Store) ListPersons(ctx context.Context, f PersonFilter) ([]Person, error) {
	base := s.base
	filters := []string{"(objectClass=apexPerson)"}
	switch {
	case f.SIRET != nil && f.Service != nil:
		base = s.serviceDN(NormalizeSIRET(*f.SIRET), *f.Service)
	case f.SIRET != nil:
		base = s.structureDN(NormalizeSIRET(*f.SIRET))
	case f.Role != nil && *f.Role == RoleAgent:
		base = s.agentsDN()
	}
	if f.Role != nil {
		filters = append(filters, eq("apexRole", string(*f.Role)))
	}
	if f.State != nil {
		filters = append(filters, eq("apexAccountState", string(*f.State)))
	}
	if f.Query != nil && strings.TrimSpace(*f.Query) != "" {
		q := strings.TrimSpace(*f.Query)
		filters = append(filters, or(contains("uid", q), contains("givenName", q), contains("sn", q)))
	}
	entries, err := s.searchAll(ctx, "list persons", base, ldap.ScopeWholeSubtree, and(filters...), personAttrs)
	if err != nil {
		return nil, err
	}
	out := make([]Person, len(entries))
	for i, e := range entries {
		out[i] = *s.personFromEntry(e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !strings.EqualFold(a.LastName, b.LastName) {
			return strings.ToLower(a.LastName) < strings.ToLower(b.LastName)
		}
		if !strings.EqualFold(a.FirstName, b.FirstName) {
			return strings.ToLower(a.FirstName) < strings.ToLower(b.FirstName)
		}
		return a.Identifier < b.Identifier
	})
	return out, nil
}

// UpdatePerson changes an account's names, mail, mobile or state in one
// modify. The identifier never changes. Errors: ErrInvalid, ErrNotFound,
// ErrConflict when the new mail is already used in the account's structure.
func (s *Store) UpdatePerson(ctx context.Context, identifier string, u PersonUpdate) (*Person, error) {
	const op = "update person"
	if err := u.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	e, err := s.personEntry(ctx, op, identifier, []string{"givenName", "sn", "apexSiret", "mail", "apexAccountState"})
	if err != nil {
		return nil, err
	}
	first, last := e.GetAttributeValue("givenName"), e.GetAttributeValue("sn")
	email, state := e.GetAttributeValue("mail"), AccountState(e.GetAttributeValue("apexAccountState"))
	req := ldap.NewModifyRequest(e.DN, nil)
	if u.FirstName != nil {
		first = *u.FirstName
		req.Replace("givenName", []string{first})
	}
	if u.LastName != nil {
		last = *u.LastName
		req.Replace("sn", []string{last})
	}
	if u.FirstName != nil || u.LastName != nil {
		req.Replace("cn", []string{first + " " + last})
		req.Replace("displayName", []string{first + " " + last})
	}
	if u.Email != nil {
		email = *u.Email
		req.Replace("mail", []string{*u.Email})
		req.Replace("apexMailKey", []string{s.mailKey(e.GetAttributeValue("apexSiret"), *u.Email)})
	}
	if u.Mobile != nil {
		if *u.Mobile == "" {
			req.Replace("mobile", nil)
		} else {
			req.Replace("mobile", []string{*u.Mobile})
		}
	}
	if u.State != nil {
		state = *u.State
		req.Replace("apexAccountState", []string{string(*u.State)})
		if *u.State != StateActive { // as SetState
			req.Replace("apexSession", nil)
			req.Replace("apexReset", nil)
		} else {
			req.Replace("apexActiveSince", []string{ldapTime(s.now())})
		}
	}
	if len(req.Changes) > 0 {
		req.Replace("apexSortKey", []string{personSortKey(first, last, email, state)})
		if err := s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) }); err != nil {
			return nil, err
		}
	}
	return s.FindPerson(ctx, identifier)
}

// SetState moves an account from one state to another as a compare-and-swap:
// the modify deletes the old value and adds the new one, so it fails and
// changes nothing when the account is no longer in state from. An account
// that leaves the active state loses, in the same modify, every session and
// its pending password renewal: enabling it again brings none back. Errors:
// ErrNotFound, ErrConflict when the account is not in state from.
func (s *Store) SetState(ctx context.Context, identifier string, from, to AccountState) error {
	return s.setState(ctx, &Person{Identifier: identifier}, from, to)
}

// setState is SetState for an account already read.
func (s *Store) setState(ctx context.Context, p *Person, from, to AccountState) error {
	const op = "set account state"
	if !from.Valid() || !to.Valid() {
		return fmt.Errorf("%s: %w", op, ErrInvalid)
	}
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return err
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Delete("apexAccountState", []string{string(from)})
		req.Add("apexAccountState", []string{string(to)})
		if from == StateActive {
			req.Replace("apexSession", nil)
			req.Replace("apexReset", nil)
		}
		if to == StateActive {
			// Dormancy counts from now: enabling a dormant account again
			// must not let the next run disable it at once.
			req.Replace("apexActiveSince", []string{ldapTime(s.now())})
		}
		return c.Modify(req)
	})
}

// DeletePerson removes an account; slapd removes it from its profiles
// (refint). Its identifier stays reserved. Errors: ErrNotFound.
func (s *Store) DeletePerson(ctx context.Context, identifier string) error {
	return s.deletePerson(ctx, &Person{Identifier: identifier})
}

// deletePerson is DeletePerson for an account already read.
func (s *Store) deletePerson(ctx context.Context, p *Person) error {
	const op = "delete person"
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return err
	}
	return s.do(ctx, op, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) })
}

func (s *Store) personFromEntry(e *ldap.Entry) *Person {
	p := &Person{
		Identifier:    e.GetAttributeValue("uid"),
		RequestID:     e.GetAttributeValue("apexRequestId"),
		FirstName:     e.GetAttributeValue("givenName"),
		LastName:      e.GetAttributeValue("sn"),
		Email:         e.GetAttributeValue("mail"),
		Mobile:        e.GetAttributeValue("mobile"),
		Role:          Role(e.GetAttributeValue("apexRole")),
		State:         AccountState(e.GetAttributeValue("apexAccountState")),
		SIRET:         e.GetAttributeValue("apexSiret"),
		RequestedBy:   e.GetAttributeValue("apexRequestedBy"),
		RequestedAt:   parseLDAPTime(e.GetAttributeValue("apexRequestedAt")),
		DecidedBy:     e.GetAttributeValue("apexDecidedBy"),
		DecidedAt:     parseLDAPTime(e.GetAttributeValue("apexDecidedAt")),
		RefusalReason: e.GetAttributeValue("apexRefusalReason"),
		Locked:        e.GetAttributeValue("pwdAccountLockedTime") != "",
		LastSignIn:    parseLDAPTime(e.GetAttributeValue("authTimestamp")),
		ActiveSince:   parseLDAPTime(e.GetAttributeValue("apexActiveSince")),
		dn:            e.DN,
		ends:          e.GetAttributeValues("apexEnd"),
		nextEnd:       e.GetAttributeValue("apexNextEnd"),

		PasswordChangedAt: parseSlapdTime(e.GetAttributeValue("pwdChangedTime")),
		InvitationExpires: parseLDAPTime(e.GetAttributeValue("apexInvitationExpires")),
		lockedAt:          e.GetAttributeValue("pwdAccountLockedTime"),
		mailChange:        e.GetAttributeValue("apexMailChange"),
	}
	if p.State == StateInvited && !p.InvitationExpires.IsZero() {
		p.InvitationExpired = !s.now().Before(p.InvitationExpires)
	}
	if r, ok := parseMailChangeRecord(p.mailChange); ok && s.now().Before(r.expires) {
		p.PendingEmail, p.PendingEmailExpires, p.PendingEmailBy = r.email, r.expires, r.by
	}
	p.Service = s.serviceOf(e.DN)
	if p.State == StateInvited {
		p.FirstName, p.LastName = "", ""
	}
	for _, g := range e.GetAttributeValues("memberOf") {
		if h, ok := s.profileOf(g); ok {
			p.Habilitations = append(p.Habilitations, h)
		}
	}
	sort.Slice(p.Habilitations, func(i, j int) bool {
		a, b := p.Habilitations[i], p.Habilitations[j]
		return a.Application < b.Application || a.Application == b.Application && a.Profile < b.Profile
	})
	for _, r := range p.endRecords() {
		if r.key == endAccount {
			p.EndDate = r.end
			continue
		}
		for i, h := range p.Habilitations {
			if h.Application+"/"+h.Profile == r.key {
				p.Habilitations[i].EndDate = r.end
			}
		}
	}
	return p
}

const ldapTimeLayout = "20060102150405Z"

func ldapTime(t time.Time) string { return t.UTC().Format(ldapTimeLayout) }

// parseSlapdTime reads a time that slapd wrote itself, which may carry a
// fraction of a second (20261206065920.383618Z); the fraction is dropped.
func parseSlapdTime(s string) time.Time {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i] + "Z"
	}
	return parseLDAPTime(s)
}

func parseLDAPTime(s string) time.Time {
	t, err := time.Parse(ldapTimeLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
