package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/httpapi/captcha"
)

// The forgotten password (guide section 5, « Renouveler son mot de passe »):
// a captcha and the identifier, then a code by SMS or a link by mail, then
// the new password (directory.SelfService).

const (
	captchaDigits = 6
	captchaTTL    = 10 * time.Minute
)

const (
	resetCookie      = "apex_reset"       // the reset id, between the request and the SMS code
	resetTokenCookie = "apex_reset_token" // the token given for a right SMS code, until the new password
	resetCookiePath  = "/mot-de-passe"
	resetCookieAge   = 3600 // seconds: the longest a code or a link lives
)

// newCaptcha draws a challenge and keeps it in the directory, where every
// instance finds it; it counts in the client's captcha limit.
func (s *Server) newCaptcha(c *gin.Context) (string, error) {
	return s.selfService.NewCaptcha(c.Request.Context(), captcha.String(captcha.NewDigits(captchaDigits)), captchaTTL)
}

func (s *Server) handleNewCaptcha(c *gin.Context) error {
	id, err := s.newCaptcha(c)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"id": id})
	return nil
}

// The captcha's size on its page, in CSS pixels (motdepasse_oublie.tmpl's
// img); its PNG is drawn at twice that, sharp on the screens of phones,
// which have 2 or 3 pixels to a CSS pixel.
const captchaWidth, captchaHeight = 240, 80

// handleCaptchaFile serves /captcha/{id}.png and /captcha/{id}.wav.
func (s *Server) handleCaptchaFile(c *gin.Context) error {
	file := c.Param("file")
	id, ext, ok := strings.Cut(file, ".")
	if !ok || (ext != "png" && ext != "wav") {
		return errNotFoundRoute
	}
	answer, err := s.selfService.CaptchaDigits(c.Request.Context(), id)
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
		data, err = captcha.Image(digits, 2*captchaWidth, 2*captchaHeight)
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
	reset, err := s.selfService.Forgot(c.Request.Context(), req.Identifier, req.CaptchaID, req.CaptchaAnswer)
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"reset": reset})
	return nil
}

type forgotPage struct {
	base
	Notice     *notice
	Identifier string
	Answer     string
	CaptchaID  string
	Errors     formErrors
}

func (s *Server) renderForgot(c *gin.Context, status int, page forgotPage) error {
	if page.CaptchaID == "" {
		id, err := s.newCaptcha(c)
		if err != nil {
			return err
		}
		page.CaptchaID = id
	}
	noStore(c)
	s.render(c, status, "motdepasse_oublie.tmpl", page)
	return nil
}

func (s *Server) handleForgotPage(c *gin.Context) error {
	return s.renderForgot(c, http.StatusOK, forgotPage{base: s.base(c, "Mot de passe oublié"), Errors: formErrors{}})
}

// handleForgotForm sends the request (« Envoyer code de sécurité ») or
// draws a new captcha (« Afficher une nouvelle image »).
func (s *Server) handleForgotForm(c *gin.Context) error {
	page := forgotPage{
		base:       s.base(c, "Mot de passe oublié"),
		Identifier: strings.TrimSpace(c.PostForm("identifier")),
		Answer:     strings.TrimSpace(c.PostForm("captcha")),
		Errors:     formErrors{},
	}
	if utf8.RuneCountInString(page.Identifier) > 128 { // no identifier is that long
		page.Identifier = string([]rune(page.Identifier)[:128])
	}
	if c.PostForm("nouvelle-image") != "" {
		page.Answer = ""
		page.Notice = &notice{Kind: "info", Title: "Nouvelle image", Message: "Une nouvelle image a été affichée : saisissez ses 6 chiffres."}
		return s.renderForgot(c, http.StatusOK, page)
	}
	captchaID := c.PostForm("captcha-id")
	if page.Identifier == "" {
		page.Errors.add("identifier", "Saisissez votre identifiant.")
	}
	if page.Answer == "" {
		page.Errors.add("captcha", "Saisissez les 6 chiffres de l'image.")
	}
	if len(page.Errors) > 0 {
		// The captcha was not tried: it stays.
		if _, err := s.selfService.CaptchaDigits(c.Request.Context(), captchaID); err == nil {
			page.CaptchaID = captchaID
		}
		page.Notice = formNotice(page.Errors)
		return s.renderForgot(c, http.StatusUnprocessableEntity, page)
	}
	reset, err := s.selfService.Forgot(c.Request.Context(), page.Identifier, captchaID, page.Answer)
	if errors.Is(err, directory.ErrInvalidCaptcha) {
		page.Answer = ""
		page.Errors.add("captcha", "Les caractères saisis ne correspondent pas à l'image. Saisissez ceux de la nouvelle image ci-dessous.")
		page.Notice = formNotice(page.Errors)
		return s.renderForgot(c, http.StatusUnprocessableEntity, page)
	}
	if err != nil {
		return err
	}
	s.setCookie(c, resetTokenCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
	s.setCookie(c, resetCookie, reset, resetCookiePath, resetCookieAge, http.SameSiteStrictMode)
	c.Redirect(http.StatusSeeOther, "/mot-de-passe/code")
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
	token, err := s.selfService.VerifyCode(c.Request.Context(), c.Param("reset"), req.Code)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"token": token})
	return nil
}

// resetCodePage is the page after a request: the same for every identifier.
type resetCodePage struct {
	base
	Notice  *notice
	Pending bool // a request of this browser waits for its code; otherwise only a new request helps
	Errors  formErrors
}

func (s *Server) handleResetCodePage(c *gin.Context) error {
	noStore(c)
	page := resetCodePage{base: s.base(c, "Code de sécurité"), Errors: formErrors{}}
	if reset, _ := s.cookie(c, resetCookie); reset != "" {
		page.Pending = true
	} else {
		page.Notice = &notice{Kind: "info", Title: "Aucune demande en cours", Message: "Aucune demande de renouvellement de mot de passe n'est en cours sur ce navigateur."}
	}
	s.render(c, http.StatusOK, "motdepasse_code.tmpl", page)
	return nil
}

// handleResetCodeForm checks the SMS code (« Valider le code de sécurité
// saisi ») and leads to the new password.
func (s *Server) handleResetCodeForm(c *gin.Context) error {
	noStore(c)
	page := resetCodePage{base: s.base(c, "Code de sécurité"), Errors: formErrors{}}
	reset, _ := s.cookie(c, resetCookie)
	if reset == "" {
		page.Notice = &notice{Kind: "error", Title: "Demande expirée", Message: "Votre demande de renouvellement n'est plus valable : faites une nouvelle demande."}
		s.render(c, http.StatusUnauthorized, "motdepasse_code.tmpl", page)
		return nil
	}
	page.Pending = true
	code := strings.Join(strings.Fields(c.PostForm("code")), "")
	if code == "" {
		page.Errors.add("code", "Saisissez le code de sécurité reçu par SMS.")
		page.Notice = formNotice(page.Errors)
		s.render(c, http.StatusUnprocessableEntity, "motdepasse_code.tmpl", page)
		return nil
	}
	token, err := s.selfService.VerifyCode(c.Request.Context(), reset, code)
	switch {
	case err == nil:
		s.setCookie(c, resetCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
		s.setCookie(c, resetTokenCookie, token, resetCookiePath, resetCookieAge, http.SameSiteStrictMode)
		c.Redirect(http.StatusSeeOther, "/mot-de-passe/renouveler")
		return nil
	case errors.Is(err, directory.ErrInvalidCode):
		// Wrong, too old (10 minutes) or out of tries (5) get one answer:
		// telling them apart would tell which identifiers exist.
		page.Errors.add("code", "Le code de sécurité saisi est incorrect ou n'est plus valable (10 minutes, 5 essais). Vérifiez le SMS reçu, ou faites une nouvelle demande.")
		page.Notice = formNotice(page.Errors)
		s.render(c, http.StatusUnauthorized, "motdepasse_code.tmpl", page)
		return nil
	}
	return err
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
	if err := s.selfService.Reset(c.Request.Context(), req.Token, req.Password); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) newRenewPage(c *gin.Context, action string) passwordPage {
	return passwordPage{
		base:    s.base(c, "Nouveau mot de passe"),
		Heading: "Choisir un nouveau mot de passe",
		Intro:   "Saisissez votre nouveau mot de passe, puis confirmez-le.",
		Action:  action,
		Button:  "Valider le nouveau mot de passe",
		Rules:   passwordRules(),
		Errors:  formErrors{},
	}
}

// resetToken is the renewal's token: the mail's link, or the cookie given
// for the right SMS code; and the path its form posts to.
func (s *Server) resetToken(c *gin.Context) (token, action string) {
	if t := c.Param("token"); t != "" {
		return t, "/mot-de-passe/renouveler/" + url.PathEscape(t)
	}
	t, _ := s.cookie(c, resetTokenCookie)
	return t, "/mot-de-passe/renouveler"
}

// renderUnusableToken shows why a renewal cannot go on, and how to start over.
func (s *Server) renderUnusableToken(c *gin.Context, page passwordPage, err error) error {
	page.Action = ""
	var status int
	switch {
	case err == nil: // no token at all
		status = http.StatusOK
		page.Notice = &notice{Kind: "info", Title: "Aucune demande en cours", Message: "Aucun renouvellement de mot de passe n'est en cours sur ce navigateur."}
	case errors.Is(err, directory.ErrTokenExpired):
		status = http.StatusGone
		page.Notice = &notice{Kind: "error", Title: "Lien expiré", Message: "Ce lien de renouvellement a expiré : faites une nouvelle demande de renouvellement de mot de passe."}
	case errors.Is(err, directory.ErrInvalidToken):
		status = http.StatusNotFound
		page.Notice = &notice{Kind: "error", Title: "Lien invalide", Message: "Ce lien de renouvellement n'est pas valide ou a déjà été utilisé : faites une nouvelle demande de renouvellement de mot de passe."}
	default:
		return err
	}
	if c.Param("token") == "" {
		s.setCookie(c, resetTokenCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
	}
	page.Title = "Renouvellement impossible"
	page.Heading = "Renouvellement du mot de passe"
	page.Intro = ""
	s.render(c, status, "motdepasse_nouveau.tmpl", page)
	return nil
}

// handleRenewPage shows the new password form, changing nothing: mail
// scanners open links.
func (s *Server) handleRenewPage(c *gin.Context) error {
	noStore(c)
	token, action := s.resetToken(c)
	page := s.newRenewPage(c, action)
	if token == "" {
		return s.renderUnusableToken(c, page, nil)
	}
	if err := s.selfService.CheckToken(c.Request.Context(), token); err != nil {
		return s.renderUnusableToken(c, page, err)
	}
	s.render(c, http.StatusOK, "motdepasse_nouveau.tmpl", page)
	return nil
}

// handleRenewForm sets the new password (« Valider le nouveau mot de passe »).
func (s *Server) handleRenewForm(c *gin.Context) error {
	noStore(c)
	token, action := s.resetToken(c)
	page := s.newRenewPage(c, action)
	if token == "" {
		return s.renderUnusableToken(c, page, nil)
	}
	ctx := c.Request.Context()
	next, confirmation := c.PostForm("password"), c.PostForm("confirmation")
	checkNewPassword(page.Errors, next, confirmation)
	if len(page.Errors) > 0 {
		// A dead link says so before the form's mistakes; Reset checks the
		// token itself otherwise.
		if err := s.selfService.CheckToken(ctx, token); err != nil {
			return s.renderUnusableToken(c, page, err)
		}
	} else {
		err := s.selfService.Reset(ctx, token, next)
		switch {
		case err == nil:
			if c.Param("token") == "" {
				s.setCookie(c, resetTokenCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
			}
			page.Title = "Mot de passe renouvelé"
			page.Heading = "Votre mot de passe a été renouvelé"
			page.Intro = "Vous pouvez vous connecter avec votre identifiant et votre nouveau mot de passe. Un mail de confirmation vous a été envoyé."
			page.Done, page.Action = true, ""
			page.Back, page.BackTo = "/connexion", "Retour à la page d'authentification"
			s.render(c, http.StatusOK, "motdepasse_nouveau.tmpl", page)
			return nil
		case errors.Is(err, directory.ErrInvalidToken), errors.Is(err, directory.ErrTokenExpired):
			return s.renderUnusableToken(c, page, err)
		case !passwordErrors(page.Errors, err):
			return err
		}
	}
	page.Notice = formNotice(page.Errors)
	s.render(c, http.StatusUnprocessableEntity, "motdepasse_nouveau.tmpl", page)
	return nil
}
