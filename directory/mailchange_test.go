package directory_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// mailWorld is a tree with a clock, the self-service and the lifecycle
// mailing through a real SMTP server.
type mailWorld struct {
	store    *directory.Store
	clock    *testkit.Clock
	relay    *smtptest.Server
	self     directory.SelfService
	accounts directory.Accounts
}

func newMailWorld(t *testing.T) *mailWorld {
	t.Helper()
	store, _, clock := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{})
	mustStructure(t, store, testSIRET, "Comptabilité")
	relay := smtptest.Start(t)
	mailer, err := notify.NewSMTP(notify.SMTPConfig{Host: relay.Host, Port: relay.Port, TLS: notify.TLSNone, From: "APEX Partenaires <no-reply@apex.example.fr>"})
	if err != nil {
		t.Fatal(err)
	}
	n := notify.Notifier{Mailer: mailer, PublicURL: "https://apex.example.fr", Now: clock.Now}
	return &mailWorld{store: store, clock: clock, relay: relay,
		self:     directory.SelfService{Store: store, Notifier: n},
		accounts: directory.Accounts{Store: store, Notifier: n}}
}

var (
	mailChangeLink = regexp.MustCompile(`https://apex\.example\.fr/adresse-mail/confirmer/(\S+)`)
	mailChangeCode = regexp.MustCompile(`(?m)^    (\d{6})$`)
)

// confirmation waits for the mail asking address to confirm itself and
// returns its link's token and its code ("" when it shows none).
func (w *mailWorld) confirmation(t *testing.T, address string) (token, code string, m smtptest.Captured) {
	t.Helper()
	m = w.relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(address)(m) && strings.HasPrefix(m.Subject, "Confirmez votre nouvelle adresse")
	}, 10*time.Second)
	l := mailChangeLink.FindStringSubmatch(m.Text)
	if l == nil {
		t.Fatalf("no link in the mail to the new address:\n%s", m.Text)
	}
	if c := mailChangeCode.FindStringSubmatch(m.Text); c != nil {
		code = c[1]
	}
	return l[1], code, m
}

func (w *mailWorld) mailsTo(address string) []smtptest.Captured {
	var out []smtptest.Captured
	for _, m := range w.relay.Messages() {
		if smtptest.ToAddress(address)(m) {
			out = append(out, m)
		}
	}
	return out
}

func (w *mailWorld) reread(t *testing.T, identifier string) *directory.Person {
	t.Helper()
	p, err := w.store.FindPerson(ctx, identifier)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A new address set by the person waits for its confirmation: the
// account keeps its address (where sign-in codes and renewal links go)
// until the code or the link mailed to the new one confirms it; the old
// one is told at once, and both once it is confirmed. Wrong codes count,
// the code serves once.
func TestMailChangeByThePerson(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	const before, after = "paule.avant@example.fr", "paule.apres@example.fr"
	p := mustPerson(t, w.store, directory.NewPerson{FirstName: "Paule", LastName: "Attente", Email: before, Role: directory.RoleAdministrateur, SIRET: testSIRET})
	me := w.reread(t, p.Identifier)

	got, err := w.self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new(after)}, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != before || got.PendingEmail != after || got.PendingEmailBy != "" || !got.PendingEmailExpires.Equal(w.clock.Now().Add(directory.DefaultMailChangeTTL).Truncate(time.Second)) {
		t.Errorf("after the request: mail %q, pending %q by %q until %s", got.Email, got.PendingEmail, got.PendingEmailBy, got.PendingEmailExpires)
	}
	token, code, toNew := w.confirmation(t, after)
	if code == "" || !strings.Contains(toNew.Text, p.Identifier) {
		t.Errorf("the new address's mail has no code or no identifier:\n%s", toNew.Text)
	}
	old := w.relay.WaitFor(t, smtptest.ToAddress(before), 10*time.Second)
	if !strings.Contains(old.Subject, "attend sa confirmation") || !strings.Contains(old.Text, "p***@example.fr") || strings.Contains(old.Text, after) || strings.Contains(old.Text, token) {
		t.Errorf("the old address got %q:\n%s", old.Subject, old.Text)
	}
	// Until confirmed, the account is found by its old address only, and a
	// renewal's link goes there.
	if _, err := w.store.FindPersonByEmail(ctx, testSIRET, after); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the pending address finds the account: %v", err)
	}
	if _, err := w.self.Forgot(ctx, p.Identifier, mustCaptcha(t, w.store, "123456"), "123456"); err != nil {
		t.Fatal(err)
	}
	w.relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(before)(m) && strings.Contains(m.Subject, "Renouvellement")
	}, 10*time.Second)
	if n := len(w.mailsTo(after)); n != 1 {
		t.Errorf("the pending address got %d mails, want the confirmation only", n)
	}

	if _, err := w.self.ConfirmEmail(ctx, w.reread(t, p.Identifier), testkit.WrongCode(code)); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("a wrong code: %v, want ErrInvalidCode", err)
	}
	if w.reread(t, p.Identifier).Email != before {
		t.Error("a wrong code changed the address")
	}
	got, err = w.self.ConfirmEmail(ctx, w.reread(t, p.Identifier), code)
	if err != nil || got.Email != after || got.PendingEmail != "" {
		t.Fatalf("the right code: %+v, %v", got, err)
	}
	if f, err := w.store.FindPersonByEmail(ctx, testSIRET, after); err != nil || f.Identifier != p.Identifier {
		t.Errorf("the new address does not find the account: %v", err)
	}
	w.relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(before)(m) && m.Subject == "Votre adresse mail APEX Partenaires a été modifiée"
	}, 10*time.Second)
	w.relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(after)(m) && m.Subject == "Votre nouvelle adresse mail APEX Partenaires"
	}, 10*time.Second)
	if _, err := w.self.ConfirmEmail(ctx, got, code); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the code again: %v, want ErrNotFound", err)
	}
	if _, err := w.self.ConfirmEmailLink(ctx, token, ""); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("the link after the code: %v, want ErrInvalidToken", err)
	}
}

// The link confirms signed out, once; wrong codes beyond the limit leave
// the link alone to confirm; a change expires; a token made up or of
// another change is refused; and an address another account took while
// it waited is refused at confirmation, changing nothing.
func TestMailChangeLinkExpiryAndConflicts(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	p := mustPerson(t, w.store, directory.NewPerson{FirstName: "Luc", LastName: "Lien", Email: "luc@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	me := w.reread(t, p.Identifier)

	// Five wrong codes spend the code, not the link.
	if _, err := w.self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new("luc.1@example.fr")}, goodPassword); err != nil {
		t.Fatal(err)
	}
	token, code, _ := w.confirmation(t, "luc.1@example.fr")
	var err error
	for range 5 {
		_, err = w.self.ConfirmEmail(ctx, w.reread(t, p.Identifier), testkit.WrongCode(code))
	}
	if !errors.Is(err, directory.ErrTooManyAttempts) {
		t.Errorf("the 5th wrong code: %v, want ErrTooManyAttempts", err)
	}
	if _, err := w.self.ConfirmEmail(ctx, w.reread(t, p.Identifier), code); !errors.Is(err, directory.ErrTooManyAttempts) {
		t.Errorf("the right code after 5 wrong ones: %v, want ErrTooManyAttempts", err)
	}
	if _, err := w.self.ConfirmEmailLink(ctx, p.Identifier+".made-up", ""); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("a made-up token: %v, want ErrInvalidToken", err)
	}
	pending, err := w.self.MailChange(ctx, token)
	if err != nil || pending.Email != "luc.1@example.fr" || pending.NeedsPassword || pending.Person.Identifier != p.Identifier {
		t.Errorf("the link's page: %+v, %v", pending, err)
	}
	got, err := w.self.ConfirmEmailLink(ctx, token, "")
	if err != nil || got.Email != "luc.1@example.fr" {
		t.Fatalf("the link, signed out: %+v, %v", got, err)
	}
	if _, err := w.self.ConfirmEmailLink(ctx, token, ""); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("the link again: %v, want ErrInvalidToken", err)
	}

	// A change expires: neither its code nor its link works, the address stays.
	me = got
	if _, err := w.self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new("luc.2@example.fr")}, goodPassword); err != nil {
		t.Fatal(err)
	}
	token, code, _ = w.confirmation(t, "luc.2@example.fr")
	w.clock.Add(directory.DefaultMailChangeTTL)
	if _, err := w.self.ConfirmEmail(ctx, w.reread(t, p.Identifier), code); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an expired code: %v, want ErrNotFound (nothing waits any more)", err)
	}
	if _, err := w.self.ConfirmEmailLink(ctx, token, ""); !errors.Is(err, directory.ErrTokenExpired) {
		t.Errorf("an expired link: %v, want ErrTokenExpired", err)
	}
	if now := w.reread(t, p.Identifier); now.Email != "luc.1@example.fr" || now.PendingEmail != "" {
		t.Errorf("after the expiry: mail %q, pending %q", now.Email, now.PendingEmail)
	}

	// A new request replaces the one waiting: the first link stops working.
	if _, err := w.self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new("luc.3@example.fr")}, goodPassword); err != nil {
		t.Fatal(err)
	}
	first, _, _ := w.confirmation(t, "luc.3@example.fr")
	if _, err := w.self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new("luc.4@example.fr")}, goodPassword); err != nil {
		t.Fatal(err)
	}
	second, _, _ := w.confirmation(t, "luc.4@example.fr")
	if _, err := w.self.ConfirmEmailLink(ctx, first, ""); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("a replaced link: %v, want ErrInvalidToken", err)
	}

	// Taken meanwhile by another account of the structure: refused, nothing changes.
	mustPerson(t, w.store, directory.NewPerson{FirstName: "Autre", LastName: "Compte", Email: "luc.4@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	if _, err := w.self.ConfirmEmailLink(ctx, second, ""); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("an address taken meanwhile: %v, want ErrConflict", err)
	}
	if now := w.reread(t, p.Identifier); now.Email != "luc.1@example.fr" {
		t.Errorf("a taken address changed the account's: %q", now.Email)
	}
	// Already taken when asked: said at once.
	if _, err := w.self.UpdateMe(ctx, me, directory.PersonUpdate{Email: new("luc.4@example.fr")}, goodPassword); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("asking for a taken address: %v, want ErrConflict", err)
	}
}

// A manager's correction waits too, and only the account's owner can
// confirm it: the link asks for the account's password, which the manager
// does not know. So a manager who corrects the address to one they hold
// and then sends a renewal link does not get the account: the link goes
// to the confirmed address.
func TestMailCorrectionByAManagerCannotTakeTheAccount(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	admin := mustPerson(t, w.store, directory.NewPerson{FirstName: "Ada", LastName: "Admin", Email: "ada@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	victim := mustPerson(t, w.store, directory.NewPerson{FirstName: "Vic", LastName: "Time", Email: "vic@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	admin = w.reread(t, admin.Identifier)
	const mine = "ada.perso@example.fr"

	got, err := w.accounts.CorrectEmail(ctx, admin, victim.Identifier, mine)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "vic@example.fr" || got.PendingEmail != mine || got.PendingEmailBy != admin.Identifier {
		t.Errorf("after the correction: mail %q, pending %q by %q", got.Email, got.PendingEmail, got.PendingEmailBy)
	}
	token, code, toNew := w.confirmation(t, mine)
	if code != "" || !strings.Contains(toNew.Text, "Ada Admin (administrateur de votre structure)") {
		t.Errorf("the corrected address's mail shows a code or not who asked:\n%s", toNew.Text)
	}
	told := w.relay.WaitFor(t, smtptest.ToAddress("vic@example.fr"), 10*time.Second)
	if !strings.Contains(told.Text, "par Ada Admin") || !strings.Contains(told.Text, "a***@example.fr") {
		t.Errorf("the account's address was told:\n%s", told.Text)
	}

	// The renewal link goes to the confirmed address, not the corrected one.
	if err := w.accounts.SendRenewalLink(ctx, admin, victim.Identifier); err != nil {
		t.Fatal(err)
	}
	w.relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress("vic@example.fr")(m) && strings.Contains(m.Subject, "Renouvellement")
	}, 10*time.Second)
	if n := len(w.mailsTo(mine)); n != 1 {
		t.Errorf("the corrected address got %d mails, want its confirmation only", n)
	}

	// The link alone, or with a wrong password, confirms nothing.
	pending, err := w.self.MailChange(ctx, token)
	if err != nil || !pending.NeedsPassword {
		t.Errorf("the link's page does not ask for the password: %+v, %v", pending, err)
	}
	var ie *directory.InvalidError
	if _, err := w.self.ConfirmEmailLink(ctx, token, ""); !errors.As(err, &ie) || ie.Problems[0].Field != "password" {
		t.Errorf("the link without the password: %v, want ErrInvalid on password", err)
	}
	if _, err := w.self.ConfirmEmailLink(ctx, token, "Pas-Le-Bon-99!"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("the link with a wrong password: %v, want ErrInvalidCredentials", err)
	}
	// Nor the manager's own code path: it is the signed-in owner's.
	if _, err := w.self.ConfirmEmail(ctx, admin, "000000"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the manager confirming by code: %v, want ErrNotFound (nothing waits on their own account)", err)
	}
	if now := w.reread(t, victim.Identifier); now.Email != "vic@example.fr" {
		t.Fatalf("the account's address changed without its owner: %q", now.Email)
	}

	// Its owner, with the link and the password, confirms it.
	got, err = w.self.ConfirmEmailLink(ctx, token, goodPassword)
	if err != nil || got.Email != mine {
		t.Fatalf("the owner's confirmation: %+v, %v", got, err)
	}
}
