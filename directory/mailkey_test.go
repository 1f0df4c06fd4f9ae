package directory_test

import (
	"errors"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// A mail address is unique within a structure (among requests not refused),
// not across the country: an inviter learns only about the addresses of the
// structure it invites into, which it can already see in its consultation.
// slapd holds it (the unique overlay on apexMailKey), not a check in Go.
func TestMailUniqueWithinAStructure(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	mustStructure(t, store, otherSIRET, "Accueil")
	invite := func(email, siret string, role directory.Role, service string) (*directory.Invitation, error) {
		return store.CreateInvitation(ctx, directory.NewInvitation{Email: email, Role: role, SIRET: siret, Service: service, RequestedBy: "agent.test-px"})
	}

	const shared = "Partagee.Deux-Structures@Example.fr"
	first, err := invite(shared, testSIRET, directory.RoleAdministrateur, "")
	if err != nil {
		t.Fatalf("invite in the first structure: %v", err)
	}
	if _, err := invite(shared, otherSIRET, directory.RoleCollaborateur, "Accueil"); err != nil {
		t.Errorf("the same address in another structure: %v, want it invited", err)
	}
	for _, again := range []struct {
		name    string
		email   string
		role    directory.Role
		service string
	}{
		{"as administrator again", shared, directory.RoleAdministrateur, ""},
		{"in a service of the structure", shared, directory.RoleCollaborateur, "Accueil"},
		{"in other letter cases", "partagee.deux-structures@example.fr", directory.RoleResponsable, "Accueil"},
	} {
		if _, err := invite(again.email, testSIRET, again.role, again.service); !errors.Is(err, directory.ErrConflict) {
			t.Errorf("the same address in the same structure %s: %v, want ErrConflict", again.name, err)
		}
	}

	// A refused request frees the address, in its structure.
	p, err := directory.Accounts{Store: store}.SubmitInvitation(ctx, first.Token, directory.PreCreation{FirstName: "Paule", LastName: "Partagee", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RefuseRequest(ctx, p.RequestID, "agent.test-px", "Doublon."); err != nil {
		t.Fatal(err)
	}
	again, err := invite(shared, testSIRET, directory.RoleAdministrateur, "")
	if err != nil {
		t.Fatalf("the address of a refused request: %v, want it invited again", err)
	}
	// Found by mail within each structure: the one not refused.
	for _, siret := range []string{testSIRET, otherSIRET} {
		found, err := store.FindPersonByEmail(ctx, siret, shared)
		if err != nil || found.SIRET != siret || found.State != directory.StateInvited {
			t.Errorf("find by mail in %s: %+v, %v", siret, found, err)
		}
	}
	if found, _ := store.FindPersonByEmail(ctx, testSIRET, shared); found != nil && found.RequestID != again.Person.RequestID {
		t.Errorf("find by mail gave the refused request %s", found.RequestID)
	}
	if _, err := store.FindPersonByEmail(ctx, "", shared); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("find by mail among agents: %v, want ErrNotFound", err)
	}
}

func TestMailChangeUniqueWithinAStructure(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	mustStructure(t, store, otherSIRET)
	const (
		here  = "deja.ici@example.fr"
		there = "deja.ailleurs@example.fr"
	)
	mustPerson(t, store, directory.NewPerson{FirstName: "Ida", LastName: "Ici", Email: here, Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	mustPerson(t, store, directory.NewPerson{FirstName: "Alain", LastName: "Ailleurs", Email: there, Role: directory.RoleAdministrateur, SIRET: otherSIRET})
	mover := mustPerson(t, store, directory.NewPerson{FirstName: "Marc", LastName: "Mail", Email: "marc.mail@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})

	taken := "Deja.Ici@example.fr"
	if _, err := store.UpdatePerson(ctx, mover.Identifier, directory.PersonUpdate{Email: &taken}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a mail used in the same structure: %v, want ErrConflict", err)
	}
	elsewhere := there
	got, err := store.UpdatePerson(ctx, mover.Identifier, directory.PersonUpdate{Email: &elsewhere})
	if err != nil || got.Email != there {
		t.Fatalf("a mail used in another structure: %+v, %v, want it changed", got, err)
	}
	// The key follows the mail: the old address is free in the structure,
	// the new one taken there.
	if _, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Nina", LastName: "Nouvelle", Email: "marc.mail@example.fr",
		Role: directory.RoleAdministrateur, SIRET: testSIRET, State: directory.StateActive}, goodPassword); err != nil {
		t.Errorf("the address given up: %v, want it free", err)
	}
	if _, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Olga", LastName: "Occupee", Email: there,
		Role: directory.RoleAdministrateur, SIRET: testSIRET, State: directory.StateActive}, goodPassword); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("the address taken by the change: %v, want ErrConflict", err)
	}

	// Agents are a scope of their own.
	const agentMail = "agent.et.partenaire@example.fr"
	mustPerson(t, store, directory.NewPerson{FirstName: "Anne", LastName: "Agent", Email: agentMail, Role: directory.RoleAgent})
	if _, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Abel", LastName: "Agent", Email: agentMail,
		Role: directory.RoleAgent, State: directory.StateActive}, goodPassword); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("two agents with one address: %v, want ErrConflict", err)
	}
	mustPerson(t, store, directory.NewPerson{FirstName: "Paul", LastName: "Partenaire", Email: agentMail, Role: directory.RoleAdministrateur, SIRET: testSIRET})
}
