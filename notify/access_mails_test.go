package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
)

// The mails of the scheduled jobs: what each tells, in French, with the
// days in Paris time, and nothing that is not the person's.

// 23:30 UTC on 28 February is 1 March in Paris.
var lateFebruary = time.Date(2027, time.February, 28, 23, 30, 0, 0, time.UTC)

func TestDormancyWarningMail(t *testing.T) {
	m, err := notify.Mails{}.DormancyWarning("marie@example.fr", notify.DormancyWarningData{
		FirstName: "Marie", Identifier: "marie.martin-px", LastUse: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC),
		Deadline: lateFebruary, PublicURL: publicURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Votre compte APEX Partenaires sera désactivé le 1er mars 2027" {
		t.Errorf("subject %q", m.Subject)
	}
	bothParts(t, m, "Bonjour Marie,", "marie.martin-px", "n'a pas servi depuis le 1er septembre 2026",
		"ni pour vous connecter à Mon espace APEX Partenaires, ni pour accéder à une application de la DGFiP",
		"le 1er mars 2027", publicURL+"/connexion", "vous n'avez rien à faire")
	linksOnlyTo(t, m, publicURL)
	selfContained(t, m)
	if _, err := (notify.Mails{}).DormancyWarning("marie@example.fr", notify.DormancyWarningData{Identifier: "x", PublicURL: publicURL}); err == nil {
		t.Error("a warning without its dates was rendered")
	}
}

func TestAccountDisabledMails(t *testing.T) {
	for _, tt := range []struct {
		cause, role, says, turn string
	}{
		{"dormancy", "collaborateur", "n'a pas servi depuis le 1er mars 2027 : il est désactivé", "l'administrateur de votre structure"},
		{"end_date", "administrateur", "a atteint sa date de fin : il est désactivé", "la DGFiP"},
	} {
		t.Run(tt.cause, func(t *testing.T) {
			m, err := notify.Mails{}.AccountDisabled("paul@example.fr", notify.AccountDisabledData{
				FirstName: "Paul", Identifier: "paul.durand-px", Role: tt.role, Cause: tt.cause, LastUse: lateFebruary,
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Votre compte APEX Partenaires est désactivé" {
				t.Errorf("subject %q", m.Subject)
			}
			bothParts(t, m, "Bonjour Paul,", "paul.durand-px", tt.says, "demandez sa réactivation à "+tt.turn)
			selfContained(t, m)

			mm, err := notify.Mails{}.ManagedAccountDisabled("chef@example.fr", notify.ManagedAccountDisabledData{
				FirstName: "Rita", Name: "Paul Durand", Identifier: "paul.durand-px", Role: tt.role, Structure: "73282932000074",
				Cause: tt.cause, LastUse: lateFebruary, PublicURL: publicURL,
			})
			if err != nil {
				t.Fatal(err)
			}
			if mm.Subject != "Compte désactivé : Paul Durand (paul.durand-px)" {
				t.Errorf("managers' subject %q", mm.Subject)
			}
			bothParts(t, mm, "Bonjour Rita,", "Paul Durand", "structure 73282932000074", "Vous recevez ce message parce que vous gérez ce compte",
				publicURL+"/gestion/comptes/paul.durand-px")
			linksOnlyTo(t, mm, publicURL)
			selfContained(t, mm)
		})
	}
	// A shared mailbox is greeted without a name.
	m, err := notify.Mails{}.ManagedAccountDisabled("agents@example.fr", notify.ManagedAccountDisabledData{
		Name: "Luc Admin", Identifier: "luc.admin-px", Cause: "dormancy", LastUse: lateFebruary, PublicURL: publicURL})
	if err != nil || !strings.HasPrefix(m.Text, "Bonjour,\n") {
		t.Errorf("to the agents' mailbox: %v\n%s", err, m.Text)
	}
	if _, err := (notify.Mails{}).AccountDisabled("p@example.fr", notify.AccountDisabledData{Identifier: "p-px", Cause: "whim"}); err == nil {
		t.Error("a disabling of no known cause was rendered")
	}
}

func TestEndMails(t *testing.T) {
	account, err := notify.Mails{}.EndWarning("a@example.fr", notify.EndWarningData{FirstName: "Ana", Identifier: "ana.fin-px", Role: "collaborateur", End: lateFebruary})
	if err != nil {
		t.Fatal(err)
	}
	if account.Subject != "Votre compte APEX Partenaires prend fin le 1er mars 2027" {
		t.Errorf("subject %q", account.Subject)
	}
	bothParts(t, account, "Bonjour Ana,", "ana.fin-px", "il sera désactivé", "qui peut reporter cette date")
	selfContained(t, account)

	hab, err := notify.Mails{}.EndWarning("a@example.fr", notify.EndWarningData{Identifier: "ana.fin-px", Role: "administrateur",
		ApplicationName: "FICOBA", Profile: "consultation", End: lateFebruary})
	if err != nil {
		t.Fatal(err)
	}
	if hab.Subject != "Votre habilitation à FICOBA prend fin le 1er mars 2027" {
		t.Errorf("subject %q", hab.Subject)
	}
	bothParts(t, hab, "profil « consultation »", "n'y donnera plus accès", "adressez-vous à la DGFiP")
	noPart(t, hab, "il sera désactivé")

	ended, err := notify.Mails{}.HabilitationEnded("a@example.fr", notify.HabilitationEndedData{FirstName: "Ana", Identifier: "ana.fin-px",
		ApplicationName: "FICOBA", Profile: "consultation"})
	if err != nil {
		t.Fatal(err)
	}
	if ended.Subject != "Votre habilitation à FICOBA a pris fin" {
		t.Errorf("subject %q", ended.Subject)
	}
	bothParts(t, ended, "a atteint sa date de fin : elle est retirée de votre compte ana.fin-px")
	selfContained(t, ended)
}

func TestInvitationReminderMail(t *testing.T) {
	m, err := notify.Mails{}.InvitationReminder("marie.martin@example.fr", invitationData())
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Rappel : créez votre compte APEX Partenaires avant le 4 décembre 2026 à 15:04" {
		t.Errorf("subject %q", m.Subject)
	}
	bothParts(t, m, publicURL+"/creation/"+token, "valable jusqu'au 4 décembre 2026 à 15:04 (heure de Paris) et remplace celui du message précédent",
		"son formulaire n'est pas encore rempli")
	linksOnlyTo(t, m, publicURL)
	selfContained(t, m)
	d := invitationData()
	d.Token = ""
	if _, err := (notify.Mails{}).InvitationReminder("m@example.fr", d); err == nil {
		t.Error("a reminder without its link was rendered")
	}
}
