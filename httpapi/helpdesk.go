package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The helpdesk (directory/workflow_helpdesk.go), for those who manage an
// account and for agents: the account at a glance, unlocking it, a
// renewal link mailed to it, a correction of its mail (waiting for its
// owner's confirmation), the cancellation of an invitation.

// statusView is an account at a glance.
type statusView struct {
	Identifier string `json:"identifier"`
	State      string `json:"state"`
	Locked     bool   `json:"locked"`
	// LockedUntil is when the last lockout ends; absent when none holds, or
	// when one holds with no end (lockedForever).
	LockedUntil   *time.Time `json:"lockedUntil,omitempty"`
	LockedForever bool       `json:"lockedForever,omitempty"`
	// PolicyLockedUntil: ppolicy's lock (binds by DGFiP applications too);
	// SignInLockedUntil, SignInKnownLockedUntil: the espace's sign-in
	// lockout of the identifier, from unknown and from known addresses.
	PolicyLockedUntil      *time.Time `json:"policyLockedUntil,omitempty"`
	SignInLockedUntil      *time.Time `json:"signInLockedUntil,omitempty"`
	SignInKnownLockedUntil *time.Time `json:"signInKnownLockedUntil,omitempty"`
	LastSignIn             *time.Time `json:"lastSignIn,omitempty"`
	PasswordChangedAt      *time.Time `json:"passwordChangedAt,omitempty"`
	PendingEmail           string     `json:"pendingEmail,omitempty"`
	PendingEmailExpires    *time.Time `json:"pendingEmailExpires,omitempty"`
}

func newStatusView(st *directory.AccountStatus) statusView {
	p := st.Person
	return statusView{
		Identifier: p.Identifier, State: string(p.State), Locked: st.Locked(),
		LockedUntil: timeOrNil(st.LockedUntil()), LockedForever: st.PolicyLockedForever,
		PolicyLockedUntil: timeOrNil(st.PolicyLockedUntil), SignInLockedUntil: timeOrNil(st.SignInLockedUntil),
		SignInKnownLockedUntil: timeOrNil(st.SignInKnownLockedUntil),
		LastSignIn:             timeOrNil(p.LastSignIn), PasswordChangedAt: timeOrNil(p.PasswordChangedAt),
		PendingEmail: p.PendingEmail, PendingEmailExpires: timeOrNil(p.PendingEmailExpires),
	}
}

func (s *Server) handleAccountStatus(c *gin.Context) error {
	st, err := s.accounts.Status(c.Request.Context(), account(c), c.Param("identifier"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newStatusView(st))
	return nil
}

func (s *Server) handleUnlock(c *gin.Context) error {
	st, err := s.accounts.Unlock(c.Request.Context(), account(c), c.Param("identifier"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newStatusView(st))
	return nil
}

// notActive answers a helpdesk action on an account that is not active.
func notActive(err error) error {
	return refine(err, directory.ErrConflict, http.StatusConflict, "account_not_active", "Ce compte n'est pas actif.")
}

func (s *Server) handleSendRenewalLink(c *gin.Context) error {
	if err := s.accounts.SendRenewalLink(c.Request.Context(), account(c), c.Param("identifier")); err != nil {
		return notActive(err)
	}
	c.Status(http.StatusAccepted)
	return nil
}

type correctEmailRequest struct {
	Email string `json:"email"`
}

func (s *Server) handleCorrectEmail(c *gin.Context) error {
	var req correctEmailRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"email", req.Email}); err != nil {
		return err
	}
	actor := account(c)
	target, err := s.accounts.Status(c.Request.Context(), actor, c.Param("identifier"))
	if err != nil {
		return err
	}
	p, err := s.accounts.CorrectEmail(c.Request.Context(), actor, c.Param("identifier"), req.Email)
	if err != nil {
		if target.Person.State != directory.StateActive {
			return notActive(err)
		}
		return refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
	}
	c.JSON(http.StatusAccepted, newPersonView(p))
	return nil
}

func (s *Server) handleCancelInvitation(c *gin.Context) error {
	if err := s.accounts.CancelInvitation(c.Request.Context(), account(c), c.Param("id")); err != nil {
		return refine(err, directory.ErrConflict, http.StatusConflict, "already_submitted", "Le formulaire de pré-création a déjà été rempli : la demande attend sa validation.")
	}
	c.Status(http.StatusNoContent)
	return nil
}

// helpdeskPanel is what the account's page shows of the helpdesk.
type helpdeskPanel struct {
	Status        statusView
	CanRenew      bool // active: a renewal link, a correction of its mail
	PendingByThem bool // the pending address was set by a manager
}

func (s *Server) helpdeskPanel(c *gin.Context, identifier string) (*helpdeskPanel, error) {
	st, err := s.accounts.Status(c.Request.Context(), account(c), identifier)
	if err != nil {
		return nil, err
	}
	return &helpdeskPanel{Status: newStatusView(st), CanRenew: st.Person.State == directory.StateActive, PendingByThem: st.Person.PendingEmailBy != ""}, nil
}

func (s *Server) handleUnlockForm(c *gin.Context) error {
	st, err := s.accounts.Unlock(c.Request.Context(), account(c), c.Param("identifier"))
	if err != nil {
		return s.accountFailed(c, err)
	}
	return s.redirectWith(c, s.accountURL(st.Person.Identifier), "Compte débloqué",
		"Le compte de "+st.Person.FirstName+" "+st.Person.LastName+" est débloqué : il peut de nouveau se connecter, ici comme aux applications de la DGFiP.")
}

func (s *Server) handleRenewalLinkForm(c *gin.Context) error {
	identifier := c.Param("identifier")
	if err := s.accounts.SendRenewalLink(c.Request.Context(), account(c), identifier); err != nil {
		return s.accountFailed(c, notActive(err))
	}
	return s.redirectWith(c, s.accountURL(identifier), "Lien envoyé",
		"Un lien de renouvellement du mot de passe a été envoyé à l'adresse mail du compte : la personne choisit elle-même son nouveau mot de passe.")
}

func (s *Server) handleCorrectEmailForm(c *gin.Context) error {
	identifier := c.Param("identifier")
	email := strings.TrimSpace(c.PostForm("email"))
	if email == "" {
		return s.accountFailed(c, invalidField("email", "Saisissez la nouvelle adresse mail du compte."), "email")
	}
	p, err := s.accounts.CorrectEmail(c.Request.Context(), account(c), identifier, email)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure+" Saisissez-en une autre.")
		f, err := sortFormError(err, "email", "email")
		if err != nil {
			return err
		}
		p, err := s.accountPage(c)
		if err != nil {
			return err
		}
		return s.showFailed(c, "gestion_compte.tmpl", p, f)
	}
	return s.redirectWith(c, s.accountURL(identifier), "Adresse mail en attente de confirmation",
		"Un lien de confirmation a été envoyé à "+p.PendingEmail+", et l'adresse actuelle du compte en est informée. La nouvelle adresse ne remplacera l'actuelle qu'une fois confirmée par la personne, avec son mot de passe.")
}

func (s *Server) handleCancelInvitationForm(c *gin.Context) error {
	return s.invitationForm(c, s.accounts.CancelInvitation,
		"Invitation annulée", "L'invitation est annulée : son lien ne fonctionne plus, et son adresse mail peut être invitée de nouveau.")
}
