package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// Last use and end dates, as the API and the pages show and take them.

// accountIn is the account of that identifier in GET /accounts of token.
func accountIn(t *testing.T, api, token, identifier string) map[string]any {
	t.Helper()
	status, body := call(t, "GET", api+"/accounts", token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /accounts: %d %v", status, body)
	}
	for _, a := range body["accounts"].([]any) {
		if m := a.(map[string]any); m["identifier"] == identifier {
			return m
		}
	}
	t.Fatalf("%s not in GET /accounts", identifier)
	return nil
}

// A sign-in is a bind, which slapd records (authTimestamp): its manager
// sees it in the API and on the account's pages, in Paris time.
func TestLastSignInIsShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	admin := e.person("Alix", "Usage", directory.RoleAdministrateur, "")
	collab := e.person("Colin", "Usage", directory.RoleCollaborateur, "Comptabilité")
	token := e.signIn(api, admin.Identifier, admin.Email, password)

	if got := accountIn(t, api, token, collab.Identifier); got["lastSignIn"] != nil {
		t.Errorf("never signed in: lastSignIn %v", got["lastSignIn"])
	}
	pages := newFormClient(t, base).signIn(e, admin)
	pages.get("/gestion/comptes/"+collab.Identifier).want(t, "account page, never used", http.StatusOK, "Aucune connexion enregistrée")

	before := time.Now().Add(-time.Second)
	e.signIn(api, collab.Identifier, collab.Email, password)
	got := accountIn(t, api, token, collab.Identifier)
	at, err := time.Parse(time.RFC3339, got["lastSignIn"].(string))
	if err != nil || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Fatalf("lastSignIn %v (%v), want about now", got["lastSignIn"], err)
	}
	shown := at.In(paris()).Format("02/01/2006 à 15:04")
	pages.get("/gestion/comptes/"+collab.Identifier).want(t, "account page", http.StatusOK, "Dernière connexion", shown)
	pages.get("/consultation/compte/"+collab.Identifier).want(t, "consultation", http.StatusOK, "Dernière connexion", shown)
	status, detail := call(t, "GET", api+"/accounts/"+collab.Identifier, token, nil)
	if status != http.StatusOK || detail["lastSignIn"] != got["lastSignIn"] {
		t.Errorf("GET /accounts/{identifier}: %d, lastSignIn %v", status, detail["lastSignIn"])
	}
}

func paris() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return l
}

// End dates through the API: set when inviting and when granting, changed
// and removed later; a day that is not after today, or not a day, is
// refused with its field named, and changes nothing.
func TestAPIEndDates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.person("Aline", "Fin", directory.RoleAdministrateur, "")
	if err := e.store.AddHabilitation(ctx, admin.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	collab := e.person("Cyril", "Fin", directory.RoleCollaborateur, "Comptabilité")
	token := e.signIn(api, admin.Identifier, admin.Email, password)
	month := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	year := time.Now().AddDate(1, 0, 0).Format("2006-01-02")

	for _, bad := range []struct{ name, day string }{
		{"yesterday", time.Now().AddDate(0, 0, -1).Format("2006-01-02")},
		{"today", time.Now().Format("2006-01-02")},
		{"not a day", "31/01/2027"},
		{"in twenty years", time.Now().AddDate(20, 0, 0).Format("2006-01-02")},
	} {
		status, body := call(t, "PUT", api+"/accounts/"+collab.Identifier+"/end-date", token, map[string]string{"endDate": bad.day})
		if field, _ := errorDetail(body); status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_request" || field != "endDate" {
			t.Errorf("end date %s: %d %v", bad.name, status, body)
		}
	}
	if got := accountIn(t, api, token, collab.Identifier); got["endDate"] != nil {
		t.Fatalf("after refusals: endDate %v", got["endDate"])
	}
	status, body := call(t, "PUT", api+"/accounts/"+collab.Identifier+"/end-date", token, map[string]string{"endDate": month})
	if status != http.StatusOK || body["endDate"] != month {
		t.Fatalf("set: %d %v", status, body)
	}
	if status, body := call(t, "PUT", api+"/accounts/"+collab.Identifier+"/end-date", token, map[string]string{"endDate": ""}); status != http.StatusOK || body["endDate"] != nil {
		t.Fatalf("removed: %d %v", status, body)
	}

	// A grant until a day; then held, a new day only changes it.
	path := api + "/accounts/" + collab.Identifier + "/habilitations/ficoba/consultation"
	if status, body := call(t, "PUT", path, token, map[string]string{"endDate": month}); status != http.StatusNoContent {
		t.Fatalf("grant until: %d %v", status, body)
	}
	habEnd := func() any {
		habs := accountIn(t, api, token, collab.Identifier)["habilitations"].([]any)
		if len(habs) != 1 {
			t.Fatalf("habilitations %v", habs)
		}
		return habs[0].(map[string]any)["endDate"]
	}
	if got := habEnd(); got != month {
		t.Errorf("habilitation's end %v, want %s", got, month)
	}
	if status, _ := call(t, "PUT", path, token, map[string]string{"endDate": year}); status != http.StatusNoContent || habEnd() != year {
		t.Errorf("changed: %d, %v", status, habEnd())
	}
	if status, _ := call(t, "PUT", path, token, nil); status != http.StatusNoContent || habEnd() != nil {
		t.Errorf("without a body, no end date: %d, %v", status, habEnd())
	}
	if status, body := call(t, "PUT", path, token, map[string]any{"endDate": month, "other": 1}); status != http.StatusBadRequest {
		t.Errorf("an unknown field: %d %v", status, body)
	}

	// An invitation with an end date carries it.
	status, body = call(t, "POST", api+"/structures/"+siret+"/invitations", token, map[string]string{
		"email": uniqueEmail("fin"), "role": "collaborateur", "service": "Comptabilité", "endDate": year})
	if status != http.StatusCreated {
		t.Fatalf("invite: %d %v", status, body)
	}
	p, err := e.store.FindPersonByRequest(ctx, body["id"].(string))
	if err != nil || directory.Day(p.EndDate) != year {
		t.Errorf("the invited account's end date: %v, %v", p, err)
	}
	if status, body := call(t, "POST", api+"/structures/"+siret+"/invitations", token, map[string]string{
		"email": uniqueEmail("fin"), "role": "collaborateur", "service": "Comptabilité", "endDate": "2020-01-01"}); status != http.StatusUnprocessableEntity {
		t.Errorf("invite with a past end date: %d %v", status, body)
	}
}

// End dates through the pages: each form says in French what is wrong
// beside its own field, and what it did.
func TestEndDatePages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.person("Anouk", "Fin", directory.RoleAdministrateur, "")
	if err := e.store.AddHabilitation(ctx, admin.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	collab := e.person("Clovis", "Fin", directory.RoleCollaborateur, "Comptabilité")
	pages := newFormClient(t, base).signIn(e, admin)
	page := "/gestion/comptes/" + collab.Identifier
	month := time.Now().AddDate(0, 1, 0)
	day := month.Format("2006-01-02")
	shown := month.Format("02/01/2006")

	pages.get(page).want(t, "account page", http.StatusOK, "Date de fin du compte", `name="accountEndDate"`, `name="endDate"`)
	pages.post(page+"/date-de-fin", url.Values{"accountEndDate": {"2020-01-01"}}).want(t, "a past day", http.StatusUnprocessableEntity,
		"La date de fin doit être postérieure à aujourd'hui.", `id="accountEndDate-error"`)
	pages.post(page+"/date-de-fin", url.Values{"accountEndDate": {"demain"}}).want(t, "not a day", http.StatusUnprocessableEntity,
		"La date de fin doit être une date au format AAAA-MM-JJ.")
	if p, _ := e.store.FindPerson(ctx, collab.Identifier); !p.EndDate.IsZero() {
		t.Fatalf("a refused form set an end date: %v", p.EndDate)
	}
	pages.post(page+"/date-de-fin", url.Values{"accountEndDate": {day}}).redirect(t, "an end date", page)
	pages.get(page).want(t, "after", http.StatusOK, "Date de fin enregistrée", "prend fin le "+shown, `value="`+day+`"`)

	pages.post(page+"/habiliter", url.Values{"profile": {"ficoba/consultation"}, "endDate": {"2020-01-01"}}).want(t, "a grant until a past day",
		http.StatusUnprocessableEntity, `id="endDate-error"`)
	pages.post(page+"/habiliter", url.Values{"profile": {"ficoba/consultation"}, "endDate": {day}}).redirect(t, "a grant until a day", page)
	got := pages.get(page)
	got.want(t, "after the grant", http.StatusOK, "Habilitation attribuée", "(fin le "+shown+")", "Date de fin d'une habilitation")
	pages.post(page+"/habiliter", url.Values{"form": {"date"}, "habilitation": {"ficoba/consultation"}, "habilitationEndDate": {""}}).redirect(t, "no end any more", page)
	got = pages.get(page)
	got.want(t, "after removing the habilitation's end", http.StatusOK, "Date de fin retirée")
	if strings.Contains(got.Text, "(fin le ") {
		t.Errorf("the habilitation still shows an end date:\n%s", mainText(got.Body))
	}
	if p, _ := e.store.FindPerson(ctx, collab.Identifier); !p.HasProfile("ficoba", "consultation") || directory.Day(p.EndDate) != day {
		t.Errorf("the account: %+v", p)
	}
	// The history tells it in French.
	pages.get(page+"/historique").want(t, "history", http.StatusOK, "Date de fin du compte : "+shown, "Date de fin d'habilitation retirée : FICOBA, profil consultation")
}

// What a scheduled job did shows in the account's history, by APEX
// Partenaires, as a scheduled job.
func TestJobEventsInTheHistoryPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	dormant := e.person("Dora", "Inactive", directory.RoleCollaborateur, "Comptabilité")
	e.clock.Add(181 * 24 * time.Hour)
	admin := e.person("Adrien", "Actif", directory.RoleAdministrateur, "")
	jobs := directory.Jobs{Store: e.store, Notifier: noticeSink{}, Policy: directory.AccessPolicy{DormancyWarnings: []time.Duration{}}}
	res, err := jobs.Dormancy(ctx, &cursor{})
	if err != nil || res["disabled"] != 1 {
		t.Fatalf("dormancy: %v, %v", res, err)
	}
	pages := newFormClient(t, base).signIn(e, admin)
	pages.get("/gestion/comptes/"+dormant.Identifier+"/historique").want(t, "history", http.StatusOK,
		"Désactivation pour inactivité", "APEX Partenaires", "tâche planifiée (dormancy)")
}

type cursor struct{ c string }

func (c *cursor) Cursor() string                               { return c.c }
func (c *cursor) SaveCursor(_ context.Context, v string) error { c.c = v; return nil }

// noticeSink is a notifier of the jobs that sends nothing.
type noticeSink struct{}

func (noticeSink) DormancyWarning(context.Context, *directory.Person, time.Time, time.Time) error {
	return nil
}
func (noticeSink) AccountDisabled(context.Context, *directory.Person, directory.DisableCause, time.Time) error {
	return nil
}
func (noticeSink) ManagedAccountDisabled(context.Context, directory.Recipient, *directory.Person, directory.DisableCause, time.Time) error {
	return nil
}
func (noticeSink) EndWarning(context.Context, *directory.Person, *directory.Application, string, time.Time) error {
	return nil
}
func (noticeSink) HabilitationEnded(context.Context, *directory.Person, *directory.Application, string) error {
	return nil
}
func (noticeSink) InvitationReminder(context.Context, *directory.Invitation, *directory.Structure) error {
	return nil
}
