package directory

import (
	"errors"
	"strings"
	"time"
)

// NewInvitation is what pre-creating an account needs (guide 1.1 and 1.2):
// the rest comes from the person, through the form the mail links to.
type NewInvitation struct {
	Email       string
	Role        Role // not agent: agents are created by apexctl
	SIRET       string
	Service     string    // required for responsables and collaborateurs
	RequestedBy string    // identifier of who invites
	EndDate     time.Time // when the account ends; zero: never (see ParseDay)
}

// Validate checks an invitation and lists every problem.
func (n *NewInvitation) Validate() error {
	n.SIRET = NormalizeSIRET(n.SIRET)
	n.Service = strings.TrimSpace(n.Service)
	var problems []Problem
	if email, ok := normalizeEmail(n.Email); ok {
		n.Email = email
	} else {
		problems = append(problems, Problem{"email", "L'adresse mail n'est pas valide."})
	}
	switch n.Role {
	case RoleAdministrateur:
		n.Service = ""
	case RoleResponsable, RoleCollaborateur:
		if n.Service == "" {
			problems = append(problems, Problem{"service", "Le service doit être renseigné."})
		}
	default:
		problems = append(problems, Problem{"role", "Le rôle doit être administrateur, responsable ou collaborateur."})
	}
	if CheckSIRET(n.SIRET) != nil {
		problems = append(problems, Problem{"siret", "La structure doit être renseignée par un SIRET valide."})
	}
	return invalid(problems)
}

// Invitation is a pre-creation just issued: Token goes in the link mailed
// to the person; the directory keeps only its hash.
type Invitation struct {
	Person    *Person
	Token     string
	ExpiresAt time.Time
}

// InvitationForm is what the form of an invitation's link shows (guide
// 1.3): the invited account, its structure, and for responsables and
// collaborateurs the services of the structure to choose from.
type InvitationForm struct {
	Person    *Person
	Structure *Structure
	Services  []Service
}

// PreCreation is the form a person fills from the invitation's link (guide 1.3).
type PreCreation struct {
	FirstName string
	LastName  string
	Mobile    string // optional, strongly recommended for password resets
	Service   string // for responsables and collaborateurs: required
	Password  string
}

func (f *PreCreation) validate(role Role) error {
	f.FirstName = strings.TrimSpace(f.FirstName)
	f.LastName = strings.TrimSpace(f.LastName)
	f.Service = strings.TrimSpace(f.Service)
	var problems []Problem
	problems = append(problems, checkName("lastName", masculine("Le nom"), f.LastName, 128)...)
	problems = append(problems, checkName("firstName", masculine("Le prénom"), f.FirstName, 128)...)
	if len(problems) == 0 {
		if _, err := Identifier(f.FirstName, f.LastName); err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) {
				problems = append(problems, ie.Problems...)
			}
		}
	}
	if f.Mobile = strings.TrimSpace(f.Mobile); f.Mobile != "" {
		if m, problem := ParseMobile(f.Mobile); problem == "" {
			f.Mobile = m
		} else {
			problems = append(problems, Problem{"mobile", problem})
		}
	}
	if role.InService() && f.Service == "" {
		problems = append(problems, Problem{"service", "Le service doit être renseigné."})
	}
	var pe *InvalidError
	if errors.As(CheckPassword(f.Password), &pe) {
		problems = append(problems, pe.Problems...)
	}
	return invalid(problems)
}
