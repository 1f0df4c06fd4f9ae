package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// Every number read from a request is bounded: a page number past int64
// was a recovered panic and a 500 on the consultation, API and page.
func TestConsultationNumbersAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Paula", "Pages", directory.RoleCollaborateur, "Comptabilité")
	token := e.signIn(base+"/api/v1", p.Identifier, p.Email, password)
	api := base + "/api/v1/structures/" + siret + "/directory"

	for _, tc := range []struct{ query, field string }{
		{"page=99999999999999999999", "page"},
		{"page=-99999999999999999999", "page"},
		{"page=9223372036854775807", "page"},
		{"page=0", "page"},
		{"page=-1", "page"},
		{"page=deux", "page"},
		{"page=1.5", "page"},
		{"page=%201", "page"},
		{"page=1&page=2", "page"},
		{"size=0", "size"},
		{"size=201", "size"},
		{"size=99999999999999999999", "size"},
		{"size=cinquante", "size"},
	} {
		status, body := call(t, "GET", api+"?"+tc.query, token, nil)
		if field, _ := errorDetail(body); status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_request" || field != tc.field {
			t.Errorf("API ?%s: %d %v, want 422 invalid_request on %s", tc.query, status, body, tc.field)
		}
	}
	for _, query := range []string{"", "page=1", "page=7&size=200", "size=1", "page=100000"} {
		status, body := call(t, "GET", api+"?"+query, token, nil)
		if status != http.StatusOK {
			t.Errorf("API ?%s: %d %v, want 200", query, status, body)
		}
	}

	c := newFormClient(t, base).signIn(e, p)
	for _, page := range []string{"99999999999999999999", "9223372036854775807", "0", "-3", "deux"} {
		got := c.get("/consultation?page=" + url.QueryEscape(page))
		got.want(t, "consultation page "+page, http.StatusBadRequest, "Le numéro de page doit être un nombre entier de 1 à 100000.")
	}
	c.get("/consultation?page=2").want(t, "a page past the end", http.StatusOK, "Consultation des comptes")
	if logs := e.logs.String(); strings.Contains(logs, `"panic"`) || strings.Contains(logs, `"status":500`) {
		t.Errorf("a panic or an internal error in the logs:\n%s", logs)
	}
}
