package notify_test

import (
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
)

const testFrom = "APEX Partenaires <no-reply@apex.dgfip.gouv.fr>"

// testMessage is a message whose body holds a secret (a code) that must
// never reach a log.
func testMessage(to ...string) notify.Message {
	if len(to) == 0 {
		to = []string{"marie.martin@example.fr"}
	}
	return notify.Message{
		To:      to,
		Subject: "Votre code de vérification APEX Partenaires",
		Text:    "Bonjour Marie,\n\nVotre code : 834201\n\nÀ bientôt.\n",
		HTML:    "<p>Bonjour Marie,</p><p>Votre code : <b>834201</b></p>",
	}
}

const secretCode = "834201"

func TestValidate(t *testing.T) {
	ok := testMessage()
	tests := []struct {
		name string
		edit func(m *notify.Message)
	}{
		{"no recipient", func(m *notify.Message) { m.To = nil }},
		{"display name", func(m *notify.Message) { m.To = []string{"Marie <marie@example.fr>"} }},
		{"two addresses in one", func(m *notify.Message) { m.To = []string{"a@example.fr, b@example.fr"} }},
		{"CRLF in a recipient", func(m *notify.Message) { m.To = []string{"a@example.fr\r\nBcc: evil@example.com"} }},
		{"LF in a recipient", func(m *notify.Message) { m.To = []string{"a@example.fr\nBcc: evil@example.com"} }},
		{"not an address", func(m *notify.Message) { m.To = []string{"marie"} }},
		{"non-ASCII address", func(m *notify.Message) { m.To = []string{"noël@example.fr"} }},
		{"CRLF in the subject", func(m *notify.Message) { m.Subject = "Code\r\nBcc: evil@example.com" }},
		{"LF in the subject", func(m *notify.Message) { m.Subject = "Code\nBcc: evil@example.com" }},
		{"CR in the subject", func(m *notify.Message) { m.Subject = "Code\rBcc: evil@example.com" }},
		{"control character in the subject", func(m *notify.Message) { m.Subject = "Code\x00" }},
		{"empty subject", func(m *notify.Message) { m.Subject = "  " }},
		{"no text", func(m *notify.Message) { m.Text = "" }},
		{"no HTML", func(m *notify.Message) { m.HTML = "\n" }},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid message: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.edit(&m)
			if err := m.Validate(); !errors.Is(err, notify.ErrInvalidMessage) {
				t.Errorf("Validate() = %v, want ErrInvalidMessage", err)
			}
			if _, err := notify.Compose(testFrom, m, time.Now()); !errors.Is(err, notify.ErrInvalidMessage) {
				t.Errorf("Compose() = %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestComposeRefusesABadSender(t *testing.T) {
	for _, from := range []string{"", "nobody", "APEX <no-reply@apex.fr>\r\nBcc: evil@example.com", "APEX <no-reply@apex.fr>\nX: y"} {
		if _, err := notify.Compose(from, testMessage(), time.Now()); err == nil {
			t.Errorf("Compose(from %q) succeeded", from)
		}
	}
}

func TestCompose(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("CET", 3600))
	m := testMessage("marie.martin@example.fr", "paul@example.org")
	m.Subject = "Votre demande de compte a été refusée — réponse de la Direction générale des Finances publiques (n° 42)"
	raw, err := notify.Compose(testFrom, m, now)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 5322 allows 998 characters a line, RFC 2047 75 an encoded-word;
	// the bodies are quoted-printable, 76 a line.
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d characters long", i+1, len(line))
		}
		for _, word := range strings.Fields(line) {
			if strings.HasPrefix(word, "=?") && len(word) > 75 {
				t.Errorf("encoded-word of %d characters: %q", len(word), word)
			}
		}
		if !strings.HasPrefix(line, "Subject:") && len(line) > 78 {
			t.Errorf("line %d is %d characters long: %q", i+1, len(line), line)
		}
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a line ends with a bare LF")
	}
	// 7-bit: any relay carries it, 8BITMIME or not.
	for i, c := range raw {
		if c >= 0x80 {
			t.Fatalf("byte %d is not ASCII: %q", i, raw[max(0, i-20):min(len(raw), i+20)])
		}
	}
	accented, err := notify.Compose("Direction générale des Finances publiques <no-reply@dgfip.finances.gouv.fr>", m, now)
	if err != nil {
		t.Fatal(err)
	}
	if am, err := mail.ReadMessage(bytes.NewReader(accented)); err != nil || bytes.ContainsFunc(accented, func(r rune) bool { return r >= 0x80 }) {
		t.Errorf("sender with accents: %v", err)
	} else if from, err := am.Header.AddressList("From"); err != nil || from[0].Name != "Direction générale des Finances publiques" {
		t.Errorf("sender with accents read back as %v (%v)", from, err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if got, _ := h.Date(); !got.Equal(now) {
		t.Errorf("Date %v, want %v", got, now)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@apex.dgfip.gouv.fr>") || len(id) < 30 {
		t.Errorf("Message-ID %q", id)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 2 || to[1].Address != "paul@example.org" {
		t.Errorf("To %v (%v)", to, err)
	}
	if from, err := h.AddressList("From"); err != nil || from[0].Name != "APEX Partenaires" || from[0].Address != "no-reply@apex.dgfip.gouv.fr" {
		t.Errorf("From %v (%v)", from, err)
	}
	if h.Get("MIME-Version") != "1.0" || !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative;") {
		t.Errorf("MIME headers %q %q", h.Get("MIME-Version"), h.Get("Content-Type"))
	}
	parsed, err := notify.ParseMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Subject != m.Subject {
		t.Errorf("subject read back %q, want %q", parsed.Subject, m.Subject)
	}
	if parsed.Text != m.Text || parsed.HTML != m.HTML {
		t.Errorf("bodies read back:\n%q\n%q", parsed.Text, parsed.HTML)
	}
	// Two messages never share a Message-ID nor a boundary.
	raw2, err := notify.Compose(testFrom, m, now)
	if err != nil {
		t.Fatal(err)
	}
	msg2, _ := mail.ReadMessage(bytes.NewReader(raw2))
	if msg2.Header.Get("Message-Id") == h.Get("Message-Id") || msg2.Header.Get("Content-Type") == h.Get("Content-Type") {
		t.Error("two messages share a Message-ID or a boundary")
	}
}
