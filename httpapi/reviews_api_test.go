package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// reviewWorld: a structure with two services, an application, the people
// who hold its profiles, and a review started by the job.
type reviewRig struct {
	e                       *env
	api                     string
	admin, respA, respB     *directory.Person
	collabA, collabB, agent *directory.Person
	jobs                    directory.Jobs
}

type progressMem struct{ c string }

func (m *progressMem) Cursor() string                               { return m.c }
func (m *progressMem) SaveCursor(_ context.Context, c string) error { m.c = c; return nil }

func newReviewRig(t *testing.T) *reviewRig {
	t.Helper()
	e := newEnv(t)
	r := &reviewRig{e: e, jobs: directory.Jobs{Store: e.store}}
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	mk := func(first string, role directory.Role, service string) *directory.Person {
		p := e.person(first, "Revue", role, service)
		if err := e.store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r.admin = mk("Alice", directory.RoleAdministrateur, "")
	r.respA = mk("Romain", directory.RoleResponsable, "Comptabilité")
	r.respB = mk("Rose", directory.RoleResponsable, "Paie")
	r.collabA = mk("Cyril", directory.RoleCollaborateur, "Comptabilité")
	r.collabB = mk("Camille", directory.RoleCollaborateur, "Paie")
	agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agathe", LastName: "Revue", Email: "agathe.revue@dgfip.example.fr",
		Role: directory.RoleAgent, State: directory.StateActive}, password)
	if err != nil {
		t.Fatal(err)
	}
	r.agent = agent
	r.api = e.instance() + "/api/v1"
	r.run(time.Minute)
	return r
}

// run moves the clock by d and runs the reviews' job.
func (r *reviewRig) run(d time.Duration) {
	r.e.t.Helper()
	r.e.clock.Add(d)
	if _, err := r.jobs.Reviews(ctx, &progressMem{}); err != nil {
		r.e.t.Fatal(err)
	}
}

func (r *reviewRig) token(p *directory.Person) string {
	return r.e.signIn(r.api, p.Identifier, p.Email, password)
}

// lineIDs are the ids of the lines the token's reviewer sees, by account.
func (r *reviewRig) lineIDs(token string) map[string]string {
	r.e.t.Helper()
	status, body := call(r.e.t, "GET", r.api+"/reviews/current/lines", token, nil)
	if status != http.StatusOK {
		r.e.t.Fatalf("lines: %d %v", status, body)
	}
	out := map[string]string{}
	for _, l := range body["lines"].([]any) {
		m := l.(map[string]any)
		out[m["account"].(string)] = m["id"].(string)
	}
	return out
}

func TestAPIReviews(t *testing.T) {
	t.Parallel()
	r := newReviewRig(t)
	admin, respA, agent := r.token(r.admin), r.token(r.respA), r.token(r.agent)

	// A responsable sees their service's collaborateur only; the
	// administrator the structure's responsables and collaborateurs.
	respLines := r.lineIDs(respA)
	if len(respLines) != 1 || respLines[r.collabA.Identifier] == "" {
		t.Fatalf("the responsable's lines: %v", respLines)
	}
	adminLines := r.lineIDs(admin)
	if len(adminLines) != 4 || adminLines[r.admin.Identifier] != "" {
		t.Fatalf("the administrator's lines: %v", adminLines)
	}
	if lines := r.lineIDs(agent); len(lines) != 1 || lines[r.admin.Identifier] == "" {
		t.Fatalf("the agent's lines: %v", lines)
	}
	status, body := call(t, "GET", r.api+"/reviews/current/lines?state=lost", admin, nil)
	if status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_request" {
		t.Errorf("a bad state: %d %v", status, body)
	}

	// Refused: another service's line; a bad decision; nothing changes.
	for _, c := range []struct {
		token  string
		body   any
		status int
		code   string
	}{
		{respA, map[string]any{"decision": "withdraw", "lines": []string{adminLines[r.collabB.Identifier]}}, http.StatusForbidden, "forbidden"},
		{admin, map[string]any{"decision": "maybe", "lines": []string{adminLines[r.collabB.Identifier]}}, http.StatusUnprocessableEntity, "invalid_request"},
		{admin, map[string]any{"decision": "withdraw", "lines": []string{}}, http.StatusUnprocessableEntity, "invalid_request"},
		{admin, map[string]any{"decision": "withdraw", "lines": []string{"../x"}}, http.StatusUnprocessableEntity, "invalid_request"},
		{admin, map[string]any{"decision": "withdraw", "lines": []string{strings.Repeat("0", 32)}}, http.StatusNotFound, "not_found"},
		{admin, map[string]any{"decision": "withdraw", "extra": 1}, http.StatusBadRequest, "bad_request"},
	} {
		status, body := call(t, "POST", r.api+"/reviews/current/decisions", c.token, c.body)
		if status != c.status || errorCode(body) != c.code {
			t.Errorf("%v: %d %v, want %d %s", c.body, status, body, c.status, c.code)
		}
	}
	if p, _ := r.e.store.FindPerson(ctx, r.collabB.Identifier); !p.HasProfile("ficoba", "consultation") {
		t.Fatal("a refused decision withdrew the habilitation")
	}

	// Decisions.
	status, body = call(t, "POST", r.api+"/reviews/current/decisions", respA, map[string]any{"decision": "confirm", "lines": []string{respLines[r.collabA.Identifier]}})
	if status != http.StatusOK || body["results"].([]any)[0].(map[string]any)["outcome"] != "confirmed" {
		t.Fatalf("confirm: %d %v", status, body)
	}
	status, body = call(t, "POST", r.api+"/reviews/current/decisions", admin, map[string]any{"decision": "withdraw",
		"lines": []string{adminLines[r.collabB.Identifier], adminLines[r.collabA.Identifier]}})
	if status != http.StatusOK {
		t.Fatalf("withdraw: %d %v", status, body)
	}
	var outcomes []string
	for _, x := range body["results"].([]any) {
		outcomes = append(outcomes, x.(map[string]any)["outcome"].(string))
	}
	if strings.Join(outcomes, ",") != "withdrawn,already_decided" {
		t.Errorf("outcomes %v", outcomes)
	}
	if p, _ := r.e.store.FindPerson(ctx, r.collabB.Identifier); p.HasProfile("ficoba", "consultation") {
		t.Error("the withdrawal left the habilitation")
	}

	// Progress: the agents' list of structures; a structure's reviewers.
	status, body = call(t, "GET", r.api+"/reviews/current/structures?q=martin", agent, nil)
	if status != http.StatusOK || body["total"] != float64(1) {
		t.Fatalf("structures: %d %v", status, body)
	}
	counts := body["structures"].([]any)[0].(map[string]any)["counts"].(map[string]any)
	if counts["pending"] != float64(3) || counts["confirmed"] != float64(1) || counts["withdrawn"] != float64(1) {
		t.Errorf("counts %v", counts)
	}
	if status, body := call(t, "GET", r.api+"/reviews/current/structures", admin, nil); status != http.StatusForbidden {
		t.Errorf("an administrator's list of structures: %d %v", status, body)
	}
	status, body = call(t, "GET", r.api+"/reviews/current/structures/"+siret, admin, nil)
	if status != http.StatusOK || len(body["reviewers"].([]any)) != 4 {
		t.Errorf("the structure's reviewers: %d %v", status, body)
	}
	if status, _ := call(t, "GET", r.api+"/reviews/current/structures/"+siret, respA, nil); status != http.StatusForbidden {
		t.Errorf("a responsable's view of the structure's progress: %d", status)
	}

	// The export: CSV, ";", UTF-8 with a BOM, the lines the reviewer sees.
	req, _ := http.NewRequest("GET", r.api+"/reviews/current/export", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csv := string(raw)
	rows := strings.Split(strings.TrimSuffix(csv, "\r\n"), "\r\n")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(csv, "\ufeffSIRET;Structure;Service;Identifiant;Nom;Rôle;Application;Profil;État;Décidé par;Décidé le\r\n") || len(rows) != 5 {
		t.Fatalf("export: %d %q\n%s", res.StatusCode, res.Header.Get("Content-Type"), csv)
	}
	if !strings.Contains(csv, siret+";Étude Martin & Associés;Paie;"+r.collabB.Identifier+";Camille Revue;Collaborateur;ficoba;consultation;Retirée;"+r.admin.Identifier+";") {
		t.Errorf("the withdrawn line in the export:\n%s", csv)
	}
	status, body = call(t, "GET", r.api+"/reviews/current/export?siret=44306184100047", admin, nil)
	if status != http.StatusForbidden {
		t.Errorf("an administrator's export of another structure: %d %v", status, body)
	}

	// After the deadline: closed.
	r.run(31 * 24 * time.Hour)
	admin = r.token(r.admin) // the session ended meanwhile
	status, body = call(t, "POST", r.api+"/reviews/current/decisions", admin, map[string]any{"decision": "confirm", "lines": []string{adminLines[r.respB.Identifier]}})
	if status != http.StatusConflict || errorCode(body) != "review_closed" {
		t.Errorf("a decision after the deadline: %d %v", status, body)
	}
	if p, _ := r.e.store.FindPerson(ctx, r.respB.Identifier); p.HasProfile("ficoba", "consultation") {
		t.Error("the deadline left an unconfirmed habilitation")
	}
}
