package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// lockBySignIn makes the espace's sign-in lock p's identifier out, by
// wrong passwords through the API (4 in 15 minutes by default).
func (e *env) lockBySignIn(api string, p *directory.Person) {
	e.t.Helper()
	for range 4 {
		call(e.t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": "Wrong-Password-42!"})
	}
	if status, body := call(e.t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password}); status != http.StatusLocked {
		e.t.Fatalf("%s not locked: %d %v", p.Identifier, status, body)
	}
}

// The helpdesk through the pages, as an administrator lives it: an
// account locked out, unlocked; a renewal link sent to its address; its
// mail corrected, which waits for its owner's confirmation with the
// password; an invitation cancelled. The API answers the same.
func TestHelpdeskPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, _ := e.server()
	api := base + "/api/v1"
	admin := e.person("Ada", "Assistance", directory.RoleAdministrateur, "")
	p := e.person("Lou", "Bloquée", directory.RoleCollaborateur, "Comptabilité")
	e.lockBySignIn(api, p)
	c := newFormClient(t, base).signIn(e, admin)

	page := c.get("/gestion/comptes/" + p.Identifier)
	wantStatus(t, "account page", page, http.StatusOK)
	wantIn(t, "account page", page, `id="assistance"`, "Bloqué jusqu'au", "Jamais depuis la création du compte", "Débloquer le compte")
	session := e.signIn(api, admin.Identifier, admin.Email, password)
	if status, body := call(t, "GET", api+"/accounts/"+p.Identifier+"/status", session, nil); status != http.StatusOK || body["locked"] != true || body["signInLockedUntil"] == nil {
		t.Errorf("GET status: %d %v", status, body)
	}
	page = c.post("/gestion/comptes/"+p.Identifier+"/debloquer", nil)
	page.redirect(t, "unlock", "/gestion/comptes/"+p.Identifier)
	page = c.get("/gestion/comptes/" + p.Identifier)
	wantIn(t, "unlocked", page, "Compte débloqué", "Non bloqué")
	wantNotIn(t, "unlocked", page, "Débloquer le compte")
	if status, body := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password}); status != http.StatusOK {
		t.Errorf("sign-in after the unlock: %d %v", status, body)
	}

	// A renewal link, to the account's address.
	n := e.resetMails(p.Email)
	page = c.post("/gestion/comptes/"+p.Identifier+"/lien-de-renouvellement", nil)
	page.redirect(t, "renewal link", "/gestion/comptes/"+p.Identifier)
	wantIn(t, "renewal link", c.get("/gestion/comptes/"+p.Identifier), "Un lien de renouvellement du mot de passe a été envoyé à l'adresse mail du compte")
	if m := e.nthMail("renewal link", isResetMail(p.Email), n+1); !strings.Contains(m.Text, "Ada Assistance (administrateur de votre structure)") {
		t.Errorf("the renewal mail:\n%s", m.Text)
	}

	// A correction of the mail: taken first, then free; it waits.
	page = c.post("/gestion/comptes/"+p.Identifier+"/adresse-mail", url.Values{"email": {admin.Email}})
	wantStatus(t, "taken address", page, http.StatusConflict)
	wantIn(t, "taken address", page, "Cette adresse mail est déjà utilisée dans cette structure.", `id="email-erreur"`)
	next := uniqueEmail("lou.corrigee")
	page = c.post("/gestion/comptes/"+p.Identifier+"/adresse-mail", url.Values{"email": {next}})
	page.redirect(t, "correction", "/gestion/comptes/"+p.Identifier)
	page = c.get("/gestion/comptes/" + p.Identifier)
	wantIn(t, "correction", page, "Adresse mail en attente de confirmation", `id="adresse-en-attente"`, next)
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != p.Email || now.PendingEmail != next {
		t.Fatalf("after the correction: %q, pending %q", now.Email, now.PendingEmail)
	}
	e.lastMail(p.Email, "attend sa confirmation")
	token, code := e.mailChangeMail(next, 1)
	if code != "" {
		t.Errorf("a manager's correction mailed a code")
	}
	// The new mailbox alone confirms nothing: the owner's password is asked.
	link := newFormClient(t, base)
	page = link.get("/adresse-mail/confirmer/" + token)
	wantIn(t, "correction's link", page, `name="password"`, "saisissez le mot de passe de votre compte")
	page = link.post("/adresse-mail/confirmer/"+token, nil)
	wantStatus(t, "no password", page, http.StatusUnprocessableEntity)
	wantIn(t, "no password", page, "Saisissez le mot de passe de votre compte pour confirmer cette adresse mail.", `id="password-erreur"`)
	page = link.post("/adresse-mail/confirmer/"+token, url.Values{"password": {"Wrong-Password-42!"}})
	wantStatus(t, "wrong password", page, http.StatusUnprocessableEntity)
	wantIn(t, "wrong password", page, "Le mot de passe est incorrect.")
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != p.Email {
		t.Fatalf("confirmed without the password: %q", now.Email)
	}
	page = link.post("/adresse-mail/confirmer/"+token, url.Values{"password": {password}})
	wantStatus(t, "owner's confirmation", page, http.StatusOK)
	wantIn(t, "owner's confirmation", page, "Adresse mail confirmée")
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != next {
		t.Fatalf("after the owner's confirmation: %q", now.Email)
	}

	// Each step is in the account's history, in French.
	wantIn(t, "history", c.get("/gestion/comptes/"+p.Identifier+"/historique"), "Déblocage du compte",
		"Envoi d'un lien de renouvellement du mot de passe", "Correction de l'adresse mail, en attente de confirmation",
		"Confirmation de la nouvelle adresse mail, par le lien reçu")

	// An invitation, cancelled from the list: its address is free again.
	invited := uniqueEmail("invitee")
	if status, body := call(t, "POST", api+"/structures/"+siret+"/invitations", session, map[string]string{"email": invited, "role": "collaborateur", "service": "Comptabilité"}); status != http.StatusCreated {
		t.Fatalf("invite: %d %v", status, body)
	}
	inv, err := e.store.FindPersonByEmail(ctx, siret, invited)
	if err != nil {
		t.Fatal(err)
	}
	page = c.get("/gestion/comptes")
	wantIn(t, "list", page, "Annuler l'invitation", `action="/gestion/invitations/annuler"`)
	page = c.post("/gestion/invitations/annuler", url.Values{"request": {inv.RequestID}})
	page.redirect(t, "cancel", "/gestion/comptes")
	wantIn(t, "cancel", c.get("/gestion/comptes"), "Invitation annulée")
	if _, err := e.store.FindPersonByEmail(ctx, siret, invited); err == nil {
		t.Error("the cancelled invitation is still there")
	}
	if status, body := call(t, "POST", api+"/requests/"+inv.RequestID+"/cancel", session, nil); status != http.StatusNotFound {
		t.Errorf("cancel again through the API: %d %v", status, body)
	}

	// Another, cancelled from the pending invitations' list: back to it.
	other := uniqueEmail("invitee")
	if status, body := call(t, "POST", api+"/structures/"+siret+"/invitations", session, map[string]string{"email": other, "role": "collaborateur", "service": "Comptabilité"}); status != http.StatusCreated {
		t.Fatalf("invite: %d %v", status, body)
	}
	inv, err = e.store.FindPersonByEmail(ctx, siret, other)
	if err != nil {
		t.Fatal(err)
	}
	wantIn(t, "pending invitations", c.get("/gestion/invitations"), "Annuler l'invitation", `action="/gestion/invitations/annuler"`)
	c.post("/gestion/invitations/annuler", url.Values{"request": {inv.RequestID}, "retour": {"/gestion/invitations"}}).redirect(t, "cancel from the invitations", "/gestion/invitations")
	if _, err := e.store.FindPersonByEmail(ctx, siret, other); err == nil {
		t.Error("the invitation cancelled from the invitations' list is still there")
	}
}

// One helpdesk journey in a real browser: an administrator finds a
// member locked out, unlocks them, sends a renewal link, and corrects
// their mail; the member confirms the correction from its link with their
// password, which ends the renewal link mailed to the former address.
func TestHelpdeskInBrowser(t *testing.T) {
	t.Parallel()
	axe := readAxe(t)
	b := startBrowser(t)
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	admin := e.person("Ada", "Navigatrice", directory.RoleAdministrateur, "")
	p := e.person("Lou", "Perdue", directory.RoleCollaborateur, "Comptabilité")
	e.lockBySignIn(api, p)

	at := b.tab(t, base)
	lcSignIn(at, e, admin)
	at.open("/gestion/comptes/" + p.Identifier)
	if got := at.text("#blocage"); !strings.HasPrefix(got, "Bloqué jusqu'au") {
		t.Errorf("the lockout shown: %q", got)
	}
	checkAccessibility(t, at, axe, "helpdesk: a locked account")
	at.click("Débloquer le compte", "/gestion/comptes/"+p.Identifier)
	wantText(t, at, "#blocage", "Non bloqué")
	n := e.resetMails(p.Email)
	at.click("Envoyer un lien de renouvellement du mot de passe", "/gestion/comptes/"+p.Identifier)
	if got := at.text("#avis-message"); !strings.HasPrefix(got, "Un lien de renouvellement du mot de passe a été envoyé") {
		t.Errorf("after the renewal link: %q", got)
	}
	renewal := e.mailedResetToken(p.Email, n+1)

	next := uniqueEmail("lou.retrouvee")
	at.fill("#email", next)
	at.click("Envoyer le lien de confirmation", "/gestion/comptes/"+p.Identifier)
	if got := at.text("#adresse-en-attente"); !strings.HasPrefix(got, next+", en attente de confirmation") {
		t.Errorf("the pending address: %q", got)
	}
	checkAccessibility(t, at, axe, "helpdesk: a corrected address waiting")

	// The member, in their own browser, signed out.
	token, _ := e.mailChangeMail(next, 1)
	mt := b.tab(t, base)
	mt.open("/adresse-mail/confirmer/" + token)
	mt.fill("#password", password)
	mt.click("Confirmer cette adresse mail", "/adresse-mail/confirmer/"+token)
	if got := mt.text("#adresse-confirmee"); !strings.Contains(got, next) {
		t.Errorf("confirmed: %q", got)
	}
	checkAccessibility(t, mt, axe, "helpdesk: the correction confirmed")
	// The renewal link went to the former address: it ended with it.
	mt.open("/mot-de-passe/renouveler/" + renewal)
	if got := mt.text("#avis-message"); !strings.Contains(got, "n'est pas valide ou a déjà été utilisé") {
		t.Errorf("the former address's renewal link: %q", got)
	}
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != next {
		t.Errorf("the account's address: %q", now.Email)
	}
}
