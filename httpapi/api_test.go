package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

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
