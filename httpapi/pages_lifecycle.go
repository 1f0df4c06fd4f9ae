package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // dates are shown in Paris time, whatever the host's zone

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The pages of the account lifecycle (guide 1.1 to 1.3 and 2): the public
// pre-creation form the invitation mail links to, and the back office of
// the people who manage accounts (agents, administrators, responsables).
// They make the same domain calls as the API (api_lifecycle.go); every
// permission is the domain's, so a forbidden action is the 403 error page
// and changes nothing.

func init() {
	homeLinks["Gestion des comptes responsables et collaborateurs"] = "/gestion/comptes"
	homeLinks["Gestion des comptes collaborateurs"] = "/gestion/comptes"
	homeLinks["Gestion des services"] = "/gestion/services"
	homeLinks["Création des structures"] = "/agent/structures"
	homeLinks["Validation des comptes administrateurs"] = "/gestion/demandes"
	homeLinks["Habilitation des administrateurs aux applications"] = "/gestion/comptes"

	templateFuncs["stateLabel"] = stateLabel
	templateFuncs["stateBadge"] = stateBadge
	templateFuncs["personName"] = personName
	templateFuncs["parisTime"] = parisTime
}

// registerLifecyclePages adds the pages of the account lifecycle (guide 1.1
// to 1.3 and 2): pre-creation form, requests, services, accounts, habilitations.
func (s *Server) registerLifecyclePages(g, signedIn *gin.RouterGroup) {
	g.GET("/creation/envoyee", s.page(s.handleCreationSent))
	g.GET("/creation/:token", s.page(s.handleCreationPage))
	g.POST("/creation/:token", s.checkCSRF, s.page(s.handleCreationForm))

	signedIn.GET("/gestion/demandes", s.page(s.handleRequestsPage))
	signedIn.POST("/gestion/demandes/valider", s.checkCSRF, s.page(s.handleApproveForm))
	signedIn.POST("/gestion/demandes/refuser", s.checkCSRF, s.page(s.handleRefuseForm))
	signedIn.POST("/gestion/invitations/renvoyer", s.checkCSRF, s.page(s.handleResendInvitationForm))

	signedIn.GET("/gestion/comptes", s.page(s.handleAccountsPage))
	signedIn.GET("/gestion/comptes/:identifier", s.page(s.handleAccountPage))
	signedIn.POST("/gestion/comptes/:identifier/desactiver", s.checkCSRF, s.page(s.handleEnableForm(false)))
	signedIn.POST("/gestion/comptes/:identifier/reactiver", s.checkCSRF, s.page(s.handleEnableForm(true)))
	signedIn.POST("/gestion/comptes/:identifier/deplacer", s.checkCSRF, s.page(s.handleMoveForm))
	signedIn.POST("/gestion/comptes/:identifier/habiliter", s.checkCSRF, s.page(s.handleGrantForm))
	signedIn.POST("/gestion/comptes/:identifier/retirer", s.checkCSRF, s.page(s.handleRevokeForm))
	signedIn.GET("/gestion/comptes/:identifier/suppression", s.page(s.handleRemovePage))
	signedIn.POST("/gestion/comptes/:identifier/suppression", s.checkCSRF, s.page(s.handleRemoveForm))

	signedIn.GET("/gestion/inviter", s.page(s.handleInvitePage))
	signedIn.POST("/gestion/inviter", s.checkCSRF, s.page(s.handleInviteForm))

	signedIn.GET("/gestion/services", s.page(s.handleServicesPage))
	signedIn.POST("/gestion/services", s.checkCSRF, s.page(s.handleCreateServiceForm))
	signedIn.POST("/gestion/services/renommer", s.checkCSRF, s.page(s.handleRenameServiceForm))
	signedIn.POST("/gestion/services/supprimer", s.checkCSRF, s.page(s.handleDeleteServiceForm))

	signedIn.GET("/agent/structures", s.page(s.handleStructuresPage))
	signedIn.POST("/agent/structures", s.checkCSRF, s.page(s.handleCreateStructureForm))
	signedIn.GET("/agent/structures/:siret", s.page(s.handleStructurePage))
	signedIn.POST("/agent/structures/:siret", s.checkCSRF, s.page(s.handleInviteAdministratorForm))
	signedIn.GET("/agent/applications", s.page(s.handleApplicationsPage))
	signedIn.POST("/agent/applications", s.checkCSRF, s.page(s.handleCreateApplicationForm))
}

// ---------------------------------------------------------------------------
// Shared by the pages: field errors, flash notices, labels.

// fieldErrors are the problems of a form, by the field they belong to.
type fieldErrors map[string][]string

func (f fieldErrors) add(field, message string) { f[field] = append(f[field], message) }

// formFailure is a form sent back to its page: the problems of its fields,
// a notice for the rest, and the status of the answer.
type formFailure struct {
	status int
	errors fieldErrors
	notice *notice
}

// sortFormError sorts a domain error of a form: the problems of the fields the
// form has go beside them, the others into the notice; a conflict goes to
// conflictField when the form names one (a mail already used). Anything
// else — forbidden, not found, unavailable, internal — is returned, to
// become the error page.
func sortFormError(err error, conflictField string, fields ...string) (*formFailure, error) {
	kind, details := classify(err)
	f := &formFailure{status: kind.status, errors: fieldErrors{}}
	switch {
	case errors.Is(err, directory.ErrInvalid) || errors.Is(err, directory.ErrPasswordPolicy) || errors.Is(err, directory.ErrPasswordInHistory):
		var other []string
		for _, d := range details {
			if slices.Contains(fields, d.Field) {
				f.errors.add(d.Field, d.Message)
			} else {
				other = append(other, d.Message)
			}
		}
		if len(details) == 0 {
			if slices.Contains(fields, "password") && !errors.Is(err, directory.ErrInvalid) {
				f.errors.add("password", kind.message)
			} else {
				other = append(other, kind.message)
			}
		}
		if len(other) > 0 {
			f.notice = &notice{Kind: "error", Title: "Erreur", Message: strings.Join(other, " ")}
		}
	case kind.status == http.StatusConflict:
		if conflictField != "" {
			f.errors.add(conflictField, kind.message)
		} else {
			f.notice = &notice{Kind: "error", Title: "Erreur", Message: kind.message}
		}
	default:
		return nil, err
	}
	if f.notice == nil && len(f.errors) > 0 {
		f.notice = &notice{Kind: "error", Title: "Erreur", Message: "Le formulaire contient des erreurs : corrigez les champs signalés."}
	}
	return f, nil
}

// invalidField is a problem of one field found by the page itself.
func invalidField(field, message string) error {
	return &directory.InvalidError{Problems: []directory.Problem{{Field: field, Message: message}}}
}

// The flash is the notice of a form that succeeded, carried over its
// redirect (post, redirect, get) in a cookie that lives a minute.
const flashCookie = "apex_flash"

func (s *Server) flash(c *gin.Context, title, message string) {
	raw, _ := json.Marshal(notice{Kind: "success", Title: title, Message: message})
	s.setCookie(c, flashCookie, base64.RawURLEncoding.EncodeToString(raw), "/", 60, http.SameSiteStrictMode)
}

// takeFlash reads the notice left by the last form, once.
func (s *Server) takeFlash(c *gin.Context) *notice {
	v, err := s.cookie(c, flashCookie)
	if err != nil || v == "" {
		return nil
	}
	s.setCookie(c, flashCookie, "", "/", -1, http.SameSiteStrictMode)
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var n notice
	if json.Unmarshal(raw, &n) != nil || n.Message == "" {
		return nil
	}
	n.Kind = "success" // a flash only ever tells a success
	return &n
}

// redirectWith ends a form that succeeded: its notice, then the page to see.
func (s *Server) redirectWith(c *gin.Context, to, title, message string) error {
	s.flash(c, title, message)
	c.Redirect(http.StatusSeeOther, to)
	return nil
}

func stateLabel(state string) string {
	switch directory.AccountState(state) {
	case directory.StateInvited:
		return "Invité : formulaire non rempli"
	case directory.StateSubmitted:
		return "En attente de validation"
	case directory.StateActive:
		return "Actif"
	case directory.StateRefused:
		return "Refusé"
	case directory.StateDisabled:
		return "Désactivé"
	}
	return state
}

// stateBadge is the DSFR badge type of a state.
func stateBadge(state string) string {
	switch directory.AccountState(state) {
	case directory.StateActive:
		return "success"
	case directory.StateSubmitted:
		return "new"
	case directory.StateInvited:
		return "info"
	case directory.StateRefused:
		return "error"
	}
	return "warning"
}

// personName is an account's name, or its mail while it has none (invited).
func personName(p personView) string {
	name := strings.TrimSpace(p.FirstName + " " + p.LastName)
	if p.FirstName == "" || name == "-" {
		return p.Email
	}
	return name
}

var parisZone = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return loc
}()

// parisTime writes a date as French pages do: « 04/12/2026 à 15:04 ».
func parisTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(parisZone).Format("02/01/2006 à 15:04")
}

// ---------------------------------------------------------------------------
// The pre-creation form (guide 1.3): form, summary, confirmation.

// creationForm is what the person types; the password is never sent back
// in a form, only in the summary's hidden fields.
type creationForm struct {
	LastName  string
	FirstName string
	Mobile    string
	Service   string
}

// creationPage is the pre-creation form. Its rules come from passwordRules
// and noStore keeps its pages out of caches (both in pages_selfservice.go,
// shared with the password pages).
type creationPage struct {
	base
	Token      string
	Invitation invitationView
	Form       creationForm
	Rules      []passwordRule
	Errors     fieldErrors
	Problems   []errorDetail // every problem, for the list at the top
	Notice     *notice
}

// creationSummary is the summary (« Le récapitulatif apparaît »).
type creationSummary struct {
	base
	Token        string
	Invitation   invitationView
	Form         creationForm
	Password     string // re-posted in a hidden field: the page is never stored
	Confirmation string
}

type creationLinkPage struct {
	base
	Status  int
	Expired bool
	Message string
}

type creationSentPage struct {
	base
	Role string
}

// creationFields are the fields of the form, in their order on the page.
var creationFields = []string{"lastName", "firstName", "mobile", "service", "password", "passwordConfirmation"}

// invitation finds the invited account of the link and what its form
// shows; an invalid, used or expired link renders its page and returns ok false.
func (s *Server) invitation(c *gin.Context) (invitationView, bool, error) {
	form, err := s.accounts().Invitation(c.Request.Context(), c.Param("token"))
	if err != nil {
		if errors.Is(err, directory.ErrInvalidToken) || errors.Is(err, directory.ErrTokenExpired) {
			kind, _ := classify(err)
			title := "Lien invalide"
			expired := errors.Is(err, directory.ErrTokenExpired)
			if expired {
				title = "Lien expiré"
			}
			noStore(c)
			s.render(c, kind.status, "creation_lien.tmpl", creationLinkPage{base: s.base(c, title), Status: kind.status, Expired: expired, Message: kind.message})
			return invitationView{}, false, nil
		}
		return invitationView{}, false, err
	}
	return newInvitationView(form), true, nil
}

func (s *Server) creationPage(c *gin.Context, inv invitationView, form creationForm, title string) creationPage {
	return creationPage{base: s.base(c, title), Token: c.Param("token"), Invitation: inv, Form: form, Rules: passwordRules(), Errors: fieldErrors{}}
}

// A GET changes nothing: mail scanners open links.
func (s *Server) handleCreationPage(c *gin.Context) error {
	inv, ok, err := s.invitation(c)
	if !ok {
		return err
	}
	noStore(c)
	s.render(c, http.StatusOK, "creation_form.tmpl", s.creationPage(c, inv, creationForm{Service: inv.Service}, "Création de votre compte"))
	return nil
}

// handleCreationForm serves the three buttons of the journey: « Valider »
// (the form, to the summary), « Modifier » (the summary, back to the form)
// and « Envoyer votre création de compte » (the summary, to the request).
func (s *Server) handleCreationForm(c *gin.Context) error {
	inv, ok, err := s.invitation(c)
	if !ok {
		return err
	}
	form := creationForm{
		LastName:  strings.TrimSpace(c.PostForm("lastName")),
		FirstName: strings.TrimSpace(c.PostForm("firstName")),
		Mobile:    strings.TrimSpace(c.PostForm("mobile")),
	}
	if directory.Role(inv.Role).InService() {
		form.Service = strings.TrimSpace(c.PostForm("service"))
	}
	password, confirmation := c.PostForm("password"), c.PostForm("passwordConfirmation")
	pre := directory.PreCreation{FirstName: form.FirstName, LastName: form.LastName, Mobile: form.Mobile, Service: form.Service, Password: password}
	ctx := c.Request.Context()
	noStore(c)

	var problems []directory.Problem
	switch c.PostForm("action") {
	case "modifier":
		s.render(c, http.StatusOK, "creation_form.tmpl", s.creationPage(c, inv, form, "Création de votre compte"))
		return nil
	case "envoyer":
		problems = confirmationProblems(password, confirmation)
		if len(problems) == 0 {
			_, err := s.accounts().SubmitInvitation(ctx, c.Param("token"), pre)
			if err == nil {
				c.Redirect(http.StatusSeeOther, "/creation/envoyee?role="+inv.Role)
				return nil
			}
			if errors.Is(err, directory.ErrInvalidToken) || errors.Is(err, directory.ErrTokenExpired) {
				_, _, err := s.invitation(c) // renders the page of the link
				return err
			}
			var ie *directory.InvalidError
			switch {
			case errors.As(err, &ie):
				problems = ie.Problems
			case errors.Is(err, directory.ErrPasswordPolicy) || errors.Is(err, directory.ErrPasswordInHistory):
				// refused by slapd's own policy, after the service's checks
				kind, _ := classify(err)
				problems = []directory.Problem{{Field: "password", Message: kind.message}}
			default:
				return err
			}
		}
	default: // « Valider »
		if err := s.accounts().CheckInvitation(ctx, c.Param("token"), pre); err != nil {
			var ie *directory.InvalidError
			if !errors.As(err, &ie) {
				return err
			}
			problems = ie.Problems
		}
		problems = append(problems, confirmationProblems(password, confirmation)...)
		if len(problems) == 0 {
			s.render(c, http.StatusOK, "creation_recapitulatif.tmpl", creationSummary{
				base: s.base(c, "Récapitulatif de votre demande"), Token: c.Param("token"), Invitation: inv,
				Form: form, Password: password, Confirmation: confirmation,
			})
			return nil
		}
	}
	page := s.creationPage(c, inv, form, "Erreur : Création de votre compte")
	// In the order of the fields on the page, so the list at the top reads as the form does.
	for _, field := range creationFields {
		for _, p := range problems {
			if p.Field == field {
				page.Errors.add(p.Field, p.Message)
				page.Problems = append(page.Problems, errorDetail{Field: p.Field, Message: p.Message})
			}
		}
	}
	for _, p := range problems {
		if !slices.Contains(creationFields, p.Field) {
			page.Problems = append(page.Problems, errorDetail{Message: p.Message})
		}
	}
	s.render(c, http.StatusUnprocessableEntity, "creation_form.tmpl", page)
	return nil
}

// confirmationProblems checks the confirmation of the password, which the
// browser cannot be trusted to have done.
func confirmationProblems(password, confirmation string) []directory.Problem {
	switch {
	case confirmation == "":
		return []directory.Problem{{Field: "passwordConfirmation", Message: "La confirmation du mot de passe doit être renseignée."}}
	case confirmation != password:
		return []directory.Problem{{Field: "passwordConfirmation", Message: "La confirmation ne correspond pas au mot de passe saisi."}}
	}
	return nil
}

// handleCreationSent is the confirmation (« À ce stade, la création de
// mon compte n'est pas effective »); it shows nothing of the account.
func (s *Server) handleCreationSent(c *gin.Context) error {
	role := c.Query("role")
	if !directory.Role(role).Valid() || role == string(directory.RoleAgent) {
		role = ""
	}
	s.render(c, http.StatusOK, "creation_envoyee.tmpl", creationSentPage{base: s.base(c, "Demande de création envoyée"), Role: role})
	return nil
}

// ---------------------------------------------------------------------------
// Requests to decide (guide 1.3, étape 6).

type requestsPage struct {
	base
	Notice     *notice
	Requests   []personView
	Structures map[string]string // SIRET → name, for agents
	Reasons    map[string]string // request id → the reason typed, after an error
	Errors     map[string][]string
}

func (s *Server) requestsPage(c *gin.Context) (*requestsPage, error) {
	actor := account(c)
	list, err := s.accounts().Requests(c.Request.Context(), actor)
	if err != nil {
		return nil, err
	}
	p := &requestsPage{base: s.base(c, "Demandes de création de compte"), Requests: personViews(list), Reasons: map[string]string{}, Errors: map[string][]string{}}
	if actor.Role == directory.RoleAgent {
		if p.Structures, err = s.structureNames(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (s *Server) structureNames(c *gin.Context) (map[string]string, error) {
	all, err := s.consultation().Structures(c.Request.Context(), account(c))
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(all))
	for _, st := range all {
		names[st.SIRET] = st.Name
	}
	return names, nil
}

func (s *Server) handleRequestsPage(c *gin.Context) error {
	p, err := s.requestsPage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "gestion_demandes.tmpl", p)
	return nil
}

func (s *Server) handleApproveForm(c *gin.Context) error {
	p, err := s.accounts().Approve(c.Request.Context(), account(c), c.PostForm("request"))
	if err != nil {
		return s.requestFailed(c, err, "", "")
	}
	return s.redirectWith(c, "/gestion/demandes", "Compte validé",
		"Le compte de "+p.FirstName+" "+p.LastName+" est validé : identifiant "+p.Identifier+". Son identifiant lui a été envoyé par mail.")
}

func (s *Server) handleRefuseForm(c *gin.Context) error {
	id, reason := c.PostForm("request"), c.PostForm("reason")
	p, err := s.accounts().Refuse(c.Request.Context(), account(c), id, reason)
	if err != nil {
		return s.requestFailed(c, err, id, reason)
	}
	return s.redirectWith(c, "/gestion/demandes", "Demande refusée",
		"La demande est refusée : "+p.Email+" en reçoit le motif par mail.")
}

// requestFailed shows the requests again with the problem of one.
func (s *Server) requestFailed(c *gin.Context, err error, id, reason string) error {
	f, err := sortFormError(err, "", "reason")
	if err != nil {
		return err
	}
	p, err := s.requestsPage(c)
	if err != nil {
		return err
	}
	p.Title = "Erreur : " + p.Title
	p.Notice = f.notice
	if id != "" {
		p.Reasons[id] = reason
		p.Errors[id] = f.errors["reason"]
	}
	s.render(c, f.status, "gestion_demandes.tmpl", p)
	return nil
}

func (s *Server) handleResendInvitationForm(c *gin.Context) error {
	err := s.accounts().ResendInvitation(c.Request.Context(), account(c), c.PostForm("request"))
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "already_submitted", "Le formulaire de pré-création a déjà été rempli : la demande attend sa validation.")
		f, err := sortFormError(err, "")
		if err != nil {
			return err
		}
		p, err := s.accountsPage(c)
		if err != nil {
			return err
		}
		p.Title = "Erreur : " + p.Title
		p.Notice = f.notice
		s.render(c, f.status, "gestion_comptes.tmpl", p)
		return nil
	}
	back := "/gestion/comptes"
	if r := c.PostForm("retour"); strings.HasPrefix(r, "/agent/structures/") && directory.CheckSIRET(strings.TrimPrefix(r, "/agent/structures/")) == nil {
		back = r // the page of a structure, where agents resend the links of its administrators
	}
	return s.redirectWith(c, back, "Lien envoyé", "Un nouveau lien de pré-création a été envoyé par mail ; le précédent ne fonctionne plus.")
}

// ---------------------------------------------------------------------------
// Accounts managed (« Gestion des comptes »).

type accountsPage struct {
	base
	Notice     *notice
	Agent      bool
	CanInvite  bool
	Accounts   []personView
	Structures map[string]string // SIRET → name, for agents
}

func (s *Server) accountsPage(c *gin.Context) (*accountsPage, error) {
	actor := account(c)
	list, err := s.accounts().Managed(c.Request.Context(), actor)
	if err != nil {
		return nil, err
	}
	p := &accountsPage{base: s.base(c, "Gestion des comptes"), Accounts: personViews(list),
		Agent: actor.Role == directory.RoleAgent, CanInvite: len(invitableRoles(actor)) > 0}
	if p.Agent {
		p.Title = "Comptes administrateurs"
		if p.Structures, err = s.structureNames(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (s *Server) handleAccountsPage(c *gin.Context) error {
	p, err := s.accountsPage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "gestion_comptes.tmpl", p)
	return nil
}

// grantable is a profile the manager may hand out.
type grantable struct {
	Value string // application/profile
	Label string
}

type accountPage struct {
	base
	Notice        *notice
	Errors        fieldErrors
	Person        personView
	StructureName string
	CanEnable     bool
	CanDisable    bool
	CanRemove     bool
	CanMove       bool
	Services      []string // the other services, where it can be moved
	Habilitations []habilitationRow
	Grantable     []grantable // nil: it cannot be habilitated now
	CanHabilitate bool
	CanSeeHistory bool
}

type habilitationRow struct {
	Application     string
	ApplicationName string
	Profile         string
	CanRevoke       bool
}

// managedAccount is the account of the page, which the actor must manage.
func (s *Server) managedAccount(c *gin.Context) (*directory.Person, error) {
	return s.accounts().ManagedAccount(c.Request.Context(), account(c), c.Param("identifier"))
}

func (s *Server) accountPage(c *gin.Context) (*accountPage, error) {
	ctx := c.Request.Context()
	actor := account(c)
	target, err := s.managedAccount(c)
	if err != nil {
		return nil, err
	}
	v := newPersonView(target)
	p := &accountPage{base: s.base(c, "Compte de "+personName(v)), Person: v, Errors: fieldErrors{},
		CanDisable:    target.State == directory.StateActive,
		CanEnable:     target.State == directory.StateDisabled,
		CanRemove:     target.Identifier != actor.Identifier,
		CanSeeHistory: directory.CanSeeHistory(actor, target),
	}
	if st, err := s.consultation().Structure(ctx, actor, target.SIRET); err == nil {
		p.StructureName = st.Name
	} else if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	if directory.CanMove(actor, target) {
		services, err := s.consultation().Services(ctx, actor, target.SIRET)
		if err != nil {
			return nil, err
		}
		p.CanMove = true
		for _, sv := range services {
			if sv.Name != target.Service {
				p.Services = append(p.Services, sv.Name)
			}
		}
	}
	apps, err := s.consultation().Applications(ctx, actor)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	label := func(app string) string {
		if n := names[app]; n != "" {
			return n
		}
		return app
	}
	for _, h := range target.Habilitations {
		p.Habilitations = append(p.Habilitations, habilitationRow{Application: h.Application, ApplicationName: label(h.Application), Profile: h.Profile,
			CanRevoke: directory.CanHabilitate(actor, target, h.Application, h.Profile)})
	}
	// Agents hand out any profile; the others only those they hold.
	var offer []directory.Habilitation
	if actor.Role == directory.RoleAgent {
		for _, a := range apps {
			for _, pr := range a.Profiles {
				offer = append(offer, directory.Habilitation{Application: a.ID, Profile: pr})
			}
		}
	} else {
		offer = actor.Habilitations
	}
	for _, h := range offer {
		if !target.HasProfile(h.Application, h.Profile) && directory.CanHabilitate(actor, target, h.Application, h.Profile) {
			p.Grantable = append(p.Grantable, grantable{Value: h.Application + "/" + h.Profile, Label: label(h.Application) + " — profil " + h.Profile})
		}
	}
	p.CanHabilitate = target.State == directory.StateActive
	return p, nil
}

func (s *Server) handleAccountPage(c *gin.Context) error {
	p, err := s.accountPage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "gestion_compte.tmpl", p)
	return nil
}

// accountFailed shows the account's page again with the problem of a form.
func (s *Server) accountFailed(c *gin.Context, err error, fields ...string) error {
	f, err := sortFormError(err, "", fields...)
	if err != nil {
		return err
	}
	p, err := s.accountPage(c)
	if err != nil {
		return err
	}
	p.Title = "Erreur : " + p.Title
	p.Notice, p.Errors = f.notice, f.errors
	s.render(c, f.status, "gestion_compte.tmpl", p)
	return nil
}

func (s *Server) accountURL(identifier string) string { return "/gestion/comptes/" + identifier }

func (s *Server) handleEnableForm(enabled bool) handlerFunc {
	return func(c *gin.Context) error {
		p, err := s.accounts().SetEnabled(c.Request.Context(), account(c), c.Param("identifier"), enabled)
		if err != nil {
			return s.accountFailed(c, err)
		}
		if enabled {
			return s.redirectWith(c, s.accountURL(p.Identifier), "Compte réactivé", "Le compte de "+p.FirstName+" "+p.LastName+" est réactivé.")
		}
		return s.redirectWith(c, s.accountURL(p.Identifier), "Compte désactivé",
			"Le compte de "+p.FirstName+" "+p.LastName+" est désactivé : il ne peut plus se connecter ni accéder aux applications.")
	}
}

func (s *Server) handleMoveForm(c *gin.Context) error {
	service := strings.TrimSpace(c.PostForm("service"))
	if service == "" {
		return s.accountFailed(c, invalidField("service", "Choisissez le service où déplacer le compte."), "service")
	}
	p, err := s.accounts().Move(c.Request.Context(), account(c), c.Param("identifier"), service)
	if err != nil {
		return s.accountFailed(c, err, "service")
	}
	return s.redirectWith(c, s.accountURL(p.Identifier), "Compte déplacé", "Le compte de "+p.FirstName+" "+p.LastName+" est maintenant dans le service "+p.Service+".")
}

func (s *Server) handleGrantForm(c *gin.Context) error {
	app, profile, ok := strings.Cut(c.PostForm("profile"), "/")
	if !ok || app == "" || profile == "" {
		return s.accountFailed(c, invalidField("profile", "Choisissez le profil à attribuer."), "profile")
	}
	identifier := c.Param("identifier")
	if err := s.accounts().Grant(c.Request.Context(), account(c), identifier, app, profile); err != nil {
		return s.accountFailed(c, err, "profile")
	}
	return s.redirectWith(c, s.accountURL(identifier), "Habilitation attribuée",
		"Le profil "+profile+" de l'application "+s.applicationName(c, app)+" est attribué ; le titulaire du compte en est informé par mail.")
}

// applicationName is the name of an application for a notice, its id when it cannot be read.
func (s *Server) applicationName(c *gin.Context, id string) string {
	if app, err := s.consultation().Application(c.Request.Context(), account(c), id); err == nil && app.Name != "" {
		return app.Name
	}
	return id
}

func (s *Server) handleRevokeForm(c *gin.Context) error {
	identifier, app, profile := c.Param("identifier"), c.PostForm("application"), c.PostForm("profile")
	if err := s.accounts().Revoke(c.Request.Context(), account(c), identifier, app, profile); err != nil {
		return s.accountFailed(c, err)
	}
	return s.redirectWith(c, s.accountURL(identifier), "Habilitation retirée", "Le profil "+profile+" de l'application "+s.applicationName(c, app)+" est retiré.")
}

type removePage struct {
	base
	Person personView
}

// handleRemovePage is the confirmation step before a removal.
func (s *Server) handleRemovePage(c *gin.Context) error {
	target, err := s.managedAccount(c)
	if err != nil {
		return err
	}
	if target.Identifier == account(c).Identifier {
		return directory.ErrForbidden
	}
	v := newPersonView(target)
	s.render(c, http.StatusOK, "gestion_suppression.tmpl", removePage{base: s.base(c, "Supprimer le compte de "+personName(v)), Person: v})
	return nil
}

func (s *Server) handleRemoveForm(c *gin.Context) error {
	target, err := s.managedAccount(c)
	if err != nil {
		return err
	}
	if err := s.accounts().Remove(c.Request.Context(), account(c), target.Identifier); err != nil {
		return err
	}
	return s.redirectWith(c, "/gestion/comptes", "Compte supprimé",
		"Le compte de "+target.FirstName+" "+target.LastName+" ("+target.Identifier+") est supprimé, avec ses habilitations.")
}

// ---------------------------------------------------------------------------
// Invitations (guide 1.2: administrators and responsables pre-create accounts).

type invitePage struct {
	base
	Notice   *notice
	Errors   fieldErrors
	Roles    []string // the roles the person may invite
	Services []string // the services to choose from; one for a responsable
	Fixed    string   // the service of a responsable, who cannot choose
	Email    string
	Role     string
	Service  string
}

// invitableRoles are the roles actor may pre-create in their own structure.
func invitableRoles(actor *directory.Person) []string {
	var roles []string
	for _, r := range []directory.Role{directory.RoleResponsable, directory.RoleCollaborateur} {
		if actor.Role != directory.RoleAgent && directory.CanInvite(actor, r, actor.SIRET, actor.Service) {
			roles = append(roles, string(r))
		}
	}
	return roles
}

func (s *Server) invitePage(c *gin.Context) (*invitePage, error) {
	actor := account(c)
	p := &invitePage{base: s.base(c, "Créer un compte"), Errors: fieldErrors{}, Roles: invitableRoles(actor)}
	if len(p.Roles) == 0 {
		return nil, directory.ErrForbidden
	}
	p.Role = p.Roles[len(p.Roles)-1]
	if actor.Role == directory.RoleResponsable {
		p.Fixed, p.Service = actor.Service, actor.Service
		return p, nil
	}
	services, err := s.consultation().Services(c.Request.Context(), actor, actor.SIRET)
	if err != nil {
		return nil, err
	}
	p.Services = []string{}
	for _, sv := range services {
		p.Services = append(p.Services, sv.Name)
	}
	return p, nil
}

func (s *Server) handleInvitePage(c *gin.Context) error {
	if account(c).Role == directory.RoleAgent {
		// Agents pre-create administrators, from the page of their structure.
		c.Redirect(http.StatusSeeOther, "/agent/structures")
		return nil
	}
	p, err := s.invitePage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "gestion_inviter.tmpl", p)
	return nil
}

func (s *Server) handleInviteForm(c *gin.Context) error {
	actor := account(c)
	p, err := s.invitePage(c)
	if err != nil {
		return err
	}
	p.Email, p.Role = strings.TrimSpace(c.PostForm("email")), c.PostForm("role")
	if p.Fixed == "" {
		p.Service = strings.TrimSpace(c.PostForm("service"))
	}
	inv, err := s.accounts().Invite(c.Request.Context(), actor, directory.NewInvitation{
		Email: p.Email, Role: directory.Role(p.Role), SIRET: actor.SIRET, Service: p.Service,
	})
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
		if errors.Is(err, directory.ErrNotFound) {
			err = invalidField("service", "Ce service n'existe pas dans la structure.")
		}
		f, err := sortFormError(err, "email", "email", "role", "service")
		if err != nil {
			return err
		}
		p.Title = "Erreur : " + p.Title
		p.Notice, p.Errors = f.notice, f.errors
		s.render(c, f.status, "gestion_inviter.tmpl", p)
		return nil
	}
	return s.redirectWith(c, "/gestion/comptes", "Lien envoyé",
		"Un lien de pré-création de compte "+string(inv.Person.Role)+" a été envoyé à "+inv.Person.Email+".")
}

// ---------------------------------------------------------------------------
// Services (administrators).

type servicesPage struct {
	base
	Notice   *notice
	Errors   fieldErrors
	Services []string
	NewName  string            // typed in the creation form, after an error
	Renames  map[string]string // service → name typed, after an error
	Failed   string            // the service whose form failed
}

func (s *Server) servicesPage(c *gin.Context) (*servicesPage, error) {
	actor := account(c)
	if !directory.CanManageServices(actor, actor.SIRET) {
		return nil, directory.ErrForbidden
	}
	services, err := s.consultation().Services(c.Request.Context(), actor, actor.SIRET)
	if err != nil {
		return nil, err
	}
	p := &servicesPage{base: s.base(c, "Gestion des services"), Errors: fieldErrors{}, Renames: map[string]string{}}
	for _, sv := range services {
		p.Services = append(p.Services, sv.Name)
	}
	return p, nil
}

func (s *Server) handleServicesPage(c *gin.Context) error {
	p, err := s.servicesPage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "gestion_services.tmpl", p)
	return nil
}

// servicesFailed shows the services again with the problem of one form.
func (s *Server) servicesFailed(c *gin.Context, err error, field string, set func(*servicesPage)) error {
	f, err := sortFormError(err, field, "name")
	if err != nil {
		return err
	}
	p, err := s.servicesPage(c)
	if err != nil {
		return err
	}
	p.Title = "Erreur : " + p.Title
	p.Notice = f.notice
	for k, v := range f.errors {
		if k == "name" && field != "" {
			k = field
		}
		p.Errors[k] = append(p.Errors[k], v...)
	}
	set(p)
	s.render(c, f.status, "gestion_services.tmpl", p)
	return nil
}

func (s *Server) handleCreateServiceForm(c *gin.Context) error {
	actor := account(c)
	name := strings.TrimSpace(c.PostForm("name"))
	err := s.accounts().CreateService(c.Request.Context(), actor, actor.SIRET, name)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
		return s.servicesFailed(c, err, "name", func(p *servicesPage) { p.NewName = name })
	}
	return s.redirectWith(c, "/gestion/services", "Service créé", "Le service "+name+" est créé.")
}

func (s *Server) handleRenameServiceForm(c *gin.Context) error {
	actor := account(c)
	service, name := c.PostForm("service"), strings.TrimSpace(c.PostForm("name"))
	err := s.accounts().RenameService(c.Request.Context(), actor, actor.SIRET, service, name)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
		return s.servicesFailed(c, err, "rename:"+service, func(p *servicesPage) { p.Renames[service] = name; p.Failed = service })
	}
	return s.redirectWith(c, "/gestion/services", "Service renommé", "Le service "+service+" s'appelle maintenant "+name+".")
}

func (s *Server) handleDeleteServiceForm(c *gin.Context) error {
	actor := account(c)
	service := c.PostForm("service")
	err := s.accounts().DeleteService(c.Request.Context(), actor, actor.SIRET, service)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "service_not_empty",
			"Le service "+service+" a encore des comptes : déplacez-les ou supprimez-les d'abord.")
		return s.servicesFailed(c, err, "", func(p *servicesPage) { p.Failed = service })
	}
	return s.redirectWith(c, "/gestion/services", "Service supprimé", "Le service "+service+" est supprimé.")
}

// ---------------------------------------------------------------------------
// Agents: structures, their administrators, applications.

type structuresPage struct {
	base
	Notice     *notice
	Errors     fieldErrors
	Structures []structureView
	Form       structureView
}

func (s *Server) structuresPage(c *gin.Context) (*structuresPage, error) {
	if !directory.CanCreateStructure(account(c)) {
		return nil, directory.ErrForbidden
	}
	all, err := s.consultation().Structures(c.Request.Context(), account(c))
	if err != nil {
		return nil, err
	}
	p := &structuresPage{base: s.base(c, "Structures partenaires"), Errors: fieldErrors{}}
	for _, st := range all {
		p.Structures = append(p.Structures, structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category})
	}
	return p, nil
}

func (s *Server) handleStructuresPage(c *gin.Context) error {
	p, err := s.structuresPage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "agent_structures.tmpl", p)
	return nil
}

func (s *Server) handleCreateStructureForm(c *gin.Context) error {
	form := structureView{SIRET: strings.TrimSpace(c.PostForm("siret")), Name: strings.TrimSpace(c.PostForm("name")), Category: strings.TrimSpace(c.PostForm("category"))}
	st, err := s.accounts().CreateStructure(c.Request.Context(), account(c), directory.Structure{SIRET: form.SIRET, Name: form.Name, Category: form.Category})
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "structure_exists", "Une structure de ce SIRET existe déjà.")
		f, err := sortFormError(err, "siret", "siret", "name", "category")
		if err != nil {
			return err
		}
		p, err := s.structuresPage(c)
		if err != nil {
			return err
		}
		p.Title = "Erreur : " + p.Title
		p.Notice, p.Errors, p.Form = f.notice, f.errors, form
		s.render(c, f.status, "agent_structures.tmpl", p)
		return nil
	}
	return s.redirectWith(c, "/agent/structures/"+st.SIRET, "Structure créée",
		"La structure "+st.Name+" est créée. Vous pouvez maintenant inviter son administrateur.")
}

type structurePage struct {
	base
	Notice         *notice
	Errors         fieldErrors
	Structure      structureView
	Administrators []personView
	Email          string
}

func (s *Server) structurePage(c *gin.Context) (*structurePage, error) {
	actor := account(c)
	if !directory.CanCreateStructure(actor) {
		return nil, directory.ErrForbidden
	}
	ctx := c.Request.Context()
	st, err := s.consultation().Structure(ctx, actor, c.Param("siret"))
	if err != nil {
		return nil, err
	}
	admins, err := s.accounts().Managed(ctx, actor)
	if err != nil {
		return nil, err
	}
	admins = slices.DeleteFunc(admins, func(p directory.Person) bool { return p.SIRET != st.SIRET })
	return &structurePage{base: s.base(c, st.Name), Errors: fieldErrors{}, Administrators: personViews(admins),
		Structure: structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category}}, nil
}

func (s *Server) handleStructurePage(c *gin.Context) error {
	p, err := s.structurePage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "agent_structure.tmpl", p)
	return nil
}

func (s *Server) handleInviteAdministratorForm(c *gin.Context) error {
	p, err := s.structurePage(c)
	if err != nil {
		return err
	}
	p.Email = strings.TrimSpace(c.PostForm("email"))
	inv, err := s.accounts().Invite(c.Request.Context(), account(c), directory.NewInvitation{
		Email: p.Email, Role: directory.RoleAdministrateur, SIRET: p.Structure.SIRET,
	})
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
		f, err := sortFormError(err, "email", "email")
		if err != nil {
			return err
		}
		p.Title = "Erreur : " + p.Title
		p.Notice, p.Errors = f.notice, f.errors
		s.render(c, f.status, "agent_structure.tmpl", p)
		return nil
	}
	return s.redirectWith(c, "/agent/structures/"+p.Structure.SIRET, "Lien envoyé",
		"Un lien de pré-création de compte administrateur a été envoyé à "+inv.Person.Email+".")
}

type applicationsPage struct {
	base
	Notice       *notice
	Errors       fieldErrors
	Applications []applicationView
	Form         applicationForm
}

type applicationForm struct {
	ID, Name, Profiles string
}

func (s *Server) applicationsPage(c *gin.Context) (*applicationsPage, error) {
	if !directory.CanDeclareApplication(account(c)) {
		return nil, directory.ErrForbidden
	}
	apps, err := s.consultation().Applications(c.Request.Context(), account(c))
	if err != nil {
		return nil, err
	}
	p := &applicationsPage{base: s.base(c, "Applications de la DGFiP"), Errors: fieldErrors{}}
	for _, a := range apps {
		p.Applications = append(p.Applications, applicationView{ID: a.ID, Name: a.Name, Profiles: a.Profiles})
	}
	return p, nil
}

func (s *Server) handleApplicationsPage(c *gin.Context) error {
	p, err := s.applicationsPage(c)
	if err != nil {
		return err
	}
	p.Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, "agent_applications.tmpl", p)
	return nil
}

// splitProfiles reads the profiles typed comma separated.
func splitProfiles(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) handleCreateApplicationForm(c *gin.Context) error {
	form := applicationForm{ID: strings.TrimSpace(c.PostForm("id")), Name: strings.TrimSpace(c.PostForm("name")), Profiles: c.PostForm("profiles")}
	profiles := splitProfiles(form.Profiles)
	var err error
	if len(profiles) == 0 {
		err = invalidField("profiles", "Indiquez au moins un profil.")
	} else {
		var app *directory.Application
		app, err = s.accounts().CreateApplication(c.Request.Context(), account(c), directory.Application{ID: form.ID, Name: form.Name, Profiles: profiles})
		if err == nil {
			return s.redirectWith(c, "/agent/applications", "Application déclarée",
				"L'application "+app.Name+" est déclarée avec les profils "+strings.Join(app.Profiles, ", ")+".")
		}
	}
	err = refine(err, directory.ErrConflict, http.StatusConflict, "application_exists", "Une application de cet identifiant existe déjà.")
	f, err := sortFormError(err, "id", "id", "name", "profiles")
	if err != nil {
		return err
	}
	p, err := s.applicationsPage(c)
	if err != nil {
		return err
	}
	p.Title = "Erreur : " + p.Title
	p.Notice, p.Errors, p.Form = f.notice, f.errors, form
	s.render(c, f.status, "agent_applications.tmpl", p)
	return nil
}
