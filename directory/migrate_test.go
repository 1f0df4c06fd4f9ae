package directory_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// A directory written before libphonenumber's rules and before apexMailKey,
// migrated by two instances starting at the same moment, then again: each
// stored mobile is checked once (a Réunion mobile stored as +33 gets its
// own country code, a landline is removed), each person concerned gets
// exactly one mail through a real SMTP server, every person gets its mail
// key, and no number reaches the log.
func TestMigrateStoredDirectory(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	srv := slapdtest.Shared(t)
	mustStructure(t, a, testSIRET, "Accueil")
	mustStructure(t, a, otherSIRET)

	type seeded struct {
		name   string
		stored string // the value written as the old rules (or an import) left it
		want   string // after the migration; empty: removed
		mailed bool
		state  directory.AccountState
	}
	people := []*seeded{
		{name: "Reunion", stored: "+33692123456", want: "+262692123456", mailed: true},
		{name: "Mayotte", stored: "+33639012345", want: "+262639012345", mailed: true},
		{name: "Guadeloupe", stored: "+33690123456", want: "+590690123456", mailed: true, state: directory.StateSubmitted},
		{name: "Martinique", stored: "+33696123456", want: "+596696123456", mailed: true, state: directory.StateDisabled},
		{name: "Guyane", stored: "+33694123456", want: "+594694123456", mailed: true},
		{name: "Londres", stored: "+442079460958", want: "", mailed: true},
		{name: "Fixe", stored: "+33123456789", want: "", mailed: true},
		{name: "Court", stored: "+1234567", want: "", mailed: true},
		{name: "Metropole", stored: "+33612345678", want: "+33612345678"},
		{name: "Anglaise", stored: "+447911123456", want: "+447911123456"},
		{name: "Refusee", stored: "+33693123456", want: "+262693123456", state: directory.StateRefused},
	}
	conn := dial(t, srv.URL)
	if err := conn.Bind(srv.ServiceDN, slapdtest.ServicePassword); err != nil {
		t.Fatal(err)
	}
	emails := map[string]string{}
	for _, s := range people {
		email := "migration." + strings.ToLower(s.name) + "@example.fr"
		emails[s.name] = email
		var p *directory.Person
		switch s.state {
		case directory.StateSubmitted, directory.StateRefused:
			inv := mustInvite(t, a, email, directory.RoleAdministrateur, "")
			var err error
			if p, err = (directory.Accounts{Store: a}).SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Migration", LastName: s.name, Password: goodPassword}); err != nil {
				t.Fatal(err)
			}
			if s.state == directory.StateRefused {
				if _, err := a.RefuseRequest(ctx, p.RequestID, "agent.test-px", "Doublon."); err != nil {
					t.Fatal(err)
				}
			}
		default:
			p = mustPerson(t, a, directory.NewPerson{FirstName: "Migration", LastName: s.name, Email: email, Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
			if s.state == directory.StateDisabled {
				if err := a.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
					t.Fatal(err)
				}
			}
		}
		// As stored before: the old number, and no mail key.
		m := ldap.NewModifyRequest(findDN(t, a, srv, eqFilter("apexRequestId", p.RequestID)), nil)
		m.Replace("mobile", []string{s.stored})
		m.Replace("apexMailKey", nil)
		if err := conn.Modify(m); err != nil {
			t.Fatalf("seed %s: %v", s.name, err)
		}
	}
	// A refused request and a later account of the structure with the same
	// address, which holds the key: the refused one's is no duplicate.
	mustPerson(t, a, directory.NewPerson{FirstName: "Migration", LastName: "Rinvitee", Email: emails["Refusee"], Role: directory.RoleAdministrateur, SIRET: testSIRET})

	mails := smtptest.Start(t)
	relay, err := notify.NewSMTP(notify.SMTPConfig{Host: mails.Host, Port: mails.Port, TLS: notify.TLSNone, From: "APEX Partenaires <no-reply@apex.example.fr>"})
	if err != nil {
		t.Fatal(err)
	}
	notifier := notify.Notifier{Mailer: relay, PublicURL: "https://apex.example.fr"}
	var logs testkit.LogBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	// Two instances start at the same moment.
	var start, done sync.WaitGroup
	start.Add(1)
	errs := make([]error, 2)
	for i, s := range []*directory.Store{a, b} {
		done.Go(func() { start.Wait(); errs[i] = s.Migrate(ctx, notifier, log) })
	}
	start.Done()
	done.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("migrations: %v, %v", errs[0], errs[1])
	}
	check := func(when string) {
		t.Helper()
		for _, s := range people {
			n := 0
			for _, c := range mails.Messages() {
				if smtptest.ToAddress(emails[s.name])(c) {
					n++
					if !strings.Contains(c.Subject, "numéro de téléphone portable") {
						t.Errorf("%s: %s: mail %q", when, s.name, c.Subject)
					}
				}
			}
			if want := map[bool]int{true: 1}[s.mailed]; n != want {
				t.Errorf("%s: %s got %d mails, want %d", when, s.name, n, want)
			}
			e := findEntry(t, conn, a.BaseDN(), "(&(mail="+emails[s.name]+")(apexAccountState="+string(stateOr(s.state))+"))")
			if got := e.GetAttributeValue("mobile"); got != s.want {
				t.Errorf("%s: %s's mobile %q, want %q", when, s.name, got, s.want)
			}
		}
		entries, err := search(conn, a.BaseDN(), "(&(objectClass=apexPerson)(!(apexMailKey=*))(!(apexAccountState=refused)))", "1.1")
		if err != nil || len(entries) != 0 {
			t.Errorf("%s: %d persons without a mail key (%v)", when, len(entries), err)
		}
	}
	check("after two instances")
	if mail := mails.Messages(); len(mail) > 0 && !strings.Contains(mail[0].Text, "Bonjour") {
		t.Errorf("a mail:\n%s", mail[0].Text)
	}

	// Run again as if the instances had stopped before marking it done:
	// nothing changes, nobody is mailed again.
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"mail-keys", "mobile-numbers"} {
		sum := sha256.Sum256([]byte(a.BaseDN() + "\x00" + name))
		if err := root.Del(ldap.NewDelRequest("cn="+hex.EncodeToString(sum[:])+",ou=migrations,ou=system,"+srv.Suffix, nil)); err != nil {
			t.Fatalf("the marker of %s: %v", name, err)
		}
	}
	if err := b.Migrate(ctx, notifier, log); err != nil {
		t.Fatal(err)
	}
	check("run again unmarked")

	// Run again, once marked: nothing changes, nobody is mailed again,
	// even with an old number written meanwhile (the migration runs once).
	reunion := findDN(t, a, srv, eqFilter("mail", emails["Reunion"]))
	m := ldap.NewModifyRequest(reunion, nil)
	m.Replace("mobile", []string{"+33692999999"})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	if err := a.Migrate(ctx, notifier, log); err != nil {
		t.Fatal(err)
	}
	people[0].want = "+33692999999"
	check("run again")

	for _, s := range people {
		for _, number := range []string{s.stored, s.want} {
			if number != "" && strings.Contains(logs.String(), strings.TrimPrefix(number, "+")) {
				t.Errorf("the log holds a number: %s", logs.String())
			}
		}
	}
	if !strings.Contains(logs.String(), `"corrected":`) {
		t.Errorf("the log does not tell what was done: %s", logs.String())
	}

	// The keys now make the addresses of old accounts unique in their structure.
	if _, err := a.CreateInvitation(ctx, directory.NewInvitation{Email: emails["Metropole"], Role: directory.RoleAdministrateur, SIRET: testSIRET}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("an old account's address invited again in its structure: %v, want ErrConflict", err)
	}
	if _, err := a.CreateInvitation(ctx, directory.NewInvitation{Email: emails["Metropole"], Role: directory.RoleAdministrateur, SIRET: otherSIRET}); err != nil {
		t.Errorf("an old account's address invited in another structure: %v", err)
	}
}

func stateOr(s directory.AccountState) directory.AccountState {
	if s == "" {
		return directory.StateActive
	}
	return s
}

func findEntry(t *testing.T, conn *ldap.Conn, base, filter string) *ldap.Entry {
	t.Helper()
	entries, err := search(conn, base, filter, "mobile", "apexMailKey")
	if err != nil || len(entries) != 1 {
		t.Fatalf("search %s: %d entries, %v", filter, len(entries), err)
	}
	return entries[0]
}
