package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	// The dates in mails are Paris time, whether or not the host has a
	// time zone database.
	_ "time/tzdata"
)

// The mails live in templates/: for a mail "x", x.txt.tmpl defines its
// "subject" and the "body" of its text part, x.html.tmpl the "body" of its
// HTML part; layout.txt.tmpl and layout.html.tmpl frame every body. Each
// mail is a template set of its own (its files and the layout), so that
// two mails never overwrite each other's "body".
//
// Adding a mail: its two files, a data struct and a method of Mails in the
// file of its family (signin_mails.go, lifecycle_mails.go,
// selfservice_mails.go, migration_mails.go, access_mails.go), and a variable below.

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

	requestSubmitted = mustMailTemplate[RequestSubmittedData]("request_submitted")

	resetLink       = mustMailTemplate[ResetLinkData]("reset_link")
	passwordChanged = mustMailTemplate[PasswordChangedData]("password_changed")
	emailChangedOld = mustMailTemplate[EmailChangedOldData]("email_changed_old")
	emailChangedNew = mustMailTemplate[EmailChangedNewData]("email_changed_new")
	mobileChanged   = mustMailTemplate[MobileChangedData]("mobile_changed")
	mailChangeNew   = mustMailTemplate[MailChangeNewData]("mail_change_new")
	mailChangeOld   = mustMailTemplate[MailChangeOldData]("mail_change_old")

	mobileChecked = mustMailTemplate[MobileCheckedData]("mobile_checked")

	dormancyWarning        = mustMailTemplate[DormancyWarningData]("dormancy_warning")
	accountDisabled        = mustMailTemplate[AccountDisabledData]("account_disabled")
	managedAccountDisabled = mustMailTemplate[ManagedAccountDisabledData]("managed_account_disabled")
	endWarning             = mustMailTemplate[EndWarningData]("end_warning")
	habilitationEnded      = mustMailTemplate[HabilitationEndedData]("habilitation_ended")
	invitationReminder     = mustMailTemplate[InvitationData]("invitation_reminder")
)

// Mails renders the mails of APEX Partenaires into Messages. The zero value
// is ready to use.
type Mails struct{}

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

// render renders the mail of d for the address to, unless problems say d
// is not fit for it: then its error lists them.
func (t mailTemplate[D]) render(to string, d D, problems []string) (Message, error) {
	if len(problems) > 0 {
		return Message{}, fmt.Errorf("notify: mail %s: %s", t.name, strings.Join(problems, "; "))
	}
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

// checkPublicURL adds to problems the one of a mail's public URL, if any:
// it is empty or an absolute http(s) URL.
func checkPublicURL(problems []string, s string) []string {
	if s == "" {
		return problems
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return append(problems, fmt.Sprintf("public URL %q is not an http:// or https:// URL", s))
	}
	return problems
}

// checkLinkURL is checkPublicURL for a mail whose link is built on the
// public URL, which it cannot go without.
func checkLinkURL(problems []string, s string) []string {
	if s == "" {
		return append(problems, "no public URL for the link")
	}
	return checkPublicURL(problems, s)
}

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("notify: " + err.Error())
	}
	return loc
}
