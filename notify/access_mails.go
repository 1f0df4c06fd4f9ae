package notify

import (
	"net/url"
	"strings"
	"time"
)

// The mails of the scheduled jobs (directory.AccessNotifier): a dormant
// account's warnings and its disabling, the end dates of accounts and
// habilitations, an invitation's reminder.

// DormancyWarningData is the data of the mail that warns a person that
// their account, unused, will be disabled.
type DormancyWarningData struct {
	FirstName  string    // greets the person; may be empty
	Identifier string    // the account's identifier
	LastUse    time.Time // its last sign-in or bind, or when it became active
	Deadline   time.Time // when it will be disabled unless used
	PublicURL  string    // the service's address: the sign-in page is shown
}

// LastUseDay and DeadlineDay are the days in French.
func (d DormancyWarningData) LastUseDay() string  { return frenchDate(d.LastUse) }
func (d DormancyWarningData) DeadlineDay() string { return frenchDate(d.Deadline) }

// SignInURL is the sign-in page: PublicURL/connexion.
func (d DormancyWarningData) SignInURL() string {
	return strings.TrimRight(d.PublicURL, "/") + "/connexion"
}

// DormancyWarning renders the warning of a dormant account for the address to.
func (Mails) DormancyWarning(to string, d DormancyWarningData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if d.LastUse.IsZero() || d.Deadline.IsZero() {
		problems = append(problems, "no date")
	}
	return dormancyWarning.render(to, d, checkLinkURL(problems, d.PublicURL))
}

// The causes of a disabling, as directory.DisableCause names them.
const (
	causeDormancy = "dormancy"
	causeEndDate  = "end_date"
)

// AccountDisabledData is the data of the mail that tells a person their
// account was disabled by a job.
type AccountDisabledData struct {
	FirstName  string    // greets the person; may be empty
	Identifier string    // the account's identifier
	Role       string    // an administrator turns to the DGFiP, others to their structure
	Cause      string    // "dormancy" or "end_date"
	LastUse    time.Time // for dormancy: its last use
}

// Dormancy says the account was unused; otherwise its end date came.
func (d AccountDisabledData) Dormancy() bool     { return d.Cause == causeDormancy }
func (d AccountDisabledData) LastUseDay() string { return frenchDate(d.LastUse) }

// AccountDisabled renders the mail of a disabled account for the address to.
func (Mails) AccountDisabled(to string, d AccountDisabledData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if d.Cause != causeDormancy && d.Cause != causeEndDate {
		problems = append(problems, "cause "+d.Cause)
	}
	if d.Cause == causeDormancy && d.LastUse.IsZero() {
		problems = append(problems, "no last use")
	}
	return accountDisabled.render(to, d, problems)
}

// ManagedAccountDisabledData is the data of the mail that tells those who
// manage an account (or the agents' mailbox) that a job disabled it.
type ManagedAccountDisabledData struct {
	FirstName  string    // greets the manager; empty for a shared mailbox
	Name       string    // the account's first and last names
	Identifier string    // the account's identifier
	Role       string    // the account's role
	Structure  string    // the account's structure (SIRET)
	Cause      string    // "dormancy" or "end_date"
	LastUse    time.Time // for dormancy: its last use
	PublicURL  string    // the service's address: the account's page is linked
}

func (d ManagedAccountDisabledData) Dormancy() bool     { return d.Cause == causeDormancy }
func (d ManagedAccountDisabledData) LastUseDay() string { return frenchDate(d.LastUse) }

// AccountURL is the account's page for those who manage it.
func (d ManagedAccountDisabledData) AccountURL() string {
	return strings.TrimRight(d.PublicURL, "/") + "/gestion/comptes/" + url.PathEscape(d.Identifier)
}

// ManagedAccountDisabled renders the mail to a manager of a disabled account.
func (Mails) ManagedAccountDisabled(to string, d ManagedAccountDisabledData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" || strings.TrimSpace(d.Name) == "" {
		problems = append(problems, "no account")
	}
	if d.Cause != causeDormancy && d.Cause != causeEndDate {
		problems = append(problems, "cause "+d.Cause)
	}
	if d.Cause == causeDormancy && d.LastUse.IsZero() {
		problems = append(problems, "no last use")
	}
	return managedAccountDisabled.render(to, d, checkLinkURL(problems, d.PublicURL))
}

// EndWarningData is the data of the mail that tells a person their
// account, or one of their habilitations, ends soon.
type EndWarningData struct {
	FirstName       string    // greets the person; may be empty
	Identifier      string    // the account's identifier
	Role            string    // an administrator turns to the DGFiP, others to their structure
	ApplicationName string    // the habilitation's application; empty for the account itself
	Profile         string    // the habilitation's profile
	End             time.Time // the start of the day it ends
}

func (d EndWarningData) EndDay() string { return frenchDate(d.End) }

// EndWarning renders the warning before an end date for the address to.
func (Mails) EndWarning(to string, d EndWarningData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if d.End.IsZero() {
		problems = append(problems, "no end date")
	}
	if d.ApplicationName != "" && strings.TrimSpace(d.Profile) == "" {
		problems = append(problems, "no profile")
	}
	return endWarning.render(to, d, problems)
}

// HabilitationEndedData is the data of the mail that tells a person a
// habilitation was withdrawn at its end date.
type HabilitationEndedData struct {
	FirstName       string // greets the person; may be empty
	Identifier      string
	Role            string
	ApplicationName string
	Profile         string
}

// HabilitationEnded renders the mail of a habilitation ended for the address to.
func (Mails) HabilitationEnded(to string, d HabilitationEndedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.ApplicationName) == "" || strings.TrimSpace(d.Profile) == "" {
		problems = append(problems, "no habilitation")
	}
	return habilitationEnded.render(to, d, problems)
}

// InvitationReminder renders the reminder of an invitation whose link
// expires soon, with its new link, for the address to.
func (m Mails) InvitationReminder(to string, d InvitationData) (Message, error) {
	if _, err := m.Invitation(to, d); err != nil { // the same checks
		return Message{}, err
	}
	return invitationReminder.render(to, d, nil)
}
