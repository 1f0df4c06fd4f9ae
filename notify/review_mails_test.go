package notify_test

import (
	"testing"

	"github.com/dgfip/apex-partenaires/notify"
)

// The mails of the reviews of habilitations: to a reviewer, the start
// and the reminders, with the link to the page; to a person, a
// habilitation withdrawn at the deadline.

func TestReviewMails(t *testing.T) {
	for _, tt := range []struct {
		name    string
		render  func(string, notify.ReviewData) (notify.Message, error)
		subject string
		says    string
	}{
		{"start", notify.Mails{}.ReviewStarted, "Revue des habilitations : 3 lignes à examiner avant le 1er mars 2027", "à examiner : pour chacune, confirmez-la si la personne en a toujours besoin, retirez-la sinon"},
		{"reminder", notify.Mails{}.ReviewReminder, "Rappel : 3 habilitations à examiner avant le 1er mars 2027", "à examiner dans la revue des habilitations aux applications de la DGFiP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, flag := range []bool{false, true} {
				m, err := tt.render("rita@example.fr", notify.ReviewData{FirstName: "Rita", Lines: 3, Deadline: lateFebruary, Flag: flag, PublicURL: publicURL})
				if err != nil {
					t.Fatal(err)
				}
				if m.Subject != tt.subject {
					t.Errorf("subject %q", m.Subject)
				}
				then := "les habilitations non confirmées seront retirées"
				if flag {
					then = "les habilitations non confirmées seront signalées à la DGFiP"
				}
				bothParts(t, m, "Bonjour Rita,", tt.says, "le 1er mars 2027", then, publicURL+"/gestion/revue")
				linksOnlyTo(t, m, publicURL)
				selfContained(t, m)
			}
			if _, err := tt.render("rita@example.fr", notify.ReviewData{Deadline: lateFebruary, PublicURL: publicURL}); err == nil {
				t.Error("a mail without lines was rendered")
			}
		})
	}
	m, err := notify.Mails{}.ReviewWithdrawn("paul@example.fr", notify.ReviewWithdrawnData{FirstName: "Paul", Identifier: "paul.durand-px",
		Role: "collaborateur", ApplicationName: "FICOBA", Profile: "consultation"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Votre habilitation à FICOBA est retirée" {
		t.Errorf("subject %q", m.Subject)
	}
	bothParts(t, m, "Bonjour Paul,", "profil « consultation », n'a pas été confirmée", "paul.durand-px", "l'administrateur de votre structure")
	selfContained(t, m)
}
