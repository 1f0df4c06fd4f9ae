package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// renew renews a password through the API: captcha, SMS code, new password.
func (e *env) renew(api string, p *directory.Person, mobile, next string) {
	e.t.Helper()
	t := e.t
	texts := len(e.texts.to(mobile))
	id, answer := e.captcha(api)
	status, body := call(t, "POST", api+"/password/forgot", "", map[string]string{"identifier": p.Identifier, "captchaId": id, "captchaAnswer": answer})
	if status != http.StatusAccepted {
		t.Fatalf("forgot: %d %v", status, body)
	}
	sms := e.texts.wait(t, mobile, texts+1)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(sms.Text)
	status, body = call(t, "POST", api+"/password/forgot/"+body["reset"].(string)+"/verify", "", map[string]string{"code": code})
	if status != http.StatusOK {
		t.Fatalf("verify the renewal code: %d %v", status, body)
	}
	if status, body := call(t, "POST", api+"/password/reset", "", map[string]string{"token": body["token"].(string), "password": next}); status != http.StatusNoContent {
		t.Fatalf("reset: %d %v", status, body)
	}
}

// A sign-in challenge dies at its expiry, which a resend does not extend,
// when it was used (even once its record is pruned), and when the password
// changes: then POST /auth/resend mails nothing and its code opens no
// session.
func TestAPIChallengeDies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	login := func(p *directory.Person) (challenge, code string) {
		t.Helper()
		n := e.mailsTo(p.Email)
		status, body := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
		if status != http.StatusOK {
			t.Fatalf("login: %d %v", status, body)
		}
		return body["challenge"].(string), e.code(p.Email, n+1)
	}
	dead := func(what string, challenge, code, want string) {
		t.Helper()
		if status, body := call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": code}); status != http.StatusUnauthorized || body["token"] != nil {
			t.Errorf("%s: verify %d %v, want 401", what, status, body)
		}
		if status, body := call(t, "POST", api+"/auth/resend", "", map[string]string{"challenge": challenge}); status != http.StatusUnauthorized || errorCode(body) != want {
			t.Errorf("%s: resend %d %v, want 401 %s", what, status, body, want)
		}
	}
	sent := map[string]int{} // mails each person must have had in the end

	// Expiry: a resend gives a code that dies with the challenge.
	expiring := e.person("Eloi", "Expire", directory.RoleCollaborateur, "Comptabilité")
	challenge, _ := login(expiring)
	e.clock.Add(6 * time.Minute)
	if status, body := call(t, "POST", api+"/auth/resend", "", map[string]string{"challenge": challenge}); status != http.StatusAccepted {
		t.Fatalf("resend within the 10 minutes: %d %v", status, body)
	}
	resent := e.code(expiring.Email, 2)
	if m := e.lastOf(expiring.Email); !strings.Contains(m.Text, "Ce code est valable 4 minutes.") {
		t.Errorf("the resent code's mail does not say it lasts the challenge's 4 minutes left:\n%s", m.Text)
	}
	e.clock.Add(4*time.Minute + time.Second)
	dead("after the expiry", challenge, resent, "code_expired")
	sent[expiring.Email] = 2

	// Used, then its record pruned by a later sign-in.
	used := e.person("Ugo", "Usage", directory.RoleCollaborateur, "Comptabilité")
	challenge, code := login(used)
	if status, body := call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": code}); status != http.StatusOK {
		t.Fatalf("verify: %d %v", status, body)
	}
	dead("used", challenge, code, "invalid_code")
	e.clock.Add(11 * time.Minute)
	e.signIn(api, used.Identifier, used.Email, password)
	dead("used and pruned", challenge, code, "code_expired")
	sent[used.Email] = 2

	// The password changed by the person, elsewhere.
	changing := e.person("Paul", "Passe", directory.RoleCollaborateur, "Comptabilité")
	challenge, code = login(changing)
	token := e.signIn(api, changing.Identifier, changing.Email, password)
	if status, body := call(t, "PUT", api+"/me/password", token, map[string]string{"current": password, "new": "Nouveau-Secret-77!"}); status != http.StatusNoContent {
		t.Fatalf("change password: %d %v", status, body)
	}
	dead("after a password change", challenge, code, "invalid_code")
	sent[changing.Email] = 3 // two codes and the change's notice

	// The password renewed (forgotten password).
	renewing := e.person("Rita", "Renouvelle", directory.RoleCollaborateur, "Comptabilité")
	if _, err := e.store.UpdatePerson(ctx, renewing.Identifier, directory.PersonUpdate{Mobile: ptr("06 98 76 54 31")}); err != nil {
		t.Fatal(err)
	}
	challenge, code = login(renewing)
	e.renew(api, renewing, "+33698765431", "Nouveau-Secret-77!")
	dead("after a renewal", challenge, code, "invalid_code")
	sent[renewing.Email] = 2 // the code and the renewal's notice

	// Mails leave in the background: wait for the last ones expected, and
	// a while for any that should not be, then count.
	e.lastMail(changing.Email, "modifié")
	e.lastMail(renewing.Email, "modifié")
	time.Sleep(500 * time.Millisecond)
	for addr, want := range sent {
		if got := e.mailsTo(addr); got != want {
			t.Errorf("%s got %d mails, want %d", addr, got, want)
		}
	}
}

// lastOf is the last mail received for addr.
func (e *env) lastOf(addr string) smtptest.Captured {
	var last smtptest.Captured
	for _, m := range e.smtp.Messages() {
		if smtptest.ToAddress(addr)(m) {
			last = m
		}
	}
	return last
}

// On the pages, a code past its challenge's expiry sends the person back to
// the sign-in, and « Renvoyer un code » then sends nothing.
func TestSignInPagesAfterTheChallengeExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newFormClient(t, e.instance())
	p := e.person("Pia", "Perimee", directory.RoleCollaborateur, "Comptabilité")
	c.post("/connexion", url.Values{"identifier": {p.Identifier}, "password": {password}}).redirect(t, "password step", "/connexion/verification")
	e.code(p.Email, 1)
	e.clock.Add(6 * time.Minute)
	c.post("/connexion/renvoyer", url.Values{}).want(t, "resend", http.StatusOK, "Un nouveau code de vérification vous a été envoyé par mail.")
	code := e.code(p.Email, 2)
	e.clock.Add(4*time.Minute + time.Second)
	for what, page := range map[string]formPage{
		"the resent code after the expiry": c.post("/connexion/verification", url.Values{"code": {code}}),
		"a resend after the expiry":        c.post("/connexion/renvoyer", url.Values{}),
	} {
		page.want(t, what, http.StatusUnauthorized, "Ce code de vérification a expiré : veuillez vous connecter à nouveau.",
			"Pour recevoir un nouveau code, connectez-vous à nouveau", `href="/connexion">Retour à la connexion`)
		if page.has(`action="/connexion/renvoyer"`) {
			t.Errorf("%s: the page still offers to resend", what)
		}
	}
	time.Sleep(300 * time.Millisecond) // a mail would be on its way
	if n := e.mailsTo(p.Email); n != 2 {
		t.Errorf("%d mails, want 2", n)
	}
}
