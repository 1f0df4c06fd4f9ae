package httpapi_test

import (
	"encoding/binary"
	"fmt"
	"image/png"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// captcha asks for a challenge and reads its answer as a person reads the
// image: here, from the directory, as slapd's root.
func (e *env) captcha(api string) (id, answer string) {
	e.t.Helper()
	status, body := call(e.t, "POST", api+"/captcha", "", map[string]string{})
	if status != http.StatusCreated {
		e.t.Fatalf("captcha: %d %v", status, body)
	}
	id = body["id"].(string)
	return id, e.captchaAnswer(id)
}

func TestAPICaptchaImageAndSound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	id, _ := e.captcha(api)
	res, img := get(t, api+"/captcha/"+id+".png")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("png: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if _, err := png.Decode(strings.NewReader(img)); err != nil {
		t.Errorf("not a PNG: %v", err)
	}
	res, wav := get(t, api+"/captcha/"+id+".wav")
	if res.StatusCode != 200 || !strings.HasPrefix(wav, "RIFF") || wav[8:12] != "WAVE" ||
		int(binary.LittleEndian.Uint32([]byte(wav[4:8]))) != len(wav)-8 {
		t.Errorf("wav: %d, %d bytes", res.StatusCode, len(wav))
	}
	if res, _ := get(t, api+"/captcha/"+strings.Repeat("A", 43)+".png"); res.StatusCode != 404 {
		t.Errorf("unknown captcha: %d", res.StatusCode)
	}
}

func TestAPIForgottenPasswordBySMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Sonia", "Texto", directory.RoleAdministrateur, "")
	if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: ptr("06 98 76 54 32")}); err != nil {
		t.Fatal(err)
	}
	// A wrong captcha sends nothing.
	id, answer := e.captcha(api)
	status, body := call(t, "POST", api+"/password/forgot", "", map[string]string{"identifier": p.Identifier, "captchaId": id, "captchaAnswer": answer + "1"})
	if status != 422 || errorCode(body) != "invalid_captcha" {
		t.Fatalf("wrong captcha: %d %v", status, body)
	}
	// Lock the account first: a reset unlocks it.
	for range 6 {
		call(t, "POST", api+"/auth/login", "", map[string]string{"identifier": p.Identifier, "password": "Wrong-Password-42!"})
	}
	id, answer = e.captcha(api)
	status, body = call(t, "POST", api+"/password/forgot", "", map[string]string{"identifier": p.Identifier, "captchaId": id, "captchaAnswer": answer})
	if status != 202 || body["reset"] == "" {
		t.Fatalf("forgot: %d %v", status, body)
	}
	if status, _ := call(t, "POST", api+"/password/forgot", "", map[string]string{"identifier": p.Identifier, "captchaId": id, "captchaAnswer": answer}); status != 422 {
		t.Errorf("a captcha used twice: %d", status)
	}
	reset := body["reset"].(string)
	sms := e.texts.wait(t, "+33698765432", 1)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(sms.Text)
	if status, body := call(t, "POST", api+"/password/forgot/"+reset+"/verify", "", map[string]string{"code": "000000x"}); status != 401 || errorCode(body) != "invalid_code" {
		t.Errorf("wrong code: %d %v", status, body)
	}
	status, body = call(t, "POST", api+"/password/forgot/"+reset+"/verify", "", map[string]string{"code": code})
	if status != 200 {
		t.Fatalf("verify: %d %v", status, body)
	}
	token := body["token"].(string)
	if status, body := call(t, "POST", api+"/password/reset", "", map[string]string{"token": token, "password": password}); status != 422 || errorCode(body) != "password_in_history" {
		t.Errorf("the current password: %d %v", status, body)
	}
	if status, body := call(t, "POST", api+"/password/reset", "", map[string]string{"token": token, "password": "Nouveau-Secret-77!"}); status != 204 {
		t.Fatalf("reset: %d %v", status, body)
	}
	if status, _ := call(t, "POST", api+"/password/reset", "", map[string]string{"token": token, "password": "Autre-Secret-88!"}); status != 404 {
		t.Errorf("the token used twice: %d", status)
	}
	e.lastMail(p.Email, "modifié")
	e.signIn(api, p.Identifier, p.Email, "Nouveau-Secret-77!")
	if e.logs.Holds(code) || e.logs.Holds("98765432") || e.logs.Holds(token) {
		t.Errorf("a code, a number or a token is in the logs")
	}
}

func TestAPIForgottenPasswordByMailAndUnknownIdentifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Marc", "Courriel", directory.RoleCollaborateur, "Comptabilité")
	shape := func(identifier string) (int, string, time.Duration) {
		id, answer := e.captcha(api)
		start := time.Now()
		status, body := call(t, "POST", api+"/password/forgot", "", map[string]string{"identifier": identifier, "captchaId": id, "captchaAnswer": answer})
		reset, _ := body["reset"].(string)
		return status, regexp.MustCompile(`^[a-z.-]+-px\.[A-Za-z0-9_-]{43}$`).ReplaceAllString(reset, "shape"), time.Since(start)
	}
	s1, r1, d1 := shape(p.Identifier)
	s2, r2, d2 := shape("nobody.here-px")
	if s1 != 202 || s2 != 202 || r1 != "shape" || r2 != "shape" {
		t.Errorf("known %d %q, unknown %d %q: the answers differ", s1, r1, s2, r2)
	}
	if d1 < 50*time.Millisecond || d2 < 50*time.Millisecond {
		t.Errorf("the answers come before the floor: %v %v", d1, d2)
	}
	m := e.lastMail(p.Email, "Renouvellement")
	link := regexp.MustCompile(`/mot-de-passe/renouveler/([A-Za-z0-9._%~-]+)`).FindStringSubmatch(m.Text)
	if link == nil {
		t.Fatalf("no link in:\n%s", m.Text)
	}
	token := strings.ReplaceAll(link[1], "%2E", ".")
	if status, body := call(t, "POST", api+"/password/reset", "", map[string]string{"token": token, "password": "Nouveau-Secret-77!"}); status != 204 {
		t.Fatalf("reset by link: %d %v", status, body)
	}
	if n := e.texts.count(); n != 0 {
		t.Errorf("%d SMS sent for accounts without a mobile", n)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAPIPersonalDataAndConsultation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	p := e.person("Paula", "Perso", directory.RoleResponsable, "Comptabilité")
	colleague := e.person("Carl", "Collègue", directory.RoleCollaborateur, "Comptabilité")
	if _, err := e.store.UpdatePerson(ctx, colleague.Identifier, directory.PersonUpdate{Mobile: ptr("0611111111")}); err != nil {
		t.Fatal(err)
	}
	token := e.signIn(api, p.Identifier, p.Email, password)

	status, body := call(t, "PATCH", api+"/me", token, map[string]string{"email": "pas-un-mail", "mobile": "12", "currentPassword": password})
	if details, _ := body["error"].(map[string]any)["details"].([]any); status != 422 || len(details) != 2 {
		t.Errorf("bad personal data: %d %v", status, body)
	}
	newEmail := fmt.Sprintf("paula.%d@example.fr", time.Now().UnixNano()) // mails are unique in the whole shared directory
	status, body = call(t, "PATCH", api+"/me", token, map[string]string{"lastName": "Nouveau-Nom", "email": newEmail, "mobile": "07 81 23 45 67", "currentPassword": password})
	if status != 200 || body["identifier"] != p.Identifier || body["lastName"] != "Nouveau-Nom" || body["mobile"] != "+33781234567" {
		t.Fatalf("update: %d %v", status, body)
	}
	e.lastMail(p.Email, "adresse")  // the old address
	e.lastMail(newEmail, "adresse") // and the new one

	if status, body := call(t, "PUT", api+"/me/password", token, map[string]string{"current": "Wrong-Password-42!", "new": "Nouveau-Secret-77!"}); status != 422 || errorCode(body) != "invalid_current_password" {
		t.Errorf("wrong current password: %d %v", status, body)
	}
	status, body = call(t, "PUT", api+"/me/password", token, map[string]string{"current": password, "new": "court"})
	if details, _ := body["error"].(map[string]any)["details"].([]any); status != 422 || errorCode(body) != "invalid_password" ||
		len(details) == 0 || details[0].(map[string]any)["field"] != "new" {
		t.Errorf("a new password that breaks the rules: %d %v, want invalid_password with the field new", status, body)
	}
	if status, body := call(t, "PUT", api+"/me/password", token, map[string]string{"current": password, "new": "Nouveau-Secret-77!"}); status != 204 {
		t.Errorf("change password: %d %v", status, body)
	}

	status, body = call(t, "GET", api+"/structures/"+siret+"/directory", token, nil)
	if status != 200 || body["total"].(float64) != 2 {
		t.Fatalf("directory: %d %v", status, body)
	}
	for _, raw := range body["accounts"].([]any) {
		if _, has := raw.(map[string]any)["mobile"]; has {
			t.Errorf("the directory shows a mobile: %v", raw)
		}
	}
	status, detail := call(t, "GET", api+"/accounts/"+colleague.Identifier, token, nil)
	if _, has := detail["mobile"]; status != 200 || has || detail["service"] != "Comptabilité" {
		t.Errorf("a colleague's detail: %d %v", status, detail)
	}
	if _, own := call(t, "GET", api+"/accounts/"+p.Identifier, token, nil); own["mobile"] != "+33781234567" {
		t.Errorf("one's own detail lacks the mobile: %v", own)
	}
	if _, own := call(t, "GET", api+"/accounts/"+strings.ToUpper(p.Identifier), token, nil); own["identifier"] != p.Identifier {
		t.Errorf("one's own detail, in capitals: %v", own)
	}
	if status, body := call(t, "GET", api+"/accounts/nobody.here-px", token, nil); status != 404 || errorCode(body) != "not_found" {
		t.Errorf("an unknown account's detail: %d %v", status, body)
	}
	if status, _ := call(t, "GET", api+"/accounts/"+colleague.Identifier, "", nil); status != 401 {
		t.Errorf("a detail without a session: %d", status)
	}
	if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: "44306184100047", Name: "Autre", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	if status, body := call(t, "GET", api+"/structures/44306184100047/directory", token, nil); status != 403 || errorCode(body) != "forbidden" {
		t.Errorf("another structure: %d %v", status, body)
	}
}

// A name with markup, a C1 control or a line separator is refused with a
// French message naming the field, and the account keeps its names.
func TestAPINamesRefuseMarkupAndControls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Marie", "Nommée", directory.RoleCollaborateur, "Comptabilité")
	token := e.signIn(base+"/api/v1", p.Identifier, p.Email, password)
	for _, tc := range []struct{ field, value, message string }{
		{"firstName", "<b>Marie</b>", "Le prénom ne doit contenir que des lettres, des espaces, des apostrophes, des tirets et des points."},
		{"firstName", "Ma\u0085rie", "Le prénom ne doit contenir que des lettres, des espaces, des apostrophes, des tirets et des points."},
		{"lastName", "Nommée\u2028Martin", "Le nom ne doit contenir que des lettres, des espaces, des apostrophes, des tirets et des points."},
		{"lastName", "\u202eeémmoN", "Le nom ne doit contenir que des lettres, des espaces, des apostrophes, des tirets et des points."},
	} {
		status, body := call(t, "PATCH", base+"/api/v1/me", token, map[string]string{tc.field: tc.value})
		field, message := errorDetail(body)
		if status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_request" || field != tc.field || message != tc.message {
			t.Errorf("%s %q: %d %v", tc.field, tc.value, status, body)
		}
	}
	status, me := call(t, "GET", base+"/api/v1/me", token, nil)
	if status != http.StatusOK || me["firstName"] != "Marie" || me["lastName"] != "Nommée" {
		t.Errorf("after refused changes: %d %v", status, me)
	}
	if status, body := call(t, "PATCH", base+"/api/v1/me", token, map[string]string{"lastName": "d’Alembert-Noël"}); status != http.StatusOK {
		t.Errorf("a good name: %d %v", status, body)
	}
}
