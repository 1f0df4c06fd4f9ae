package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// The messages of the self-service (directory.SelfServiceNotifier): the
// renewal of a forgotten password, by a code in an SMS or a link in a mail,
// and the mails that tell an account its password, mail or mobile changed.

// ResetCodeSMS writes the SMS of a password renewal's security code (guide
// section 5, étape 3 A) for the mobile number to: one short message, in
// the GSM 7-bit alphabet (é and à are in it), without a link, e.g.
// « APEX Partenaires : votre code de sécurité est 123456. Il est valable
// 10 minutes. Ne le communiquez à personne. »
//
// Its errors never hold the number nor the code.
func ResetCodeSMS(to, code string, validFor time.Duration) (SMS, error) {
	var problems []string
	if code == "" || strings.Trim(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" || len(code) > 16 {
		problems = append(problems, "the code is not 1 to 16 letters or digits")
	}
	if validFor < time.Minute {
		problems = append(problems, fmt.Sprintf("validity of %s", validFor))
	}
	if len(problems) > 0 {
		return SMS{}, fmt.Errorf("notify: sms reset code: %s", strings.Join(problems, "; "))
	}
	m := SMS{
		To: to,
		Text: "APEX Partenaires : votre code de sécurité est " + code + ". Il est valable " +
			frenchDuration(validFor) + ". Ne le communiquez à personne.",
	}
	if err := m.Validate(); err != nil {
		return SMS{}, fmt.Errorf("%w: sms reset code: the mobile is not an E.164 number", ErrInvalidMessage)
	}
	return m, nil
}

// ResetLinkData is the data of the mail carrying a password renewal link,
// sent to an account without a mobile (guide section 5, étape 3 B).
type ResetLinkData struct {
	FirstName  string        // greets the person; may be empty
	Identifier string        // the account's identifier; may be empty
	PublicURL  string        // the service's address, base of the link; required
	Token      string        // the renewal's token, the last segment of the link
	ValidFor   time.Duration // how long the link works; a minute at least
	// RequestedBy names who manages the account and sent the link (the
	// helpdesk); empty when the person asked for it.
	RequestedBy string
}

// Link is the renewal page: PublicURL/mot-de-passe/renouveler/Token.
func (d ResetLinkData) Link() string {
	return strings.TrimRight(d.PublicURL, "/") + "/mot-de-passe/renouveler/" + url.PathEscape(d.Token)
}

// Validity is ValidFor in French: « 10 minutes », « 1 heure ».
func (d ResetLinkData) Validity() string { return frenchDuration(d.ValidFor) }

// ResetLink renders the mail of a password renewal link for the address to.
func (Mails) ResetLink(to string, d ResetLinkData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Token) == "" {
		problems = append(problems, "no token")
	}
	if d.ValidFor < time.Minute {
		problems = append(problems, fmt.Sprintf("validity of %s", d.ValidFor))
	}
	return resetLink.render(to, d, checkLinkURL(problems, d.PublicURL))
}

// PasswordChangedData is the data of the mail telling that an account's
// password was changed, by its owner or through a renewal.
type PasswordChangedData struct {
	FirstName  string    // greets the person; may be empty
	Identifier string    // the account's identifier
	Role       string    // the account's role: says whom to warn
	ChangedAt  time.Time // when
	PublicURL  string    // the service's address; the sign-in page is shown when set
}

// When is ChangedAt in French, Paris time.
func (d PasswordChangedData) When() string { return frenchDateTime(d.ChangedAt) }

// SignInURL is the sign-in page: PublicURL/connexion.
func (d PasswordChangedData) SignInURL() string { return signInURL(d.PublicURL) }

// Contact is whom the person warns when the change was not theirs.
func (d PasswordChangedData) Contact() string { return contactOf(d.Role) }

// PasswordChanged renders the mail of a changed password for the address to.
func (Mails) PasswordChanged(to string, d PasswordChangedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if d.ChangedAt.IsZero() {
		problems = append(problems, "no time")
	}
	return passwordChanged.render(to, d, checkPublicURL(problems, d.PublicURL))
}

// EmailChangedOldData is the data of the mail sent to the former address
// of an account whose mail address was changed (« Gestion des données
// personnelles »): it shows the new address masked only, since the former
// one may no longer be the person's.
type EmailChangedOldData struct {
	FirstName  string    // greets the person; may be empty
	Identifier string    // the account's identifier
	Role       string    // the account's role: says whom to warn
	NewEmail   string    // the new address; the mail shows only MaskedNewEmail
	ChangedAt  time.Time // when
	PublicURL  string    // the service's address; the sign-in page is shown when set
}

// MaskedNewEmail is NewEmail with its local part hidden but its first
// character: m***@exemple.fr.
func (d EmailChangedOldData) MaskedNewEmail() string { return MaskEmail(d.NewEmail) }

// When is ChangedAt in French, Paris time.
func (d EmailChangedOldData) When() string { return frenchDateTime(d.ChangedAt) }

// SignInURL is the sign-in page: PublicURL/connexion.
func (d EmailChangedOldData) SignInURL() string { return signInURL(d.PublicURL) }

// Contact is whom the person warns when the change was not theirs.
func (d EmailChangedOldData) Contact() string { return contactOf(d.Role) }

// EmailChangedOld renders, for the former address to, the mail telling
// that the account's address was replaced.
func (Mails) EmailChangedOld(to string, d EmailChangedOldData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if strings.TrimSpace(d.NewEmail) == "" || !strings.Contains(d.NewEmail, "@") {
		problems = append(problems, "no new address")
	}
	if d.ChangedAt.IsZero() {
		problems = append(problems, "no time")
	}
	return emailChangedOld.render(to, d, checkPublicURL(problems, d.PublicURL))
}

// EmailChangedNewData is the data of the mail sent to the new address of
// an account, confirming that the account now uses it.
type EmailChangedNewData struct {
	FirstName  string // greets the person; may be empty
	Identifier string // the account's identifier
	Role       string // the account's role: says whom to warn
	PublicURL  string // the service's address; the sign-in page is shown when set
}

// SignInURL is the sign-in page: PublicURL/connexion.
func (d EmailChangedNewData) SignInURL() string { return signInURL(d.PublicURL) }

// Contact is whom the person warns when the change was not theirs.
func (d EmailChangedNewData) Contact() string { return contactOf(d.Role) }

// EmailChangedNew renders, for the new address to, the mail confirming
// that it is now the account's.
func (Mails) EmailChangedNew(to string, d EmailChangedNewData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	return emailChangedNew.render(to, d, checkPublicURL(problems, d.PublicURL))
}

// MobileChangedData is the data of the mail telling an account's address
// that its mobile was changed or removed (« Gestion des données
// personnelles »): the number a renewal's code goes to, so that a person
// whose account someone else took hears of it.
type MobileChangedData struct {
	FirstName  string    // greets the person; may be empty
	Identifier string    // the account's identifier
	Role       string    // the account's role: says whom to warn
	NewMobile  string    // the new number (E.164), empty when removed; the mail shows only MobileEnd
	ChangedAt  time.Time // when
	PublicURL  string    // the service's address; the sign-in page is shown when set
}

// Removed reports that the account has no mobile any more.
func (d MobileChangedData) Removed() bool { return strings.TrimSpace(d.NewMobile) == "" }

// MobileEnd is the last two digits of NewMobile: enough for its owner to
// know it, not enough to call it.
func (d MobileChangedData) MobileEnd() string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, d.NewMobile)
	if len(digits) < 2 {
		return "**"
	}
	return digits[len(digits)-2:]
}

// When is ChangedAt in French, Paris time.
func (d MobileChangedData) When() string { return frenchDateTime(d.ChangedAt) }

// SignInURL is the sign-in page: PublicURL/connexion.
func (d MobileChangedData) SignInURL() string { return signInURL(d.PublicURL) }

// Contact is whom the person warns when the change was not theirs.
func (d MobileChangedData) Contact() string { return contactOf(d.Role) }

// MobileChanged renders, for the account's address to, the mail telling
// that its mobile was changed or removed.
func (Mails) MobileChanged(to string, d MobileChangedData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if d.ChangedAt.IsZero() {
		problems = append(problems, "no time")
	}
	return mobileChanged.render(to, d, checkPublicURL(problems, d.PublicURL))
}

// MaskEmail hides an address's local part but its first character, and
// keeps the domain: marie.martin@exemple.fr gives m***@exemple.fr. What is
// not an address gives ***.
func MaskEmail(addr string) string {
	addr = strings.TrimSpace(addr)
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(addr)
	return string(first) + "***" + addr[i:]
}

// contactOf is whom an account warns when something was done to it that
// its owner did not do: the DGFiP for an administrator (who answers to
// it) and an agent, the structure's administrator for the others.
func contactOf(role string) string {
	switch role {
	case "administrateur":
		return "votre interlocuteur à la DGFiP"
	case "agent":
		return "l'assistance informatique de la DGFiP"
	default:
		return "l'administrateur de votre structure"
	}
}

func signInURL(publicURL string) string { return strings.TrimRight(publicURL, "/") + "/connexion" }

// MailChangeNewData is the data of the mail sent to a new address of an
// account, waiting for its confirmation: its code (when the person set it)
// and its link.
type MailChangeNewData struct {
	FirstName   string    // greets the person; may be empty
	Identifier  string    // the account's identifier
	RequestedBy string    // who manages the account and set the address; empty when the person did
	Code        string    // the confirmation code, shown when the person set the address
	PublicURL   string    // the service's address, base of the link; required
	Token       string    // the link's token, its last segment
	ExpiresAt   time.Time // when the code and the link stop working
}

// Link is the confirmation page: PublicURL/adresse-mail/confirmer/Token.
func (d MailChangeNewData) Link() string {
	return strings.TrimRight(d.PublicURL, "/") + "/adresse-mail/confirmer/" + url.PathEscape(d.Token)
}

// Expires is ExpiresAt in French, Paris time.
func (d MailChangeNewData) Expires() string { return frenchDateTime(d.ExpiresAt) }

// MailChangeNew renders, for the new address to, the mail asking to
// confirm it.
func (Mails) MailChangeNew(to string, d MailChangeNewData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if strings.TrimSpace(d.Token) == "" {
		problems = append(problems, "no token")
	}
	if d.RequestedBy == "" && strings.TrimSpace(d.Code) == "" {
		problems = append(problems, "no code")
	}
	if d.ExpiresAt.IsZero() {
		problems = append(problems, "no expiry")
	}
	return mailChangeNew.render(to, d, checkLinkURL(problems, d.PublicURL))
}

// MailChangeOldData is the data of the mail telling an account's address
// that a new one waits for its confirmation: it shows the new one masked.
type MailChangeOldData struct {
	FirstName   string    // greets the person; may be empty
	Identifier  string    // the account's identifier
	Role        string    // the account's role: says whom to warn
	RequestedBy string    // who manages the account and set the address; empty when the person did
	NewEmail    string    // the new address; the mail shows only MaskedNewEmail
	RequestedAt time.Time // when
	PublicURL   string    // the service's address; the sign-in page is shown when set
}

// MaskedNewEmail is NewEmail with its local part hidden but its first character.
func (d MailChangeOldData) MaskedNewEmail() string { return MaskEmail(d.NewEmail) }

// When is RequestedAt in French, Paris time.
func (d MailChangeOldData) When() string { return frenchDateTime(d.RequestedAt) }

// SignInURL is the sign-in page: PublicURL/connexion.
func (d MailChangeOldData) SignInURL() string { return signInURL(d.PublicURL) }

// Contact is whom the person warns when the change was not theirs.
func (d MailChangeOldData) Contact() string { return contactOf(d.Role) }

// MailChangeOld renders, for the account's address to, the mail telling
// that a new address waits for its confirmation.
func (Mails) MailChangeOld(to string, d MailChangeOldData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Identifier) == "" {
		problems = append(problems, "no identifier")
	}
	if strings.TrimSpace(d.NewEmail) == "" || !strings.Contains(d.NewEmail, "@") {
		problems = append(problems, "no new address")
	}
	if d.RequestedAt.IsZero() {
		problems = append(problems, "no time")
	}
	return mailChangeOld.render(to, d, checkPublicURL(problems, d.PublicURL))
}
