package directory_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

func dial(tb testing.TB, url string) *ldap.Conn {
	tb.Helper()
	conn, err := ldap.DialURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

func eqFilter(attr, value string) string { return "(" + attr + "=" + ldap.EscapeFilter(value) + ")" }

// findDN reads an entry's DN as the server's root, outside of any ACL.
func findDN(tb testing.TB, _ *directory.Store, srv *slapd.Server, filter string) string {
	tb.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, []string{"1.1"}, nil))
	if err != nil || len(res.Entries) > 1 {
		tb.Fatalf("find %s: %v entries, %v", filter, res, err)
	}
	if len(res.Entries) == 0 {
		return ""
	}
	return res.Entries[0].DN
}

func search(conn *ldap.Conn, base, filter string, attrs ...string) ([]*ldap.Entry, error) {
	res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

// What slapd itself allows, whatever the service does.
func TestACLs(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	alice := mustPerson(t, store, directory.NewPerson{FirstName: "Alice", LastName: "Acl", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0611111111"})
	bob := mustPerson(t, store, directory.NewPerson{FirstName: "Bob", LastName: "Acl", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0622222222"})
	aliceDN := findDN(t, store, srv, eqFilter("uid", alice.Identifier))
	bobDN := findDN(t, store, srv, eqFilter("uid", bob.Identifier))
	clientDN, err := store.CreateClient(ctx, "acl-app-"+strings.TrimSuffix(alice.Identifier, "-px")[6:], "Client-Secret-2026!")
	if err != nil {
		t.Fatalf("create client: %v", err)
	}

	t.Run("anonymous reads nothing", func(t *testing.T) {
		conn := dial(t, srv.URL)
		entries, err := search(conn, srv.Suffix, "(objectClass=*)")
		if len(entries) != 0 {
			t.Errorf("anonymous search found %d entries (%v)", len(entries), err)
		}
	})

	t.Run("an application reads people and profiles but no mobile and writes nothing", func(t *testing.T) {
		conn := dial(t, srv.URL)
		if err := conn.Bind(clientDN, "Client-Secret-2026!"); err != nil {
			t.Fatalf("client bind: %v", err)
		}
		entries, err := search(conn, srv.Suffix, eqFilter("uid", alice.Identifier), "uid", "mail", "mobile", "userPassword", "memberOf")
		if err != nil || len(entries) != 1 {
			t.Fatalf("client finds the account by uid: %v, %v", entries, err)
		}
		e := entries[0]
		if e.GetAttributeValue("mail") == "" {
			t.Errorf("client cannot read the mail")
		}
		if e.GetAttributeValue("mobile") != "" || e.GetAttributeValue("userPassword") != "" {
			t.Errorf("client reads the mobile or the password: %v", e.Attributes)
		}
		mod := ldap.NewModifyRequest(aliceDN, nil)
		mod.Replace("sn", []string{"Piraté"})
		if err := conn.Modify(mod); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("client modify: %v, want 50", err)
		}
		if entries, _ := search(conn, srv.Suffix, "(cn=*)", "cn"); len(entries) > 0 {
			for _, e := range entries {
				if e.DN != clientDN && (strings.Contains(e.DN, "ou=system") || strings.Contains(e.DN, "ou=policies")) {
					t.Errorf("client sees %s", e.DN)
				}
			}
		}
	})

	t.Run("a person reads their own mobile, never another's, and cannot write a password", func(t *testing.T) {
		conn := dial(t, srv.URL)
		if err := conn.Bind(aliceDN, goodPassword); err != nil {
			t.Fatalf("person bind: %v", err)
		}
		own, err := search(conn, aliceDN, "(objectClass=*)", "mobile")
		if err != nil || len(own) != 1 || own[0].GetAttributeValue("mobile") != "+33611111111" {
			t.Errorf("own mobile: %v, %v", own, err)
		}
		other, _ := search(conn, bobDN, "(objectClass=*)", "mobile")
		for _, e := range other {
			if e.GetAttributeValue("mobile") != "" {
				t.Errorf("Alice reads Bob's mobile")
			}
		}
		if _, err := conn.PasswordModify(ldap.NewPasswordModifyRequest("", "", "Autre-Secret-2026!")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("self password change over LDAP: %v, want 50", err)
		}
	})

	t.Run("the service cannot read password hashes", func(t *testing.T) {
		conn := dial(t, srv.URL)
		if err := conn.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
			t.Fatal(err)
		}
		entries, err := search(conn, aliceDN, "(objectClass=*)", "userPassword", "pwdHistory")
		if err != nil || len(entries) != 1 {
			t.Fatalf("%v %v", entries, err)
		}
		if v := entries[0].GetAttributeValue("userPassword") + entries[0].GetAttributeValue("pwdHistory"); v != "" {
			t.Errorf("service reads a hash")
		}
	})

	t.Run("the history is the service's alone", func(t *testing.T) {
		service := dial(t, srv.URL)
		if err := service.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
			t.Fatal(err)
		}
		add := ldap.NewModifyRequest(aliceDN, nil)
		add.Add("apexHistory", []string{`{"at":"2026-01-02T03:04:05.000000Z","by":"x","action":"account.disable","from":"192.0.2.1","outcome":"success"}`})
		if err := service.Modify(add); err != nil {
			t.Fatalf("the service writes the history: %v", err)
		}
		if e, err := search(service, aliceDN, "(objectClass=*)", "apexHistory"); err != nil || len(e) != 1 || e[0].GetAttributeValue("apexHistory") == "" {
			t.Errorf("the service reads the history: %v %v", e, err)
		}
		for name, who := range map[string][2]string{"the person": {aliceDN, goodPassword}, "an application": {clientDN, "Client-Secret-2026!"}} {
			conn := dial(t, srv.URL)
			if err := conn.Bind(who[0], who[1]); err != nil {
				t.Fatal(err)
			}
			if e, _ := search(conn, aliceDN, "(objectClass=*)", "apexHistory"); len(e) > 0 && e[0].GetAttributeValue("apexHistory") != "" {
				t.Errorf("%s reads the history", name)
			}
			wipe := ldap.NewModifyRequest(aliceDN, nil)
			wipe.Replace("apexHistory", nil)
			if err := conn.Modify(wipe); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
				t.Errorf("%s wipes the history: %v, want 50", name, err)
			}
		}
	})
}

// The service's own changes go through ppolicy: a password that Go would
// refuse is refused by slapd too when sent directly, and so is a reused one.
func TestPasswordPolicyIsEnforcedBySlapd(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Paul", LastName: "Policy", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	dn := findDN(t, store, srv, eqFilter("uid", p.Identifier))
	conn := dial(t, srv.URL)
	if err := conn.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		password string
		ppolicy  int8
	}{
		{"too short", "Ab1!x", 6},
		{"current password", goodPassword, 8},
	} {
		value := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Password Modify Request")
		value.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, dn, "User Identity"))
		value.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, tc.password, "New Password"))
		req := ldap.NewExtendedRequest("1.3.6.1.4.1.4203.1.11.1", value)
		req.Controls = []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
		_, err := conn.Extended(req)
		var lerr *ldap.Error
		if !errors.As(err, &lerr) || lerr.ResultCode != ldap.LDAPResultConstraintViolation {
			t.Errorf("%s: %v, want 19", tc.name, err)
			continue
		}
		if got := ppolicyControl(lerr.Packet); got != tc.ppolicy {
			t.Errorf("%s: ppolicy error %d, want %d", tc.name, got, tc.ppolicy)
		}
	}
}

func ppolicyControl(packet *ber.Packet) int8 {
	if packet == nil || len(packet.Children) < 3 {
		return -1
	}
	for _, child := range packet.Children[2].Children {
		if c, err := ldap.DecodeControl(child); err == nil {
			if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok {
				return pp.Error
			}
		}
	}
	return -1
}

// A DGFiP application does what OpenLDAP's own tools do: search the
// account by uid with its bind account, then bind as the account.
func TestDGFiPApplicationWithOpenLDAPTools(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"ldapsearch", "ldapwhoami"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run `make deps` (Debian package ldap-utils)", tool)
		}
	}
	store, srv := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Walter", LastName: "Whoami", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Grant(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	clientDN, err := store.CreateClient(ctx, "whoami-app", "Client-Secret-2026!")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", srv.URL, "-D", clientDN, "-w", "Client-Secret-2026!",
		"-b", srv.Suffix, "(uid="+p.Identifier+")", "dn", "memberOf").CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch: %v\n%s", err, out)
	}
	var dn, memberOf string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "dn: "); ok {
			dn = v
		}
		if v, ok := strings.CutPrefix(line, "memberOf: "); ok {
			memberOf = v
		}
	}
	if !strings.HasPrefix(dn, "uid="+p.Identifier+",ou=Accueil,ou="+testSIRET+",ou=structures,") {
		t.Errorf("dn = %q", dn)
	}
	if !strings.HasPrefix(memberOf, "cn=consultation,ou=ficoba,ou=applications,") {
		t.Errorf("memberOf = %q", memberOf)
	}
	out, err = exec.Command("ldapwhoami", "-x", "-H", srv.URL, "-D", dn, "-w", goodPassword).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "dn:"+dn {
		t.Errorf("ldapwhoami: %v: %s", err, out)
	}
	out, err = exec.Command("ldapwhoami", "-x", "-H", srv.URL, "-D", dn, "-w", "Wrong-Password-42!").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Invalid credentials") {
		t.Errorf("ldapwhoami with a wrong password: %v: %s", err, out)
	}
}
