package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// A new mail address waits for its confirmation (directory/mailchange.go):
// by the code mailed to it, typed on the personal data page while signed
// in, or by the link mailed to it, signed in or not, which also asks for
// the account's password when a manager set the address.

// The answers of a confirmation, which is no sign-in: its codes say so.
var (
	mailCodeInvalid  = "Code de confirmation incorrect."
	mailCodeExpired  = "Ce code de confirmation a expiré : saisissez à nouveau votre nouvelle adresse mail pour en recevoir un autre."
	mailCodeTooMany  = "Trop de codes erronés : confirmez la nouvelle adresse avec le lien reçu à cette adresse, ou saisissez-la à nouveau."
	mailNothingWaits = "Aucune nouvelle adresse mail n'attend de confirmation."
	mailLinkInvalid  = "Ce lien de confirmation n'est pas valide ou a déjà été utilisé."
	mailLinkExpired  = "Ce lien de confirmation a expiré : l'adresse mail du compte n'a pas changé."
	mailTaken        = "Cette adresse mail est désormais utilisée par un autre compte de la structure : elle ne peut pas devenir celle de ce compte."
)

// refineMailCode answers a confirmation's code errors as such (422), not
// as the sign-in's (401, « veuillez vous connecter »).
func refineMailCode(err error) error {
	err = refine(err, directory.ErrTooManyAttempts, http.StatusUnprocessableEntity, "too_many_attempts", mailCodeTooMany)
	err = refine(err, directory.ErrCodeExpired, http.StatusUnprocessableEntity, "code_expired", mailCodeExpired)
	err = refine(err, directory.ErrInvalidCode, http.StatusUnprocessableEntity, "invalid_code", mailCodeInvalid)
	err = refine(err, directory.ErrNotFound, http.StatusNotFound, "no_pending_email", mailNothingWaits)
	return refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", mailTaken)
}

func refineMailLink(err error) error {
	err = refine(err, directory.ErrInvalidToken, http.StatusNotFound, "invalid_link", mailLinkInvalid)
	err = refine(err, directory.ErrTokenExpired, http.StatusGone, "link_expired", mailLinkExpired)
	err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", mailTaken)
	return refine(err, directory.ErrInvalidCredentials, http.StatusUnprocessableEntity, "invalid_password", "Le mot de passe est incorrect.")
}

type confirmEmailRequest struct {
	Code string `json:"code"`
}

func (s *Server) handleConfirmEmail(c *gin.Context) error {
	var req confirmEmailRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"code", req.Code}); err != nil {
		return err
	}
	p, err := s.selfService.ConfirmEmail(c.Request.Context(), account(c), req.Code)
	if err != nil {
		return refineMailCode(err)
	}
	view, err := s.accountView(c, p, p)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newMeView(view, p))
	return nil
}

// mailChangeView is what the link of a confirmation shows before it is used.
type mailChangeView struct {
	Identifier    string    `json:"identifier"`
	Email         string    `json:"email"`
	ExpiresAt     time.Time `json:"expiresAt"`
	NeedsPassword bool      `json:"needsPassword"`
}

func (s *Server) handleGetMailChange(c *gin.Context) error {
	m, err := s.selfService.MailChange(c.Request.Context(), c.Param("token"))
	if err != nil {
		return refineMailLink(err)
	}
	c.JSON(http.StatusOK, mailChangeView{Identifier: m.Person.Identifier, Email: m.Email, ExpiresAt: m.ExpiresAt, NeedsPassword: m.NeedsPassword})
	return nil
}

type confirmMailLinkRequest struct {
	Password string `json:"password"`
}

func (s *Server) handleConfirmMailLink(c *gin.Context) error {
	var req confirmMailLinkRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if _, err := s.selfService.ConfirmEmailLink(c.Request.Context(), c.Param("token"), req.Password); err != nil {
		return refineMailLink(err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// pendingEmail is a new address waiting on the signed-in person's account,
// as the personal data page shows it.
type pendingEmail struct {
	Email     string
	Current   string
	ExpiresAt *time.Time
	// ByManager: one who manages the account set it; only the link, with
	// the account's password, confirms it.
	ByManager bool
	Errors    []string
}

func pendingEmailOf(p *directory.Person) *pendingEmail {
	if p == nil || p.PendingEmail == "" {
		return nil
	}
	return &pendingEmail{Email: p.PendingEmail, Current: p.Email, ExpiresAt: timeOrNil(p.PendingEmailExpires), ByManager: p.PendingEmailBy != ""}
}

// handleConfirmEmailForm confirms the waiting address with its code, from
// the personal data page.
func (s *Server) handleConfirmEmailForm(c *gin.Context) error {
	me := account(c)
	page := personalDataPage{base: s.base(c, "Gestion des données personnelles"), Data: currentPersonalData(me)}
	code := strings.TrimSpace(c.PostForm("code"))
	var err error
	if code == "" {
		err = &httpError{status: http.StatusUnprocessableEntity, code: "invalid_request", message: "Saisissez le code de confirmation reçu à votre nouvelle adresse mail.", err: directory.ErrInvalid}
	} else {
		var p *directory.Person
		if p, err = s.selfService.ConfirmEmail(c.Request.Context(), me, code); err == nil {
			c.Set(accountKey, p)
			page.base = s.base(c, "Adresse mail confirmée")
			page.Data = currentPersonalData(p)
			page.Notice = &notice{Kind: "success", Title: "Adresse mail confirmée",
				Message: "Votre adresse mail est désormais " + p.Email + ". Un mail a été envoyé à votre ancienne adresse et un autre à la nouvelle."}
			s.renderPersonalData(c, http.StatusOK, page)
			return nil
		}
	}
	kind, _ := classify(refineMailCode(err))
	if kind == internalError {
		return err
	}
	page.Pending = pendingEmailOf(me)
	if page.Pending == nil { // spent meanwhile, or expired
		page.Notice = &notice{Kind: "error", Title: "Erreur", Message: kind.message}
	} else {
		page.Pending.Errors = []string{kind.message}
		page.Notice = &notice{Kind: "error", Title: "Erreur", Message: kind.message}
	}
	s.renderPersonalData(c, kind.status, page)
	return nil
}

type mailLinkPage struct {
	base
	Notice     *notice
	Action     string // "" once used, or when the link cannot be
	Identifier string
	Email      string
	ExpiresAt  *time.Time
	// Password asks for the account's password (a manager set the
	// address), with its errors.
	Password       bool
	PasswordErrors []string
	Done           bool
}

func (s *Server) renderMailLink(c *gin.Context, status int, page mailLinkPage) {
	noStore(c)
	s.render(c, status, "adresse_confirmer.tmpl", page)
}

// mailLinkUnusable renders a link that cannot confirm (unknown, spent,
// expired); other errors are the caller's.
func (s *Server) mailLinkUnusable(c *gin.Context, page mailLinkPage, err error) bool {
	kind, _ := classify(refineMailLink(err))
	if !errors.Is(err, directory.ErrInvalidToken) && !errors.Is(err, directory.ErrTokenExpired) {
		return false
	}
	page.Title, page.Action = "Confirmation impossible", ""
	page.Notice = &notice{Kind: "error", Title: "Lien inutilisable", Message: kind.message}
	s.renderMailLink(c, kind.status, page)
	return true
}

// handleMailLinkPage shows what the link confirms, changing nothing: mail
// scanners open links.
func (s *Server) handleMailLinkPage(c *gin.Context) error {
	page := mailLinkPage{base: s.base(c, "Confirmer une nouvelle adresse mail"), Action: c.Request.URL.Path}
	m, err := s.selfService.MailChange(c.Request.Context(), c.Param("token"))
	if err != nil {
		if s.mailLinkUnusable(c, page, err) {
			return nil
		}
		return err
	}
	page.Identifier, page.Email, page.ExpiresAt, page.Password = m.Person.Identifier, m.Email, timeOrNil(m.ExpiresAt), m.NeedsPassword
	s.renderMailLink(c, http.StatusOK, page)
	return nil
}

// handleMailLinkForm confirms the address (« Confirmer cette adresse mail »).
func (s *Server) handleMailLinkForm(c *gin.Context) error {
	page := mailLinkPage{base: s.base(c, "Confirmer une nouvelle adresse mail"), Action: c.Request.URL.Path}
	ctx := c.Request.Context()
	token := c.Param("token")
	m, err := s.selfService.MailChange(ctx, token)
	if err != nil {
		if s.mailLinkUnusable(c, page, err) {
			return nil
		}
		return err
	}
	page.Identifier, page.Email, page.ExpiresAt, page.Password = m.Person.Identifier, m.Email, timeOrNil(m.ExpiresAt), m.NeedsPassword
	p, err := s.selfService.ConfirmEmailLink(ctx, token, c.PostForm("password"))
	var ie *directory.InvalidError
	switch {
	case err == nil:
		if me := account(c); me != nil && me.Identifier == p.Identifier {
			c.Set(accountKey, p)
			page.base = s.base(c, page.Title)
		}
		page.Title, page.Action, page.Done = "Adresse mail confirmée", "", true
		s.renderMailLink(c, http.StatusOK, page)
		return nil
	case s.mailLinkUnusable(c, page, err):
		return nil
	case errors.As(err, &ie):
		page.PasswordErrors = []string{ie.Problems[0].Message}
	case errors.Is(err, directory.ErrInvalidCredentials):
		page.PasswordErrors = []string{"Le mot de passe est incorrect."}
	case errors.Is(err, directory.ErrConflict), errors.Is(err, directory.ErrAccountLocked), errors.Is(err, directory.ErrRateLimited):
		kind, _ := classify(refineMailLink(err))
		page.Notice = &notice{Kind: "error", Title: "Erreur", Message: kind.message}
		s.renderMailLink(c, kind.status, page)
		return nil
	default:
		return err
	}
	page.Notice = formNotice(formErrors{"password": page.PasswordErrors})
	s.renderMailLink(c, http.StatusUnprocessableEntity, page)
	return nil
}
