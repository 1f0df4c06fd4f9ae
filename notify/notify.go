// Package notify delivers the mails of APEX Partenaires: sign-in codes,
// invitations, decisions on account requests.
//
// It is a top-level package, beside directory/ and httpapi/, because it is
// neither: the directory never sends mail, and the HTTP service is only one
// of its callers (apexctl reads the file outbox too). Everything here takes
// plain typed configuration; cmd/ wires it from the configuration file.
//
// A Mailer sends one Message. There are two: SMTP, through a relay, and
// Outbox, which writes each mail as an .eml file for a person to read
// (apexctl outbox) when there is no mail server. Queue sits in front of
// either so that no request waits on a slow relay: it keeps each message in
// a spool folder until it is sent. Mails renders the messages from the
// templates of templates/.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
)

// Message is one mail: the same content as plain text and as HTML.
type Message struct {
	To      []string // bare addresses (marie.martin@example.fr), no display name
	Subject string   // UTF-8; encoded when the mail is composed
	Text    string   // the text/plain part
	HTML    string   // the text/html part

	// Expires, when set, is when the message stops being worth sending (a
	// sign-in code): a Queue keeps such a message in memory, not in its
	// spool, and drops it once expired. Other mailers ignore it.
	Expires time.Time
}

// Mailer sends messages. Send returns once the message is delivered to the
// relay, written, or queued, depending on the implementation.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// MailerFunc adapts a function to a Mailer.
type MailerFunc func(ctx context.Context, m Message) error

// Send calls f(ctx, m).
func (f MailerFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// ErrInvalidMessage is wrapped by every error of Message.Validate: such a
// message is never sent, nor retried.
var ErrInvalidMessage = errors.New("notify: invalid message")

// maxAddressLength is RFC 5321's limit of a path (256 with the brackets).
const maxAddressLength = 254

// Validate checks that the message can be sent as it is: at least one
// recipient, each a bare address; a subject on one line; both bodies.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	}
	for _, to := range m.To {
		if err := checkBareAddress(to); err != nil {
			return fmt.Errorf("%w: recipient: %w", ErrInvalidMessage, err)
		}
	}
	if strings.TrimSpace(m.Subject) == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidMessage)
	}
	if err := checkHeaderValue(m.Subject); err != nil {
		return fmt.Errorf("%w: subject: %w", ErrInvalidMessage, err)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: empty text body", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.HTML) == "" {
		return fmt.Errorf("%w: empty HTML body", ErrInvalidMessage)
	}
	return nil
}

// checkHeaderValue refuses what would end a header line, or start a new
// one (header injection), and any other control character.
func checkHeaderValue(s string) error {
	for _, r := range s {
		if r == '\r' || r == '\n' {
			return errors.New("contains a line break")
		}
		if r != '\t' && unicode.IsControl(r) {
			return fmt.Errorf("contains the control character %U", r)
		}
	}
	return nil
}

// checkBareAddress accepts "local@domain" only: no display name, no list,
// no comment, ASCII only (the relay is not assumed to speak SMTPUTF8, and
// the envelope goes unencoded).
func checkBareAddress(s string) error {
	if err := checkHeaderValue(s); err != nil {
		return fmt.Errorf("%q %w", s, err)
	}
	if len(s) > maxAddressLength {
		return fmt.Errorf("%q is longer than %d characters", s, maxAddressLength)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return fmt.Errorf("%q is not ASCII", s)
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%q is not a mail address: %w", s, err)
	}
	if a.Name != "" || a.Address != s {
		return fmt.Errorf("%q is not a bare address (want local@domain)", s)
	}
	return nil
}

// domainOf is the part after the last @, lower-cased: what logs show
// instead of an address.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return "?"
}
