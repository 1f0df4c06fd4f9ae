package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/httpapi"
)

// The accessibility test runs axe-core (npm, pinned in package.json, installed
// by make deps) on every page the router serves, in the state where it
// renders, and on the states no route shows by itself (errors, notices, each
// role's home page). It checks the rules of WCAG 2.1 A and AA, which RGAA 4
// builds on.

// axeTags are the axe-core rules run: WCAG 2.0 and 2.1, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// pageState is what a page needs before it renders.
type pageState int

const (
	signedIn      pageState = iota // the default: pages behind the session
	anonymous                      // a signed-in person is sent home
	afterPassword                  // the first sign-in step is done
)

// pageSetup is how to visit a page route that needs more than the default:
// signed in as an administrator of the test structure, at the route's path.
type pageSetup struct {
	state pageState
	role  directory.Role // who signs in; "": an administrator
	// path is the path to visit, the route's parameters filled from the
	// fixture and the person signed in (nil when anonymous); a route with
	// parameters (gin's :name or *name) needs one. f.e.t is the page's own
	// subtest.
	path func(f *a11yFixture, p *directory.Person) string
}

// pageSetups are the pages that the default does not show: they need a
// path, a person who may see them, or no session at all. A new page route
// with parameters and no entry here fails the test, and so does one that
// answers the default with another page or an error, naming what it showed
// instead.
var pageSetups = map[string]pageSetup{
	"/connexion":              {state: anonymous},
	"/connexion/verification": {state: afterPassword},

	"/mot-de-passe/oublie":     {state: anonymous},
	"/mot-de-passe/code":       {state: anonymous},
	"/mot-de-passe/renouveler": {state: anonymous},
	// A live renewal link, from the mail of a real request.
	"/mot-de-passe/renouveler/:token": {state: anonymous, path: func(f *a11yFixture, _ *directory.Person) string {
		p := f.e.person("Alix", "Lien", directory.RoleCollaborateur, "Comptabilité")
		return "/mot-de-passe/renouveler/" + f.e.resetLink(f.base, p)
	}},

	// A live confirmation link of a new address, from its mail.
	"/adresse-mail/confirmer/:token": {state: anonymous, path: func(f *a11yFixture, _ *directory.Person) string {
		p := f.e.person("Alix", "Adresse", directory.RoleCollaborateur, "Comptabilité")
		token, _ := f.e.newEmailOf(f.base+"/api/v1", p, uniqueEmail("a11y.adresse"))
		return "/adresse-mail/confirmer/" + token
	}},

	"/consultation/:siret": {path: func(*a11yFixture, *directory.Person) string { return "/consultation/" + siret }},
	// A colleague with a mobile, habilitated to an application.
	"/consultation/compte/:identifier": {path: func(f *a11yFixture, _ *directory.Person) string {
		p := f.person(f.e.t, "Collegue", directory.RoleCollaborateur, "Comptabilité")
		if _, err := f.e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: new("0611223344")}); err != nil {
			f.e.t.Fatal(err)
		}
		return "/consultation/compte/" + p.Identifier
	}},

	"/creation/:token": {state: anonymous, path: func(f *a11yFixture, _ *directory.Person) string {
		inv, err := f.e.store.CreateInvitation(ctx, directory.NewInvitation{Email: uniqueEmail("a11y.creation"), Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité"})
		if err != nil {
			f.e.t.Fatal(err)
		}
		return "/creation/" + inv.Token
	}},
	"/gestion/demandes": {path: func(f *a11yFixture, _ *directory.Person) string {
		lcSubmittedRequest(f.e, "Alix", "Demande")
		return "/gestion/demandes"
	}},
	"/gestion/comptes/:identifier": {path: func(f *a11yFixture, _ *directory.Person) string {
		return "/gestion/comptes/" + lcManagedSample(f).Identifier
	}},
	"/gestion/comptes/:identifier/suppression": {path: func(f *a11yFixture, _ *directory.Person) string {
		return "/gestion/comptes/" + lcManagedSample(f).Identifier + "/suppression"
	}},
	// An account with a few changes, made by the administrator signed in.
	"/gestion/comptes/:identifier/historique": {path: func(f *a11yFixture, admin *directory.Person) string {
		p := lcManagedSample(f)
		acc := directory.Accounts{Store: f.e.store}
		for _, enabled := range []bool{false, true} {
			if _, err := acc.SetEnabled(directory.WithSource(ctx, "192.0.2.1"), admin, p.Identifier, enabled); err != nil {
				f.e.t.Fatal(err)
			}
		}
		return "/gestion/comptes/" + p.Identifier + "/historique"
	}},
	"/gestion/invitations": {path: func(f *a11yFixture, _ *directory.Person) string {
		if _, err := f.e.store.CreateInvitation(ctx, directory.NewInvitation{Email: uniqueEmail("a11y.invitation"), Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité"}); err != nil {
			f.e.t.Fatal(err)
		}
		return "/gestion/invitations"
	}},
	"/agent/structures":        {role: directory.RoleAgent},
	"/agent/structures/:siret": {role: directory.RoleAgent, path: func(*a11yFixture, *directory.Person) string { return "/agent/structures/" + siret }},
	"/agent/applications":      {role: directory.RoleAgent},
	// A review of habilitations, started once for the three pages.
	"/gestion/revue": {path: func(f *a11yFixture, _ *directory.Person) string { f.startReview(); return "/gestion/revue" }},
	"/gestion/revue/structures": {role: directory.RoleAgent, path: func(f *a11yFixture, _ *directory.Person) string {
		f.startReview()
		return "/gestion/revue/structures"
	}},
	"/gestion/revue/structures/:siret": {role: directory.RoleAgent, path: func(f *a11yFixture, _ *directory.Person) string {
		f.startReview()
		return "/gestion/revue/structures/" + siret
	}},
	"/agent/applications/:application": {role: directory.RoleAgent, path: func(f *a11yFixture, _ *directory.Person) string {
		return "/agent/applications/" + f.app
	}},
}

// a11yFixture is the data the pages are visited with.
type a11yFixture struct {
	e      *env
	base   string
	app    string // an application to habilitate people to
	review *sync.Once
}

// startReview starts a review of habilitations, once, with the lines of
// two collaborateurs (Alix Revuea and Alix Revueb).
func (f *a11yFixture) startReview() {
	f.review.Do(func() {
		f.person(f.e.t, "Revuea", directory.RoleCollaborateur, "Comptabilité")
		f.person(f.e.t, "Revueb", directory.RoleCollaborateur, "Comptabilité")
		if _, err := (directory.Jobs{Store: f.e.store}).Reviews(ctx, &progressMem{}); err != nil {
			f.e.t.Fatal(err)
		}
	})
}

// on is the fixture for a subtest: its env's helpers fail that subtest.
func (f *a11yFixture) on(t *testing.T) *a11yFixture {
	c := *f
	c.e = f.e.on(t)
	return &c
}

// person creates a person habilitated to the fixture's application.
func (f *a11yFixture) person(t *testing.T, last string, role directory.Role, service string) *directory.Person {
	t.Helper()
	p := f.on(t).e.person("Alix", last, role, service)
	if err := f.e.store.AddHabilitation(ctx, p.Identifier, f.app, "consultation"); err != nil {
		t.Fatal(err)
	}
	return p
}

// isPage tells the routes that serve pages from those that serve the API,
// static files, probes and the OpenID provider (whose pages, reached in a
// sign-in to an application, have cases of their own).
func isPage(path string) bool {
	for _, prefix := range []string{"/api/", "/static/", "/.well-known/", "/oidc/"} {
		if strings.HasPrefix(path, prefix) {
			return false
		}
	}
	switch path {
	case "/metrics", "/healthz", "/readyz":
		return false
	}
	return true
}

// a11yCase is one page in one state.
type a11yCase struct {
	name  string
	state pageState
	// path is the address of a page that a route serves, from the fixture
	// and the person signed in (nil when anonymous). Nil for the states
	// that actions bring about: show brings the tab there from the state.
	path func(t *testing.T, p *directory.Person) string
	show func(t *testing.T, tb *tab)
	// who signs in (signedIn); nil: an administrator habilitated to an
	// application, one for all such pages
	who func(t *testing.T) *directory.Person
}

// pageCases are the pages the router serves, read from the router itself,
// each with its state and its path, and the home page of every role.
func pageCases(t *testing.T, f *a11yFixture, srv *httpapi.Server) []a11yCase {
	t.Helper()
	var cases []a11yCase
	for _, r := range srv.Routes() {
		if r.Method != http.MethodGet || !isPage(r.Path) || strings.HasSuffix(r.Path, ".csv") {
			continue // the exports are downloads, not pages (exports_test.go)
		}
		route, setup := r.Path, pageSetups[r.Path]
		if strings.ContainsAny(route, ":*") && setup.path == nil {
			t.Errorf("the page route %s has a path parameter and no path in pageSetups (a11y_test.go): add one", route)
			continue
		}
		var who func(t *testing.T) *directory.Person
		if setup.role != "" {
			who = func(t *testing.T) *directory.Person { return f.person(t, "Page", setup.role, serviceOf(setup.role)) }
		}
		cases = append(cases, a11yCase{name: "GET " + route, state: setup.state, who: who, path: func(t *testing.T, p *directory.Person) string {
			if setup.path != nil {
				return setup.path(f.on(t), p)
			}
			return route
		}})
	}
	if len(cases) < 3 {
		t.Fatalf("only %d page routes found: %v", len(cases), srv.Routes())
	}
	home := func(*testing.T, *directory.Person) string { return "/" }
	for _, role := range []directory.Role{directory.RoleResponsable, directory.RoleCollaborateur, directory.RoleAgent} {
		cases = append(cases, a11yCase{name: "home of the role " + string(role), state: signedIn, path: home,
			who: func(t *testing.T) *directory.Person { return f.person(t, "Page", role, serviceOf(role)) }})
	}
	cases = append(cases, a11yCase{name: "home without habilitation", state: signedIn, path: home,
		who: func(t *testing.T) *directory.Person {
			return f.e.on(t).person("Alix", "Page", directory.RoleAdministrateur, "")
		}})
	return cases
}

func TestAccessibilityOfEveryPage(t *testing.T) {
	t.Parallel()
	axe := readAxe(t)
	b := startBrowser(t)
	e := newEnv(t)
	base, srv := e.server()
	f := &a11yFixture{e: e, base: base, app: "ficoba", review: &sync.Once{}}
	if err := e.store.CreateApplication(ctx, directory.Application{ID: f.app, Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}

	// Every page the router serves, and each role's home page.
	cases := pageCases(t, f, srv)

	// The states that no route shows by itself.
	cases = append(cases,
		a11yCase{name: "page not found", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/page-inexistante")
			wantText(t, tb, "h1", "Page non trouvée")
		}},
		a11yCase{name: "method not allowed", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/deconnexion")
			wantText(t, tb, "h1", "Erreur")
		}},
		a11yCase{name: "sign-in error", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/connexion")
			tb.fill("#identifier", "nobody.here-px")
			tb.fill("#password", "Wrong-Password-42!")
			tb.click("Se connecter", "/connexion")
			wantText(t, tb, "#avis-message", "Identifiant ou mot de passe incorrect.")
		}},
		a11yCase{name: "sign-in with empty fields", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/connexion")
			tb.click("Se connecter", "/connexion")
			wantText(t, tb, "#avis-message", "Saisissez votre identifiant et votre mot de passe.")
		}},
		a11yCase{name: "form expired", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/connexion")
			eval[bool](tb, `document.querySelector('input[name=csrf]').remove() === undefined`)
			tb.click("Se connecter", "/connexion")
			wantText(t, tb, "h1", "Erreur")
		}},
		a11yCase{name: "wrong code", state: afterPassword, show: func(t *testing.T, tb *tab) {
			tb.open("/connexion/verification")
			tb.fill("#code", testkit.WrongCode(f.on(t).e.code(tb.person.Email, 1)))
			tb.click("Vérifier", "/connexion/verification")
			wantText(t, tb, "#avis-message", "Code de vérification incorrect.")
		}},
		a11yCase{name: "too many wrong codes", state: afterPassword, show: func(t *testing.T, tb *tab) {
			wrong := testkit.WrongCode(f.on(t).e.code(tb.person.Email, 1))
			for range 4 {
				call(t, "POST", base+"/api/v1/auth/verify", "", map[string]string{"challenge": tb.challenge, "code": wrong})
			}
			tb.open("/connexion/verification")
			tb.fill("#code", wrong)
			tb.click("Vérifier", "/connexion/verification")
			wantText(t, tb, "#avis-message", "Trop de codes erronés : veuillez vous connecter à nouveau.")
		}},
		a11yCase{name: "code resent", state: afterPassword, show: func(t *testing.T, tb *tab) {
			tb.open("/connexion/verification")
			tb.click("Renvoyer un code", "/connexion/renvoyer")
			wantText(t, tb, "#avis-message", "Un nouveau code de vérification vous a été envoyé par mail.")
		}},
	)
	cases = append(cases,
		a11yCase{name: "review: no line chosen", state: signedIn, show: func(t *testing.T, tb *tab) {
			f.on(t).startReview()
			tb.open("/gestion/revue")
			eval[bool](tb, `document.querySelectorAll('input[name=line]').forEach((i) => i.remove()) === undefined`)
			tb.click("Retirer toutes les habilitations à décider de cette page", "/gestion/revue")
			wantText(t, tb, "#avis-message", "Aucune ligne n'a été traitée : choisissez « Confirmer » ou « Retirer » sur une ligne, ou pour toutes les lignes de la page.")
		}},
		a11yCase{name: "review: a line confirmed", state: signedIn, show: func(t *testing.T, tb *tab) {
			f.on(t).startReview()
			tb.open("/gestion/revue")
			tb.click("Confirmer l'habilitation ficoba, profil consultation, de Alix Revuea", "/gestion/revue")
			wantText(t, tb, "#avis-message", "1 habilitation confirmée.")
		}},
	)
	// A bulk invitation: the preview of a file with errors, the form with
	// a file refused, and a run's result (bulk_invitations.go).
	bulkFile := func(t *testing.T) string {
		return writeBulkFile(t, "équipe.csv", "Adresse mail;Rôle;Service\r\n"+uniqueEmail("a11y.fichier")+";collaborateur;Comptabilité\r\n"+
			"pas-une-adresse;collaborateur;Comptabilité\r\n"+uniqueEmail("a11y.fichier")+";collaborateur;Direction\r\n")
	}
	cases = append(cases,
		a11yCase{name: "bulk invitation: the preview with errors", state: signedIn, show: func(t *testing.T, tb *tab) {
			tb.open("/gestion/inviter/fichier")
			tb.chooseFile(bulkFile(t))
			tb.click("Vérifier le fichier", "/gestion/inviter/fichier")
			wantText(t, tb, "h1", "Vérification du fichier")
		}},
		a11yCase{name: "bulk invitation: a file refused", state: signedIn, show: func(t *testing.T, tb *tab) {
			tb.open("/gestion/inviter/fichier")
			tb.chooseFile(writeBulkFile(t, "vide.csv", "Adresse mail;Rôle;Service\r\n"))
			tb.click("Vérifier le fichier", "/gestion/inviter/fichier")
			wantText(t, tb, "#fichier-error", "Le fichier ne contient aucune ligne à inviter.")
		}},
		a11yCase{name: "bulk invitation: the result", state: signedIn, show: func(t *testing.T, tb *tab) {
			tb.open("/gestion/inviter/fichier")
			tb.chooseFile(bulkFile(t))
			tb.click("Vérifier le fichier", "/gestion/inviter/fichier")
			tb.click("Inviter 1 personne", "/gestion/inviter/fichier")
			wantText(t, tb, "#titre-resultat", "Résultat")
		}},
	)
	// The helpdesk: a locked account whose corrected address waits, the
	// correction's error, and the link of a correction (password asked).
	cases = append(cases,
		a11yCase{name: "helpdesk: a locked account, its corrected address waiting", state: signedIn, show: func(t *testing.T, tb *tab) {
			fe := f.on(t).e
			p := fe.person("Alix", "Bloquée", directory.RoleCollaborateur, "Comptabilité")
			fe.lockBySignIn(base+"/api/v1", p)
			session := fe.signIn(base+"/api/v1", tb.person.Identifier, tb.person.Email, password)
			if status, body := call(t, "POST", base+"/api/v1/accounts/"+p.Identifier+"/email", session, map[string]string{"email": uniqueEmail("a11y.corrige")}); status != http.StatusAccepted {
				t.Fatalf("correct the mail: %d %v", status, body)
			}
			tb.open("/gestion/comptes/" + p.Identifier)
			wantText(t, tb, "#titre-assistance", "Assistance")
			tb.fill("#email", tb.person.Email)
			tb.click("Envoyer le lien de confirmation", "/gestion/comptes/"+p.Identifier+"/adresse-mail")
			wantText(t, tb, "#email-erreur", "Cette adresse mail est déjà utilisée dans cette structure. Saisissez-en une autre.")
		}},
		// (An expired invitation's badge differs from the others by its
		// colour and text only: moving the shared clock would end the tabs'
		// sessions.)
		a11yCase{name: "page refused (403)", state: signedIn, show: func(t *testing.T, tb *tab) {
			tb.openStatus("/gestion/comptes")
			wantText(t, tb, "h1", "Accès refusé")
		}, who: func(t *testing.T) *directory.Person {
			return f.person(t, "Refusé", directory.RoleCollaborateur, "Comptabilité")
		}},
		a11yCase{name: "home with requests waiting", state: signedIn, show: func(t *testing.T, tb *tab) {
			fe := f.on(t).e
			lcSubmittedRequest(fe, "Alix", "Attente")
			tb.open("/")
			wantText(t, tb, "#demandes-en-attente a", "Voir les demandes à valider")
		}},
		a11yCase{name: "the link of a manager's correction", state: anonymous, show: func(t *testing.T, tb *tab) {
			fe := f.on(t).e
			admin := fe.person("Alix", "Admin", directory.RoleAdministrateur, "")
			p := fe.person("Alix", "Corrigée", directory.RoleCollaborateur, "Comptabilité")
			next := uniqueEmail("a11y.lien")
			session := fe.signIn(base+"/api/v1", admin.Identifier, admin.Email, password)
			if status, body := call(t, "POST", base+"/api/v1/accounts/"+p.Identifier+"/email", session, map[string]string{"email": next}); status != http.StatusAccepted {
				t.Fatalf("correct the mail: %d %v", status, body)
			}
			token, _ := fe.mailChangeMail(next, 1)
			tb.open("/adresse-mail/confirmer/" + token)
			tb.click("Confirmer cette adresse mail", "/adresse-mail/confirmer/"+token)
			wantText(t, tb, "#password-erreur", "Saisissez le mot de passe de votre compte pour confirmer cette adresse mail.")
		}},
	)
	// The lists searched and paged: the search box with its filters, the
	// pager, a search that finds nothing.
	for _, l := range []struct {
		name, path string
		role       directory.Role
		want       string
	}{
		{"accounts, second page", "/gestion/comptes?size=1&page=2", directory.RoleAdministrateur, "nav.fr-pagination"},
		{"accounts, filtered", "/gestion/comptes?q=Liste&state=active&role=collaborateur&service=Comptabilit%C3%A9", directory.RoleAdministrateur, "#table-comptes"},
		{"accounts, nothing found", "/gestion/comptes?q=introuvable", directory.RoleAdministrateur, "#aucun-compte"},
		{"administrators, second page", "/gestion/comptes?size=1&page=2", directory.RoleAgent, "nav.fr-pagination"},
		{"structures, searched", "/agent/structures?q=" + siret, directory.RoleAgent, "#table-structures"},
		{"requests, nothing found", "/gestion/demandes?q=introuvable", directory.RoleAdministrateur, "#aucune-demande"},
	} {
		cases = append(cases, a11yCase{name: "list: " + l.name, state: signedIn,
			who: func(t *testing.T) *directory.Person { return f.person(t, "Page", l.role, serviceOf(l.role)) },
			show: func(t *testing.T, tb *tab) {
				for _, last := range []string{"Liste", "Listee"} { // two more accounts of each list, for pages of one
					f.person(t, last, directory.RoleCollaborateur, "Comptabilité")
					f.person(t, last, directory.RoleAdministrateur, "")
				}
				if status := tb.openStatus(l.path); status != http.StatusOK {
					t.Fatalf("GET %s: %d", l.path, status)
				}
				if n := eval[int](tb, `document.querySelectorAll(`+jsString(l.want)+`).length`); n != 1 {
					t.Fatalf("GET %s: no %s", l.path, l.want)
				}
			}})
	}
	// The pages of a sign-in to a DGFiP application (OpenID Connect).
	rp := newRelyingParty(t, e, base, "lecture")
	cases = append(cases,
		a11yCase{name: "not habilitated to an application", state: signedIn, show: func(t *testing.T, tb *tab) {
			to, _ := rp.authURL(nil)
			tb.do("open "+to, chromedp.Navigate(to))
			tb.waitFor("the refusal", `location.pathname === "/oidc/login" && document.readyState === "complete"`)
			wantText(t, tb, "#avis-message", "Vous n'êtes pas habilité à l'application Appli "+rp.id+" ; adressez-vous à l'administrateur de votre structure.")
		}},
		a11yCase{name: "a sign-in request expired", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/oidc/login?id=" + strings.Repeat("A", 43))
			wantText(t, tb, "h1", "Erreur")
		}},
		a11yCase{name: "a redirect URI not registered", state: anonymous, show: func(t *testing.T, tb *tab) {
			tb.open("/oidc/authorize?client_id=" + rp.id + "&redirect_uri=https%3A%2F%2Fattaquant.example%2F&response_type=code&scope=openid")
			wantText(t, tb, "h1", "Erreur")
		}},
		a11yCase{name: "an application's logout to confirm", state: signedIn, show: func(t *testing.T, tb *tab) {
			tb.open("/oidc/end_session?client_id=" + rp.id + "&post_logout_redirect_uri=" + url.QueryEscape(rp.url+"/"))
			wantText(t, tb, "h1", "Se déconnecter ?")
		}},
	)
	// One tab per state, its pages one after the other: a tab's first page
	// costs a cold cache (the DSFR's stylesheet), the next ones do not.
	for _, state := range []pageState{anonymous, afterPassword, signedIn} {
		t.Run(state.String(), func(t *testing.T) {
			t.Parallel()
			group := b.tab(t, base)
			// The pages for the default person share one session; the
			// others sign in their own person.
			var admin, session *directory.Person
			for _, c := range cases {
				if c.state != state {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					tb := group.on(t)
					switch {
					case state == afterPassword:
						tb.person = f.person(t, "Page", directory.RoleAdministrateur, "")
						tb.challenge = tb.passwordStepDirect(tb.person)
					case state == signedIn && c.who != nil:
						session, tb.person = nil, c.who(t)
						tb.signInDirect(e.on(t), tb.person)
					case state == signedIn:
						if admin == nil {
							admin = f.person(t, "Page", directory.RoleAdministrateur, "")
						}
						if session != admin {
							session = nil
							tb.signInDirect(e.on(t), admin)
							session = admin
						}
						tb.person = admin
					}
					if c.path == nil {
						c.show(t, tb)
						checkAccessibility(t, tb, axe, c.name)
						return
					}
					path := c.path(t, tb.person)
					status := tb.openStatus(path)
					if got := tb.path(); status != http.StatusOK || got != path {
						t.Fatalf("GET %s showed %s with the status %d: give the page its setup in pageSetups (a11y_test.go)", path, got, status)
					}
					checkAccessibility(t, tb, axe, c.name)
					checkOnAPhone(t, tb)
				})
			}
		})
	}
}

// serviceOf is the service of the test structure a person of this role belongs to.
func serviceOf(role directory.Role) string {
	if role.InService() {
		return "Comptabilité"
	}
	return ""
}

func (s pageState) String() string {
	switch s {
	case anonymous:
		return "anonymous"
	case afterPassword:
		return "after the password step"
	}
	return "signed in"
}

func wantText(t *testing.T, tb *tab, selector, want string) {
	t.Helper()
	if got := tb.text(selector); got != want {
		t.Fatalf("%s on %s: %q, want %q", selector, tb.safePath(), got, want)
	}
}

// readAxe reads axe-core from node_modules at the repository's root.
func readAxe(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory: cannot find node_modules")
		}
		dir = parent
	}
	path := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	src, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("axe-core is missing (%s): run make deps (npm ci)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// axeResults is what the page hands back of axe.run.
type axeResults struct {
	Violations []axeRule `json:"violations"`
	Incomplete []axeRule `json:"incomplete"`
	Passes     int       `json:"passes"`
}

type axeRule struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []axeNode `json:"nodes"`
}

type axeNode struct {
	Target  string `json:"target"`
	Summary string `json:"summary"`
}

func (r axeRule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s — %s", r.ID, r.Impact, r.Help, r.HelpURL)
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "\n      %s", n.Target)
		if n.Summary != "" {
			fmt.Fprintf(&b, "\n        %s", strings.ReplaceAll(n.Summary, "\n", "\n        "))
		}
	}
	return b.String()
}

// checkAccessibility runs axe-core on the current page and fails listing
// every violation; it also checks the page broke no CSP rule, has one h1
// and no dead link.
func checkAccessibility(t *testing.T, tb *tab, axe, name string) {
	t.Helper()
	tb.screenshot(name)
	page := tb.safePath()
	if v := tb.cspViolations(); len(v) > 0 {
		t.Errorf("%s: CSP violations: %q", page, v)
	}
	if n := eval[int](tb, `document.querySelectorAll('h1').length`); n != 1 {
		t.Errorf("%s: %d h1, want 1", page, n)
	}
	if dead := tb.deadLinks(); len(dead) > 0 {
		t.Errorf("%s: dead links: %q", page, dead)
	}
	// Audit the page as people get it, once the DSFR script has started
	// (it marks <html data-fr-js="true">) and rendered (it decorates its
	// components, a modal's dialog role among them, on the next frames).
	ready := `new Promise((resolve) => { const t0 = Date.now(); const check = () => {
  if (document.documentElement.getAttribute('data-fr-js') === 'true') { requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))); }
  else if (Date.now() - t0 > 5000) { resolve(false); } else { setTimeout(check, 20); } };
  check(); })`
	started, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](ready, chromedp.EvalAwaitPromise))
	if err != nil || !started {
		t.Fatalf("%s: the DSFR script did not start within 5 s (%v)", page, err)
	}
	// Scripts sent over the DevTools protocol are not subject to the
	// page's CSP: check that axe did load.
	loaded, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](axe+"\n;typeof window.axe === 'object' && typeof window.axe.run === 'function'"))
	if err != nil || !loaded {
		t.Fatalf("%s: axe-core did not load into the page (%v)", page, err)
	}
	run := fmt.Sprintf(`axe.run(document, {runOnly: {type: 'tag', values: %s}}).then((r) => {
  const rule = (v) => ({id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.map(String).join(' '), summary: n.failureSummary || ''}))});
  return {violations: r.violations.map(rule), incomplete: r.incomplete.map(rule), passes: r.passes.length};
})`, jsStrings(axeTags))
	res, err := chromedp.Run(tb.ctx, chromedp.Evaluate[axeResults](run, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", page, err)
	}
	if res.Passes == 0 {
		t.Fatalf("%s: axe checked nothing", page)
	}
	if len(res.Violations) > 0 {
		var b strings.Builder
		for _, v := range res.Violations {
			fmt.Fprintf(&b, "\n  - %s", v)
		}
		t.Errorf("%s: %d accessibility violations (WCAG 2.1 A/AA, axe-core):%s", page, len(res.Violations), b.String())
	}
	for _, r := range res.Incomplete {
		t.Logf("%s: to review by hand (axe could not decide): %s", page, r)
	}
}

// jsStrings writes a JavaScript array of strings.
func jsStrings(ss []string) string {
	quoted := make([]string, len(ss))
	for i, s := range ss {
		quoted[i] = jsString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
