package directory_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

func TestDirectoryPages(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil", "Paie", "Vide")
	mustPerson(t, store, directory.NewPerson{FirstName: "Zoé", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0600000001"})
	for i := range 7 {
		service := []string{"Accueil", "Paie"}[i%2]
		mustPerson(t, store, directory.NewPerson{FirstName: "Prénom", LastName: fmt.Sprintf("Nom%c", 'G'-i), Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: service})
	}
	if _, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: "pending@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Paie"}); err != nil {
		t.Fatal(err)
	}
	page, err := directory.Consultation{Store: store}.Directory(ctx, anAgent, directory.DirectoryQuery{SIRET: testSIRET, Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 8 || len(page.Accounts) != 3 || page.Accounts[0].LastName != "Admin" || page.Accounts[1].LastName != "NomA" {
		t.Errorf("first page: total %d, %+v", page.Total, page.Accounts)
	}
	counts := map[string]int{}
	for _, sv := range page.Services {
		counts[sv.Name] = sv.Accounts
	}
	if counts["Accueil"] != 4 || counts["Paie"] != 3 || counts["Vide"] != 0 || len(page.Services) != 3 {
		t.Errorf("services: %+v (the invitation does not count)", page.Services)
	}
	for _, p := range page.Accounts {
		if p.Mobile != "" || len(p.Habilitations) != 0 {
			t.Errorf("a list carries a mobile or habilitations: %+v", p)
		}
	}
	last, _ := directory.Consultation{Store: store}.Directory(ctx, anAgent, directory.DirectoryQuery{SIRET: testSIRET, Size: 3, Page: 3})
	if len(last.Accounts) != 2 || last.Accounts[1].LastName != "NomG" {
		t.Errorf("last page: %+v", last.Accounts)
	}
	found, _ := directory.Consultation{Store: store}.Directory(ctx, anAgent, directory.DirectoryQuery{SIRET: testSIRET, Query: "nomc"})
	if found.Total != 1 || found.Accounts[0].LastName != "NomC" {
		t.Errorf("search: %+v", found.Accounts)
	}
	paie, _ := directory.Consultation{Store: store}.Directory(ctx, anAgent, directory.DirectoryQuery{SIRET: testSIRET, Service: "Paie"})
	if paie.Total != 3 {
		t.Errorf("one service: %d", paie.Total)
	}
	hostile, err := directory.Consultation{Store: store}.Directory(ctx, anAgent, directory.DirectoryQuery{SIRET: testSIRET, Query: "*)(uid=*"})
	if err != nil || hostile.Total != 0 {
		t.Errorf("hostile query: %+v, %v", hostile, err)
	}
}

// A page number or size of any int is an empty page or the first, never a
// panic: (page-1)*size overflowed into a negative slice bound.
func TestDirectoryPageArithmeticNeverOverflows(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	mustPerson(t, store, directory.NewPerson{FirstName: "Zoé", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	for _, q := range []directory.DirectoryQuery{
		{Page: math.MaxInt},
		{Page: math.MaxInt, Size: 200},
		{Page: math.MaxInt/50 + 2},
		{Page: math.MaxInt/200 + 2, Size: 200},
		{Page: math.MinInt, Size: math.MinInt},
		{Page: 2, Size: math.MaxInt},
	} {
		q.SIRET = testSIRET
		page, err := directory.Consultation{Store: store}.Directory(ctx, anAgent, q)
		if err != nil {
			t.Fatalf("page %d size %d: %v", q.Page, q.Size, err)
		}
		if page.Total != 1 || page.Page < 1 || page.Size < 1 || page.Size > 200 || len(page.Accounts) > 1 || (page.Page > 1) != (len(page.Accounts) == 0) {
			t.Errorf("page %d size %d: %+v", q.Page, q.Size, page)
		}
	}
}

// The workflows' reads check who asks: a person reads their own structure
// and its accounts, agents read everything, and nobody else reads anything.
func TestConsultationChecksWhoAsks(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	mustStructure(t, store, otherSIRET, "Paie")
	collab := mustPerson(t, store, directory.NewPerson{FirstName: "Carla", LastName: "Collab", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	colleague := mustPerson(t, store, directory.NewPerson{FirstName: "Colin", LastName: "Collegue", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adele", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	stranger := mustPerson(t, store, directory.NewPerson{FirstName: "Sam", LastName: "Ailleurs", Role: directory.RoleAdministrateur, SIRET: otherSIRET})
	agent := mustPerson(t, store, directory.NewPerson{FirstName: "Agathe", LastName: "Agent", Role: directory.RoleAgent})
	disabled := mustDisabled(t, store, directory.NewPerson{FirstName: "Dora", LastName: "Desactivee", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	read := directory.Consultation{Store: store}
	accounts := directory.Accounts{Store: store}

	reads := []struct {
		name string
		read func(actor *directory.Person) error
	}{
		{"structure", func(a *directory.Person) error { _, err := read.Structure(ctx, a, testSIRET); return err }},
		{"services", func(a *directory.Person) error { _, err := read.Services(ctx, a, testSIRET); return err }},
		{"directory", func(a *directory.Person) error {
			_, err := read.Directory(ctx, a, directory.DirectoryQuery{SIRET: testSIRET})
			return err
		}},
		{"account", func(a *directory.Person) error { _, err := read.Account(ctx, a, colleague.Identifier); return err }},
	}
	for _, r := range reads {
		for _, tt := range []struct {
			who     string
			actor   *directory.Person
			allowed bool
		}{
			{"a collaborateur of the structure", collab, true},
			{"an agent", agent, true},
			{"an administrator of another structure", stranger, false},
			{"a disabled account", disabled, false},
			{"nobody", nil, false},
		} {
			err := r.read(tt.actor)
			if tt.allowed && err != nil || !tt.allowed && !errors.Is(err, directory.ErrForbidden) {
				t.Errorf("%s by %s: %v", r.name, tt.who, err)
			}
		}
	}
	if _, err := read.Account(ctx, collab, agent.Identifier); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("an agent's account to a collaborateur: %v", err)
	}
	if _, err := read.Account(ctx, agent, agent.Identifier); err != nil {
		t.Errorf("an agent's account to an agent: %v", err)
	}
	if all, err := read.StructuresPage(ctx, collab, directory.ListQuery{}); err != nil || all.Total != 1 || len(all.Structures) != 1 || all.Structures[0].SIRET != testSIRET {
		t.Errorf("structures to a collaborateur: %+v, %v", all, err)
	}
	if all, err := read.StructuresPage(ctx, agent, directory.ListQuery{}); err != nil || all.Total != 2 || len(all.Structures) != 2 {
		t.Errorf("structures to an agent: %+v, %v", all, err)
	}
	if _, err := read.Applications(ctx, disabled); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("applications to a disabled account: %v", err)
	}
	if _, err := accounts.ManagedAccount(ctx, collab, colleague.Identifier); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a colleague managed by a collaborateur: %v", err)
	}
	if p, err := accounts.ManagedAccount(ctx, admin, colleague.Identifier); err != nil || p.Identifier != colleague.Identifier {
		t.Errorf("a collaborateur managed by the administrator: %+v, %v", p, err)
	}
	if _, err := accounts.ManagedAccount(ctx, admin, "nobody.here-px"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an unknown account: %v", err)
	}
}

// The account a request names is read in the session's search, and the
// workflow's read that follows takes it from there: removed in between, it
// is still the one read; an account the session found missing is not read
// again.
func TestSessionReadsTheAccountTheRequestNames(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adele", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	collab := mustPerson(t, store, directory.NewPerson{FirstName: "Carla", LastName: "Collab", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	late := mustPerson(t, store, directory.NewPerson{FirstName: "Lea", LastName: "Tardive", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	token, err := store.CreateSession(ctx, admin.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	in := directory.SignIn{Store: store}
	actor, err := in.Session(ctx, token, collab.Identifier)
	if err != nil || actor.Identifier != admin.Identifier {
		t.Fatalf("session: %+v, %v", actor, err)
	}
	if err := store.DeletePerson(ctx, collab.Identifier); err != nil {
		t.Fatal(err)
	}
	if p, err := (directory.Consultation{Store: store}).Account(ctx, actor, collab.Identifier); err != nil || p.Identifier != collab.Identifier {
		t.Errorf("the account read with the session: %+v, %v", p, err)
	}
	if p, err := (directory.Accounts{Store: store}).ManagedAccount(ctx, actor, collab.Identifier); err != nil || p.Identifier != collab.Identifier {
		t.Errorf("the account read with the session, managed: %+v, %v", p, err)
	}
	// Another identifier than the one named is read now.
	if p, err := (directory.Consultation{Store: store}).Account(ctx, actor, late.Identifier); err != nil || p.Identifier != late.Identifier {
		t.Errorf("an account the request did not name: %+v, %v", p, err)
	}

	actor, err = in.Session(ctx, token, "nobody.here-px")
	if err != nil {
		t.Fatal(err)
	}
	mustPerson(t, store, directory.NewPerson{FirstName: "Nobody", LastName: "Here", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if _, err := (directory.Consultation{Store: store}).Account(ctx, actor, "nobody.here-px"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an account the session found missing: %v", err)
	}
}
