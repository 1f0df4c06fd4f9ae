package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The accounts a person manages (« Gestion des comptes », guide 2): disable,
// enable, move to another service, habilitate to the DGFiP applications,
// remove.

func (s *Server) handleListManaged(c *gin.Context) error {
	q, err := readAccountQuery(c)
	if err != nil {
		return err
	}
	page, err := s.accounts.Managed(c.Request.Context(), account(c), q)
	if err != nil {
		return err
	}
	listJSON(c, "accounts", personViews(page.Accounts), page.Total, page.Page, page.Size)
	return nil
}

type accountsPage struct {
	base
	formState
	Agent      bool
	CanInvite  bool
	CanExport  bool
	List       listView
	Accounts   []personView
	Structures map[string]string // SIRET → name of the structures of the page, for agents
}

// accountStates are the states the lists of accounts filter by, in the
// order of an account's life.
var accountStates = []string{string(directory.StateInvited), string(directory.StateSubmitted),
	string(directory.StateActive), string(directory.StateDisabled), string(directory.StateRefused)}

func (s *Server) accountsPage(c *gin.Context) (*accountsPage, error) {
	ctx := c.Request.Context()
	actor := account(c)
	q, err := readAccountQuery(c)
	if err != nil {
		return nil, listPageError(err)
	}
	list, err := s.accounts.Managed(ctx, actor, q)
	if err != nil {
		return nil, listPageError(err)
	}
	if last, past := pastTheEnd(q.ListQuery, list.Total); past {
		q.Page = last
		if list, err = s.accounts.Managed(ctx, actor, q); err != nil {
			return nil, err
		}
	}
	p := &accountsPage{base: s.base(c, "Gestion des comptes"), Accounts: personViews(list.Accounts),
		Agent: actor.Role == directory.RoleAgent, CanInvite: len(invitableRoles(actor)) > 0,
		CanExport: directory.CanExportAccounts(actor, actor.SIRET)}
	selects := []listSelect{{Name: "state", Label: "État", Options: options("Tous les états", string(q.State), accountStates, stateLabel)}}
	searchLabel := "Nom, prénom, identifiant ou adresse mail"
	if p.Agent {
		p.Title = "Comptes administrateurs"
		searchLabel = "Nom, prénom, identifiant, adresse mail ou SIRET"
		if p.Structures, err = s.pageStructureNames(c, list.Accounts); err != nil {
			return nil, err
		}
	}
	if actor.Role == directory.RoleAdministrateur {
		services, err := s.consultation.Services(ctx, actor, actor.SIRET)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, sv := range services {
			names = append(names, sv.Name)
		}
		sortNames(names)
		selects = append(selects,
			listSelect{Name: "role", Label: "Rôle", Options: options("Tous les rôles", string(q.Role), invitableRoles(actor), roleLabel)},
			listSelect{Name: "service", Label: "Service", Options: options("Tous les services", q.Service, names, func(n string) string { return n })})
	}
	p.List = newListView("/gestion/comptes", q.ListQuery, selects, list.Total)
	p.List.SearchName, p.List.SearchLabel, p.List.PagerLabel = "Rechercher un compte", searchLabel, "Pagination des comptes"
	p.Title = p.List.titled(p.Title)
	return p, nil
}

func (s *Server) handleAccountsPage(c *gin.Context) error {
	noStore(c)
	p, err := s.accountsPage(c)
	return s.showPage(c, "gestion_comptes.tmpl", p, err)
}

// pageStructureNames are the names of the structures of the accounts of a
// page, by SIRET: one search for the page, never every structure.
func (s *Server) pageStructureNames(c *gin.Context, accounts []directory.Person) (map[string]string, error) {
	sirets := make([]string, 0, len(accounts))
	for _, p := range accounts {
		sirets = append(sirets, p.SIRET)
	}
	return s.consultation.StructureNames(c.Request.Context(), account(c), sirets)
}

// grantable is a profile the manager may hand out.
type grantable struct {
	Value string // application/profile
	Label string
}

type accountPage struct {
	base
	formState
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
	CanChangeEnd  bool // a habilitation whose end date the actor may change
	CanSeeHistory bool
	Helpdesk      *helpdeskPanel
}

type habilitationRow struct {
	Application     string
	ApplicationName string
	Profile         string
	EndDate         string // AAAA-MM-JJ; "" for none
	CanRevoke       bool
}

// managedAccount is the account of the page, which the actor must manage.
func (s *Server) managedAccount(c *gin.Context) (*directory.Person, error) {
	return s.accounts.ManagedAccount(c.Request.Context(), account(c), c.Param("identifier"))
}

func (s *Server) accountPage(c *gin.Context) (*accountPage, error) {
	ctx := c.Request.Context()
	actor := account(c)
	target, err := s.managedAccount(c)
	if err != nil {
		return nil, err
	}
	v := newPersonView(target)
	p := &accountPage{base: s.base(c, "Compte de "+personName(v)), Person: v, formState: formState{Errors: formErrors{}},
		CanDisable:    target.State == directory.StateActive,
		CanEnable:     target.State == directory.StateDisabled,
		CanRemove:     target.Identifier != actor.Identifier,
		CanSeeHistory: directory.CanSeeHistory(actor, target),
	}
	if st, err := s.consultation.Structure(ctx, actor, target.SIRET); err == nil {
		p.StructureName = st.Name
	} else if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	if directory.CanMove(actor, target) {
		services, err := s.consultation.Services(ctx, actor, target.SIRET)
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
	apps, err := s.consultation.Applications(ctx, actor)
	if err != nil {
		return nil, err
	}
	names := newApplicationNames(apps)
	for _, h := range target.Habilitations {
		p.Habilitations = append(p.Habilitations, habilitationRow{Application: h.Application, ApplicationName: names.of(h.Application), Profile: h.Profile,
			EndDate: directory.Day(h.EndDate), CanRevoke: directory.CanHabilitate(actor, target, h.Application, h.Profile)})
		p.CanChangeEnd = p.CanChangeEnd || p.Habilitations[len(p.Habilitations)-1].CanRevoke
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
			p.Grantable = append(p.Grantable, grantable{Value: h.Application + "/" + h.Profile, Label: names.of(h.Application) + " — profil " + h.Profile})
		}
	}
	p.CanHabilitate = target.State == directory.StateActive
	if p.Helpdesk, err = s.helpdeskPanel(c, target.Identifier); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) handleAccountPage(c *gin.Context) error {
	p, err := s.accountPage(c)
	return s.showPage(c, "gestion_compte.tmpl", p, err)
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
	return s.showFailed(c, "gestion_compte.tmpl", p, f)
}

func (s *Server) accountURL(identifier string) string { return "/gestion/comptes/" + identifier }

func (s *Server) handleSetEnabled(enabled bool) handlerFunc {
	return func(c *gin.Context) error {
		p, err := s.accounts.SetEnabled(c.Request.Context(), account(c), c.Param("identifier"), enabled)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, newPersonView(p))
		return nil
	}
}

func (s *Server) handleEnableForm(enabled bool) handlerFunc {
	return func(c *gin.Context) error {
		p, err := s.accounts.SetEnabled(c.Request.Context(), account(c), c.Param("identifier"), enabled)
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

type moveRequest struct {
	Service string `json:"service"`
}

func (s *Server) handleMoveAccount(c *gin.Context) error {
	var req moveRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := s.accounts.Move(c.Request.Context(), account(c), c.Param("identifier"), req.Service)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newPersonView(p))
	return nil
}

func (s *Server) handleMoveForm(c *gin.Context) error {
	service := strings.TrimSpace(c.PostForm("service"))
	if service == "" {
		return s.accountFailed(c, invalidField("service", "Choisissez le service où déplacer le compte."), "service")
	}
	p, err := s.accounts.Move(c.Request.Context(), account(c), c.Param("identifier"), service)
	if err != nil {
		return s.accountFailed(c, err, "service")
	}
	return s.redirectWith(c, s.accountURL(p.Identifier), "Compte déplacé", "Le compte de "+p.FirstName+" "+p.LastName+" est maintenant dans le service "+p.Service+".")
}

// endDateRequest is the body of the API's end dates: a day as
// AAAA-MM-JJ, at whose start, Paris time, access ends; empty or absent:
// no end date.
type endDateRequest struct {
	EndDate string `json:"endDate"`
}

func (s *Server) handleGrant(c *gin.Context) error {
	var req endDateRequest
	if err := decodeOptional(c, &req); err != nil {
		return err
	}
	end, err := directory.ParseDay("endDate", req.EndDate)
	if err != nil {
		return err
	}
	if err := s.accounts.GrantUntil(c.Request.Context(), account(c), c.Param("identifier"), c.Param("application"), c.Param("profile"), end); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) handleSetEndDate(c *gin.Context) error {
	var req endDateRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	end, err := directory.ParseDay("endDate", req.EndDate)
	if err != nil {
		return err
	}
	p, err := s.accounts.SetEndDate(c.Request.Context(), account(c), c.Param("identifier"), end)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newPersonView(p))
	return nil
}

// asField files the problems of err about the domain's field under the
// form's field instead: a page with several end dates names each apart.
func asField(err error, field, formField string) error {
	var ie *directory.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	renamed := &directory.InvalidError{}
	for _, p := range ie.Problems {
		if p.Field == field {
			p.Field = formField
		}
		renamed.Problems = append(renamed.Problems, p)
	}
	return renamed
}

// handleSetEndDateForm sets or removes the account's end date (the
// field accountEndDate, empty for none).
func (s *Server) handleSetEndDateForm(c *gin.Context) error {
	const field = "accountEndDate"
	end, err := directory.ParseDay(field, c.PostForm(field))
	if err == nil {
		var p *directory.Person
		if p, err = s.accounts.SetEndDate(c.Request.Context(), account(c), c.Param("identifier"), end); err == nil {
			if end.IsZero() {
				return s.redirectWith(c, s.accountURL(p.Identifier), "Date de fin retirée", "Le compte de "+p.FirstName+" "+p.LastName+" n'a plus de date de fin.")
			}
			return s.redirectWith(c, s.accountURL(p.Identifier), "Date de fin enregistrée",
				"Le compte de "+p.FirstName+" "+p.LastName+" prend fin le "+dayLabel(directory.Day(end))+" : il sera alors désactivé. Son titulaire en est averti par mail une semaine avant.")
		}
	}
	return s.accountFailed(c, asField(err, "endDate", field), field)
}

func (s *Server) handleRevoke(c *gin.Context) error {
	if err := s.accounts.Revoke(c.Request.Context(), account(c), c.Param("identifier"), c.Param("application"), c.Param("profile")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// handleGrantForm grants a profile (the fields profile and endDate), or,
// from the form of held habilitations (form=date), changes a held one's
// end date (the fields habilitation and habilitationEndDate).
func (s *Server) handleGrantForm(c *gin.Context) error {
	profileField, dateField, choose := "profile", "endDate", "Choisissez le profil à attribuer."
	change := c.PostForm("form") == "date"
	if change {
		profileField, dateField, choose = "habilitation", "habilitationEndDate", "Choisissez l'habilitation dont la date de fin change."
	}
	app, profile, ok := strings.Cut(c.PostForm(profileField), "/")
	if !ok || app == "" || profile == "" {
		return s.accountFailed(c, invalidField(profileField, choose), profileField)
	}
	end, err := directory.ParseDay(dateField, c.PostForm(dateField))
	if err != nil {
		return s.accountFailed(c, err, dateField)
	}
	identifier := c.Param("identifier")
	if err := s.accounts.GrantUntil(c.Request.Context(), account(c), identifier, app, profile, end); err != nil {
		return s.accountFailed(c, asField(err, "endDate", dateField), profileField, dateField)
	}
	what := "Le profil " + profile + " de l'application " + s.applicationName(c, app)
	ends := ""
	if !end.IsZero() {
		ends = " ; il sera retiré le " + dayLabel(directory.Day(end))
	}
	if change {
		if end.IsZero() {
			return s.redirectWith(c, s.accountURL(identifier), "Date de fin retirée", what+" n'a plus de date de fin.")
		}
		return s.redirectWith(c, s.accountURL(identifier), "Date de fin modifiée", what+" reste attribué"+ends+".")
	}
	return s.redirectWith(c, s.accountURL(identifier), "Habilitation attribuée",
		what+" est attribué"+ends+" ; le titulaire du compte en est informé par mail.")
}

// applicationName is the name of an application for a notice, its id when it cannot be read.
func (s *Server) applicationName(c *gin.Context, id string) string {
	if app, err := s.consultation.Application(c.Request.Context(), account(c), id); err == nil && app.Name != "" {
		return app.Name
	}
	return id
}

func (s *Server) handleRevokeForm(c *gin.Context) error {
	identifier, app, profile := c.Param("identifier"), c.PostForm("application"), c.PostForm("profile")
	if err := s.accounts.Revoke(c.Request.Context(), account(c), identifier, app, profile); err != nil {
		return s.accountFailed(c, err)
	}
	return s.redirectWith(c, s.accountURL(identifier), "Habilitation retirée", "Le profil "+profile+" de l'application "+s.applicationName(c, app)+" est retiré.")
}

func (s *Server) handleRemoveAccount(c *gin.Context) error {
	if err := s.accounts.Remove(c.Request.Context(), account(c), c.Param("identifier")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
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
	v := newPersonView(target)
	s.render(c, http.StatusOK, "gestion_suppression.tmpl", removePage{base: s.base(c, "Supprimer le compte de "+personName(v)), Person: v})
	return nil
}

func (s *Server) handleRemoveForm(c *gin.Context) error {
	target, err := s.managedAccount(c)
	if err != nil {
		return err
	}
	if err := s.accounts.Remove(c.Request.Context(), account(c), target.Identifier); err != nil {
		return err
	}
	return s.redirectWith(c, "/gestion/comptes", "Compte supprimé",
		"Le compte de "+target.FirstName+" "+target.LastName+" ("+target.Identifier+") est supprimé, avec ses habilitations.")
}
