package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// httpError is an answer a handler chooses itself, when the same domain
// error means something more precise at that place (a conflict on creating
// a structure is "structure_exists").
type httpError struct {
	status  int
	code    string
	message string
	err     error
}

func (e *httpError) Error() string { return e.code + ": " + e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// What email_taken says: a mail is unique within a structure (or among
// agents), so a conflict tells only about the structure the caller acts in.
const (
	emailTakenInStructure = "Cette adresse mail est déjà utilisée dans cette structure."
	emailTakenByColleague = "Cette adresse mail est déjà utilisée par un autre compte de votre structure."
)

// refine turns err into a precise answer when it is target.
func refine(err, target error, status int, code, message string) error {
	if errors.Is(err, target) {
		return &httpError{status: status, code: code, message: message, err: err}
	}
	return err
}

func (s *Server) registerLifecycleRoutes(g *gin.RouterGroup, signedIn *gin.RouterGroup) {
	g.GET("/invitations/:token", s.api(s.handleGetInvitation))
	g.POST("/invitations/:token", s.api(s.handleSubmitInvitation))

	signedIn.GET("/structures", s.api(s.handleListStructures))
	signedIn.POST("/structures", s.api(s.handleCreateStructure))
	signedIn.GET("/structures/:siret/services", s.api(s.handleListServices))
	signedIn.POST("/structures/:siret/services", s.api(s.handleCreateService))
	signedIn.PATCH("/structures/:siret/services/:service", s.api(s.handleRenameService))
	signedIn.DELETE("/structures/:siret/services/:service", s.api(s.handleDeleteService))
	signedIn.POST("/structures/:siret/invitations", s.api(s.handleInvite))
	signedIn.GET("/requests", s.api(s.handleListRequests))
	signedIn.POST("/requests/:id/approve", s.api(s.handleApprove))
	signedIn.POST("/requests/:id/refuse", s.api(s.handleRefuse))
	signedIn.POST("/requests/:id/resend", s.api(s.handleResendInvitation))
	signedIn.GET("/applications", s.api(s.handleListApplications))
	signedIn.POST("/applications", s.api(s.handleCreateApplication))
	signedIn.GET("/accounts", s.api(s.handleListManaged))
	signedIn.POST("/accounts/:identifier/disable", s.api(s.handleSetEnabled(false)))
	signedIn.POST("/accounts/:identifier/enable", s.api(s.handleSetEnabled(true)))
	signedIn.PATCH("/accounts/:identifier", s.api(s.handleMoveAccount))
	signedIn.DELETE("/accounts/:identifier", s.api(s.handleRemoveAccount))
	signedIn.PUT("/accounts/:identifier/habilitations/:application/:profile", s.api(s.handleGrant))
	signedIn.DELETE("/accounts/:identifier/habilitations/:application/:profile", s.api(s.handleRevoke))
}

// personView is an account as its managers see it: never its mobile.
type personView struct {
	Identifier    string             `json:"identifier,omitempty"`
	RequestID     string             `json:"requestId"`
	FirstName     string             `json:"firstName"`
	LastName      string             `json:"lastName"`
	Email         string             `json:"email"`
	Role          string             `json:"role"`
	State         string             `json:"state"`
	SIRET         string             `json:"siret,omitempty"`
	Service       string             `json:"service,omitempty"`
	RequestedBy   string             `json:"requestedBy,omitempty"`
	RequestedAt   *time.Time         `json:"requestedAt,omitempty"`
	DecidedBy     string             `json:"decidedBy,omitempty"`
	DecidedAt     *time.Time         `json:"decidedAt,omitempty"`
	RefusalReason string             `json:"refusalReason,omitempty"`
	Habilitations []habilitationView `json:"habilitations"`
}

func newPersonView(p *directory.Person) personView {
	v := personView{
		Identifier: p.Identifier, RequestID: p.RequestID, FirstName: p.FirstName, LastName: p.LastName,
		Email: p.Email, Role: string(p.Role), State: string(p.State), SIRET: p.SIRET, Service: p.Service,
		RequestedBy: p.RequestedBy, DecidedBy: p.DecidedBy, RefusalReason: p.RefusalReason,
		Habilitations: []habilitationView{},
	}
	if !p.RequestedAt.IsZero() {
		v.RequestedAt = &p.RequestedAt
	}
	if !p.DecidedAt.IsZero() {
		v.DecidedAt = &p.DecidedAt
	}
	for _, h := range p.Habilitations {
		v.Habilitations = append(v.Habilitations, habilitationView{Application: h.Application, ApplicationName: h.Application, Profile: h.Profile})
	}
	return v
}

func personViews(ps []directory.Person) []personView {
	out := make([]personView, len(ps))
	for i := range ps {
		out[i] = newPersonView(&ps[i])
	}
	return out
}

func (s *Server) accounts() directory.Accounts { return s.cfg.Accounts }

type structureRequest struct {
	SIRET    string `json:"siret"`
	Name     string `json:"name"`
	Category string `json:"category"`
}

func (s *Server) handleCreateStructure(c *gin.Context) error {
	var req structureRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	st, err := s.accounts().CreateStructure(c.Request.Context(), account(c),
		directory.Structure{SIRET: req.SIRET, Name: req.Name, Category: req.Category})
	if err != nil {
		if onlyField(err, "siret") {
			return &httpError{http.StatusUnprocessableEntity, "invalid_siret", "Le SIRET n'est pas valide.", err}
		}
		return refine(err, directory.ErrConflict, http.StatusConflict, "structure_exists", "Une structure de ce SIRET existe déjà.")
	}
	c.JSON(http.StatusCreated, structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category})
	return nil
}

// onlyField reports whether err lists problems on field only.
func onlyField(err error, field string) bool {
	var ie *directory.InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) == 0 {
		return false
	}
	for _, p := range ie.Problems {
		if p.Field != field {
			return false
		}
	}
	return true
}

func (s *Server) handleListStructures(c *gin.Context) error {
	all, err := s.consultation().Structures(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	var out []structureView
	for _, st := range all {
		out = append(out, structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category})
	}
	c.JSON(http.StatusOK, gin.H{"structures": out})
	return nil
}

type serviceView struct {
	Name string `json:"name"`
}

func (s *Server) handleListServices(c *gin.Context) error {
	services, err := s.consultation().Services(c.Request.Context(), account(c), c.Param("siret"))
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
	err := s.accounts().CreateService(c.Request.Context(), account(c), c.Param("siret"), req.Name)
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
	err := s.accounts().RenameService(c.Request.Context(), account(c), c.Param("siret"), c.Param("service"), req.Name)
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "service_exists", "Un service de ce nom existe déjà dans la structure.")
	}
	c.JSON(http.StatusOK, serviceView{Name: req.Name})
	return nil
}

func (s *Server) handleDeleteService(c *gin.Context) error {
	err := s.accounts().DeleteService(c.Request.Context(), account(c), c.Param("siret"), c.Param("service"))
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "service_not_empty", "Le service a encore des comptes : déplacez-les ou supprimez-les d'abord.")
	}
	c.Status(http.StatusNoContent)
	return nil
}

type inviteRequest struct {
	Email   string `json:"email"`
	Role    string `json:"role"`
	Service string `json:"service"`
}

func (s *Server) handleInvite(c *gin.Context) error {
	var req inviteRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	inv, err := s.accounts().Invite(c.Request.Context(), account(c), directory.NewInvitation{
		Email: req.Email, Role: directory.Role(req.Role), SIRET: c.Param("siret"), Service: req.Service,
	})
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
	}
	c.JSON(http.StatusCreated, gin.H{"id": inv.Person.RequestID})
	return nil
}

// invitationView is what the pre-creation form shows of its invitation.
type invitationView struct {
	Email     string         `json:"email"`
	Role      string         `json:"role"`
	Structure *structureView `json:"structure"`
	Service   string         `json:"service,omitempty"`
	Services  []string       `json:"services,omitempty"` // the choices, for responsables and collaborateurs
}

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
	form, err := s.accounts().Invitation(c.Request.Context(), c.Param("token"))
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
	_, err := s.accounts().SubmitInvitation(c.Request.Context(), c.Param("token"), directory.PreCreation{
		FirstName: req.FirstName, LastName: req.LastName, Mobile: req.Mobile, Service: req.Service, Password: req.Password,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "submitted"})
	return nil
}

func (s *Server) handleListRequests(c *gin.Context) error {
	list, err := s.accounts().Requests(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"requests": personViews(list)})
	return nil
}

func (s *Server) handleApprove(c *gin.Context) error {
	p, err := s.accounts().Approve(c.Request.Context(), account(c), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"identifier": p.Identifier})
	return nil
}

type refuseRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) handleRefuse(c *gin.Context) error {
	var req refuseRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := s.accounts().Refuse(c.Request.Context(), account(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newPersonView(p))
	return nil
}

func (s *Server) handleResendInvitation(c *gin.Context) error {
	if err := s.accounts().ResendInvitation(c.Request.Context(), account(c), c.Param("id")); err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "already_submitted", "Le formulaire de pré-création a déjà été rempli.")
	}
	c.Status(http.StatusAccepted)
	return nil
}

type applicationView struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Profiles []string `json:"profiles"`
}

func (s *Server) handleListApplications(c *gin.Context) error {
	apps, err := s.consultation().Applications(c.Request.Context(), account(c))
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
	app, err := s.accounts().CreateApplication(c.Request.Context(), account(c), directory.Application{ID: req.ID, Name: req.Name, Profiles: req.Profiles})
	if err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "application_exists", "Une application de cet identifiant existe déjà.")
	}
	c.JSON(http.StatusCreated, applicationView{ID: app.ID, Name: app.Name, Profiles: app.Profiles})
	return nil
}

func (s *Server) handleListManaged(c *gin.Context) error {
	list, err := s.accounts().Managed(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"accounts": personViews(list)})
	return nil
}

func (s *Server) handleSetEnabled(enabled bool) handlerFunc {
	return func(c *gin.Context) error {
		p, err := s.accounts().SetEnabled(c.Request.Context(), account(c), c.Param("identifier"), enabled)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, newPersonView(p))
		return nil
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
	p, err := s.accounts().Move(c.Request.Context(), account(c), c.Param("identifier"), req.Service)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newPersonView(p))
	return nil
}

func (s *Server) handleRemoveAccount(c *gin.Context) error {
	if err := s.accounts().Remove(c.Request.Context(), account(c), c.Param("identifier")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) handleGrant(c *gin.Context) error {
	if err := s.accounts().Grant(c.Request.Context(), account(c), c.Param("identifier"), c.Param("application"), c.Param("profile")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) handleRevoke(c *gin.Context) error {
	if err := s.accounts().Revoke(c.Request.Context(), account(c), c.Param("identifier"), c.Param("application"), c.Param("profile")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
