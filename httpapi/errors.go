package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/httpapi/oidc"
)

// Errors of the HTTP layer itself.
var (
	errNotFoundRoute    = errors.New("no such route")
	errMethodNotAllowed = errors.New("method not allowed")
	errBadRequest       = errors.New("malformed request")
	errUnauthenticated  = errors.New("not signed in")
	errBadCSRF          = errors.New("bad csrf token")
	errMediaType        = errors.New("not json")
	errMultipart        = errors.New("multipart body where no file is taken")
	errTooLarge         = errors.New("body too large")
)

// apiError is the body of every API error.
type apiError struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []errorDetail `json:"details,omitempty"`
}

type errorDetail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// errorKind is how one kind of error is answered: status, stable code, French message.
type errorKind struct {
	err     error
	status  int
	code    string
	message string
}

// errorKinds is the one table from errors to answers, most specific first.
// Anything not in it is an internal error: logged in full, answered "Erreur interne".
var errorKinds = []errorKind{
	{errBadRequest, http.StatusBadRequest, "bad_request", "La requête est mal formée."},
	{errMultipart, http.StatusUnsupportedMediaType, "unsupported_media_type", "Ce formulaire n'accepte pas de fichier."},
	{errTooLarge, http.StatusRequestEntityTooLarge, "request_too_large", "Le formulaire envoyé est trop volumineux."},
	{errMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type", "Le corps de la requête doit être du JSON (Content-Type: application/json)."},
	{errNotFoundRoute, http.StatusNotFound, "not_found", "Cette page n'existe pas."},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "Cette méthode n'est pas permise ici."},
	{errUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Veuillez vous connecter."},
	{errBadCSRF, http.StatusForbidden, "csrf_failed", "Le formulaire a expiré : veuillez le soumettre à nouveau."},
	{oidc.ErrUnknownClient, http.StatusBadRequest, "invalid_client", "Cette application n'est pas déclarée auprès de Mon espace APEX Partenaires : la connexion ne peut pas se faire."},
	{oidc.ErrRedirectURI, http.StatusBadRequest, "invalid_redirect_uri", "L'adresse de retour demandée par l'application n'est pas enregistrée : la connexion ne peut pas se faire. Signalez-le à l'équipe de l'application."},
	{oidc.ErrEndSession, http.StatusBadRequest, "invalid_request", "Cette demande de déconnexion de l'application n'est pas valable."},
	{directory.ErrPasswordInHistory, http.StatusUnprocessableEntity, "password_in_history", "Mot de passe déjà utilisé parmi les 10 derniers."},
	{directory.ErrPasswordPolicy, http.StatusUnprocessableEntity, "invalid_password", "Le mot de passe ne respecte pas les règles."},
	{directory.ErrInvalid, http.StatusUnprocessableEntity, "invalid_request", "Certaines informations sont invalides."},
	{directory.ErrAccountLocked, http.StatusLocked, "account_locked", "Votre compte est temporairement bloqué après plusieurs essais infructueux. Réessayez dans 15 minutes ou renouvelez votre mot de passe."},
	{directory.ErrInvalidCredentials, http.StatusUnauthorized, "invalid_credentials", "Identifiant ou mot de passe incorrect."},
	{directory.ErrTooManyAttempts, http.StatusUnauthorized, "too_many_attempts", "Trop de codes erronés : veuillez vous connecter à nouveau."},
	{directory.ErrCodeExpired, http.StatusUnauthorized, "code_expired", "Ce code de vérification a expiré : veuillez vous connecter à nouveau."},
	{directory.ErrInvalidCode, http.StatusUnauthorized, "invalid_code", "Code de vérification incorrect."},
	{directory.ErrInvalidToken, http.StatusNotFound, "invalid_link", "Ce lien n'est pas valide ou a déjà été utilisé."},
	{directory.ErrTokenExpired, http.StatusGone, "link_expired", "Ce lien a expiré : demandez-en un nouveau à la personne qui a créé votre compte."},
	{directory.ErrInvalidCaptcha, http.StatusUnprocessableEntity, "invalid_captcha", "Les caractères saisis ne correspondent pas à l'image : essayez avec une nouvelle image."},
	{directory.ErrAlreadyDecided, http.StatusConflict, "already_decided", "Cette demande a déjà été traitée."},
	{directory.ErrReviewClosed, http.StatusConflict, "review_closed", "Cette revue est close : sa date limite est passée."},
	{directory.ErrBulkRunning, http.StatusConflict, "bulk_running", "Une invitation à partir d'un fichier est déjà en cours dans cette structure : réessayez quand elle sera terminée."},
	{directory.ErrSessionExpired, http.StatusUnauthorized, "unauthenticated", "Votre session a expiré : veuillez vous connecter."},
	{directory.ErrForbidden, http.StatusForbidden, "forbidden", "Vous n'avez pas le droit de faire cela."},
	{directory.ErrNotFound, http.StatusNotFound, "not_found", "Introuvable."},
	{directory.ErrConflict, http.StatusConflict, "conflict", "Cette opération est en conflit avec l'état de l'annuaire."},
	{directory.ErrUnavailable, http.StatusServiceUnavailable, "directory_unavailable", "L'annuaire est momentanément indisponible. Veuillez réessayer dans quelques instants."},
	{directory.ErrMailUnavailable, http.StatusServiceUnavailable, "mail_unavailable", "L'envoi des courriels est momentanément impossible. Veuillez réessayer dans quelques instants."},
}

var internalError = errorKind{status: http.StatusInternalServerError, code: "internal_error", message: "Erreur interne. Veuillez réessayer plus tard."}

// classify finds how to answer err, and the problems to list with it.
func classify(err error) (errorKind, []errorDetail) {
	var details []errorDetail
	var ie *directory.InvalidError
	if errors.As(err, &ie) {
		for _, p := range ie.Problems {
			details = append(details, errorDetail{Field: p.Field, Message: p.Message})
		}
	}
	var le *directory.LimitError
	if errors.As(err, &le) && le.Lockout() {
		return errorKind{err: directory.ErrAccountLocked, status: http.StatusLocked, code: "account_locked", message: lockedMessage(le.RetryAfter)}, nil
	}
	if errors.As(err, &le) {
		return errorKind{err: directory.ErrRateLimited, status: http.StatusTooManyRequests, code: "too_many_requests", message: tooManyMessage(le.RetryAfter)}, nil
	}
	var he *httpError
	if errors.As(err, &he) {
		return errorKind{err: he, status: he.status, code: he.code, message: he.message}, details
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k, details
		}
	}
	return internalError, nil
}

// tooManyMessage tells, in whole minutes, when to try again.
func tooManyMessage(wait time.Duration) string {
	return "Trop de tentatives. Réessayez dans " + inMinutes(wait) + "."
}

// lockedMessage is the sign-in's lockout, which ends when the window does.
func lockedMessage(wait time.Duration) string {
	return "Votre compte est temporairement bloqué après plusieurs essais infructueux. Réessayez dans " +
		inMinutes(wait) + " ou renouvelez votre mot de passe."
}

// inMinutes is wait in whole minutes, rounded up: « 1 minute », « 15 minutes ».
func inMinutes(wait time.Duration) string {
	minutes := int((wait + time.Minute - 1) / time.Minute)
	if minutes <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", minutes)
}

// noteLimit gives an answer over an abuse limit its Retry-After header (in
// seconds) and counts it in the metrics; other errors pass.
func (s *Server) noteLimit(c *gin.Context, err error) {
	var le *directory.LimitError
	if errors.As(err, &le) {
		c.Header("Retry-After", strconv.Itoa(int(le.RetryAfter/time.Second)))
		s.metrics.limited.WithLabelValues(le.Limit).Inc()
	}
}

func (s *Server) logError(c *gin.Context, kind errorKind, err error) {
	if kind.status >= 500 {
		s.log.Error("request failed", "route", c.FullPath(), "code", kind.code, "error", err.Error())
	}
}

func (s *Server) writeAPIError(c *gin.Context, err error) {
	s.noteLimit(c, err)
	kind, details := classify(err)
	s.logError(c, kind, err)
	c.AbortWithStatusJSON(kind.status, gin.H{"error": apiError{Code: kind.code, Message: kind.message, Details: details}})
}

func (s *Server) writePageError(c *gin.Context, err error) {
	s.noteLimit(c, err)
	kind, _ := classify(err)
	s.logError(c, kind, err)
	if errors.Is(err, errUnauthenticated) || errors.Is(err, directory.ErrSessionExpired) {
		s.clearSessionCookie(c)
		c.Redirect(http.StatusSeeOther, "/connexion")
		c.Abort()
		return
	}
	title, advice := "Erreur", ""
	switch {
	case kind.status == http.StatusNotFound:
		title = "Page non trouvée"
	case kind.status == http.StatusServiceUnavailable:
		title = "Service indisponible"
	case errors.Is(err, directory.ErrForbidden):
		title, advice = "Accès refusé", forbiddenAdvice(account(c))
	}
	s.render(c, kind.status, "error.tmpl", errorPage{base: s.base(c, title), Status: kind.status, Message: kind.message, Advice: advice})
	c.Abort()
}

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

// refine turns err into a precise answer when it is target.
func refine(err, target error, status int, code, message string) error {
	if errors.Is(err, target) {
		return &httpError{status: status, code: code, message: message, err: err}
	}
	return err
}

// What email_taken says: a mail is unique within a structure (or among
// agents), so a conflict tells only about the structure the caller acts in.
const (
	emailTakenInStructure = "Cette adresse mail est déjà utilisée dans cette structure."
	emailTakenByColleague = "Cette adresse mail est déjà utilisée par un autre compte de votre structure."
)

var (
	errOtherStructure = &httpError{http.StatusForbidden, "forbidden",
		"Vous ne pouvez consulter que les comptes et les services de votre structure.", directory.ErrForbidden}
	errNoStructure = &httpError{http.StatusNotFound, "not_found",
		"Aucune structure de l'annuaire ne porte ce SIRET.", directory.ErrNotFound}
	errNoAccount = &httpError{http.StatusNotFound, "not_found",
		"Ce compte n'existe pas dans l'annuaire.", directory.ErrNotFound}
)

// forbiddenAdvice tells a person refused a page whom to ask for the right
// they lack: the one who manages their account.
func forbiddenAdvice(p *directory.Person) string {
	if p == nil {
		return ""
	}
	switch p.Role {
	case directory.RoleCollaborateur:
		return "Cette page ou cette action est réservée à ceux qui gèrent les comptes concernés. Si vous en avez besoin, adressez-vous au responsable de votre service ou à l'administrateur de votre structure."
	case directory.RoleResponsable:
		return "Cette page ou cette action sort du périmètre de votre service. Si vous en avez besoin, adressez-vous à l'administrateur de votre structure."
	case directory.RoleAdministrateur:
		return "Cette page ou cette action sort du périmètre de votre structure, ou est réservée aux agents de la DGFiP. Si vous en avez besoin, adressez-vous à votre interlocuteur à la DGFiP."
	case directory.RoleAgent:
		return "Cette page ou cette action ne relève pas du back office. Si vous en avez besoin, adressez-vous à l'assistance informatique de la DGFiP."
	}
	return ""
}
