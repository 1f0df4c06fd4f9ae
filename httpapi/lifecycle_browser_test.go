package httpapi_test

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dgfip/apex-partenaires/directory"
)

// The account lifecycle of the guide (sections 1.1 to 2) in a real
// headless Chromium, with the mails read from the real SMTP server. The
// error cases without a browser are in lifecycle_pages_test.go.

// lcSignIn signs p in through the pages: identifier and password, then the
// code of the mail.
func lcSignIn(tb *tab, e *env, p *directory.Person) {
	tb.t.Helper()
	before := e.codeMails(p.Email)
	tb.signInPassword(p)
	tb.fill("#code", e.code(p.Email, before+1))
	tb.click("Vérifier", "/")
}

// lcGauge is what the password gauge shows: its score and the state of
// each rule it checks.
type lcGauge struct {
	Score string            `json:"score"`
	Text  string            `json:"text"`
	Rules map[string]string `json:"rules"` // rule → DSFR message type, info, valid or error
}

func lcReadGauge(tb *tab) lcGauge {
	tb.t.Helper()
	return eval[lcGauge](tb, `(() => {
  const g = document.getElementById('password-gauge');
  const rules = {};
  g.querySelectorAll('[data-rule]').forEach((r) => {
    rules[r.dataset.rule] = ['info', 'valid', 'error'].find((k) => r.classList.contains('fr-message--' + k)) || '';
  });
  return {score: g.dataset.score || '', text: g.querySelector('[data-gauge-text]').textContent, rules: rules};
})()`)
}

func TestLifecyclePagesInBrowser(t *testing.T) {
	t.Parallel()
	axe := readAxe(t)
	b := startBrowser(t)

	// Guide 1.1 to 1.3 and 2, as the people of the guide live them.
	t.Run("GuideEndToEnd", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		base := e.instance()
		agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agnès", LastName: "Guichet", Email: "agnes.guichet@dgfip.example.fr",
			Role: directory.RoleAgent, State: directory.StateActive}, password)
		if err != nil {
			t.Fatal(err)
		}
		const (
			newSIRET   = "44306184100047"
			adminMail  = "marie.martin@caisse.example.fr"
			collabMail = "sylvie.dalembert@caisse.example.fr"
		)

		// 1.1 A: the agent signs in and creates the structure.
		at := b.tab(t, base)
		lcSignIn(at, e, agent)
		at.click("Création des structures", "/agent/structures")
		at.fill("#siret", "12345678901234")
		at.fill("#name", "Caisse de retraite du Nord")
		at.fill("#category", "Caisse de retraite")
		at.click("Créer la structure", "/agent/structures")
		wantText(t, at, "#siret-error", "Le SIRET n'est pas valide (clé de contrôle incorrecte).")
		if got := eval[string](at, `document.querySelector('#siret').getAttribute('aria-invalid')`); got != "true" {
			t.Errorf("the SIRET field is not marked invalid: %q", got)
		}
		at.fill("#siret", "443 061 841 00047")
		at.click("Créer la structure", "/agent/structures/"+newSIRET)
		wantText(t, at, "#avis-message", "La structure Caisse de retraite du Nord est créée. Vous pouvez maintenant inviter son administrateur.")

		// 1.1 B: the agent pre-creates the administrator's account.
		at.fill("#email", adminMail)
		at.click("Envoyer le lien de création", "/agent/structures/"+newSIRET)
		wantText(t, at, "#avis-message", "Un lien de pré-création de compte administrateur a été envoyé à "+adminMail+".")
		checkAccessibility(t, at, axe, "agent: a structure with its invited administrator")

		// 1.3 étape 3: the administrator opens the link of the mail and
		// fills the form, with a weak password first.
		token := e.link(adminMail)
		mt := b.tab(t, base)
		mt.open("/creation/" + token)
		wantText(t, mt, "h1", "Création de votre compte")
		if got := mt.text("#mobile-hint"); !strings.HasPrefix(got, "Il est fortement recommandé de fournir un numéro de téléphone portable afin de faciliter la procédure de réinitialisation de mot de passe. Il ne sera pas utilisé à d'autres fins.") {
			t.Errorf("the mobile's note: %q", got)
		}
		if got := mt.text(".apex-creation-summary"); !strings.Contains(got, adminMail) || !strings.Contains(got, "Caisse de retraite du Nord") {
			t.Errorf("what the form shows of the account: %q", got)
		}
		mt.fill("#lastName", "Martin")
		mt.fill("#firstName", "Marie")
		mt.fill("#mobile", "06 12 34 56 78")
		const weak = "martin2024"
		typeInto(mt, "#password", weak)
		g := lcReadGauge(mt)
		if g.Score != strconv.Itoa(directory.PasswordStrength(weak)) || g.Text != "Robustesse du mot de passe : faible" ||
			g.Rules["length"] != "error" || g.Rules["case"] != "error" || g.Rules["digits"] != "valid" || g.Rules["special"] != "error" {
			t.Errorf("the gauge of %q: %+v", weak, g)
		}
		mt.fill("#passwordConfirmation", weak)
		mt.click("Valider", "/creation/"+token)
		want := []string{"Le mot de passe doit contenir au moins 12 caractères.", "Le mot de passe doit contenir au moins une lettre majuscule.", "Le mot de passe doit contenir au moins 1 caractère spécial."}
		if got := mt.texts("#avis-erreurs li"); !slices.Equal(got, want) {
			t.Errorf("the errors listed: %q, want %q", got, want)
		}
		if got := mt.texts("#password-error .fr-error-text"); !slices.Equal(got, want) {
			t.Errorf("the errors beside the password: %q", got)
		}
		if got := eval[string](mt, `[document.querySelector('#lastName').value, document.querySelector('#mobile').value, document.querySelector('#password').value, document.querySelector('#password').getAttribute('aria-invalid')].join('|')`); got != "Martin|06 12 34 56 78||true" {
			t.Errorf("the fields after the errors (the password must be empty): %q", got)
		}
		if title := eval[string](mt, `document.title`); !strings.HasPrefix(title, "Erreur : ") {
			t.Errorf("the title does not tell the error: %q", title)
		}
		checkAccessibility(t, mt, axe, "the pre-creation form with errors")

		// Then a good one; the summary; « Envoyer votre création de compte ».
		typeInto(mt, "#password", password)
		g = lcReadGauge(mt)
		if g.Score != strconv.Itoa(directory.PasswordStrength(password)) || g.Rules["length"] != "valid" || g.Rules["case"] != "valid" || g.Rules["digits"] != "valid" || g.Rules["special"] != "valid" {
			t.Errorf("the gauge of a good password: %+v", g)
		}
		mt.fill("#passwordConfirmation", password)
		mt.click("Valider", "/creation/"+token)
		wantText(t, mt, "h1", "Récapitulatif de votre demande")
		summary := mt.text("#recapitulatif")
		for _, s := range []string{"Nom Martin", "Prénom Marie", "06 12 34 56 78", adminMail, "Administrateur", "Caisse de retraite du Nord", newSIRET} {
			if !strings.Contains(summary, s) {
				t.Errorf("the summary lacks %q: %q", s, summary)
			}
		}
		checkAccessibility(t, mt, axe, "the summary of the pre-creation")
		mt.click("Envoyer votre création de compte", "/creation/envoyee")
		wantText(t, mt, "#avis-message", "À ce stade, la création de votre compte n'est pas effective. Elle doit être validée par un agent DGFiP, qui peut accepter ou refuser votre demande.")

		// 1.3 étape 6: the agent validates; the identifier is mailed.
		at.open("/")
		at.click("Validation des comptes administrateurs", "/gestion/demandes")
		at.click("Valider la demande de Marie Martin", "/gestion/demandes")
		m := regexp.MustCompile(`^Le compte de Marie Martin est validé : identifiant (marie\.martin[0-9]*-px)\.`).FindStringSubmatch(at.text("#avis-message"))
		if m == nil {
			t.Fatalf("the validation's notice: %q", at.text("#avis-message"))
		}
		adminID := m[1]
		if mail := e.lastMail(adminMail, "validé"); !strings.Contains(mail.Text, adminID) {
			t.Errorf("the identifier's mail:\n%s", mail.Text)
		}

		// 2: the agent declares an application and habilitates the administrator.
		at.open("/agent/applications")
		at.fill("#id", "ficoba")
		at.fill("#name", "FICOBA")
		at.fill("#profiles", "consultation, gestion")
		at.click("Déclarer l'application", "/agent/applications")
		wantText(t, at, "#avis-message", "L'application FICOBA est déclarée avec les profils consultation, gestion.")
		at.open("/")
		at.click("Habilitation des administrateurs aux applications", "/gestion/comptes")
		at.click("Gérer le compte de Marie Martin", "/gestion/comptes/"+adminID)
		if got := at.texts("#profile option"); !slices.Equal(got, []string{"Sélectionnez un profil", "FICOBA — profil consultation", "FICOBA — profil gestion"}) {
			t.Errorf("the profiles an agent hands out: %q", got)
		}
		at.fill("#profile", "ficoba/consultation")
		at.click("Habiliter", "/gestion/comptes/"+adminID)
		if got := at.texts(".apex-manage-habilitation__name"); !slices.Equal(got, []string{"FICOBA — profil consultation"}) {
			t.Errorf("the administrator's habilitations: %q", got)
		}
		e.lastMail(adminMail, "FICOBA")

		// 1.2: the administrator signs in, creates a service, pre-creates a collaborateur.
		admin, err := e.store.FindPerson(ctx, adminID)
		if err != nil {
			t.Fatal(err)
		}
		mt.signInDirect(e, admin) // the agent signed in through the pages
		mt.open("/")
		mt.click("Gestion des services", "/gestion/services")
		mt.fill("#name", "Gestion")
		mt.click("Créer le service", "/gestion/services")
		wantText(t, mt, "#avis-message", "Le service Gestion est créé.")
		mt.open("/")
		mt.click("Gestion des comptes responsables et collaborateurs", "/gestion/comptes")
		mt.click("Créer un compte", "/gestion/inviter")
		mt.fill("#email", collabMail)
		mt.do("choose the role", chromedp.Click(chromedp.CSS(`label[for="role-collaborateur"]`), chromedp.NodeVisible))
		mt.fill("#service", "Gestion")
		mt.click("Envoyer le lien de création", "/gestion/comptes")
		wantText(t, mt, "#avis-message", "Un lien de pré-création de compte collaborateur a été envoyé à "+collabMail+".")

		// The collaborateur fills the form with the keyboard alone.
		st := b.tab(t, base)
		token = e.link(collabMail)
		st.open("/creation/" + token)
		// The structure's one service: shown, with nothing to choose.
		if got := st.text(".apex-creation-summary"); !strings.Contains(got, "Service Gestion") || eval[bool](st, `document.querySelector('#service') !== null`) {
			t.Errorf("the service chosen in advance: %q, and a choice of one", got)
		}
		st.tabTo("input#lastName", 8)
		st.press("d'Alembert")
		st.tabTo("input#firstName", 1)
		st.press("Sylvie")
		st.tabTo("input#password", 4) // past the mobile
		st.press(password)
		if g := lcReadGauge(st); g.Score != strconv.Itoa(directory.PasswordStrength(password)) {
			t.Errorf("the gauge while typing: %+v", g)
		}
		st.tabTo("input#passwordConfirmation", 2) // past « Afficher »
		st.press(password)
		st.tabTo(`button "Valider"`, 2)
		st.submit("/creation/"+token, chromedp.KeyEvent(kb.Enter))
		wantText(t, st, "h1", "Récapitulatif de votre demande")
		if got := st.text("#recapitulatif"); !strings.Contains(got, "Service Gestion") || !strings.Contains(got, "Nom d'Alembert") {
			t.Errorf("the collaborateur's summary: %q", got)
		}
		st.tabTo(`button "Envoyer votre création de compte"`, 8)
		st.submit("/creation/envoyee", chromedp.KeyEvent(kb.Enter))
		wantText(t, st, "#avis-message", "À ce stade, la création de votre compte n'est pas effective. Elle doit être validée par le responsable de votre service ou l'administrateur de votre structure, qui peut accepter ou refuser votre demande.")

		// The administrator validates and habilitates, with the profile it holds only.
		mt.open("/gestion/demandes")
		mt.click("Valider la demande de Sylvie d'Alembert", "/gestion/demandes")
		// Identifiers are unique in the whole directory, which other tests share: a homonym gets a number.
		m = regexp.MustCompile(`^Le compte de Sylvie d'Alembert est validé : identifiant (sylvie\.dalembert[0-9]*-px)\. Son identifiant lui a été envoyé par mail\.$`).FindStringSubmatch(mt.text("#avis-message"))
		if m == nil {
			t.Fatalf("the validation's notice: %q", mt.text("#avis-message"))
		}
		collabID := m[1]
		e.lastMail(collabMail, "validé")
		mt.open("/gestion/comptes")
		mt.click("Gérer le compte de Sylvie d'Alembert", "/gestion/comptes/"+collabID)
		if got := mt.texts("#profile option"); !slices.Equal(got, []string{"Sélectionnez un profil", "FICOBA — profil consultation"}) {
			t.Errorf("the profiles an administrator hands out: %q", got)
		}
		mt.fill("#profile", "ficoba/consultation")
		mt.click("Habiliter", "/gestion/comptes/"+collabID)
		e.lastMail(collabMail, "FICOBA")

		// A DGFiP application binds as the collaborateur and sees the profile.
		dn := e.accountEntry(t, collabID, "1.1").DN
		out, err := exec.Command("ldapwhoami", "-x", "-H", e.cfg.URL, "-D", dn, "-w", password).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "dn:"+dn {
			t.Errorf("ldapwhoami as the collaborateur: %v %s", err, out)
		}
		if p, err := e.store.FindPerson(ctx, collabID); err != nil || !p.HasProfile("ficoba", "consultation") || p.Service != "Gestion" {
			t.Errorf("the collaborateur's memberOf: %+v %v", p, err)
		}
		for _, tb := range []*tab{at, mt, st} {
			if v := tb.cspViolations(); len(v) > 0 {
				t.Errorf("CSP violations: %q", v)
			}
		}
	})

	// A refusal needs its reason, which the person receives by mail.
	t.Run("RefusalWithItsReason", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Aude", LastName: "Refus", Email: "aude.refus@dgfip.example.fr",
			Role: directory.RoleAgent, State: directory.StateActive}, password)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "remi.refuse@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (directory.Accounts{Store: e.store}).SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Rémi", LastName: "Refusé", Password: password}); err != nil {
			t.Fatal(err)
		}
		id := inv.Person.RequestID
		tb := b.tab(t, e.instance())
		tb.signInDirect(e, agent)
		tb.open("/gestion/demandes")
		tb.click("Refuser la demande de Rémi Refusé", "/gestion/demandes/refuser")
		wantText(t, tb, "#motif-"+id+"-error", "Le motif du refus doit être renseigné.")
		if got := eval[string](tb, `document.querySelector('#motif-`+id+`').getAttribute('aria-describedby')`); got != "motif-"+id+"-error motif-"+id+"-hint" {
			t.Errorf("the reason's field is not described by its error: %q", got)
		}
		checkAccessibility(t, tb, axe, "a refusal without its reason")
		if st := lcState(t, e, id); st != directory.StateSubmitted {
			t.Fatalf("a refusal without reason changed the request: %s", st)
		}
		tb.fill("#motif-"+id, "Structure inconnue de nos services.\nContactez votre correspondant DGFiP.")
		tb.click("Refuser la demande de Rémi Refusé", "/gestion/demandes")
		wantText(t, tb, "#avis-message", "La demande est refusée : remi.refuse@example.fr en reçoit le motif par mail.")
		wantText(t, tb, "#aucune-demande", "Aucune demande n'attend votre décision.")
		mail := e.lastMail("remi.refuse@example.fr", "refusée")
		if !strings.Contains(mail.Text, "Structure inconnue de nos services.") || !strings.Contains(mail.Text, "Contactez votre correspondant DGFiP.") {
			t.Errorf("the refusal's mail:\n%s", mail.Text)
		}
		if p, _ := e.store.FindPersonByRequest(ctx, id); p.State != directory.StateRefused || p.DecidedBy != agent.Identifier {
			t.Errorf("the refused request: %+v", p)
		}
	})

	// A link works once; a forged one never.
	t.Run("LinkUsedTwiceAndForgedLink", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "lc.deux.fois@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
		if err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t, e.instance())
		link := "/creation/" + inv.Token
		tb.open(link)
		tb.fill("#lastName", "Fois")
		tb.fill("#firstName", "Deux")
		tb.fill("#password", password)
		tb.fill("#passwordConfirmation", password)
		tb.click("Valider", link)
		tb.click("Modifier", link) // back to the form, with the values
		if got := eval[string](tb, `document.querySelector('#lastName').value + '|' + document.querySelector('#password').value`); got != "Fois|" {
			t.Errorf("« Modifier »: %q, want the names and no password", got)
		}
		tb.fill("#password", password)
		tb.fill("#passwordConfirmation", password)
		tb.click("Valider", link)
		tb.click("Envoyer votre création de compte", "/creation/envoyee")

		if status := tb.openStatus(link); status != 404 {
			t.Errorf("the link used twice: status %d", status)
		}
		wantText(t, tb, "h1", "Lien invalide")
		wantText(t, tb, "#message-lien", "Ce lien n'est pas valide ou a déjà été utilisé.")
		checkAccessibility(t, tb, axe, "a used pre-creation link")
		forged := "/creation/" + inv.Person.RequestID + "." + strings.Repeat("A", 43)
		if status := tb.openStatus(forged); status != 404 {
			t.Errorf("a forged link: status %d", status)
		}
		wantText(t, tb, "h1", "Lien invalide")
		if p, _ := e.store.FindPersonByRequest(ctx, inv.Person.RequestID); p.State != directory.StateSubmitted || p.LastName != "Fois" {
			t.Errorf("the request: %+v", p)
		}
	})

	// A form whose CSRF field is gone is refused, on the public form as
	// behind the session, and changes nothing.
	t.Run("FormsWithoutTheCSRFField", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		base := e.instance()
		inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "lc.sans.jeton@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
		if err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t, base)
		link := "/creation/" + inv.Token
		tb.open(link)
		tb.fill("#lastName", "Jeton")
		tb.fill("#firstName", "Sans")
		tb.fill("#password", password)
		tb.fill("#passwordConfirmation", password)
		eval[bool](tb, `document.querySelector('input[name=csrf]').remove() === undefined`)
		tb.click("Valider", link)
		wantText(t, tb, "h1", "Erreur")
		wantText(t, tb, "main .fr-text--lead", "Le formulaire a expiré : veuillez le soumettre à nouveau.")
		if st := lcState(t, e, inv.Person.RequestID); st != directory.StateInvited {
			t.Errorf("the account changed: %s", st)
		}

		admin := e.person("Cyrille", "Jeton", directory.RoleAdministrateur, "")
		tb.signInDirect(e, admin)
		tb.open("/gestion/services")
		tb.fill("#name", "Sans jeton")
		eval[bool](tb, `document.querySelector('form[action="/gestion/services"] input[name=csrf]').remove() === undefined`)
		tb.click("Créer le service", "/gestion/services")
		wantText(t, tb, "h1", "Erreur")
		if _, err := e.store.FindService(ctx, siret, "Sans jeton"); err == nil {
			t.Errorf("a form without its CSRF field created a service")
		}
	})

	// password-gauge.js computes the same score as directory.PasswordStrength.
	t.Run("GaugeAgreesWithGo", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "lc.jauge@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
		if err != nil {
			t.Fatal(err)
		}
		tb := b.tab(t, e.instance())
		tb.open("/creation/" + inv.Token)
		table := lcGaugeTable()
		raw, err := json.Marshal(table)
		if err != nil {
			t.Fatal(err)
		}
		scores := eval[[]int](tb, `JSON.parse(`+jsString(string(raw))+`).map((p) => window.apexPasswordStrength(p))`)
		if len(scores) != len(table) {
			t.Fatalf("%d scores for %d passwords", len(scores), len(table))
		}
		disagree := 0
		for i, p := range table {
			if want := directory.PasswordStrength(p); scores[i] != want {
				disagree++
				t.Errorf("PasswordStrength(%q): Go %d, JavaScript %d", p, want, scores[i])
			}
		}
		t.Logf("%d passwords scored alike by Go and JavaScript", len(table)-disagree)

		// The page itself: the gauge follows what is typed, and empties with the field.
		const strong = "k7#Qm2xV!pR9wL4$"
		typeInto(tb, "#password", strong)
		if g := lcReadGauge(tb); g.Score != "4" || g.Text != "Robustesse du mot de passe : très forte" || g.Rules["length"] != "valid" {
			t.Errorf("the gauge of %q: %+v", strong, g)
		}
		tb.press(strings.Repeat(kb.Backspace, len(strong)))
		if g := lcReadGauge(tb); g.Score != "" || g.Rules["length"] != "info" {
			t.Errorf("the gauge of an empty field: %+v", g)
		}
	})
}

// lcGaugeTable is the passwords the gauge is checked on: the examples of
// the password rules and their edges, then random ones mixing every class
// of character the rules tell apart.
func lcGaugeTable() []string {
	table := []string{
		"", "a", "password", "azerty123", "Ab1!", "cheval correct agrafe batterie", "MonChatNoir2024Zx",
		"Azerty12345!", "Aaaaaaaaa11!", "P@ssw0rd1234!", "k7#Qm2xV!pR9", "k7#Qm2xV!pR9wL4$", "k7#Qm2xV!pR9wL4$zT8&",
		password, "abcdefghijkL12!", "zyxwvuT98!!!", "AZERTYuiop12!!", "Mot de passe 12!", "P4$$w0rd!!12", "MotDePasse12!!",
		"Dgfip2026!!Xy", "Impots-2026-Ab", "ApexApex12!!", "0123456789Aa!", "9876543210Zz?",
		"Ééééééééé12!", "İstanbul2024!!", "ΣΣΣσσσ12!abc", "日本語パスワード12!A", "Pässwörd-12-Ünï", "Straße12!Quiet",
		"ǅungla12!abcd", "١٢٣Abc!defgh", "😀Smile12!abcd", "Tab\tPass12!Xy", "Zero\u200bWidth12!", "Nbsp\u00a0Pass12!x",
		"Ke\u212Alvin12!abc", "Combin\u0301ing12!A", "ʰModifier12!A", "ɐɐɐɐAAAA1234!", "ı12İ34!!abcdEF",
		strings.Repeat("A", 20) + "b1!", "Aa1!Aa1!Aa1!Aa1!Aa1!", "AAbb11!!AAbb11!!AAbb",
	}
	pieces := []string{
		"A", "Z", "É", "Σ", "İ", "K", "a", "z", "é", "ß", "ı", "σ", "ς", "ǅ", "ʰ", "日", "0", "1", "2", "9",
		"!", "@", "$", "#", "-", "_", "€", "٣", "😀", "\u0301", " ", "\u00a0", "\u200b", "\t",
		"abc", "321", "xyz", "azerty", "qwerty", "p@ssw0rd", "motdepasse", "DGFIP", "imp0ts", "4p3x", "aaaa", "1111",
	}
	rng := rand.New(rand.NewPCG(2026, 4))
	for range 400 {
		var b strings.Builder
		for range rng.IntN(14) + 1 {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		table = append(table, b.String())
	}
	return table
}
