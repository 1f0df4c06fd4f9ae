package directory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// What the LDAP clients of DGFiP applications meet, decided in the
// directory (the recipes for Apache httpd and Node are tested in
// directory/apexcontainer).

// A client that forgot its credentials gets an error at the bind, not a
// bind that succeeds and searches that find nothing ("no such user").
func TestAnonymousIsRefused(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Shared(t)

	conn := dial(t, srv.URL)
	err := conn.UnauthenticatedBind("")
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInappropriateAuthentication) {
		t.Errorf("anonymous bind: %v, want 48 (inappropriate authentication)", err)
	}

	// Without any bind, nothing is served either, not even the root DSE.
	conn = dial(t, srv.URL)
	_, err = conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Errorf("search without a bind: %v, want 53 (authentication required)", err)
	}
	// A DN without a password is no way around it.
	conn = dial(t, srv.URL)
	if err := conn.UnauthenticatedBind(srv.ServiceDN); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Errorf("bind with a DN and no password: %v, want 53", err)
	}
}

// An application's plain search (no paging) returns every match: a search
// on (memberOf=<profile>) cannot be paged safely with dynlist, so the 500
// of slapd's default soft limit would cut it.
func TestApplicationSearchHasNoSizeLimit(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	clientDN, err := store.CreateClient(ctx, fmt.Sprintf("sizes-%d", time.Now().UnixNano()), "Client-Secret-2026!")
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const n = 520
	for i := range n {
		req := ldap.NewAddRequest(fmt.Sprintf("uid=bulk%d,ou=agents,%s", i, store.BaseDN()), nil)
		req.Attribute("objectClass", []string{"inetOrgPerson"})
		req.Attribute("cn", []string{"Bulk"})
		req.Attribute("sn", []string{"Bulk"})
		if err := root.Add(req); err != nil {
			t.Fatalf("add: %v", err)
		}
	}
	conn := dial(t, srv.URL)
	if err := conn.Bind(clientDN, "Client-Secret-2026!"); err != nil {
		t.Fatal(err)
	}
	res, err := conn.Search(ldap.NewSearchRequest("ou=agents,"+store.BaseDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != n {
		t.Fatalf("the application's search: %d entries, %v; want %d", entries(res), err, n)
	}
}

func entries(res *ldap.SearchResult) int {
	if res == nil {
		return 0
	}
	return len(res.Entries)
}

// Group checks without a compare on memberOf (which dynlist computes for
// searches only: slapd answers 16 to a compare): the application compares
// the profile's member with the person's DN, as Apache's
// `Require ldap-group` does, and it holds for a DN that is not ASCII.
func TestApplicationComparesProfileMembers(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Comptabilité & Élections")
	if err := store.CreateApplication(ctx, directory.Application{ID: "groupes", Name: "Groupes", Profiles: []string{"lecture"}}); err != nil {
		t.Fatal(err)
	}
	clientDN, err := store.CreateClient(ctx, fmt.Sprintf("groupes-%d", time.Now().UnixNano()), "Client-Secret-2026!")
	if err != nil {
		t.Fatal(err)
	}
	in := mustPerson(t, store, directory.NewPerson{FirstName: "Élodie", LastName: "Noël", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité & Élections"})
	out := mustPerson(t, store, directory.NewPerson{FirstName: "Paul", LastName: "Dehors", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité & Élections"})
	if err := store.AddHabilitation(ctx, in.Identifier, "groupes", "lecture"); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, srv.URL)
	if err := conn.Bind(clientDN, "Client-Secret-2026!"); err != nil {
		t.Fatal(err)
	}
	profile := "cn=lecture,ou=groupes,ou=applications," + store.BaseDN()
	for _, p := range []struct {
		who  *directory.Person
		want bool
	}{{in, true}, {out, false}} {
		// The DN as the application's search by uid gives it.
		found, err := search(conn, store.BaseDN(), eqFilter("uid", p.who.Identifier), "1.1")
		if err != nil || len(found) != 1 {
			t.Fatalf("search %s: %v", p.who.Identifier, err)
		}
		ok, err := conn.Compare(profile, "member", found[0].DN)
		if err != nil || ok != p.want {
			t.Errorf("compare member of %s with %s: %v, %v; want %v", profile, found[0].DN, ok, err, p.want)
		}
	}
}

// displayName, which LDAP clients show (Apache's logs, applications' user
// lists), holds the person's names: on creation, on a change of names, and
// once the invitation's form gives them.
func TestDisplayName(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	displayName := func(filter string) string {
		t.Helper()
		root, err := srv.DialRoot()
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		found, err := search(root, store.BaseDN(), filter, "displayName")
		if err != nil || len(found) != 1 {
			t.Fatalf("search %s: %d entries, %v", filter, len(found), err)
		}
		return found[0].GetAttributeValue("displayName")
	}

	p := mustPerson(t, store, directory.NewPerson{FirstName: "Anaïs", LastName: "Lefèvre", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if got := displayName(eqFilter("uid", p.Identifier)); got != "Anaïs Lefèvre" {
		t.Errorf("on creation: %q", got)
	}
	first := "Anaïs-Marie"
	if _, err := store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{FirstName: &first}); err != nil {
		t.Fatal(err)
	}
	if got := displayName(eqFilter("uid", p.Identifier)); got != "Anaïs-Marie Lefèvre" {
		t.Errorf("after a change of first name: %q", got)
	}

	email := fmt.Sprintf("nina%d@example.fr", time.Now().UnixNano())
	inv, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: email, Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil", RequestedBy: "agent.test-px"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.Accounts{Store: store}).SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Nina", LastName: "Formulaire", Service: "Accueil", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	if got := displayName(eqFilter("mail", email)); got != "Nina Formulaire" {
		t.Errorf("once the form is sent: %q", got)
	}
}
