package directory

import (
	"context"
	"fmt"
)

// The helpdesk, for those who manage an account and for agents (CanHelp):
// the account at a glance, unlocking it, a renewal link mailed to it, a
// correction of its mail address (waiting for the new address to confirm
// it, with the account's password), the cancellation of its invitation;
// and, for managers, the count of requests waiting. Each change is an
// event of the audit trail.
//
// None of them lets a manager take an account over: a manager never
// chooses nor sees a password, a code or a link; a renewal link goes to
// the account's confirmed address only; a corrected address takes effect
// only once confirmed from its mailbox with the account's password, which
// the manager does not know (mailchange.go); and the account's address is
// told of each correction.

// Status returns an account at a glance: its state, lockouts, last
// sign-in and last password change. Errors: ErrNotFound, ErrForbidden.
func (a Accounts) Status(ctx context.Context, actor *Person, identifier string) (*AccountStatus, error) {
	p, err := readAccount(ctx, "account status", a.Store, actor, identifier, CanHelp)
	if err != nil {
		return nil, err
	}
	return a.Store.accountStatus(ctx, p)
}

// Unlock lifts an account's lockouts as a renewal of its password does:
// ppolicy's (binds by DGFiP applications and the espace's password check)
// and the espace's sign-in counters of its identifier. Errors:
// ErrNotFound, ErrForbidden.
func (a Accounts) Unlock(ctx context.Context, actor *Person, identifier string) (_ *AccountStatus, err error) {
	ev := newEvent(ctx, actor, ActionUnlock)
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, "unlock", ev, actor, identifier, a.Store.FindPerson, CanHelp)
	if err != nil {
		return nil, err
	}
	if err := a.Store.unlock(ctx, target); err != nil {
		return nil, err
	}
	p, err := a.Store.FindPerson(ctx, target.Identifier)
	if err != nil {
		return nil, err
	}
	return a.Store.accountStatus(ctx, p)
}

// SendRenewalLink mails an active account the forgotten password's
// renewal link, at its confirmed address, whatever its mobile: the person
// chooses the new password. It counts in actor's limit of links sent.
// Errors: ErrNotFound, ErrForbidden, ErrConflict (not active, or its
// address changed meanwhile), ErrRateLimited.
func (a Accounts) SendRenewalLink(ctx context.Context, actor *Person, identifier string) (err error) {
	const op = "send renewal link"
	ev := newEvent(ctx, actor, ActionSendRenewalLink)
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, op, ev, actor, identifier, a.Store.FindPerson, CanHelp)
	if err != nil {
		return err
	}
	if target.State != StateActive {
		return fmt.Errorf("%s: account is %s: %w", op, target.State, ErrConflict)
	}
	if err := a.takeInvitation(ctx, op, actor); err != nil {
		return err
	}
	token, err := a.Store.startRenewalLink(ctx, target)
	if err != nil {
		return err
	}
	return a.Notifier.RenewalLink(ctx, target, token, a.Store.resetLinkTTL, actor)
}

// CorrectEmail sets a new mail address for an active account, waiting
// for its confirmation from the new mailbox with the account's password;
// the new address gets its code and link, the account's address is told.
// It counts in actor's limit of links sent. Errors: ErrNotFound,
// ErrForbidden, ErrInvalid, ErrConflict (not active, or the address is
// used in the structure), ErrRateLimited.
func (a Accounts) CorrectEmail(ctx context.Context, actor *Person, identifier, email string) (_ *Person, err error) {
	const op = "correct email"
	ev := newEvent(ctx, actor, ActionCorrectEmail)
	defer a.record(ctx, ev, &err)
	target, err := concerning(ctx, op, ev, actor, identifier, a.Store.FindPerson, CanHelp)
	if err != nil {
		return nil, err
	}
	if target.State != StateActive {
		return nil, fmt.Errorf("%s: account is %s: %w", op, target.State, ErrConflict)
	}
	if err := a.takeInvitation(ctx, op, actor); err != nil {
		return nil, err
	}
	change, err := a.Store.startMailChange(ctx, target, email, actor.Identifier)
	if err != nil {
		return nil, err
	}
	if err := a.Notifier.MailChangeRequested(ctx, target, change, actor); err != nil {
		return nil, fmt.Errorf("%s: mail the new address: %w", op, err)
	}
	return a.Store.FindPerson(ctx, target.Identifier)
}

// CancelInvitation cancels an invitation whose form was not sent, expired
// or not: the request's entry is deleted, its link stops working and its
// address is free again. The request's history goes with it: the event is
// a log line only. Errors: ErrNotFound, ErrForbidden, ErrConflict (the
// form was sent: the request waits for its decision).
func (a Accounts) CancelInvitation(ctx context.Context, actor *Person, requestID string) (err error) {
	const op = "cancel invitation"
	ev := newEvent(ctx, actor, ActionCancelInvitation)
	ev.Account = requestID
	defer a.record(ctx, ev, &err)
	target, err := a.Store.FindPersonByRequest(ctx, requestID)
	if err != nil {
		return err
	}
	ev.about(target)
	if !CanHelp(actor, target) {
		return forbidden(op)
	}
	return a.Store.cancelInvitation(ctx, requestID)
}

// WaitingRequests counts the requests that actor may decide: one search
// that returns no attribute, for the count on the home page. Errors:
// ErrForbidden (a collaborateur decides nothing).
func (a Accounts) WaitingRequests(ctx context.Context, actor *Person) (int, error) {
	const op = "count requests"
	if actor == nil || actor.State != StateActive {
		return 0, forbidden(op)
	}
	waiting := eq("apexAccountState", string(StateSubmitted))
	switch actor.Role {
	case RoleAgent:
		return a.Store.countPersons(ctx, op, a.Store.structuresDN(), and(waiting, eq("apexRole", string(RoleAdministrateur))))
	case RoleAdministrateur:
		inService := or(eq("apexRole", string(RoleResponsable)), eq("apexRole", string(RoleCollaborateur)))
		return a.Store.countPersons(ctx, op, a.Store.structureDN(actor.SIRET), and(waiting, inService))
	case RoleResponsable:
		return a.Store.countPersons(ctx, op, a.Store.serviceDN(actor.SIRET, actor.Service), and(waiting, eq("apexRole", string(RoleCollaborateur))))
	}
	return 0, forbidden(op)
}
