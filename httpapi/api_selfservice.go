package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/httpapi/captcha"
)

const (
	captchaDigits = 6
	captchaTTL    = 10 * time.Minute
)

func (s *Server) registerSelfServiceRoutes(g *gin.RouterGroup, signedIn *gin.RouterGroup) {
	g.POST("/captcha", s.api(s.handleNewCaptcha))
	g.GET("/captcha/:file", s.api(s.handleCaptchaFile))
	g.POST("/password/forgot", s.api(s.handleForgot))
	g.POST("/password/forgot/:reset/verify", s.api(s.handleVerifyResetCode))
	g.POST("/password/reset", s.api(s.handleReset))

	signedIn.PATCH("/me", s.api(s.handleUpdateMe))
	signedIn.PUT("/me/password", s.api(s.handleChangePassword))
	signedIn.GET("/structures/:siret/directory", s.api(s.handleDirectory))
	signedIn.GET("/accounts/:identifier", s.api(s.handleAccountDetail))
}

func (s *Server) selfService() directory.SelfService { return s.cfg.SelfService }

// newCaptcha draws a challenge and keeps it in the directory, where every
// instance finds it; it counts in the client's captcha limit.
func (s *Server) newCaptcha(c *gin.Context) (string, error) {
	return s.selfService().NewCaptcha(c.Request.Context(), captcha.String(captcha.NewDigits(captchaDigits)), captchaTTL)
}

func (s *Server) handleNewCaptcha(c *gin.Context) error {
	id, err := s.newCaptcha(c)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"id": id})
	return nil
}

// handleCaptchaFile serves /captcha/{id}.png and /captcha/{id}.wav.
func (s *Server) handleCaptchaFile(c *gin.Context) error {
	file := c.Param("file")
	id, ext, ok := strings.Cut(file, ".")
	if !ok || (ext != "png" && ext != "wav") {
		return errNotFoundRoute
	}
	answer, err := s.selfService().CaptchaDigits(c.Request.Context(), id)
	if err != nil {
		return err
	}
	digits, err := captcha.ParseDigits(answer)
	if err != nil {
		return err
	}
	var data []byte
	contentType := "image/png"
	if ext == "png" {
		data, err = captcha.Image(digits, 240, 80)
	} else {
		data, err = captcha.Audio(digits)
		contentType = "audio/wav"
	}
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, contentType, data)
	return nil
}

type forgotRequest struct {
	Identifier    string `json:"identifier"`
	CaptchaID     string `json:"captchaId"`
	CaptchaAnswer string `json:"captchaAnswer"`
}

func (s *Server) handleForgot(c *gin.Context) error {
	var req forgotRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"identifier", req.Identifier}, [2]string{"captchaId", req.CaptchaID}, [2]string{"captchaAnswer", req.CaptchaAnswer}); err != nil {
		return err
	}
	reset, err := s.selfService().Forgot(c.Request.Context(), req.Identifier, req.CaptchaID, req.CaptchaAnswer)
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"reset": reset})
	return nil
}

type codeRequest struct {
	Code string `json:"code"`
}

func (s *Server) handleVerifyResetCode(c *gin.Context) error {
	var req codeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"code", req.Code}); err != nil {
		return err
	}
	token, err := s.selfService().VerifyCode(c.Request.Context(), c.Param("reset"), req.Code)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"token": token})
	return nil
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Server) handleReset(c *gin.Context) error {
	var req resetRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"token", req.Token}); err != nil {
		return err
	}
	if err := s.selfService().Reset(c.Request.Context(), req.Token, req.Password); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

type updateMeRequest struct {
	LastName  *string `json:"lastName"`
	FirstName *string `json:"firstName"`
	Email     *string `json:"email"`
	Mobile    *string `json:"mobile"`
	// CurrentPassword is required to change the mail or the mobile.
	CurrentPassword string `json:"currentPassword"`
}

// meView is the signed-in account with its own mobile, which only its owner sees.
type meView struct {
	accountView
	Mobile string `json:"mobile,omitempty"`
}

func (s *Server) handleUpdateMe(c *gin.Context) error {
	var req updateMeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := s.selfService().UpdateMe(c.Request.Context(), account(c), directory.PersonUpdate{
		FirstName: req.FirstName, LastName: req.LastName, Email: req.Email, Mobile: req.Mobile,
	}, req.CurrentPassword)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenByColleague)
		return refineCurrentPassword(err)
	}
	view, err := s.accountView(c, account(c), p)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, meView{accountView: view, Mobile: p.Mobile})
	return nil
}

type changePasswordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

func (s *Server) handleChangePassword(c *gin.Context) error {
	var req changePasswordRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"current", req.Current}, [2]string{"new", req.New}); err != nil {
		return err
	}
	if err := s.selfService().ChangePassword(c.Request.Context(), account(c), req.Current, req.New); err != nil {
		return refineCurrentPassword(err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// refineCurrentPassword answers a wrong current password as such: the
// person is signed in, so it is no sign-in failure (401).
func refineCurrentPassword(err error) error {
	return refine(err, directory.ErrInvalidCredentials, http.StatusUnprocessableEntity, "invalid_current_password", "Le mot de passe actuel est incorrect.")
}

// directoryEntry is an account in a consultation list: never a mobile.
type directoryEntry struct {
	Identifier string `json:"identifier"`
	FirstName  string `json:"firstName"`
	LastName   string `json:"lastName"`
	Email      string `json:"email"`
	Role       string `json:"role"`
	State      string `json:"state"`
	Service    string `json:"service,omitempty"`
}

type serviceCountView struct {
	Name     string `json:"name"`
	Accounts int    `json:"accounts"`
}

func (s *Server) handleDirectory(c *gin.Context) error {
	page, err := pageParam.read(c)
	if err != nil {
		return err
	}
	size, err := sizeParam.read(c)
	if err != nil {
		return err
	}
	d, err := s.consultation().Directory(c.Request.Context(), account(c), directory.DirectoryQuery{
		SIRET: directory.NormalizeSIRET(c.Param("siret")), Service: c.Query("service"), Query: c.Query("q"), Page: page, Size: size,
	})
	if err != nil {
		return err
	}
	services := make([]serviceCountView, len(d.Services))
	for i, sv := range d.Services {
		services[i] = serviceCountView{Name: sv.Name, Accounts: sv.Accounts}
	}
	accounts := make([]directoryEntry, len(d.Accounts))
	for i, p := range d.Accounts {
		accounts[i] = directoryEntry{Identifier: p.Identifier, FirstName: p.FirstName, LastName: p.LastName,
			Email: p.Email, Role: string(p.Role), State: string(p.State), Service: p.Service}
	}
	c.JSON(http.StatusOK, gin.H{"services": services, "accounts": accounts, "total": d.Total, "page": d.Page, "size": d.Size})
	return nil
}

// handleAccountDetail shows an account of one's structure: identifier,
// names, mail, role, service, state, habilitations; the mobile only to its owner.
func (s *Server) handleAccountDetail(c *gin.Context) error {
	actor := account(c)
	p, err := s.consultation().Account(c.Request.Context(), actor, c.Param("identifier"))
	if err != nil {
		return err
	}
	view, err := s.accountView(c, actor, p)
	if err != nil {
		return err
	}
	out := meView{accountView: view}
	if p.Identifier == actor.Identifier {
		out.Mobile = p.Mobile
	}
	c.JSON(http.StatusOK, struct {
		meView
		State string `json:"state"`
	}{out, string(p.State)})
	return nil
}
