package directory

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// CreateInvitation adds an account in state invited, named by a new request id, with
// a single-use link token valid InvitationTTL. Errors: ErrInvalid,
// ErrNotFound when the structure or service does not exist, ErrConflict
// when the mail is already used by a request of the structure not refused.
func (s *Store) CreateInvitation(ctx context.Context, n NewInvitation) (*Invitation, error) {
	return s.createInvitation(ctx, n, nil)
}

// createInvitation is CreateInvitation; keep, when not nil, gives the
// first value of the account's history (its audit event, the invitation
// itself), which the add writes with the entry.
func (s *Store) createInvitation(ctx context.Context, n NewInvitation, keep func(p *Person) string) (*Invitation, error) {
	const op = "invite"
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	requestID := NewRequestID()
	token, rec := s.newInvitationToken(requestID)
	now := s.now().UTC().Truncate(time.Second)
	attrs := s.personEntryAttributes(NewPerson{
		LastName: invitedSurname, Email: n.Email, Role: n.Role, State: StateInvited,
		SIRET: n.SIRET, Service: n.Service, RequestedBy: n.RequestedBy, RequestID: requestID,
	}, now)
	for i := range attrs {
		if attrs[i].Type == "cn" || attrs[i].Type == "displayName" {
			attrs[i].Vals = []string{n.Email} // until the form gives the names
		}
	}
	attrs = append(attrs, ldap.Attribute{Type: "apexInvitation", Vals: []string{rec.String()}},
		ldap.Attribute{Type: "apexInvitationExpires", Vals: []string{ldapTime(rec.expires)}})
	if keep != nil {
		attrs = append(attrs, ldap.Attribute{Type: "apexHistory", Vals: []string{keep(&Person{
			RequestID: requestID, Email: n.Email, Role: n.Role, State: StateInvited, SIRET: n.SIRET, Service: n.Service})}})
	}
	dn := rdn("apexRequestId", requestID) + "," + s.personParentDN(n.Role, n.SIRET, n.Service)
	if !n.EndDate.IsZero() {
		attrs = append(attrs, endAttributes([]endRecord{{key: endAccount, end: n.EndDate.UTC().Truncate(time.Second)}})...)
	}
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attributes = attrs
		return c.Add(req)
	})
	if err != nil {
		return nil, err
	}
	if err := s.yieldToEarlier(ctx, op, n.SIRET, n.Email, dn); err != nil {
		return nil, err
	}
	p, err := s.FindPersonByRequest(ctx, requestID)
	if err != nil {
		return nil, err
	}
	return &Invitation{Person: p, Token: token, ExpiresAt: rec.expires}, nil
}

// yieldToEarlier keeps a mail unique in its structure where the unique
// overlay cannot: it searches before the write, so two adds of one mail at
// the same moment both pass it. Once added, the entry dn looks for the
// others that hold its mail key; when one was written before it (a
// smaller entryCSN: slapd orders its writes), it is deleted and the
// invitation is ErrConflict. Writes are one after the other, so the later
// of two always sees the earlier, and only the first stays. A failed read
// leaves the entry, as the overlay did.
func (s *Store) yieldToEarlier(ctx context.Context, op, siret, email, dn string) error {
	entries, err := s.searchFew(ctx, op, s.structureDN(siret), ldap.ScopeWholeSubtree,
		and("(objectClass=apexPerson)", eq("apexMailKey", s.mailKey(siret, email)), not(eq("apexAccountState", string(StateRefused)))),
		[]string{"entryCSN"}, 0)
	if err != nil {
		return nil
	}
	mine := ""
	for _, e := range entries {
		if sameDN(e.DN, dn) {
			mine = e.GetAttributeValue("entryCSN")
		}
	}
	for _, e := range entries {
		if csn := e.GetAttributeValue("entryCSN"); !sameDN(e.DN, dn) && mine != "" && csn != "" && csn < mine {
			s.do(context.WithoutCancel(ctx), op, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) })
			return fmt.Errorf("%s: the mail was invited meanwhile: %w", op, ErrConflict)
		}
	}
	return nil
}

// reissueInvitation gives an invited account a new link in place of the old
// one. Errors: ErrNotFound, ErrConflict when the form was filled already.
func (s *Store) reissueInvitation(ctx context.Context, requestID string) (*Invitation, error) {
	const op = "reissue invitation"
	e, err := s.requestEntry(ctx, op, requestID)
	if err != nil {
		return nil, err
	}
	token, rec := s.newInvitationToken(requestID)
	e, err = s.writeRequest(ctx, op, e, StateInvited, func(c *ldap.Conn, dn string) error {
		req := ldap.NewModifyRequest(dn, []ldap.Control{assertion{eq("apexAccountState", string(StateInvited))}})
		req.Replace("apexInvitation", []string{rec.String()})
		req.Replace("apexInvitationExpires", []string{ldapTime(rec.expires)})
		return c.Modify(req)
	})
	if err != nil {
		return nil, err
	}
	return &Invitation{Person: s.personFromEntry(e), Token: token, ExpiresAt: rec.expires}, nil
}

// requestTries bounds how often a write to a request follows its entry
// renamed or moved meanwhile.
const requestTries = 4

// writeRequest runs write on the entry e of a request read in state from.
// Another change of the request may come between the read and the write:
// an approval renames the entry to its identifier, the form moves it to its
// service, a decision changes its state. So a write that finds no entry by
// that name, or fails its compare-and-swap, reads the request again by its
// id: in another state, it was decided meanwhile (ErrAlreadyDecided), or
// submitted (ErrConflict, from invited); in the same state under another
// name, the write is tried there. It returns the entry as last read.
// Errors: write's, ErrNotFound when the request is gone, ErrAlreadyDecided.
func (s *Store) writeRequest(ctx context.Context, op string, e *ldap.Entry, from AccountState, write func(c *ldap.Conn, dn string) error) (*ldap.Entry, error) {
	s.requestHook(op)
	for try := 1; ; try++ {
		err := s.do(ctx, op, func(c *ldap.Conn) error { return write(c, e.DN) })
		if err == nil || !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) || try == requestTries {
			return e, err
		}
		again, rerr := s.requestEntry(ctx, op, e.GetAttributeValue("apexRequestId"))
		if rerr != nil {
			return nil, rerr
		}
		if st := AccountState(again.GetAttributeValue("apexAccountState")); st != from {
			if from == StateInvited && st == StateSubmitted {
				return nil, fmt.Errorf("%s: request is %s: %w", op, st, ErrConflict)
			}
			return nil, fmt.Errorf("%s: request is %s: %w", op, st, ErrAlreadyDecided)
		}
		if sameDN(again.DN, e.DN) {
			return nil, err // the entry is as read: the conflict is another one
		}
		e = again
	}
}

// requestHook lets tests act between a request's read and its write.
func (s *Store) requestHook(op string) {
	if s.onRequestWrite != nil {
		s.onRequestWrite(op)
	}
}

// sameDN compares two DNs as LDAP does, case aside.
func sameDN(a, b string) bool {
	pa, err1 := ldap.ParseDN(a)
	pb, err2 := ldap.ParseDN(b)
	return err1 == nil && err2 == nil && pa.EqualFold(pb)
}

// findInvitation returns the invited account a link's token belongs to,
// changing nothing (mail scanners open links). Errors: ErrInvalidToken
// (unknown, forged or used), ErrTokenExpired.
func (s *Store) findInvitation(ctx context.Context, token string) (*Person, error) {
	e, _, err := s.invitationEntry(ctx, "find invitation", token)
	if err != nil {
		return nil, err
	}
	return s.personFromEntry(e), nil
}

func (s *Store) invitationEntry(ctx context.Context, op, token string) (*ldap.Entry, string, error) {
	requestID, random, ok := strings.Cut(token, ".")
	if !ok || len(random) != 43 || requestID == "" {
		return nil, "", fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	e, err := s.requestEntry(ctx, op, requestID)
	if errors.Is(err, ErrNotFound) {
		return nil, "", fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if err != nil {
		return nil, "", err
	}
	stored := e.GetAttributeValue("apexInvitation")
	rec, ok := parseInvitationRecord(stored)
	if !ok || subtle.ConstantTimeCompare([]byte(rec.hash), []byte(hashHex(token))) != 1 ||
		AccountState(e.GetAttributeValue("apexAccountState")) != StateInvited {
		return nil, "", fmt.Errorf("%s: %w", op, ErrInvalidToken)
	}
	if !s.now().Before(rec.expires) {
		return nil, "", fmt.Errorf("%s: %w", op, ErrTokenExpired)
	}
	return e, stored, nil
}

func (s *Store) requestEntry(ctx context.Context, op, requestID string) (*ldap.Entry, error) {
	return s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("apexRequestId", requestID)),
		append([]string{"apexInvitation"}, personAttrs...))
}

// checkPreCreation validates a form against its invitation without
// changing anything: the summary page shows only a form that would pass.
// Errors: those of submitInvitation.
func (s *Store) checkPreCreation(ctx context.Context, token string, f PreCreation) error {
	const op = "check pre-creation"
	e, _, err := s.invitationEntry(ctx, op, token)
	if err != nil {
		return err
	}
	p := s.personFromEntry(e)
	if err := f.validate(p.Role); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if p.Role.InService() && f.Service != p.Service {
		if _, err := s.FindService(ctx, p.SIRET, f.Service); errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"service", "Ce service n'existe pas dans la structure."}}})
		} else if err != nil {
			return err
		}
	}
	return nil
}

// submitInvitation records the form of an invited account: names, mobile,
// service and the password, which slapd hashes and checks. The account
// then waits for validation and cannot bind. The link is spent by the same
// modify that records the form, so it works once. Errors: ErrInvalid (every
// problem listed), ErrPasswordPolicy, ErrInvalidToken, ErrTokenExpired.
func (s *Store) submitInvitation(ctx context.Context, token string, f PreCreation) (*Person, error) {
	const op = "submit pre-creation"
	e, stored, err := s.invitationEntry(ctx, op, token)
	if err != nil {
		return nil, err
	}
	p := s.personFromEntry(e)
	if err := f.validate(p.Role); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	move := p.Role.InService() && f.Service != p.Service
	if move {
		if _, err := s.FindService(ctx, p.SIRET, f.Service); errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"service", "Ce service n'existe pas dans la structure."}}})
		} else if err != nil {
			return nil, err
		}
	}
	// One modify records the form and spends the link (it deletes the value
	// it read), so two submissions of one link cannot both pass.
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, []ldap.Control{ldap.NewControlBeheraPasswordPolicy()})
		req.Delete("apexInvitation", []string{stored})
		req.Replace("apexInvitationExpires", nil)
		req.Delete("apexAccountState", []string{string(StateInvited)})
		req.Add("apexAccountState", []string{string(StateSubmitted)})
		req.Replace("givenName", []string{f.FirstName})
		req.Replace("sn", []string{f.LastName})
		req.Replace("cn", []string{f.FirstName + " " + f.LastName})
		req.Replace("displayName", []string{f.FirstName + " " + f.LastName})
		req.Replace("apexSortKey", []string{personSortKey(f.FirstName, f.LastName, "", StateSubmitted)})
		if f.Mobile != "" {
			req.Replace("mobile", []string{f.Mobile})
		}
		if move {
			req.Replace("apexService", []string{s.serviceDN(p.SIRET, f.Service)})
		}
		req.Add("userPassword", []string{f.Password})
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidToken) // used meanwhile
	}
	if err != nil {
		return nil, err
	}
	if move {
		if err := s.do(ctx, op, func(c *ldap.Conn) error {
			return c.ModifyDN(ldap.NewModifyDNRequest(e.DN, rdn("apexRequestId", p.RequestID), true, s.serviceDN(p.SIRET, f.Service)))
		}); err != nil {
			return nil, err
		}
	}
	return s.FindPersonByRequest(ctx, p.RequestID)
}

// approveRequest validates a submitted request: the account becomes active and
// gets its identifier (the first free of prenom.nom-px, prenom.nom2-px, …),
// with the password it chose. The state changes first, as a compare-and-swap
// that a refusal cannot also win; then the entry is renamed to its
// identifier. An approval stopped between the two (an account active
// without identifier, which cannot sign in) is finished by the next call.
// Errors: ErrNotFound, ErrAlreadyDecided.
func (s *Store) approveRequest(ctx context.Context, requestID, decidedBy string) (*Person, error) {
	const op = "approve"
	e, err := s.requestEntry(ctx, op, requestID)
	if err != nil {
		return nil, err
	}
	p := s.personFromEntry(e)
	switch {
	case p.State == StateSubmitted:
		e, err = s.writeRequest(ctx, op, e, StateSubmitted, func(c *ldap.Conn, dn string) error {
			req := ldap.NewModifyRequest(dn, nil)
			req.Delete("apexAccountState", []string{string(StateSubmitted)})
			req.Add("apexAccountState", []string{string(StateActive)})
			req.Replace("apexDecidedBy", []string{decidedBy})
			req.Replace("apexDecidedAt", []string{ldapTime(s.now())})
			req.Replace("apexActiveSince", []string{ldapTime(s.now())})
			return c.Modify(req)
		})
		if errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("%s: %w", op, ErrAlreadyDecided)
		}
		if err != nil {
			return nil, err
		}
	case p.State == StateActive && p.Identifier == "":
		// an approval stopped half way, or another one under way: finish it
	default:
		return nil, fmt.Errorf("%s: request is %s: %w", op, p.State, ErrAlreadyDecided)
	}
	s.requestHook(op + ": rename")
	id, err := s.addWithIdentifier(ctx, op, p.FirstName, p.LastName, func(id string) error {
		return s.nameRequest(ctx, op, &e, id)
	})
	if err != nil {
		return nil, err
	}
	return s.FindPerson(ctx, id)
}

// nameRequest renames the entry *e of an approved request to its
// identifier. Two approvals can finish one request at once: the second
// rename finds no entry by the name it read, reads the request again, and
// gives way (ErrAlreadyDecided) once the entry has its identifier. Errors:
// errIdentifierTaken when id is in use, ErrNotFound, ErrAlreadyDecided.
func (s *Store) nameRequest(ctx context.Context, op string, e **ldap.Entry, id string) error {
	for try := 1; ; try++ {
		var uidTaken bool
		err := s.do(ctx, op, func(c *ldap.Conn) error {
			err := c.ModifyDN(ldap.NewModifyDNRequest((*e).DN, rdn("uid", id), false, ""))
			uidTaken = ldap.IsErrorAnyOf(err, ldap.LDAPResultEntryAlreadyExists, ldap.LDAPResultConstraintViolation)
			return err
		})
		switch {
		case uidTaken:
			return errIdentifierTaken
		case !errors.Is(err, ErrNotFound) || try == requestTries:
			return err
		}
		again, rerr := s.requestEntry(ctx, op, (*e).GetAttributeValue("apexRequestId"))
		if rerr != nil {
			return rerr
		}
		if again.GetAttributeValue("uid") != "" || AccountState(again.GetAttributeValue("apexAccountState")) != StateActive {
			return fmt.Errorf("%s: named meanwhile: %w", op, ErrAlreadyDecided)
		}
		*e = again
	}
}

// refuseRequest refuses a submitted request with its reason. Errors: ErrInvalid
// (no reason), ErrNotFound, ErrAlreadyDecided.
func (s *Store) refuseRequest(ctx context.Context, requestID, decidedBy, reason string) (*Person, error) {
	const op = "refuse"
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"reason", "Le motif du refus doit être renseigné."}}})
	case !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > 2000:
		return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"reason", "Le motif du refus ne doit pas dépasser 2000 caractères."}}})
	}
	e, err := s.requestEntry(ctx, op, requestID)
	if err != nil {
		return nil, err
	}
	if st := AccountState(e.GetAttributeValue("apexAccountState")); st != StateSubmitted {
		return nil, fmt.Errorf("%s: request is %s: %w", op, st, ErrAlreadyDecided)
	}
	_, err = s.writeRequest(ctx, op, e, StateSubmitted, func(c *ldap.Conn, dn string) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Delete("apexAccountState", []string{string(StateSubmitted)})
		req.Add("apexAccountState", []string{string(StateRefused)})
		req.Replace("apexDecidedBy", []string{decidedBy})
		req.Replace("apexDecidedAt", []string{ldapTime(s.now())})
		req.Replace("apexRefusalReason", []string{reason})
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil, fmt.Errorf("%s: %w", op, ErrAlreadyDecided)
	}
	if err != nil {
		return nil, err
	}
	return s.FindPersonByRequest(ctx, requestID)
}

// movePerson moves a responsable or collaborateur to another service of its
// structure. Errors: ErrNotFound (account or service), ErrInvalid for
// accounts outside services.
func (s *Store) movePerson(ctx context.Context, identifier, service string) (*Person, error) {
	const op = "move person"
	p, err := s.FindPerson(ctx, identifier)
	if err != nil {
		return nil, err
	}
	if !p.Role.InService() {
		return nil, fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"service", "Seuls les responsables et les collaborateurs appartiennent à un service."}}})
	}
	if service == p.Service {
		return p, nil
	}
	oldParent, newParent := s.serviceDN(p.SIRET, p.Service), s.serviceDN(p.SIRET, service)
	if err := s.do(ctx, op, func(c *ldap.Conn) error {
		return c.ModifyDN(ldap.NewModifyDNRequest(rdn("uid", identifier)+","+oldParent, rdn("uid", identifier), true, newParent))
	}); err != nil {
		return nil, err
	}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(rdn("uid", identifier)+","+newParent, nil)
		req.Replace("apexService", []string{newParent})
		return c.Modify(req)
	})
	if err != nil {
		s.do(context.WithoutCancel(ctx), op, func(c *ldap.Conn) error {
			return c.ModifyDN(ldap.NewModifyDNRequest(rdn("uid", identifier)+","+newParent, rdn("uid", identifier), true, oldParent))
		})
		return nil, err
	}
	s.awaitRefint(ctx, []string{rdn("uid", identifier) + "," + oldParent})
	return s.FindPerson(ctx, identifier)
}
