package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify"
)

func TestMobileCheckedMails(t *testing.T) {
	corrected, err := notify.Mails{}.MobileChecked("marie.martin@example.fr", notify.MobileCheckedData{
		FirstName: "Marie", Identifier: "marie.martin-px", Mobile: "+262692123456", OldMobile: "+33692123456", PublicURL: publicURL + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if corrected.Subject != "Votre numéro de téléphone portable APEX Partenaires a été corrigé" || corrected.To[0] != "marie.martin@example.fr" {
		t.Errorf("corrected: subject %q, to %v", corrected.Subject, corrected.To)
	}
	// html/template writes + as &#43;.
	bothParts(t, corrected, "Bonjour Marie,", "marie.martin-px", "262 692 12 34 56", "un numéro d'outre-mer avec l'indicatif de la métropole",
		"« Gestion des données personnelles »", publicURL+"/donnees-personnelles")
	if !strings.Contains(corrected.Text, "+262 692 12 34 56") || !strings.Contains(corrected.HTML, "&#43;262 692 12 34 56") {
		t.Errorf("the number is not written with its country code:\n%s\n%s", corrected.Text, corrected.HTML)
	}
	noPart(t, corrected, "33692123456", "33 6 92", "se termine par")
	linksOnlyTo(t, corrected, publicURL)
	selfContained(t, corrected)

	removed, err := notify.Mails{}.MobileChecked("paul.petit@example.fr", notify.MobileCheckedData{
		OldMobile: "+442079460958", PublicURL: publicURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if removed.Subject != "Votre numéro de téléphone portable a été retiré de votre compte APEX Partenaires" {
		t.Errorf("removed: subject %q", removed.Subject)
	}
	bothParts(t, removed, "Bonjour,", "qui se termine par 58", "n'est pas un numéro de téléphone portable valide",
		"un lien de renouvellement vous sera envoyé à cette adresse mail", publicURL+"/donnees-personnelles")
	noPart(t, removed, "442079460958", "2079", "()", "Il est désormais enregistré")
	linksOnlyTo(t, removed, publicURL)
	selfContained(t, removed)

	// Hostile values are escaped in the HTML part, and nothing is rendered
	// without a number to tell about.
	hostile, err := notify.Mails{}.MobileChecked("x@example.fr", notify.MobileCheckedData{FirstName: "<b>Marie</b>", Mobile: "+33612345678"})
	if err != nil || strings.Contains(hostile.HTML, "<b>Marie</b>") || !strings.Contains(hostile.HTML, "&lt;b&gt;Marie&lt;/b&gt;") {
		t.Errorf("hostile first name: %v\n%s", err, hostile.HTML)
	}
	for _, bad := range []notify.MobileCheckedData{{}, {OldMobile: "5"}, {Mobile: "0612345678"}, {Mobile: "+33612345678", PublicURL: "javascript:alert(1)"}} {
		if _, err := (notify.Mails{}).MobileChecked("x@example.fr", bad); err == nil {
			t.Errorf("rendered with %+v", bad)
		} else if strings.Contains(err.Error(), "0612345678") || strings.Contains(err.Error(), "+33612345678") {
			t.Errorf("the error names the number: %v", err)
		}
	}
}

func TestNotifierMobileChecked(t *testing.T) {
	var sent []notify.Message
	n := notify.Notifier{Mailer: recordingMailer(&sent), PublicURL: publicURL}
	p := &directory.Person{Identifier: "lea.leger-px", FirstName: "Léa", Email: "lea.leger@example.fr", Mobile: "+590690123456"}
	if err := n.MobileChecked(context.Background(), p, "+33690123456"); err != nil {
		t.Fatal(err)
	}
	p.Mobile = ""
	if err := n.MobileChecked(context.Background(), p, "+33123456789"); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || sent[0].To[0] != "lea.leger@example.fr" || sent[1].To[0] != "lea.leger@example.fr" {
		t.Fatalf("sent %+v", sent)
	}
	bothParts(t, sent[0], "Bonjour Léa,", "lea.leger-px", "590 690 12 34 56")
	bothParts(t, sent[1], "qui se termine par 89")
}
