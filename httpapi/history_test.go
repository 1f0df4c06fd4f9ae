package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/dgfip/apex-partenaires/directory"
)

// historyTable reads the rows of the history page's table, cell texts.
func historyTable(t *testing.T, body string) [][]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var walk func(n *html.Node, inBody bool)
	walk = func(n *html.Node, inBody bool) {
		if n.Type == html.ElementNode && n.Data == "tbody" {
			inBody = true
		}
		if inBody && n.Type == html.ElementNode && n.Data == "tr" {
			var row []string
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "td" {
					row = append(row, strings.Join(strings.Fields(text(c)), " "))
				}
			}
			rows = append(rows, row)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inBody)
		}
	}
	walk(doc, false)
	return rows
}

func TestHistoryThroughTheAPIAndThePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.person("Ada", "Histoire", directory.RoleAdministrateur, "")
	if err := e.store.AddHabilitation(ctx, admin.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	resp := e.person("Rémi", "Histoire", directory.RoleResponsable, "Comptabilité")
	collab := e.person("Colette", "Histoire", directory.RoleCollaborateur, "Comptabilité")
	target := e.person("Théo", "Histoire", directory.RoleCollaborateur, "Comptabilité")
	adminToken := e.signIn(api, admin.Identifier, admin.Email, password)
	collabToken := e.signIn(api, collab.Identifier, collab.Email, password)
	respToken := e.signIn(api, resp.Identifier, resp.Email, password)
	accountURL := api + "/accounts/" + target.Identifier

	for _, step := range []struct{ method, path string }{
		// Twice the same change at the same (frozen) time: two events all the same.
		{"POST", "/disable"}, {"POST", "/disable"}, {"POST", "/enable"}, {"PUT", "/habilitations/ficoba/consultation"},
	} {
		if status, body := call(t, step.method, accountURL+step.path, adminToken, nil); status >= 300 {
			t.Fatalf("%s %s: %d %v", step.method, step.path, status, body)
		}
	}
	// Refused: a log line, nothing kept.
	if status, body := call(t, "POST", accountURL+"/disable", collabToken, nil); status != http.StatusForbidden {
		t.Fatalf("a collaborateur disables: %d %v", status, body)
	}
	// The account's own password change, then a forgotten password renewed.
	targetToken := e.signIn(api, target.Identifier, target.Email, password)
	const changed, renewed = "Change-Histoire-52!", "Renouvele-Hist-73!"
	if status, body := call(t, "PUT", api+"/me/password", targetToken, map[string]string{"current": password, "new": changed}); status != http.StatusNoContent && status != http.StatusOK {
		t.Fatalf("change password: %d %v", status, body)
	}
	link := e.resetLink(base, target)
	if status, body := call(t, "POST", api+"/password/reset", "", map[string]string{"token": link, "password": renewed}); status >= 300 {
		t.Fatalf("reset: %d %v", status, body)
	}

	status, body := call(t, "GET", accountURL+"/history", adminToken, nil)
	if status != http.StatusOK || body["identifier"] != target.Identifier {
		t.Fatalf("history: %d %v", status, body)
	}
	events, _ := body["events"].([]any)
	want := []struct{ action, actor, detail string }{
		{"password.reset", target.Identifier, ""},
		{"password.change", target.Identifier, ""},
		{"habilitation.grant", admin.Identifier, "ficoba/consultation"},
		{"account.enable", admin.Identifier, ""},
		{"account.disable", admin.Identifier, ""},
		{"account.disable", admin.Identifier, ""},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(events), len(want), events)
	}
	for i, w := range want {
		ev := events[i].(map[string]any)
		detail, _ := ev["detail"].(string)
		if ev["action"] != w.action || ev["actor"] != w.actor || detail != w.detail || ev["source"] != "127.0.0.1" || ev["outcome"] != "success" || ev["at"] == "" {
			t.Errorf("event %d = %v, want %+v from 127.0.0.1", i, ev, w)
		}
	}
	for name, token := range map[string]string{"collaborateur": collabToken, "responsable": respToken} {
		if status, body := call(t, "GET", accountURL+"/history", token, nil); status != http.StatusForbidden || errorCode(body) != "forbidden" {
			t.Errorf("%s reads the history: %d %v", name, status, body)
		}
	}
	if status, body := call(t, "GET", api+"/accounts/nobody.here-px/history", adminToken, nil); status != http.StatusNotFound {
		t.Errorf("history of nobody: %d %v", status, body)
	}
	if status, _ := call(t, "GET", accountURL+"/history", "", nil); status != http.StatusUnauthorized {
		t.Errorf("history without a session: %d", status)
	}

	// The log: one line per attempt, the refused one with who and from where;
	// never a password, a token or a link.
	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"audit","actor":"`+collab.Identifier+`","actor_role":"collaborateur","action":"account.disable","account":"`+target.Identifier+`"`) ||
		!strings.Contains(logs, `"source":"127.0.0.1","outcome":"refused"`) {
		t.Errorf("no refused audit line in the log:\n%s", logs)
	}
	for _, secret := range []string{password, changed, renewed, link, adminToken, collabToken, targetToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}

	// The page: the administrator sees the table, newest first; the account's
	// page links it; a collaborateur is refused.
	page := newFormClient(t, base).signIn(e, admin)
	p := page.get("/gestion/comptes/" + target.Identifier + "/historique")
	p.want(t, "history page", http.StatusOK, "Historique du compte de Théo Histoire")
	rows := historyTable(t, p.Body)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	wantRows := [][]string{
		{target.Identifier + " (Collaborateur)", "Renouvellement du mot de passe oublié", "127.0.0.1", "Effectué"},
		{target.Identifier + " (Collaborateur)", "Changement du mot de passe", "127.0.0.1", "Effectué"},
		{admin.Identifier + " (Administrateur)", "Habilitation : FICOBA, profil consultation", "127.0.0.1", "Effectué"},
		{admin.Identifier + " (Administrateur)", "Réactivation du compte", "127.0.0.1", "Effectué"},
		{admin.Identifier + " (Administrateur)", "Désactivation du compte", "127.0.0.1", "Effectué"},
		{admin.Identifier + " (Administrateur)", "Désactivation du compte", "127.0.0.1", "Effectué"},
	}
	for i, w := range wantRows {
		if len(rows[i]) != 5 || !strings.Contains(rows[i][0], " à ") || strings.Join(rows[i][1:], "|") != strings.Join(w, "|") {
			t.Errorf("row %d = %q, want a date then %q", i, rows[i], w)
		}
	}
	for _, secret := range []string{password, changed, renewed, link} {
		if p.has(secret) {
			t.Errorf("the page holds a secret %q", secret)
		}
	}
	page.get("/gestion/comptes/"+target.Identifier).want(t, "account page", http.StatusOK,
		`href="/gestion/comptes/`+target.Identifier+`/historique"`)
	page.get("/consultation/compte/"+target.Identifier).want(t, "consultation page", http.StatusOK,
		`href="/gestion/comptes/`+target.Identifier+`/historique"`)
	page.get("/gestion/comptes/nobody.here-px/historique").want(t, "history of nobody", http.StatusNotFound)

	other := newFormClient(t, base).signIn(e, collab)
	other.get("/gestion/comptes/"+target.Identifier+"/historique").want(t, "history page for a collaborateur", http.StatusForbidden)
	if other.get("/consultation/compte/" + target.Identifier).has("/historique") {
		t.Errorf("the consultation page links the history for a collaborateur")
	}
}
