package httpapi_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

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
