package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

func (s *Server) registerPageRoutes(e *gin.Engine) {
	g := e.Group("", s.authenticate)
	g.GET("/connexion", s.page(s.handleLoginPage))
	g.POST("/connexion", s.checkCSRF, s.page(s.handleLoginForm))
	g.GET("/connexion/verification", s.page(s.handleVerifyPage))
	g.POST("/connexion/verification", s.checkCSRF, s.page(s.handleVerifyForm))
	g.POST("/connexion/renvoyer", s.checkCSRF, s.page(s.handleResendForm))
	signedIn := g.Group("", s.requireAccount)
	signedIn.GET("/", s.page(s.handleHome))
	signedIn.POST("/deconnexion", s.checkCSRF, s.page(s.handleLogoutForm))
	s.registerLifecyclePages(g, signedIn)
	s.registerSelfServicePages(g, signedIn)
	s.registerHistoryPages(signedIn)
}

// notice is a message shown at the top of a form: an error or a success.
type notice struct {
	Kind    string // "error", "success" or "info" (DSFR alert types)
	Title   string
	Message string
}

func errorNotice(err error) *notice {
	kind, _ := classify(err)
	return &notice{Kind: "error", Title: "Erreur", Message: kind.message}
}

type loginPage struct {
	base
	Identifier string
	Notice     *notice
}

func (s *Server) handleLoginPage(c *gin.Context) error {
	if account(c) != nil {
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
		s.render(c, kind.status, "verify.tmpl", verifyPage{base: s.base(c, "Code de vérification"), Notice: errorNotice(err), Restart: restart})
		return nil
	}
	s.setCookie(c, challengeCookie, "", "/connexion", -1, http.SameSiteStrictMode)
	s.setSessionCookie(c, token)
	c.Redirect(http.StatusSeeOther, "/")
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
	s.render(c, status, "verify.tmpl", page)
	return nil
}

type homePage struct {
	base
	View      accountView
	Functions []homeLink // the role's functions, from the guide
}

// homeLink is an entry of a home screen; Href is empty until its page exists.
type homeLink struct {
	Label string
	Href  string
}

// homeLinks gives the page of each home screen entry, by its label. The
// files that build those pages fill it in their init.
var homeLinks = map[string]string{}

// roleFunctions are the entries of each role's home screen, as the guide lists them.
var roleFunctions = map[directory.Role][]string{
	directory.RoleAdministrateur: {"Gestion des comptes responsables et collaborateurs", "Gestion des services", "Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleResponsable:    {"Gestion des comptes collaborateurs", "Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleCollaborateur:  {"Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleAgent:          {"Création des structures", "Validation des comptes administrateurs", "Habilitation des administrateurs aux applications", "Gestion des données personnelles"},
}

func (s *Server) handleHome(c *gin.Context) error {
	p := account(c)
	view, err := s.accountView(c, p, p)
	if err != nil {
		return err
	}
	var links []homeLink
	for _, label := range roleFunctions[p.Role] {
		links = append(links, homeLink{Label: label, Href: homeLinks[label]})
	}
	s.render(c, http.StatusOK, "home.tmpl", homePage{base: s.base(c, "Accueil"), View: view, Functions: links})
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
