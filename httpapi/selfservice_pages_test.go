package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// The self-service pages (forgotten password, personal data, consultation)
// through plain HTTP, as a browser without script sends them: the fast
// checks. selfservice_browser_test.go drives them in Chromium.

const (
	otherSIRET   = "55210055400005" // another structure
	unknownSIRET = "54206547900009" // a valid SIRET of no structure
	newPassword  = "Nouveau-Secret-77!"
)

var resetLinkPattern = regexp.MustCompile(`/mot-de-passe/renouveler/([A-Za-z0-9._~%-]+)`)

// resetLink asks for p's renewal through the API and reads the token of
// the link it mails.
func (e *env) resetLink(base string, p *directory.Person) string {
	e.t.Helper()
	n := e.resetMails(p.Email)
	id, answer := e.captcha(base + "/api/v1")
	status, body := call(e.t, "POST", base+"/api/v1/password/forgot", "", map[string]string{"identifier": p.Identifier, "captchaId": id, "captchaAnswer": answer})
	if status != http.StatusAccepted {
		e.t.Fatalf("forgot %s: %d %v", p.Identifier, status, body)
	}
	return e.mailedResetToken(p.Email, n+1)
}

func isResetMail(addr string) func(smtptest.Captured) bool {
	return func(m smtptest.Captured) bool {
		return smtptest.ToAddress(addr)(m) && strings.Contains(m.Subject, "Renouvellement")
	}
}

// resetMails counts the renewal mails sent to addr.
func (e *env) resetMails(addr string) int { return e.mails(isResetMail(addr)) }

// mailedResetToken waits for the n-th renewal mail to addr and reads the
// token of its link.
func (e *env) mailedResetToken(addr string, n int) string {
	e.t.Helper()
	m := e.nthMail("renewal mail to "+addr, isResetMail(addr), n)
	found := resetLinkPattern.FindStringSubmatch(m.Text)
	if found == nil {
		e.t.Fatalf("no renewal link in the mail to %s:\n%s", addr, m.Text)
	}
	token, err := url.PathUnescape(found[1])
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

var captchaIDPattern = regexp.MustCompile(`name="captcha-id" value="([A-Za-z0-9_-]+)"`)

func captchaID(t *testing.T, page formPage) string {
	t.Helper()
	m := captchaIDPattern.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no captcha in the page (%d):\n%s", page.Status, page.Body)
	}
	return m[1]
}

// forgot fills « Mot de passe oublié » for identifier, with the right captcha.
func (c *formClient) forgot(e *env, identifier string) formPage {
	c.t.Helper()
	page := c.get("/mot-de-passe/oublie")
	id := captchaID(c.t, page)
	return c.post("/mot-de-passe/oublie", url.Values{"identifier": {identifier}, "captcha-id": {id}, "captcha": {e.captchaAnswer(id)}})
}

func wantStatus(t *testing.T, what string, page formPage, status int) {
	t.Helper()
	if page.Status != status {
		t.Fatalf("%s: %d, want %d\n%s", what, page.Status, status, page.Text)
	}
}

func wantIn(t *testing.T, what string, page formPage, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(page.Text, s) {
			t.Errorf("%s: %q is not in the page", what, s)
		}
	}
}

func wantNotIn(t *testing.T, what string, page formPage, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(page.Text, s) || strings.Contains(page.Body, s) {
			t.Errorf("%s: %q is in the page", what, s)
		}
	}
}

// setCookieOf is the Set-Cookie header of a cookie in an answer.
func setCookieOf(page formPage, name string) string {
	for _, v := range page.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

func TestSelfServiceForgottenPasswordPagesBySMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Sacha", "Portable", directory.RoleCollaborateur, "Comptabilité")
	if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: new("06 55 44 33 22")}); err != nil {
		t.Fatal(err)
	}
	c := newFormClient(t, base)

	login := c.get("/connexion")
	wantIn(t, "sign-in page", login, `<a class="fr-link" href="/mot-de-passe/oublie">Mot de passe oublié ?</a>`)

	page := c.get("/mot-de-passe/oublie")
	wantStatus(t, "forgot page", page, http.StatusOK)
	id := captchaID(t, page)
	wantIn(t, "forgot page", page, `src="/api/v1/captcha/`+id+`.png"`, `<audio class="apex-captcha__audio" controls preload="none" src="/api/v1/captcha/`+id+`.wav">`,
		"6 chiffres", "Écouter la version sonore", "Afficher une nouvelle image", "Envoyer code de sécurité",
		"un code de sécurité par SMS", "un lien de renouvellement de votre mot de passe")
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("forgot page: Cache-Control %q", cc)
	}

	// Empty fields: an error under each, the captcha not spent.
	page = c.post("/mot-de-passe/oublie", url.Values{"captcha-id": {id}})
	wantStatus(t, "empty form", page, http.StatusUnprocessableEntity)
	wantIn(t, "empty form", page, "Saisissez votre identifiant.", "Saisissez les 6 chiffres de l'image.",
		`aria-describedby="identifier-aide identifier-erreur" aria-invalid="true"`, `aria-describedby="captcha-aide captcha-erreur" aria-invalid="true"`,
		"fr-input-group--error", "<title>Erreur : Mot de passe oublié")
	if got := captchaID(t, page); got != id {
		t.Errorf("the captcha changed without being tried")
	}

	// « Afficher une nouvelle image »: another captcha, the identifier kept.
	page = c.post("/mot-de-passe/oublie", url.Values{"identifier": {p.Identifier}, "captcha-id": {id}, "nouvelle-image": {"1"}})
	wantStatus(t, "new image", page, http.StatusOK)
	if next := captchaID(t, page); next == id {
		t.Errorf("no new captcha")
	} else {
		id = next
	}
	wantIn(t, "new image", page, `value="`+p.Identifier+`"`, "Une nouvelle image a été affichée")

	// A wrong answer: the message, a new captcha, nothing sent.
	answer := e.captchaAnswer(id)
	page = c.post("/mot-de-passe/oublie", url.Values{"identifier": {p.Identifier}, "captcha-id": {id}, "captcha": {testkit.WrongCode(answer)}})
	wantStatus(t, "wrong captcha", page, http.StatusUnprocessableEntity)
	wantIn(t, "wrong captcha", page, "Les caractères saisis ne correspondent pas à l'image", `id="captcha-erreur"`)
	if next := captchaID(t, page); next == id {
		t.Errorf("wrong captcha: the same captcha is shown again")
	} else {
		id = next
	}
	if c.cookie("/mot-de-passe/code", "apex_reset") != "" || e.texts.count() != 0 {
		t.Errorf("a wrong captcha started a renewal")
	}

	// The right answer: the code page, the reset id in a strict cookie of /mot-de-passe.
	page = c.post("/mot-de-passe/oublie", url.Values{"identifier": {p.Identifier}, "captcha-id": {id}, "captcha": {e.captchaAnswer(id)}})
	if page.Status != http.StatusSeeOther || page.Location != "/mot-de-passe/code" {
		t.Fatalf("forgot: %d to %q", page.Status, page.Location)
	}
	if sc := setCookieOf(page, "apex_reset"); !strings.Contains(sc, "Path=/mot-de-passe;") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("reset cookie: %q", sc)
	}
	page = c.get("/mot-de-passe/code")
	wantIn(t, "code page", page, "Votre demande a été prise en compte", "code de sécurité par SMS", "un mail avec un lien de renouvellement",
		"Valider le code de sécurité saisi")
	code := codePattern.FindString(e.texts.wait(t, "+33655443322", 1).Text)

	page = c.post("/mot-de-passe/code", url.Values{"code": {testkit.WrongCode(code)}})
	wantStatus(t, "wrong code", page, http.StatusUnauthorized)
	wantIn(t, "wrong code", page, "Le code de sécurité saisi est incorrect", `aria-describedby="code-aide code-erreur" aria-invalid="true"`)

	page = c.post("/mot-de-passe/code", url.Values{"code": {code}})
	if page.Status != http.StatusSeeOther || page.Location != "/mot-de-passe/renouveler" {
		t.Fatalf("right code: %d to %q\n%s", page.Status, page.Location, page.Text)
	}
	if c.cookie("/mot-de-passe/code", "apex_reset") != "" || c.cookie("/mot-de-passe/renouveler", "apex_reset_token") == "" {
		t.Errorf("cookies after the code: reset %q, token set %v", c.cookie("/mot-de-passe", "apex_reset"), c.cookie("/mot-de-passe/renouveler", "apex_reset_token") != "")
	}

	page = c.get("/mot-de-passe/renouveler")
	wantStatus(t, "renewal page", page, http.StatusOK)
	wantIn(t, "renewal page", page, directory.PasswordRules...)
	wantIn(t, "renewal page", page, `data-gauge="jauge"`, `id="jauge"`, `data-rule="length"`, `/js/password-gauge.js" defer></script>`,
		"Valider le nouveau mot de passe", `action="/mot-de-passe/renouveler"`)

	// Every broken rule at once, and the confirmation.
	page = c.post("/mot-de-passe/renouveler", url.Values{"password": {"court"}, "confirmation": {"autre"}})
	wantStatus(t, "bad password", page, http.StatusUnprocessableEntity)
	wantIn(t, "bad password", page, "au moins 12 caractères", "au moins une lettre majuscule", "au moins 2 chiffres", "au moins 1 caractère spécial",
		"Les deux mots de passe saisis ne sont pas identiques.", `aria-describedby="password-erreur jauge" aria-invalid="true"`, `id="confirmation-erreur"`)
	// The current password is one of the last 10.
	page = c.post("/mot-de-passe/renouveler", url.Values{"password": {password}, "confirmation": {password}})
	wantStatus(t, "password in history", page, http.StatusUnprocessableEntity)
	wantIn(t, "password in history", page, "Mot de passe déjà utilisé parmi les 10 derniers.")

	page = c.post("/mot-de-passe/renouveler", url.Values{"password": {newPassword}, "confirmation": {newPassword}})
	wantStatus(t, "renewal", page, http.StatusOK)
	wantIn(t, "renewal", page, "Votre mot de passe a été renouvelé", `<a class="fr-btn" href="/connexion">Retour à la page d'authentification</a>`)
	if c.cookie("/mot-de-passe/renouveler", "apex_reset_token") != "" {
		t.Errorf("the token cookie outlives the renewal")
	}
	page = c.get("/mot-de-passe/renouveler")
	wantIn(t, "renewal page afterwards", page, "Aucun renouvellement de mot de passe n'est en cours")
	e.lastMail(p.Email, "modifié")
	e.signIn(base+"/api/v1", p.Identifier, p.Email, newPassword)
	if e.logs.Holds(code) || e.logs.Holds("55443322") {
		t.Errorf("a code or a number is in the logs")
	}
}

func TestSelfServiceResetCodeLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Lina", "Limite", directory.RoleCollaborateur, "Comptabilité")
	if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: new("0781000001")}); err != nil {
		t.Fatal(err)
	}

	// No request in this browser.
	c := newFormClient(t, base)
	page := c.get("/mot-de-passe/code")
	wantStatus(t, "code page without request", page, http.StatusOK)
	wantIn(t, "code page without request", page, "Aucune demande de renouvellement de mot de passe n'est en cours", `href="/mot-de-passe/oublie"`)
	wantNotIn(t, "code page without request", page, `name="code"`)
	page = c.post("/mot-de-passe/code", url.Values{"code": {"123456"}})
	wantStatus(t, "code without request", page, http.StatusUnauthorized)
	wantIn(t, "code without request", page, "faites une nouvelle demande")

	// Five wrong codes.
	if page := c.forgot(e, p.Identifier); page.Status != http.StatusSeeOther {
		t.Fatalf("forgot: %d", page.Status)
	}
	code := codePattern.FindString(e.texts.wait(t, "+33781000001", 1).Text)
	for i := range 4 {
		if page := c.post("/mot-de-passe/code", url.Values{"code": {testkit.WrongCode(code)}}); !strings.Contains(page.Text, "incorrect") {
			t.Fatalf("wrong code #%d: %d", i+1, page.Status)
		}
	}
	page = c.post("/mot-de-passe/code", url.Values{"code": {testkit.WrongCode(code)}})
	// Out of tries looks like a wrong code, as an unknown identifier's would.
	wantIn(t, "fifth wrong code", page, "incorrect ou n'est plus valable", `href="/mot-de-passe/oublie"`)
	if page := c.post("/mot-de-passe/code", url.Values{"code": {code}}); !strings.Contains(page.Text, "incorrect ou n'est plus valable") {
		t.Errorf("the right code after 5 wrong ones is accepted")
	}

	// An expired code.
	if page := c.forgot(e, p.Identifier); page.Status != http.StatusSeeOther {
		t.Fatalf("forgot: %d", page.Status)
	}
	code = codePattern.FindString(e.texts.wait(t, "+33781000001", 2).Text)
	e.clock.Add(11 * time.Minute)
	page = c.post("/mot-de-passe/code", url.Values{"code": {code}})
	wantStatus(t, "expired code", page, http.StatusUnauthorized)
	wantIn(t, "expired code", page, "incorrect ou n'est plus valable")
}

func TestSelfServiceResetLinkPagesAndUnknownIdentifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Mila", "Courriel", directory.RoleAdministrateur, "")

	// A known identifier without a mobile and an unknown one: the same page.
	pageOf := func(identifier string) string {
		t.Helper()
		c := newFormClient(t, base)
		if page := c.forgot(e, identifier); page.Status != http.StatusSeeOther || page.Location != "/mot-de-passe/code" {
			t.Fatalf("forgot %s: %d to %q", identifier, page.Status, page.Location)
		}
		page := c.get("/mot-de-passe/code")
		// The CSRF token is the only thing of the browser in the page.
		return strings.ReplaceAll(page.Body, c.cookie("/", "apex_csrf"), "CSRF")
	}
	if known, unknown := pageOf(p.Identifier), pageOf("nobody.here-px"); known != unknown {
		t.Errorf("a known and an unknown identifier get different pages:\n%s\n---\n%s", known, unknown)
	}

	token := e.mailedResetToken(p.Email, 1)
	link := "/mot-de-passe/renouveler/" + url.PathEscape(token)
	c := newFormClient(t, base)
	for range 2 { // opening the link changes nothing
		page := c.get(link)
		wantStatus(t, "the link", page, http.StatusOK)
		wantIn(t, "the link", page, `action="`+link+`"`, "Choisir un nouveau mot de passe")
	}
	page := c.post(link, url.Values{"password": {newPassword}, "confirmation": {newPassword + "x"}})
	wantStatus(t, "mismatch", page, http.StatusUnprocessableEntity)
	wantIn(t, "mismatch", page, "Les deux mots de passe saisis ne sont pas identiques.")
	page = c.post(link, url.Values{"password": {newPassword}, "confirmation": {newPassword}})
	wantStatus(t, "renewal by link", page, http.StatusOK)
	wantIn(t, "renewal by link", page, "Votre mot de passe a été renouvelé", "Retour à la page d'authentification")
	e.lastMail(p.Email, "modifié")
	e.signIn(base+"/api/v1", p.Identifier, p.Email, newPassword)

	page = c.get(link)
	wantStatus(t, "used link", page, http.StatusNotFound)
	wantIn(t, "used link", page, "n'est pas valide ou a déjà été utilisé")
	wantNotIn(t, "used link", page, `name="password"`)
	page = c.post(link, url.Values{"password": {"Autre-Secret-88!"}, "confirmation": {"Autre-Secret-88!"}})
	wantStatus(t, "used link posted", page, http.StatusNotFound)
	page = c.post(link, url.Values{"password": {"Autre-Secret-88!"}, "confirmation": {"Pas-La-Meme-88!"}})
	wantStatus(t, "used link posted with a mistake", page, http.StatusNotFound)
	wantIn(t, "used link posted with a mistake", page, "n'est pas valide ou a déjà été utilisé")
	page = c.get("/mot-de-passe/renouveler/nobody.here-px.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	wantStatus(t, "invalid link", page, http.StatusNotFound)

	token = e.resetLink(base, p)
	e.clock.Add(2 * time.Hour)
	page = c.get("/mot-de-passe/renouveler/" + url.PathEscape(token))
	wantStatus(t, "expired link", page, http.StatusGone)
	wantIn(t, "expired link", page, "Ce lien de renouvellement a expiré", `href="/mot-de-passe/oublie"`)
	if n := e.texts.count(); n != 0 {
		t.Errorf("%d SMS sent to accounts without a mobile", n)
	}
}

func TestSelfServicePersonalDataPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Paula", "Perso", directory.RoleResponsable, "Comptabilité")
	if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: new("+33612345678")}); err != nil {
		t.Fatal(err)
	}
	other := e.person("Odile", "Occupee", directory.RoleCollaborateur, "Comptabilité")
	c := newFormClient(t, base)
	c.signIn(e, p)

	home := c.get("/")
	wantIn(t, "home page", home, `href="/donnees-personnelles">Gestion des données personnelles</a>`, `href="/consultation">Consultation des comptes et services de la structure</a>`)

	page := c.get("/donnees-personnelles")
	wantStatus(t, "form", page, http.StatusOK)
	wantIn(t, "form", page, `value="Perso"`, `value="Paula"`, `value="`+p.Email+`"`, `value="06 12 34 56 78"`, p.Identifier,
		"Valider les modifications apportées", `href="/donnees-personnelles/mot-de-passe"`)
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("form: Cache-Control %q", cc)
	}

	form := func(last, first, email, mobile string) url.Values {
		return url.Values{"nom": {last}, "prenom": {first}, "email": {email}, "mobile": {mobile}}
	}
	page = c.post("/donnees-personnelles", form("", "Paula", "pas-un-mail", "12"))
	wantStatus(t, "bad data", page, http.StatusUnprocessableEntity)
	wantIn(t, "bad data", page, "Le nom doit être renseigné.", "L'adresse mail n'est pas valide.", "Ce numéro est trop court.",
		`id="nom-erreur"`, `aria-describedby="email-aide email-erreur" aria-invalid="true"`, `value="pas-un-mail"`, "<title>Erreur : ")
	if n := strings.Count(page.Body, `aria-invalid="true"`); n != 3 {
		t.Errorf("bad data: %d fields marked invalid, want 3", n)
	}
	page = c.post("/donnees-personnelles", form("Perso", "Paula", p.Email, "06 12 34 56 78"))
	wantIn(t, "no change", page, "Vous n'avez modifié aucune de vos données personnelles.")

	newEmail := uniqueEmail("paula.nouvelle")
	page = c.post("/donnees-personnelles", form("Nouveau-Nom", "Paula", newEmail, "07 81 23 45 67"))
	wantStatus(t, "summary", page, http.StatusOK)
	wantIn(t, "summary", page, "Récapitulatif des modifications", "Perso", "Nouveau-Nom", p.Email, newEmail, "06 12 34 56 78", "07 81 23 45 67",
		"Enregistrer les modifications apportées", `name="email" value="`+newEmail+`"`,
		`<label class="fr-label" for="current">Mot de passe actuel`, `autocomplete="current-password"`, `aria-describedby="current-aide"`,
		"Votre numéro de téléphone portable change : un mail en informera votre ancienne adresse.")
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("summary: Cache-Control %q", cc)
	}
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.LastName != "Perso" {
		t.Fatalf("the summary saved the changes")
	}
	page = c.post("/donnees-personnelles/enregistrer", url.Values{"nom": {"Nouveau-Nom"}, "prenom": {"Paula"}, "email": {newEmail}, "mobile": {"07 81 23 45 67"}, "modifier": {"1"}})
	wantIn(t, "back to the form", page, `value="Nouveau-Nom"`, `value="07 81 23 45 67"`, "Valider les modifications apportées")

	// A new mail or mobile needs the current password: without it, or with
	// a wrong one, the summary says so and nothing changes.
	withCurrent := func(v url.Values, current string) url.Values {
		v.Set("current", current)
		return v
	}
	page = c.post("/donnees-personnelles/enregistrer", form("Nouveau-Nom", "Paula", newEmail, "07 81 23 45 67"))
	wantStatus(t, "no current password", page, http.StatusUnprocessableEntity)
	wantIn(t, "no current password", page, "<title>Erreur : Récapitulatif des modifications", "Saisissez votre mot de passe actuel pour enregistrer",
		`aria-describedby="current-aide current-erreur" aria-invalid="true"`, `id="current-erreur"`, `name="email" value="`+newEmail+`"`)
	page = c.post("/donnees-personnelles/enregistrer", withCurrent(form("Nouveau-Nom", "Paula", newEmail, "07 81 23 45 67"), "Wrong-Password-42!"))
	wantStatus(t, "wrong current password", page, http.StatusUnprocessableEntity)
	wantIn(t, "wrong current password", page, "Le mot de passe actuel est incorrect.", `id="current-erreur"`, "Enregistrer les modifications apportées")
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.LastName != "Perso" || now.Email != p.Email || now.Mobile != "+33612345678" {
		t.Fatalf("saved without the right current password: %+v", now)
	}

	// A mail another account uses.
	page = c.post("/donnees-personnelles/enregistrer", withCurrent(form("Perso", "Paula", other.Email, "06 12 34 56 78"), password))
	wantStatus(t, "mail taken", page, http.StatusConflict)
	wantIn(t, "mail taken", page, "Cette adresse mail est déjà utilisée par un autre compte de votre structure : saisissez-en une autre.", `id="email-erreur"`)

	page = c.post("/donnees-personnelles/enregistrer", withCurrent(form("Nouveau-Nom", "Paula", newEmail, "07 81 23 45 67"), password))
	wantStatus(t, "save", page, http.StatusOK)
	wantIn(t, "save", page, "Vos données personnelles ont été modifiées.", "Votre nouvelle adresse ("+newEmail+") doit être confirmée",
		"un autre à votre adresse actuelle ("+p.Email+")", "Le changement de numéro de téléphone portable a été signalé par mail à votre adresse actuelle ("+p.Email+").",
		"Saisir le code de confirmation")
	now, err := e.store.FindPerson(ctx, p.Identifier)
	if err != nil || now.LastName != "Nouveau-Nom" || now.Email != p.Email || now.PendingEmail != newEmail || now.Mobile != "+33781234567" || now.Identifier != p.Identifier {
		t.Fatalf("after saving: %+v %v", now, err)
	}
	e.lastMail(p.Email, "attend sa confirmation") // the account's address, told at once
	e.lastMail(p.Email, "portable")               // the mobile's change, to the account's address
	ask := e.lastMail(newEmail, "Confirmez")
	code := regexp.MustCompile(`(?m)^    (\d{6})$`).FindStringSubmatch(ask.Text)
	if code == nil {
		t.Fatalf("no code in the mail to the new address:\n%s", ask.Text)
	}

	// The new address waits on the page, with the code's field.
	page = c.get("/donnees-personnelles")
	wantIn(t, "pending address", page, `id="adresse-en-attente"`, "Nouvelle adresse mail en attente de confirmation", newEmail, `action="/donnees-personnelles/adresse-mail"`)
	page = c.post("/donnees-personnelles/adresse-mail", url.Values{"code": {testkit.WrongCode(code[1])}})
	wantStatus(t, "wrong confirmation code", page, http.StatusUnprocessableEntity)
	wantIn(t, "wrong confirmation code", page, "Code de confirmation incorrect.", `id="code-erreur"`, `aria-invalid="true"`)
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != p.Email {
		t.Fatalf("a wrong code changed the address: %q", now.Email)
	}
	page = c.post("/donnees-personnelles/adresse-mail", url.Values{"code": {code[1]}})
	wantStatus(t, "confirmation code", page, http.StatusOK)
	wantIn(t, "confirmation code", page, "Adresse mail confirmée", "Votre adresse mail est désormais "+newEmail)
	wantNotIn(t, "confirmation code", page, `id="adresse-en-attente"`)
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Email != newEmail || now.PendingEmail != "" {
		t.Fatalf("after the code: %+v", now)
	}
	e.lastMail(p.Email, "modifiée")          // the old address
	e.lastMail(newEmail, "nouvelle adresse") // the new one

	// The mobile removed.
	page = c.post("/donnees-personnelles", form("Nouveau-Nom", "Paula", newEmail, ""))
	wantIn(t, "mobile removed", page, "Non renseigné", "un mail en informera votre adresse mail.", `for="current">Mot de passe actuel`)
	if page = c.post("/donnees-personnelles/enregistrer", withCurrent(form("Nouveau-Nom", "Paula", newEmail, ""), password)); page.Status != http.StatusOK {
		t.Fatalf("remove the mobile: %d", page.Status)
	}
	wantIn(t, "mobile removed", page, "Le changement de numéro de téléphone portable a été signalé par mail à votre adresse actuelle ("+newEmail+").")
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.Mobile != "" {
		t.Errorf("mobile not removed: %q", now.Mobile)
	}
	e.lastMail(newEmail, "portable")

	// Names alone need no password.
	page = c.post("/donnees-personnelles", form("Perso", "Paula", newEmail, ""))
	wantStatus(t, "names only", page, http.StatusOK)
	wantNotIn(t, "names only", page, `for="current"`)
	page = c.post("/donnees-personnelles/enregistrer", form("Perso", "Paula", newEmail, ""))
	wantStatus(t, "names only", page, http.StatusOK)
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.LastName != "Perso" {
		t.Errorf("names not saved: %+v", now)
	}

	// The password.
	page = c.get("/donnees-personnelles/mot-de-passe")
	wantStatus(t, "password page", page, http.StatusOK)
	wantIn(t, "password page", page, `autocomplete="current-password"`, `data-gauge="jauge"`, directory.PasswordRules[0])
	page = c.post("/donnees-personnelles/mot-de-passe", url.Values{"current": {"Wrong-Password-42!"}, "password": {newPassword}, "confirmation": {newPassword}})
	wantStatus(t, "wrong current password", page, http.StatusUnprocessableEntity)
	wantIn(t, "wrong current password", page, "Le mot de passe actuel est incorrect.", `aria-invalid="true" aria-describedby="current-erreur"`)
	page = c.post("/donnees-personnelles/mot-de-passe", url.Values{"current": {password}, "password": {password}, "confirmation": {password}})
	wantIn(t, "same password", page, "Mot de passe déjà utilisé parmi les 10 derniers.")
	page = c.post("/donnees-personnelles/mot-de-passe", url.Values{"current": {password}, "password": {newPassword}, "confirmation": {newPassword}})
	wantStatus(t, "change password", page, http.StatusOK)
	wantIn(t, "change password", page, "Votre mot de passe a été modifié")
	e.lastMail(newEmail, "mot de passe")
	// The former password, no longer the current one, is still one of the last 10.
	page = c.post("/donnees-personnelles/mot-de-passe", url.Values{"current": {newPassword}, "password": {password}, "confirmation": {password}})
	wantStatus(t, "former password", page, http.StatusUnprocessableEntity)
	wantIn(t, "former password", page, "Mot de passe déjà utilisé parmi les 10 derniers.")
}

// colleagueNumbers are the ways a mobile may be written in a page.
func colleagueNumbers(national string) []string {
	d := strings.ReplaceAll(national, " ", "") // 0611111111
	return []string{
		"+33" + d[1:], "0033" + d[1:], d, d[1:], national,
		strings.ReplaceAll(national, " ", "."), strings.ReplaceAll(national, " ", "-"), strings.ReplaceAll(national, " ", "\u00a0"),
		"+33 " + d[1:2] + " " + national[3:],
	}
}

func TestSelfServiceConsultationPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	if err := directory.CheckSIRET(otherSIRET); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Accueil"}); err != nil {
		t.Fatal(err)
	}
	me := e.person("Mona", "Moi", directory.RoleCollaborateur, "Accueil")
	colleague := e.person("Carl", "Zcollegue", directory.RoleResponsable, "Comptabilité")
	for _, u := range []struct {
		who    *directory.Person
		mobile string
	}{{me, "0622334455"}, {colleague, "0611111111"}} {
		if _, err := e.store.UpdatePerson(ctx, u.who.Identifier, directory.PersonUpdate{Mobile: new(u.mobile)}); err != nil {
			t.Fatal(err)
		}
	}
	grant(t, e, colleague, "ficoba", "FICOBA", "consultation")
	// 50 more collaborators: two pages of 50.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := e.store.CreatePerson(ctx, directory.NewPerson{
				FirstName: "Nombre", LastName: fmt.Sprintf("Nombreux%c%c", 'a'+i/26, 'a'+i%26), Email: fmt.Sprintf("n%d.%d@example.fr", i, time.Now().UnixNano()),
				Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: siret, Service: "Comptabilité",
			}, password)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: otherSIRET, Name: "Autre étude", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateService(ctx, directory.Service{SIRET: otherSIRET, Name: "Secrétariat"}); err != nil {
		t.Fatal(err)
	}
	stranger, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Sam", LastName: "Etranger", Email: uniqueEmail("sam.etranger"),
		Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: otherSIRET, Service: "Secrétariat"}, password)
	if err != nil {
		t.Fatal(err)
	}
	c := newFormClient(t, base)
	c.signIn(e, me)
	noNumber := func(what string, page formPage) {
		t.Helper()
		wantNotIn(t, what, page, colleagueNumbers("06 11 11 11 11")...)
	}

	page := c.get("/consultation")
	wantStatus(t, "consultation", page, http.StatusOK)
	wantIn(t, "consultation", page, "Étude Martin & Associés", siret, "Notaire", "52 comptes", "page 1 sur 2",
		`href="/consultation?service=Accueil">Accueil</a></th>`, `<td>1</td>`, `href="/consultation?service=Comptabilit%C3%A9">Comptabilité</a></th>`, `<td>51</td>`,
		`<nav class="fr-pagination fr-mt-2w" aria-label="Pagination des comptes">`, `href="/consultation?page=2" title="Page 2">2</a>`, `aria-current="page" title="Page 1">1</a>`,
		`href="/consultation/compte/`+me.Identifier+`">Mona Moi</a>`)
	wantNotIn(t, "consultation page 1", page, "Carl Zcollegue", "Sam Etranger")
	noNumber("consultation page 1", page)
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("consultation: Cache-Control %q", cc)
	}
	page = c.get("/consultation?page=2")
	wantIn(t, "page 2", page, "page 2 sur 2", "Carl Zcollegue", colleague.Identifier, "Responsable", `href="/consultation" title="Page 1">1</a>`)
	noNumber("consultation page 2", page)
	if n := strings.Count(page.Body, `href="/consultation/compte/`); n != 2 {
		t.Errorf("page 2 lists %d accounts, want 2", n)
	}
	if page = c.get("/consultation?page=99"); !strings.Contains(page.Text, "page 2 sur 2") {
		t.Errorf("a page past the end does not show the last one")
	}

	page = c.get("/consultation?q=zcoll")
	wantIn(t, "search", page, "1 compte correspondant à la recherche", "Carl Zcollegue", `value="zcoll"`, "Afficher tous les comptes")
	wantNotIn(t, "search", page, `href="/consultation/compte/`+me.Identifier+`"`, "fr-pagination__list")
	noNumber("search", page)
	page = c.get("/consultation?service=Accueil")
	wantIn(t, "service filter", page, "1 compte correspondant", "Mona Moi", `<option value="Accueil" selected>`)
	page = c.get("/consultation?q=" + url.QueryEscape("*)(uid=*"))
	wantIn(t, "hostile search", page, "Aucun compte ne correspond à votre recherche.")

	page = c.get("/consultation/compte/" + colleague.Identifier)
	wantStatus(t, "colleague", page, http.StatusOK)
	wantIn(t, "colleague", page, colleague.Identifier, "Carl", "Zcollegue", colleague.Email, "Responsable", "Comptabilité", "Actif", "FICOBA", "profil consultation")
	wantNotIn(t, "colleague", page, "Numéro de téléphone")
	noNumber("colleague", page)
	page = c.get("/consultation/compte/" + me.Identifier)
	wantIn(t, "own detail", page, "Numéro de téléphone portable", "06 22 33 44 55")

	// Another structure, its list and its accounts.
	for _, path := range []string{"/consultation/" + otherSIRET, "/consultation/compte/" + stranger.Identifier, "/consultation/" + unknownSIRET} {
		page = c.get(path)
		wantStatus(t, path, page, http.StatusForbidden)
		wantIn(t, path, page, "Vous ne pouvez consulter que les comptes et les services de votre structure.")
		wantNotIn(t, path, page, "Sam Etranger", "Autre étude")
	}
	if page = c.get("/consultation/compte/nobody.here-px"); page.Status != http.StatusNotFound {
		t.Errorf("an unknown account: %d", page.Status)
	}

	// An agent chooses the structure.
	agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agnès", LastName: "Agente", Email: uniqueEmail("agnes.agente"),
		Role: directory.RoleAgent, State: directory.StateActive}, password)
	if err != nil {
		t.Fatal(err)
	}
	a := newFormClient(t, base)
	a.signIn(e, agent)
	page = a.get("/consultation")
	wantIn(t, "agent's chooser", page, "SIRET de la structure", "Consulter la structure")
	page = a.get("/consultation?siret=123")
	wantStatus(t, "bad SIRET", page, http.StatusUnprocessableEntity)
	wantIn(t, "bad SIRET", page, "Le SIRET doit comporter 14 chiffres.", `aria-describedby="siret-aide siret-erreur" aria-invalid="true"`)
	page = a.get("/consultation?siret=" + url.QueryEscape("552 100 554 00005"))
	if page.Status != http.StatusSeeOther || page.Location != "/consultation/"+otherSIRET {
		t.Fatalf("choose a structure: %d to %q", page.Status, page.Location)
	}
	page = a.get("/consultation/" + otherSIRET)
	wantIn(t, "agent's consultation", page, "Autre étude", "Sam Etranger", "Consulter une autre structure")
	if page = a.get("/consultation/" + unknownSIRET); page.Status != http.StatusNotFound {
		t.Errorf("an unknown structure: %d", page.Status)
	}
	page = a.get("/consultation/compte/" + stranger.Identifier)
	wantIn(t, "agent's detail", page, "Sam", `href="/consultation/`+otherSIRET+`"`)
}

// Every self-service form refuses a post without its CSRF field, and
// changes nothing.
func TestSelfServiceFormsNeedTheCSRFField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Cyril", "Jeton", directory.RoleCollaborateur, "Comptabilité")
	c := newFormClient(t, base)
	c.signIn(e, p)
	page := c.get("/mot-de-passe/oublie")
	id := captchaID(t, page)
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/mot-de-passe/oublie", url.Values{"identifier": {p.Identifier}, "captcha-id": {id}, "captcha": {e.captchaAnswer(id)}}},
		{"/mot-de-passe/code", url.Values{"code": {"123456"}}},
		{"/mot-de-passe/renouveler", url.Values{"password": {newPassword}, "confirmation": {newPassword}}},
		{"/mot-de-passe/renouveler/x", url.Values{"password": {newPassword}, "confirmation": {newPassword}}},
		{"/donnees-personnelles", url.Values{"nom": {"Pirate"}, "prenom": {"Cyril"}, "email": {p.Email}}},
		{"/donnees-personnelles/enregistrer", url.Values{"nom": {"Pirate"}, "prenom": {"Cyril"}, "email": {p.Email}}},
		{"/donnees-personnelles/mot-de-passe", url.Values{"current": {password}, "password": {newPassword}, "confirmation": {newPassword}}},
	} {
		for _, token := range []string{"", strings.Repeat("A", 43)} {
			form := url.Values{"csrf": {token}}
			for k, v := range f.form {
				form[k] = v
			}
			page := c.post(f.path, form)
			if page.Status != http.StatusForbidden || !strings.Contains(page.Text, "Le formulaire a expiré") {
				t.Errorf("%s with the token %q: %d", f.path, token, page.Status)
			}
		}
	}
	// The captcha was not spent, the name did not change, the password neither.
	if _, err := (directory.SelfService{Store: e.store}).CaptchaDigits(ctx, id); err != nil {
		t.Errorf("the captcha was spent: %v", err)
	}
	if now, _ := e.store.FindPerson(ctx, p.Identifier); now.LastName != "Jeton" {
		t.Errorf("the name changed: %q", now.LastName)
	}
	if _, err := e.store.Authenticate(ctx, p.Identifier, password); err != nil {
		t.Errorf("the password changed: %v", err)
	}
}
