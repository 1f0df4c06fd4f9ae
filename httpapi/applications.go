package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The DGFiP applications and their profiles, which agents declare.

type applicationView struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Profiles []string `json:"profiles"`
}

func (s *Server) handleListApplications(c *gin.Context) error {
	apps, err := s.consultation.Applications(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	out := make([]applicationView, len(apps))
	for i, a := range apps {
		out[i] = applicationView{ID: a.ID, Name: a.Name, Profiles: a.Profiles}
	}
	c.JSON(http.StatusOK, gin.H{"applications": out})
	return nil
}

func (s *Server) handleCreateApplication(c *gin.Context) error {
	var req applicationView
	if err := decode(c, &req); err != nil {
		return err
	}
	app, err := s.accounts.CreateApplication(c.Request.Context(), account(c), directory.Application{ID: req.ID, Name: req.Name, Profiles: req.Profiles})
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "application_exists", "Une application de cet identifiant existe déjà.")
	}
	c.JSON(http.StatusCreated, applicationView{ID: app.ID, Name: app.Name, Profiles: app.Profiles})
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
	for _, a := range apps {
		p.Applications = append(p.Applications, applicationView{ID: a.ID, Name: a.Name, Profiles: a.Profiles})
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
	form := applicationForm{ID: strings.TrimSpace(c.PostForm("id")), Name: strings.TrimSpace(c.PostForm("name")), Profiles: c.PostForm("profiles")}
	profiles := splitProfiles(form.Profiles)
	var err error
	if len(profiles) == 0 {
		err = invalidField("profiles", "Indiquez au moins un profil.")
	} else {
		var app *directory.Application
		app, err = s.accounts.CreateApplication(c.Request.Context(), account(c), directory.Application{ID: form.ID, Name: form.Name, Profiles: profiles})
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
	p.Form = form
	return s.showFailed(c, "agent_applications.tmpl", p, f)
}
