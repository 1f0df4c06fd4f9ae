package directory_test

import (
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
