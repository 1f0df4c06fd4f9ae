package directory

import "time"

// A new mail address takes effect only once confirmed by a code or a link
// sent to it (guide « Gestion des données personnelles »: « un courriel est
// envoyé à l'ancienne adresse et un autre à la nouvelle adresse »). Until
// then the account keeps its address, where sign-in codes, renewal links
// and every mail go. The person sets it (SelfService.UpdateMe), or one who
// manages the account corrects it (Accounts.CorrectEmail); the person
// confirms it with the code, signed in (SelfService.ConfirmEmail), or with
// the link, signed in or not (SelfService.ConfirmEmailLink), which then
// also asks for the account's password when a manager set the address: the
// link proves the mailbox, the password the person, so that a manager who
// holds the new mailbox cannot make it the account's.

// MailChange is a new address just asked for: Token goes in the link and
// Code in the mail to the new address; the directory keeps only the hash
// of the one and a MAC of the other.
type MailChange struct {
	Email     string
	Token     string
	Code      string
	ExpiresAt time.Time
}

// PendingMailChange is what the page of a confirmation link shows,
// changing nothing: the account, its new address, and whether the
// account's password is asked (a manager set the address).
type PendingMailChange struct {
	Person        *Person
	Email         string
	ExpiresAt     time.Time
	NeedsPassword bool
}

// DefaultMailChangeTTL is how long a new address waits for its confirmation.
const DefaultMailChangeTTL = 24 * time.Hour
