package directory_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// A request whose form is sent is mailed to those who may decide it, and
// to nobody else: for a collaborateur, the responsables of its service and
// the administrators of its structure; for a responsable, the
// administrators; for an administrator, the agents' mailbox. Not a
// responsable of another service, an administrator of another structure,
// a disabled administrator, nor the requester.
func TestDecidersAreToldOfARequest(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	const agents = "agents.apex@dgfip.example.fr"
	w.accounts.AgentsMailbox = agents
	if err := w.store.CreateService(ctx, directory.Service{SIRET: testSIRET, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	mustStructure(t, w.store, "44306184100047")
	mk := func(email string, role directory.Role, siret, service string) {
		mustPerson(t, w.store, directory.NewPerson{FirstName: "Per", LastName: "Sonne", Email: email, Role: role, SIRET: siret, Service: service})
	}
	mk("admin1@example.fr", directory.RoleAdministrateur, testSIRET, "")
	mk("admin2@example.fr", directory.RoleAdministrateur, testSIRET, "")
	mk("resp.compta@example.fr", directory.RoleResponsable, testSIRET, "Comptabilité")
	mk("resp.paie@example.fr", directory.RoleResponsable, testSIRET, "Paie")
	mk("admin.b@example.fr", directory.RoleAdministrateur, "44306184100047", "")
	mustDisabled(t, w.store, directory.NewPerson{FirstName: "Dé", LastName: "Sactivé", Email: "admin.off@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	everyone := []string{"admin1@example.fr", "admin2@example.fr", "resp.compta@example.fr", "resp.paie@example.fr", "admin.b@example.fr", "admin.off@example.fr", agents}

	for _, c := range []struct {
		name    string
		email   string
		role    directory.Role
		service string
		told    []string
	}{
		{"a collaborateur", "collab@example.fr", directory.RoleCollaborateur, "Comptabilité", []string{"admin1@example.fr", "admin2@example.fr", "resp.compta@example.fr"}},
		{"a responsable", "resp.new@example.fr", directory.RoleResponsable, "Paie", []string{"admin1@example.fr", "admin2@example.fr"}},
		{"an administrator", "admin.new@example.fr", directory.RoleAdministrateur, "", []string{agents}},
	} {
		before := len(w.relay.Messages())
		inv := mustInvite(t, w.store, c.email, c.role, c.service)
		if _, err := w.accounts.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Nou", LastName: "Veau", Service: c.service, Password: goodPassword}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, to := range c.told {
			m := w.relay.WaitFor(t, func(m smtptest.Captured) bool {
				return smtptest.ToAddress(to)(m) && strings.HasPrefix(m.Subject, "Demande de compte à valider : Nou Veau")
			}, 10*time.Second)
			if !strings.Contains(m.Text, "https://apex.example.fr/gestion/demandes") || !strings.Contains(m.Text, testSIRET) {
				t.Errorf("%s: the mail to %s:\n%s", c.name, to, m.Text)
			}
		}
		// The mailer is synchronous and the relay records a message before it
		// accepts it: every mail of the request is in by now.
		for _, m := range w.relay.Messages()[before:] {
			for _, to := range everyone {
				if smtptest.ToAddress(to)(m) && !slices.Contains(c.told, to) && strings.HasPrefix(m.Subject, "Demande de compte") {
					t.Errorf("%s: %s was told too", c.name, to)
				}
			}
			if smtptest.ToAddress(c.email)(m) {
				t.Errorf("%s: the requester got %q", c.name, m.Subject)
			}
		}
	}
}
