package directory

import (
	"context"
	"fmt"
)

// Consultation is what a signed-in person reads of the annuaire (guide
// « Consultation des comptes et services de la structure »): structures,
// their services and accounts, the DGFiP applications. Each read is
// checked against who asks (authz.go); a read refused returns ErrForbidden.
type Consultation struct {
	Store *Store
}

// active refuses a read to nobody, and to an account that is not active.
func active(op string, actor *Person) error {
	if actor == nil || actor.State != StateActive {
		return forbidden(op)
	}
	return nil
}

// Structure returns a structure that actor may consult (CanConsult).
// Errors: ErrForbidden, ErrNotFound.
func (c Consultation) Structure(ctx context.Context, actor *Person, siret string) (*Structure, error) {
	if !CanConsult(actor, NormalizeSIRET(siret)) {
		return nil, forbidden("find structure")
	}
	return c.Store.FindStructure(ctx, siret)
}

// Services lists the services of a structure that actor may consult.
// Errors: ErrForbidden, ErrNotFound.
func (c Consultation) Services(ctx context.Context, actor *Person, siret string) ([]Service, error) {
	if !CanConsult(actor, NormalizeSIRET(siret)) {
		return nil, forbidden("list services")
	}
	return c.Store.ListServices(ctx, siret)
}

// Directory returns a page of the accounts of a structure that actor may
// consult: validated accounts, by name, without mobiles. Errors:
// ErrForbidden, ErrNotFound.
func (c Consultation) Directory(ctx context.Context, actor *Person, q DirectoryQuery) (*DirectoryPage, error) {
	if !CanConsult(actor, NormalizeSIRET(q.SIRET)) {
		return nil, forbidden("directory")
	}
	return c.Store.directoryPage(ctx, q)
}

// Account returns an account that actor may see (CanSeeAccount): read with
// actor's session when the request named it (SignIn.Session), else now.
// Errors: ErrNotFound, ErrForbidden.
func (c Consultation) Account(ctx context.Context, actor *Person, identifier string) (*Person, error) {
	return readAccount(ctx, "consult account", c.Store, actor, identifier, CanSeeAccount)
}

// Applications lists the DGFiP applications and their profiles, by id.
// Errors: ErrForbidden.
func (c Consultation) Applications(ctx context.Context, actor *Person) ([]Application, error) {
	if err := active("list applications", actor); err != nil {
		return nil, err
	}
	return c.Store.applications(ctx)
}

// Application returns an application and its profiles. Errors:
// ErrForbidden, ErrNotFound.
func (c Consultation) Application(ctx context.Context, actor *Person, id string) (*Application, error) {
	if err := active("find application", actor); err != nil {
		return nil, err
	}
	return c.Store.FindApplication(ctx, id)
}

// readAccount returns the account of identifier when may says that actor
// may read it: the account as actor's session read it when the request
// named it (SignIn.Session), else read now. Errors: ErrNotFound,
// ErrForbidden.
func readAccount(ctx context.Context, op string, store *Store, actor *Person, identifier string, may func(actor, target *Person) bool) (*Person, error) {
	var p *Person
	if actor != nil && actor.aboutName != "" && actor.aboutName == identifier {
		if p = actor.about; p == nil {
			return nil, fmt.Errorf("%s: account %q: %w", op, identifier, ErrNotFound)
		}
	} else {
		var err error
		if p, err = store.FindPerson(ctx, identifier); err != nil {
			return nil, err
		}
	}
	if !may(actor, p) {
		return nil, forbidden(op)
	}
	return p, nil
}
