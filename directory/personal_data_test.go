package directory_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// UpdateMe tells the addresses of the account what changed: the former
// address and the new one for a new mail, once confirmed (the former one
// being the account's before the change, not the new one twice), the
// account's address for a new mobile. A new mail or mobile needs the current
// password, checked before anything changes; names alone do not. Real
// mails, through a real SMTP server.
func TestUpdateMeMails(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET)
	relay := smtptest.Start(t)
	mailer, err := notify.NewSMTP(notify.SMTPConfig{Host: relay.Host, Port: relay.Port, TLS: notify.TLSNone, From: "APEX Partenaires <no-reply@apex.example.fr>"})
	if err != nil {
		t.Fatal(err)
	}
	self := directory.SelfService{Store: store, Notifier: notify.Notifier{Mailer: mailer, PublicURL: "https://apex.example.fr"}}
	const before, after = "marc.avant@example.fr", "marc.apres@example.fr"
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Marc", LastName: "Mails", Email: before, Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121212"})
	me, err := store.FindPerson(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(when string) {
		t.Helper()
		now, err := store.FindPerson(ctx, p.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		if now.Email != me.Email || now.Mobile != me.Mobile || now.LastName != me.LastName {
			t.Errorf("%s: the account changed: %+v", when, now)
		}
		if n := len(relay.Messages()); n != 0 {
			t.Errorf("%s: %d mails sent", when, n)
		}
	}

	for i, u := range []directory.PersonUpdate{{Email: new(after)}, {Mobile: new("0798765432")}, {Mobile: new("")}, {LastName: new("Autre"), Email: new(after)}} {
		_, err := self.UpdateMe(ctx, me, u, "")
		var ie *directory.InvalidError
		if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "currentPassword" {
			t.Errorf("%+v without the current password: %v, want ErrInvalid on currentPassword", u, err)
		}
		if i >= 2 {
			continue // wrong passwords count towards the lockout: two are enough
		}
		if _, err := self.UpdateMe(ctx, me, u, "Pas-Le-Bon-99!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("%+v with a wrong current password: %v, want ErrInvalidCredentials", u, err)
		}
	}
	// The same mail and mobile, written otherwise, are no change.
	if _, err := self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new(before), Mobile: new("06 12 12 12 12")}, ""); err != nil {
		t.Errorf("the same mail and mobile without the password: %v", err)
	}
	unchanged("refused changes")

	got, err := self.UpdateMe(ctx, me, directory.PersonUpdate{FirstName: new("Marco"), LastName: new("Nouveau")}, "")
	if err != nil || got.FirstName != "Marco" || got.LastName != "Nouveau" {
		t.Fatalf("names alone, without the password: %+v, %v", got, err)
	}
	if n := len(relay.Messages()); n != 0 {
		t.Errorf("a change of names sent %d mails", n)
	}

	// A new mail waits for its confirmation (mailchange_test.go): the old
	// address is told at once, and both once the new one confirms.
	got, err = self.UpdateMe(ctx, got, directory.PersonUpdate{Email: new(after)}, goodPassword)
	if err != nil || got.Email != before || got.PendingEmail != after {
		t.Fatalf("a new mail: %+v, %v", got, err)
	}
	ask := relay.WaitFor(t, smtptest.ToAddress(after), 10*time.Second)
	code := regexp.MustCompile(`(?m)^    (\d{6})$`).FindStringSubmatch(ask.Text)
	if code == nil {
		t.Fatalf("no code in the mail to the new address:\n%s", ask.Text)
	}
	if got, err = self.ConfirmEmail(ctx, got, code[1]); err != nil || got.Email != after {
		t.Fatalf("the new mail confirmed: %+v, %v", got, err)
	}
	old := relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(before)(m) && m.Subject == "Votre adresse mail APEX Partenaires a été modifiée"
	}, 10*time.Second)
	if !strings.Contains(old.Text, "m***@example.fr") {
		t.Errorf("the former address got %q:\n%s", old.Subject, old.Text)
	}
	relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(after)(m) && m.Subject == "Votre nouvelle adresse mail APEX Partenaires"
	}, 10*time.Second)

	got, err = self.UpdateMe(ctx, got, directory.PersonUpdate{Mobile: new("07 98 76 54 32")}, goodPassword)
	if err != nil || got.Mobile != "+33798765432" {
		t.Fatalf("a new mobile: %+v, %v", got, err)
	}
	mobile := relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(after)(m) && strings.Contains(m.Subject, "téléphone portable")
	}, 10*time.Second)
	if !strings.Contains(mobile.Text, "se terminant par :\n\n    32\n") || strings.Contains(mobile.Text, "98765432") {
		t.Errorf("the mobile's mail:\n%s", mobile.Text)
	}

	// Both at once: the mobile's mail goes to the account's address, which
	// stays until the new one is confirmed.
	got, err = self.UpdateMe(ctx, got, directory.PersonUpdate{Email: new(before), Mobile: new("")}, goodPassword)
	if err != nil || got.Email != after || got.PendingEmail != before || got.Mobile != "" {
		t.Fatalf("a new mail and no mobile: %+v, %v", got, err)
	}
	relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(after)(m) && strings.Contains(m.Text, "a été retiré le")
	}, 10*time.Second)
	for _, m := range relay.Messages() {
		if smtptest.ToAddress(before)(m) && strings.Contains(m.Subject, "téléphone portable") {
			t.Errorf("the new address was told of the mobile: %q", m.Subject)
		}
	}
}
