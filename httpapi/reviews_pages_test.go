package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
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
		"Revue des habilitations : ficoba, profil consultation retirée")

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
