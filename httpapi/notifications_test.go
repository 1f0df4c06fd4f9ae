package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// Each home shows the number of requests waiting for its person's
// decision, and only theirs: an administrator counts the structure's, a
// responsable their service's, another service's responsable none, a
// collaborateur sees no count. GET /requests/count says the same.
func TestHomeCountsWaitingRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, _ := e.server()
	api := base + "/api/v1"
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	admin := e.person("Ada", "Compte", directory.RoleAdministrateur, "")
	resp := e.person("Rita", "Compte", directory.RoleResponsable, "Comptabilité")
	otherResp := e.person("Roger", "Compte", directory.RoleResponsable, "Paie")
	collab := e.person("Cole", "Compte", directory.RoleCollaborateur, "Comptabilité")

	home := func(p *directory.Person) formPage {
		t.Helper()
		return newFormClient(t, base).signIn(e, p).get("/")
	}
	wantIn(t, "admin, none", home(admin), "Aucune demande de compte n'attend votre validation.")
	lcSubmittedRequest(e, "Une", "Demande")
	lcSubmittedRequest(e, "Deux", "Demandes")
	wantIn(t, "admin", home(admin), "2 demandes de compte attendent votre validation.", `href="/gestion/demandes"`)
	wantIn(t, "responsable", home(resp), "2 demandes de compte attendent votre validation.")
	wantIn(t, "another service's responsable", home(otherResp), "Aucune demande de compte n'attend votre validation.")
	page := home(collab)
	wantStatus(t, "collaborateur", page, http.StatusOK)
	wantNotIn(t, "collaborateur", page, `id="demandes-en-attente"`)

	// An administrator's request waits for the agents, not for the structure.
	agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agathe", LastName: "Compte", Email: uniqueEmail("agent"),
		Role: directory.RoleAgent, State: directory.StateActive}, password)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: uniqueEmail("admin"), Role: directory.RoleAdministrateur, SIRET: siret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.Accounts{Store: e.store}).SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Nouvel", LastName: "Admin", Password: password}); err != nil {
		t.Fatal(err)
	}
	wantIn(t, "agent", home(agent), "1 demande de compte attend votre validation.")
	for _, c := range []struct {
		p    *directory.Person
		want float64
	}{{admin, 2}, {resp, 2}, {otherResp, 0}, {agent, 1}} {
		session := e.signIn(api, c.p.Identifier, c.p.Email, password)
		if status, body := call(t, "GET", api+"/requests/count", session, nil); status != http.StatusOK || body["waiting"] != c.want {
			t.Errorf("%s: GET /requests/count: %d %v, want %v", c.p.Identifier, status, body, c.want)
		}
	}
}

// An invitation whose link expired shows as expired in the list of its
// managers; sending it again makes it live; cancelling it removes it.
func TestExpiredInvitationShownAsExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, _ := e.server()
	admin := e.person("Ada", "Expire", directory.RoleAdministrateur, "")
	invited := uniqueEmail("expire")
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: invited, Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité"})
	if err != nil {
		t.Fatal(err)
	}
	c := newFormClient(t, base).signIn(e, admin)
	wantNotIn(t, "live invitation", c.get("/gestion/comptes"), "Invitation expirée")
	e.clock.Add(8 * 24 * time.Hour)
	c = newFormClient(t, base).signIn(e, admin) // sessions are counted on the clock too
	wantIn(t, "expired invitation", c.get("/gestion/comptes"), "Invitation expirée", "Renvoyer le lien", "Annuler l'invitation")
	page := c.post("/gestion/invitations/renvoyer", url.Values{"request": {inv.Person.RequestID}})
	page.redirect(t, "resend", "/gestion/comptes")
	wantNotIn(t, "resent invitation", c.get("/gestion/comptes"), "Invitation expirée")
	e.lastMail(invited, "")
	page = c.post("/gestion/invitations/annuler", url.Values{"request": {inv.Person.RequestID}})
	page.redirect(t, "cancel", "/gestion/comptes")
	wantNotIn(t, "cancelled invitation", c.get("/gestion/comptes"), invited)
}

// A page refused says what to do: whom to ask, by the person's role, and
// a link home.
func TestForbiddenPageSaysWhatToDo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, _ := e.server()
	for _, c := range []struct {
		role    directory.Role
		service string
		path    string
		ask     string
	}{
		{directory.RoleCollaborateur, "Comptabilité", "/gestion/comptes", "adressez-vous au responsable de votre service ou à l'administrateur de votre structure."},
		{directory.RoleResponsable, "Comptabilité", "/gestion/services", "adressez-vous à l'administrateur de votre structure."},
		{directory.RoleAdministrateur, "", "/agent/structures", "adressez-vous à votre interlocuteur à la DGFiP."},
	} {
		p := e.person("Refusé", "Accès", c.role, c.service)
		page := newFormClient(t, base).signIn(e, p).get(c.path)
		wantStatus(t, string(c.role), page, http.StatusForbidden)
		wantIn(t, string(c.role), page, "<h1>Accès refusé</h1>", c.ask, `<a class="fr-btn" href="/">Retour à la page d'accueil</a>`)
	}
}
