package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The audit trail's face: an account's history, for the administrators of
// its structure and for agents (directory.CanSeeHistory), as the API's
// GET /accounts/{identifier}/history and the page
// /gestion/comptes/{identifier}/historique.

type historyEventView struct {
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorRole string    `json:"actorRole,omitempty"`
	Action    string    `json:"action"`
	Detail    string    `json:"detail,omitempty"`
	Source    string    `json:"source"`
	Outcome   string    `json:"outcome"`
}

func (s *Server) handleAccountHistory(c *gin.Context) error {
	p, events, err := s.accounts.History(c.Request.Context(), account(c), c.Param("identifier"))
	if err != nil {
		return err
	}
	out := make([]historyEventView, len(events))
	for i, e := range events {
		out[i] = historyEventView{At: e.At, Actor: e.Actor, ActorRole: string(e.ActorRole), Action: string(e.Action), Detail: e.Detail, Source: e.Source, Outcome: e.Outcome}
	}
	c.JSON(http.StatusOK, gin.H{"identifier": p.Identifier, "events": out})
	return nil
}

type historyRow struct {
	At      string // Paris time
	Actor   string
	Role    string
	Action  string
	Source  string
	Outcome string
	Success bool
}

type historyPage struct {
	base
	Person personView
	Back   string
	Rows   []historyRow
	Cap    int
}

func (s *Server) handleHistoryPage(c *gin.Context) error {
	noStore(c)
	p, events, err := s.accounts.History(c.Request.Context(), account(c), c.Param("identifier"))
	if errors.Is(err, directory.ErrNotFound) {
		return errNoAccount
	}
	if err != nil {
		return err
	}
	page := historyPage{
		base:   s.base(c, "Historique du compte de "+personName(newPersonView(p))),
		Person: newPersonView(p),
		Back:   "/consultation/compte/" + url.PathEscape(p.Identifier),
		Cap:    directory.HistoryCap,
	}
	if directory.CanManage(account(c), p) {
		page.Back = s.accountURL(url.PathEscape(p.Identifier))
	}
	names, err := s.applicationNames(c, account(c))
	if err != nil {
		return err
	}
	for _, e := range events {
		row := historyRow{
			At: parisTime(&e.At), Actor: e.Actor, Action: actionLabel(e, names), Source: e.Source,
			Outcome: outcomeLabel(e.Outcome), Success: e.Outcome == directory.OutcomeSuccess,
		}
		if job, ok := strings.CutPrefix(e.Source, "apexd:"); ok && e.Actor == "" {
			row.Actor, row.Source = "APEX Partenaires", "tâche planifiée ("+job+")"
		}
		if e.ActorRole != "" {
			row.Role = roleLabel(string(e.ActorRole))
		}
		page.Rows = append(page.Rows, row)
	}
	s.render(c, http.StatusOK, "gestion_historique.tmpl", page)
	return nil
}

// actionLabel says in French what an event did, applications by their names.
func actionLabel(e directory.Event, names applicationNames) string {
	habilitationLabel := func(key string) string {
		app, profile, _ := strings.Cut(key, "/")
		return names.of(app) + ", profil " + profile
	}
	switch e.Action {
	case directory.ActionInvite:
		return "Pré-création du compte (" + roleLabel(e.Detail) + ")"
	case directory.ActionResendInvitation:
		return "Nouvel envoi du lien de création"
	case directory.ActionApprove:
		return "Validation du compte"
	case directory.ActionRefuse:
		return "Refus de la demande de compte"
	case directory.ActionDisable:
		return "Désactivation du compte"
	case directory.ActionEnable:
		return "Réactivation du compte"
	case directory.ActionMove:
		return "Déplacement dans le service " + e.Detail
	case directory.ActionRemove:
		return "Suppression du compte"
	case directory.ActionGrant:
		what, day, _ := strings.Cut(e.Detail, " ")
		if day != "" {
			return "Habilitation : " + habilitationLabel(what) + " (fin le " + dayLabel(day) + ")"
		}
		return "Habilitation : " + habilitationLabel(what)
	case directory.ActionSetHabilitationEnd:
		what, day, _ := strings.Cut(e.Detail, " ")
		if day == "" {
			return "Date de fin d'habilitation retirée : " + habilitationLabel(what)
		}
		return "Date de fin d'habilitation : " + habilitationLabel(what) + ", le " + dayLabel(day)
	case directory.ActionSetEndDate:
		if e.Detail == "" {
			return "Date de fin du compte retirée"
		}
		return "Date de fin du compte : " + dayLabel(e.Detail)
	case directory.ActionDormancyWarning:
		return "Avertissement d'inactivité : désactivation prévue le " + dayLabel(e.Detail)
	case directory.ActionDormancyDisable:
		return "Désactivation pour inactivité (dernière utilisation le " + dayLabel(e.Detail) + ")"
	case directory.ActionEndWarning:
		what, day, _ := strings.Cut(e.Detail, " ")
		if what == "account" {
			return "Avertissement : fin du compte le " + dayLabel(day)
		}
		return "Avertissement : fin de l'habilitation " + habilitationLabel(what) + " le " + dayLabel(day)
	case directory.ActionEndAccount:
		return "Désactivation à la date de fin du compte"
	case directory.ActionEndHabilitation:
		return "Retrait d'habilitation à sa date de fin : " + habilitationLabel(e.Detail)
	case directory.ActionInvitationReminder:
		return "Rappel de la création du compte, avec un nouveau lien"
	case directory.ActionUnlock:
		return "Déblocage du compte"
	case directory.ActionSendRenewalLink:
		return "Envoi d'un lien de renouvellement du mot de passe"
	case directory.ActionCorrectEmail:
		return "Correction de l'adresse mail, en attente de confirmation"
	case directory.ActionConfirmEmail:
		if e.Detail == "link" {
			return "Confirmation de la nouvelle adresse mail, par le lien reçu"
		}
		return "Confirmation de la nouvelle adresse mail, par le code reçu"
	case directory.ActionCancelInvitation:
		return "Annulation de l'invitation"
	case directory.ActionRevoke:
		return "Retrait d'habilitation : " + habilitationLabel(e.Detail)
	case directory.ActionResetPassword:
		return "Renouvellement du mot de passe oublié"
	case directory.ActionChangePassword:
		return "Changement du mot de passe"
	case directory.ActionUpdatePersonal:
		var fields []string
		for _, f := range strings.Split(e.Detail, ",") {
			if l, ok := personalFieldLabels[f]; ok {
				fields = append(fields, l)
			}
		}
		if len(fields) == 0 {
			return "Modification des données personnelles"
		}
		return "Modification des données personnelles : " + strings.Join(fields, ", ")
	}
	return string(e.Action)
}

var personalFieldLabels = map[string]string{
	"firstName": "prénom", "lastName": "nom", "email": "adresse mail", "mobile": "numéro de téléphone portable",
	"pendingEmail": "nouvelle adresse mail, en attente de confirmation",
}

// outcomeLabel says in French how an attempt ended.
func outcomeLabel(outcome string) string {
	switch outcome {
	case directory.OutcomeSuccess:
		return "Effectué"
	case directory.OutcomeRefused:
		return "Refusé"
	case "invalid_credentials":
		return "Échec : mot de passe actuel incorrect"
	case "password_in_history", "invalid_password":
		return "Échec : mot de passe non conforme"
	case "already_decided":
		return "Échec : demande déjà traitée"
	case "invalid", "not_found", "conflict":
		return "Échec : demande invalide"
	}
	return "Échec"
}
