package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// apexd checks the stored data once at start: on a directory written by an
// older version, a Réunion mobile stored as +33 is corrected and its owner
// mailed, once, whatever the number of starts.
func TestMigratesAtStart(t *testing.T) {
	srv := slapdtest.Start(t)
	store := slapdtest.OpenStore(t, directory.StoreConfig{URL: srv.URL, BaseDN: srv.Suffix, BindDN: srv.ServiceDN, BindPassword: slapdtest.ServicePassword})
	ctx := context.Background()
	const siret = "73282932000074"
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: siret, Name: "Étude", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	p, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Rémi", LastName: "Réunion", Email: "remi.reunion@example.fr",
		Role: directory.RoleAdministrateur, SIRET: siret, State: directory.StateActive}, "Correct-Horse-42!")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dn := "uid=" + p.Identifier + ",ou=" + siret + ",ou=structures," + srv.Suffix
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace("mobile", []string{"+33692123456"}) // as the rules before libphonenumber stored 0692 12 34 56
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}

	mails := smtptest.Start(t)
	dir := t.TempDir()
	public := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	env := map[string]string{
		"APEX_HTTP_ADDR":          strings.TrimPrefix(public, "http://"),
		"APEX_HTTP_PUBLIC_URL":    public,
		"APEX_LDAP_URL":           srv.URL,
		"APEX_LDAP_BASE_DN":       srv.Suffix,
		"APEX_LDAP_BIND_PASSWORD": slapdtest.ServicePassword,
		"APEX_MAIL_SMTP_HOST":     "127.0.0.1",
		"APEX_MAIL_SMTP_PORT":     fmt.Sprint(mails.Port),
		"APEX_MAIL_OUTBOX_DIR":    filepath.Join(dir, "outbox"),
		"APEX_MAIL_SPOOL_DIR":     filepath.Join(dir, "spool"),
		"APEX_SMS_OUTBOX_DIR":     filepath.Join(dir, "sms"),
	}
	mobile := func() string {
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"mobile"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("read the mobile: %v", err)
		}
		return res.Entries[0].GetAttributeValue("mobile")
	}
	for start := range 2 {
		stop := apexd(t, env)
		if got := mobile(); got != "+262692123456" {
			t.Errorf("start %d: the mobile is %q, want +262692123456", start, got)
		}
		// Stopped, apexd has sent its mails or left them in the spool.
		if code := stop(); code != 0 {
			t.Fatalf("start %d: exit status %d", start, code)
		}
		spooled, _ := os.ReadDir(env["APEX_MAIL_SPOOL_DIR"])
		var to []string
		for _, c := range mails.Messages() {
			to = append(to, c.To...)
		}
		if len(spooled) != 0 || len(to) != 1 || to[0] != "remi.reunion@example.fr" {
			t.Errorf("start %d: mails to %v, %d in the spool; want one to remi.reunion@example.fr", start, to, len(spooled))
		}
	}
	if c := mails.Messages(); len(c) == 1 && !strings.Contains(c[0].Text, "+262 692 12 34 56") {
		t.Errorf("the mail:\n%s", c[0].Text)
	}
}
