package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// Invitations (guide 1.2 and 1.3): a manager pre-creates an account, which
// mails the link to its form; the person completes the form behind the link
// (/creation/…); the manager may send a new link.

type inviteRequest struct {
	Email   string `json:"email"`
	Role    string `json:"role"`
	Service string `json:"service"`
	EndDate string `json:"endDate"` // AAAA-MM-JJ: the account ends that day; optional
}

func (s *Server) handleInvite(c *gin.Context) error {
	var req inviteRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	end, err := directory.ParseDay("endDate", req.EndDate)
	if err != nil {
		return err
	}
	inv, err := s.accounts.Invite(c.Request.Context(), account(c), directory.NewInvitation{
		Email: req.Email, Role: directory.Role(req.Role), SIRET: c.Param("siret"), Service: req.Service, EndDate: end,
	})
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
	}
	c.JSON(http.StatusCreated, gin.H{"id": inv.Person.RequestID})
	return nil
}

type invitePage struct {
	base
	formState
	Roles    []string // the roles the person may invite
	Services []string // the services to choose from; one for a responsable
	Fixed    string   // the service of a responsable, who cannot choose
	Email    string
	Role     string
	Service  string
	EndDate  string // AAAA-MM-JJ, as typed
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
	p := &invitePage{base: s.base(c, "Créer un compte"), formState: formState{Errors: formErrors{}}, Roles: invitableRoles(actor)}
	if len(p.Roles) == 0 {
		return nil, directory.ErrForbidden
	}
	p.Role = p.Roles[len(p.Roles)-1]
	if actor.Role == directory.RoleResponsable {
		p.Fixed, p.Service = actor.Service, actor.Service
		return p, nil
	}
	services, err := s.consultation.Services(c.Request.Context(), actor, actor.SIRET)
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
	return s.showPage(c, "gestion_inviter.tmpl", p, err)
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
	p.EndDate = strings.TrimSpace(c.PostForm("endDate"))
	end, err := directory.ParseDay("endDate", p.EndDate)
	var inv *directory.Invitation
	if err == nil {
		inv, err = s.accounts.Invite(c.Request.Context(), actor, directory.NewInvitation{
			Email: p.Email, Role: directory.Role(p.Role), SIRET: actor.SIRET, Service: p.Service, EndDate: end,
		})
	}
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
		if errors.Is(err, directory.ErrNotFound) {
			err = invalidField("service", "Ce service n'existe pas dans la structure.")
		}
		f, err := sortFormError(err, "email", "email", "role", "service", "endDate")
		if err != nil {
			return err
		}
		return s.showFailed(c, "gestion_inviter.tmpl", p, f)
	}
	return s.redirectWith(c, "/gestion/comptes", "Lien envoyé",
		"Un lien de pré-création de compte "+string(inv.Person.Role)+" a été envoyé à "+inv.Person.Email+".")
}

// invitationView is what the pre-creation form shows of its invitation.
type invitationView struct {
	Email     string         `json:"email"`
	Role      string         `json:"role"`
	Structure *structureView `json:"structure"`
	Service   string         `json:"service,omitempty"`
	Services  []string       `json:"services,omitempty"` // the choices, for responsables and collaborateurs: Service alone when the inviter fixed it
}

// serviceFixed says whether the form shows the service without a choice.
func (v invitationView) serviceFixed() bool { return len(v.Services) <= 1 }

func newInvitationView(f *directory.InvitationForm) invitationView {
	p, st := f.Person, f.Structure
	v := invitationView{Email: p.Email, Role: string(p.Role), Service: p.Service,
		Structure: &structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category}}
	for _, sv := range f.Services {
		v.Services = append(v.Services, sv.Name)
	}
	return v
}

// A GET changes nothing: mail scanners open links.
func (s *Server) handleGetInvitation(c *gin.Context) error {
	form, err := s.accounts.Invitation(c.Request.Context(), c.Param("token"))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, newInvitationView(form))
	return nil
}

type preCreationRequest struct {
	LastName  string `json:"lastName"`
	FirstName string `json:"firstName"`
	Mobile    string `json:"mobile"`
	Service   string `json:"service"`
	Password  string `json:"password"`
}

func (s *Server) handleSubmitInvitation(c *gin.Context) error {
	var req preCreationRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	_, err := s.accounts.SubmitInvitation(c.Request.Context(), c.Param("token"), directory.PreCreation{
		FirstName: req.FirstName, LastName: req.LastName, Mobile: req.Mobile, Service: req.Service, Password: req.Password,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "submitted"})
	return nil
}

// creationForm is what the person types; the password is never sent back
// in a form, only in the summary's hidden fields.
type creationForm struct {
	LastName  string
	FirstName string
	Mobile    string
	Service   string
}

// creationPage is the pre-creation form. Its rules come from passwordRules
// (password_form.go), shared with the password pages.
type creationPage struct {
	base
	Token      string
	Invitation invitationView
	Form       creationForm
	Rules      []passwordRule
	Errors     formErrors
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
	form, err := s.accounts.Invitation(c.Request.Context(), c.Param("token"))
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
	return creationPage{base: s.base(c, title), Token: c.Param("token"), Invitation: inv, Form: form, Rules: passwordRules(), Errors: formErrors{}}
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
	switch {
	case !directory.Role(inv.Role).InService():
	case inv.serviceFixed():
		form.Service = inv.Service
	default:
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
			_, err := s.accounts.SubmitInvitation(ctx, c.Param("token"), pre)
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
		if err := s.accounts.CheckInvitation(ctx, c.Param("token"), pre); err != nil {
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

func (s *Server) handleResendInvitation(c *gin.Context) error {
	if err := s.accounts.ResendInvitation(c.Request.Context(), account(c), c.Param("id")); err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "already_submitted", "Le formulaire de pré-création a déjà été rempli.")
	}
	c.Status(http.StatusAccepted)
	return nil
}

func (s *Server) handleResendInvitationForm(c *gin.Context) error {
	return s.invitationForm(c, s.accounts.ResendInvitation,
		"Lien envoyé", "Un nouveau lien de pré-création a été envoyé par mail ; le précédent ne fonctionne plus.")
}

// invitationForm serves a button of a pending invitation (send its link
// again, cancel it): act on the posted request, then back to the list it
// was pressed in — the accounts, the invitations, or the page of a
// structure, where agents act on its administrators' invitations.
func (s *Server) invitationForm(c *gin.Context, act func(ctx context.Context, actor *directory.Person, request string) error, title, done string) error {
	if err := act(c.Request.Context(), account(c), c.PostForm("request")); err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "already_submitted", "Le formulaire de pré-création a déjà été rempli : la demande attend sa validation.")
		f, err := sortFormError(err, "")
		if err != nil {
			return err
		}
		p, err := s.accountsPage(c)
		if err != nil {
			return err
		}
		return s.showFailed(c, "gestion_comptes.tmpl", p, f)
	}
	back := "/gestion/comptes"
	if r := c.PostForm("retour"); r == "/gestion/invitations" ||
		strings.HasPrefix(r, "/agent/structures/") && directory.CheckSIRET(strings.TrimPrefix(r, "/agent/structures/")) == nil {
		back = r
	}
	return s.redirectWith(c, back, title, done)
}

// The invitations sent whose form is not filled yet, among the accounts
// the person manages: a list of its own, to send a link again.

func (s *Server) handleListInvitations(c *gin.Context) error {
	q, err := readListQuery(c)
	if err != nil {
		return err
	}
	page, err := s.accounts.Invitations(c.Request.Context(), account(c), q)
	if err != nil {
		return err
	}
	listJSON(c, "invitations", personViews(page.Accounts), page.Total, page.Page, page.Size)
	return nil
}

type invitationsPage struct {
	base
	formState
	Agent       bool
	CanInvite   bool
	List        listView
	Invitations []personView
	Structures  map[string]string // SIRET → name of the structures of the page, for agents
}

func (s *Server) invitationsPage(c *gin.Context) (*invitationsPage, error) {
	ctx := c.Request.Context()
	actor := account(c)
	q, err := readListQuery(c)
	if err != nil {
		return nil, listPageError(err)
	}
	list, err := s.accounts.Invitations(ctx, actor, q)
	if err != nil {
		return nil, err
	}
	if last, past := pastTheEnd(q, list.Total); past {
		q.Page = last
		if list, err = s.accounts.Invitations(ctx, actor, q); err != nil {
			return nil, err
		}
	}
	p := &invitationsPage{base: s.base(c, "Invitations en attente"), Invitations: personViews(list.Accounts),
		Agent: actor.Role == directory.RoleAgent, CanInvite: len(invitableRoles(actor)) > 0}
	if p.Agent {
		if p.Structures, err = s.pageStructureNames(c, list.Accounts); err != nil {
			return nil, err
		}
	}
	p.List = newListView("/gestion/invitations", q, nil, list.Total)
	p.List.SearchName, p.List.SearchLabel, p.List.PagerLabel = "Rechercher une invitation", "Adresse mail", "Pagination des invitations"
	p.Title = p.List.titled(p.Title)
	return p, nil
}

func (s *Server) handleInvitationsPage(c *gin.Context) error {
	noStore(c)
	p, err := s.invitationsPage(c)
	return s.showPage(c, "gestion_invitations.tmpl", p, err)
}
