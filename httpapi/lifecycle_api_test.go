package httpapi_test

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// signIn goes through both steps for an account and returns its token.
func (e *env) signIn(api, identifier, email string, pw string) string {
	e.t.Helper()
	before := e.codeMails(email)
	status, body := call(e.t, "POST", api+"/auth/login", "", map[string]string{"identifier": identifier, "password": pw})
	if status != http.StatusOK {
		e.t.Fatalf("login %s: %d %v", identifier, status, body)
	}
	status, body = call(e.t, "POST", api+"/auth/verify", "", map[string]string{"challenge": body["challenge"].(string), "code": e.code(email, before+1)})
	if status != http.StatusOK {
		e.t.Fatalf("verify %s: %d %v", identifier, status, body)
	}
	return body["token"].(string)
}

var linkPattern = regexp.MustCompile(`/creation/([A-Za-z0-9._~%-]+)`)

// link reads the pre-creation token from the last mail to addr.
func (e *env) link(addr string) string {
	e.t.Helper()
	last := e.smtp.WaitFor(e.t, smtptest.ToAddress(addr), 10*time.Second)
	for _, c := range e.smtp.Messages() {
		if smtptest.ToAddress(addr)(c) {
			last = c
		}
	}
	found := linkPattern.FindStringSubmatch(last.Text)
	if found == nil {
		e.t.Fatalf("no link in the mail to %s:\n%s", addr, last.Text)
	}
	return strings.ReplaceAll(found[1], "%2E", ".")
}

// lastMail waits for a mail to addr whose subject contains subject.
func (e *env) lastMail(addr, subject string) smtptest.Captured {
	e.t.Helper()
	return e.smtp.WaitFor(e.t, func(c smtptest.Captured) bool {
		return smtptest.ToAddress(addr)(c) && strings.Contains(c.Subject, subject)
	}, 10*time.Second)
}

// The guide's sections 1.1 to 2, end to end through the API, with the mails
// read from a real SMTP server.
func TestAPIAccountLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agnès", LastName: "Cycle", Email: "agnes.cycle@dgfip.example.fr",
		Role: directory.RoleAgent, State: directory.StateActive}, password)
	if err != nil {
		t.Fatal(err)
	}
	agentToken := e.signIn(api, agent.Identifier, agent.Email, password)

	// 1. The agent creates a structure and pre-creates its administrator.
	if status, body := call(t, "POST", api+"/structures", agentToken, map[string]string{"siret": "12345678901234", "name": "X", "category": "Y"}); status != 422 || errorCode(body) != "invalid_siret" {
		t.Errorf("bad SIRET: %d %v", status, body)
	}
	if status, body := call(t, "POST", api+"/structures", agentToken, map[string]string{"siret": siret, "name": "X", "category": "Y"}); status != 409 || errorCode(body) != "structure_exists" {
		t.Errorf("existing SIRET: %d %v", status, body)
	}
	const newSIRET = "44306184100047"
	if status, body := call(t, "POST", api+"/structures", agentToken, map[string]string{"siret": newSIRET, "name": "Caisse de retraite du Nord", "category": "Caisse de retraite"}); status != 201 {
		t.Fatalf("create structure: %d %v", status, body)
	}
	status, body := call(t, "POST", api+"/structures/"+newSIRET+"/invitations", agentToken, map[string]string{"email": "marie.cycle@example.fr", "role": "administrateur"})
	if status != 201 || body["id"] == "" {
		t.Fatalf("invite: %d %v", status, body)
	}
	requestID := body["id"].(string)

	// 2. The administrator opens the link (a GET changes nothing) and fills the form.
	token := e.link("marie.cycle@example.fr")
	for range 2 {
		status, body = call(t, "GET", api+"/invitations/"+token, "", nil)
		if status != 200 || body["email"] != "marie.cycle@example.fr" || body["role"] != "administrateur" {
			t.Fatalf("invitation: %d %v", status, body)
		}
	}
	status, body = call(t, "POST", api+"/invitations/"+token, "", map[string]string{"lastName": "Cycle", "firstName": "Marie", "password": "trop-simple"})
	details, _ := body["error"].(map[string]any)["details"].([]any)
	if status != 422 || errorCode(body) != "invalid_password" || len(details) < 2 {
		t.Errorf("weak password: %d %v", status, body)
	}
	form := map[string]string{"lastName": "Cycle", "firstName": "Marie", "mobile": "06 11 22 33 44", "password": password}
	if status, body = call(t, "POST", api+"/invitations/"+token, "", form); status != 202 || body["status"] != "submitted" {
		t.Fatalf("submit: %d %v", status, body)
	}
	if status, body = call(t, "POST", api+"/invitations/"+token, "", form); status != 404 || errorCode(body) != "invalid_link" {
		t.Errorf("the link used twice: %d %v", status, body)
	}

	// 3. The agent validates; the identifier is mailed.
	status, body = call(t, "GET", api+"/requests", agentToken, nil)
	if reqs, _ := body["requests"].([]any); status != 200 || len(reqs) != 1 {
		t.Fatalf("requests: %d %v", status, body)
	}
	status, body = call(t, "POST", api+"/requests/"+requestID+"/approve", agentToken, nil)
	if status != 200 || body["identifier"] != "marie.cycle-px" {
		t.Fatalf("approve: %d %v", status, body)
	}
	if status, body := call(t, "POST", api+"/requests/"+requestID+"/approve", agentToken, nil); status != 409 || errorCode(body) != "already_decided" {
		t.Errorf("approve twice: %d %v", status, body)
	}
	if m := e.lastMail("marie.cycle@example.fr", "validé"); !strings.Contains(m.Text, "marie.cycle-px") {
		t.Errorf("the identifier mail:\n%s", m.Text)
	}

	// The agent declares FICOBA and habilitates the administrator.
	if status, body := call(t, "POST", api+"/applications", agentToken, map[string]any{"id": "ficoba", "name": "FICOBA", "profiles": []string{"consultation", "gestion"}}); status != 201 {
		t.Fatalf("declare application: %d %v", status, body)
	}
	if status, body := call(t, "PUT", api+"/accounts/marie.cycle-px/habilitations/ficoba/consultation", agentToken, nil); status != 204 {
		t.Fatalf("habilitate the administrator: %d %v", status, body)
	}
	e.lastMail("marie.cycle@example.fr", "FICOBA")

	// 4. The administrator signs in, creates a service, invites a collaborateur.
	admin := e.signIn(api, "marie.cycle-px", "marie.cycle@example.fr", password)
	if status, body := call(t, "POST", api+"/structures/"+newSIRET+"/services", admin, map[string]string{"name": "Gestion"}); status != 201 {
		t.Fatalf("create service: %d %v", status, body)
	}
	if status, body := call(t, "POST", api+"/structures/"+siret+"/services", admin, map[string]string{"name": "Ailleurs"}); status != 403 || errorCode(body) != "forbidden" {
		t.Errorf("service in another structure: %d %v", status, body)
	}
	status, body = call(t, "POST", api+"/structures/"+newSIRET+"/invitations", admin, map[string]string{"email": "sylvie.cycle@example.fr", "role": "collaborateur", "service": "Gestion"})
	if status != 201 {
		t.Fatalf("invite collaborateur: %d %v", status, body)
	}
	collabRequest := body["id"].(string)
	token = e.link("sylvie.cycle@example.fr")
	status, body = call(t, "GET", api+"/invitations/"+token, "", nil)
	if services, _ := body["services"].([]any); len(services) != 1 || body["service"] != "Gestion" {
		t.Errorf("the form offers the services: %v", body)
	}
	if status, body = call(t, "POST", api+"/invitations/"+token, "", map[string]string{"lastName": "d'Alembert", "firstName": "Sylvie", "service": "Gestion", "password": password}); status != 202 {
		t.Fatalf("collaborateur submits: %d %v", status, body)
	}
	status, body = call(t, "POST", api+"/requests/"+collabRequest+"/approve", admin, nil)
	if status != 200 || body["identifier"] != "sylvie.dalembert-px" {
		t.Fatalf("approve collaborateur: %d %v", status, body)
	}
	if status, body := call(t, "PUT", api+"/accounts/sylvie.dalembert-px/habilitations/ficoba/gestion", admin, nil); status != 403 {
		t.Errorf("hand out a profile not held: %d %v", status, body)
	}
	if status, body := call(t, "PUT", api+"/accounts/sylvie.dalembert-px/habilitations/ficoba/consultation", admin, nil); status != 204 {
		t.Fatalf("habilitate the collaborateur: %d %v", status, body)
	}

	// A DGFiP application binds as the collaborateur and sees the profile.
	dn := e.accountEntry(t, "sylvie.dalembert-px", "1.1").DN
	out, err := exec.Command("ldapwhoami", "-x", "-H", e.cfg.URL, "-D", dn, "-w", password).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "dn:"+dn {
		t.Errorf("ldapwhoami: %v %s", err, out)
	}
	if p, _ := e.store.FindPerson(ctx, "sylvie.dalembert-px"); !p.HasProfile("ficoba", "consultation") {
		t.Errorf("memberOf lacks the profile: %+v", p.Habilitations)
	}

	// Refusal with its reasons, and a second Marie Cycle.
	for i, email := range []string{"refusee.cycle@example.fr", "marie2.cycle@example.fr"} {
		_, body = call(t, "POST", api+"/structures/"+newSIRET+"/invitations", agentToken, map[string]string{"email": email, "role": "administrateur"})
		id := body["id"].(string)
		call(t, "POST", api+"/invitations/"+e.link(email), "", map[string]string{"lastName": "Cycle", "firstName": "Marie", "password": password})
		if i == 0 {
			if status, body := call(t, "POST", api+"/requests/"+id+"/refuse", agentToken, map[string]string{"reason": ""}); status != 422 {
				t.Errorf("refusal without reason: %d %v", status, body)
			}
			if status, body := call(t, "POST", api+"/requests/"+id+"/refuse", agentToken, map[string]string{"reason": "Structure inconnue.\nContactez votre correspondant."}); status != 200 {
				t.Fatalf("refuse: %d %v", status, body)
			}
			if m := e.lastMail(email, "refusée"); !strings.Contains(m.Text, "Structure inconnue.") {
				t.Errorf("the refusal mail:\n%s", m.Text)
			}
		} else if status, body := call(t, "POST", api+"/requests/"+id+"/approve", agentToken, nil); body["identifier"] != "marie.cycle2-px" {
			t.Errorf("a second Marie Cycle: %d %v", status, body)
		}
	}
	if status, body := call(t, "GET", api+"/invitations/forged."+strings.Repeat("A", 43), "", nil); status != 404 || errorCode(body) != "invalid_link" {
		t.Errorf("forged link: %d %v", status, body)
	}
}

func TestAPIExpiredInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "tard@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * 24 * time.Hour)
	if status, body := call(t, "GET", api+"/invitations/"+inv.Token, "", nil); status != 410 || errorCode(body) != "link_expired" {
		t.Errorf("expired link: %d %v", status, body)
	}
}

// Two decisions on one request at the same moment, through two instances:
// whatever the interleaving, one answers success and the other 409
// already_decided, never 404. Many rounds, each pair of decisions.
func TestAPIDecisionRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apis := []string{e.instance() + "/api/v1", e.instance() + "/api/v1"}
	admin := e.person("Adèle", "Arbitre", directory.RoleAdministrateur, "")
	token := e.signIn(apis[0], admin.Identifier, admin.Email, password)
	approve := func(api, id string) (int, map[string]any) {
		return call(t, "POST", api+"/requests/"+id+"/approve", token, nil)
	}
	refuse := func(api, id string) (int, map[string]any) {
		return call(t, "POST", api+"/requests/"+id+"/refuse", token, map[string]string{"reason": "Doublon."})
	}
	pairs := [][2]func(string, string) (int, map[string]any){{approve, refuse}, {refuse, approve}, {approve, approve}, {refuse, refuse}}
	for round := range 5 {
		for k, pair := range pairs {
			inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: fmt.Sprintf("course%d.%d@example.fr", round, k), Role: directory.RoleCollaborateur,
				SIRET: siret, Service: "Comptabilité", RequestedBy: admin.Identifier})
			if err != nil {
				t.Fatal(err)
			}
			p, err := directory.Accounts{Store: e.store}.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Course", LastName: "Api", Service: "Comptabilité", Password: password})
			if err != nil {
				t.Fatal(err)
			}
			var start, done sync.WaitGroup
			status := make([]int, 2)
			bodies := make([]map[string]any, 2)
			start.Add(1)
			for i, decide := range pair {
				done.Go(func() {
					start.Wait()
					status[i], bodies[i] = decide(apis[i], p.RequestID)
				})
			}
			start.Done()
			done.Wait()
			won := 0
			for i := range 2 {
				switch {
				case status[i] == http.StatusOK:
					won++
				case status[i] != http.StatusConflict || errorCode(bodies[i]) != "already_decided":
					t.Errorf("round %d, pair %d: a loser got %d %v, want 409 already_decided", round, k, status[i], bodies[i])
				}
			}
			if won != 1 {
				t.Errorf("round %d, pair %d: %v: exactly one must win", round, k, status)
			}
		}
	}
}

// A responsable invites a collaborateur of their service; the invitee's
// form, posted to the API with another service, is refused (422 on the
// service) and changes nothing: the request stays in the responsable's
// reach. Without a service it is the invitation's.
func TestAPIInviteeCannotMoveAResponsablesInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	resp := e.person("Rita", "Service", directory.RoleResponsable, "Comptabilité")
	token := e.signIn(api, resp.Identifier, resp.Email, password)
	email := uniqueEmail("colin.service")
	status, body := call(t, "POST", api+"/structures/"+siret+"/invitations", token, map[string]string{"email": email, "role": "collaborateur", "service": "Comptabilité"})
	if status != 201 {
		t.Fatalf("invite: %d %v", status, body)
	}
	id := body["id"].(string)
	link := e.link(email)
	if status, body := call(t, "GET", api+"/invitations/"+link, "", nil); status != 200 || fmt.Sprint(body["services"]) != "[Comptabilité]" {
		t.Errorf("the form's choices: %d %v, want Comptabilité alone", status, body)
	}
	form := map[string]string{"lastName": "Service", "firstName": "Colin", "service": "Paie", "password": password}
	status, body = call(t, "POST", api+"/invitations/"+link, "", form)
	if field, _ := errorDetail(body); status != 422 || errorCode(body) != "invalid_request" || field != "service" {
		t.Errorf("the form into Paie: %d %v, want 422 on the service", status, body)
	}
	if p, _ := e.store.FindPersonByRequest(ctx, id); p.Service != "Comptabilité" || p.State != directory.StateInvited {
		t.Fatalf("after the refused form: %+v", p)
	}
	delete(form, "service")
	if status, body = call(t, "POST", api+"/invitations/"+link, "", form); status != 202 {
		t.Fatalf("the form without a service: %d %v", status, body)
	}
	status, body = call(t, "GET", api+"/requests", token, nil)
	if status != 200 || !strings.Contains(fmt.Sprint(body), id) {
		t.Errorf("the responsable's requests lack the invitee's: %d %v", status, body)
	}
}
