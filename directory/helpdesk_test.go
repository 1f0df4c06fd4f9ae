package directory_test

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// An account locked both ways, ppolicy's (binds made to slapd directly, as
// a DGFiP application's) and the espace's sign-in counters of its
// identifier, shows both at a glance, with when each ends; unlocking lifts
// both, so that the right password signs in again at once; each step is
// an event of the account's history and of the audit log. Another
// structure's administrator sees and does nothing.
func TestHelpdeskStatusAndUnlock(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	store, _, clock := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 3, Window: 15 * time.Minute},
		SignInAddress:    directory.Limit{Max: -1},
	})
	mustStructure(t, store, testSIRET, "Comptabilité")
	mustStructure(t, store, "44306184100047")
	audit := &testkit.LogBuffer{}
	acc := directory.Accounts{Store: store, Notifier: noMail{}, Audit: slog.New(slog.NewJSONHandler(audit, nil))}
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Ada", LastName: "Aide", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	other := mustPerson(t, store, directory.NewPerson{FirstName: "Otto", LastName: "Ailleurs", Role: directory.RoleAdministrateur, SIRET: "44306184100047"})
	agent := mustPerson(t, store, directory.NewPerson{FirstName: "Agathe", LastName: "Agent", Role: directory.RoleAgent})
	locked, dn := mustLockedByPolicy(t, store, srv, directory.NewPerson{FirstName: "Lou", LastName: "Bloqué", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	signIn := directory.SignIn{Store: store, Notifier: &codeSink{}}
	for range 3 {
		if _, err := signIn.Login(ctx, locked.Identifier, "Wrong-Password-42!"); err == nil {
			t.Fatal("a wrong password signed in")
		}
	}
	admin, other, agent = mustReread(t, store, admin), mustReread(t, store, other), mustReread(t, store, agent)

	st, err := acc.Status(ctx, admin, locked.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Locked() || st.PolicyLockedUntil.IsZero() && !st.PolicyLockedForever || st.SignInLockedUntil.IsZero() {
		t.Errorf("status of a locked account: %+v", st)
	}
	if want := clock.Now().Add(15 * time.Minute); !st.SignInLockedUntil.Equal(want) {
		t.Errorf("sign-in locked until %s, want %s", st.SignInLockedUntil, want)
	}
	if st.Person.State != directory.StateActive {
		t.Errorf("state %s", st.Person.State)
	}
	if _, err := acc.Status(ctx, agent, locked.Identifier); err != nil {
		t.Errorf("an agent's helpdesk: %v", err)
	}
	if _, err := acc.Status(ctx, other, locked.Identifier); !errors.Is(err, directory.ErrForbidden) && !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("another structure's administrator: %v, want ErrForbidden or ErrNotFound", err)
	}
	if _, err := acc.Unlock(ctx, other, locked.Identifier); !errors.Is(err, directory.ErrForbidden) && !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("another structure's administrator unlocks: %v", err)
	}
	if _, err := acc.Unlock(ctx, admin, agent.Identifier); !errors.Is(err, directory.ErrForbidden) && !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an administrator unlocks an agent: %v", err)
	}
	if err := bindDirectly(t, srv, dn, goodPassword); err == nil {
		t.Fatal("refused unlocks lifted ppolicy's lock")
	}

	st, err = acc.Unlock(directory.WithSource(ctx, "192.0.2.7"), admin, locked.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if st.Locked() {
		t.Errorf("still locked after unlocking: %+v", st)
	}
	if err := bindDirectly(t, srv, dn, goodPassword); err != nil {
		t.Errorf("ppolicy's lock not lifted: %v", err)
	}
	if _, err := signIn.Login(ctx, locked.Identifier, goodPassword); err != nil {
		t.Errorf("the sign-in's lockout not lifted: %v", err)
	}
	_, events, err := acc.History(ctx, admin, locked.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || ev.Action == directory.ActionUnlock && ev.Actor == admin.Identifier && ev.Outcome == directory.OutcomeSuccess
	}
	if !found {
		t.Errorf("no unlock in the history: %+v", events)
	}
	var refused, done int
	for _, l := range auditLines(t, audit) {
		if l["action"] == string(directory.ActionUnlock) {
			if l["outcome"] == directory.OutcomeSuccess {
				done++
			} else {
				refused++
			}
		}
	}
	if done != 1 || refused != 2 {
		t.Errorf("audit: %d unlocks, %d refused; want 1 and 2", done, refused)
	}
}

// mustReread reads p again, with what the store adds when it reads.
func mustReread(t *testing.T, store *directory.Store, p *directory.Person) *directory.Person {
	t.Helper()
	got, err := store.FindPerson(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A manager sends a renewal link: it goes to the account's address, the
// person chooses the password; a disabled account gets none; a
// responsable of another service sends none.
func TestHelpdeskRenewalLink(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	if err := w.store.CreateService(ctx, directory.Service{SIRET: testSIRET, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	resp := mustReread(t, w.store, mustPerson(t, w.store, directory.NewPerson{FirstName: "Rita", LastName: "Resp", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Comptabilité"}))
	otherResp := mustReread(t, w.store, mustPerson(t, w.store, directory.NewPerson{FirstName: "Roger", LastName: "Paie", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Paie"}))
	p := mustPerson(t, w.store, directory.NewPerson{FirstName: "Cole", LastName: "Lien", Email: "cole@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	off := mustDisabled(t, w.store, directory.NewPerson{FirstName: "Dora", LastName: "Off", Email: "dora@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})

	if err := w.accounts.SendRenewalLink(ctx, otherResp, p.Identifier); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a responsable of another service: %v, want ErrForbidden", err)
	}
	if err := w.accounts.SendRenewalLink(ctx, resp, off.Identifier); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a disabled account: %v, want ErrConflict", err)
	}
	if err := w.accounts.SendRenewalLink(ctx, resp, p.Identifier); err != nil {
		t.Fatal(err)
	}
	m := w.relay.WaitFor(t, func(m smtptest.Captured) bool {
		return smtptest.ToAddress("cole@example.fr")(m) && strings.Contains(m.Subject, "Renouvellement")
	}, 10*time.Second)
	token := regexp.MustCompile(`/mot-de-passe/renouveler/(\S+)`).FindStringSubmatch(m.Text)
	if token == nil || !strings.Contains(m.Text, "Rita Resp (responsable de votre service)") {
		t.Fatalf("the renewal mail:\n%s", m.Text)
	}
	if err := w.self.Reset(ctx, token[1], "Nouveau-Secret-42!"); err != nil {
		t.Fatalf("the person renews with the link: %v", err)
	}
	// slapd stamps the change with its own clock.
	if at := mustReread(t, w.store, p).PasswordChangedAt; time.Since(at) > time.Minute || time.Since(at) < -time.Minute {
		t.Errorf("password changed at %s, want about now", at)
	}
	if n := len(w.mailsTo("dora@example.fr")); n != 0 {
		t.Errorf("the disabled account got %d mails", n)
	}
}

// Cancelling an invitation deletes its request, expired or not: its link
// stops working and its address is free again. A request whose form was
// sent is not an invitation any more. Only those who manage it cancel it.
func TestHelpdeskCancelInvitation(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	admin := mustReread(t, w.store, mustPerson(t, w.store, directory.NewPerson{FirstName: "Ada", LastName: "Annule", Role: directory.RoleAdministrateur, SIRET: testSIRET}))
	collab := mustReread(t, w.store, mustPerson(t, w.store, directory.NewPerson{FirstName: "Col", LastName: "Lab", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"}))
	inv := mustInvite(t, w.store, "invitee@example.fr", directory.RoleCollaborateur, "Comptabilité")

	if err := w.accounts.CancelInvitation(ctx, collab, inv.Person.RequestID); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a collaborateur cancels: %v, want ErrForbidden", err)
	}
	w.clock.Add(8 * 24 * time.Hour) // expired
	if p, err := w.store.FindPersonByRequest(ctx, inv.Person.RequestID); err != nil || !p.InvitationExpired {
		t.Errorf("an expired invitation reads as such: %+v, %v", p, err)
	}
	if err := w.accounts.CancelInvitation(ctx, admin, inv.Person.RequestID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.FindPersonByRequest(ctx, inv.Person.RequestID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the request after cancelling: %v, want ErrNotFound", err)
	}
	if _, err := w.accounts.Invitation(ctx, inv.Token); err == nil {
		t.Error("the cancelled link still works")
	}
	// The address is free: it can be invited again.
	again := mustInvite(t, w.store, "invitee@example.fr", directory.RoleCollaborateur, "Comptabilité")
	if _, err := w.accounts.SubmitInvitation(ctx, again.Token, directory.PreCreation{FirstName: "In", LastName: "Vitée", Service: "Comptabilité", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	if err := w.accounts.CancelInvitation(ctx, admin, again.Person.RequestID); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("cancelling a submitted request: %v, want ErrConflict", err)
	}
}
