package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// The sign-in, mostly through the API: the guide's two steps, what a wrong
// password or code gets, the challenge and when it dies (on the pages too),
// and the sessions it opens and what ends them.

func TestAPISignInOfTheGuide(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Marie", "Apisignin", directory.RoleAdministrateur, "")

	status, body := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
	challenge, _ := body["challenge"].(string)
	if status != http.StatusOK || challenge == "" {
		t.Fatalf("login: %d %v", status, body)
	}
	code := e.code(p.Email, 1)
	status, body = call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": code})
	if status != http.StatusOK {
		t.Fatalf("verify: %d %v", status, body)
	}
	token, _ := body["token"].(string)
	acc, _ := body["account"].(map[string]any)
	if token == "" || acc["identifier"] != p.Identifier || acc["role"] != "administrateur" || acc["email"] != p.Email {
		t.Errorf("verify answer: %v", body)
	}
	if st, _ := acc["structure"].(map[string]any); st["siret"] != siret || st["name"] != "Étude Martin & Associés" {
		t.Errorf("structure: %v", acc["structure"])
	}
	if _, hasMobile := acc["mobile"]; hasMobile {
		t.Errorf("the account view carries a mobile")
	}

	status, me := call(t, "GET", api+"/me", token, nil)
	if status != http.StatusOK || me["identifier"] != p.Identifier {
		t.Errorf("me: %d %v", status, me)
	}
	if status, body := call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": code}); status != http.StatusUnauthorized || errorCode(body) != "invalid_code" {
		t.Errorf("code reused: %d %v", status, body)
	}
	if status, _ := call(t, "POST", api+"/auth/logout", token, nil); status != http.StatusNoContent {
		t.Errorf("logout: %d", status)
	}
	if status, body := call(t, "GET", api+"/me", token, nil); status != http.StatusUnauthorized || errorCode(body) != "unauthenticated" {
		t.Errorf("me after logout: %d %v", status, body)
	}
}

func TestAPIUnknownIdentifierAndWrongPasswordLookAlike(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Paul", "Pareil", directory.RoleAdministrateur, "")
	_, wrong := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": "Wrong-Password-42!"})
	status, unknown := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": "nobody.here-px", "password": "Wrong-Password-42!"})
	if status != http.StatusUnauthorized || errorCode(unknown) != "invalid_credentials" {
		t.Fatalf("unknown identifier: %d %v", status, unknown)
	}
	if wrong["error"].(map[string]any)["message"] != unknown["error"].(map[string]any)["message"] {
		t.Errorf("answers differ: %v / %v", wrong, unknown)
	}
	submitted, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Sam", LastName: "Attente", Email: "sam.attente@example.fr",
		Role: directory.RoleAdministrateur, State: directory.StateSubmitted, SIRET: siret}, password)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": submitted.RequestID, "password": password}); status != http.StatusUnauthorized {
		t.Errorf("an account not validated signs in: %d %v", status, body)
	}
	if n := len(e.smtp.Messages()); n != 0 {
		t.Errorf("%d mails sent for failed sign-ins", n)
	}
}

func TestAPIWrongCodeFiveTimesAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Cora", "Codes", directory.RoleCollaborateur, "Comptabilité")
	_, body := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
	challenge := body["challenge"].(string)
	code := e.code(p.Email, 1)
	wrong := testkit.WrongCode(code)
	for i := 1; i <= 5; i++ {
		status, body := call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": wrong})
		want := "invalid_code"
		if i == 5 {
			want = "too_many_attempts"
		}
		if status != http.StatusUnauthorized || errorCode(body) != want {
			t.Fatalf("wrong code #%d: %d %v, want %s", i, status, body, want)
		}
	}
	if status, body := call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": code}); errorCode(body) != "too_many_attempts" {
		t.Errorf("right code after 5 wrong: %d %v", status, body)
	}

	_, body = call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
	challenge = body["challenge"].(string)
	e.code(p.Email, 2)
	e.clock.Add(11 * time.Minute)
	if status, body := call(t, "POST", api+"/auth/verify", "", map[string]string{"challenge": challenge, "code": e.code(p.Email, 2)}); status != http.StatusUnauthorized || errorCode(body) != "code_expired" {
		t.Errorf("expired code: %d %v", status, body)
	}
	// The challenge is over: only a new sign-in gives a code.
	if status, body := call(t, "POST", api+"/auth/resend", "", map[string]string{"challenge": challenge}); status != http.StatusUnauthorized || errorCode(body) != "code_expired" {
		t.Errorf("resend after the expiry: %d %v", status, body)
	}
	e.signIn(api, p.Identifier, p.Email, password) // mail #3
	if n := len(e.smtp.Messages()); n != 3 {
		t.Errorf("%d mails, want 3: the resend after the expiry sent one", n)
	}
}

// After 4 wrong passwords from addresses it never signed in from, an
// identifier's sign-in is locked for the rest of the 15 minutes: 423 with
// Retry-After, the same for an account and for an identifier nobody has.
func TestAPILockedAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, server := e.server()
	api := base + "/api/v1"
	p := e.person("Lola", "Locked", directory.RoleAdministrateur, "")
	const locked = "Votre compte est temporairement bloqué après plusieurs essais infructueux. Réessayez dans 15 minutes ou renouvelez votre mot de passe."
	for _, id := range []string{p.Identifier, "lola.nobody-px"} {
		for i := range 4 {
			status, body := call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": id, "password": "Wrong-Password-42!"})
			if status != http.StatusUnauthorized || errorCode(body) != "invalid_credentials" {
				t.Fatalf("%s, wrong password %d: %d %v", id, i+1, status, body)
			}
		}
		res, body := postJSON(t, api+"/auth/login", "", map[string]string{"identifier": id, "password": password})
		if res.StatusCode != http.StatusLocked || errorCode(body) != "account_locked" || res.Header.Get("Retry-After") != "900" {
			t.Errorf("%s, locked: %d %v, Retry-After %q", id, res.StatusCode, body, res.Header.Get("Retry-After"))
		}
		if msg := body["error"].(map[string]any)["message"]; msg != locked {
			t.Errorf("%s: message %q", id, msg)
		}
		e.clock.Add(6 * time.Minute)
		page := newFormClient(t, base).post("/connexion", url.Values{"identifier": {id}, "password": {password}})
		page.want(t, id+" on the sign-in page", http.StatusLocked, strings.Replace(locked, "15 minutes", "9 minutes", 1))
		if got := page.Header.Get("Retry-After"); got != "540" {
			t.Errorf("%s: page Retry-After %q, want 540", id, got)
		}
	}
	metrics := scrape(t, server)
	for _, want := range []string{
		`apex_rate_limited_total{limit="signin_identifier"} 4`,
		`apex_signins_total{outcome="account_locked",step="password"} 4`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Two apexd on one directory: a code issued by one is accepted by the other,
// and the session works on both.
func TestAPITwoInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.instance()+"/api/v1", e.instance()+"/api/v1"
	p := e.person("Iris", "Deuxinstances", directory.RoleResponsable, "Comptabilité")
	_, body := call(t, "POST", a+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
	status, body := call(t, "POST", b+"/auth/verify", "", map[string]string{"challenge": body["challenge"].(string), "code": e.code(p.Email, 1)})
	if status != http.StatusOK {
		t.Fatalf("verify on the other instance: %d %v", status, body)
	}
	token := body["token"].(string)
	if status, me := call(t, "GET", a+"/me", token, nil); status != http.StatusOK || me["service"] != "Comptabilité" {
		t.Errorf("session on the first instance: %d %v", status, me)
	}
}

func TestAPIBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"not JSON", "text/plain", `{"identifier":"a","password":"b"}`, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"form post", "application/x-www-form-urlencoded", `identifier=a&password=b`, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"malformed", "application/json", `{"identifier":`, http.StatusBadRequest, "bad_request"},
		{"unknown field", "application/json", `{"identifier":"a","password":"b","admin":true}`, http.StatusBadRequest, "bad_request"},
		{"missing fields", "application/json", `{}`, http.StatusUnprocessableEntity, "invalid_request"},
	} {
		req, _ := http.NewRequest("POST", api+"/auth/login", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.status)
		}
	}
	status, body := call(t, "POST", api+"/auth/login", "", map[string]string{})
	details, _ := body["error"].(map[string]any)["details"].([]any)
	if status != http.StatusUnprocessableEntity || len(details) != 2 {
		t.Errorf("missing fields are all listed: %d %v", status, body)
	}
	if status, body := call(t, "GET", api+"/nowhere", "", nil); status != http.StatusNotFound || errorCode(body) != "not_found" {
		t.Errorf("unknown route: %d %v", status, body)
	}
	if status, body := call(t, "GET", api+"/me", "", nil); status != http.StatusUnauthorized || errorCode(body) != "unauthenticated" {
		t.Errorf("me without a session: %d %v", status, body)
	}
	if status, body := call(t, "GET", api+"/me", "forged.token-px."+strings.Repeat("A", 43), nil); status != http.StatusUnauthorized {
		t.Errorf("me with a forged token: %d %v", status, body)
	}
}

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

// Disabling an account ends its sessions at once: enabled again, its old
// token stays refused, though it was never used in between.
func TestAPIDisableEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	admin := e.person("Alix", "Admin", directory.RoleAdministrateur, "")
	p := e.person("Dora", "Desactivee", directory.RoleCollaborateur, "Comptabilité")
	token := e.signIn(api, p.Identifier, p.Email, password)
	adminToken := e.signIn(api, admin.Identifier, admin.Email, password)
	if status, _ := call(t, "GET", api+"/me", token, nil); status != http.StatusOK {
		t.Fatalf("the session: %d", status)
	}
	for _, action := range []string{"disable", "enable"} {
		if status, body := call(t, "POST", api+"/accounts/"+p.Identifier+"/"+action, adminToken, nil); status != http.StatusOK {
			t.Fatalf("%s: %d %v", action, status, body)
		}
	}
	if status, body := call(t, "GET", api+"/me", token, nil); status != http.StatusUnauthorized || errorCode(body) != "unauthenticated" {
		t.Errorf("the old token after disable and enable: %d %v, want 401", status, body)
	}
	e.signIn(api, p.Identifier, p.Email, password) // the account itself works again
}

// A stolen session does not become the account: PATCH /me changes the
// mobile or the mail only with the current password, and the account's
// address hears of a new mobile; a password change ends every other
// session, a renewal every one.
func TestAPIPersonalDataNeedsThePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Vera", "Volee", directory.RoleResponsable, "Comptabilité")
	if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: ptr("06 12 34 56 78")}); err != nil {
		t.Fatal(err)
	}
	mine := e.signIn(api, p.Identifier, p.Email, password)
	stolen := e.signIn(api, p.Identifier, p.Email, password)
	unchanged := func(what string) {
		t.Helper()
		now, err := e.store.FindPerson(ctx, p.Identifier)
		if err != nil || now.Mobile != "+33612345678" || now.Email != p.Email || now.LastName != p.LastName {
			t.Errorf("%s: the account changed: %+v %v", what, now, err)
		}
	}
	for _, body := range []map[string]string{
		{"mobile": "07 99 88 77 66"},
		{"mobile": ""},
		{"email": uniqueEmail("vera.pirate")},
		{"lastName": "Pirate", "mobile": "07 99 88 77 66"},
	} {
		status, answer := call(t, "PATCH", api+"/me", stolen, body)
		apiErr, _ := answer["error"].(map[string]any)
		details, _ := apiErr["details"].([]any)
		field := ""
		if len(details) == 1 {
			field, _ = details[0].(map[string]any)["field"].(string)
		}
		if status != http.StatusUnprocessableEntity || errorCode(answer) != "invalid_request" || field != "currentPassword" {
			t.Errorf("%v without currentPassword: %d %v, want 422 invalid_request on currentPassword", body, status, answer)
		}
		unchanged("without the current password")
	}
	wrong := map[string]string{"mobile": "07 99 88 77 66", "currentPassword": "Wrong-Password-42!"}
	if status, answer := call(t, "PATCH", api+"/me", stolen, wrong); status != http.StatusUnprocessableEntity || errorCode(answer) != "invalid_current_password" {
		t.Errorf("a wrong currentPassword: %d %v, want 422 invalid_current_password", status, answer)
	}
	unchanged("with a wrong current password")
	if status, answer := call(t, "PATCH", api+"/me", stolen, map[string]string{"firstName": "Véra"}); status != http.StatusOK || answer["firstName"] != "Véra" {
		t.Errorf("names alone: %d %v", status, answer)
	}
	if n := e.mailsTo(p.Email); n != 2 {
		t.Errorf("%d mails to the account, want its two codes only", n)
	}

	status, answer := call(t, "PATCH", api+"/me", mine, map[string]string{"mobile": "07 81 22 33 44", "currentPassword": password})
	if status != http.StatusOK || answer["mobile"] != "+33781223344" {
		t.Fatalf("a new mobile with the password: %d %v", status, answer)
	}
	told := e.lastMail(p.Email, "téléphone portable")
	if !regexp.MustCompile(`se terminant par :\n\n    44\n`).MatchString(told.Text) {
		t.Errorf("the mail of the new mobile:\n%s", told.Text)
	}

	if status, body := call(t, "PUT", api+"/me/password", mine, map[string]string{"current": password, "new": "Nouveau-Secret-77!"}); status != http.StatusNoContent {
		t.Fatalf("change password: %d %v", status, body)
	}
	if status, _ := call(t, "GET", api+"/me", mine, nil); status != http.StatusOK {
		t.Errorf("the session that changed the password: %d, want it open", status)
	}
	if status, body := call(t, "GET", api+"/me", stolen, nil); status != http.StatusUnauthorized || errorCode(body) != "unauthenticated" {
		t.Errorf("another session after the password change: %d %v, want 401", status, body)
	}

	e.renew(api, p, "+33781223344", "Renouvele-Secret-88!")
	if status, _ := call(t, "GET", api+"/me", mine, nil); status != http.StatusUnauthorized {
		t.Errorf("a session after a renewal: %d, want 401", status)
	}
}
