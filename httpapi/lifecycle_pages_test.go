package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// The pages of the account lifecycle over plain HTTP (no browser): the
// error cases, the permissions and the forms without their CSRF field. The
// journeys of the guide are in lifecycle_browser_test.go.

// lcManagedSample is a collaborateur of the fixture's structure,
// habilitated to its application, which its administrators manage.
func lcManagedSample(f *a11yFixture) *directory.Person {
	p := f.e.person("Alix", "Gérée", directory.RoleCollaborateur, "Comptabilité")
	if err := f.e.store.AddHabilitation(ctx, p.Identifier, f.app, "consultation"); err != nil {
		f.e.t.Fatal(err)
	}
	return p
}

// lcSubmittedRequest is a collaborateur's request of the test structure,
// its form filled, waiting for validation.
func lcSubmittedRequest(e *env, first, last string) *directory.Person {
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: uniqueEmail("demande"), Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité"})
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := directory.Accounts{Store: e.store}.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: first, LastName: last, Service: "Comptabilité", Password: password})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func lcState(t *testing.T, e *env, requestID string) directory.AccountState {
	t.Helper()
	p, err := e.store.FindPersonByRequest(ctx, requestID)
	if err != nil {
		t.Fatal(err)
	}
	return p.State
}

// The pre-creation form of guide 1.3 without a browser: what the link
// shows, every problem listed at once, the summary, the confirmation, and
// the links that no longer work.
func TestCreationPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newFormClient(t, e.instance())
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "paul.pages@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
	if err != nil {
		t.Fatal(err)
	}
	link := "/creation/" + inv.Token
	id := inv.Person.RequestID

	// Opening the link (twice: mail scanners open links) changes nothing.
	for range 2 {
		p := c.get(link)
		p.want(t, "the form", http.StatusOK, "paul.pages@example.fr", "Administrateur", "Étude Martin & Associés",
			"Il est fortement recommandé de fournir un numéro de téléphone portable afin de faciliter la procédure de réinitialisation de mot de passe. Il ne sera pas utilisé à d'autres fins.",
			"12 à 20 caractères", "différent des 10 derniers mots de passe utilisés", `/js/password-gauge.js" defer></script>`,
			`name="passwordConfirmation"`, `value="valider">Valider</button>`)
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("the form may be stored: Cache-Control %q", p.Header.Get("Cache-Control"))
		}
		if p.has(`id="service"`) {
			t.Errorf("an administrator's form asks for a service")
		}
	}
	if st := lcState(t, e, id); st != directory.StateInvited {
		t.Fatalf("after GETs the account is %s", st)
	}

	// Without its CSRF field, the form is refused and changes nothing.
	good := url.Values{"lastName": {"Pages"}, "firstName": {"Paul"}, "mobile": {"06 12 34 56 78"}, "password": {password}, "passwordConfirmation": {password}, "action": {"envoyer"}}
	c.do(http.MethodPost, link, good).want(t, "without CSRF", http.StatusForbidden, "Le formulaire a expiré")
	if st := lcState(t, e, id); st != directory.StateInvited {
		t.Fatalf("a form without CSRF changed the account: %s", st)
	}

	// Every problem at once, each beside its field; the values are kept, never the password.
	const weak = "faible12"
	p := c.post(link, url.Values{"lastName": {""}, "firstName": {"Paul"}, "mobile": {"12"}, "password": {weak}, "passwordConfirmation": {"autre"}, "action": {"valider"}})
	p.want(t, "a bad form", http.StatusUnprocessableEntity,
		"<title>Erreur : ", "Le formulaire contient 6 erreurs",
		"Le nom doit être renseigné.", "Ce numéro est trop court.",
		"Le mot de passe doit contenir au moins 12 caractères.", "Le mot de passe doit contenir au moins une lettre majuscule.",
		"Le mot de passe doit contenir au moins 1 caractère spécial.", "La confirmation ne correspond pas au mot de passe saisi.",
		`aria-describedby="lastName-error"`, `<div id="lastName-error"><p class="fr-error-text">`, `fr-input-group fr-input-group--error`,
		`aria-describedby="password-error password-gauge" aria-invalid="true"`, `href="#passwordConfirmation"`, `value="Paul"`, `value="12"`)
	if p.has(weak) {
		t.Errorf("the form sent back the password")
	}
	if n := strings.Count(p.Body, `class="fr-error-text"`); n != 6 {
		t.Errorf("%d field errors, want 6", n)
	}

	// The confirmation is checked by the server too.
	p = c.post(link, url.Values{"lastName": {"Pages"}, "firstName": {"Paul"}, "password": {password}, "action": {"valider"}})
	p.want(t, "no confirmation", http.StatusUnprocessableEntity, "La confirmation du mot de passe doit être renseignée.")

	// « Valider »: the summary, never stored, with « Envoyer votre création de compte » and « Modifier ».
	good.Set("action", "valider")
	p = c.post(link, good)
	p.want(t, "the summary", http.StatusOK, "Récapitulatif de votre demande", "Pages", "Paul", "06 12 34 56 78",
		">Envoyer votre création de compte</button>", ">Modifier</button>", `type="hidden" name="password"`)
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the summary may be stored: Cache-Control %q", p.Header.Get("Cache-Control"))
	}
	if st := lcState(t, e, id); st != directory.StateInvited {
		t.Fatalf("the summary changed the account: %s", st)
	}

	// « Modifier »: back to the form with the values, not the password.
	good.Set("action", "modifier")
	p = c.post(link, good)
	p.want(t, "Modifier", http.StatusOK, `value="Pages"`, `value="Paul"`, `value="06 12 34 56 78"`)
	if p.has(password) {
		t.Errorf("« Modifier » sent back the password")
	}

	// A summary whose confirmation was changed is refused, and changes nothing.
	tampered := url.Values{}
	for k, v := range good {
		tampered[k] = v
	}
	tampered.Set("action", "envoyer")
	tampered.Set("passwordConfirmation", "Autre-Chose-42!")
	c.post(link, tampered).want(t, "a tampered summary", http.StatusUnprocessableEntity, "La confirmation ne correspond pas au mot de passe saisi.")
	if st := lcState(t, e, id); st != directory.StateInvited {
		t.Fatalf("a tampered summary changed the account: %s", st)
	}

	// « Envoyer votre création de compte »: the request, then the confirmation.
	good.Set("action", "envoyer")
	c.post(link, good).redirect(t, "send", "/creation/envoyee?role=administrateur")
	c.get("/creation/envoyee?role=administrateur").want(t, "the confirmation", http.StatusOK,
		"À ce stade, la création de votre compte n'est pas effective. Elle doit être validée par un agent DGFiP, qui peut accepter ou refuser votre demande.")
	got, err := e.store.FindPersonByRequest(ctx, id)
	if err != nil || got.State != directory.StateSubmitted || got.LastName != "Pages" || got.Mobile != "+33612345678" {
		t.Fatalf("the request: %+v %v", got, err)
	}

	// The link works once; a forged one never; an expired one says so.
	c.get(link).want(t, "the link used twice", http.StatusNotFound, "Lien invalide", "Ce lien n'est pas valide ou a déjà été utilisé.")
	c.post(link, good).want(t, "the form sent twice", http.StatusNotFound, "Ce lien n'est pas valide ou a déjà été utilisé.")
	c.get("/creation/"+id+"."+strings.Repeat("A", 43)).want(t, "a forged link", http.StatusNotFound, "Lien invalide")
	c.get("/creation/nimportequoi").want(t, "a malformed link", http.StatusNotFound, "Lien invalide")
	late, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "tard.pages@example.fr", Role: directory.RoleAdministrateur, SIRET: siret})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * 24 * time.Hour)
	c.get("/creation/"+late.Token).want(t, "an expired link", http.StatusGone, "Lien expiré", "Ce lien a expiré")
}

// The form of an administrator's invitation offers the structure's
// services, the invitation's chosen.
func TestCreationPageOfACollaborateur(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	c := newFormClient(t, e.instance())
	admin := e.person("Adam", "Invite", directory.RoleAdministrateur, "")
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "carla.service@example.fr", Role: directory.RoleCollaborateur, SIRET: siret, Service: "Paie", RequestedBy: admin.Identifier})
	if err != nil {
		t.Fatal(err)
	}
	link := "/creation/" + inv.Token
	c.get(link).want(t, "the form", http.StatusOK, `<option value="Comptabilité">Comptabilité</option>`, `<option value="Paie" selected>Paie</option>`)
	form := url.Values{"lastName": {"Service"}, "firstName": {"Carla"}, "password": {password}, "passwordConfirmation": {password}, "action": {"valider"}}
	c.post(link, form).want(t, "no service", http.StatusUnprocessableEntity, "Le service doit être renseigné.", `aria-describedby="service-error"`)
	form.Set("service", "Inexistant")
	c.post(link, form).want(t, "an unknown service", http.StatusUnprocessableEntity, "Ce service n'existe pas dans la structure.")
	form.Set("service", "Comptabilité")
	c.post(link, form).want(t, "another service", http.StatusOK, "<dt>Service</dt><dd>Comptabilité</dd>")
	form.Set("action", "envoyer")
	c.post(link, form).redirect(t, "send", "/creation/envoyee?role=collaborateur")
	if p, _ := e.store.FindPersonByRequest(ctx, inv.Person.RequestID); p.Service != "Comptabilité" || p.State != directory.StateSubmitted {
		t.Errorf("the request: %+v", p)
	}
}

// The form of a responsable's invitation shows the service without a
// choice, and a service posted all the same is refused: the request stays
// in the responsable's service.
func TestCreationPageOfAResponsablesInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Paie"}); err != nil {
		t.Fatal(err)
	}
	c := newFormClient(t, e.instance())
	resp := e.person("Rita", "Invite", directory.RoleResponsable, "Comptabilité")
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: uniqueEmail("colin.service"),
		Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité", RequestedBy: resp.Identifier})
	if err != nil {
		t.Fatal(err)
	}
	link := "/creation/" + inv.Token
	page := c.get(link)
	page.want(t, "the form", http.StatusOK, "<dt>Service</dt><dd>Comptabilité</dd>")
	if page.has(`<select class="fr-select" id="service"`) {
		t.Errorf("the form offers a choice of service:\n%s", mainText(page.Body))
	}
	form := url.Values{"lastName": {"Service"}, "firstName": {"Colin"}, "password": {password}, "passwordConfirmation": {password}, "action": {"valider"}}
	c.post(link, form).want(t, "the summary", http.StatusOK, "<dt>Service</dt><dd>Comptabilité</dd>")
	form.Set("service", "Paie") // a forged field: the page ignores it
	form.Set("action", "envoyer")
	c.post(link, form).redirect(t, "send", "/creation/envoyee?role=collaborateur")
	if p, _ := e.store.FindPersonByRequest(ctx, inv.Person.RequestID); p.Service != "Comptabilité" || p.State != directory.StateSubmitted {
		t.Errorf("the request: %+v", p)
	}
}

// What each role may not do in the back office: the 403 page, and nothing changes.
func TestManagementPagesPermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	const otherSIRET = "44306184100047"
	if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: otherSIRET, Name: "Autre structure", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	admin := e.person("Anne", "Admin", directory.RoleAdministrateur, "")
	responsable := e.person("Rémi", "Resp", directory.RoleResponsable, "Comptabilité")
	collab := e.person("Colette", "Collab", directory.RoleCollaborateur, "Comptabilité")
	other, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Odile", LastName: "Ailleurs", Email: "lc.odile@example.fr",
		Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: otherSIRET}, password)
	if err != nil {
		t.Fatal(err)
	}
	// A request waiting in the structure.
	pending, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: "lc.attente@example.fr", Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.Accounts{Store: e.store}).SubmitInvitation(ctx, pending.Token, directory.PreCreation{FirstName: "Anna", LastName: "Attente", Service: "Comptabilité", Password: password}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddHabilitation(ctx, admin.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}

	t.Run("Anonymous", func(t *testing.T) {
		c := newFormClient(t, base)
		for _, path := range []string{"/gestion/demandes", "/gestion/comptes", "/gestion/services", "/agent/structures"} {
			c.get(path).redirect(t, path, "/connexion")
		}
	})

	t.Run("Collaborateur", func(t *testing.T) {
		e := e.on(t)
		c := newFormClient(t, base).signIn(e, collab)
		for _, path := range []string{"/gestion/demandes", "/gestion/comptes", "/gestion/inviter", "/gestion/services",
			"/gestion/comptes/" + admin.Identifier, "/agent/structures", "/agent/structures/" + siret, "/agent/applications"} {
			c.get(path).want(t, path, http.StatusForbidden, "Vous n'avez pas le droit de faire cela.")
		}
		c.post("/gestion/demandes/valider", url.Values{"request": {pending.Person.RequestID}}).want(t, "approve", http.StatusForbidden)
		if st := lcState(t, e, pending.Person.RequestID); st != directory.StateSubmitted {
			t.Errorf("a collaborateur's approval changed the request: %s", st)
		}
	})

	t.Run("Responsable", func(t *testing.T) {
		e := e.on(t)
		c := newFormClient(t, base).signIn(e, responsable)
		c.get("/gestion/services").want(t, "services", http.StatusForbidden)
		c.get("/gestion/inviter").want(t, "the invite form", http.StatusOK, "Service : <strong>Comptabilité</strong>", `name="role" value="collaborateur"`)
		before := len(e.smtp.Messages())
		c.post("/gestion/inviter", url.Values{"email": {"chef@example.fr"}, "role": {"responsable"}}).want(t, "invite a responsable", http.StatusForbidden)
		if _, err := e.store.FindPersonByEmail(ctx, siret, "chef@example.fr"); err == nil || len(e.smtp.Messages()) != before {
			t.Errorf("a forbidden invitation created an account or sent a mail (%v)", err)
		}
		// A responsable manages the collaborateurs of its service, not the administrators.
		c.get("/gestion/comptes/"+collab.Identifier).want(t, "a collaborateur of its service", http.StatusOK, "Compte de Colette Collab")
		c.post("/gestion/comptes/"+admin.Identifier+"/desactiver", nil).want(t, "disable the administrator", http.StatusForbidden)
		c.get("/gestion/comptes/"+responsable.Identifier+"/suppression").want(t, "its own removal", http.StatusForbidden)
		// It hands out only the profiles it holds: it holds none.
		c.post("/gestion/comptes/"+collab.Identifier+"/habiliter", url.Values{"profile": {"ficoba/consultation"}}).want(t, "grant a profile not held", http.StatusForbidden)
		if p, _ := e.store.FindPerson(ctx, collab.Identifier); len(p.Habilitations) != 0 {
			t.Errorf("a forbidden grant habilitated: %+v", p.Habilitations)
		}
	})

	t.Run("AdministratorOfAnotherStructure", func(t *testing.T) {
		e := e.on(t)
		c := newFormClient(t, base).signIn(e, other)
		c.get("/gestion/comptes/"+collab.Identifier).want(t, "an account elsewhere", http.StatusForbidden)
		c.post("/gestion/comptes/"+collab.Identifier+"/desactiver", nil).want(t, "disable", http.StatusForbidden)
		c.post("/gestion/comptes/"+collab.Identifier+"/suppression", nil).want(t, "remove", http.StatusForbidden)
		c.post("/gestion/demandes/refuser", url.Values{"request": {pending.Person.RequestID}, "reason": {"Non."}}).want(t, "refuse", http.StatusForbidden)
		if p, _ := e.store.FindPerson(ctx, collab.Identifier); p == nil || p.State != directory.StateActive {
			t.Errorf("the account changed: %+v", p)
		}
		if st := lcState(t, e, pending.Person.RequestID); st != directory.StateSubmitted {
			t.Errorf("the request changed: %s", st)
		}
		if got := c.get("/gestion/demandes"); got.has("Anna Attente") {
			t.Errorf("the requests of another structure are listed")
		}
	})

	t.Run("Administrator", func(t *testing.T) {
		e := e.on(t)
		c := newFormClient(t, base).signIn(e, admin)
		// Nobody removes their own account: the confirmation step is refused too.
		c.get("/gestion/comptes/"+admin.Identifier+"/suppression").want(t, "its own removal", http.StatusForbidden)
		// The form without its CSRF field changes nothing.
		c.do(http.MethodPost, "/gestion/services", url.Values{"name": {"Sans jeton"}}).want(t, "without CSRF", http.StatusForbidden, "Le formulaire a expiré")
		c.do(http.MethodPost, "/gestion/demandes/valider", url.Values{"request": {pending.Person.RequestID}}).want(t, "approve without CSRF", http.StatusForbidden)
		if _, err := e.store.FindService(ctx, siret, "Sans jeton"); err == nil {
			t.Errorf("a form without CSRF created a service")
		}

		// Services: every problem is French and beside its form.
		c.post("/gestion/services", url.Values{"name": {""}}).want(t, "an empty name", http.StatusUnprocessableEntity,
			"Le nom du service doit être renseigné.", `aria-describedby="name-error"`)
		c.post("/gestion/services", url.Values{"name": {"Comptabilité"}}).want(t, "an existing name", http.StatusConflict,
			"Un service de ce nom existe déjà dans la structure.", `value="Comptabilité"`)
		c.post("/gestion/services/supprimer", url.Values{"service": {"Comptabilité"}}).want(t, "a service with accounts", http.StatusConflict,
			"Le service Comptabilité a encore des comptes : déplacez-les ou supprimez-les d'abord.")
		if _, err := e.store.FindService(ctx, siret, "Comptabilité"); err != nil {
			t.Errorf("the service with accounts is gone: %v", err)
		}
		c.post("/gestion/services", url.Values{"name": {"Paie"}}).redirect(t, "create", "/gestion/services")
		c.get("/gestion/services").want(t, "the notice", http.StatusOK, "Le service Paie est créé.")
		if c.get("/gestion/services").has("Le service Paie est créé.") {
			t.Errorf("the notice is shown twice")
		}
		c.post("/gestion/services/renommer", url.Values{"service": {"Paie"}, "name": {"Comptabilité"}}).want(t, "rename to an existing name", http.StatusConflict,
			"Un service de ce nom existe déjà dans la structure.", `aria-describedby="rename-1-error"`)
		c.post("/gestion/services/renommer", url.Values{"service": {"Paie"}, "name": {"Salaires"}}).redirect(t, "rename", "/gestion/services")
		c.post("/gestion/services/supprimer", url.Values{"service": {"Salaires"}}).redirect(t, "delete", "/gestion/services")
		if _, err := e.store.FindService(ctx, siret, "Salaires"); err == nil {
			t.Errorf("the service was not deleted")
		}

		// Invitations: a used mail, a missing service.
		c.post("/gestion/inviter", url.Values{"email": {collab.Email}, "role": {"collaborateur"}, "service": {"Comptabilité"}}).want(t, "a used mail",
			http.StatusConflict, "Cette adresse mail est déjà utilisée dans cette structure.", `aria-describedby="email-error email-hint"`)
		c.post("/gestion/inviter", url.Values{"email": {"x@example.fr"}, "role": {"collaborateur"}}).want(t, "no service",
			http.StatusUnprocessableEntity, "Le service doit être renseigné.")
		c.post("/gestion/inviter", url.Values{"email": {"x@example.fr"}, "role": {"administrateur"}}).want(t, "an administrator", http.StatusForbidden)
		c.post("/gestion/inviter", url.Values{"email": {"lc.nouveau@example.fr"}, "role": {"responsable"}, "service": {"Comptabilité"}}).redirect(t, "invite", "/gestion/comptes")
		e.link("lc.nouveau@example.fr")
		invited, err := e.store.FindPersonByEmail(ctx, siret, "lc.nouveau@example.fr")
		if err != nil || invited.State != directory.StateInvited || invited.Role != directory.RoleResponsable {
			t.Fatalf("the invitation: %+v %v", invited, err)
		}

		// The accounts: a new link for the invited one, the pending request,
		// the account page.
		p := c.get("/gestion/comptes")
		p.want(t, "the accounts", http.StatusOK, "Invité : formulaire non rempli", "En attente de validation", "Colette Collab", "Rémi Resp",
			`href="/gestion/comptes/`+collab.Identifier+`"`, "Renvoyer le lien")
		c.post("/gestion/invitations/renvoyer", url.Values{"request": {invited.RequestID}}).redirect(t, "resend", "/gestion/comptes")
		e.smtp.WaitFor(t, func(smtptest.Captured) bool { return e.mailsTo("lc.nouveau@example.fr") >= 2 }, 10*time.Second) // the second link
		c.post("/gestion/invitations/renvoyer", url.Values{"request": {pending.Person.RequestID}}).want(t, "resend a filled form",
			http.StatusConflict, "Le formulaire de pré-création a déjà été rempli")

		// A refusal needs its reason.
		c.post("/gestion/demandes/refuser", url.Values{"request": {pending.Person.RequestID}, "reason": {"  "}}).want(t, "no reason",
			http.StatusUnprocessableEntity, "Le motif du refus doit être renseigné.", `aria-describedby="motif-`+pending.Person.RequestID+`-error`)
		if st := lcState(t, e, pending.Person.RequestID); st != directory.StateSubmitted {
			t.Errorf("a refusal without reason changed the request: %s", st)
		}

		// An account: only the profiles the administrator holds are offered.
		p = c.get("/gestion/comptes/" + collab.Identifier)
		p.want(t, "the account", http.StatusOK, `<option value="ficoba/consultation">FICOBA — profil consultation</option>`,
			"Votre structure n'a pas d'autre service où déplacer ce compte.")
		if p.has("ficoba/gestion") {
			t.Errorf("a profile the administrator does not hold is offered")
		}
		c.post("/gestion/comptes/"+collab.Identifier+"/habiliter", url.Values{"profile": {"ficoba/gestion"}}).want(t, "grant a profile not held", http.StatusForbidden)
		c.post("/gestion/comptes/"+collab.Identifier+"/habiliter", url.Values{"profile": {""}}).want(t, "no profile", http.StatusUnprocessableEntity, "Choisissez le profil à attribuer.")
		c.post("/gestion/comptes/"+collab.Identifier+"/habiliter", url.Values{"profile": {"ficoba/consultation"}}).redirect(t, "grant", "/gestion/comptes/"+collab.Identifier)
		c.get("/gestion/comptes/"+collab.Identifier).want(t, "granted", http.StatusOK, "Le profil consultation de l'application FICOBA est attribué", "FICOBA — profil consultation")
		e.lastMail(collab.Email, "FICOBA")
		c.post("/gestion/comptes/"+collab.Identifier+"/retirer", url.Values{"application": {"ficoba"}, "profile": {"consultation"}}).redirect(t, "revoke", "/gestion/comptes/"+collab.Identifier)
		if got, _ := e.store.FindPerson(ctx, collab.Identifier); len(got.Habilitations) != 0 {
			t.Errorf("the profile was not withdrawn: %+v", got.Habilitations)
		}

		// Disable, enable, move, remove after its confirmation step.
		c.post("/gestion/comptes/"+collab.Identifier+"/desactiver", nil).redirect(t, "disable", "/gestion/comptes/"+collab.Identifier)
		c.get("/gestion/comptes/"+collab.Identifier).want(t, "disabled", http.StatusOK, "est désactivé", "Réactiver le compte")
		if got, _ := e.store.FindPerson(ctx, collab.Identifier); got.State != directory.StateDisabled {
			t.Errorf("state after disabling: %s", got.State)
		}
		c.post("/gestion/comptes/"+collab.Identifier+"/reactiver", nil).redirect(t, "enable", "/gestion/comptes/"+collab.Identifier)
		if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Juridique"}); err != nil {
			t.Fatal(err)
		}
		c.post("/gestion/comptes/"+collab.Identifier+"/deplacer", url.Values{"service": {"Nulle part"}}).want(t, "move nowhere",
			http.StatusUnprocessableEntity, "Ce service n'existe pas dans la structure.")
		c.post("/gestion/comptes/"+collab.Identifier+"/deplacer", url.Values{"service": {"Juridique"}}).redirect(t, "move", "/gestion/comptes/"+collab.Identifier)
		c.get("/gestion/comptes/"+collab.Identifier+"/suppression").want(t, "the confirmation step", http.StatusOK,
			"Cette suppression est définitive", "Supprimer définitivement", "Annuler")
		if _, err := e.store.FindPerson(ctx, collab.Identifier); err != nil {
			t.Fatalf("the confirmation step removed the account: %v", err)
		}
		c.post("/gestion/comptes/"+collab.Identifier+"/suppression", nil).redirect(t, "remove", "/gestion/comptes")
		c.get("/gestion/comptes").want(t, "removed", http.StatusOK, "Le compte de Colette Collab ("+collab.Identifier+") est supprimé")
		if _, err := e.store.FindPerson(ctx, collab.Identifier); err == nil {
			t.Errorf("the account was not removed")
		}
		c.get("/gestion/comptes/"+collab.Identifier).want(t, "a removed account", http.StatusNotFound)
	})

	t.Run("Agent", func(t *testing.T) {
		e := e.on(t)
		agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agathe", LastName: "Permis", Email: "agathe@dgfip.example.fr",
			Role: directory.RoleAgent, State: directory.StateActive}, password)
		if err != nil {
			t.Fatal(err)
		}
		c := newFormClient(t, base).signIn(e, agent)
		c.get("/gestion/inviter").redirect(t, "the invite form of an agent", "/agent/structures")
		c.get("/gestion/services").want(t, "services", http.StatusForbidden)
		c.post("/agent/structures", url.Values{"siret": {"12345678901234"}, "name": {"X"}, "category": {"Y"}}).want(t, "a bad SIRET",
			http.StatusUnprocessableEntity, "Le SIRET n'est pas valide (clé de contrôle incorrecte).", `aria-describedby="siret-error siret-hint"`, `value="12345678901234"`)
		c.post("/agent/structures", url.Values{"siret": {"123"}, "name": {""}, "category": {""}}).want(t, "every problem",
			http.StatusUnprocessableEntity, "Le SIRET doit comporter 14 chiffres.", "Le nom de la structure doit être renseigné.", "La catégorie doit être renseigné")
		c.post("/agent/structures", url.Values{"siret": {siret}, "name": {"X"}, "category": {"Y"}}).want(t, "an existing SIRET",
			http.StatusConflict, "Une structure de ce SIRET existe déjà.")
		c.get("/agent/structures/12345678901234").want(t, "an unknown structure", http.StatusNotFound)
		c.post("/agent/structures/"+siret, url.Values{"email": {"pas-une-adresse"}}).want(t, "a bad mail",
			http.StatusUnprocessableEntity, "L'adresse mail n'est pas valide.")
		c.post("/agent/applications", url.Values{"id": {"Mauvais Id"}, "name": {""}, "profiles": {" , "}}).want(t, "a bad application",
			http.StatusUnprocessableEntity, "Indiquez au moins un profil.")
		c.post("/agent/applications", url.Values{"id": {"Mauvais Id"}, "name": {""}, "profiles": {"consultation, Gestion"}}).want(t, "a bad application",
			http.StatusUnprocessableEntity, "L'identifiant de l'application ne doit contenir", "Le nom de l'application doit être renseigné.", "Le profil « Gestion »")
		c.post("/agent/applications", url.Values{"id": {"ficoba"}, "name": {"FICOBA"}, "profiles": {"x"}}).want(t, "an existing application",
			http.StatusConflict, "Une application de cet identifiant existe déjà.")
		// An administrator's link, and a new one from the structure's page.
		c.post("/agent/structures/"+siret, url.Values{"email": {"nouvel.admin@example.fr"}}).redirect(t, "invite an administrator", "/agent/structures/"+siret)
		e.link("nouvel.admin@example.fr")
		invitedAdmin, err := e.store.FindPersonByEmail(ctx, siret, "nouvel.admin@example.fr")
		if err != nil {
			t.Fatal(err)
		}
		c.post("/gestion/invitations/renvoyer", url.Values{"request": {invitedAdmin.RequestID}, "retour": {"/agent/structures/" + siret}}).redirect(t, "resend from the structure", "/agent/structures/"+siret)
		c.post("/gestion/invitations/renvoyer", url.Values{"request": {invitedAdmin.RequestID}, "retour": {"//evil.example/"}}).redirect(t, "resend to elsewhere", "/gestion/comptes")
		// Agents decide the administrators' requests, not the others'.
		c.post("/gestion/demandes/valider", url.Values{"request": {pending.Person.RequestID}}).want(t, "approve a collaborateur", http.StatusForbidden)
		if st := lcState(t, e, pending.Person.RequestID); st != directory.StateSubmitted {
			t.Errorf("the request changed: %s", st)
		}
		p := c.get("/gestion/comptes")
		p.want(t, "administrators", http.StatusOK, "Comptes administrateurs", "Anne Admin", "Odile Ailleurs", "Autre structure")
		if p.has("Rémi Resp") {
			t.Errorf("an agent's accounts list a responsable")
		}
		// Any profile for an administrator.
		c.get("/gestion/comptes/"+admin.Identifier).want(t, "an administrator's account", http.StatusOK, `<option value="ficoba/gestion">`)
	})
}
