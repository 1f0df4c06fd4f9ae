package directory

import (
	"context"
	"fmt"
	"slices"
)

// The management lists and the exports (lists.go, ldap_lists.go): each
// shows only what its reader may see, and its filter says so, so that the
// total never counts an entry beyond the reader's scope.

// Managed returns a page of the accounts that actor manages (CanManage),
// whatever their state unless q asks for one, by name: to agents the
// administrators of every structure (of one with q.SIRET), to an
// administrator the responsables and collaborateurs of their structure (of
// one service with q.Service), to a responsable the collaborateurs of
// their service. Errors: ErrForbidden (q beyond actor's scope),
// ErrInvalid, ErrUnavailable.
func (a Accounts) Managed(ctx context.Context, actor *Person, q AccountQuery) (*AccountPage, error) {
	const op = "list accounts"
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if actor == nil || actor.State != StateActive {
		return nil, forbidden(op)
	}
	var scope accountScope
	switch actor.Role {
	case RoleAgent:
		scope = accountScope{siret: q.SIRET, roles: []Role{RoleAdministrateur}}
	case RoleAdministrateur:
		scope = accountScope{siret: actor.SIRET, service: q.Service, roles: []Role{RoleResponsable, RoleCollaborateur}}
	case RoleResponsable:
		if q.Service != "" && q.Service != actor.Service {
			return nil, forbidden(op)
		}
		scope = accountScope{siret: actor.SIRET, service: actor.Service, roles: []Role{RoleCollaborateur}}
	default:
		return nil, forbidden(op)
	}
	if actor.Role != RoleAgent && q.SIRET != "" && q.SIRET != actor.SIRET {
		return nil, forbidden(op)
	}
	page, err := a.Store.accountsPage(ctx, scope, q)
	if err != nil {
		return nil, err
	}
	// The filter holds the scope; this only keeps a row it would let through.
	page.Accounts = slices.DeleteFunc(page.Accounts, func(p Person) bool { return !CanManage(actor, &p) })
	return page, nil
}

// Requests returns a page of the submitted requests that actor may decide,
// by name (Managed's scope). Errors: those of Managed.
func (a Accounts) Requests(ctx context.Context, actor *Person, q ListQuery) (*AccountPage, error) {
	return a.Managed(ctx, actor, AccountQuery{ListQuery: q, State: StateSubmitted})
}

// Invitations returns a page of the invitations sent whose form is not
// filled yet, among the accounts actor manages, by mail (Managed's scope).
// Errors: those of Managed.
func (a Accounts) Invitations(ctx context.Context, actor *Person, q ListQuery) (*AccountPage, error) {
	return a.Managed(ctx, actor, AccountQuery{ListQuery: q, State: StateInvited})
}

// ExportAccounts hands each account of a structure to each, in the
// directory's order, as it sends them (never all at once): to the
// administrators of the structure (CanExportAccounts). The export is an
// event of the audit trail, a log line only: it changes no account. Errors: ErrForbidden,
// ErrNotFound (the structure), ErrUnavailable, each's.
func (a Accounts) ExportAccounts(ctx context.Context, actor *Person, siret string, each func(*Person) error) (err error) {
	siret = NormalizeSIRET(siret)
	ev := newEvent(ctx, actor, ActionExportAccounts)
	ev.Structure = siret
	n := 0
	defer func() { ev.Detail = fmt.Sprintf("%d lignes", n); a.record(ctx, ev, &err) }()
	if !CanExportAccounts(actor, siret) {
		return forbidden("export accounts")
	}
	return a.Store.exportAccounts(ctx, siret, func(e *Person) error {
		n++
		return each(e)
	})
}

// ExportHabilitations hands each habilitation to a profile of an
// application to each, in the directory's order, as it sends them: to
// agents (CanExportHabilitations). The export is an event of the
// audit trail, a log line only. Errors: ErrForbidden, ErrNotFound (the
// application), ErrUnavailable, each's.
func (a Accounts) ExportHabilitations(ctx context.Context, actor *Person, application string, each func(*Application, *ExportedHabilitation) error) (err error) {
	ev := newEvent(ctx, actor, ActionExportHabilitations)
	n := 0
	defer func() { ev.Detail = fmt.Sprintf("%s : %d lignes", application, n); a.record(ctx, ev, &err) }()
	if !CanExportHabilitations(actor) {
		return forbidden("export habilitations")
	}
	app, err := a.Store.FindApplication(ctx, application)
	if err != nil {
		return err
	}
	return a.Store.exportHabilitations(ctx, app, func(h *ExportedHabilitation) error {
		n++
		return each(app, h)
	})
}

// StructuresPage returns a page of the structures actor sees, by name: to
// agents every structure that q's search finds (words of the name or the
// SIRET), to the others their own. Errors: ErrForbidden, ErrNotFound (the
// actor's own structure is gone), ErrUnavailable.
func (c Consultation) StructuresPage(ctx context.Context, actor *Person, q ListQuery) (*StructurePage, error) {
	if err := active("list structures", actor); err != nil {
		return nil, err
	}
	if actor.Role == RoleAgent {
		return c.Store.structuresPage(ctx, q)
	}
	q = q.normalized()
	st, err := c.Store.FindStructure(ctx, actor.SIRET)
	if err != nil {
		return nil, err
	}
	page := &StructurePage{Structures: []Structure{}, Total: 1, Page: q.Page, Size: q.Size}
	if q.Page == 1 {
		page.Structures = append(page.Structures, *st)
	}
	return page, nil
}

// StructureNames returns the names of the structures of those SIRETs that
// actor may consult (CanConsult) and that exist, by SIRET: for a page of a
// list. Errors: ErrForbidden, ErrUnavailable.
func (c Consultation) StructureNames(ctx context.Context, actor *Person, sirets []string) (map[string]string, error) {
	if err := active("structure names", actor); err != nil {
		return nil, err
	}
	sirets = slices.DeleteFunc(slices.Clone(sirets), func(siret string) bool { return !CanConsult(actor, NormalizeSIRET(siret)) })
	return c.Store.structureNames(ctx, sirets)
}
