package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// roleEntries are the entries of each role's home page, as the guide lists them.
var roleEntries = map[directory.Role][]string{
	directory.RoleAdministrateur: {"Gestion des comptes responsables et collaborateurs", "Gestion des services", "Consultation des comptes et services de la structure", "Revue des habilitations", "Gestion des données personnelles"},
	directory.RoleResponsable:    {"Gestion des comptes collaborateurs", "Consultation des comptes et services de la structure", "Revue des habilitations", "Gestion des données personnelles"},
	directory.RoleCollaborateur:  {"Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleAgent:          {"Création des structures", "Validation des comptes administrateurs", "Habilitation des administrateurs aux applications", "Revue des habilitations", "Gestion des données personnelles"},
}

// grant creates a DGFiP application with one profile and habilitates p to it.
func grant(t *testing.T, e *env, p *directory.Person, id, name, profile string) {
	t.Helper()
	if err := e.store.CreateApplication(ctx, directory.Application{ID: id, Name: name, Profiles: []string{profile}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddHabilitation(ctx, p.Identifier, id, profile); err != nil {
		t.Fatal(err)
	}
}

// TestPagesInBrowser drives the pages in a real headless Chromium.
func TestPagesInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)

	// The guide's section 3, step by step, with the keyboard alone: every
	// field and button is reached with Tab from the top of the page, forms
	// are sent with Enter or Space, and nothing is clicked.
	t.Run("SignInOfTheGuideWithTheKeyboardOnly", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Marie", "Clavier", directory.RoleAdministrateur, "")
		grant(t, e, p, "ficoba", "FICOBA", "consultation")
		tb := b.tab(t, e.instance())

		// Step 4: the sign-in screen; identifier, password, « Se connecter ».
		tb.open("/connexion")
		if got := eval[string](tb, `document.title`); got != "Connexion — Mon espace APEX Partenaires" {
			t.Errorf("title of the sign-in page: %q", got)
		}
		tb.tabTo(`a "Contenu"`, 1) // the skip link comes first
		tb.press(kb.Enter)
		tb.tabTo("input#identifier", 1)
		tb.press(p.Identifier)
		tb.tabTo("input#password", 1)
		tb.press(password)
		if got := eval[string](tb, `document.querySelector('#identifier').value`); got != p.Identifier {
			t.Fatalf("identifier typed: %q", got)
		}
		if n := eval[int](tb, `document.querySelector('#password').value.length`); n != len(password) {
			t.Fatalf("password typed: %d characters, want %d", n, len(password))
		}
		tb.tabTo(`button "Se connecter"`, 2) // past « Afficher » the password
		tb.submit("/connexion/verification", chromedp.KeyEvent(kb.Enter))

		// Step 5: the code received by mail, « Vérifier ».
		if h1 := tb.text("h1"); h1 != "Code de vérification" {
			t.Errorf("verification page: h1 %q", h1)
		}
		tb.tabTo(`a "Contenu"`, 1)
		tb.press(kb.Enter)
		tb.tabTo("input#code", 1)
		tb.press(e.code(p.Email, 1))
		tb.tabTo(`button "Vérifier"`, 1)
		tb.submit("/", chromedp.KeyEvent(" "))

		// The home screen of an administrator.
		if h1 := tb.text("h1"); h1 != "Bonjour Marie Clavier" {
			t.Errorf("home page: h1 %q", h1)
		}
		if got := tb.texts(".apex-function__name"); !slices.Equal(got, roleEntries[directory.RoleAdministrateur]) {
			t.Errorf("administrator's entries: %q", got)
		}
		if got := tb.texts(".apex-applications li"); !slices.Equal(got, []string{"FICOBA — profil consultation"}) {
			t.Errorf("applications: %q", got)
		}
		if dead := tb.deadLinks(); len(dead) > 0 {
			t.Errorf("dead links on the home page: %q", dead)
		}

		// « Se déconnecter », from the top of the page.
		tb.tabTo(`button "Se déconnecter"`, 4)
		tb.submit("/connexion", chromedp.KeyEvent(kb.Enter))
		tb.submit("/connexion", chromedp.Navigate(tb.base+"/"))
		if v := tb.cspViolations(); len(v) > 0 {
			t.Errorf("CSP violations: %q", v)
		}
	})

	t.Run("WrongPasswordAndUnknownIdentifierShowTheSameError", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Paul", "Pareil", directory.RoleAdministrateur, "")
		tb := b.tab(t, e.instance())
		errorOf := func(identifier string) string {
			t.Helper()
			tb.open("/connexion")
			tb.fill("#identifier", identifier)
			tb.fill("#password", "Wrong-Password-42!")
			tb.click("Se connecter", "/connexion")
			if role := eval[string](tb, `document.querySelector('.fr-alert').getAttribute('role')`); role != "alert" {
				t.Errorf("the error is not an alert: role %q", role)
			}
			if title := eval[string](tb, `document.title`); !strings.HasPrefix(title, "Erreur : ") {
				t.Errorf("the title does not tell the error: %q", title)
			}
			if got := eval[string](tb, `document.querySelector('#identifier').value`); got != identifier {
				t.Errorf("identifier not kept: %q", got)
			}
			return tb.text("#avis-message")
		}
		wrong, unknown := errorOf(p.Identifier), errorOf("nobody.here-px")
		if wrong != "Identifiant ou mot de passe incorrect." || unknown != wrong {
			t.Errorf("wrong password: %q, unknown identifier: %q", wrong, unknown)
		}
		if n := len(e.smtp.Messages()); n != 0 {
			t.Errorf("%d mails sent for failed sign-ins", n)
		}
	})

	t.Run("WrongCodeIsRefusedAndTheRightOneStillWorks", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Cora", "Codefaux", directory.RoleCollaborateur, "Comptabilité")
		tb := b.tab(t, e.instance())
		tb.signInPassword(p)
		code := e.code(p.Email, 1)
		tb.fill("#code", testkit.WrongCode(code))
		tb.click("Vérifier", "/connexion/verification")
		if got := tb.text("#avis-message"); got != "Code de vérification incorrect." {
			t.Errorf("wrong code: %q", got)
		}
		if got := eval[string](tb, `document.querySelector('#code').getAttribute('aria-invalid')`); got != "true" {
			t.Errorf("the code field is not marked invalid: %q", got)
		}
		tb.fill("#code", code)
		tb.click("Vérifier", "/")
		if h1 := tb.text("h1"); h1 != "Bonjour Cora Codefaux" {
			t.Errorf("home page: h1 %q", h1)
		}
	})

	t.Run("ResentCodeWorks", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Rémi", "Renvoi", directory.RoleResponsable, "Comptabilité")
		tb := b.tab(t, e.instance())
		tb.signInPassword(p)
		e.code(p.Email, 1)
		tb.click("Renvoyer un code", "/connexion/renvoyer")
		if got := tb.text("#avis-message"); got != "Un nouveau code de vérification vous a été envoyé par mail." {
			t.Errorf("resend notice: %q", got)
		}
		if role := eval[string](tb, `document.querySelector('.fr-alert--success').getAttribute('role')`); role != "status" {
			t.Errorf("the success notice has role %q", role)
		}
		tb.fill("#code", e.code(p.Email, 2))
		tb.click("Vérifier", "/")
		if h1 := tb.text("h1"); h1 != "Bonjour Rémi Renvoi" {
			t.Errorf("home page: h1 %q", h1)
		}
	})

	t.Run("HomePageOfEachRole", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		roles := b.tab(t, e.instance()) // one after the other, each with its session
		for _, tc := range []struct {
			role     directory.Role
			service  string
			heading  string
			details  []string // what the account card shows beyond identifier, role and mail
			noDetail string   // what it must not show
		}{
			{directory.RoleAdministrateur, "", "Mon espace", []string{"Étude Martin & Associés", siret, "Notaire"}, "Service"},
			{directory.RoleResponsable, "Comptabilité", "Mon espace", []string{"Étude Martin & Associés", "Comptabilité"}, ""},
			{directory.RoleCollaborateur, "Comptabilité", "Mon espace", []string{"Étude Martin & Associés", "Comptabilité"}, ""},
			{directory.RoleAgent, "", "Back office DGFiP", nil, "SIRET"},
		} {
			t.Run(string(tc.role), func(t *testing.T) {
				e := e.on(t)
				p := e.person("Rose", "Role"+strings.ToUpper(string(tc.role[:1]))+string(tc.role[1:]), tc.role, tc.service)
				tb := roles.on(t)
				tb.signInDirect(e, p)
				tb.open("/")
				if got := tb.texts(".apex-function__name"); !slices.Equal(got, roleEntries[tc.role]) {
					t.Errorf("entries: %q, want %q", got, roleEntries[tc.role])
				}
				if got := tb.text("#titre-fonctions"); got != tc.heading {
					t.Errorf("heading of the entries: %q", got)
				}
				card := tb.text(".apex-account-card")
				for _, want := range append([]string{p.Identifier, p.Email}, tc.details...) {
					if !strings.Contains(card, want) {
						t.Errorf("the account card lacks %q: %q", want, card)
					}
				}
				if tc.noDetail != "" && slices.Contains(tb.texts(".apex-details dt"), tc.noDetail) {
					t.Errorf("the account card shows %q: %q", tc.noDetail, card)
				}
				if got := tb.text(".apex-account"); got != "Connecté en tant que Rose "+p.LastName {
					t.Errorf("header: %q", got)
				}
				if got := tb.text("#titre-applications + p"); got != "Vous n'êtes habilité à aucune application de la DGFiP pour le moment." {
					t.Errorf("applications without habilitation: %q", got)
				}
			})
		}
	})
}

// A form posted without its CSRF field is refused with 403 and changes
// nothing: no code sent or spent, no session opened or closed.
func TestPageFormsWithoutTheCSRFFieldAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.person("Cyril", "Sansjeton", directory.RoleAdministrateur, "")
	c := newFormClient(t, e.instance())
	refused := func(what, path string, form url.Values) {
		t.Helper()
		page := c.do(http.MethodPost, path, form)
		if page.Status != http.StatusForbidden || !strings.Contains(page.Body, "Le formulaire a expiré") {
			t.Errorf("%s: %d, want 403 and the French message", what, page.Status)
		}
		if set := page.Header.Values("Set-Cookie"); len(set) > 0 {
			t.Errorf("%s: the refused form set cookies: %q", what, set)
		}
	}
	redirected := func(what, path string, form url.Values, to string) {
		t.Helper()
		if page := c.do(http.MethodPost, path, form); page.Status != http.StatusSeeOther || page.Location != to {
			t.Fatalf("%s: %d to %q, want 303 to %s", what, page.Status, page.Location, to)
		}
	}

	c.get("/connexion")
	csrf := c.cookie("/connexion/", "apex_csrf")
	if len(csrf) != 43 {
		t.Fatalf("no CSRF cookie after the sign-in page")
	}
	credentials := url.Values{"identifier": {p.Identifier}, "password": {password}}
	with := func(v url.Values, token string) url.Values {
		w := url.Values{"csrf": {token}}
		for k, vs := range v {
			w[k] = vs
		}
		return w
	}

	refused("sign-in without the field", "/connexion", credentials)
	refused("sign-in with another token", "/connexion", with(credentials, strings.Repeat("A", 43)))
	redirected("sign-in with the token", "/connexion", with(credentials, csrf), "/connexion/verification")
	code := e.code(p.Email, 1)
	refused("resend without the field", "/connexion/renvoyer", url.Values{})
	refused("verification without the field", "/connexion/verification", url.Values{"code": {code}})
	refused("verification with an empty field", "/connexion/verification", url.Values{"code": {code}, "csrf": {""}})
	// The code still works: the refused forms spent no attempt and sent no new code.
	redirected("verification with the token", "/connexion/verification", url.Values{"code": {code}, "csrf": {csrf}}, "/")
	if n := e.mailsTo(p.Email); n != 1 {
		t.Errorf("%d mails sent, want the one code", n)
	}

	refused("sign-out without the field", "/deconnexion", url.Values{})
	// Signed in, the token is the session's: the one of the sign-in page serves no more.
	refused("sign-out with the token of before the sign-in", "/deconnexion", url.Values{"csrf": {csrf}})
	home := c.get("/")
	if home.Status != http.StatusOK {
		t.Fatalf("home page after a refused sign-out: %d, want the session still open", home.Status)
	}
	m := csrfFieldPattern.FindStringSubmatch(home.Body)
	if m == nil || m[1] == csrf {
		t.Fatalf("the home page's token: %v, the sign-in page's %q", m, csrf)
	}
	redirected("sign-out with the session's token", "/deconnexion", url.Values{"csrf": {m[1]}}, "/connexion")
	if page := c.get("/"); page.Status != http.StatusSeeOther || page.Location != "/connexion" {
		t.Errorf("home page after signing out: %d to %q", page.Status, page.Location)
	}
}
