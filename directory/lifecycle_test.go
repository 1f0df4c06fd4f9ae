package directory_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

func mustInvite(t *testing.T, store *directory.Store, email string, role directory.Role, service string) *directory.Invitation {
	t.Helper()
	return mustInviteBy(t, store, "agent.test-px", email, role, service)
}

// mustInviteBy is mustInvite by the account of that identifier.
func mustInviteBy(t *testing.T, store *directory.Store, requestedBy, email string, role directory.Role, service string) *directory.Invitation {
	t.Helper()
	inv, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: email, Role: role, SIRET: testSIRET, Service: service, RequestedBy: requestedBy})
	if err != nil {
		t.Fatalf("invite %s: %v", email, err)
	}
	return inv
}

func TestInvitationJourney(t *testing.T) {
	t.Parallel()
	store, srv := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	// Invited by an administrator, who manages every service: the person
	// may choose another one on the form.
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adam", LastName: "Journey", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	inv := mustInviteBy(t, store, admin.Identifier, "jeanne.journey@example.fr", directory.RoleCollaborateur, "Accueil")
	if inv.Person.State != directory.StateInvited || inv.Person.Identifier != "" || inv.Person.Service != "Accueil" {
		t.Errorf("invited = %+v", inv.Person)
	}
	// Opening the link, as a mail scanner does, changes nothing.
	for range 3 {
		if f, err := (directory.Accounts{Store: store}).Invitation(ctx, inv.Token); err != nil || f.Person.Email != "jeanne.journey@example.fr" {
			t.Fatalf("find invitation: %+v, %v", f, err)
		}
	}
	bad := directory.PreCreation{FirstName: "", LastName: "Journey", Mobile: "12", Service: "", Password: "faible"}
	_, err := directory.Accounts{Store: store}.SubmitInvitation(ctx, inv.Token, bad)
	var ie *directory.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("bad form: %v", err)
	}
	fields := map[string]bool{}
	for _, p := range ie.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"firstName", "mobile", "service", "password"} {
		if !fields[f] {
			t.Errorf("problem on %s not listed: %v", f, ie.Problems)
		}
	}
	form := directory.PreCreation{FirstName: "Jeanne", LastName: "Journey", Mobile: "07 81 00 00 01", Service: "Paie", Password: goodPassword}
	if err := (directory.Accounts{Store: store}).CheckInvitation(ctx, inv.Token, form); err != nil {
		t.Fatalf("check: %v", err)
	}
	p, err := directory.Accounts{Store: store}.SubmitInvitation(ctx, inv.Token, form)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if p.State != directory.StateSubmitted || p.Service != "Paie" || p.Mobile != "+33781000001" || p.FirstName != "Jeanne" {
		t.Errorf("submitted = %+v", p)
	}
	if _, err := (directory.Accounts{Store: store}).SubmitInvitation(ctx, inv.Token, form); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("the link used twice: %v, want ErrInvalidToken", err)
	}
	// Waiting for validation: slapd refuses the bind.
	dn := findDN(t, store, srv, eqFilter("apexRequestId", p.RequestID))
	if err := dial(t, srv.URL).Bind(dn, goodPassword); err == nil {
		t.Errorf("a submitted account binds")
	}
	approved, err := store.ApproveRequest(ctx, p.RequestID, "admin.test-px")
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if approved.Identifier != "jeanne.journey-px" || approved.State != directory.StateActive || approved.DecidedBy != "admin.test-px" {
		t.Errorf("approved = %+v", approved)
	}
	if _, err := store.Authenticate(ctx, approved.Identifier, goodPassword); err != nil {
		t.Errorf("the chosen password after approval: %v", err)
	}
	if _, err := store.ApproveRequest(ctx, p.RequestID, "admin.test-px"); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("second approval: %v", err)
	}
	if _, err := store.RefuseRequest(ctx, p.RequestID, "admin.test-px", "non"); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("refusal after approval: %v", err)
	}
	if moved, err := store.MovePerson(ctx, approved.Identifier, "Accueil"); err != nil || moved.Service != "Accueil" {
		t.Errorf("move: %+v, %v", moved, err)
	}
}

func TestInvitationLinks(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET)
	inv := mustInvite(t, store, "lien@example.fr", directory.RoleAdministrateur, "")
	for _, forged := range []string{"", "x", inv.Token + "x", strings.Split(inv.Token, ".")[0] + "." + strings.Repeat("A", 43), "*." + strings.Repeat("A", 43)} {
		if _, err := (directory.Accounts{Store: store}).Invitation(ctx, forged); !errors.Is(err, directory.ErrInvalidToken) {
			t.Errorf("token %q: %v, want ErrInvalidToken", forged, err)
		}
	}
	if _, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: "lien@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a second invitation to the same mail: %v, want ErrConflict", err)
	}
	again, err := store.ReissueInvitation(ctx, inv.Person.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.Accounts{Store: store}).Invitation(ctx, inv.Token); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("the old link after a new one: %v", err)
	}
	if _, err := (directory.Accounts{Store: store}).Invitation(ctx, again.Token); err != nil {
		t.Errorf("the new link: %v", err)
	}
}

func TestInvitationExpires(t *testing.T) {
	t.Parallel()
	store, _, clock := twoInstances(t)
	mustStructure(t, store, testSIRET)
	inv := mustInvite(t, store, "expire@example.fr", directory.RoleAdministrateur, "")
	clock.Add(7*24*time.Hour + time.Second)
	if _, err := (directory.Accounts{Store: store}).Invitation(ctx, inv.Token); !errors.Is(err, directory.ErrTokenExpired) {
		t.Errorf("after 7 days: %v, want ErrTokenExpired", err)
	}
	if _, err := (directory.Accounts{Store: store}).SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "E", LastName: "X", Password: goodPassword}); !errors.Is(err, directory.ErrTokenExpired) {
		t.Errorf("submit after 7 days: %v", err)
	}
}

func submitted(t *testing.T, store *directory.Store, email, first, last string) *directory.Person {
	t.Helper()
	inv := mustInvite(t, store, email, directory.RoleAdministrateur, "")
	p, err := directory.Accounts{Store: store}.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: first, LastName: last, Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRefusalAndTheMailIsFreeAgain(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET)
	p := submitted(t, store, "refus@example.fr", "Rémy", "Refus")
	if _, err := store.RefuseRequest(ctx, p.RequestID, "agent.test-px", "  "); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("refusal without reason: %v", err)
	}
	refused, err := store.RefuseRequest(ctx, p.RequestID, "agent.test-px", "Structure inconnue de nos services.")
	if err != nil || refused.State != directory.StateRefused || refused.RefusalReason != "Structure inconnue de nos services." {
		t.Fatalf("refuse: %+v, %v", refused, err)
	}
	if _, err := store.ApproveRequest(ctx, p.RequestID, "agent.test-px"); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("approval after refusal: %v", err)
	}
	mustInvite(t, store, "refus@example.fr", directory.RoleAdministrateur, "")
}

// Two decisions on one request at the same moment, from two instances:
// whatever the interleaving, exactly one wins and the other is told
// ErrAlreadyDecided (409), never ErrNotFound, and the request ends as the
// winner left it. Many rounds, so that many interleavings are met; no
// round depends on which one comes first.
func TestApproveAndRefuseRace(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	type decision struct {
		approves bool
		do       func(*directory.Store, string) error
	}
	approve := decision{true, func(s *directory.Store, id string) error { _, err := s.ApproveRequest(ctx, id, "a-px"); return err }}
	refuse := decision{false, func(s *directory.Store, id string) error {
		_, err := s.RefuseRequest(ctx, id, "b-px", "motif")
		return err
	}}
	pairs := []struct {
		name      string
		decisions [2]decision
	}{
		{"approve and refuse", [2]decision{approve, refuse}},
		{"refuse and approve", [2]decision{refuse, approve}},
		{"approve twice", [2]decision{approve, approve}},
		{"refuse twice", [2]decision{refuse, refuse}},
	}
	for round := range 8 {
		for k, pair := range pairs {
			p := submitted(t, a, fmt.Sprintf("course%d.%d@example.fr", round, k), "Course", "Poursuite")
			var start, done sync.WaitGroup
			errs := make([]error, 2)
			start.Add(1)
			for i, d := range pair.decisions {
				done.Go(func() {
					start.Wait()
					errs[i] = d.do([]*directory.Store{a, b}[i], p.RequestID)
				})
			}
			start.Done()
			done.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d, %s: %v, %v: exactly one must win", round, pair.name, errs[0], errs[1])
			}
			winner, loser := 0, errs[1]
			if errs[0] != nil {
				winner, loser = 1, errs[0]
			}
			if !errors.Is(loser, directory.ErrAlreadyDecided) {
				t.Errorf("round %d, %s: the loser got %v, want ErrAlreadyDecided", round, pair.name, loser)
			}
			approved := pair.decisions[winner].approves
			got, err := a.FindPersonByRequest(ctx, p.RequestID)
			if err != nil || approved && (got.State != directory.StateActive || got.Identifier == "") ||
				!approved && (got.State != directory.StateRefused || got.Identifier != "") {
				t.Errorf("round %d, %s: final state %+v, %v", round, pair.name, got, err)
			}
		}
	}
}

// The interleavings that once answered ErrNotFound (404), each forced: a
// write finds no entry under the name it read, because another instance
// renamed it (an approval) or moved it (the form, to its service)
// meanwhile. The request is read again by its id and the loser is told it
// was decided (or submitted), as it would be a moment later.
func TestDecisionAfterARenameIsAlreadyDecided(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET, "Accueil", "Paie")
	// between runs other on b once, when a reaches the point named.
	between := func(point string, other func()) {
		var once sync.Once
		directory.OnRequestWrite(a, func(op string) {
			if op == point {
				once.Do(other)
			}
		})
	}
	mustApprove := func(id string) {
		if _, err := b.ApproveRequest(ctx, id, "b-px"); err != nil {
			t.Fatalf("the other approval: %v", err)
		}
	}

	p := submitted(t, a, "renomme.refus@example.fr", "Rene", "Refus")
	between("refuse", func() { mustApprove(p.RequestID) })
	if _, err := a.RefuseRequest(ctx, p.RequestID, "a-px", "motif"); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("refuse a request approved and renamed meanwhile: %v, want ErrAlreadyDecided", err)
	}

	p = submitted(t, a, "renomme.approbation@example.fr", "Rene", "Approbation")
	between("approve", func() { mustApprove(p.RequestID) })
	if _, err := a.ApproveRequest(ctx, p.RequestID, "a-px"); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("approve a request approved and renamed meanwhile: %v, want ErrAlreadyDecided", err)
	}

	// Between an approval's state change and its rename, another approval
	// finishes it: the first gives way, and gives its identifier back.
	p = submitted(t, a, "renomme.moitie@example.fr", "Rene", "Moitie")
	between("approve: rename", func() { mustApprove(p.RequestID) })
	if _, err := a.ApproveRequest(ctx, p.RequestID, "a-px"); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("an approval finished meanwhile by another: %v, want ErrAlreadyDecided", err)
	}
	if got, err := a.FindPersonByRequest(ctx, p.RequestID); err != nil || got.Identifier != "rene.moitie-px" || got.State != directory.StateActive {
		t.Errorf("the request approved: %+v, %v", got, err)
	}
	homonym := mustPerson(t, a, directory.NewPerson{FirstName: "René", LastName: "Moitié", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if homonym.Identifier != "rene.moitie2-px" {
		t.Errorf("the identifier the loser reserved was kept: the next homonym is %s", homonym.Identifier)
	}

	// A link sent again while the form moves the entry to its service,
	// then while the request is approved: invitations of an administrator,
	// whose invitee may choose another service.
	admin := mustPerson(t, a, directory.NewPerson{FirstName: "Adam", LastName: "Renomme", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	inv := mustInviteBy(t, a, admin.Identifier, "renomme.lien@example.fr", directory.RoleCollaborateur, "Accueil")
	form := directory.PreCreation{FirstName: "Lina", LastName: "Lien", Service: "Paie", Password: goodPassword}
	between("reissue invitation", func() {
		if _, err := (directory.Accounts{Store: b}).SubmitInvitation(ctx, inv.Token, form); err != nil {
			t.Fatalf("the form: %v", err)
		}
	})
	if _, err := a.ReissueInvitation(ctx, inv.Person.RequestID); !errors.Is(err, directory.ErrConflict) || errors.Is(err, directory.ErrNotFound) {
		t.Errorf("send the link again of a form moved meanwhile: %v, want ErrConflict (already submitted)", err)
	}
	inv = mustInviteBy(t, a, admin.Identifier, "renomme.lien2@example.fr", directory.RoleCollaborateur, "Accueil")
	between("reissue invitation", func() {
		got, err := directory.Accounts{Store: b}.SubmitInvitation(ctx, inv.Token, form)
		if err != nil {
			t.Fatalf("the form: %v", err)
		}
		mustApprove(got.RequestID)
	})
	if _, err := a.ReissueInvitation(ctx, inv.Person.RequestID); !errors.Is(err, directory.ErrAlreadyDecided) {
		t.Errorf("send the link again of a request approved meanwhile: %v, want ErrAlreadyDecided", err)
	}
}

// Two Marie Martin validated at the same moment get two identifiers.
func TestHomonymApprovalsAtTheSameMoment(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET)
	a := submitted(t, store, "homonyme1@example.fr", "Anaïs", "Jumelle")
	b := submitted(t, store, "homonyme2@example.fr", "Anais", "Jumelle")
	var wg sync.WaitGroup
	results := make([]*directory.Person, 2)
	errs := make([]error, 2)
	for i, p := range []*directory.Person{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], errs[i] = store.ApproveRequest(ctx, p.RequestID, "agent-px") }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("approvals: %v, %v", errs[0], errs[1])
	}
	ids := []string{results[0].Identifier, results[1].Identifier}
	if ids[0] == ids[1] || !(ids[0] == "anais.jumelle-px" || ids[1] == "anais.jumelle-px") {
		t.Errorf("identifiers %v", ids)
	}
}

// A responsable's invitation is for their service: the invitee cannot move
// the request out of the responsable's reach, neither on the form nor by
// the API behind it. An administrator's invitation may go to any service of
// the structure, all of which the administrator manages.
func TestInviteeKeepsTheResponsablesService(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	acc := directory.Accounts{Store: store, Notifier: &recordingNotifier{}}
	resp := mustPerson(t, store, directory.NewPerson{FirstName: "Rita", LastName: "Responsable", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Accueil"})
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adam", LastName: "Administrateur", Role: directory.RoleAdministrateur, SIRET: testSIRET})

	inv, err := acc.Invite(ctx, resp, directory.NewInvitation{Email: "colin.service@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if err != nil {
		t.Fatal(err)
	}
	form, err := acc.Invitation(ctx, inv.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(form.Services) != 1 || form.Services[0].Name != "Accueil" {
		t.Errorf("the form of a responsable's invitation offers %+v, want Accueil alone", form.Services)
	}
	elsewhere := directory.PreCreation{FirstName: "Colin", LastName: "Service", Service: "Paie", Password: goodPassword}
	for name, try := range map[string]func() error{
		"check":  func() error { return acc.CheckInvitation(ctx, inv.Token, elsewhere) },
		"submit": func() error { _, err := acc.SubmitInvitation(ctx, inv.Token, elsewhere); return err },
	} {
		var ie *directory.InvalidError
		if err := try(); !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "service" {
			t.Errorf("%s into another service: %v, want one problem on the service", name, err)
		}
	}
	if p, _ := store.FindPersonByRequest(ctx, inv.Person.RequestID); p.Service != "Accueil" || p.State != directory.StateInvited {
		t.Fatalf("after the refused move: %+v", p)
	}
	// Left empty, the service is the invitation's; the responsable decides.
	kept := elsewhere
	kept.Service = ""
	p, err := acc.SubmitInvitation(ctx, inv.Token, kept)
	if err != nil || p.Service != "Accueil" || p.State != directory.StateSubmitted {
		t.Fatalf("submit without a service: %+v, %v", p, err)
	}
	if reqs, err := acc.Requests(ctx, resp, directory.ListQuery{}); err != nil || len(reqs.Accounts) != 1 || reqs.Accounts[0].RequestID != p.RequestID {
		t.Errorf("the responsable's requests: %+v, %v", reqs, err)
	}

	// The administrator's invitation: any service of the structure.
	inv, err = acc.Invite(ctx, admin, directory.NewInvitation{Email: "carla.service@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if err != nil {
		t.Fatal(err)
	}
	if form, err := acc.Invitation(ctx, inv.Token); err != nil || len(form.Services) != 2 {
		t.Errorf("the form of an administrator's invitation: %+v, %v, want both services", form, err)
	}
	elsewhere.FirstName = "Carla"
	if p, err := acc.SubmitInvitation(ctx, inv.Token, elsewhere); err != nil || p.Service != "Paie" {
		t.Errorf("an administrator's invitation into Paie: %+v, %v", p, err)
	}
}

// Invitations of one address into one structure at the same moment, on
// two instances (a double click, a file and a form): exactly one is made,
// the others are ErrConflict, whatever the interleaving. The unique
// overlay alone let several through (it checks before the write).
func TestInvitationsOfOneMailAtOnce(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET, "Accueil")
	for round := range 20 {
		email := fmt.Sprintf("course%d@example.fr", round)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			store := []*directory.Store{a, b}[i%2]
			wg.Go(func() {
				_, errs[i] = store.CreateInvitation(ctx, directory.NewInvitation{Email: email, Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
			})
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			switch {
			case err == nil:
				made++
			case !errors.Is(err, directory.ErrConflict):
				t.Errorf("round %d: %v, want ErrConflict", round, err)
			}
		}
		if made != 1 {
			t.Errorf("round %d: %d invitations of %s made, want 1", round, made, email)
		}
		if p, err := a.FindPersonByEmail(ctx, testSIRET, email); err != nil || p.State != directory.StateInvited {
			t.Errorf("round %d: the invitation kept: %+v, %v", round, p, err)
		}
	}
}
