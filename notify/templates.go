package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
	// The dates in mails are Paris time, whether or not the host has a
	// time zone database.
	_ "time/tzdata"

	"github.com/dgfip/apex-partenaires/directory"
)

// The mails live in templates/: for a mail "x", x.txt.tmpl defines its
// "subject" and the "body" of its text part, x.html.tmpl the "body" of its
// HTML part; layout.txt.tmpl and layout.html.tmpl frame every body. Each
// mail is a template set of its own (its files and the layout), so that
// two mails never overwrite each other's "body".
//
// Adding a mail: its two files, a data struct, a variable below and a
// method of Mails.

//go:embed templates/*.tmpl
var templateFS embed.FS

// paris is declared before the templates, which use it when they are
// checked at init (through a method the compiler cannot see them call).
var paris = mustLoadLocation("Europe/Paris")

var (
	signInCode  = mustMailTemplate[SignInCodeData]("sign_in_code")
	invitation  = mustMailTemplate[InvitationData]("invitation")
	approved    = mustMailTemplate[ApprovedData]("approved")
	refused     = mustMailTemplate[RefusedData]("refused")
	habilitated = mustMailTemplate[HabilitatedData]("habilitated")

	resetLink       = mustMailTemplate[ResetLinkData]("reset_link")
	passwordChanged = mustMailTemplate[PasswordChangedData]("password_changed")
	emailChangedOld = mustMailTemplate[EmailChangedOldData]("email_changed_old")
	emailChangedNew = mustMailTemplate[EmailChangedNewData]("email_changed_new")
	mobileChanged   = mustMailTemplate[MobileChangedData]("mobile_changed")

	mobileChecked = mustMailTemplate[MobileCheckedData]("mobile_checked")
)

// Mails renders the mails of APEX Partenaires into Messages. The zero value
// is ready to use.
type Mails struct{}

// SignInCodeData is the data of the mail carrying a sign-in verification
// code.
type SignInCodeData struct {
	FirstName    string // greets the person; may be empty
	Code         string // the verification code
	ValidMinutes int    // how long the code is valid
	PublicURL    string // the service's address, shown beside the instruction; may be empty
}

// SignInCode renders the mail of a sign-in verification code for the
// address to.
func (Mails) SignInCode(to string, d SignInCodeData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Code) == "" {
		problems = append(problems, "no code")
	}
	if d.ValidMinutes <= 0 {
		problems = append(problems, fmt.Sprintf("validity of %d minutes", d.ValidMinutes))
	}
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(signInCode.name, problems); err != nil {
		return Message{}, err
	}
	return signInCode.render(to, d)
}

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
	if d.PublicURL == "" {
		problems = append(problems, "no public URL for the link")
	} else if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(invitation.name, problems); err != nil {
		return Message{}, err
	}
	return invitation.render(to, d)
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
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(approved.name, problems); err != nil {
		return Message{}, err
	}
	return approved.render(to, d)
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
	if err := badData(refused.name, problems); err != nil {
		return Message{}, err
	}
	return refused.render(to, d)
}

// HabilitatedData is the data of the mail telling an account it was given
// a profile of a DGFiP application (guide 2).
type HabilitatedData struct {
	FirstName       string // greets the person; may be empty
	Identifier      string // the account's identifier, which the application takes
	ApplicationName string // e.g. FICOBA
	Profile         string // e.g. consultation
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
	if err := badData(habilitated.name, problems); err != nil {
		return Message{}, err
	}
	return habilitated.render(to, d)
}

// ResetLinkData is the data of the mail carrying a password renewal link,
// sent to an account without a mobile (guide section 5, étape 3 B).
type ResetLinkData struct {
	FirstName  string        // greets the person; may be empty
	Identifier string        // the account's identifier; may be empty
	PublicURL  string        // the service's address, base of the link; required
	Token      string        // the renewal's token, the last segment of the link
	ValidFor   time.Duration // how long the link works; a minute at least
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
	if d.PublicURL == "" {
		problems = append(problems, "no public URL for the link")
	} else if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(resetLink.name, problems); err != nil {
		return Message{}, err
	}
	return resetLink.render(to, d)
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
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(passwordChanged.name, problems); err != nil {
		return Message{}, err
	}
	return passwordChanged.render(to, d)
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
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(emailChangedOld.name, problems); err != nil {
		return Message{}, err
	}
	return emailChangedOld.render(to, d)
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
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(emailChangedNew.name, problems); err != nil {
		return Message{}, err
	}
	return emailChangedNew.render(to, d)
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
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(mobileChanged.name, problems); err != nil {
		return Message{}, err
	}
	return mobileChanged.render(to, d)
}

// MobileCheckedData is the data of the mail sent once to an account whose
// stored mobile was checked again with libphonenumber's rules, and
// corrected or removed (directory's mobile-numbers migration).
type MobileCheckedData struct {
	FirstName  string // greets the person; may be empty
	Identifier string // the account's identifier; empty for a request not validated yet
	Mobile     string // the number now stored, E.164; empty when it was removed
	OldMobile  string // the number removed; the mail shows its last two digits only
	PublicURL  string // the service's address; the personal data page is shown when set
}

// Formatted is Mobile as people read it: +262 692 12 34 56.
func (d MobileCheckedData) Formatted() string { return directory.FormatMobile(d.Mobile) }

// OldEnding is the last two digits of OldMobile.
func (d MobileCheckedData) OldEnding() string {
	if len(d.OldMobile) < 2 {
		return "**"
	}
	return d.OldMobile[len(d.OldMobile)-2:]
}

// PersonalDataURL is the personal data page: PublicURL/donnees-personnelles.
func (d MobileCheckedData) PersonalDataURL() string {
	return strings.TrimRight(d.PublicURL, "/") + "/donnees-personnelles"
}

// MobileChecked renders, for the address to, the mail telling that the
// account's mobile was corrected or removed. Its errors never hold a number.
func (Mails) MobileChecked(to string, d MobileCheckedData) (Message, error) {
	var problems []string
	if d.Mobile == "" && len(d.OldMobile) < 2 {
		problems = append(problems, "neither a new number nor the one removed")
	}
	if d.Mobile != "" && !strings.HasPrefix(d.Mobile, "+") {
		problems = append(problems, "the new number is not in E.164 form")
	}
	if err := checkPublicURL(d.PublicURL); err != nil {
		problems = append(problems, err.Error())
	}
	if err := badData(mobileChecked.name, problems); err != nil {
		return Message{}, err
	}
	return mobileChecked.render(to, d)
}

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

// frenchDuration writes a validity, rounded down to the minute, in
// French: « 1 minute », « 10 minutes », « 1 heure », « 2 heures »,
// « 1 heure et 30 minutes ».
func frenchDuration(d time.Duration) string {
	minutes := int(d / time.Minute)
	h, m := minutes/60, minutes%60
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch {
	case h == 0:
		return plural(m, "minute")
	case m == 0:
		return plural(h, "heure")
	default:
		return plural(h, "heure") + " et " + plural(m, "minute")
	}
}

func badData(mail string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("notify: mail %s: %s", mail, strings.Join(problems, "; "))
}

var frenchMonths = [12]string{"janvier", "février", "mars", "avril", "mai", "juin",
	"juillet", "août", "septembre", "octobre", "novembre", "décembre"}

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("notify: " + err.Error())
	}
	return loc
}

// frenchDateTime writes t in Paris time as French does: « 1er mars 2026 à
// 09:05 », « 4 décembre 2026 à 15:04 ».
func frenchDateTime(t time.Time) string {
	t = t.In(paris)
	day := strconv.Itoa(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return day + " " + frenchMonths[t.Month()-1] + " " + strconv.Itoa(t.Year()) + " à " + t.Format("15:04")
}

// checkPublicURL accepts an empty URL or an absolute http(s) one.
func checkPublicURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public URL %q is not an http:// or https:// URL", s)
	}
	return nil
}

// mailTemplate is the template set of one mail, whose data is a D.
type mailTemplate[D any] struct {
	name string
	text *texttemplate.Template // layout.txt.tmpl with "subject" and "body"
	html *htmltemplate.Template // layout.html.tmpl with "body"
}

// layoutData is what the layouts get: the subject (the HTML <title>) and
// the mail's data, which they hand to "body".
type layoutData struct {
	Subject string
	Mail    any
}

// mustMailTemplate parses the files of a mail with the layout, and renders
// them once with zero data so that a mistake in a template (an unknown
// field, a missing "body") stops the program at start instead of failing
// the first mail.
func mustMailTemplate[D any](name string) mailTemplate[D] {
	t := mailTemplate[D]{
		name: name,
		text: texttemplate.Must(texttemplate.New("layout.txt.tmpl").ParseFS(templateFS,
			"templates/layout.txt.tmpl", "templates/"+name+".txt.tmpl")),
		html: htmltemplate.Must(htmltemplate.New("layout.html.tmpl").ParseFS(templateFS,
			"templates/layout.html.tmpl", "templates/"+name+".html.tmpl")),
	}
	for _, required := range []struct {
		name string
		ok   bool
	}{
		{name + ".txt.tmpl: subject", t.text.Lookup("subject") != nil},
		{name + ".txt.tmpl: body", t.text.Lookup("body") != nil},
		{name + ".html.tmpl: body", t.html.Lookup("body") != nil},
	} {
		if !required.ok {
			panic("notify: template " + required.name + " is not defined")
		}
	}
	var zero D
	if _, _, _, err := t.execute(zero); err != nil {
		panic(err)
	}
	return t
}

func (t mailTemplate[D]) render(to string, d D) (Message, error) {
	subject, text, html, err := t.execute(d)
	if err != nil {
		return Message{}, err
	}
	m := Message{To: []string{to}, Subject: subject, Text: text, HTML: html}
	if err := m.Validate(); err != nil {
		return Message{}, fmt.Errorf("notify: mail %s: %w", t.name, err)
	}
	return m, nil
}

func (t mailTemplate[D]) execute(d D) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := t.text.ExecuteTemplate(&b, "subject", d); err != nil {
		return "", "", "", fmt.Errorf("notify: mail %s: subject: %w", t.name, err)
	}
	// A subject is one line, however the template wraps it.
	subject = strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return "", "", "", fmt.Errorf("notify: mail %s: empty subject", t.name)
	}
	data := layoutData{Subject: subject, Mail: d}
	if text, err = executeString(t.text, data); err != nil {
		return "", "", "", fmt.Errorf("notify: mail %s: text: %w", t.name, err)
	}
	if html, err = executeString(t.html, data); err != nil {
		return "", "", "", fmt.Errorf("notify: mail %s: HTML: %w", t.name, err)
	}
	return subject, text, html, nil
}

type executor interface {
	Execute(w io.Writer, data any) error
}

func executeString(t executor, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	if b.Len() == 0 {
		return "", errors.New("empty")
	}
	return b.String(), nil
}
