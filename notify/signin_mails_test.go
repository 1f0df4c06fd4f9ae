package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

func TestSignInCode(t *testing.T) {
	m, err := notify.Mails{}.SignInCode("marie.martin@example.fr", notify.SignInCodeData{
		FirstName:    "Marie",
		Code:         "834201",
		ValidMinutes: 10,
		PublicURL:    "https://apex.dgfip.gouv.fr",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Votre code de vérification APEX Partenaires" || len(m.To) != 1 || m.To[0] != "marie.martin@example.fr" {
		t.Errorf("subject %q, to %v", m.Subject, m.To)
	}
	for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
		for _, want := range []string{
			"Bonjour Marie,", "834201", "Mon espace APEX Partenaires", "valable 10 minutes",
			"écran de vérification", "https://apex.dgfip.gouv.fr",
			"Si vous n'avez pas essayé de vous connecter, ignorez ce message et changez votre mot de passe",
			"Direction générale des Finances publiques — ne répondez pas à ce message",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
	}
	for _, want := range []string{
		`<html lang="fr">`, `<meta charset="utf-8">`,
		"<title>Votre code de vérification APEX Partenaires</title>",
		"font-family:'Courier New',Courier,monospace;font-size:32px",
	} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
	// Inline styles only, nothing fetched from elsewhere.
	for _, banned := range []string{"<style", "<link", "<script", "<img", "src=", "url("} {
		if strings.Contains(strings.ToLower(m.HTML), banned) {
			t.Errorf("HTML part holds %q", banned)
		}
	}
}

func TestSignInCodeEscapesTheFirstName(t *testing.T) {
	m, err := notify.Mails{}.SignInCode("marie.martin@example.fr", notify.SignInCodeData{
		FirstName:    `<script>alert("x")</script>`,
		Code:         "834201",
		ValidMinutes: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script") {
		t.Errorf("the first name reached the HTML unescaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "Bonjour &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;,") {
		t.Errorf("the first name is not shown escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, `Bonjour <script>alert("x")</script>,`) {
		t.Errorf("the text part must show the name as it is:\n%s", m.Text)
	}
	if !strings.Contains(m.Text, "valable 1 minute.") || !strings.Contains(m.HTML, "valable 1 minute.") {
		t.Error("singular of « minute »")
	}
	if strings.Contains(m.Text, "(http") {
		t.Error("an empty PublicURL is shown")
	}
}

func TestSignInCodeWithoutFirstName(t *testing.T) {
	m, err := notify.Mails{}.SignInCode("marie.martin@example.fr", notify.SignInCodeData{Code: "834201", ValidMinutes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Text, "Bonjour,\n") || !strings.Contains(m.HTML, ">Bonjour,</p>") {
		t.Errorf("greeting without a first name:\n%s\n%s", m.Text, m.HTML)
	}
}

func TestSignInCodeRefusesBadData(t *testing.T) {
	good := notify.SignInCodeData{FirstName: "Marie", Code: "834201", ValidMinutes: 10, PublicURL: "https://apex.dgfip.gouv.fr"}
	for _, tt := range []struct {
		name string
		to   string
		edit func(d *notify.SignInCodeData)
	}{
		{"no code", "marie@example.fr", func(d *notify.SignInCodeData) { d.Code = " " }},
		{"no validity", "marie@example.fr", func(d *notify.SignInCodeData) { d.ValidMinutes = 0 }},
		{"javascript URL", "marie@example.fr", func(d *notify.SignInCodeData) { d.PublicURL = "javascript:alert(1)" }},
		{"relative URL", "marie@example.fr", func(d *notify.SignInCodeData) { d.PublicURL = "/connexion" }},
		{"bad recipient", "Marie <marie@example.fr>", func(*notify.SignInCodeData) {}},
		{"recipient with CRLF", "marie@example.fr\r\nBcc: evil@example.com", func(*notify.SignInCodeData) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			tt.edit(&d)
			if _, err := (notify.Mails{}).SignInCode(tt.to, d); err == nil {
				t.Error("SignInCode succeeded")
			}
		})
	}
}

// TestSignInCodeThroughSMTP reads the code from a real mail, as the HTTP
// tests do.
func TestSignInCodeThroughSMTP(t *testing.T) {
	srv := smtptest.Start(t)
	m, err := notify.Mails{}.SignInCode("marie.martin@example.fr", notify.SignInCodeData{FirstName: "Cathy Noël", Code: "570913", ValidMinutes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := mustSMTP(t, smtpConfig(srv, notify.TLSNone, nil)).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, smtptest.ToAddress("marie.martin@example.fr"), waitMail)
	if got.Subject != "Votre code de vérification APEX Partenaires" || !strings.Contains(got.Text, "\n    570913\n") ||
		!strings.Contains(got.Text, "Bonjour Cathy Noël,") || !strings.Contains(got.HTML, "\n570913\n") {
		t.Errorf("mail received:\n%s\n%s", got.Text, got.HTML)
	}
}
