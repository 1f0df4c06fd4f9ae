package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

var (
	confirmButton = regexp.MustCompile(`name="confirm" value="([0-9a-f]{32})">Confirmer<span class="fr-sr-only"> ([^<]*)</span>`)
	pageLines     = regexp.MustCompile(`name="line" value="([0-9a-f]{32})"`)
)

// The reviewer's page, without JavaScript: a line confirmed, the page's
// lines withdrawn at once, the refusals and mistakes, the progress and
// the export.
func TestReviewPages(t *testing.T) {
	t.Parallel()
	r := newReviewRig(t)
	base := strings.TrimSuffix(r.api, "/api/v1")
	respA := newFormClient(t, base).signIn(r.e, r.respA)
	admin := newFormClient(t, base).signIn(r.e, r.admin)
	agent := newFormClient(t, base).signIn(r.e, r.agent)

	home := respA.get("/")
	home.want(t, "home", http.StatusOK, `href="/gestion/revue">Revue des habilitations</a>`)

	// The responsable's page: their service's collaborateur, one button
	// of each kind per line, named for it.
	page := respA.get("/gestion/revue")
	page.want(t, "the responsable's page", http.StatusOK, "Revue des habilitations", "Cyril Revue", `<th scope="row">Cyril Revue`,
		"Retirer<span class=\"fr-sr-only\"> l'habilitation ficoba, profil consultation, de Cyril Revue</span>",
		"Confirmer toutes les habilitations à décider de cette page")
	if page.has("Camille Revue") {
		t.Error("the responsable sees another service's collaborateur")
	}
	m := confirmButton.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no confirm button:\n%s", page.Body)
	}
	respA.post("/gestion/revue", url.Values{"confirm": {m[1]}, "retour": {"q=cyril"}}).redirect(t, "confirm", "/gestion/revue?q=cyril")
	respA.get("/gestion/revue?q=cyril").want(t, "after confirming", http.StatusOK, "1 habilitation confirmée.", "Confirmée", "par "+r.respA.Identifier)

	// Refused: a line of another service; no decision at all.
	adminPage := admin.get("/gestion/revue")
	adminPage.want(t, "the administrator's page", http.StatusOK, "Camille Revue", "Romain Revue", "Rose Revue")
	var camille string
	for _, m := range confirmButton.FindAllStringSubmatch(adminPage.Body, -1) {
		if strings.Contains(m[2], "Camille") {
			camille = m[1]
		}
	}
	respA.post("/gestion/revue", url.Values{"withdraw": {camille}}).want(t, "another service's line", http.StatusForbidden)
	respA.post("/gestion/revue", url.Values{"all": {"withdraw"}}).want(t, "no line", http.StatusUnprocessableEntity,
		"Erreur : Revue des habilitations", "Aucune ligne n'a été traitée")
	if p, _ := r.e.store.FindPerson(ctx, r.collabB.Identifier); !p.HasProfile("ficoba", "consultation") {
		t.Fatal("a refused form withdrew a habilitation")
	}

	// The administrator withdraws every line left on the page.
	lines := pageLines.FindAllStringSubmatch(adminPage.Body, -1)
	if len(lines) != 3 { // Cyril's is confirmed
		t.Fatalf("%d lines to decide on the administrator's page, want 3", len(lines))
	}
	form := url.Values{"all": {"withdraw"}}
	for _, l := range lines {
		form.Add("line", l[1])
	}
	admin.post("/gestion/revue", form).redirect(t, "withdraw all", "/gestion/revue")
	admin.get("/gestion/revue").want(t, "after withdrawing", http.StatusOK, "3 habilitations retirées.")
	for _, p := range []string{r.collabB.Identifier, r.respA.Identifier, r.respB.Identifier} {
		if got, _ := r.e.store.FindPerson(ctx, p); got.HasProfile("ficoba", "consultation") {
			t.Errorf("%s still holds the habilitation", p)
		}
	}

	admin.get("/gestion/comptes/"+r.collabB.Identifier+"/historique").want(t, "the history of a line withdrawn", http.StatusOK,
		"Revue des habilitations : FICOBA, profil consultation retirée")

	agentLine := confirmButton.FindStringSubmatch(agent.get("/gestion/revue").Body)
	if agentLine == nil || !strings.Contains(agentLine[2], "Alice Revue") {
		t.Fatalf("the agent's line: %q", agentLine)
	}

	// Progress: agents, and the structure's administrators; the export.
	agent.get("/gestion/revue/structures").want(t, "the agents' progress", http.StatusOK, "Étude Martin & Associés", siret)
	admin.get("/gestion/revue/structures").want(t, "an administrator's list of structures", http.StatusForbidden)
	admin.get("/gestion/revue/structures/"+siret).want(t, "the structure's progress", http.StatusOK, "Par relecteur", "Romain Revue ("+r.respA.Identifier+")")
	respA.get("/gestion/revue/structures/"+siret).want(t, "a responsable's view of the progress", http.StatusForbidden)
	csv := admin.get("/gestion/revue/export.csv")
	if csv.Status != http.StatusOK || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(csv.Body, "\ufeffSIRET;") ||
		strings.Count(csv.Body, "\r\n") != 5 {
		t.Errorf("export: %d %q\n%s", csv.Status, csv.Header.Get("Content-Type"), csv.Body)
	}

	// After the deadline, the page says so and takes no decision.
	r.run(31 * 24 * time.Hour)
	agent = newFormClient(t, base).signIn(r.e, r.agent)
	closed := agent.get("/gestion/revue")
	closed.want(t, "after the deadline", http.StatusOK, "Cette revue est close")
	if pageLines.MatchString(closed.Body) {
		t.Error("a closed review offers decisions")
	}
	if !regexp.MustCompile(`<tr>\s*<th scope="row">Alice Revue`).MatchString(closed.Body) {
		t.Errorf("the agent's closed page lacks the administrator's line:\n%s", mainText(closed.Body))
	}
	agent.post("/gestion/revue", url.Values{"confirm": {agentLine[1]}}).want(t, "a decision after the deadline", http.StatusConflict, "La revue est close")
}

// A reviewer's lines by pages of 50: the page's buttons decide that page's
// lines only, and the form comes back to the page it was sent from.
func TestReviewPagesByPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	grant := func(p *directory.Person) {
		if err := e.store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.person("Alice", "Pages", directory.RoleAdministrateur, "")
	grant(admin)
	for i := range 52 {
		grant(e.person("Paul", fmt.Sprintf("Page%c%c", 'a'+i/26, 'a'+i%26), directory.RoleCollaborateur, "Comptabilité"))
	}
	if _, err := (directory.Jobs{Store: e.store}).Reviews(ctx, &progressMem{}); err != nil {
		t.Fatal(err)
	}
	base := e.instance()
	c := newFormClient(t, base).signIn(e, admin)
	first := c.get("/gestion/revue")
	first.want(t, "page 1", http.StatusOK, "52 lignes — page 1 sur 2", `href="/gestion/revue?page=2"`)
	if n := len(pageLines.FindAllString(first.Body, -1)); n != 50 {
		t.Errorf("page 1: %d lines to decide, want 50", n)
	}
	second := c.get("/gestion/revue?page=2")
	lines := pageLines.FindAllStringSubmatch(second.Body, -1)
	if len(lines) != 2 {
		t.Fatalf("page 2: %d lines to decide, want 2", len(lines))
	}
	form := url.Values{"all": {"confirm"}, "retour": {"page=2"}}
	for _, l := range lines {
		form.Add("line", l[1])
	}
	c.post("/gestion/revue", form).redirect(t, "confirm page 2", "/gestion/revue?page=2")
	c.get("/gestion/revue?page=2").want(t, "page 2 after", http.StatusOK, "2 habilitations confirmées.")
	if n := len(pageLines.FindAllString(c.get("/gestion/revue").Body, -1)); n != 50 {
		t.Errorf("page 1 after deciding page 2: %d lines to decide, want 50", n)
	}
}
