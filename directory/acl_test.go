package directory_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

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
	if err := store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
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
	// Applications also list a profile's holders with a memberOf filter.
	out, err = exec.Command("ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", srv.URL, "-D", clientDN, "-w", "Client-Secret-2026!",
		"-b", srv.Suffix, "(&(objectClass=apexPerson)(memberOf="+memberOf+"))", "1.1").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "dn: "+dn {
		t.Errorf("search (memberOf=%s): %v\n%s", memberOf, err, out)
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

// Defence in depth (issue 7): what the service refuses, slapd refuses too
// where an ACL can say it, whoever binds directly with a password the
// service does not hold: a DGFiP application's bind account, a person, an
// agent. Every refused write must leave the directory as it was.
func TestACLsDefenceInDepth(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	base := store.BaseDN()
	mustStructure(t, store, testSIRET, "Accueil")
	mustStructure(t, store, otherSIRET, "Accueil")
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	alice := mustPerson(t, store, directory.NewPerson{FirstName: "Alice", LastName: "Defense", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil", Mobile: "0611111111"})
	bob := mustPerson(t, store, directory.NewPerson{FirstName: "Bob", LastName: "Defense", Role: directory.RoleAdministrateur, SIRET: otherSIRET, Mobile: "0622222222"})
	agent := mustPerson(t, store, directory.NewPerson{FirstName: "Agnes", LastName: "Defense", Role: directory.RoleAgent, Mobile: "0633333333"})
	if err := store.AddHabilitation(ctx, alice.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	// Every secret the service keeps on a person, so that their reads are tried.
	if _, err := store.CreateSession(directory.WithClientAddress(ctx, "192.0.2.2"), bob.Identifier); err != nil { // and a known address
		t.Fatal(err)
	}
	if _, err := store.LoginWithCode(ctx, bob.Identifier, goodPassword); err != nil { // and its last use
		t.Fatal(err)
	}
	// An end date, of the account and of a habilitation, and a notice.
	manager := mustPerson(t, store, directory.NewPerson{FirstName: "Manon", LastName: "Defense", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if err := store.AddHabilitation(ctx, manager.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	manager, _ = store.FindPerson(ctx, manager.Identifier)
	soon, _ := directory.ParseDay("endDate", directory.Day(time.Now().Add(72*time.Hour)))
	acc := directory.Accounts{Store: store, Notifier: noMail{}}
	if _, err := acc.SetEndDate(ctx, manager, alice.Identifier, soon); err != nil {
		t.Fatal(err)
	}
	if err := acc.GrantUntil(ctx, manager, alice.Identifier, "ficoba", "consultation", soon); err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.Jobs{Store: store, Notifier: noNotice{}}).EndDates(ctx, &memProgress{}); err != nil {
		t.Fatal(err)
	}
	aliceDN := findDN(t, store, srv, eqFilter("uid", alice.Identifier))
	bobDN := findDN(t, store, srv, eqFilter("uid", bob.Identifier))
	agentDN := findDN(t, store, srv, eqFilter("uid", agent.Identifier))
	const clientPassword = "Client-Secret-2026!"
	clientID := "defense-" + strings.TrimSuffix(alice.Identifier, "-px")[6:]
	clientDN, err := store.CreateClient(ctx, clientID, clientPassword)
	if err != nil {
		t.Fatal(err)
	}
	structureDN := "ou=" + testSIRET + ",ou=structures," + base
	gestionDN := "cn=gestion,ou=ficoba,ou=applications," + base
	identities := []struct {
		name, dn string
		self     string // the entry the identity is, "" when not a person
	}{
		{"a DGFiP application's bind account", clientDN, ""},
		{"a collaborateur", aliceDN, aliceDN},
		{"a DGFiP agent", agentDN, agentDN},
	}
	bound := func(t *testing.T, dn, pw string) *ldap.Conn {
		conn := dial(t, srv.URL)
		if err := conn.Bind(dn, pw); err != nil {
			t.Fatalf("bind %s: %v", dn, err)
		}
		return conn
	}
	modify := func(dn string, f func(*ldap.ModifyRequest)) func(*ldap.Conn) error {
		return func(c *ldap.Conn) error {
			m := ldap.NewModifyRequest(dn, nil)
			f(m)
			return c.Modify(m)
		}
	}
	for _, id := range identities {
		pw := goodPassword
		if id.self == "" {
			pw = clientPassword
		}
		t.Run(id.name+" writes nothing", func(t *testing.T) {
			conn := bound(t, id.dn, pw)
			self := id.self
			if self == "" {
				self = id.dn
			}
			writes := []struct {
				what string
				do   func(*ldap.Conn) error
			}{
				{"another person's name", modify(bobDN, func(m *ldap.ModifyRequest) { m.Replace("sn", []string{"Pirate"}) })},
				{"another person's state", modify(bobDN, func(m *ldap.ModifyRequest) { m.Replace("apexAccountState", []string{"disabled"}) })},
				{"its own state", modify(self, func(m *ldap.ModifyRequest) { m.Replace("apexAccountState", []string{"active"}) })},
				{"its own role", modify(self, func(m *ldap.ModifyRequest) { m.Replace("apexRole", []string{"agent"}) })},
				{"its own service", modify(self, func(m *ldap.ModifyRequest) { m.Replace("apexService", []string{structureDN}) })},
				{"its own mail", modify(self, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"pirate@example.fr"}) })},
				{"its own mobile", modify(self, func(m *ldap.ModifyRequest) { m.Replace("mobile", []string{"+33699999999"}) })},
				{"a session of its own", modify(self, func(m *ldap.ModifyRequest) { m.Add("apexSession", []string{"forged"}) })},
				{"an address of its own", modify(self, func(m *ldap.ModifyRequest) { m.Add("apexKnownAddress", []string{"v1 forged 0"}) })},
				{"its own mail key", modify(self, func(m *ldap.ModifyRequest) { m.Replace("apexMailKey", []string{strings.Repeat("0", 64)}) })},
				{"its own description", modify(self, func(m *ldap.ModifyRequest) { m.Replace("description", []string{"pirate"}) })},
				{"its own membership of a profile", modify(gestionDN, func(m *ldap.ModifyRequest) { m.Add("member", []string{self}) })},
				{"a structure's category", modify(structureDN, func(m *ldap.ModifyRequest) { m.Replace("apexCategory", []string{"Pirate"}) })},
				{"the password policy", modify("cn=default,ou=policies,"+srv.Suffix, func(m *ldap.ModifyRequest) { m.Replace("pwdMinLength", []string{"1"}) })},
				{"a service", func(c *ldap.Conn) error {
					a := ldap.NewAddRequest("ou=Pirate,"+structureDN, nil)
					a.Attribute("objectClass", []string{"organizationalUnit", "apexService"})
					a.Attribute("ou", []string{"Pirate"})
					a.Attribute("apexSiret", []string{testSIRET})
					return c.Add(a)
				}},
				{"an identifier's reservation", func(c *ldap.Conn) error {
					a := ldap.NewAddRequest("cn=pirate.defense-px,ou=identifiers,ou=system,"+srv.Suffix, nil)
					a.Attribute("objectClass", []string{"applicationProcess"})
					a.Attribute("cn", []string{"pirate.defense-px"})
					return c.Add(a)
				}},
				{"a bind account", func(c *ldap.Conn) error {
					a := ldap.NewAddRequest("cn=pirate,ou=clients,ou=system,"+srv.Suffix, nil)
					a.Attribute("objectClass", []string{"applicationProcess", "simpleSecurityObject"})
					a.Attribute("cn", []string{"pirate"})
					a.Attribute("userPassword", []string{"Pirate-Secret-2026!"})
					return c.Add(a)
				}},
				{"a person's removal", func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(bobDN, nil)) }},
				{"a person's rename", func(c *ldap.Conn) error {
					return c.ModifyDN(ldap.NewModifyDNRequest(bobDN, "uid=pirate-px", true, ""))
				}},
				{"another person's password", func(c *ldap.Conn) error {
					_, err := c.PasswordModify(ldap.NewPasswordModifyRequest(bobDN, "", "Pirate-Secret-2026!"))
					return err
				}},
				{"its own password", func(c *ldap.Conn) error {
					_, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "", "Pirate-Secret-2026!"))
					return err
				}},
			}
			// The test's own tree and the policies; ou=system is shared with
			// the tests running alongside, so its two adds are looked up.
			state := func() string {
				return snapshot(t, srv, base) + snapshot(t, srv, "ou=policies,"+srv.Suffix)
			}
			for _, w := range writes {
				before := state()
				err := w.do(conn)
				// 32 rather than 50 where the identity may not even know the entry exists.
				if !ldap.IsErrorAnyOf(err, ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultNoSuchObject) {
					t.Errorf("%s: %v, want 50 (or 32)", w.what, err)
				}
				if after := state(); after != before {
					t.Errorf("%s: the directory changed", w.what)
				}
			}
			for _, filter := range []string{"(cn=pirate.defense-px)", "(cn=pirate)"} {
				if dn := findDN(t, store, srv, filter); dn != "" {
					t.Errorf("%s was added", dn)
				}
			}
		})

		t.Run(id.name+" reads no mobile but its own and none of the service's secrets", func(t *testing.T) {
			conn := bound(t, id.dn, pw)
			secrets := []string{"mobile", "apexSession", "apexLoginCode", "apexInvitation", "apexReset", "apexKnownAddress", "apexMailKey", "userPassword", "pwdHistory",
				"authTimestamp", "apexActiveSince", "apexEnd", "apexNextEnd", "apexNotice", "apexInvitationExpires"}
			// A person sees nothing above its own entry: the base itself is
			// then "no such object", and the search finds nothing.
			visible := func(filter string, attrs ...string) []*ldap.Entry {
				entries, err := search(conn, base, filter, attrs...)
				if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
					t.Fatalf("search %s: %v", filter, err)
				}
				return entries
			}
			entries := visible("(objectClass=*)", secrets...)
			if id.self == "" && len(entries) == 0 {
				t.Fatal("the application reads no entry at all")
			}
			for _, e := range entries {
				for _, a := range e.Attributes {
					if a.Name == "mobile" && strings.EqualFold(e.DN, id.self) {
						continue
					}
					t.Errorf("reads %s of %s", a.Name, e.DN)
				}
			}
			// Nor can it learn them by a filter: an attribute it may not
			// read matches nothing.
			for _, f := range []string{"(mobile=*)", "(mobile=+33622222222)", "(apexSession=*)", "(apexLoginCode=*)", "(apexKnownAddress=*)", "(apexMailKey=*)",
				"(authTimestamp=*)", "(apexActiveSince=*)", "(apexEnd=*)", "(apexNextEnd=*)", "(apexNotice=*)"} {
				found := visible(f, "1.1")
				for _, e := range found {
					if f == "(mobile=*)" && strings.EqualFold(e.DN, id.self) {
						continue
					}
					t.Errorf("the filter %s finds %s", f, e.DN)
				}
			}
		})
	}

	t.Run("agents and the service are separate identities", func(t *testing.T) {
		// The service's bind account is no person: it cannot sign in, and
		// a DGFiP application's bind account neither.
		for _, who := range []struct{ identifier, password string }{{"apexd", slapdtest.ServicePassword}, {clientID, clientPassword}} {
			if _, err := store.Authenticate(ctx, who.identifier, who.password); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Errorf("sign in as %s: %v, want ErrInvalidCredentials", who.identifier, err)
			}
		}
		// An agent bound with its own password has none of the service's
		// powers (the writes above), and cannot read what only the service reads.
		conn := bound(t, agentDN, goodPassword)
		if entries, _ := search(conn, base, eqFilter("uid", bob.Identifier), "uid", "apexAccountState"); len(entries) != 0 {
			t.Errorf("an agent reads a partner's entry over LDAP: %v", entries[0].Attributes)
		}
		// The service cannot rewrite the rules that bind it, nor read the
		// hashes it sets.
		svc := bound(t, srv.ServiceDN, slapdtest.ServicePassword)
		m := ldap.NewModifyRequest("olcDatabase={1}mdb,cn=config", nil)
		m.Add("olcAccess", []string{"{0}to * by * manage"})
		if err := svc.Modify(m); !ldap.IsErrorAnyOf(err, ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultNoSuchObject) {
			t.Errorf("the service modifies cn=config: %v", err)
		}
		// Nor does it manage passwords as an administrator: it cannot set a
		// hash of its own choosing.
		m = ldap.NewModifyRequest(agentDN, nil)
		m.Replace("userPassword", []string{"{SSHA}bm90IGFuIGFyZ29uMiBoYXNo"})
		if err := svc.Modify(m); err == nil {
			t.Errorf("the service wrote a pre-hashed password")
		} else {
			t.Logf("the service writing a pre-hashed password: %v", err)
		}
	})
}
