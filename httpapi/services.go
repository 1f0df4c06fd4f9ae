package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The services of a structure, which its administrators create, rename and
// delete (« Gestion des services »).

type serviceView struct {
	Name string `json:"name"`
}

func (s *Server) handleListServices(c *gin.Context) error {
	services, err := s.consultation.Services(c.Request.Context(), account(c), c.Param("siret"))
	if err != nil {
		return err
	}
	out := make([]serviceView, len(services))
	for i, sv := range services {
		out[i] = serviceView{Name: sv.Name}
	}
	c.JSON(http.StatusOK, gin.H{"services": out})
	return nil
}

type serviceRequest struct {
	Name string `json:"name"`
}

func (s *Server) handleCreateService(c *gin.Context) error {
	var req serviceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	err := s.accounts.CreateService(c.Request.Context(), account(c), c.Param("siret"), req.Name)
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
	}
	c.JSON(http.StatusCreated, serviceView{Name: req.Name})
	return nil
}

func (s *Server) handleRenameService(c *gin.Context) error {
	var req serviceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	err := s.accounts.RenameService(c.Request.Context(), account(c), c.Param("siret"), c.Param("service"), req.Name)
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
	}
	c.JSON(http.StatusOK, serviceView{Name: req.Name})
	return nil
}

func (s *Server) handleDeleteService(c *gin.Context) error {
	err := s.accounts.DeleteService(c.Request.Context(), account(c), c.Param("siret"), c.Param("service"))
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "service_not_empty", "Le service a encore des comptes : déplacez-les ou supprimez-les d'abord.")
	}
	c.Status(http.StatusNoContent)
	return nil
}

type servicesPage struct {
	base
	formState
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
	services, err := s.consultation.Services(c.Request.Context(), actor, actor.SIRET)
	if err != nil {
		return nil, err
	}
	p := &servicesPage{base: s.base(c, "Gestion des services"), formState: formState{Errors: formErrors{}}, Renames: map[string]string{}}
	for _, sv := range services {
		p.Services = append(p.Services, sv.Name)
	}
	return p, nil
}

func (s *Server) handleServicesPage(c *gin.Context) error {
	p, err := s.servicesPage(c)
	return s.showPage(c, "gestion_services.tmpl", p, err)
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
	// The name's problems go beside the form that failed.
	problems := formErrors{}
	for k, v := range f.errors {
		if k == "name" && field != "" {
			k = field
		}
		problems[k] = append(problems[k], v...)
	}
	f.errors = problems
	set(p)
	return s.showFailed(c, "gestion_services.tmpl", p, f)
}

func (s *Server) handleCreateServiceForm(c *gin.Context) error {
	actor := account(c)
	name := strings.TrimSpace(c.PostForm("name"))
	err := s.accounts.CreateService(c.Request.Context(), actor, actor.SIRET, name)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
		return s.servicesFailed(c, err, "name", func(p *servicesPage) { p.NewName = name })
	}
	return s.redirectWith(c, "/gestion/services", "Service créé", "Le service "+name+" est créé.")
}

func (s *Server) handleRenameServiceForm(c *gin.Context) error {
	actor := account(c)
	service, name := c.PostForm("service"), strings.TrimSpace(c.PostForm("name"))
	err := s.accounts.RenameService(c.Request.Context(), actor, actor.SIRET, service, name)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
		return s.servicesFailed(c, err, "rename:"+service, func(p *servicesPage) { p.Renames[service] = name; p.Failed = service })
	}
	return s.redirectWith(c, "/gestion/services", "Service renommé", "Le service "+service+" s'appelle maintenant "+name+".")
}

func (s *Server) handleDeleteServiceForm(c *gin.Context) error {
	actor := account(c)
	service := c.PostForm("service")
	err := s.accounts.DeleteService(c.Request.Context(), actor, actor.SIRET, service)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "service_not_empty",
			"Le service "+service+" a encore des comptes : déplacez-les ou supprimez-les d'abord.")
		return s.servicesFailed(c, err, "", func(p *servicesPage) { p.Failed = service })
	}
	return s.redirectWith(c, "/gestion/services", "Service supprimé", "Le service "+service+" est supprimé.")
}
