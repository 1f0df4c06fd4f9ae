package directory_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

func TestSortKeyOrdersFrenchNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in []string }{
		{[]string{"Edgar", "Élodie", "Émile", "Zoé"}},
		{[]string{"Abel", "Ébert", "Eckert"}},
		{[]string{"de la Fontaine", "Delafontaine2", "Dupont"}},
		{[]string{"Martin", "Martinez"}},
		{[]string{"Oeuvray", "O'Neil", "Ozouf"}},
	} {
		keys := make([]string, len(tc.in))
		for i, n := range tc.in {
			keys[i] = directory.SortKey(n)
		}
		if !slices.IsSorted(keys) {
			t.Errorf("%q sort as %q", tc.in, keys)
		}
	}
	for in, want := range map[string]string{
		"Élodie":              "elodie",
		"Œuvray":              "oeuvray",
		"de la Fontaine":      "delafontaine",
		"O’Neil-Smith":        "oneilsmith",
		"*)(uid=*":            "uid",
		"Étude Dupont & Fils": "etudedupontfils",
		"&":                   "",
	} {
		if got := directory.SortKey(in); got != want {
			t.Errorf("SortKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := directory.SortKey("Martin", "Élodie"); got != "martin elodie" {
		t.Errorf("SortKey of two parts = %q", got)
	}
}

// listNames are the names of a page, as « First Last » (the mail while invited).
func listNames(page *directory.AccountPage) []string {
	var names []string
	for _, p := range page.Accounts {
		if p.State == directory.StateInvited {
			names = append(names, p.Email)
		} else {
			names = append(names, p.FirstName+" "+p.LastName)
		}
	}
	return names
}

// The accounts an administrator manages, against the real slapd: sorted
// by slapd on the sort key (« Élodie » between « Edgar » and « Émile », not
// after « Zoé » as sn's own ordering rule puts it), searched with accents
// and case aside, paged with totals; hostile searches find nothing and
// break nothing.
func TestManagedAccountsSortSearchAndPage(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	people := [][2]string{{"Zoé", "Martin"}, {"Émile", "Martin"}, {"Edgar", "Martin"}, {"Élodie", "Martin"},
		{"Anne", "Zola"}, {"Éric", "Ébert"}, {"Bob", "de la Fontaine"}, {"Carl", "Delafontaine"}, {"Dora", "Œuvray"}, {"Fanny", "O'Neil"}}
	created := map[string]*directory.Person{}
	for i, n := range people {
		created[n[0]] = mustPerson(t, store, directory.NewPerson{FirstName: n[0], LastName: n[1], Email: "liste" + string(rune('a'+i)) + "@example.fr",
			Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: []string{"Accueil", "Paie"}[i%2]})
	}
	mustDisabled(t, store, directory.NewPerson{FirstName: "Hugo", LastName: "Hors", Email: "hugo.hors@example.fr", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Paie"})
	mustInvite(t, store, "invitee.liste@example.fr", directory.RoleCollaborateur, "Accueil")
	acc := directory.Accounts{Store: store}

	all, err := acc.Managed(ctx, admin, directory.AccountQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Bob de la Fontaine", "Carl Delafontaine", "Éric Ébert", "Hugo Hors", "invitee.liste@example.fr",
		"Edgar Martin", "Élodie Martin", "Émile Martin", "Zoé Martin", "Dora Œuvray", "Fanny O'Neil", "Anne Zola"}
	if got := listNames(all); !slices.Equal(got, want) || all.Total != len(want) || all.Page != 1 || all.Size != directory.DefaultListSize {
		t.Errorf("all: total %d, page %d, size %d\n got %q\nwant %q", all.Total, all.Page, all.Size, got, want)
	}
	for _, p := range all.Accounts {
		if p.Identifier == admin.Identifier || p.Mobile != "" {
			t.Errorf("a list shows the administrator or a mobile: %+v", p)
		}
	}

	// Paging: first, middle, last (short), past the end (empty, with the total).
	for _, tc := range []struct {
		page, size int
		want       []string
	}{
		{1, 5, want[:5]},
		{2, 5, want[5:10]},
		{3, 5, want[10:]},
		{4, 5, nil},
		{100000, 200, nil},
		{1, 0, want},    // the default size
		{1, 1000, want}, // at most 200
	} {
		page, err := acc.Managed(ctx, admin, directory.AccountQuery{ListQuery: directory.ListQuery{Page: tc.page, Size: tc.size}})
		if err != nil {
			t.Fatalf("page %d size %d: %v", tc.page, tc.size, err)
		}
		if got := listNames(page); !slices.Equal(got, tc.want) || page.Total != len(want) {
			t.Errorf("page %d size %d: total %d, %q; want %q", tc.page, tc.size, page.Total, got, tc.want)
		}
	}

	for _, tc := range []struct {
		q    directory.AccountQuery
		want []string
	}{
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "élodie"}}, []string{"Élodie Martin"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "ELODIE"}}, []string{"Élodie Martin"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "Elodie"}}, []string{"Élodie Martin"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "martin élodie"}}, []string{"Élodie Martin"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "  Martin  "}}, want[5:9]},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "oeuvray"}}, []string{"Dora Œuvray"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "la fontaine"}}, []string{"Bob de la Fontaine", "Carl Delafontaine"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "listeb@example"}}, []string{"Émile Martin"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: strings.ToUpper(created["Zoé"].Identifier)}}, []string{"Zoé Martin"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "invitee"}}, []string{"invitee.liste@example.fr"}},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "*"}}, want}, // no letter: no criterion
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: "*)(uid=*"}}, nil},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: ")(|(objectClass=*"}}, nil},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: `\2a`}}, nil},
		{directory.AccountQuery{ListQuery: directory.ListQuery{Query: strings.Repeat("é", 500)}}, nil},
		{directory.AccountQuery{State: directory.StateDisabled}, []string{"Hugo Hors"}},
		{directory.AccountQuery{State: directory.StateInvited}, []string{"invitee.liste@example.fr"}},
		{directory.AccountQuery{Role: directory.RoleResponsable}, []string{"Hugo Hors"}},
		{directory.AccountQuery{Role: directory.RoleAdministrateur}, nil}, // not theirs to manage
		{directory.AccountQuery{Service: "Paie", ListQuery: directory.ListQuery{Query: "martin"}}, []string{"Élodie Martin", "Émile Martin"}},
		{directory.AccountQuery{Service: "Inconnu"}, nil},
		{directory.AccountQuery{Service: "*"}, nil},
	} {
		page, err := acc.Managed(ctx, admin, tc.q)
		if err != nil {
			t.Errorf("%+v: %v", tc.q, err)
			continue
		}
		if got := listNames(page); !slices.Equal(got, tc.want) || page.Total != len(tc.want) {
			t.Errorf("%+v: total %d, %q; want %q", tc.q, page.Total, got, tc.want)
		}
	}
	// slapd ends a value at a NUL: invisible characters separate words.
	nul, err1 := acc.Managed(ctx, admin, directory.AccountQuery{ListQuery: directory.ListQuery{Query: "d\x00la"}})
	spaced, err2 := acc.Managed(ctx, admin, directory.AccountQuery{ListQuery: directory.ListQuery{Query: "d la"}})
	if err1 != nil || err2 != nil || !slices.Equal(listNames(nul), listNames(spaced)) || nul.Total == len(want) {
		t.Errorf("a NUL in a search: %q (%v), spaced %q (%v)", listNames(nul), err1, listNames(spaced), err2)
	}
	if _, err := acc.Managed(ctx, admin, directory.AccountQuery{State: "partout"}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("an unknown state: %v, want ErrInvalid", err)
	}
	requests, err := acc.Requests(ctx, admin, directory.ListQuery{})
	if err != nil || requests.Total != 0 {
		t.Errorf("requests: %+v, %v", requests, err)
	}
	invitations, err := acc.Invitations(ctx, admin, directory.ListQuery{})
	if err != nil || invitations.Total != 1 || invitations.Accounts[0].Email != "invitee.liste@example.fr" {
		t.Errorf("invitations: %+v, %v", invitations, err)
	}
}

// Nobody sees beyond their scope, in a page nor in a total: an
// administrator sees the responsables and collaborateurs of their
// structure only, a responsable the collaborateurs of their service, an
// agent the administrators; asking for another structure or service is
// refused; a collaborateur lists nothing.
func TestManagedListsStayInTheirScope(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	mustStructure(t, store, otherSIRET, "Accueil")
	// Mails without digits: the searches below look for SIRETs.
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Email: "adele@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	otherAdmin := mustPerson(t, store, directory.NewPerson{FirstName: "Olga", LastName: "Autre", Email: "olga@example.fr", Role: directory.RoleAdministrateur, SIRET: otherSIRET})
	resp := mustPerson(t, store, directory.NewPerson{FirstName: "Rémi", LastName: "Resp", Email: "remi@example.fr", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Accueil"})
	collab := mustPerson(t, store, directory.NewPerson{FirstName: "Chloé", LastName: "Accueil", Email: "chloe@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	mustPerson(t, store, directory.NewPerson{FirstName: "Paul", LastName: "Paie", Email: "paul@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Paie"})
	mustPerson(t, store, directory.NewPerson{FirstName: "Xavier", LastName: "Ailleurs", Email: "xavier@example.fr", Role: directory.RoleCollaborateur, SIRET: otherSIRET, Service: "Accueil"})
	agent := mustPerson(t, store, directory.NewPerson{FirstName: "Agnès", LastName: "Agent", Email: "agnes@example.fr", Role: directory.RoleAgent})
	acc := directory.Accounts{Store: store}

	for _, tc := range []struct {
		who   string
		actor *directory.Person
		q     directory.AccountQuery
		want  []string
	}{
		{"administrator", admin, directory.AccountQuery{}, []string{"Chloé Accueil", "Paul Paie", "Rémi Resp"}},
		{"administrator, a search for another structure's", admin, directory.AccountQuery{ListQuery: directory.ListQuery{Query: "ailleurs"}}, nil},
		{"administrator, another structure's SIRET as a search", admin, directory.AccountQuery{ListQuery: directory.ListQuery{Query: otherSIRET}}, nil},
		{"other administrator", otherAdmin, directory.AccountQuery{}, []string{"Xavier Ailleurs"}},
		{"responsable", resp, directory.AccountQuery{}, []string{"Chloé Accueil"}},
		{"responsable, own service", resp, directory.AccountQuery{Service: "Accueil"}, []string{"Chloé Accueil"}},
		{"agent", agent, directory.AccountQuery{}, []string{"Adèle Admin", "Olga Autre"}},
		{"agent, one structure", agent, directory.AccountQuery{SIRET: otherSIRET}, []string{"Olga Autre"}},
		{"agent, by SIRET", agent, directory.AccountQuery{ListQuery: directory.ListQuery{Query: otherSIRET[:9]}}, []string{"Olga Autre"}},
		{"agent, by a SIRET's spaced groups", agent, directory.AccountQuery{ListQuery: directory.ListQuery{Query: "732 829 320"}}, []string{"Adèle Admin"}},
	} {
		page, err := acc.Managed(ctx, tc.actor, tc.q)
		if err != nil {
			t.Errorf("%s: %v", tc.who, err)
			continue
		}
		if got := listNames(page); !slices.Equal(got, tc.want) || page.Total != len(tc.want) {
			t.Errorf("%s: total %d, %q; want %q", tc.who, page.Total, got, tc.want)
		}
	}
	for _, tc := range []struct {
		who   string
		actor *directory.Person
		q     directory.AccountQuery
	}{
		{"administrator, another structure", admin, directory.AccountQuery{SIRET: otherSIRET}},
		{"responsable, another service", resp, directory.AccountQuery{Service: "Paie"}},
		{"responsable, another structure", resp, directory.AccountQuery{SIRET: otherSIRET}},
		{"collaborateur", collab, directory.AccountQuery{}},
		{"nobody", nil, directory.AccountQuery{}},
		{"a disabled administrator", &directory.Person{Identifier: admin.Identifier, Role: directory.RoleAdministrateur, SIRET: testSIRET, State: directory.StateDisabled}, directory.AccountQuery{}},
	} {
		if page, err := acc.Managed(ctx, tc.actor, tc.q); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("%s: %+v, %v; want ErrForbidden", tc.who, page, err)
		}
	}
	names, err := directory.Consultation{Store: store}.StructureNames(ctx, admin, []string{testSIRET, otherSIRET, "12345", ""})
	if err != nil || len(names) != 1 || names[testSIRET] != "Étude "+testSIRET {
		t.Errorf("structure names to an administrator: %v, %v", names, err)
	}
	names, err = directory.Consultation{Store: store}.StructureNames(ctx, agent, []string{testSIRET, otherSIRET, testSIRET})
	if err != nil || len(names) != 2 {
		t.Errorf("structure names to an agent: %v, %v", names, err)
	}
}

// The agents' list of structures: by name, accents aside, searched by name
// or SIRET, paged.
func TestStructuresPage(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	for _, st := range []directory.Structure{
		{SIRET: testSIRET, Name: "Étude Zola", Category: "Notaire"},
		{SIRET: otherSIRET, Name: "Banque Eckert", Category: "Banque"},
		{SIRET: "55203253400646", Name: "Caisse Émeraude & Fils", Category: "Caisse de retraite"},
	} {
		if err := store.CreateStructure(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	read := directory.Consultation{Store: store}
	names := func(p *directory.StructurePage) []string {
		var out []string
		for _, st := range p.Structures {
			out = append(out, st.Name)
		}
		return out
	}
	for _, tc := range []struct {
		q    directory.ListQuery
		want []string
	}{
		{directory.ListQuery{}, []string{"Banque Eckert", "Caisse Émeraude & Fils", "Étude Zola"}},
		{directory.ListQuery{Query: "etude"}, []string{"Étude Zola"}},
		{directory.ListQuery{Query: "ÉMERAUDE & fils"}, []string{"Caisse Émeraude & Fils"}},
		{directory.ListQuery{Query: "443061841"}, []string{"Banque Eckert"}},
		{directory.ListQuery{Query: "*)(objectClass=*"}, nil},
		{directory.ListQuery{Size: 2, Page: 2}, []string{"Étude Zola"}},
	} {
		page, err := read.StructuresPage(ctx, anAgent, tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		total := len(tc.want)
		if tc.q.Size == 2 {
			total = 3
		}
		if got := names(page); !slices.Equal(got, tc.want) || page.Total != total {
			t.Errorf("%+v: total %d, %q; want %q", tc.q, page.Total, got, tc.want)
		}
	}
}

// slapd keeps a sort until its connection closes, 5 at most per connection
// and 32 on the whole server: each sorted page runs on a connection of its
// own, so a long series of pages never meets « Other sort requests already
// in progress ».
func TestSortedPagesNeverExhaustSlapdSorts(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET)
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	acc := directory.Accounts{Store: store}
	for i := range 40 {
		if _, err := acc.Managed(ctx, anAgent, directory.AccountQuery{ListQuery: directory.ListQuery{Page: 1 + i%3, Size: 1}}); err != nil {
			t.Fatalf("sorted page %d: %v", i+1, err)
		}
		if _, err := acc.Requests(ctx, admin, directory.ListQuery{}); err != nil {
			t.Fatalf("requests %d: %v", i+1, err)
		}
	}
}

// An export hands every account of the structure, with its habilitations
// and its last sign-in, to its administrators only; an
// application's export hands one row per profile held, with the
// structure's name, to agents only. Each is an audit line.
func TestExports(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	mustStructure(t, store, otherSIRET)
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	otherAdmin := mustPerson(t, store, directory.NewPerson{FirstName: "Olga", LastName: "Autre", Role: directory.RoleAdministrateur, SIRET: otherSIRET})
	zoe := mustPerson(t, store, directory.NewPerson{FirstName: "Zoé", LastName: "Martin", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	eli := mustPerson(t, store, directory.NewPerson{FirstName: "Élodie", LastName: "Martin", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Accueil"})
	mustInvite(t, store, "invitee.export@example.fr", directory.RoleCollaborateur, "Accueil")
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct{ who, profile string }{{zoe.Identifier, "consultation"}, {zoe.Identifier, "gestion"}, {eli.Identifier, "gestion"}, {otherAdmin.Identifier, "consultation"}} {
		if err := store.AddHabilitation(ctx, h.who, "ficoba", h.profile); err != nil {
			t.Fatal(err)
		}
	}
	// A bind with the password: slapd records it (authTimestamp).
	before := time.Now().Add(-time.Second)
	if _, err := store.Authenticate(ctx, zoe.Identifier, goodPassword); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	var signedIn time.Time
	acc := directory.Accounts{Store: store}

	var rows []string
	err := acc.ExportAccounts(ctx, admin, testSIRET, func(a *directory.Person) error {
		row := a.FirstName + " " + a.LastName + " " + a.Email
		for _, h := range a.Habilitations {
			row += " " + h.Application + "/" + h.Profile
		}
		if !a.LastSignIn.IsZero() {
			row += " signed in"
			signedIn = a.LastSignIn
		}
		rows = append(rows, row)
		return nil
	})
	want := []string{"  invitee.export@example.fr", "Adèle Admin " + admin.Email, "Zoé Martin " + zoe.Email + " ficoba/consultation ficoba/gestion signed in",
		"Élodie Martin " + eli.Email + " ficoba/gestion"}
	slices.Sort(rows) // in the directory's order
	if err != nil || !slices.Equal(rows, want) {
		t.Errorf("export: %v\n got %q\nwant %q", err, rows, want)
	}
	if signedIn.Before(before) || signedIn.After(after) {
		t.Errorf("last sign-in %v, not between %v and %v", signedIn, before, after)
	}
	for _, actor := range []*directory.Person{otherAdmin, eli, zoe, anAgent, nil} {
		called := false
		if err := acc.ExportAccounts(ctx, actor, testSIRET, func(*directory.Person) error { called = true; return nil }); !errors.Is(err, directory.ErrForbidden) || called {
			t.Errorf("export by %+v: %v, rows %v", actor, err, called)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := acc.ExportAccounts(ctx, admin, testSIRET, func(*directory.Person) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an export stops at its writer's first error: %v after %d rows", err, n)
	}

	rows = nil
	err = acc.ExportHabilitations(ctx, anAgent, "ficoba", func(app *directory.Application, h *directory.ExportedHabilitation) error {
		rows = append(rows, app.Name+" "+h.Profile+" "+h.Account.FirstName+" "+h.StructureName)
		return nil
	})
	want = []string{"FICOBA consultation Olga Étude " + otherSIRET, "FICOBA consultation Zoé Étude " + testSIRET,
		"FICOBA gestion Zoé Étude " + testSIRET, "FICOBA gestion Élodie Étude " + testSIRET}
	slices.Sort(rows)
	if err != nil || !slices.Equal(rows, want) {
		t.Errorf("habilitations: %v\n got %q\nwant %q", err, rows, want)
	}
	for _, actor := range []*directory.Person{admin, zoe, nil} {
		if err := acc.ExportHabilitations(ctx, actor, "ficoba", func(*directory.Application, *directory.ExportedHabilitation) error { return nil }); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("habilitations by %+v: %v", actor, err)
		}
	}
	if err := acc.ExportHabilitations(ctx, anAgent, "inconnue", func(*directory.Application, *directory.ExportedHabilitation) error { return nil }); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an unknown application: %v", err)
	}
}

// A directory written before apexSortKey, migrated by two instances at
// once: every person and structure gets its key, and the lists sort them.
func TestMigrateSortKeys(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	srv := slapdtest.Shared(t)
	mustStructure(t, a, testSIRET, "Accueil")
	admin := mustPerson(t, a, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	mustPerson(t, a, directory.NewPerson{FirstName: "Zoé", LastName: "Martin", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	mustPerson(t, a, directory.NewPerson{FirstName: "Élodie", LastName: "Martin", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	mustInvite(t, a, "invitee.migration@example.fr", directory.RoleCollaborateur, "Accueil")
	conn := dial(t, srv.URL)
	if err := conn.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	keyed, err := search(conn, a.BaseDN(), "(apexSortKey=*)", "apexSortKey")
	if err != nil || len(keyed) != 5 {
		t.Fatalf("keys written with the entries: %d, %v", len(keyed), err)
	}
	for _, e := range keyed {
		m := ldap.NewModifyRequest(e.DN, nil)
		m.Delete("apexSortKey", nil)
		if err := conn.Modify(m); err != nil {
			t.Fatal(err)
		}
	}
	migrateTogether(t, a, b)
	got := map[string]bool{}
	entries, err := search(conn, a.BaseDN(), "(apexSortKey=*)", "apexSortKey")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got[e.GetAttributeValue("apexSortKey")] = true
	}
	for _, k := range []string{"etude" + testSIRET, "admin adele", "martin zoe", "martin elodie", "invitee.migration@example.fr"} {
		if !got[k] {
			t.Errorf("key %q missing after the migration: %v", k, got)
		}
	}
	page, err := directory.Accounts{Store: a}.Managed(ctx, admin, directory.AccountQuery{})
	if names := listNames(page); err != nil || !slices.Equal(names, []string{"invitee.migration@example.fr", "Élodie Martin", "Zoé Martin"}) {
		t.Errorf("sorted after the migration: %q, %v", names, err)
	}
}

// A directory written before displayName, migrated by two instances at
// once: every person with a name gets « Prénom Nom » (a pending
// invitation shows its address until the form gives the names).
func TestMigrateDisplayNames(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	srv := slapdtest.Shared(t)
	mustStructure(t, a, testSIRET, "Accueil")
	mustPerson(t, a, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	mustPerson(t, a, directory.NewPerson{FirstName: "Jean-Luc", LastName: "D'Arc", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	mustInvite(t, a, "invitee.display@example.fr", directory.RoleCollaborateur, "Accueil")
	conn := dial(t, srv.URL)
	if err := conn.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	named, err := search(conn, a.BaseDN(), "(&(displayName=*)(givenName=*))", "displayName")
	if err != nil || len(named) != 2 {
		t.Fatalf("display names written with the entries: %d, %v", len(named), err)
	}
	for _, e := range named {
		m := ldap.NewModifyRequest(e.DN, nil)
		m.Delete("displayName", nil)
		if err := conn.Modify(m); err != nil {
			t.Fatal(err)
		}
	}
	migrateTogether(t, a, b)
	entries, err := search(conn, a.BaseDN(), "(&(displayName=*)(givenName=*))", "displayName")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.GetAttributeValues("displayName")...)
	}
	slices.Sort(got)
	if want := []string{"Adèle Admin", "Jean-Luc D'Arc"}; !slices.Equal(got, want) {
		t.Errorf("display names after the migration: %q, want %q", got, want)
	}
}

// migrateTogether runs the migrations of every store at the same moment,
// as apexd instances started together do.
func migrateTogether(t *testing.T, stores ...*directory.Store) {
	t.Helper()
	errs := make(chan error, len(stores))
	for _, s := range stores {
		go func() { errs <- s.Migrate(ctx, nil, nil) }()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Why the lists sort on apexSortKey: slapd's own ordering rule for names
// (caseIgnoreOrderingMatch: case folded, then bytes of UTF-8) puts every
// accented initial after « z ». Sorted by givenName, « Élodie » and
// « Émile » come after « Zoé ».
func TestSlapdOrderingRulePutsAccentsLast(t *testing.T) {
	t.Parallel()
	store, srv := slapdtestStore(t)
	mustStructure(t, store, testSIRET)
	for _, first := range []string{"Zoé", "Émile", "Edgar", "Élodie"} {
		mustPerson(t, store, directory.NewPerson{FirstName: first, LastName: "Ordre", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	}
	conn := dial(t, srv.URL)
	if err := conn.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	sort := ldap.NewControlServerSideSortingWithSortKeys([]*ldap.SortKey{{AttributeType: "givenName", MatchingRule: "caseIgnoreOrderingMatch"}})
	res, err := conn.Search(ldap.NewSearchRequest(store.BaseDN(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=apexPerson)", []string{"givenName"}, []ldap.Control{sort}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Entries {
		got = append(got, e.GetAttributeValue("givenName"))
	}
	if want := []string{"Edgar", "Zoé", "Élodie", "Émile"}; !slices.Equal(got, want) {
		t.Errorf("slapd's order: %q, want %q", got, want)
	}
}

// An export of many pages, read by a writer that keeps no row for long,
// hands each account once, habilitated ones (dynlist at work on each page)
// as the others.
func TestExportOfManyPagesHandsEachAccountOnce(t *testing.T) {
	t.Parallel()
	store, srv := slapdtestStore(t)
	admin := manyAccounts(t, store, srv, 3000)
	acc := directory.Accounts{Store: store}
	for round := range 5 {
		seen := map[string]int{}
		err := acc.ExportAccounts(ctx, admin, testSIRET, func(a *directory.Person) error {
			seen[a.LastName]++
			if len(a.Habilitations) != 1 && a.LastName != "Admin" {
				return fmt.Errorf("%s without its habilitation", a.LastName)
			}
			return nil
		})
		if err != nil || len(seen) != 3001 {
			t.Fatalf("export %d: %d accounts, %v", round+1, len(seen), err)
		}
		for name, n := range seen {
			if n != 1 {
				t.Fatalf("export %d: %s %d times", round+1, name, n)
			}
		}
	}
}

// manyAccounts adds an administrator and n submitted requests of
// administrators to testSIRET, the requests as slapd's root (no
// password: they are only read), each habilitated to ficoba.
func manyAccounts(t *testing.T, store *directory.Store, srv *slapd.Server, n int) *directory.Person {
	t.Helper()
	mustStructure(t, store, testSIRET)
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Email: "adele@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var members []string
	for i := range n {
		last := fmt.Sprintf("Nom%05d", i)
		req := ldap.NewAddRequest(fmt.Sprintf("apexRequestId=page%05d,ou=%s,ou=structures,%s", i, testSIRET, store.BaseDN()), nil)
		req.Attribute("objectClass", []string{"inetOrgPerson", "apexPerson"})
		req.Attribute("cn", []string{"Prénom " + last})
		req.Attribute("sn", []string{last})
		req.Attribute("mail", []string{fmt.Sprintf("page%05d@example.fr", i)})
		req.Attribute("apexRole", []string{"administrateur"})
		req.Attribute("apexAccountState", []string{"submitted"})
		req.Attribute("apexSiret", []string{testSIRET})
		req.Attribute("apexRequestId", []string{fmt.Sprintf("page%05d", i)})
		req.Attribute("apexSortKey", []string{directory.SortKey(last, "Prénom")})
		if err := conn.Add(req); err != nil {
			t.Fatal(err)
		}
		members = append(members, req.DN)
	}
	profile := ldap.NewModifyRequest("cn=consultation,ou=ficoba,ou=applications,"+store.BaseDN(), nil)
	profile.Add("member", members)
	if err := conn.Modify(profile); err != nil {
		t.Fatal(err)
	}
	return admin
}

// An export cut by the directory after its first page (slapd restarted)
// fails, and hands no account twice: a stream is never started again once
// its writer has rows, as a list's search is.
func TestExportCutMidwayIsNotStartedAgain(t *testing.T) {
	t.Parallel()
	srv := slapdtest.StartLocal(t) // killed and started again
	store := slapdtest.OpenStore(t, slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv)))
	admin := manyAccounts(t, store, srv, 600) // 3 pages
	seen := map[string]int{}
	restarted := false
	err := directory.Accounts{Store: store}.ExportAccounts(ctx, admin, testSIRET, func(a *directory.Person) error {
		seen[a.LastName]++
		if len(seen) == 250 && !restarted {
			restarted = true
			srv.Kill()
			srv = slapdtest.Restart(t, srv)
		}
		return nil
	})
	if !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("an export cut midway: %v, want ErrUnavailable", err)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s handed %d times", name, n)
		}
	}
	if len(seen) != 250 {
		t.Errorf("%d accounts handed, want the first page's 250", len(seen))
	}
}
