package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bulk invitations, a door of Accounts: a file of rows checked as a whole
// (CheckBulk, the dry run and the preview), then invited row by row
// through the steps of Invite (InviteBulk): the same rules, rights, audit
// event and mail for each, the rows counted in the invitation_bulk limit.
// An address already invited in the structure is a row's problem, so the
// same file sent twice invites nobody twice, and a run that stopped half
// way is finished by sending the file again.

// BulkProgress is told, while InviteBulk runs, how many of the rows to
// invite it has tried, out of how many.
type BulkProgress func(done, total int)

// bulkRenewEvery is how often a run tells that it still holds its structure.
const bulkRenewEvery = 20 * time.Second

// CheckBulk checks every row of a bulk invitation by actor into the
// structure of siret, changing nothing: each row comes back BulkReady or
// with its problem. Errors: ErrForbidden when actor may invite nobody
// there, ErrNotFound (the structure), ErrInvalid (no row, or over
// MaxBulkRows).
func (a Accounts) CheckBulk(ctx context.Context, actor *Person, siret string, rows []BulkRow) (*BulkReport, error) {
	const op = "check bulk invitation"
	if !CanInviteInBulk(actor, NormalizeSIRET(siret)) {
		return nil, forbidden(op)
	}
	b, err := a.checkBulk(ctx, op, actor, siret, rows)
	if err != nil {
		return nil, err
	}
	b.report.DryRun = true
	return b.report, nil
}

// InviteBulk checks the rows as CheckBulk does, then invites those that
// pass, one after the other, each as Invite does (its event, its mail),
// telling progress after each; the others come back with their problem.
// One bulk invitation runs at a time in a structure, on every instance.
// The rows past actor's invitation_bulk limit wait (BulkLimitReached). A
// run stops at the first row it cannot try (the directory or the mail
// unavailable, ctx done, its lease on the structure lost): that row and
// the rest come back BulkNotDone, and sending the file again invites
// them. Once progress is first told, the run ends with its report and no
// error. Errors: those of CheckBulk, ErrBulkRunning.
func (a Accounts) InviteBulk(ctx context.Context, actor *Person, siret string, rows []BulkRow, progress BulkProgress) (_ *BulkReport, err error) {
	const op = "bulk invitation"
	siret = NormalizeSIRET(siret)
	ev := newEvent(ctx, actor, ActionInviteBulk)
	ev.Structure = siret
	defer a.record(ctx, ev, &err)
	if !CanInviteInBulk(actor, siret) {
		return nil, forbidden(op)
	}
	lease, err := a.Store.takeBulk(ctx, op, siret)
	if err != nil {
		return nil, err
	}
	defer a.Store.releaseBulk(ctx, op, lease)
	// Checked once the structure is held: whatever a run before this one
	// invited is seen.
	b, err := a.checkBulk(ctx, op, actor, siret, rows)
	if err != nil {
		return nil, err
	}
	ready := make([]int, 0, len(b.report.Rows))
	for i, r := range b.report.Rows {
		if r.Code == BulkReady {
			ready = append(ready, i)
		}
	}
	// The rows are counted in actor's invitation_bulk limit at once, as
	// many as it has room for; the others wait for its next window. Those
	// counted and not invited are given back at the end.
	allowed, giveBack, err := a.takeBulkRows(ctx, op, actor, len(ready))
	var le *LimitError
	switch {
	case errors.As(err, &le):
		b.stopAt(ready, BulkLimitReached, err)
		ready = nil
	case err != nil:
		return nil, err
	case allowed < len(ready):
		b.stopAt(ready[allowed:], BulkLimitReached, giveBack.over)
		ready = ready[:allowed]
	}
	defer func() { giveBack.unused(ctx, op, b.report.Invited()) }()
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, len(ready))
	renewed := a.Store.now()
	// Each row once begun is finished, whatever becomes of ctx: an
	// invitation made and not mailed would block its address.
	rowCtx := context.WithoutCancel(ctx)
	for done, i := range ready {
		row := &b.report.Rows[i]
		if stop := a.bulkStop(ctx, op, lease, &renewed); stop != nil {
			b.stopAt(ready[done:], BulkNotDone, stop)
			break
		}
		inv, err := a.invite(rowCtx, actor, b.invitations[i], b.structure, counted)
		switch {
		case err == nil:
			row.Code, row.Message, row.RequestID = BulkInvited, "Invitation envoyée.", inv.Person.RequestID
		case inv != nil: // made, its mail not queued: the next would fail alike
			row.Code, row.Message, row.RequestID = BulkMailFailed,
				"Invitation faite, mais son mail n'a pas pu partir : envoyez le lien à nouveau depuis la gestion des comptes.", inv.Person.RequestID
			b.stopAt(ready[done+1:], BulkNotDone, err)
		case errors.Is(err, ErrConflict): // invited meanwhile, outside this run
			row.Code, row.Message = BulkAlreadyInvited, "Déjà invitée : une invitation à cette adresse vient d'être faite dans la structure."
		default:
			b.stopAt(ready[done:], BulkNotDone, err)
		}
		progress(done+1, len(ready))
		if row.Code != BulkInvited && row.Code != BulkAlreadyInvited {
			break
		}
	}
	ev.Detail = fmt.Sprintf("rows=%d invited=%d refused=%d", len(rows), b.report.Invited(), b.report.Refused())
	return b.report, nil
}

// bulkStop says why a run must stop before its next row: ctx is done, or
// its lease on the structure could not be renewed.
func (a Accounts) bulkStop(ctx context.Context, op string, lease *limitSlot, renewed *time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if now := a.Store.now(); now.Sub(*renewed) >= bulkRenewEvery {
		if err := a.Store.renewBulk(ctx, op, lease); err != nil {
			return fmt.Errorf("%s: the structure's lease ended: %w", op, err)
		}
		*renewed = now
	}
	return nil
}

// counted is the limit of a row that takeBulkRows counted already.
func counted(context.Context, string, *Person) error { return nil }

// bulkSlots are the rows of a run counted in its invitation_bulk limit.
type bulkSlots struct {
	store *Store
	slot  limitSlot
	taken int
	over  *LimitError // for the rows left out: when the window ends
}

// takeBulkRows counts n rows in actor's invitation_bulk limit at once:
// how many may be invited now (n, when the limit is off).
func (a Accounts) takeBulkRows(ctx context.Context, op string, actor *Person, n int) (int, *bulkSlots, error) {
	keys := limitKeys(identifierKey(LimitInvitationBulk, a.Store.limits.InvitationBulk, actor.Identifier))
	if len(keys) == 0 || n == 0 {
		return n, &bulkSlots{}, nil
	}
	slot, taken, err := a.Store.takeLimitSlots(ctx, op, keys[0], n)
	if err != nil {
		return 0, nil, err
	}
	wait := time.Second
	if ends, err := time.Parse(generalizedTime, slot.expires); err == nil && ends.Sub(a.Store.now()) > wait {
		wait = ends.Sub(a.Store.now()).Round(time.Second)
	}
	return taken, &bulkSlots{store: a.Store, slot: slot, taken: taken, over: &LimitError{Limit: LimitInvitationBulk, RetryAfter: wait}}, nil
}

// unused gives back the rows counted and not invited.
func (s *bulkSlots) unused(ctx context.Context, op string, invited int) {
	if s != nil && s.store != nil {
		s.store.giveBackSlots(ctx, op, s.slot, s.taken-invited)
	}
}

// bulkCheck is a bulk invitation checked: its structure, each row's
// outcome so far and, for the rows that pass, their invitation.
type bulkCheck struct {
	structure   *Structure
	report      *BulkReport
	invitations []NewInvitation // by row
}

// stopAt gives the rows of indexes the code that tells why the run
// stopped before them, err being the cause.
func (b *bulkCheck) stopAt(indexes []int, code string, err error) {
	msg := "Non traitée : le traitement s'est interrompu (l'annuaire ou l'envoi des mails est momentanément indisponible). Envoyez le fichier à nouveau : les personnes déjà invitées ne le seront pas deux fois."
	var le *LimitError
	if code == BulkLimitReached && errors.As(err, &le) {
		msg = "Non traitée : vous avez atteint la limite des invitations en nombre. Réessayez dans " + frenchWait(le.RetryAfter) +
			", en envoyant le fichier à nouveau : les personnes déjà invitées ne le seront pas deux fois."
	}
	for _, i := range indexes {
		b.report.Rows[i].Code, b.report.Rows[i].Message = code, msg
	}
}

// frenchWait is a wait in whole minutes, or whole hours past two.
func frenchWait(d time.Duration) string {
	minutes := int((d + time.Minute - 1) / time.Minute)
	switch {
	case minutes <= 1:
		return "1 minute"
	case minutes < 120:
		return fmt.Sprintf("%d minutes", minutes)
	}
	return fmt.Sprintf("%d heures", (minutes+59)/60)
}

// checkBulk reads the structure and checks every row: its address, its
// role and service against actor's rights and the structure's services,
// the addresses twice in the file, and those the structure already holds.
func (a Accounts) checkBulk(ctx context.Context, op string, actor *Person, siret string, rows []BulkRow) (*bulkCheck, error) {
	siret = NormalizeSIRET(siret)
	switch {
	case len(rows) == 0:
		return nil, fmt.Errorf("%s: %w", op, bulkFileError("Le fichier ne contient aucune ligne à inviter."))
	case len(rows) > MaxBulkRows:
		return nil, fmt.Errorf("%s: %w", op, bulkFileError("Le fichier compte %s lignes à inviter : %s au plus par envoi. Découpez-le en plusieurs fichiers.",
			frenchNumber(len(rows)), frenchNumber(MaxBulkRows)))
	}
	if CheckSIRET(siret) != nil {
		return nil, fmt.Errorf("%s: structure %q: %w", op, siret, ErrNotFound)
	}
	st, err := a.Store.FindStructure(ctx, siret)
	if err != nil {
		return nil, err
	}
	services := map[string]bool{}
	if actor.Role != RoleAgent {
		list, err := a.Store.ListServices(ctx, siret)
		if err != nil {
			return nil, err
		}
		for _, sv := range list {
			services[sv.Name] = true
		}
	}
	b := &bulkCheck{structure: st, report: &BulkReport{Structure: st, Rows: make([]BulkResult, len(rows))}, invitations: make([]NewInvitation, len(rows))}
	seen := map[string]int{} // lower-cased address: its first line
	var emails []string
	for i, row := range rows {
		n, code, msg := checkBulkRow(actor, siret, row, services)
		if code == BulkReady {
			key := strings.ToLower(n.Email)
			if first, dup := seen[key]; dup {
				code, msg = BulkDuplicate, fmt.Sprintf("Cette adresse figure déjà à la ligne %d du fichier.", first)
			} else {
				seen[key] = row.Line
				emails = append(emails, n.Email)
			}
		}
		b.report.Rows[i] = BulkResult{BulkRow: row, Code: code, Message: msg}
		b.invitations[i] = n
	}
	states, err := a.Store.mailStates(ctx, siret, emails)
	if err != nil {
		return nil, err
	}
	for i := range b.report.Rows {
		r := &b.report.Rows[i]
		if r.Code != BulkReady {
			continue
		}
		switch st := states[strings.ToLower(b.invitations[i].Email)]; st.state {
		case "":
		case StateInvited:
			r.Code, r.Message = BulkAlreadyInvited, "Déjà invitée : une invitation à cette adresse attend que la personne remplisse son formulaire."
			if st.expired {
				r.Message = "Déjà invitée, mais le lien de son invitation a expiré : envoyez-le à nouveau depuis les invitations en attente."
			}
		case StateSubmitted:
			r.Code, r.Message = BulkAlreadyInvited, "Déjà invitée : la demande de création de compte de cette adresse attend sa validation."
		default:
			r.Code, r.Message = BulkAccountExists, "Un compte de la structure a déjà cette adresse mail."
		}
	}
	return b, nil
}

// checkBulkRow checks one row against actor's rights and the services of
// the structure (none read for agents, who invite administrators): the
// invitation it makes, or its problem.
func checkBulkRow(actor *Person, siret string, row BulkRow, services map[string]bool) (NewInvitation, string, string) {
	n := NewInvitation{SIRET: siret}
	email, ok := normalizeEmail(row.Email)
	switch {
	case strings.TrimSpace(row.Email) == "":
		return n, BulkInvalidEmail, "L'adresse mail doit être renseignée."
	case !ok:
		return n, BulkInvalidEmail, "L'adresse mail n'est pas valide."
	}
	n.Email = email
	switch role, ok := bulkRole(row.Role); {
	case ok:
		n.Role = role
	case strings.TrimSpace(row.Role) != "":
		return n, BulkInvalidRole, "Le rôle doit être administrateur, responsable ou collaborateur."
	case actor.Role == RoleAgent:
		n.Role = RoleAdministrateur
	case actor.Role == RoleResponsable:
		n.Role = RoleCollaborateur
	default:
		return n, BulkInvalidRole, "Le rôle doit être renseigné : responsable ou collaborateur."
	}
	if n.Role.InService() {
		n.Service = strings.TrimSpace(row.Service)
		if n.Service == "" && actor.Role == RoleResponsable {
			n.Service = actor.Service
		}
	}
	if !CanInvite(actor, n.Role, siret, n.Service) {
		switch {
		case actor.Role == RoleAgent:
			return n, BulkNotAllowed, "Un agent de la DGFiP n'invite en nombre que des administrateurs."
		case n.Role == RoleAdministrateur:
			return n, BulkNotAllowed, "Seul un agent de la DGFiP peut inviter un administrateur."
		case actor.Role == RoleResponsable && n.Role != RoleCollaborateur:
			return n, BulkNotAllowed, "Vous ne pouvez inviter que des collaborateurs."
		case actor.Role == RoleResponsable && n.Service != "":
			return n, BulkNotAllowed, "Vous ne pouvez inviter que dans votre service (" + actor.Service + ")."
		}
	}
	switch {
	case n.Role.InService() && n.Service == "":
		return n, BulkMissingService, "Le service doit être renseigné."
	case !CanInvite(actor, n.Role, siret, n.Service):
		return n, BulkNotAllowed, "Vous ne pouvez pas inviter ce compte dans cette structure."
	case n.Role.InService() && !services[n.Service]:
		return n, BulkUnknownService, "Le service « " + n.Service + " » n'existe pas dans la structure."
	}
	return n, BulkReady, "Prête à être invitée."
}
