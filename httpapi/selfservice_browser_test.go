package httpapi_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// The self-service pages in a real headless Chromium, one browser for
// all: both ways of renewing a forgotten password end to end (the SMS code
// from the SMS gateway, the link from the SMTP server), the captcha and its
// sound, the personal data and the consultation; axe-core checks the states
// that no route shows by itself (errors, summaries, confirmations).

// audioCheck is what the page reads of the captcha's sound.
type audioCheck struct {
	Status        int     `json:"status"`
	ContentType   string  `json:"contentType"`
	RIFF          string  `json:"riff"`
	WAVE          string  `json:"wave"`
	HeaderSeconds float64 `json:"headerSeconds"` // from the WAV header
	PlayerSeconds float64 `json:"playerSeconds"` // as the page's <audio> reads it; -1 on an error
}

// checkCaptchaSound fetches the sound of the page's captcha from the page,
// as its player does, and loads it in the player.
const checkCaptchaSound = `(async () => {
  const a = document.querySelector('audio');
  const res = await fetch(a.src);
  const buf = await res.arrayBuffer();
  const v = new DataView(buf);
  const tag = (o) => o + 4 <= buf.byteLength ? String.fromCharCode(...new Uint8Array(buf, o, 4)) : '';
  let off = 12, byteRate = 0, dataLen = 0;
  while (off + 8 <= buf.byteLength) {
    const id = tag(off), size = v.getUint32(off + 4, true);
    if (id === 'fmt ') byteRate = v.getUint32(off + 16, true);
    if (id === 'data') { dataLen = size; break; }
    off += 8 + size + (size % 2);
  }
  const played = await new Promise((resolve) => {
    a.addEventListener('loadedmetadata', () => resolve(a.duration), {once: true});
    a.addEventListener('error', () => resolve(-1), {once: true});
    a.preload = 'metadata';
    a.load();
  });
  return {status: res.status, contentType: res.headers.get('Content-Type'), riff: tag(0), wave: tag(8),
    headerSeconds: byteRate ? dataLen / byteRate : 0, playerSeconds: played};
})()`

// captchaOnPage is the id of the captcha the page shows.
func captchaOnPage(tb *tab) string {
	tb.t.Helper()
	return eval[string](tb, `document.querySelector('input[name="captcha-id"]').value`)
}

// mainHTML is the page's content, for comparing two pages.
func mainHTML(tb *tab) string {
	tb.t.Helper()
	return eval[string](tb, `document.querySelector('main').outerHTML`)
}

// pageHTML is the whole document.
func pageHTML(tb *tab) string {
	tb.t.Helper()
	return eval[string](tb, `document.documentElement.outerHTML`)
}

func TestSelfServicePagesInBrowser(t *testing.T) {
	t.Parallel()
	axe := readAxe(t)
	b := startBrowser(t)

	t.Run("ForgottenPasswordBySMS", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Sonia", "Texto", directory.RoleCollaborateur, "Comptabilité")
		if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: new("06 98 76 54 32")}); err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t, e.instance())

		// Step 1: « Mot de passe oublié ? » on the sign-in page.
		tb.open("/connexion")
		tb.click("Mot de passe oublié ?", "/mot-de-passe/oublie")

		// The sound version: a WAV that the page's player reads, over a second long.
		sound, err := chromedp.Run(tb.ctx, chromedp.Evaluate[audioCheck](checkCaptchaSound, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("captcha sound: %v", err)
		}
		if sound.Status != 200 || sound.ContentType != "audio/wav" || sound.RIFF != "RIFF" || sound.WAVE != "WAVE" || sound.HeaderSeconds <= 1 || sound.PlayerSeconds <= 1 {
			t.Errorf("captcha sound: %+v", sound)
		}
		if alt := eval[string](tb, `document.querySelector('.apex-captcha__image').alt`); !strings.Contains(alt, "captcha") || !strings.Contains(alt, "6 chiffres") {
			t.Errorf("captcha image alt: %q", alt)
		}

		// Step 2: a wrong captcha, then the right one.
		first := captchaOnPage(tb)
		tb.fill("#identifier", p.Identifier)
		tb.fill("#captcha", testkit.WrongCode(e.captchaAnswer(first)))
		tb.click("Envoyer code de sécurité", "/mot-de-passe/oublie")
		if got := tb.text("#captcha-erreur"); !strings.HasPrefix(got, "Les caractères saisis ne correspondent pas à l'image") {
			t.Errorf("wrong captcha: %q", got)
		}
		if eval[string](tb, `document.querySelector('#captcha').getAttribute('aria-invalid')`) != "true" {
			t.Errorf("the captcha field is not marked invalid")
		}
		second := captchaOnPage(tb)
		if second == first || !eval[bool](tb, `document.querySelector('.apex-captcha__image').src.endsWith('/`+second+`.png')`) {
			t.Errorf("no new image after a wrong captcha")
		}
		checkAccessibility(t, tb, axe, "forgot-wrong-captcha")
		if e.texts.count() != 0 {
			t.Fatalf("a wrong captcha sent an SMS")
		}
		tb.fill("#captcha", e.captchaAnswer(second))
		tb.click("Envoyer code de sécurité", "/mot-de-passe/code")

		// Step 3: the code of the SMS, first mistyped.
		code := codePattern.FindString(e.texts.wait(t, "+33698765432", 1).Text)
		tb.fill("#code", testkit.WrongCode(code))
		tb.click("Valider le code de sécurité saisi", "/mot-de-passe/code")
		if got := tb.text("#code-erreur"); !strings.HasPrefix(got, "Le code de sécurité saisi est incorrect") {
			t.Errorf("wrong code: %q", got)
		}
		checkAccessibility(t, tb, axe, "reset-code-wrong")
		tb.fill("#code", code)
		tb.click("Valider le code de sécurité saisi", "/mot-de-passe/renouveler")

		// Step 4: the new password, its rules and gauge.
		if got := tb.texts(`#jauge p.fr-message[class*="fr-message--"]`); strings.Join(got, "|") != strings.Join(directory.PasswordRules, "|") {
			t.Errorf("rules shown: %q", got)
		}
		typeInto(tb, "#password", "abc")
		if score := eval[string](tb, `document.querySelector('#jauge').dataset.score`); score != "0" {
			t.Errorf("gauge of a weak password: %q", score)
		}
		if eval[bool](tb, `document.querySelector('[data-gauge-meter]').hidden`) {
			t.Errorf("the gauge stays hidden")
		}
		typeInto(tb, "#password", password) // the current one: in the history
		if got := tb.text("[data-gauge-text]"); got == "" || !strings.HasPrefix(got, "Robustesse du mot de passe : ") {
			t.Errorf("gauge text: %q", got)
		}
		if n := eval[int](tb, `document.querySelectorAll('#jauge .fr-message--valid').length`); n != 4 {
			t.Errorf("%d rules shown as met, want 4", n)
		}
		tb.fill("#confirmation", password)
		tb.click("Valider le nouveau mot de passe", "/mot-de-passe/renouveler")
		if got := tb.text("#password-erreur"); got != "Mot de passe déjà utilisé parmi les 10 derniers." {
			t.Errorf("a password of the history: %q", got)
		}
		checkAccessibility(t, tb, axe, "renewal-history")
		typeInto(tb, "#password", newPassword)
		tb.fill("#confirmation", newPassword)
		tb.click("Valider le nouveau mot de passe", "/mot-de-passe/renouveler")
		if got := tb.text("h1"); got != "Votre mot de passe a été renouvelé" {
			t.Errorf("confirmation: %q", got)
		}
		checkAccessibility(t, tb, axe, "renewal-done")

		// Step 5: back to the sign-in page; the new password opens a session.
		tb.click("Retour à la page d'authentification", "/connexion")
		e.lastMail(p.Email, "modifié")
		e.signIn(tb.base+"/api/v1", p.Identifier, p.Email, newPassword)
	})

	t.Run("ForgottenPasswordByMailLinkWithTheKeyboard", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Marc", "Courriel", directory.RoleAdministrateur, "")
		tb := b.tab(t, e.instance())

		// The form with the keyboard alone: Enter in the captcha field sends it.
		tb.open("/mot-de-passe/oublie")
		tb.tabTo(`a "Contenu"`, 1)
		tb.press(kb.Enter)
		tb.tabTo("input#identifier", 1)
		tb.press(p.Identifier)
		tb.tabTo("input#captcha", 6) // past the sound player
		tb.press(e.captchaAnswer(captchaOnPage(tb)))
		tb.submit("/mot-de-passe/code", chromedp.KeyEvent(kb.Enter))
		known := mainHTML(tb)
		if !strings.Contains(tb.text("#demande-envoyee"), "un mail avec un lien de renouvellement") {
			t.Errorf("the page does not tell about the mail: %q", tb.text("#demande-envoyee"))
		}

		// An unknown identifier: exactly the same page.
		tb.open("/mot-de-passe/oublie")
		tb.fill("#identifier", "nobody.here-px")
		tb.fill("#captcha", e.captchaAnswer(captchaOnPage(tb)))
		tb.click("Envoyer code de sécurité", "/mot-de-passe/code")
		if unknown := mainHTML(tb); unknown != known {
			t.Errorf("a known and an unknown identifier get different pages:\n%s\n---\n%s", known, unknown)
		}

		// The link of the mail.
		token := e.mailedResetToken(p.Email, 1)
		tb.open("/mot-de-passe/renouveler/" + token)
		tb.fill("#password", newPassword)
		tb.fill("#confirmation", newPassword+"x")
		tb.click("Valider le nouveau mot de passe", "/mot-de-passe/renouveler/"+token)
		if got := tb.text("#confirmation-erreur"); got != "Les deux mots de passe saisis ne sont pas identiques." {
			t.Errorf("mismatch: %q", got)
		}
		if got := eval[string](tb, `document.title`); !strings.HasPrefix(got, "Erreur : ") {
			t.Errorf("the title does not tell the error: %q", got)
		}
		tb.fill("#password", newPassword)
		tb.fill("#confirmation", newPassword)
		tb.click("Valider le nouveau mot de passe", "/mot-de-passe/renouveler/"+token)
		tb.click("Retour à la page d'authentification", "/connexion")
		e.lastMail(p.Email, "modifié")
		e.signIn(tb.base+"/api/v1", p.Identifier, p.Email, newPassword)
		if status := tb.openStatus("/mot-de-passe/renouveler/" + token); status != 404 || !strings.Contains(tb.text("#avis-message"), "a déjà été utilisé") {
			t.Errorf("the used link: %d", status)
		}
		if n := e.texts.count(); n != 0 {
			t.Errorf("%d SMS sent to accounts without a mobile", n)
		}
	})

	t.Run("PersonalData", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.person("Paula", "Perso", directory.RoleResponsable, "Comptabilité")
		if _, err := e.store.UpdatePerson(ctx, p.Identifier, directory.PersonUpdate{Mobile: new("+33612345678")}); err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t, e.instance())
		tb.signInDirect(e, p)
		tb.open("/")
		tb.click("Gestion des données personnelles", "/donnees-personnelles")
		if got := eval[string](tb, `document.querySelector('#mobile').value`); got != "06 12 34 56 78" {
			t.Errorf("own mobile: %q", got)
		}
		if got := tb.text("#identifiant"); got != p.Identifier {
			t.Errorf("identifier: %q", got)
		}

		clearField(tb, "#nom")
		tb.fill("#email", "pas-un-mail")
		tb.click("Valider les modifications apportées", "/donnees-personnelles")
		if got := tb.texts(".fr-error-text"); len(got) != 2 {
			t.Errorf("errors: %q", got)
		}
		checkAccessibility(t, tb, axe, "personal-data-errors")

		newEmail := uniqueEmail("paula.nouvelle")
		tb.fill("#nom", "Nouveau-Nom")
		tb.fill("#email", newEmail)
		tb.fill("#mobile", "07 81 23 45 67")
		tb.click("Valider les modifications apportées", "/donnees-personnelles")
		if got := tb.text("h1"); got != "Récapitulatif des modifications" {
			t.Fatalf("summary: %q", got)
		}
		if got := tb.texts("#recapitulatif tbody tr"); len(got) != 4 || !strings.Contains(strings.ToLower(got[0]), "perso nouveau-nom modifié") || !strings.Contains(strings.ToLower(got[3]), "06 12 34 56 78 07 81 23 45 67 modifié") {
			t.Errorf("summary rows: %q", got)
		}
		checkAccessibility(t, tb, axe, "personal-data-summary")
		// A new mail and mobile need the current password.
		tb.click("Enregistrer les modifications apportées", "/donnees-personnelles/enregistrer")
		if got := tb.text("#current-erreur"); !strings.HasPrefix(got, "Saisissez votre mot de passe actuel") {
			t.Errorf("saved without the current password: %q", got)
		}
		checkAccessibility(t, tb, axe, "personal-data-summary-password-missing")
		tb.fill("#current", password)
		tb.click("Enregistrer les modifications apportées", "/donnees-personnelles/enregistrer")
		if got := tb.text("#confirmation-message"); got != "Vos données personnelles ont été modifiées." {
			t.Errorf("confirmation: %q", got)
		}
		checkAccessibility(t, tb, axe, "personal-data-done")
		// The new address waits for its code; the account's is told at once.
		told := e.lastMail(p.Email, "attend sa confirmation")
		if strings.Contains(told.Text, newEmail) {
			t.Errorf("the mail to the account's address shows the new one in full")
		}
		ask := e.lastMail(newEmail, "Confirmez")
		code := regexp.MustCompile(`(?m)^    (\d{6})$`).FindStringSubmatch(ask.Text)
		if code == nil || !strings.Contains(ask.Text, p.Identifier) {
			t.Fatalf("the mail to the new address lacks its code or the identifier:\n%s", ask.Text)
		}
		if got := tb.text(".apex-account"); got != "Connecté en tant que Paula Nouveau-Nom" {
			t.Errorf("header after the change: %q", got)
		}
		tb.click("Saisir le code de confirmation", "/donnees-personnelles")
		checkAccessibility(t, tb, axe, "personal-data-pending-email")
		tb.fill("#code", testkit.WrongCode(code[1]))
		tb.click("Confirmer la nouvelle adresse", "/donnees-personnelles/adresse-mail")
		if got := tb.text("#code-erreur"); got != "Code de confirmation incorrect." {
			t.Errorf("wrong confirmation code: %q", got)
		}
		checkAccessibility(t, tb, axe, "personal-data-pending-email-wrong-code")
		tb.fill("#code", code[1])
		tb.click("Confirmer la nouvelle adresse", "/donnees-personnelles/adresse-mail")
		if got := tb.text("#avis-message"); !strings.Contains(got, "Votre adresse mail est désormais "+newEmail) {
			t.Errorf("confirmed: %q", got)
		}
		checkAccessibility(t, tb, axe, "personal-data-email-confirmed")
		e.lastMail(p.Email, "modifiée")
		e.lastMail(newEmail, "nouvelle adresse")

		// The password, from the same page.
		tb.click("Modifier mon mot de passe", "/donnees-personnelles/mot-de-passe")
		tb.fill("#current", "Wrong-Password-42!")
		typeInto(tb, "#password", newPassword)
		tb.fill("#confirmation", newPassword)
		tb.click("Valider le nouveau mot de passe", "/donnees-personnelles/mot-de-passe")
		if got := tb.text("#current-erreur"); got != "Le mot de passe actuel est incorrect." {
			t.Errorf("wrong current password: %q", got)
		}
		tb.fill("#current", password)
		typeInto(tb, "#password", newPassword)
		tb.fill("#confirmation", newPassword)
		tb.click("Valider le nouveau mot de passe", "/donnees-personnelles/mot-de-passe")
		if got := tb.text("h1"); got != "Votre mot de passe a été modifié" {
			t.Errorf("password changed: %q", got)
		}
	})

	t.Run("Consultation", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Accueil"}); err != nil {
			t.Fatal(err)
		}
		admin := e.person("Anne", "Admin", directory.RoleAdministrateur, "")
		me := e.person("Mona", "Moi", directory.RoleCollaborateur, "Accueil")
		colleague := e.person("Carl", "Zcollegue", directory.RoleResponsable, "Comptabilité")
		for _, u := range []struct {
			who    *directory.Person
			mobile string
		}{{me, "0622334455"}, {colleague, "0611111111"}, {admin, "0633333333"}} {
			if _, err := e.store.UpdatePerson(ctx, u.who.Identifier, directory.PersonUpdate{Mobile: new(u.mobile)}); err != nil {
				t.Fatal(err)
			}
		}
		grant(t, e, colleague, "ficoba", "FICOBA", "consultation")
		if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: otherSIRET, Name: "Autre étude", Category: "Notaire"}); err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t, e.instance())
		tb.signInDirect(e, me)
		noNumbers := func(what string) {
			t.Helper()
			doc := pageHTML(tb)
			for _, mobile := range []string{"06 11 11 11 11", "06 33 33 33 33"} {
				for _, n := range colleagueNumbers(mobile) {
					if strings.Contains(doc, n) {
						t.Errorf("%s: the number %q is in the page", what, n)
					}
				}
			}
		}

		tb.open("/")
		tb.click("Consultation des comptes et services de la structure", "/consultation")
		if got := tb.texts("#services tbody tr"); strings.Join(got, "|") != "Accueil 1|Comptabilité 1" {
			t.Errorf("services: %q", got)
		}
		if got := tb.texts("#comptes tbody th"); strings.Join(got, "|") != "Anne Admin|Mona Moi|Carl Zcollegue" {
			t.Errorf("accounts: %q", got)
		}
		if got := tb.texts("#comptes tbody tr")[2]; !strings.EqualFold(got, "Carl Zcollegue "+colleague.Identifier+" Responsable Comptabilité Actif") {
			t.Errorf("a colleague's row: %q", got)
		}
		noNumbers("the list")
		tb.fill("#q", "zcoll")
		tb.click("Rechercher", "/consultation")
		if got := tb.texts("#comptes tbody th"); strings.Join(got, "|") != "Carl Zcollegue" {
			t.Errorf("search: %q", got)
		}
		tb.click("Carl Zcollegue", "/consultation/compte/"+colleague.Identifier)
		detail := tb.text("#detail-compte")
		for _, want := range []string{colleague.Identifier, "Carl", "Zcollegue", colleague.Email, "Responsable", "Comptabilité", "ACTIF"} {
			if !strings.Contains(detail, want) {
				t.Errorf("the detail lacks %q: %q", want, detail)
			}
		}
		if got := tb.texts("#habilitations li"); strings.Join(got, "|") != "FICOBA — profil consultation" {
			t.Errorf("habilitations: %q", got)
		}
		if strings.Contains(detail, "téléphone") {
			t.Errorf("the detail of a colleague speaks of a phone: %q", detail)
		}
		noNumbers("a colleague's detail")
		tb.open("/consultation/compte/" + admin.Identifier)
		noNumbers("the administrator's detail")
		tb.open("/consultation/compte/" + me.Identifier)
		if detail := tb.text("#detail-compte"); !strings.Contains(detail, "06 22 33 44 55") {
			t.Errorf("one's own detail lacks the mobile: %q", detail)
		}

		if status := tb.openStatus("/consultation/" + otherSIRET); status != 403 {
			t.Errorf("another structure: %d", status)
		}
		if got := tb.text("main p.fr-text--lead"); got != "Vous ne pouvez consulter que les comptes et les services de votre structure." {
			t.Errorf("another structure: %q", got)
		}
	})
}
