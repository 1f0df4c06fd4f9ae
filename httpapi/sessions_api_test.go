package httpapi_test

import (
	"net/http"
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
