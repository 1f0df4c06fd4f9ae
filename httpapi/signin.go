package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// Signing in and out (guide « Se connecter »): the identifier and the
// password, then the code mailed, which opens a session (directory.SignIn).
// The API answers with the challenge and the token; the pages keep them in
// cookies.

type loginRequest struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
}

type challengeResponse struct {
	Challenge string `json:"challenge"`
}

func (s *Server) handleAPILogin(c *gin.Context) error {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"identifier", req.Identifier}, [2]string{"password", req.Password}); err != nil {
		return err
	}
	challenge, err := s.signIn.Login(c.Request.Context(), req.Identifier, req.Password)
	s.metrics.signIn("password", err)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, challengeResponse{Challenge: challenge})
	return nil
}

type verifyRequest struct {
	Challenge string `json:"challenge"`
	Code      string `json:"code"`
}

type verifyResponse struct {
	Account accountView `json:"account"`
	Token   string      `json:"token"`
}

func (s *Server) handleAPIVerify(c *gin.Context) error {
	var req verifyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"challenge", req.Challenge}, [2]string{"code", req.Code}); err != nil {
		return err
	}
	p, token, err := s.signIn.Verify(c.Request.Context(), req.Challenge, req.Code)
	s.metrics.signIn("code", err)
	if err != nil {
		return err
	}
	view, err := s.accountView(c, p, p)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token)
	c.JSON(http.StatusOK, verifyResponse{Account: view, Token: token})
	return nil
}

type resendRequest struct {
	Challenge string `json:"challenge"`
}

func (s *Server) handleAPIResend(c *gin.Context) error {
	var req resendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"challenge", req.Challenge}); err != nil {
		return err
	}
	if err := s.signIn.Resend(c.Request.Context(), req.Challenge); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, challengeResponse{Challenge: req.Challenge})
	return nil
}

func (s *Server) handleAPILogout(c *gin.Context) error {
	if err := s.signIn.EndSession(c.Request.Context(), sessionToken(c)); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	c.Status(http.StatusNoContent)
	return nil
}

type loginPage struct {
	base
	Identifier string
	Notice     *notice
}

func (s *Server) handleLoginPage(c *gin.Context) error {
	// A person signed in signs in again when an application asks
	// (prompt=login, max_age).
	if account(c) != nil && s.pendingOIDC(c) == "" {
		c.Redirect(http.StatusSeeOther, "/")
		return nil
	}
	s.render(c, http.StatusOK, "login.tmpl", loginPage{base: s.base(c, "Connexion")})
	return nil
}

func (s *Server) handleLoginForm(c *gin.Context) error {
	identifier := strings.TrimSpace(c.PostForm("identifier"))
	password := c.PostForm("password")
	page := loginPage{base: s.base(c, "Connexion"), Identifier: identifier}
	if identifier == "" || password == "" {
		page.Notice = &notice{Kind: "error", Title: "Erreur", Message: "Saisissez votre identifiant et votre mot de passe."}
		s.render(c, http.StatusUnprocessableEntity, "login.tmpl", page)
		return nil
	}
	challenge, err := s.signIn.Login(c.Request.Context(), identifier, password)
	s.metrics.signIn("password", err)
	if err != nil {
		kind, _ := classify(err)
		if kind.status >= 500 {
			return err
		}
		s.noteLimit(c, err)
		page.Notice = errorNotice(err)
		s.render(c, kind.status, "login.tmpl", page)
		return nil
	}
	s.setCookie(c, challengeCookie, challenge, "/connexion", 3600, http.SameSiteStrictMode)
	c.Redirect(http.StatusSeeOther, "/connexion/verification")
	return nil
}

type verifyPage struct {
	base
	Notice  *notice
	Restart bool // the challenge is spent: only a new sign-in helps
}

func (s *Server) handleVerifyPage(c *gin.Context) error {
	if _, err := s.cookie(c, challengeCookie); err != nil {
		c.Redirect(http.StatusSeeOther, "/connexion")
		return nil
	}
	s.allowReturnToApplication(c)
	s.render(c, http.StatusOK, "verify.tmpl", verifyPage{base: s.base(c, "Code de vérification")})
	return nil
}

func (s *Server) handleVerifyForm(c *gin.Context) error {
	challenge, err := s.cookie(c, challengeCookie)
	if err != nil {
		c.Redirect(http.StatusSeeOther, "/connexion")
		return nil
	}
	code := strings.TrimSpace(c.PostForm("code"))
	_, token, err := s.signIn.Verify(c.Request.Context(), challenge, code)
	s.metrics.signIn("code", err)
	if err != nil {
		kind, _ := classify(err)
		if kind.status >= 500 {
			return err
		}
		s.noteLimit(c, err)
		// A code lives as long as its challenge: once expired, only a new
		// sign-in gives one.
		restart := errors.Is(err, directory.ErrTooManyAttempts) || errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, directory.ErrCodeExpired)
		s.allowReturnToApplication(c)
		s.render(c, kind.status, "verify.tmpl", verifyPage{base: s.base(c, "Code de vérification"), Notice: errorNotice(err), Restart: restart})
		return nil
	}
	s.setCookie(c, challengeCookie, "", "/connexion", -1, http.SameSiteStrictMode)
	s.setSessionCookie(c, token)
	c.Redirect(http.StatusSeeOther, s.afterSignIn(c))
	return nil
}

func (s *Server) handleResendForm(c *gin.Context) error {
	challenge, err := s.cookie(c, challengeCookie)
	if err != nil {
		c.Redirect(http.StatusSeeOther, "/connexion")
		return nil
	}
	page := verifyPage{base: s.base(c, "Code de vérification")}
	status := http.StatusOK
	if err := s.signIn.Resend(c.Request.Context(), challenge); err != nil {
		kind, _ := classify(err)
		if kind.status >= 500 {
			return err
		}
		s.noteLimit(c, err)
		status = kind.status
		page.Notice = errorNotice(err)
		page.Restart = errors.Is(err, directory.ErrTooManyAttempts) || errors.Is(err, directory.ErrInvalidCode) || errors.Is(err, directory.ErrCodeExpired)
	} else {
		page.Notice = &notice{Kind: "success", Title: "Code envoyé", Message: "Un nouveau code de vérification vous a été envoyé par mail."}
	}
	s.allowReturnToApplication(c)
	s.render(c, status, "verify.tmpl", page)
	return nil
}

func (s *Server) handleLogoutForm(c *gin.Context) error {
	if err := s.signIn.EndSession(c.Request.Context(), sessionToken(c)); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/connexion")
	return nil
}
