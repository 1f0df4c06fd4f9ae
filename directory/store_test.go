package directory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

func TestMain(m *testing.M) { slapdtest.Main(m) }

// anAgent is who reads through the workflows where a test needs no one in
// particular: agents may read everything.
var anAgent = &directory.Person{Identifier: "agent.lecteur-px", Role: directory.RoleAgent, State: directory.StateActive}

const (
	testSIRET    = "73282932000074"
	otherSIRET   = "44306184100047"
	goodPassword = "Correct-Horse-42!"
)

var ctx = context.Background()

// mustStructure creates a structure with the named services.
func mustStructure(tb testing.TB, store *directory.Store, siret string, services ...string) {
	tb.Helper()
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: siret, Name: "Étude " + siret, Category: "Notaire"}); err != nil {
		tb.Fatalf("create structure: %v", err)
	}
	for _, sv := range services {
		if err := store.CreateService(ctx, directory.Service{SIRET: siret, Name: sv}); err != nil {
			tb.Fatalf("create service %q: %v", sv, err)
		}
	}
}

// mustPerson creates an active account with goodPassword.
func mustPerson(tb testing.TB, store *directory.Store, n directory.NewPerson) *directory.Person {
	tb.Helper()
	if n.State == "" {
		n.State = directory.StateActive
	}
	if n.Email == "" {
		n.Email = fmt.Sprintf("p%d@example.fr", time.Now().UnixNano())
	}
	p, err := store.CreatePerson(ctx, n, goodPassword)
	if err != nil {
		tb.Fatalf("create person %s %s: %v", n.FirstName, n.LastName, err)
	}
	return p
}

// mustDisabled creates an active account, then disables it.
func mustDisabled(tb testing.TB, store *directory.Store, n directory.NewPerson) *directory.Person {
	tb.Helper()
	p := mustPerson(tb, store, n)
	if err := store.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		tb.Fatal(err)
	}
	p.State = directory.StateDisabled
	return p
}

func TestStructureLifecycle(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)

	if err := store.CreateStructure(ctx, directory.Structure{SIRET: "732 829 320 00074", Name: "Étude Martin", Category: "Notaire"}); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := store.FindStructure(ctx, testSIRET)
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	if want := (directory.Structure{SIRET: testSIRET, Name: "Étude Martin", Category: "Notaire"}); *got != want {
		t.Errorf("found %+v, want %+v", *got, want)
	}
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: testSIRET, Name: "Autre", Category: "Notaire"}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("second create with the same SIRET: %v, want ErrConflict", err)
	}
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: "73282932000075", Name: "X", Category: "Y"}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("create with a bad Luhn key: %v, want ErrInvalid", err)
	}
	if _, err := store.FindStructure(ctx, otherSIRET); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("find a missing structure: %v, want ErrNotFound", err)
	}
	mustStructure(t, store, otherSIRET, "Paie")
	all, err := directory.Consultation{Store: store}.StructuresPage(ctx, anAgent, directory.ListQuery{})
	if err != nil || all.Total != 2 || len(all.Structures) != 2 {
		t.Fatalf("list: %+v, %v", all, err)
	}
	if err := store.DeleteStructure(ctx, otherSIRET); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("delete a structure that has a service: %v, want ErrConflict", err)
	}
	if err := store.DeleteStructure(ctx, testSIRET); err != nil {
		t.Errorf("delete an empty structure: %v", err)
	}
	if _, err := store.FindStructure(ctx, testSIRET); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("find after delete: %v, want ErrNotFound", err)
	}
}

func TestCreatePersonPlacesAccountsInTheTree(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Comptabilité")

	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Aline", LastName: "Tréport", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "06 12 34 56 78"})
	collab := mustPerson(t, store, directory.NewPerson{FirstName: "Bruno", LastName: "Tréport", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité", RequestedBy: admin.Identifier})
	if admin.Identifier != "aline.treport-px" || admin.Service != "" || admin.Mobile != "+33612345678" {
		t.Errorf("administrator = %+v", admin)
	}
	if collab.Service != "Comptabilité" || collab.SIRET != testSIRET || collab.RequestedBy != admin.Identifier || collab.RequestedAt.IsZero() {
		t.Errorf("collaborateur = %+v", collab)
	}

	pending, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Chloé", LastName: "Tréport", Email: "chloe@example.fr", Role: directory.RoleResponsable, State: directory.StateSubmitted, SIRET: testSIRET, Service: "Comptabilité"}, goodPassword)
	if err != nil {
		t.Fatalf("create a submitted account: %v", err)
	}
	if pending.Identifier != "" || pending.RequestID == "" || pending.State != directory.StateSubmitted {
		t.Errorf("a submitted account gets no identifier: %+v", pending)
	}
	if got, err := store.FindPersonByRequest(ctx, pending.RequestID); err != nil || got.Email != "chloe@example.fr" {
		t.Errorf("find by request: %+v, %v", got, err)
	}

	for _, tc := range []struct {
		name string
		n    directory.NewPerson
		want error
	}{
		{"missing structure", directory.NewPerson{FirstName: "D", LastName: "E", Email: "d@example.fr", Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: otherSIRET}, directory.ErrNotFound},
		{"missing service", directory.NewPerson{FirstName: "D", LastName: "E", Email: "d@example.fr", Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: testSIRET, Service: "Paie"}, directory.ErrNotFound},
		{"mail used", directory.NewPerson{FirstName: "D", LastName: "E", Email: "chloe@example.fr", Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: testSIRET}, directory.ErrConflict},
		{"service required", directory.NewPerson{FirstName: "D", LastName: "E", Email: "d@example.fr", Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: testSIRET}, directory.ErrInvalid},
		{"bad mobile", directory.NewPerson{FirstName: "D", LastName: "E", Email: "d@example.fr", Mobile: "01 23", Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: testSIRET}, directory.ErrInvalid},
	} {
		if _, err := store.CreatePerson(ctx, tc.n, goodPassword); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	agent := mustPerson(t, store, directory.NewPerson{FirstName: "Agnès", LastName: "Tréport", Role: directory.RoleAgent, SIRET: testSIRET, Service: "Comptabilité"})
	if agent.SIRET != "" || agent.Service != "" {
		t.Errorf("an agent belongs to no structure: %+v", agent)
	}
	role := directory.RoleAgent
	if agents, err := store.ListPersons(ctx, directory.PersonFilter{Role: &role}); err != nil || len(agents) != 1 || agents[0].Identifier != "agnes.treport-px" {
		t.Errorf("agents = %+v, %v", agents, err)
	}
	siret := testSIRET
	if members, err := store.ListPersons(ctx, directory.PersonFilter{SIRET: &siret}); err != nil || len(members) != 3 {
		t.Errorf("accounts of the structure = %d, %v; want 3", len(members), err)
	}

	// A failed creation gives its identifier back: the next d.e is d.e-px.
	if p := mustPerson(t, store, directory.NewPerson{FirstName: "D", LastName: "E", Role: directory.RoleAdministrateur, SIRET: testSIRET}); p.Identifier != "d.e-px" {
		t.Errorf("identifier after failed attempts = %q, want d.e-px", p.Identifier)
	}
}

func TestCreatePersonListsEveryProblem(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	_, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: " ", LastName: "123", Email: "nope", Role: "chef", State: directory.StateActive}, "court")
	var ie *directory.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *InvalidError", err)
	}
	fields := map[string]int{}
	for _, p := range ie.Problems {
		fields[p.Field]++
	}
	if fields["firstName"] != 1 {
		t.Errorf("an empty first name is one problem, not %d: %v", fields["firstName"], ie.Problems)
	}
	for _, f := range []string{"firstName", "lastName", "email", "role", "siret", "password"} {
		if fields[f] == 0 {
			t.Errorf("no problem reported for %s in %v", f, ie.Problems)
		}
	}
	if fields["password"] < 3 {
		t.Errorf("every broken password rule is listed: got %d in %v", fields["password"], ie.Problems)
	}
	if list, err := store.ListPersons(ctx, directory.PersonFilter{}); err != nil || len(list) != 0 {
		t.Errorf("nothing is created: %v, %v", list, err)
	}
}

// The guide's examples, on a directory of their own so that no other test
// takes the plain identifiers first.
func TestIdentifiersFromTheGuide(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	store := slapdtest.OpenStore(t, slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv)))
	mustStructure(t, store, testSIRET)
	for _, tc := range []struct{ first, last, want string }{
		{"Marie", "Martin", "marie.martin-px"},
		{"Cathy", "Noël", "cathy.noel-px"},
		{"Sylvie", "d'Alembert", "sylvie.dalembert-px"},
		{"Benjamin", "Petit-Silva", "benjamin.petit-silva-px"},
		{"Michel", "de la Bruyère", "michel.de-la-bruyere-px"},
		{"Marie", "Martin", "marie.martin2-px"},
		{"MARIE", "MARTIN", "marie.martin3-px"},
	} {
		p := mustPerson(t, store, directory.NewPerson{FirstName: tc.first, LastName: tc.last, Role: directory.RoleAdministrateur, SIRET: testSIRET})
		if p.Identifier != tc.want {
			t.Errorf("%s %s: identifier %q, want %q", tc.first, tc.last, p.Identifier, tc.want)
		}
	}
	// An identifier is never given twice, even after its account is gone.
	if err := store.DeletePerson(ctx, "marie.martin3-px"); err != nil {
		t.Fatal(err)
	}
	if p := mustPerson(t, store, directory.NewPerson{FirstName: "Marie", LastName: "Martin", Role: directory.RoleAdministrateur, SIRET: testSIRET}); p.Identifier != "marie.martin4-px" {
		t.Errorf("after a deletion: %q, want marie.martin4-px", p.Identifier)
	}
}

func TestHomonymsCreatedAtTheSameMoment(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "A", "B")
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := store.CreatePerson(ctx, directory.NewPerson{
				FirstName: "Homonyme", LastName: "Simultané", Email: fmt.Sprintf("h%d@example.fr", i),
				Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: testSIRET, Service: []string{"A", "B"}[i%2],
			}, goodPassword)
			errs[i] = err
			if p != nil {
				ids[i] = p.Identifier
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("creation %d failed: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Errorf("identifier %q given twice", ids[i])
		}
		seen[ids[i]] = true
	}
	if !seen["homonyme.simultane-px"] {
		t.Errorf("no account got the plain identifier: %v", ids)
	}
}

func TestHostileInputIsLiteral(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	hostile := []string{`a*`, `*)(uid=*`, `,+"\<>;`, ` #lead`, `trail `, `x\00y`}
	mustStructure(t, store, testSIRET, hostile...)
	services, err := store.ListServices(ctx, testSIRET)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sv := range services {
		names = append(names, sv.Name)
	}
	for _, h := range hostile {
		want := h
		if want == "trail " || want == " #lead" {
			want = h[:0] + map[string]string{"trail ": "trail", " #lead": "#lead"}[h] // names are trimmed
		}
		if !slices.Contains(names, want) {
			t.Errorf("service %q missing from %q", want, names)
		}
	}
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Zoé", LastName: "Étoile", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: `,+"\<>;`})
	if p.Service != `,+"\<>;` {
		t.Errorf("service read back %q", p.Service)
	}
	mustPerson(t, store, directory.NewPerson{FirstName: "Yves", LastName: "Astre", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: `*)(uid=*`})
	for _, q := range []string{"*", "a*", "*)(uid=*", "zoe.etoile-px)(uid=*", `\2a`} {
		if _, err := store.FindPerson(ctx, q); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("FindPerson(%q) = %v, want ErrNotFound", q, err)
		}
		if _, err := store.Authenticate(ctx, q, goodPassword); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q) = %v, want ErrInvalidCredentials", q, err)
		}
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"*", 0}, {"zoe", 1}, {"*)(uid=*", 0}, {"étoile", 1}, {"-px", 2}} {
		q := tc.query
		list, err := store.ListPersons(ctx, directory.PersonFilter{Query: &q})
		if err != nil || len(list) != tc.want {
			t.Errorf("ListPersons(query %q) = %d accounts, %v; want %d", q, len(list), err, tc.want)
		}
	}
	inService := `*)(uid=*`
	siret := testSIRET
	if list, err := store.ListPersons(ctx, directory.PersonFilter{SIRET: &siret, Service: &inService}); err != nil || len(list) != 1 || list[0].Identifier != "yves.astre-px" {
		t.Errorf("ListPersons(service %q) = %+v, %v", inService, list, err)
	}
}

func TestServiceRenameMovesItsAccounts(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Compta")
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Rémi", LastName: "Renom", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Compta"})
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	if err := store.RenameService(ctx, testSIRET, "Compta", "Comptabilité"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	got, err := store.FindPerson(ctx, p.Identifier)
	if err != nil || got.Service != "Comptabilité" || !got.HasProfile("ficoba", "consultation") {
		t.Errorf("after rename: %+v, %v", got, err)
	}
	if members, err := store.ProfileMembers(ctx, "ficoba", "consultation"); err != nil || !slices.Equal(members, []string{p.Identifier}) {
		t.Errorf("profile members after rename: %v, %v", members, err)
	}
	// DGFiP applications read the service's DN in apexService: refint updates it.
	_, newServiceDN, _ := strings.Cut(findDN(t, store, srv, eqFilter("uid", p.Identifier)), ",")
	if !strings.HasPrefix(newServiceDN, "ou=Comptabilité,") {
		t.Fatalf("the account lies in %s", newServiceDN)
	}
	waitFor(t, "apexService after rename", func() bool {
		return findDN(t, store, srv, "(&"+eqFilter("uid", p.Identifier)+eqFilter("apexService", newServiceDN)+")") != ""
	})
	if err := store.DeleteService(ctx, testSIRET, "Comptabilité"); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("delete a service with accounts: %v, want ErrConflict", err)
	}
}

func TestHabilitationsAndMemberOf(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Hélène", LastName: "Habile", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "Bis"}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("second application ficoba: %v, want ErrConflict", err)
	}
	if err := store.CreateApplication(ctx, directory.Application{ID: "rollback", Name: "R", Profiles: []string{"ok", "Bad Profile"}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("bad profile: %v", err)
	}
	if _, err := store.FindApplication(ctx, "rollback"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a refused application leaves nothing: %v", err)
	}
	apps, err := directory.Consultation{Store: store}.Applications(ctx, anAgent)
	if err != nil || len(apps) != 1 || !slices.Equal(apps[0].Profiles, []string{"consultation", "gestion"}) {
		t.Fatalf("applications = %+v, %v", apps, err)
	}

	for range 2 { // granting twice is the same as once
		if err := store.AddHabilitation(ctx, p.Identifier, "ficoba", "gestion"); err != nil {
			t.Fatalf("grant: %v", err)
		}
	}
	if err := store.AddHabilitation(ctx, p.Identifier, "ficoba", "missing"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("grant a missing profile: %v, want ErrNotFound", err)
	}
	got, _ := store.FindPerson(ctx, p.Identifier)
	if want := []directory.Habilitation{{Application: "ficoba", Profile: "gestion"}}; !slices.Equal(got.Habilitations, want) {
		t.Errorf("habilitations (memberOf) = %v, want %v", got.Habilitations, want)
	}
	if err := store.RemoveHabilitation(ctx, p.Identifier, "ficoba", "gestion"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := store.RemoveHabilitation(ctx, p.Identifier, "ficoba", "gestion"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("revoke twice: %v, want ErrNotFound", err)
	}
	if got, _ := store.FindPerson(ctx, p.Identifier); len(got.Habilitations) != 0 {
		t.Errorf("habilitations after revoke = %v", got.Habilitations)
	}

	// A deleted account leaves no dangling member (refint, in the background).
	if err := store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	if err := store.DeletePerson(ctx, p.Identifier); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no member left after the account was deleted", func() bool {
		members, err := store.ProfileMembers(ctx, "ficoba", "consultation")
		return err == nil && len(members) == 0
	})
}

// waitFor polls cond until it holds: refint works in the background. The
// minute is a safety net, far above what a loaded machine needs.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestUpdatePersonAndStateSwap(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Ugo", LastName: "Update", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "+33 7 81 22 33 44"})
	other := mustPerson(t, store, directory.NewPerson{FirstName: "Olga", LastName: "Other", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	last, noMobile := "Mis-à-jour", ""
	got, err := store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{LastName: &last, Mobile: &noMobile})
	if err != nil {
		t.Fatal(err)
	}
	if got.Identifier != p.Identifier || got.LastName != last || got.Mobile != "" {
		t.Errorf("after update: %+v (the identifier never changes)", got)
	}
	if _, err := store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Email: &other.Email}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("take another account's mail: %v, want ErrConflict", err)
	}
	bad := "pas-un-mail"
	if _, err := store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Email: &bad, LastName: &last}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("bad mail: %v, want ErrInvalid", err)
	}
	if err := store.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if err := store.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("second disable from active: %v, want ErrConflict", err)
	}
	if _, err := store.Authenticate(ctx, p.Identifier, goodPassword); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("a disabled account signs in: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Anna", LastName: "Auth", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if got, err := store.Authenticate(ctx, p.Identifier, goodPassword); err != nil || got.Identifier != p.Identifier {
		t.Errorf("right password: %+v, %v", got, err)
	}
	for _, tc := range []struct{ name, id, password string }{
		{"wrong password", p.Identifier, "Wrong-Password-42!"},
		{"unknown identifier", "nobody.here-px", goodPassword},
		{"empty password", p.Identifier, ""},
	} {
		if _, err := store.Authenticate(ctx, tc.id, tc.password); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("%s: %v, want ErrInvalidCredentials", tc.name, err)
		}
	}
	submitted, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Sam", LastName: "Submitted", Email: "sam@example.fr", Role: directory.RoleAdministrateur, State: directory.StateSubmitted, SIRET: testSIRET}, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	// slapd itself refuses the bind of an account that is not active.
	conn := dial(t, srv.URL)
	dn := findDN(t, store, srv, eqFilter("apexRequestId", submitted.RequestID))
	if err := conn.Bind(dn, goodPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind of a submitted account: %v, want 49", err)
	}
}

func TestLockoutAfterRepeatedFailures(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Luc", LastName: "Lock", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	for range 10 { // ppolicy's pwdMaxFailure
		if _, err := store.Authenticate(ctx, p.Identifier, "Wrong-Password-42!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := store.Authenticate(ctx, p.Identifier, goodPassword); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("right password after 10 failures: %v, want ErrAccountLocked", err)
	}
	if got, _ := store.FindPerson(ctx, p.Identifier); !got.Locked {
		t.Errorf("Locked = false for a locked account")
	}
}

func TestPasswordHistoryCountsTheLastTen(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	pw := func(i int) string { return fmt.Sprintf("Historique-%02d!", i) }
	p, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Hugo", LastName: "Histoire", Email: "hugo@example.fr", Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: testSIRET}, pw(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if err := store.SetPassword(ctx, p.Identifier, pw(i)); err != nil {
			t.Fatalf("set P%d: %v", i, err)
		}
	}
	for i := 1; i <= 10; i++ {
		if err := store.SetPassword(ctx, p.Identifier, pw(i)); !errors.Is(err, directory.ErrPasswordInHistory) {
			t.Errorf("reuse P%d (among the last 10, P10 current): %v, want ErrPasswordInHistory", i, err)
		}
	}
	if err := store.SetPassword(ctx, p.Identifier, pw(0)); err != nil {
		t.Errorf("P0 is the 11th: accepted again, got %v", err)
	}
	if _, err := store.Authenticate(ctx, p.Identifier, pw(0)); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
	if err := store.SetPassword(ctx, p.Identifier, "sans-majuscule-12"); !errors.Is(err, directory.ErrPasswordPolicy) {
		t.Errorf("a password breaking the guide's rules: %v, want ErrPasswordPolicy", err)
	}
}

func slapdtestStore(t *testing.T) (*directory.Store, *slapd.Server) {
	t.Helper()
	return slapdtest.NewStore(t)
}
