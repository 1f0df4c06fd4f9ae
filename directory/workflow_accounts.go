package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// LifecycleNotifier mails what the account lifecycle tells people (guide
// 1.1 to 1.3 and 2). The notify package implements it.
type LifecycleNotifier interface {
	// Invitation carries the pre-creation link (guide 1.1, étape 2).
	Invitation(ctx context.Context, inv *Invitation, structure *Structure) error
	// Approved carries the identifier (guide 1.3, étape 6).
	Approved(ctx context.Context, p *Person) error
	// Refused carries the reasons of a refusal.
	Refused(ctx context.Context, p *Person) error
	// Habilitated tells an account it was given a profile (guide 2), and
	// by whom (nil when unknown: the back office).
	Habilitated(ctx context.Context, p *Person, app *Application, profile string, by *Person) error
	// RequestSubmitted tells to, who may decide it, that the request of p
	// (its form just sent) waits for a decision.
	RequestSubmitted(ctx context.Context, to Recipient, p *Person, structure *Structure) error
	// RenewalLink mails p a password renewal link, valid for validFor,
	// that by (who helps the account) asked for.
	RenewalLink(ctx context.Context, p *Person, token string, validFor time.Duration, by *Person) error
	// MailChangeRequested mails the new address of p its code and link,
	// and tells p's address that a new one waits for its confirmation; by
	// is who set it, nil when the person did.
	MailChangeRequested(ctx context.Context, p *Person, change *MailChange, by *Person) error
}

// Accounts is the account lifecycle, each step checked against who asks
// (authz.go) before anything changes. A refused step changes nothing and
// returns ErrForbidden. Every step is an event of the audit trail (audit.go).
type Accounts struct {
	Store    *Store
	Notifier LifecycleNotifier
	// Audit gets one line per change attempted; none when nil. The history
	// of the accounts is kept either way.
	Audit *slog.Logger
	// Source is where the changes come from when their context does not
	// say (WithSource): "apexctl" for the back office.
	Source string
	// AgentsMailbox is the DGFiP agents' shared mailbox, told when an
	// administrator's request waits for its validation; "" tells nobody.
	AgentsMailbox string
}

func (a Accounts) record(ctx context.Context, ev *Event, err *error) {
	if ev.Source == "" {
		ev.Source = a.Source
	}
	recordEvent(ctx, a.Store, a.Audit, ev, *err)
}

func forbidden(op string) error { return fmt.Errorf("%s: %w", op, ErrForbidden) }

// concerning reads with find the account that an attempt concerns (named
// by account, an identifier or a request id) and checks with may that
// actor may act on it. The event names the account asked for, then the
// account found; once may passes, it is kept in the account's history,
// whatever the outcome. Errors: find's, ErrForbidden.
func concerning(ctx context.Context, op string, ev *Event, actor *Person, account string,
	find func(context.Context, string) (*Person, error), may func(actor, target *Person) bool) (*Person, error) {
	ev.Account = account
	target, err := find(ctx, account)
	if err != nil {
		return nil, err
	}
	ev.about(target)
	if !may(actor, target) {
		return nil, forbidden(op)
	}
	ev.keepOn(target)
	return target, nil
}

// CreateStructure: agents. Errors: ErrForbidden, ErrInvalid, ErrConflict.
func (a Accounts) CreateStructure(ctx context.Context, actor *Person, st Structure) (_ *Structure, err error) {
	ev := newEvent(ctx, actor, ActionCreateStructure)
	ev.Structure = NormalizeSIRET(st.SIRET)
	defer a.record(ctx, ev, &err)
	if !CanCreateStructure(actor) {
		return nil, forbidden("create structure")
	}
	if err := a.Store.CreateStructure(ctx, st); err != nil {
		return nil, err
	}
	return a.Store.FindStructure(ctx, st.SIRET)
}

// CreateService: administrators of the structure.
func (a Accounts) CreateService(ctx context.Context, actor *Person, siret, name string) (err error) {
	ev := newEvent(ctx, actor, ActionCreateService)
	ev.Structure, ev.Service = NormalizeSIRET(siret), name
	defer a.record(ctx, ev, &err)
	if !CanManageServices(actor, NormalizeSIRET(siret)) {
		return forbidden("create service")
	}
	return a.Store.CreateService(ctx, Service{SIRET: siret, Name: name})
}

// RenameService: administrators of the structure.
func (a Accounts) RenameService(ctx context.Context, actor *Person, siret, name, newName string) (err error) {
	ev := newEvent(ctx, actor, ActionRenameService)
	ev.Structure, ev.Service = NormalizeSIRET(siret), name
	ev.Detail = newName
	defer a.record(ctx, ev, &err)
	if !CanManageServices(actor, NormalizeSIRET(siret)) {
		return forbidden("rename service")
	}
	return a.Store.RenameService(ctx, siret, name, newName)
}

// DeleteService: administrators of the structure; the service must be empty.
func (a Accounts) DeleteService(ctx context.Context, actor *Person, siret, name string) (err error) {
	ev := newEvent(ctx, actor, ActionDeleteService)
	ev.Structure, ev.Service = NormalizeSIRET(siret), name
	defer a.record(ctx, ev, &err)
	if !CanManageServices(actor, NormalizeSIRET(siret)) {
		return forbidden("delete service")
	}
	return a.Store.deleteService(ctx, siret, name)
}

// Invite pre-creates an account and mails its link. Errors: ErrForbidden,
// ErrInvalid, ErrNotFound (structure, service), ErrConflict (mail used),
// ErrRateLimited (the actor's invitation limit); when the invitation was
// made but its mail failed, the invitation comes back with the error.
func (a Accounts) Invite(ctx context.Context, actor *Person, n NewInvitation) (*Invitation, error) {
	return a.invite(ctx, actor, n, nil, a.takeInvitation)
}

// invite is Invite, the structure read already when st is not nil, the
// link counted in its limit by take.
func (a Accounts) invite(ctx context.Context, actor *Person, n NewInvitation, st *Structure,
	take func(ctx context.Context, op string, actor *Person) error) (_ *Invitation, err error) {
	const op = "invite"
	ev := newEvent(ctx, actor, ActionInvite)
	ev.Structure, ev.Service, ev.Detail = NormalizeSIRET(n.SIRET), n.Service, string(n.Role)
	defer a.record(ctx, ev, &err)
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := checkEndDate("endDate", n.EndDate, a.Store.now()); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !CanInvite(actor, n.Role, n.SIRET, n.Service) {
		return nil, forbidden(op)
	}
	if st == nil {
		if st, err = a.Store.FindStructure(ctx, n.SIRET); err != nil {
			return nil, err
		}
	}
	if err := take(ctx, op, actor); err != nil {
		return nil, err
	}
	n.RequestedBy = actor.Identifier
	// The add writes the event into the new account's history: one write.
	inv, err := a.Store.createInvitation(ctx, n, func(p *Person) string {
		ev.about(p)
		ev.At, ev.Outcome = a.Store.now().UTC(), OutcomeSuccess
		return ev.record(0)
	})
	if err != nil {
		return nil, err
	}
	ev.about(inv.Person)
	ev.kept = true
	if err := a.Notifier.Invitation(ctx, inv, st); err != nil {
		err = fmt.Errorf("%s: mail the link: %w", op, err) // made, not mailed: the log says so
		ev.Outcome = eventOutcome(err)
		return inv, err
	}
	return inv, nil
}

// ResendInvitation mails a new link to an account that has not filled its
// form yet; the old link stops working.
func (a Accounts) ResendInvitation(ctx context.Context, actor *Person, requestID string) (err error) {
	const op = "resend invitation"
	ev := newEvent(ctx, actor, ActionResendInvitation)
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, op, ev, actor, requestID, a.Store.FindPersonByRequest, CanManage)
	if err != nil {
		return err
	}
	if err := a.takeInvitation(ctx, op, actor); err != nil {
		return err
	}
	inv, err := a.Store.reissueInvitation(ctx, requestID)
	if err != nil {
		return err
	}
	st, err := a.Store.FindStructure(ctx, target.SIRET)
	if err != nil {
		return err
	}
	return a.Notifier.Invitation(ctx, inv, st)
}

// Invitation returns what the form of an invitation's link shows, changing
// nothing (mail scanners open links): the link's token is the only right
// asked for. Errors: ErrInvalidToken (unknown, forged or used),
// ErrTokenExpired, ErrNotFound (the structure is gone).
func (a Accounts) Invitation(ctx context.Context, token string) (*InvitationForm, error) {
	p, err := a.Store.findInvitation(ctx, token)
	if err != nil {
		return nil, err
	}
	form := &InvitationForm{Person: p}
	if form.Structure, err = a.Store.FindStructure(ctx, p.SIRET); err != nil {
		return nil, err
	}
	if p.Role.InService() {
		services, err := a.Store.ListServices(ctx, p.SIRET)
		if err != nil {
			return nil, err
		}
		inviter, err := a.inviter(ctx, p)
		if err != nil {
			return nil, err
		}
		form.Services = slices.DeleteFunc(services, func(sv Service) bool { return !CanChooseService(inviter, p, sv.Name) })
	}
	return form, nil
}

// CheckInvitation checks the form of an invitation's link without changing
// anything: the summary page shows only a form that would pass. Errors:
// those of SubmitInvitation.
func (a Accounts) CheckInvitation(ctx context.Context, token string, f PreCreation) error {
	if err := a.holdService(ctx, "check pre-creation", token, &f); err != nil {
		return err
	}
	return a.Store.checkPreCreation(ctx, token, f)
}

// SubmitInvitation records the form of an invitation's link: names,
// mobile, service and the password, which slapd hashes and checks. The
// request then waits for its decision, and the link is spent; those who
// may decide it are mailed (tellDeciders). The service is the
// invitation's unless CanChooseService allows another; left empty where
// there is no other to choose, it is the invitation's. Errors: ErrInvalid
// (every problem listed), ErrPasswordPolicy, ErrInvalidToken,
// ErrTokenExpired.
func (a Accounts) SubmitInvitation(ctx context.Context, token string, f PreCreation) (*Person, error) {
	if err := a.holdService(ctx, "submit pre-creation", token, &f); err != nil {
		return nil, err
	}
	p, err := a.Store.submitInvitation(ctx, token, f)
	if err != nil {
		return nil, err
	}
	a.tellDeciders(context.WithoutCancel(ctx), p)
	return p, nil
}

// tellDeciders mails those who may decide the request of p that it waits
// (Store.managersOf): the responsables of its service and the
// administrators of its structure for a collaborateur, the administrators
// for a responsable, the agents' mailbox for an administrator. The request
// is recorded whatever the mail does: a mail that cannot be sent is
// logged (the request's id, never an address), and the request shows on
// its deciders' pages anyway.
func (a Accounts) tellDeciders(ctx context.Context, p *Person) {
	if a.Notifier == nil {
		return
	}
	fail := func(err error) {
		if a.Audit != nil {
			a.Audit.Warn("demande envoyée : mail aux décideurs non envoyé", "request", p.RequestID, "error", err.Error())
		}
	}
	to, err := a.Store.managersOf(ctx, p, a.AgentsMailbox)
	if err != nil || len(to) == 0 {
		if err != nil {
			fail(err)
		}
		return
	}
	st, err := a.Store.FindStructure(ctx, p.SIRET)
	if err != nil {
		fail(err)
		return
	}
	for _, r := range to {
		if err := a.Notifier.RequestSubmitted(ctx, r, p, st); err != nil {
			fail(err)
		}
	}
}

// holdService keeps the invitee of a link's invitation to the services
// CanChooseService allows. Errors: ErrInvalid, and those of the link.
func (a Accounts) holdService(ctx context.Context, op, token string, f *PreCreation) error {
	p, err := a.Store.findInvitation(ctx, token)
	if err != nil {
		return err
	}
	service := strings.TrimSpace(f.Service)
	if !p.Role.InService() || service == p.Service {
		return nil
	}
	inviter, err := a.inviter(ctx, p)
	if err != nil {
		return err
	}
	switch {
	case service == "" && !inviter.isAdminOf(p.SIRET):
		f.Service = p.Service // no other to choose: the invitation's
	case service != "" && !CanChooseService(inviter, p, service):
		return fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"service",
			"Votre compte est rattaché au service « " + p.Service + " » par la personne qui vous a invité : vous ne pouvez pas en choisir un autre."}}})
	}
	return nil
}

// inviter reads who invited p, nil when that account is gone.
func (a Accounts) inviter(ctx context.Context, p *Person) (*Person, error) {
	inviter, err := a.Store.FindPerson(ctx, p.RequestedBy)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return inviter, err
}

// ManagedAccount returns an account that actor manages (CanManage): read
// with actor's session when the request named it (SignIn.Session), else
// now. Errors: ErrNotFound, ErrForbidden.
func (a Accounts) ManagedAccount(ctx context.Context, actor *Person, identifier string) (*Person, error) {
	return readAccount(ctx, "manage account", a.Store, actor, identifier, CanManage)
}

// Approve validates a request and mails the identifier. Errors:
// ErrForbidden, ErrNotFound, ErrAlreadyDecided.
func (a Accounts) Approve(ctx context.Context, actor *Person, requestID string) (_ *Person, err error) {
	ev := newEvent(ctx, actor, ActionApprove)
	defer a.record(ctx, ev, &err)
	if _, err := concerning(ctx, "approve", ev, actor, requestID, a.Store.FindPersonByRequest, CanManage); err != nil {
		return nil, err
	}
	p, err := a.Store.approveRequest(ctx, requestID, actor.Identifier)
	if err != nil {
		return nil, err
	}
	ev.keepOn(p) // renamed to its identifier
	if err := a.Notifier.Approved(ctx, p); err != nil {
		return nil, fmt.Errorf("approve: mail the identifier: %w", err)
	}
	return p, nil
}

// Refuse refuses a request and mails the reasons. Errors: ErrForbidden,
// ErrInvalid (no reason), ErrNotFound, ErrAlreadyDecided.
func (a Accounts) Refuse(ctx context.Context, actor *Person, requestID, reason string) (_ *Person, err error) {
	ev := newEvent(ctx, actor, ActionRefuse)
	defer a.record(ctx, ev, &err)
	if _, err := concerning(ctx, "refuse", ev, actor, requestID, a.Store.FindPersonByRequest, CanManage); err != nil {
		return nil, err
	}
	p, err := a.Store.refuseRequest(ctx, requestID, actor.Identifier, reason)
	if err != nil {
		return nil, err
	}
	if err := a.Notifier.Refused(ctx, p); err != nil {
		return nil, fmt.Errorf("refuse: mail the reasons: %w", err)
	}
	return p, nil
}

// CreateApplication declares a DGFiP application and its profiles: agents.
func (a Accounts) CreateApplication(ctx context.Context, actor *Person, app Application) (_ *Application, err error) {
	ev := newEvent(ctx, actor, ActionCreateApplication)
	ev.Detail = app.ID
	defer a.record(ctx, ev, &err)
	if !CanDeclareApplication(actor) {
		return nil, forbidden("create application")
	}
	if err := a.Store.CreateApplication(ctx, app); err != nil {
		return nil, err
	}
	return a.Store.FindApplication(ctx, app.ID)
}

// UpdateApplication changes an application's name, redirect URIs or home
// URL: agents. Errors: ErrForbidden, ErrInvalid, ErrNotFound.
func (a Accounts) UpdateApplication(ctx context.Context, actor *Person, id string, u ApplicationUpdate) (_ *Application, err error) {
	ev := newEvent(ctx, actor, ActionUpdateApplication)
	ev.Detail = id
	defer a.record(ctx, ev, &err)
	if !CanDeclareApplication(actor) {
		return nil, forbidden("update application")
	}
	if err := a.Store.UpdateApplication(ctx, id, u); err != nil {
		return nil, err
	}
	return a.Store.FindApplication(ctx, id)
}

// AddProfile adds a profile to an application: agents. Errors:
// ErrForbidden, ErrInvalid, ErrNotFound (the application), ErrConflict
// (the profile exists).
func (a Accounts) AddProfile(ctx context.Context, actor *Person, id, profile string) (_ *Application, err error) {
	ev := newEvent(ctx, actor, ActionAddProfile)
	ev.Detail = id + "/" + profile
	defer a.record(ctx, ev, &err)
	if !CanDeclareApplication(actor) {
		return nil, forbidden("add profile")
	}
	if _, err := a.Store.FindApplication(ctx, id); err != nil {
		return nil, err
	}
	if err := a.Store.CreateProfile(ctx, id, profile); err != nil {
		return nil, err
	}
	return a.Store.FindApplication(ctx, id)
}

// Grant habilitates an account to a profile, without an end date, and
// mails it. Errors: those of GrantUntil.
func (a Accounts) Grant(ctx context.Context, actor *Person, identifier, application, profile string) error {
	return a.GrantUntil(ctx, actor, identifier, application, profile, time.Time{})
}

// GrantUntil habilitates an account to a profile until end (zero: no end
// date), and mails it. On a profile the account holds, it sets the end
// date only (no mail). Errors: ErrForbidden, ErrNotFound (account,
// application or profile), ErrInvalid (an end date not after today).
func (a Accounts) GrantUntil(ctx context.Context, actor *Person, identifier, application, profile string, end time.Time) (err error) {
	ev := newEvent(ctx, actor, ActionGrant)
	defer a.record(ctx, ev, &err)
	target, app, err := a.habilitation(ctx, "grant", actor, ev, identifier, application, profile)
	if err != nil {
		return err
	}
	key := endKey(application, profile)
	if !end.IsZero() {
		ev.Detail = key + " " + Day(end)
	}
	held := target.HasProfile(application, profile)
	if held {
		ev.Action = ActionSetHabilitationEnd
		if current := target.habilitationEnd(application, profile); current.Equal(end) {
			return nil
		}
	}
	if err := checkEndDate("endDate", end, a.Store.now()); err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	// The end date first: a habilitation must never be held without the
	// end date it was given.
	if err := a.Store.setEnd(ctx, target, key, end); err != nil {
		return err
	}
	if held {
		return nil
	}
	if err := a.Store.grant(ctx, target, application, profile); err != nil {
		return err
	}
	return a.Notifier.Habilitated(ctx, target, app, profile, actor)
}

// Revoke withdraws a profile, and its end date. Errors: ErrForbidden, ErrNotFound.
func (a Accounts) Revoke(ctx context.Context, actor *Person, identifier, application, profile string) (err error) {
	ev := newEvent(ctx, actor, ActionRevoke)
	defer a.record(ctx, ev, &err)
	target, _, err := a.habilitation(ctx, "revoke", actor, ev, identifier, application, profile)
	if err != nil {
		return err
	}
	if err := a.Store.revoke(ctx, target, application, profile); err != nil {
		return err
	}
	// The habilitation is gone; an end record left by a failure here is
	// harmless: the end-date job drops the records of profiles not held,
	// and a new grant rewrites it.
	a.Store.setEnd(ctx, target, endKey(application, profile), time.Time{})
	return nil
}

// SetEndDate sets the day a validated account ends (it is then
// disabled), or removes it when end is zero: those who manage the account.
// Errors: ErrForbidden, ErrNotFound, ErrInvalid (a day not after today).
func (a Accounts) SetEndDate(ctx context.Context, actor *Person, identifier string, end time.Time) (_ *Person, err error) {
	const op = "set end date"
	ev := newEvent(ctx, actor, ActionSetEndDate)
	ev.Detail = Day(end)
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, op, ev, actor, identifier, a.Store.FindPerson, CanManage)
	if err != nil {
		return nil, err
	}
	if !target.EndDate.Equal(end) {
		if err := checkEndDate("endDate", end, a.Store.now()); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if err := a.Store.setEnd(ctx, target, endAccount, end); err != nil {
			return nil, err
		}
	}
	return a.Store.FindPerson(ctx, target.Identifier)
}

// habilitation reads the account, the application and its profile of a
// grant or a revocation, and checks that actor may change it.
func (a Accounts) habilitation(ctx context.Context, op string, actor *Person, ev *Event, identifier, application, profile string) (*Person, *Application, error) {
	ev.Detail = application + "/" + profile
	var app *Application
	find := func(ctx context.Context, identifier string) (*Person, error) {
		target, err := a.Store.FindPerson(ctx, identifier)
		if err != nil {
			return nil, err
		}
		if app, err = a.Store.FindApplication(ctx, application); err != nil {
			return nil, err
		}
		if !slices.Contains(app.Profiles, profile) {
			return nil, fmt.Errorf("%s: profile %s: %w", op, profile, ErrNotFound)
		}
		return target, nil
	}
	may := func(actor, target *Person) bool { return CanHabilitate(actor, target, application, profile) }
	target, err := concerning(ctx, op, ev, actor, identifier, find, may)
	if err != nil {
		return nil, nil, err
	}
	return target, app, nil
}

// SetEnabled disables an active account (it can no longer bind nor sign
// in) or enables a disabled one again. Errors: ErrForbidden, ErrNotFound,
// ErrConflict when the account is in neither state.
func (a Accounts) SetEnabled(ctx context.Context, actor *Person, identifier string, enabled bool) (_ *Person, err error) {
	ev := newEvent(ctx, actor, ActionDisable)
	if enabled {
		ev.Action = ActionEnable
	}
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, "enable or disable", ev, actor, identifier, a.Store.FindPerson, CanManage)
	if err != nil {
		return nil, err
	}
	from, to := StateActive, StateDisabled
	if enabled {
		from, to = StateDisabled, StateActive
	}
	if target.State == to {
		return target, nil
	}
	if err := a.Store.setState(ctx, target, from, to); err != nil {
		return nil, err
	}
	target.State = to
	return target, nil
}

// Remove deletes an account; its habilitations go with it.
// Its history goes with it: the event is a log line only.
func (a Accounts) Remove(ctx context.Context, actor *Person, identifier string) (err error) {
	ev := newEvent(ctx, actor, ActionRemove)
	ev.Account = identifier
	defer a.record(ctx, ev, &err)
	target, err := a.Store.FindPerson(ctx, identifier)
	if err != nil {
		return err
	}
	ev.about(target)
	if !CanManage(actor, target) || target.Identifier == actor.Identifier {
		return forbidden("remove")
	}
	return a.Store.deletePerson(ctx, target)
}

// Move puts a responsable or collaborateur in another service of its structure.
func (a Accounts) Move(ctx context.Context, actor *Person, identifier, service string) (_ *Person, err error) {
	ev := newEvent(ctx, actor, ActionMove)
	ev.Detail = service
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, "move", ev, actor, identifier, a.Store.FindPerson, CanMove)
	if err != nil {
		return nil, err
	}
	if _, err := a.Store.FindService(ctx, target.SIRET, service); errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("move: %w", &InvalidError{[]Problem{{"service", "Ce service n'existe pas dans la structure."}}})
	} else if err != nil {
		return nil, err
	}
	p, err := a.Store.movePerson(ctx, identifier, service)
	if err != nil {
		return nil, err
	}
	ev.keepOn(p) // in its new service
	ev.Detail = service
	return p, nil
}

// History returns an account and its history, newest first: to the
// administrators of its structure and to agents. Errors: ErrForbidden,
// ErrNotFound.
func (a Accounts) History(ctx context.Context, actor *Person, identifier string) (*Person, []Event, error) {
	p, events, err := a.Store.history(ctx, identifier)
	if err != nil {
		return nil, nil, err
	}
	if !CanSeeHistory(actor, p) {
		return nil, nil, forbidden("history")
	}
	return p, events, nil
}

// takeInvitation counts a link sent by actor in its invitation limit.
func (a Accounts) takeInvitation(ctx context.Context, op string, actor *Person) error {
	l := a.Store.limits.InvitationAccount
	_, err := a.Store.takeLimits(ctx, op, limitKeys(identifierKey(LimitInvitationAccount, l, actor.Identifier)))
	return err
}
