package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

var (
	mailChangeLinkPattern = regexp.MustCompile(`/adresse-mail/confirmer/(\S+)`)
	mailChangeCodePattern = regexp.MustCompile(`(?m)^    (\d{6})$`)
)

// mailChangeMail waits for the n-th mail asking addr to confirm itself and
// returns its link's token and its code ("" when it shows none).
func (e *env) mailChangeMail(addr string, n int) (token, code string) {
	e.t.Helper()
	m := e.nthMail("confirmation mail to "+addr, func(m smtptest.Captured) bool {
		return smtptest.ToAddress(addr)(m) && strings.HasPrefix(m.Subject, "Confirmez")
	}, n)
	l := mailChangeLinkPattern.FindStringSubmatch(m.Text)
	if l == nil {
		e.t.Fatalf("no link in the confirmation mail:\n%s", m.Text)
	}
	if c := mailChangeCodePattern.FindStringSubmatch(m.Text); c != nil {
		code = c[1]
	}
	return l[1], code
}

// newEmailOf asks, as p through the API, for next as p's new address, and
// returns the link's token and the code mailed to it.
func (e *env) newEmailOf(api string, p *directory.Person, next string) (token, code string) {
	e.t.Helper()
	session := e.signIn(api, p.Identifier, p.Email, password)
	status, body := call(e.t, "PATCH", api+"/me", session, map[string]string{"email": next, "currentPassword": password})
	if status != http.StatusOK {
		e.t.Fatalf("PATCH /me email: %d %v", status, body)
	}
	return e.mailChangeMail(next, 1)
}

// The API: a new address waits (pendingEmail) while email stays; the code
// confirms it once; wrong codes answer as a confirmation's, not a sign-in's.
func TestAPIMailChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Mila", "Api", directory.RoleResponsable, "Comptabilité")
	session := e.signIn(api, p.Identifier, p.Email, password)
	next := uniqueEmail("mila.nouvelle")

	status, body := call(t, "PATCH", api+"/me", session, map[string]string{"email": next, "currentPassword": password})
	if status != http.StatusOK || body["email"] != p.Email || body["pendingEmail"] != next || body["pendingEmailExpires"] == nil {
		t.Fatalf("PATCH /me: %d %v", status, body)
	}
	_, code := e.mailChangeMail(next, 1)
	if status, body = call(t, "GET", api+"/me", session, nil); body["pendingEmail"] != next || body["email"] != p.Email {
		t.Errorf("GET /me: %d %v", status, body)
	}
	if status, body = call(t, "POST", api+"/me/email/confirm", session, map[string]string{"code": testkit.WrongCode(code)}); status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_code" {
		t.Errorf("a wrong code: %d %v", status, body)
	}
	if status, body = call(t, "POST", api+"/me/email/confirm", session, map[string]string{}); status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_request" {
		t.Errorf("no code: %d %v", status, body)
	}
	if status, body = call(t, "POST", api+"/me/email/confirm", session, map[string]string{"code": code}); status != http.StatusOK || body["email"] != next || body["pendingEmail"] != nil {
		t.Fatalf("the code: %d %v", status, body)
	}
	if status, body = call(t, "POST", api+"/me/email/confirm", session, map[string]string{"code": code}); status != http.StatusNotFound || errorCode(body) != "no_pending_email" {
		t.Errorf("the code again: %d %v", status, body)
	}
}

// The link's page, signed out: it shows what it confirms and changes
// nothing until its button; it serves once. The API's twin answers the same.
func TestMailChangeLinkPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, _ := e.server()
	api := base + "/api/v1"
	p := e.person("Lino", "Lien", directory.RoleCollaborateur, "Comptabilité")
	next := uniqueEmail("lino.nouveau")
	token, _ := e.newEmailOf(api, p, next)

	c := newFormClient(t, base)
	page := c.get("/adresse-mail/confirmer/" + token)
	wantStatus(t, "link page", page, http.StatusOK)
	wantIn(t, "link page", page, "Confirmer une nouvelle adresse mail", next, p.Identifier, "Confirmer cette adresse mail")
	wantNotIn(t, "link page", page, `name="password"`)
	if status, body := call(t, "GET", api+"/email-confirmations/"+url.PathEscape(token), "", nil); status != http.StatusOK || body["email"] != next || body["needsPassword"] != false {
		t.Errorf("GET email-confirmations: %d %v", status, body)
	}
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != p.Email {
		t.Fatalf("opening the link changed the address: %q", now.Email)
	}
	page = c.post("/adresse-mail/confirmer/"+token, nil)
	wantStatus(t, "confirm", page, http.StatusOK)
	wantIn(t, "confirm", page, "Adresse mail confirmée", "L'adresse "+next+" est désormais celle du compte "+p.Identifier)
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != next {
		t.Fatalf("after the link: %q", now.Email)
	}
	e.lastMail(p.Email, "modifiée")
	page = c.post("/adresse-mail/confirmer/"+token, nil)
	wantStatus(t, "link again", page, http.StatusNotFound)
	wantIn(t, "link again", page, "Lien inutilisable", "Ce lien de confirmation n'est pas valide ou a déjà été utilisé.")
	if status, body := call(t, "POST", api+"/email-confirmations/"+url.PathEscape(token), "", map[string]string{}); status != http.StatusNotFound || errorCode(body) != "invalid_link" {
		t.Errorf("POST email-confirmations again: %d %v", status, body)
	}

	// The API's link, for a second change.
	p, _ = e.store.FindPerson(ctx, p.Identifier)
	third := uniqueEmail("lino.troisieme")
	token, _ = e.newEmailOf(api, p, third)
	if status, body := call(t, "POST", api+"/email-confirmations/"+url.PathEscape(token), "", map[string]string{}); status != http.StatusNoContent {
		t.Fatalf("POST email-confirmations: %d %v", status, body)
	}
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != third {
		t.Fatalf("after the API's link: %q", now.Email)
	}
}
