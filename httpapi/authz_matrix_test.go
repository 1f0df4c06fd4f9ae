package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// The authorization matrix of issue 7: every route of the API and every form
// post of the pages, read from the router, against every kind of caller.
// Each cell states the status expected; for each refused call the whole
// directory (the test's tree and ou=system) is read as the root before and
// after, and must not have changed.
//
// A new route fails the test until it has a row: add one line to apiRows
// or pageRows, e.g.
//
//	{"GET /api/v1/accounts/:identifier/history", only(200, cAdmin), at("/accounts/{colleague}/history")},

// The callers. The target of every row is structure A (siret), its service
// Comptabilité and the people in it.
const (
	cAnon       = "anonymous"
	cCollab     = "collaborateur"                      // of Comptabilité, in A
	cResp       = "responsable of the service"         // Comptabilité
	cOtherResp  = "responsable of another service"     // Paie, in A
	cAdmin      = "administrator of the structure"     // A
	cOtherAdmin = "administrator of another structure" // B
	cAgent      = "DGFiP agent"
	cDisabled   = "disabled account's old session" // an administrator of A, disabled after signing in
)

var callers = []string{cAnon, cCollab, cResp, cOtherResp, cAdmin, cOtherAdmin, cAgent, cDisabled}

const (
	siretB      = "44306184100047"
	serviceA    = "Comptabilité"
	otherSvcA   = "Paie"
	renamedSvcA = "Archivage" // the service the administrator renames
	emptySvcA   = "Vide"      // the service the administrator deletes
)

// want is the status each caller gets.
type want struct {
	status map[string]int
	// unchanged: every cell must leave the directory as it was, even when
	// it succeeds (implied for the API's GET).
	unchanged bool
}

// needsSession is the answer to a call without a live session on a route
// that needs one: 401 from the API, a 303 to /connexion from the pages.
const needsSession = -1

// only: the allowed callers get ok, other signed-in callers 403, anonymous
// callers and the disabled account's session needsSession.
func only(ok int, allowed ...string) want {
	w := want{status: map[string]int{cAnon: needsSession, cDisabled: needsSession}}
	for _, c := range callers[1 : len(callers)-1] {
		w.status[c] = 403
	}
	for _, c := range allowed {
		w.status[c] = ok
	}
	return w
}

// anySession: every live session gets ok.
func anySession(ok int) want {
	return only(ok, callers[1:len(callers)-1]...)
}

// public: the route does not look at the session; everyone gets status.
func public(status int) want {
	w := want{status: map[string]int{}}
	for _, c := range callers {
		w.status[c] = status
	}
	return w
}

// but changes one caller's status.
func (w want) but(caller string, status int) want {
	c := want{status: map[string]int{}, unchanged: w.unchanged}
	for k, v := range w.status {
		c.status[k] = v
	}
	c.status[caller] = status
	return c
}

// changesNothing: the row's calls never change the directory, whoever makes them.
func (w want) changesNothing() want {
	w.unchanged = true
	return w
}

// authzFixture is the directory of the matrix and one session per caller.
type authzFixture struct {
	t         *testing.T
	e         *env
	slapd     *slapd.Server
	base      string // the server's URL
	people    map[string]*directory.Person
	tokens    map[string]string // one session per caller, for the API and the pages
	pw        map[string]string // current password, by identifier
	colleague *directory.Person // a collaborateur of Paie, whose detail is read
	loginAs   *directory.Person // an account the sign-in rows use
	// The disabled account's sessions as they were before it was disabled
	// (which ended them): each cell puts them back first, and the first
	// request purges them again.
	disabledDN       string
	disabledSessions []string
	n                atomic.Int64
	// reviewLines are lines of the review the fixture starts, pending,
	// each of a collaborateur of Comptabilité: one per decision.
	reviewLines []string
	// skipOIDC leaves the sign-in requests (ou=oidc) out of the snapshots.
	skipOIDC bool
}

func (f *authzFixture) next() int64 { return f.n.Add(1) }

// email is a fresh address: mail is unique in the whole directory, which
// the other tests of the package share.
func (f *authzFixture) email(prefix string) string {
	return fmt.Sprintf("%s%d.%d@example.fr", prefix, time.Now().UnixNano(), f.next())
}

// mk creates an active account of a structure.
func (f *authzFixture) mk(first string, role directory.Role, siret, service string) *directory.Person {
	f.t.Helper()
	p, err := f.e.store.CreatePerson(ctx, directory.NewPerson{
		FirstName: first, LastName: "Matrice", Email: f.email("matrice"),
		Role: role, State: directory.StateActive, SIRET: siret, Service: service,
	}, password)
	if err != nil {
		f.t.Fatal(err)
	}
	f.pw[p.Identifier] = password
	return p
}

// target is a throwaway collaborateur of Comptabilité, for a cell that changes it.
func (f *authzFixture) target() *directory.Person {
	return f.mk(fmt.Sprintf("Cible %c", 'a'+f.next()%26), directory.RoleCollaborateur, siret, serviceA)
}

func (f *authzFixture) disabledTarget() *directory.Person {
	p := f.target()
	if err := f.e.store.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *authzFixture) grantedTarget() *directory.Person {
	p := f.target()
	if err := f.e.store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// invited is a fresh pre-creation of a collaborateur of Comptabilité.
func (f *authzFixture) invited() *directory.Invitation {
	f.t.Helper()
	inv, err := f.e.store.CreateInvitation(ctx, directory.NewInvitation{Email: f.email("demande"),
		Role: directory.RoleCollaborateur, SIRET: siret, Service: serviceA})
	if err != nil {
		f.t.Fatal(err)
	}
	return inv
}

// submitted is a fresh request waiting for its decision.
func (f *authzFixture) submitted() string {
	f.t.Helper()
	inv := f.invited()
	p, err := directory.Accounts{Store: f.e.store}.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Demande", LastName: "Matrice", Service: serviceA, Password: password})
	if err != nil {
		f.t.Fatal(err)
	}
	return p.RequestID
}

// captcha is a fresh captcha and its answer.
func (f *authzFixture) captcha() (id, answer string) {
	f.t.Helper()
	id, err := f.e.store.CreateCaptcha(ctx, "314159", 10*time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	return id, "314159"
}

// session opens a new session for a caller (for the sign-out rows, which end it).
func (f *authzFixture) session(caller string) string {
	f.t.Helper()
	p := f.people[caller]
	if p == nil || caller == cDisabled {
		return f.tokens[caller]
	}
	return f.e.signIn(f.base+"/api/v1", p.Identifier, p.Email, f.pw[p.Identifier])
}

// newPassword is a password never used by anyone in the test.
func (f *authzFixture) newPassword() string { return fmt.Sprintf("Matrice-%03d-Ab!", f.next()) }

// siret is a fresh valid SIRET: a Luhn key on the SIREN and on the whole.
func (f *authzFixture) siret() string {
	siren := withLuhnKey(fmt.Sprintf("9%07d", f.next()))
	return withLuhnKey(siren + "0001")
}

// withLuhnKey appends the digit that makes digits pass the Luhn check.
func withLuhnKey(digits string) string {
	for d := '0'; d <= '9'; d++ {
		s, sum := digits+string(d), 0
		for i := range len(s) {
			n := int(s[len(s)-1-i] - '0')
			if i%2 == 1 {
				if n *= 2; n > 9 {
					n -= 9
				}
			}
			sum += n
		}
		if sum%10 == 0 {
			return s
		}
	}
	panic("unreachable")
}

// expand fills a path's placeholders from the fixture.
func (f *authzFixture) expand(path string) string {
	return strings.NewReplacer(
		"{siret}", siret, "{service}", url.PathEscape(serviceA),
		"{colleague}", f.colleague.Identifier,
	).Replace(path)
}

// restoreDisabled puts the disabled account's sessions back as they were.
func (f *authzFixture) restoreDisabled() {
	f.t.Helper()
	rootReplace(f.t, f.disabledDN, "apexSession", f.disabledSessions)
}

// snapshot reads the test's tree and ou=system, every attribute, as the
// root. Left out: the disabled account's sessions, put back by each cell,
// which the service purges on their first use, as it should; and the
// decoy, which a failure with nothing of its own to write (a wrong renewal
// code of an unknown identifier) adds the first time and writes on by
// design, to cost what a real one does.
func (f *authzFixture) snapshot() string {
	f.t.Helper()
	decoy := "cn=apex-decoy,ou=system," + f.slapd.Suffix
	return slapdtest.Snapshot(f.t, f.slapd, func(dn, attr string) bool {
		return attr == "apexSession" && strings.EqualFold(dn, f.disabledDN) ||
			strings.EqualFold(dn, decoy) ||
			f.skipOIDC && strings.HasSuffix(strings.ToLower(dn), ",ou=oidc,ou=system,"+strings.ToLower(f.slapd.Suffix))
	}, f.e.cfg.BaseDN, "ou=system,"+f.slapd.Suffix)
}

// diff is the lines of a that b lacks and of b that a lacks, for failure messages.
func diff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// newAuthzFixture builds two structures (each with an administrator and two
// services with a responsable and collaborateurs), an agent, an application,
// and signs every caller in once; the disabled account signs in, then is
// disabled.
func newAuthzFixture(t *testing.T) (*authzFixture, []string) {
	e := newEnv(t)
	// The abuse limits count failures in the directory and would answer
	// 429 to a matrix that asks the same address hundreds of times: they
	// have tests of their own, and are off here.
	off := directory.Limit{Max: -1}
	e.cfg.Limits = directory.LimitPolicy{SignInIdentifier: off, SignInAddress: off, CodeAddress: off,
		CaptchaAddress: off, ResetIdentifier: off, ResetAddress: off, InvitationAccount: off, AuthorizeAddress: off}
	base, srv := e.server()
	f := &authzFixture{t: t, e: e, slapd: slapdtest.Shared(t), base: base,
		people: map[string]*directory.Person{}, tokens: map[string]string{}, pw: map[string]string{}}
	for _, sv := range []string{otherSvcA, renamedSvcA, emptySvcA} {
		if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: sv}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: siretB, Name: "Office Durand", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	for _, sv := range []string{"Standard", "Archives"} {
		if err := e.store.CreateService(ctx, directory.Service{SIRET: siretB, Name: sv}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"},
		RedirectURIs: []string{matrixRedirectURI}, HomeURL: "https://ficoba.example.fr/"}); err != nil {
		t.Fatal(err)
	}
	f.people[cCollab] = f.mk("Coline", directory.RoleCollaborateur, siret, serviceA)
	f.people[cResp] = f.mk("Rita", directory.RoleResponsable, siret, serviceA)
	f.people[cOtherResp] = f.mk("Roger", directory.RoleResponsable, siret, otherSvcA)
	f.people[cAdmin] = f.mk("Adam", directory.RoleAdministrateur, siret, "")
	f.people[cOtherAdmin] = f.mk("Autre", directory.RoleAdministrateur, siretB, "")
	f.people[cAgent] = f.mk("Agathe", directory.RoleAgent, "", "")
	f.people[cDisabled] = f.mk("Dora", directory.RoleAdministrateur, siret, "")
	f.mk("Bruno", directory.RoleResponsable, siretB, "Standard")
	f.mk("Berthe", directory.RoleResponsable, siretB, "Archives")
	f.mk("Basile", directory.RoleCollaborateur, siretB, "Standard")
	f.colleague = f.mk("Paul", directory.RoleCollaborateur, siret, otherSvcA)
	f.loginAs = f.mk("Louis", directory.RoleCollaborateur, siret, serviceA)
	for _, c := range []string{cResp, cOtherResp, cAdmin, cOtherAdmin} {
		if err := e.store.AddHabilitation(ctx, f.people[c].Identifier, "ficoba", "consultation"); err != nil {
			t.Fatal(err)
		}
	}
	f.startReview()
	for _, c := range callers[1:] {
		p := f.people[c]
		f.tokens[c] = e.signIn(base+"/api/v1", p.Identifier, p.Email, password)
	}
	// Disabling ends the sessions: the cells put back the one the account
	// had, as if it had survived, to check that it opens nothing either.
	dis := f.people[cDisabled]
	before := e.accountEntry(t, dis.Identifier, "apexSession")
	f.disabledDN, f.disabledSessions = before.DN, before.GetAttributeValues("apexSession")
	if len(f.disabledSessions) == 0 {
		t.Fatal("the account to disable has no session")
	}
	if err := e.store.SetState(ctx, dis.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if left := e.accountEntry(t, dis.Identifier, "apexSession").GetAttributeValues("apexSession"); len(left) != 0 {
		t.Fatalf("sessions left after disabling: %v", left)
	}

	var routes []string
	for _, r := range srv.Routes() {
		routes = append(routes, r.Method+" "+r.Path)
	}
	return f, routes
}

// startReview starts a review of habilitations whose lines include
// those of collaborateurs of Comptabilité, kept for the decisions' rows.
func (f *authzFixture) startReview() {
	f.t.Helper()
	var held []string
	for range 8 {
		held = append(held, f.grantedTarget().Identifier)
	}
	if _, err := (directory.Jobs{Store: f.e.store}).Reviews(ctx, &progressMem{}); err != nil {
		f.t.Fatal(err)
	}
	admin, err := f.e.store.FindPerson(ctx, f.people[cAdmin].Identifier)
	if err != nil {
		f.t.Fatal(err)
	}
	page, err := directory.Reviews{Store: f.e.store}.Lines(ctx, admin, directory.ReviewLinesQuery{Size: 200})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, l := range page.Lines {
		if slices.Contains(held, l.Account) {
			f.reviewLines = append(f.reviewLines, l.ID)
		}
	}
	if len(f.reviewLines) != len(held) {
		f.t.Fatalf("%d review lines, want %d", len(f.reviewLines), len(held))
	}
}

// reviewLine is a pending line of the review, a new one at each call.
func (f *authzFixture) reviewLine() string {
	return f.reviewLines[int(f.next())%len(f.reviewLines)]
}

// checkRows fails for a route without a row and a row without a route.
func checkRows(t *testing.T, routes []string, keep func(string) bool, rows []string) {
	t.Helper()
	have := map[string]bool{}
	for _, r := range rows {
		if have[r] {
			t.Errorf("two rows for %s", r)
		}
		have[r] = true
	}
	served := map[string]bool{}
	for _, r := range routes {
		if !keep(r) {
			continue
		}
		served[r] = true
		if !have[r] {
			t.Errorf("route %s has no row in the authorization matrix", r)
		}
	}
	for _, r := range rows {
		if !served[r] {
			t.Errorf("row %s: no such route", r)
		}
	}
}

// cell runs one call as caller and checks its status and, when it is
// refused (or the row changes nothing), that the directory did not change.
// call returns the status and the Location header.
func (f *authzFixture) cell(route, caller string, wantStatus int, page, changesNothing bool, call func() (int, string)) {
	t := f.t
	t.Helper()
	if caller == cDisabled {
		f.restoreDisabled()
	}
	before := f.snapshot()
	status, location := call()
	switch {
	case wantStatus == needsSession && page:
		if status != http.StatusSeeOther || location != "/connexion" {
			t.Errorf("%s by %s: %d to %q, want 303 to /connexion", route, caller, status, location)
		}
	case wantStatus == needsSession:
		if status != http.StatusUnauthorized {
			t.Errorf("%s by %s: %d, want 401", route, caller, status)
		}
	case status != wantStatus:
		t.Errorf("%s by %s: %d, want %d", route, caller, status, wantStatus)
	}
	if wantStatus == needsSession || wantStatus >= 400 || changesNothing {
		if after := f.snapshot(); after != before {
			t.Errorf("%s by %s: answered %d, yet the directory changed:\n%s", route, caller, status, diff(before, after))
		}
	}
}

// apiCall is one concrete request of a row.
type apiCall struct {
	method, path string // path under /api/v1
	body         any
	token        string // overrides the caller's session
}

type apiRow struct {
	route string // "METHOD /api/v1/path" as the router lists it
	want  want
	req   func(f *authzFixture, caller string) apiCall
}

// at is a request without a body to the route's method, at path (placeholders expanded).
func at(path string) func(*authzFixture, string) apiCall {
	return func(f *authzFixture, _ string) apiCall { return apiCall{path: f.expand(path)} }
}

// with is a request with a JSON body.
func with(path string, body any) func(*authzFixture, string) apiCall {
	return func(f *authzFixture, _ string) apiCall { return apiCall{path: f.expand(path), body: body} }
}

var apiRows = []apiRow{
	{"GET /api/v1/openapi.json", public(200), at("/openapi.json")},
	{"POST /api/v1/auth/login", public(200), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/auth/login", body: map[string]string{"identifier": f.loginAs.Identifier, "password": password}}
	}},
	{"POST /api/v1/auth/verify", public(401), with("/auth/verify", map[string]string{"challenge": "inconnu", "code": "123456"})},
	{"POST /api/v1/auth/resend", public(401), with("/auth/resend", map[string]string{"challenge": "inconnu"})},
	{"POST /api/v1/auth/logout", anySession(204), func(f *authzFixture, c string) apiCall {
		return apiCall{path: "/auth/logout", token: f.session(c)}
	}},
	{"GET /api/v1/me", anySession(200), at("/me")},
	{"PATCH /api/v1/me", anySession(200), with("/me", map[string]string{"lastName": "Matrice-Modifié"})},
	{"PUT /api/v1/me/password", anySession(204), func(f *authzFixture, c string) apiCall {
		current, next := password, f.newPassword()
		if p := f.people[c]; p != nil && c != cDisabled {
			current, f.pw[p.Identifier] = f.pw[p.Identifier], next
		}
		return apiCall{path: "/me/password", body: map[string]string{"current": current, "new": next}}
	}},
	// Nothing waits on the callers' accounts, and no link is known: the
	// e-mail change has tests of its own (mail_change_test.go).
	{"POST /api/v1/me/email/confirm", anySession(404).changesNothing(), with("/me/email/confirm", map[string]string{"code": "123456"})},
	{"GET /api/v1/email-confirmations/:token", public(404), at("/email-confirmations/inconnu")},
	{"POST /api/v1/email-confirmations/:token", public(404), with("/email-confirmations/inconnu", map[string]string{"password": password})},
	{"GET /api/v1/invitations/:token", public(200), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/invitations/" + f.invited().Token}
	}},
	{"POST /api/v1/invitations/:token", public(202), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/invitations/" + f.invited().Token, body: map[string]string{
			"lastName": "Matrice", "firstName": "Invitée", "service": serviceA, "password": password}}
	}},
	{"GET /api/v1/structures", anySession(200), at("/structures")},
	{"POST /api/v1/structures", only(201, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/structures", body: map[string]string{"siret": f.siret(), "name": "Nouvelle étude", "category": "Notaire"}}
	}},
	{"GET /api/v1/structures/:siret/services", anySession(200).but(cOtherAdmin, 403), at("/structures/{siret}/services")},
	{"POST /api/v1/structures/:siret/services", only(201, cAdmin), with("/structures/{siret}/services", map[string]string{"name": "Nouveau"})},
	{"PATCH /api/v1/structures/:siret/services/:service", only(200, cAdmin),
		with("/structures/{siret}/services/"+renamedSvcA, map[string]string{"name": "Archivage renommé"})},
	{"DELETE /api/v1/structures/:siret/services/:service", only(204, cAdmin), at("/structures/{siret}/services/" + emptySvcA)},
	{"POST /api/v1/structures/:siret/invitations", only(201, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: f.expand("/structures/{siret}/invitations"), body: map[string]string{
			"email": f.email("invite"), "role": "collaborateur", "service": serviceA}}
	}},
	// A file of one row, a collaborateur of Comptabilité: whoever may invite
	// into A gets its report (the other responsable and the agent, that row
	// refused by their rights); the others are refused whole.
	{"POST /api/v1/structures/:siret/invitations/bulk", only(200, cAdmin, cResp, cOtherResp, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: f.expand("/structures/{siret}/invitations/bulk"), body: []map[string]string{
			{"email": f.email("fichier"), "role": "collaborateur", "service": serviceA}}}
	}},
	{"GET /api/v1/structures/:siret/directory", anySession(200).but(cOtherAdmin, 403), at("/structures/{siret}/directory")},
	{"GET /api/v1/requests", anySession(200).but(cCollab, 403), at("/requests")},
	{"GET /api/v1/requests/count", anySession(200).but(cCollab, 403), at("/requests/count")},
	{"POST /api/v1/requests/:id/approve", only(200, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/requests/" + f.submitted() + "/approve"}
	}},
	{"POST /api/v1/requests/:id/refuse", only(200, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/requests/" + f.submitted() + "/refuse", body: map[string]string{"reason": "Pièces manquantes"}}
	}},
	{"POST /api/v1/requests/:id/resend", only(202, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/requests/" + f.invited().Person.RequestID + "/resend"}
	}},
	{"GET /api/v1/invitations", anySession(200).but(cCollab, 403), at("/invitations")},
	{"GET /api/v1/structures/:siret/accounts.csv", only(200, cAdmin), at("/structures/{siret}/accounts.csv")},
	{"GET /api/v1/applications/:application/habilitations.csv", only(200, cAgent), at("/applications/ficoba/habilitations.csv")},
	{"GET /api/v1/applications", anySession(200), at("/applications")},
	{"POST /api/v1/applications", only(201, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/applications", body: map[string]any{"id": fmt.Sprintf("app%d", f.next()), "name": "Application", "profiles": []string{"lecture"}}}
	}},
	{"PATCH /api/v1/applications/:application", only(200, cAgent), with("/applications/ficoba", map[string]any{"homeUrl": "https://ficoba.example.fr/accueil"})},
	{"POST /api/v1/applications/:application/profiles", only(201, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/applications/ficoba/profiles", body: map[string]string{"profile": fmt.Sprintf("profil%d", f.next())}}
	}},
	{"GET /api/v1/accounts", anySession(200).but(cCollab, 403), at("/accounts")},
	{"GET /api/v1/accounts/:identifier", anySession(200).but(cOtherAdmin, 403), at("/accounts/{colleague}")},
	{"GET /api/v1/accounts/:identifier/history", only(200, cAdmin, cAgent), at("/accounts/{colleague}/history")},
	{"POST /api/v1/accounts/:identifier/disable", only(200, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier + "/disable"}
	}},
	{"POST /api/v1/accounts/:identifier/enable", only(200, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.disabledTarget().Identifier + "/enable"}
	}},
	{"PATCH /api/v1/accounts/:identifier", only(200, cAdmin), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier, body: map[string]string{"service": otherSvcA}}
	}},
	{"DELETE /api/v1/accounts/:identifier", only(204, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier}
	}},
	{"PUT /api/v1/accounts/:identifier/habilitations/:application/:profile", only(204, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier + "/habilitations/ficoba/consultation"}
	}},
	{"DELETE /api/v1/accounts/:identifier/habilitations/:application/:profile", only(204, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.grantedTarget().Identifier + "/habilitations/ficoba/consultation"}
	}},
	{"PUT /api/v1/accounts/:identifier/end-date", only(200, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier + "/end-date", body: map[string]string{"endDate": inAMonth()}}
	}},
	{"GET /api/v1/reviews", anySession(200).but(cCollab, 403), at("/reviews")},
	{"GET /api/v1/reviews/:review/lines", anySession(200).but(cCollab, 403), at("/reviews/current/lines")},
	{"POST /api/v1/reviews/:review/decisions", only(200, cAdmin, cResp), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/reviews/current/decisions", body: map[string]any{"decision": "confirm", "lines": []string{f.reviewLine()}}}
	}},
	{"GET /api/v1/reviews/:review/structures", only(200, cAgent), at("/reviews/current/structures")},
	{"GET /api/v1/reviews/:review/structures/:siret", only(200, cAdmin, cAgent), at("/reviews/current/structures/{siret}")},
	{"GET /api/v1/reviews/:review/export", anySession(200).but(cCollab, 403), at("/reviews/current/export")},
	// The helpdesk: those who manage the account, and agents.
	{"GET /api/v1/accounts/:identifier/status", only(200, cAdmin, cOtherResp, cAgent), at("/accounts/{colleague}/status")},
	{"POST /api/v1/accounts/:identifier/unlock", only(200, cAdmin, cResp, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier + "/unlock"}
	}},
	{"POST /api/v1/accounts/:identifier/renewal-link", only(202, cAdmin, cResp, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier + "/renewal-link"}
	}},
	{"POST /api/v1/accounts/:identifier/email", only(202, cAdmin, cResp, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/accounts/" + f.target().Identifier + "/email", body: map[string]string{"email": f.email("corrige")}}
	}},
	{"POST /api/v1/requests/:id/cancel", only(204, cAdmin, cResp, cAgent), func(f *authzFixture, _ string) apiCall {
		return apiCall{path: "/requests/" + f.invited().Person.RequestID + "/cancel"}
	}},
	{"POST /api/v1/captcha", public(201), at("/captcha")},
	{"GET /api/v1/captcha/:file", public(200), func(f *authzFixture, _ string) apiCall {
		id, _ := f.captcha()
		return apiCall{path: "/captcha/" + id + ".png"}
	}},
	{"POST /api/v1/password/forgot", public(202), func(f *authzFixture, _ string) apiCall {
		id, answer := f.captcha()
		return apiCall{path: "/password/forgot", body: map[string]string{"identifier": "personne.inconnue-px", "captchaId": id, "captchaAnswer": answer}}
	}},
	{"POST /api/v1/password/forgot/:reset/verify", public(401), with("/password/forgot/inconnu/verify", map[string]string{"code": "123456"})},
	{"POST /api/v1/password/reset", public(404), with("/password/reset", map[string]string{"token": "inconnu", "password": "Matrice-999-Ab!"})},
}

// inAMonth is an end date a month away, AAAA-MM-JJ.
func inAMonth() string { return time.Now().AddDate(0, 1, 0).Format("2006-01-02") }

// do sends one API call as caller: the caller's session as a Bearer token,
// and a JSON content type on every write (what the API asks of writes, so
// that a refusal is the authorization's, not the media type's).
func (f *authzFixture) do(method string, c apiCall, caller string) (int, string) {
	f.t.Helper()
	var body *strings.Reader
	if c.body != nil {
		raw, err := json.Marshal(c.body)
		if err != nil {
			f.t.Fatal(err)
		}
		body = strings.NewReader(string(raw))
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, f.base+"/api/v1"+c.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	token := c.token
	if token == "" {
		token = f.tokens[caller]
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

func TestAuthorizationMatrixAPI(t *testing.T) {
	// Not parallel: the snapshots cover ou=system, which every test of the
	// package shares.
	f, routes := newAuthzFixture(t)
	var names []string
	for _, r := range apiRows {
		names = append(names, r.route)
	}
	checkRows(t, routes, func(r string) bool { return strings.Contains(r, " /api/") }, names)
	start := time.Now()
	cells := 0
	for _, row := range apiRows {
		method, _, _ := strings.Cut(row.route, " ")
		for _, caller := range callers {
			status, ok := row.want.status[caller]
			if !ok {
				t.Fatalf("%s: no status for %s", row.route, caller)
			}
			c := row.req(f, caller)
			f.cell(row.route, caller, status, false, method == http.MethodGet || row.want.unchanged, func() (int, string) { return f.do(method, c, caller) })
			cells++
		}
	}
	t.Logf("%d routes × %d callers = %d cells, in %v", len(apiRows), len(callers), cells, time.Since(start).Round(time.Millisecond))
}

// pageRow is a form post of the pages. The statuses are those of the API's
// rows, but a form that succeeds answers 303 (or 200 when it shows a
// result), and a missing or dead session (401 in the table) is a 303 to
// /connexion.
type pageRow struct {
	route string // "POST /path" as the router lists it
	want  want
	// form gives the path and the fields of one post; client, when not nil,
	// is who posts instead of the caller's own client.
	form func(f *authzFixture, caller string) (path string, fields url.Values, client *formClient)
}

// post is a form with fixed fields to path (placeholders expanded).
func post(path string, kv ...string) func(*authzFixture, string) (string, url.Values, *formClient) {
	return func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return f.expand(path), fields(kv...), nil
	}
}

func fields(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// onTarget posts to /gestion/comptes/<fresh target>/<action>.
func onTarget(target func(*authzFixture) *directory.Person, action string, kv ...string) func(*authzFixture, string) (string, url.Values, *formClient) {
	return func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/comptes/" + target(f).Identifier + "/" + action, fields(kv...), nil
	}
}

var pageRows = []pageRow{
	{"POST /connexion", public(303), func(f *authzFixture, c string) (string, url.Values, *formClient) {
		// a client of its own: the challenge cookie stays out of the caller's
		return "/connexion", fields("identifier", f.loginAs.Identifier, "password", password), f.pageClient(c, f.tokens[c])
	}},
	// Without a pending sign-in, back to its first step.
	{"POST /connexion/verification", public(303).changesNothing(), post("/connexion/verification", "code", "123456")},
	{"POST /connexion/renvoyer", public(303).changesNothing(), post("/connexion/renvoyer")},
	{"POST /deconnexion", anySession(303), func(f *authzFixture, c string) (string, url.Values, *formClient) {
		return "/deconnexion", nil, f.pageClient(c, f.session(c))
	}},
	{"POST /creation/:token", public(303), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/creation/" + f.invited().Token, fields("action", "envoyer", "lastName", "Matrice", "firstName", "Invitée",
			"service", serviceA, "password", password, "passwordConfirmation", password), nil
	}},
	{"POST /gestion/demandes/valider", only(303, cAdmin, cResp), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/demandes/valider", fields("request", f.submitted()), nil
	}},
	{"POST /gestion/demandes/refuser", only(303, cAdmin, cResp), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/demandes/refuser", fields("request", f.submitted(), "reason", "Pièces manquantes"), nil
	}},
	{"POST /gestion/invitations/renvoyer", only(303, cAdmin, cResp), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/invitations/renvoyer", fields("request", f.invited().Person.RequestID), nil
	}},
	{"POST /gestion/comptes/:identifier/desactiver", only(303, cAdmin, cResp), onTarget((*authzFixture).target, "desactiver")},
	{"POST /gestion/comptes/:identifier/reactiver", only(303, cAdmin, cResp), onTarget((*authzFixture).disabledTarget, "reactiver")},
	{"POST /gestion/comptes/:identifier/deplacer", only(303, cAdmin), onTarget((*authzFixture).target, "deplacer", "service", otherSvcA)},
	{"POST /gestion/comptes/:identifier/habiliter", only(303, cAdmin, cResp), onTarget((*authzFixture).target, "habiliter", "profile", "ficoba/consultation")},
	{"POST /gestion/comptes/:identifier/retirer", only(303, cAdmin, cResp),
		onTarget((*authzFixture).grantedTarget, "retirer", "application", "ficoba", "profile", "consultation")},
	{"POST /gestion/comptes/:identifier/date-de-fin", only(303, cAdmin, cResp),
		func(f *authzFixture, c string) (string, url.Values, *formClient) {
			return onTarget((*authzFixture).target, "date-de-fin", "accountEndDate", inAMonth())(f, c)
		}},
	{"POST /gestion/comptes/:identifier/suppression", only(303, cAdmin, cResp), onTarget((*authzFixture).target, "suppression")},
	{"POST /gestion/comptes/:identifier/debloquer", only(303, cAdmin, cResp, cAgent), onTarget((*authzFixture).target, "debloquer")},
	{"POST /gestion/comptes/:identifier/lien-de-renouvellement", only(303, cAdmin, cResp, cAgent), onTarget((*authzFixture).target, "lien-de-renouvellement")},
	{"POST /gestion/comptes/:identifier/adresse-mail", only(303, cAdmin, cResp, cAgent), func(f *authzFixture, c string) (string, url.Values, *formClient) {
		return onTarget((*authzFixture).target, "adresse-mail", "email", f.email("corrige"))(f, c)
	}},
	{"POST /gestion/invitations/annuler", only(303, cAdmin, cResp, cAgent), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/invitations/annuler", fields("request", f.invited().Person.RequestID), nil
	}},
	// The form invites into the poster's own structure (and a responsable's
	// own service): Comptabilité does not exist in B.
	{"POST /gestion/inviter", only(303, cAdmin, cResp, cOtherResp).but(cOtherAdmin, 422), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/inviter", fields("email", f.email("invite"), "role", "collaborateur", "service", serviceA), nil
	}},
	// A file's confirmation, into the poster's own structure (an agent's
	// names A): every signed-in caller who may invite somewhere gets the
	// run's page, the row refused where the rights or the services differ.
	{"POST /gestion/inviter/fichier", anySession(200).but(cCollab, 403), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/inviter/fichier", fields("action", "confirmer", "siret", siret,
			"contenu", "Adresse mail;Rôle;Service\r\n"+f.email("fichier")+";collaborateur;"+serviceA+"\r\n"), nil
	}},
	// The services forms act on the poster's own structure: B's
	// administrator creates a service in B, and finds no Archivage nor Vide there.
	{"POST /gestion/services", only(303, cAdmin, cOtherAdmin), post("/gestion/services", "name", "Nouveau")},
	{"POST /gestion/services/renommer", only(303, cAdmin).but(cOtherAdmin, 404), post("/gestion/services/renommer", "service", renamedSvcA, "name", "Archivage renommé")},
	{"POST /gestion/services/supprimer", only(303, cAdmin).but(cOtherAdmin, 404), post("/gestion/services/supprimer", "service", emptySvcA)},
	{"POST /gestion/revue", only(303, cAdmin, cResp), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/gestion/revue", fields("confirm", f.reviewLine()), nil
	}},
	{"POST /agent/structures", only(303, cAgent), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/agent/structures", fields("siret", f.siret(), "name", "Nouvelle étude", "category", "Notaire"), nil
	}},
	{"POST /agent/structures/:siret", only(303, cAgent), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/agent/structures/" + siret, fields("email", f.email("admin")), nil
	}},
	{"POST /agent/applications", only(303, cAgent), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/agent/applications", fields("id", fmt.Sprintf("app%d", f.next()), "name", "Application", "profiles", "lecture"), nil
	}},
	{"POST /agent/applications/:application", only(303, cAgent),
		post("/agent/applications/ficoba", "name", "FICOBA", "redirectUris", matrixRedirectURI, "homeUrl", "https://ficoba.example.fr/")},
	{"POST /agent/applications/:application/profils", only(303, cAgent), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		return "/agent/applications/ficoba/profils", fields("profile", fmt.Sprintf("profil%d", f.next())), nil
	}},
	{"POST /mot-de-passe/oublie", public(303), func(f *authzFixture, _ string) (string, url.Values, *formClient) {
		id, answer := f.captcha()
		return "/mot-de-passe/oublie", fields("identifier", "personne.inconnue-px", "captcha-id", id, "captcha", answer), nil
	}},
	{"POST /mot-de-passe/code", public(401), post("/mot-de-passe/code", "code", "123456")},
	// Without a renewal in this browser: a notice « Aucune demande en cours ».
	{"POST /mot-de-passe/renouveler", public(200).changesNothing(), post("/mot-de-passe/renouveler", "password", "Matrice-999-Ab!", "confirmation", "Matrice-999-Ab!")},
	{"POST /mot-de-passe/renouveler/:token", public(404), post("/mot-de-passe/renouveler/inconnu", "password", "Matrice-999-Ab!", "confirmation", "Matrice-999-Ab!")},
	// The summary of the changes: it saves nothing.
	{"POST /donnees-personnelles", anySession(200).changesNothing(), func(f *authzFixture, c string) (string, url.Values, *formClient) {
		return "/donnees-personnelles", f.personalData(c), nil
	}},
	{"POST /donnees-personnelles/enregistrer", anySession(200), func(f *authzFixture, c string) (string, url.Values, *formClient) {
		return "/donnees-personnelles/enregistrer", f.personalData(c), nil
	}},
	{"POST /donnees-personnelles/adresse-mail", anySession(404).changesNothing(), post("/donnees-personnelles/adresse-mail", "code", "123456")},
	{"POST /adresse-mail/confirmer/:token", public(404), post("/adresse-mail/confirmer/inconnu", "password", password)},
	{"POST /donnees-personnelles/mot-de-passe", anySession(200), func(f *authzFixture, c string) (string, url.Values, *formClient) {
		current, next := password, f.newPassword()
		if p := f.people[c]; p != nil && c != cDisabled {
			current, f.pw[p.Identifier] = f.pw[p.Identifier], next
		}
		return "/donnees-personnelles/mot-de-passe", fields("current", current, "password", next, "confirmation", next), nil
	}},
}

// personalData is the caller's personal data form with a new last name.
func (f *authzFixture) personalData(caller string) url.Values {
	p := f.people[caller]
	if p == nil {
		return fields("nom", "Matrice", "prenom", "Anonyme", "email", "anonyme@example.fr")
	}
	return fields("nom", "Matrice-Page", "prenom", p.FirstName, "email", p.Email)
}

// pageClient is a browser without script holding token as its session,
// with its form token already set.
func (f *authzFixture) pageClient(caller, token string) *formClient {
	f.t.Helper()
	c := newFormClient(f.t, f.base)
	c.get("/connexion") // sets the CSRF cookie, before the session is there
	if c.cookie("/", "apex_csrf") == "" {
		f.t.Fatal("no CSRF cookie from /connexion")
	}
	if token != "" {
		u, _ := url.Parse(f.base + "/")
		c.jar.SetCookies(u, []*http.Cookie{{Name: "apex_session", Value: token, Path: "/"}})
	}
	return c
}

func TestAuthorizationMatrixPages(t *testing.T) {
	// Not parallel: the snapshots cover ou=system, which every test of the
	// package shares.
	f, routes := newAuthzFixture(t)
	var names []string
	for _, r := range pageRows {
		names = append(names, r.route)
	}
	checkRows(t, routes, func(r string) bool {
		method, path, _ := strings.Cut(r, " ")
		return method == http.MethodPost && isPage(path)
	}, names)
	clients := map[string]*formClient{}
	for _, c := range callers {
		clients[c] = f.pageClient(c, f.tokens[c])
	}
	start := time.Now()
	cells := 0
	for _, row := range pageRows {
		for _, caller := range callers {
			status, ok := row.want.status[caller]
			if !ok {
				t.Fatalf("%s: no status for %s", row.route, caller)
			}
			path, form, client := row.form(f, caller)
			if client == nil {
				client = clients[caller]
			}
			f.cell(row.route, caller, status, true, row.want.unchanged, func() (int, string) {
				p := client.post(path, form)
				return p.Status, p.Location
			})
			cells++
		}
	}
	t.Logf("%d form posts × %d callers = %d cells, in %v", len(pageRows), len(callers), cells, time.Since(start).Round(time.Millisecond))
}

// The OpenID provider's routes: its protocol endpoints, which read no
// session, and the pages of a sign-in to an application, where the
// habilitation decides. Left out of the comparison: the sign-in requests
// themselves (ou=oidc), which a refusal ends by design.

const matrixRedirectURI = "https://ficoba.example.fr/retour"

// isOIDC tells the OpenID provider's routes.
func isOIDC(path string) bool {
	return strings.HasPrefix(path, "/oidc/") || strings.HasPrefix(path, "/.well-known/")
}

type oidcRow struct {
	route string // "METHOD /path" as the router lists it
	want  want
	// call sends one request as caller and returns its status and Location.
	call func(f *authzFixture, caller string) (int, string)
}

// oidcSend sends a request with the caller's session cookie, following
// no redirect.
func (f *authzFixture) oidcSend(caller, method, path string, form url.Values) (int, string) {
	f.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token := f.tokens[caller]; token != "" {
		req.AddCookie(&http.Cookie{Name: "apex_session", Value: token})
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// authorizeQuery is a valid authorization request of ficoba.
func authorizeQuery() url.Values {
	return url.Values{"client_id": {"ficoba"}, "redirect_uri": {matrixRedirectURI}, "response_type": {"code"}, "scope": {"openid profile"},
		"state": {"etat"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
}

// oidcRequest begins a sign-in request of ficoba and returns its id.
func (f *authzFixture) oidcRequest() string {
	f.t.Helper()
	r, err := directory.OIDC{Store: f.e.store}.Begin(ctx, directory.OIDCRequest{ClientID: "ficoba", RedirectURI: matrixRedirectURI,
		Scopes: []string{"openid"}, ResponseType: "code", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"})
	if err != nil {
		f.t.Fatal(err)
	}
	return r.ID
}

// signedInPage: a live session gets ok, anonymous callers and the disabled
// account's old session (which no longer counts) get anon.
func signedInPage(ok, anon int) want {
	w := public(ok)
	w.status[cAnon], w.status[cDisabled] = anon, anon
	return w
}

// logoutForm is the logout's confirmation, for an application's address.
var logoutForm = url.Values{"client_id": {"ficoba"}, "post_logout_redirect_uri": {"https://ficoba.example.fr/"}}

var oidcRows = []oidcRow{
	{"GET /.well-known/openid-configuration", public(200).changesNothing(), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "GET", "/.well-known/openid-configuration", nil)
	}},
	{"GET /oidc/keys", public(200).changesNothing(), func(f *authzFixture, c string) (int, string) { return f.oidcSend(c, "GET", "/oidc/keys", nil) }},
	{"GET /oidc/authorize", public(302), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "GET", "/oidc/authorize?"+authorizeQuery().Encode(), nil)
	}},
	{"POST /oidc/authorize", public(302), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "POST", "/oidc/authorize", authorizeQuery())
	}},
	{"POST /oidc/token", public(400), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "POST", "/oidc/token", url.Values{"grant_type": {"authorization_code"}, "code": {"inconnu"},
			"redirect_uri": {matrixRedirectURI}, "client_id": {"ficoba"}, "client_secret": {"Client-Secret-2026!"}, "code_verifier": {"v"}})
	}},
	{"GET /oidc/userinfo", public(401), func(f *authzFixture, c string) (int, string) { return f.oidcSend(c, "GET", "/oidc/userinfo", nil) }},
	{"POST /oidc/userinfo", public(401), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "POST", "/oidc/userinfo", url.Values{"access_token": {"inconnu"}})
	}},
	// Those who hold a profile of ficoba go back to it with a code; the
	// others get the refusal page; nobody signed in, the sign-in.
	{"GET /oidc/login", only(303, cResp, cOtherResp, cAdmin, cOtherAdmin), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "GET", "/oidc/login?id="+f.oidcRequest(), nil)
	}},
	// Without a hint, a session is asked to confirm; without one, back to the application.
	{"GET /oidc/end_session", signedInPage(200, 303).changesNothing(), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "GET", "/oidc/end_session?"+logoutForm.Encode(), nil)
	}},
	{"POST /oidc/end_session", signedInPage(200, 303).changesNothing(), func(f *authzFixture, c string) (int, string) {
		return f.oidcSend(c, "POST", "/oidc/end_session", logoutForm)
	}},
	// The confirmation ends the session (one of its own, for each cell).
	{"POST /oidc/deconnexion", public(303), func(f *authzFixture, c string) (int, string) {
		p := f.pageClient(c, f.session(c)).post("/oidc/deconnexion", logoutForm)
		return p.Status, p.Location
	}},
}

func TestAuthorizationMatrixOIDC(t *testing.T) {
	// Not parallel: the snapshots cover ou=system, which every test of the
	// package shares.
	f, routes := newAuthzFixture(t)
	var names []string
	for _, r := range oidcRows {
		names = append(names, r.route)
	}
	checkRows(t, routes, func(r string) bool { _, path, _ := strings.Cut(r, " "); return isOIDC(path) }, names)
	f.skipOIDC = true
	if status, _ := f.oidcSend(cAnon, "GET", "/oidc/keys", nil); status != http.StatusOK { // the first key, made once
		t.Fatalf("keys: %d", status)
	}
	cells := 0
	for _, row := range oidcRows {
		method, _, _ := strings.Cut(row.route, " ")
		for _, caller := range callers {
			status, ok := row.want.status[caller]
			if !ok {
				t.Fatalf("%s: no status for %s", row.route, caller)
			}
			f.cell(row.route, caller, status, true, row.want.unchanged || method == http.MethodGet && status < 300,
				func() (int, string) { return row.call(f, caller) })
			cells++
		}
	}
	t.Logf("%d routes × %d callers = %d cells", len(oidcRows), len(callers), cells)
}
