package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The DGFiP applications and their profiles, which agents declare.

type applicationView struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Profiles []string `json:"profiles"`
	// Where its OpenID Connect sign-ins may return, and where people open it.
	RedirectURIs []string `json:"redirectUris"`
	HomeURL      string   `json:"homeUrl,omitempty"`
}

func newApplicationView(a *directory.Application) applicationView {
	v := applicationView{ID: a.ID, Name: a.Name, Profiles: a.Profiles, RedirectURIs: a.RedirectURIs, HomeURL: a.HomeURL}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	return v
}

func (s *Server) handleListApplications(c *gin.Context) error {
	apps, err := s.consultation.Applications(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	out := make([]applicationView, len(apps))
	for i := range apps {
		out[i] = newApplicationView(&apps[i])
	}
	c.JSON(http.StatusOK, gin.H{"applications": out})
	return nil
}

func (s *Server) handleCreateApplication(c *gin.Context) error {
	var req applicationView
	if err := decode(c, &req); err != nil {
		return err
	}
	app, err := s.accounts.CreateApplication(c.Request.Context(), account(c), directory.Application{ID: req.ID, Name: req.Name, Profiles: req.Profiles,
		RedirectURIs: req.RedirectURIs, HomeURL: req.HomeURL})
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "application_exists", "Une application de cet identifiant existe déjà.")
	}
	c.JSON(http.StatusCreated, newApplicationView(app))
	return nil
}

// applicationUpdate is PATCH /applications/{id}: the fields given change.
type applicationUpdate struct {
	Name         *string   `json:"name"`
	RedirectURIs *[]string `json:"redirectUris"`
	HomeURL      *string   `json:"homeUrl"`
}

func (s *Server) handleUpdateApplication(c *gin.Context) error {
	var req applicationUpdate
	if err := decode(c, &req); err != nil {
		return err
	}
	app, err := s.accounts.UpdateApplication(c.Request.Context(), account(c), c.Param("application"),
		directory.ApplicationUpdate{Name: req.Name, RedirectURIs: req.RedirectURIs, HomeURL: req.HomeURL})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newApplicationView(app))
	return nil
}

type profileRequest struct {
	Profile string `json:"profile"`
}

func (s *Server) handleAddProfile(c *gin.Context) error {
	var req profileRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"profile", req.Profile}); err != nil {
		return err
	}
	app, err := s.accounts.AddProfile(c.Request.Context(), account(c), c.Param("application"), req.Profile)
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "profile_exists", "Ce profil existe déjà pour cette application.")
	}
	c.JSON(http.StatusCreated, newApplicationView(app))
	return nil
}

type applicationsPage struct {
	base
	formState
	Applications []applicationView
	Form         applicationForm
}

type applicationForm struct {
	ID, Name, Profiles string
	RedirectURIs       string // one per line
	HomeURL            string
}

// splitLines reads the URIs typed one per line.
func splitLines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (s *Server) applicationsPage(c *gin.Context) (*applicationsPage, error) {
	if !directory.CanDeclareApplication(account(c)) {
		return nil, directory.ErrForbidden
	}
	apps, err := s.consultation.Applications(c.Request.Context(), account(c))
	if err != nil {
		return nil, err
	}
	p := &applicationsPage{base: s.base(c, "Applications de la DGFiP"), formState: formState{Errors: formErrors{}}}
	for i := range apps {
		p.Applications = append(p.Applications, newApplicationView(&apps[i]))
	}
	return p, nil
}

func (s *Server) handleApplicationsPage(c *gin.Context) error {
	p, err := s.applicationsPage(c)
	return s.showPage(c, "agent_applications.tmpl", p, err)
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
	form := applicationForm{ID: strings.TrimSpace(c.PostForm("id")), Name: strings.TrimSpace(c.PostForm("name")), Profiles: c.PostForm("profiles"),
		RedirectURIs: c.PostForm("redirectUris"), HomeURL: strings.TrimSpace(c.PostForm("homeUrl"))}
	profiles := splitProfiles(form.Profiles)
	var err error
	if len(profiles) == 0 {
		err = invalidField("profiles", "Indiquez au moins un profil.")
	} else {
		var app *directory.Application
		app, err = s.accounts.CreateApplication(c.Request.Context(), account(c), directory.Application{ID: form.ID, Name: form.Name, Profiles: profiles,
			RedirectURIs: splitLines(form.RedirectURIs), HomeURL: form.HomeURL})
		if err == nil {
			return s.redirectWith(c, "/agent/applications", "Application déclarée",
				"L'application "+app.Name+" est déclarée avec les profils "+strings.Join(app.Profiles, ", ")+".")
		}
	}
	err = refine(err, directory.ErrConflict, http.StatusConflict, "application_exists", "Une application de cet identifiant existe déjà.")
	f, err := sortFormError(err, "id", "id", "name", "profiles", "redirectUris", "homeUrl")
	if err != nil {
		return err
	}
	p, err := s.applicationsPage(c)
	if err != nil {
		return err
	}
	p.Form = form
	return s.showFailed(c, "agent_applications.tmpl", p, f)
}

// The page of one application: its addresses, which change, and its
// profiles, to which one may be added.

type applicationPage struct {
	base
	formState
	App     applicationView
	Form    applicationForm
	Profile string // the profile typed, when its form failed
}

func (s *Server) applicationPage(c *gin.Context) (*applicationPage, error) {
	if !directory.CanDeclareApplication(account(c)) {
		return nil, directory.ErrForbidden
	}
	app, err := s.consultation.Application(c.Request.Context(), account(c), c.Param("application"))
	if err != nil {
		return nil, err
	}
	v := newApplicationView(app)
	return &applicationPage{base: s.base(c, "Application "+app.Name), formState: formState{Errors: formErrors{}}, App: v,
		Form: applicationForm{Name: app.Name, RedirectURIs: strings.Join(app.RedirectURIs, "\n"), HomeURL: app.HomeURL}}, nil
}

func (s *Server) handleApplicationPage(c *gin.Context) error {
	p, err := s.applicationPage(c)
	return s.showPage(c, "agent_application.tmpl", p, err)
}

func (s *Server) handleUpdateApplicationForm(c *gin.Context) error {
	form := applicationForm{Name: c.PostForm("name"), RedirectURIs: c.PostForm("redirectUris"), HomeURL: c.PostForm("homeUrl")}
	uris := splitLines(form.RedirectURIs)
	if uris == nil {
		uris = []string{}
	}
	id := c.Param("application")
	app, err := s.accounts.UpdateApplication(c.Request.Context(), account(c), id,
		directory.ApplicationUpdate{Name: &form.Name, RedirectURIs: &uris, HomeURL: &form.HomeURL})
	if err == nil {
		return s.redirectWith(c, "/agent/applications/"+url.PathEscape(id), "Application modifiée", "Les adresses de l'application "+app.Name+" sont enregistrées.")
	}
	f, err := sortFormError(err, "", "name", "redirectUris", "homeUrl")
	if err != nil {
		return err
	}
	p, err := s.applicationPage(c)
	if err != nil {
		return err
	}
	p.Form = form
	return s.showFailed(c, "agent_application.tmpl", p, f)
}

func (s *Server) handleAddProfileForm(c *gin.Context) error {
	profile := strings.TrimSpace(c.PostForm("profile"))
	id := c.Param("application")
	var err error
	if profile == "" {
		err = invalidField("profile", "Indiquez le profil à ajouter.")
	} else {
		var app *directory.Application
		if app, err = s.accounts.AddProfile(c.Request.Context(), account(c), id, profile); err == nil {
			return s.redirectWith(c, "/agent/applications/"+url.PathEscape(id), "Profil ajouté", "Le profil "+profile+" est ajouté à l'application "+app.Name+".")
		}
	}
	err = refine(err, directory.ErrConflict, http.StatusConflict, "profile_exists", "Ce profil existe déjà pour cette application.")
	f, err := sortFormError(err, "profile", "profile")
	if err != nil {
		return err
	}
	p, err := s.applicationPage(c)
	if err != nil {
		return err
	}
	p.Profile = profile
	return s.showFailed(c, "agent_application.tmpl", p, f)
}
