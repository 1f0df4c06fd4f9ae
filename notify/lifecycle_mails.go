package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The mails of an account's lifecycle (directory.LifecycleNotifier): the
// invitation, the decision on the request, a new habilitation.

// InvitationData is the data of the pre-creation mail (guide 1.1 to 1.3):
// the link to the form where the person completes their account.
type InvitationData struct {
	Role          string    // administrateur, responsable or collaborateur
	StructureName string    // the structure's name
	SIRET         string    // the structure's SIRET
	Service       string    // the service of a responsable or collaborateur; may be empty
	PublicURL     string    // the service's address, base of the link; required
	Token         string    // the invitation's token, the last segment of the link
	ExpiresAt     time.Time // when the link stops working
}

// Link is the address of the pre-creation form: PublicURL/creation/Token.
func (d InvitationData) Link() string {
	return strings.TrimRight(d.PublicURL, "/") + "/creation/" + url.PathEscape(d.Token)
}

// Expires is ExpiresAt in French, Paris time: « 4 décembre 2026 à 15:04 ».
func (d InvitationData) Expires() string { return frenchDateTime(d.ExpiresAt) }

// Invitation renders the pre-creation mail for the address to.
func (Mails) Invitation(to string, d InvitationData) (Message, error) {
	var problems []string
	switch d.Role {
	case "administrateur", "responsable", "collaborateur":
	default:
		problems = append(problems, fmt.Sprintf("role %q", d.Role))
	}
	if strings.TrimSpace(d.StructureName) == "" || strings.TrimSpace(d.SIRET) == "" {
		problems = append(problems, "no structure")
	}
	if strings.TrimSpace(d.Token) == "" {
		problems = append(problems, "no token")
	}
	if d.ExpiresAt.IsZero() {
		problems = append(problems, "no expiry")
	}
	return invitation.render(to, d, checkLinkURL(problems, d.PublicURL))
}

// ApprovedData is the data of the mail that gives a validated account its
// identifier (guide 1.3, étape 6).
type ApprovedData struct {
	FirstName  string // greets the person; may be empty
	Identifier string // the sign-in identifier, prenom.nom-px
	PublicURL  string // the service's address; the sign-in page is shown when set
}

// SignInURL is the sign-in page: PublicURL/connexion.
func (d ApprovedData) SignInURL() string { return strings.TrimRight(d.PublicURL, "/") + "/connexion" }

// Approved renders the mail of a validated account for the address to.
func (Mails) Approved(to string, d ApprovedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	return approved.render(to, d, checkPublicURL(problems, d.PublicURL))
}

// RefusedData is the data of the mail of a refused account request.
type RefusedData struct {
	FirstName string // greets the person; may be empty
	Role      string // the account's role: an administrator turns to the DGFiP, others to their structure's administrator
	Reason    string // why, as the person who decided wrote it; line breaks are kept
}

// ReasonLines is Reason split at its line breaks.
func (d RefusedData) ReasonLines() []string {
	return strings.Split(strings.ReplaceAll(strings.TrimSpace(d.Reason), "\r\n", "\n"), "\n")
}

// Refused renders the mail of a refused request for the address to.
func (Mails) Refused(to string, d RefusedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Reason) == "" {
		problems = append(problems, "no reason")
	}
	return refused.render(to, d, problems)
}

// HabilitatedData is the data of the mail telling an account it was given
// a profile of a DGFiP application (guide 2).
type HabilitatedData struct {
	FirstName       string // greets the person; may be empty
	Identifier      string // the account's identifier, which the application takes
	Role            string // the account's role; may be empty
	Service         string // the account's service; may be empty
	ApplicationName string // e.g. FICOBA
	Profile         string // e.g. consultation
	// GrantedBy names who gave it, as managerName writes it (« Jean
	// Durand (administrateur de votre structure) »); empty: the DGFiP.
	GrantedBy string
}

// RoleLabel is the account's role, and its service: « collaborateur du
// service Comptabilité ».
func (d HabilitatedData) RoleLabel() string {
	role := d.Role
	if role == "responsable" {
		role = "responsable de service"
	}
	if role != "" && d.Service != "" && d.Role != "administrateur" && d.Role != "agent" {
		return role + " du service " + d.Service
	}
	return role
}

// GrantedByLabel is who gave the habilitation, « la DGFiP » when unknown.
func (d HabilitatedData) GrantedByLabel() string {
	if d.GrantedBy == "" {
		return "la DGFiP"
	}
	return d.GrantedBy
}

// Habilitated renders the mail of a new habilitation for the address to.
func (Mails) Habilitated(to string, d HabilitatedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if strings.TrimSpace(d.ApplicationName) == "" {
		problems = append(problems, "no application")
	}
	if strings.TrimSpace(d.Profile) == "" {
		problems = append(problems, "no profile")
	}
	return habilitated.render(to, d, problems)
}

// RequestSubmittedData is the data of the mail telling one who may decide
// a request that its form was just sent.
type RequestSubmittedData struct {
	FirstName     string // greets the decider; empty for a shared mailbox
	Name          string // the requester's first and last names
	Role          string // the requested role
	StructureName string
	SIRET         string
	Service       string // the requested service; empty for an administrator
	PublicURL     string // the service's address: the requests' page is linked
}

// RoleLabel is the role in French: « collaborateur », « responsable de service », « administrateur ».
func (d RequestSubmittedData) RoleLabel() string {
	if d.Role == "responsable" {
		return "responsable de service"
	}
	return d.Role
}

// RequestsURL is the page of the requests to decide.
func (d RequestSubmittedData) RequestsURL() string {
	return strings.TrimRight(d.PublicURL, "/") + "/gestion/demandes"
}

// RequestSubmitted renders, for the decider to, the mail of a request waiting.
func (Mails) RequestSubmitted(to string, d RequestSubmittedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Name) == "" {
		problems = append(problems, "no requester")
	}
	if strings.TrimSpace(d.StructureName) == "" || d.SIRET == "" {
		problems = append(problems, "no structure")
	}
	return requestSubmitted.render(to, d, checkLinkURL(problems, d.PublicURL))
}
