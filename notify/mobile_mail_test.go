package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
)

func TestMobileChangedMail(t *testing.T) {
	m, err := notify.Mails{}.MobileChanged("marie.martin@example.fr", notify.MobileChangedData{
		FirstName: "Marie", Identifier: "marie.martin-px", Role: "responsable",
		NewMobile: "+33698765432", ChangedAt: expires, PublicURL: publicURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Votre numéro de téléphone portable APEX Partenaires a été modifié" || len(m.To) != 1 || m.To[0] != "marie.martin@example.fr" {
		t.Errorf("subject %q, to %v", m.Subject, m.To)
	}
	bothParts(t, m, "Bonjour Marie,", "Le numéro de téléphone portable de votre compte APEX Partenaires", "marie.martin-px",
		"a été modifié le 4 décembre 2026 à 15:04 (heure de Paris). Il est remplacé par un numéro se terminant par :",
		"le code de sécurité pour le renouveler sera envoyé par SMS à ce numéro",
		"Si vous êtes à l'origine de cette modification, vous n'avez rien à faire.",
		"quelqu'un d'autre connaît votre mot de passe et a accès à votre compte : prévenez sans attendre",
		"administrateur de votre structure", "« Gestion des données personnelles »", publicURL+"/connexion")
	if !strings.Contains(m.Text, "\n    32\n") || !strings.Contains(m.HTML, "\n32\n</p>") {
		t.Errorf("the number's end does not stand out:\n%s\n%s", m.Text, m.HTML)
	}
	// A mail may be read by others than its addressee: the number is never whole.
	noPart(t, m, "+33698765432", "0698765432", "98765432", "retiré")
	linksOnlyTo(t, m, publicURL)
	selfContained(t, m)

	removed, err := notify.Mails{}.MobileChanged("marie.martin@example.fr", notify.MobileChangedData{
		Identifier: "marie.martin-px", Role: "agent", ChangedAt: expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	bothParts(t, removed, "Bonjour,", "a été retiré le 4 décembre 2026 à 15:04 (heure de Paris)",
		"le lien pour le renouveler vous sera envoyé par mail", "assistance informatique de la DGFiP")
	noPart(t, removed, "se terminant par", "http", "/connexion")

	const hostile = `<script>alert("x")</script>`
	escaped, err := notify.Mails{}.MobileChanged("marie.martin@example.fr", notify.MobileChangedData{
		FirstName: hostile, Identifier: hostile, Role: hostile, NewMobile: hostile, ChangedAt: expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(escaped.HTML, "<script") || !strings.Contains(escaped.HTML, "Bonjour &lt;script&gt;") {
		t.Errorf("a value reached the HTML unescaped:\n%s", escaped.HTML)
	}

	var bad notify.Mails
	for name, err := range map[string]error{
		"without identifier":    second(bad.MobileChanged("marie.martin@example.fr", notify.MobileChangedData{ChangedAt: expires})),
		"without time":          second(bad.MobileChanged("marie.martin@example.fr", notify.MobileChangedData{Identifier: "marie.martin-px"})),
		"with a relative URL":   second(bad.MobileChanged("marie.martin@example.fr", notify.MobileChangedData{Identifier: "marie.martin-px", ChangedAt: expires, PublicURL: "/apex"})),
		"with header injection": second(bad.MobileChanged("a@example.fr\r\nBcc: evil@example.com", notify.MobileChangedData{Identifier: "marie.martin-px", ChangedAt: expires})),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The notifier mails the address it is given, the account's before a
// change of it, and p.Email only when given none.
func TestNotifierMobileChanged(t *testing.T) {
	var sent []notify.Message
	n := notify.Notifier{Mailer: recordingMailer(&sent), PublicURL: publicURL, Now: func() time.Time { return expires }}
	marie := selfServiceMarie()
	if err := n.MobileChanged(context.Background(), marie, "marie.martin@example.fr"); err != nil {
		t.Fatal(err)
	}
	if err := n.MobileChanged(context.Background(), marie, ""); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || sent[0].To[0] != "marie.martin@example.fr" || sent[1].To[0] != marie.Email {
		t.Fatalf("sent %v", sent)
	}
	bothParts(t, sent[0], "se terminant par", "78", "le 4 décembre 2026 à 15:04", "administrateur de votre structure")
	noPart(t, sent[0], marie.Mobile)
	if err := n.MobileChanged(context.Background(), nil, "marie.martin@example.fr"); err == nil {
		t.Error("no account: no error")
	}
}
