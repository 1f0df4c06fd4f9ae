package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

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
