package notify_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify"
)

const publicURL = "https://apex.dgfip.gouv.fr"

// 14:04 UTC in December is 15:04 in Paris.
var expires = time.Date(2026, time.December, 4, 14, 4, 0, 0, time.UTC)

const token = "01JREQUEST.abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE"

func invitationData() notify.InvitationData {
	return notify.InvitationData{
		Role:          "administrateur",
		StructureName: "Étude Martin & Associés",
		SIRET:         "73282932000074",
		PublicURL:     publicURL,
		Token:         token,
		ExpiresAt:     expires,
	}
}

// bothParts checks that the text and the HTML part each hold every want.
func bothParts(t *testing.T, m notify.Message, want ...string) {
	t.Helper()
	for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s part lacks %q:\n%s", part, w, body)
			}
		}
	}
}

// noPart checks that neither part holds any of unwanted.
func noPart(t *testing.T, m notify.Message, unwanted ...string) {
	t.Helper()
	for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
		for _, u := range unwanted {
			if strings.Contains(body, u) {
				t.Errorf("%s part holds %q:\n%s", part, u, body)
			}
		}
	}
}

// selfContained checks the layout: the HTML is French, titled by the
// subject, with inline styles only and nothing fetched from elsewhere; both
// parts end with the footer.
func selfContained(t *testing.T, m notify.Message) {
	t.Helper()
	for _, want := range []string{`<html lang="fr">`, `<meta charset="utf-8">`, "<title>" + m.Subject + "</title>",
		"Direction générale des Finances publiques — ne répondez pas à ce message"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
	for _, banned := range []string{"<style", "<link", "<script", "<img", "src=", "url("} {
		if strings.Contains(strings.ToLower(m.HTML), banned) {
			t.Errorf("HTML part holds %q", banned)
		}
	}
	if !strings.HasSuffix(m.Text, "--\nDirection générale des Finances publiques — ne répondez pas à ce message.\n") {
		t.Errorf("text part lacks the footer:\n%s", m.Text)
	}
}

var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"<>)]*`)

// linksOnlyTo checks that every address in both parts starts with base.
func linksOnlyTo(t *testing.T, m notify.Message, base string) {
	t.Helper()
	for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
		for _, u := range urlPattern.FindAllString(body, -1) {
			if !strings.HasPrefix(u, base+"/") {
				t.Errorf("%s part links to %s, not under %s", part, u, base)
			}
		}
	}
}

func TestInvitationMail(t *testing.T) {
	tests := []struct {
		role, service, author string
	}{
		{"administrateur", "", "Un agent de la DGFiP a pré-créé pour vous un compte administrateur"},
		{"responsable", "Comptabilité", "L'administrateur de votre structure a pré-créé pour vous un compte responsable"},
		{"collaborateur", "Comptabilité", "Le responsable de votre service ou l'administrateur de votre structure a pré-créé pour vous un compte collaborateur"},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			d := invitationData()
			d.Role, d.Service = tt.role, tt.service
			m, err := notify.Mails{}.Invitation("marie.martin@example.fr", d)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Créez votre compte APEX Partenaires" || len(m.To) != 1 || m.To[0] != "marie.martin@example.fr" {
				t.Errorf("subject %q, to %v", m.Subject, m.To)
			}
			link := publicURL + "/creation/" + token
			bothParts(t, m, "Bonjour,", tt.author, "dans l'annuaire APEX Partenaires", "73282932000074", link,
				"valable jusqu'au 4 décembre 2026 à 15:04 (heure de Paris)",
				"votre nom et votre prénom", "votre numéro de téléphone portable",
				"il est fortement recommandé de le fournir, afin de faciliter la réinitialisation de votre mot de passe",
				"il ne sera pas utilisé à d'autres fins", "le mot de passe de votre choix",
				"votre compte doit encore être validé avant de pouvoir servir",
				"Vous recevrez alors par mail votre identifiant de connexion")
			if !strings.Contains(m.Text, "Structure : Étude Martin & Associés") || !strings.Contains(m.HTML, "Étude Martin &amp; Associés") {
				t.Error("the structure's name is missing")
			}
			if tt.service != "" {
				bothParts(t, m, "Service : "+tt.service)
			} else {
				noPart(t, m, "Service :")
			}
			if !strings.Contains(m.HTML, `<a href="`+link+`"`) {
				t.Errorf("HTML part has no link to %s:\n%s", link, m.HTML)
			}
			linksOnlyTo(t, m, publicURL)
			selfContained(t, m)
		})
	}
}

func TestInvitationDatesInParisTime(t *testing.T) {
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, time.July, 1, 7, 5, 0, 0, time.UTC), "1er juillet 2026 à 09:05"},     // summer time, first of the month
		{time.Date(2026, time.February, 28, 23, 30, 0, 0, time.UTC), "1er mars 2026 à 00:30"}, // the day changes
		{time.Date(2027, time.August, 15, 12, 0, 0, 0, time.FixedZone("UTC-10", -10*3600)), "16 août 2027 à 00:00"},
	} {
		d := invitationData()
		d.ExpiresAt = tt.at
		m, err := notify.Mails{}.Invitation("marie.martin@example.fr", d)
		if err != nil {
			t.Fatal(err)
		}
		bothParts(t, m, "valable jusqu'au "+tt.want+" (heure de Paris)")
	}
}

// TestInvitationLinkFromPublicURL: the link is the configured address,
// /creation/ and the token escaped as one path segment; nothing else.
func TestInvitationLinkFromPublicURL(t *testing.T) {
	d := invitationData()
	d.PublicURL = "https://partenaires.example.gouv.fr/apex/" // a prefix, and a trailing slash
	d.Token = `a/b?c#d e"<x>`
	m, err := notify.Mails{}.Invitation("marie.martin@example.fr", d)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://partenaires.example.gouv.fr/apex/creation/a%2Fb%3Fc%23d%20e%22%3Cx%3E"
	bothParts(t, m, link)
	if !strings.Contains(m.HTML, `<a href="`+link+`"`) {
		t.Errorf("HTML part has no link to %s:\n%s", link, m.HTML)
	}
	linksOnlyTo(t, m, "https://partenaires.example.gouv.fr/apex")
}

func TestInvitationRefusesBadData(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(d *notify.InvitationData)
	}{
		{"no public URL", func(d *notify.InvitationData) { d.PublicURL = "" }},
		{"relative public URL", func(d *notify.InvitationData) { d.PublicURL = "/apex" }},
		{"javascript public URL", func(d *notify.InvitationData) { d.PublicURL = "javascript:alert(1)" }},
		{"no token", func(d *notify.InvitationData) { d.Token = " " }},
		{"agent", func(d *notify.InvitationData) { d.Role = "agent" }},
		{"no structure", func(d *notify.InvitationData) { d.StructureName = "" }},
		{"no expiry", func(d *notify.InvitationData) { d.ExpiresAt = time.Time{} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := invitationData()
			tt.edit(&d)
			if _, err := (notify.Mails{}).Invitation("marie.martin@example.fr", d); err == nil {
				t.Error("Invitation succeeded")
			}
		})
	}
}

func TestApprovedMail(t *testing.T) {
	m, err := notify.Mails{}.Approved("marie.martin@example.fr", notify.ApprovedData{
		FirstName: "Marie", Identifier: "marie.martin-px", PublicURL: publicURL + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Votre compte APEX Partenaires est validé" || m.To[0] != "marie.martin@example.fr" {
		t.Errorf("subject %q, to %v", m.Subject, m.To)
	}
	bothParts(t, m, "Bonjour Marie,", "Votre demande de compte APEX Partenaires est validée",
		"Votre identifiant de connexion est", "Votre mot de passe est celui que vous avez choisi dans le formulaire",
		"Mon espace APEX Partenaires", publicURL+"/connexion", "code de vérification")
	if !strings.Contains(m.Text, "\n    marie.martin-px\n") || !strings.Contains(m.HTML, "font-size:24px;font-weight:bold;color:#161616;\">\nmarie.martin-px\n</p>") {
		t.Errorf("the identifier does not stand out:\n%s\n%s", m.Text, m.HTML)
	}
	if !strings.Contains(m.HTML, `<a href="`+publicURL+`/connexion"`) {
		t.Error("HTML part has no link to the sign-in page")
	}
	linksOnlyTo(t, m, publicURL)
	selfContained(t, m)

	m, err = notify.Mails{}.Approved("marie.martin@example.fr", notify.ApprovedData{Identifier: "marie.martin-px"})
	if err != nil {
		t.Fatal(err)
	}
	bothParts(t, m, "Bonjour,")
	noPart(t, m, "http", "/connexion")
}

func TestRefusedMail(t *testing.T) {
	for _, tt := range []struct {
		role, contact string
	}{
		{"administrateur", "votre interlocuteur à la DGFiP"},
		{"responsable", "administrateur de votre structure"},
		{"collaborateur", "administrateur de votre structure"},
	} {
		t.Run(tt.role, func(t *testing.T) {
			m, err := notify.Mails{}.Refused("marie.martin@example.fr", notify.RefusedData{
				FirstName: "Marie", Role: tt.role, Reason: "Le SIRET ne correspond pas à votre étude.\r\nMerci de joindre un extrait Kbis.\n",
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Votre demande de compte APEX Partenaires est refusée" {
				t.Errorf("subject %q", m.Subject)
			}
			bothParts(t, m, "Bonjour Marie,", "est refusée, pour le motif suivant", tt.contact)
			if !strings.Contains(m.Text, "\n\n    Le SIRET ne correspond pas à votre étude.\n    Merci de joindre un extrait Kbis.\n\n") {
				t.Errorf("text part: the reason's lines are not kept:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, ">Le SIRET ne correspond pas à votre étude.<br>\nMerci de joindre un extrait Kbis.</p>") {
				t.Errorf("HTML part: the reason's lines are not kept:\n%s", m.HTML)
			}
			noPart(t, m, "\r")
			selfContained(t, m)
		})
	}
}

func TestHabilitatedMail(t *testing.T) {
	m, err := notify.Mails{}.Habilitated("marie.martin@example.fr", notify.HabilitatedData{
		FirstName: "Marie", Identifier: "marie.martin-px", ApplicationName: "FICOBA", Profile: "consultation",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Nouvelle habilitation à FICOBA" {
		t.Errorf("subject %q", m.Subject)
	}
	bothParts(t, m, "Bonjour Marie,", "Votre compte APEX Partenaires a désormais accès à l'application", "FICOBA", "avec le profil « consultation »",
		"attribuée par la DGFiP", "Vous pouvez dès maintenant vous connecter à FICOBA avec votre identifiant APEX Partenaires", "marie.martin-px")
	noPart(t, m, "habilité")
	// With the account's role and who gave it, worded for every reader.
	m, err = notify.Mails{}.Habilitated("marie.martin@example.fr", notify.HabilitatedData{
		FirstName: "Marie", Identifier: "marie.martin-px", Role: "collaborateur", Service: "Comptabilité", ApplicationName: "FICOBA", Profile: "consultation",
		GrantedBy: "Jean Durand (responsable de votre service)",
	})
	if err != nil {
		t.Fatal(err)
	}
	bothParts(t, m, "(collaborateur du service Comptabilité)", "attribuée par Jean Durand (responsable de votre service).",
		"signalez-le à Jean Durand (responsable de votre service).")
	selfContained(t, m)
}

// TestLifecycleMailsEscapeHostileValues: what people type (names, reasons,
// an application's name) is text in the HTML part, never markup.
func TestLifecycleMailsEscapeHostileValues(t *testing.T) {
	const hostile = `<script>alert("x")</script>`
	const escaped = `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`
	d := invitationData()
	d.StructureName, d.Service, d.Role = hostile, hostile, "collaborateur"
	invitation, err := notify.Mails{}.Invitation("marie.martin@example.fr", d)
	if err != nil {
		t.Fatal(err)
	}
	approved, err := notify.Mails{}.Approved("marie.martin@example.fr", notify.ApprovedData{FirstName: hostile, Identifier: "marie.martin-px"})
	if err != nil {
		t.Fatal(err)
	}
	refused, err := notify.Mails{}.Refused("marie.martin@example.fr", notify.RefusedData{FirstName: hostile, Reason: "Motif :\n" + hostile})
	if err != nil {
		t.Fatal(err)
	}
	habilitated, err := notify.Mails{}.Habilitated("marie.martin@example.fr", notify.HabilitatedData{
		FirstName: hostile, Identifier: "marie.martin-px", ApplicationName: hostile, Profile: hostile,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]notify.Message{"invitation": invitation, "approved": approved, "refused": refused, "habilitated": habilitated} {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(m.HTML, "<script") {
				t.Errorf("a value reached the HTML unescaped:\n%s", m.HTML)
			}
			if !strings.Contains(m.HTML, escaped) {
				t.Errorf("the value is not shown escaped:\n%s", m.HTML)
			}
			if !strings.Contains(m.Text, hostile) {
				t.Errorf("the text part must show the value as it is:\n%s", m.Text)
			}
		})
	}
	if !strings.Contains(refused.HTML, "Motif :<br>\n"+escaped+"</p>") {
		t.Errorf("refusal reason:\n%s", refused.HTML)
	}
	if habilitated.Subject != `Nouvelle habilitation à `+hostile || !strings.Contains(habilitated.HTML, "<title>Nouvelle habilitation à "+escaped+"</title>") {
		t.Errorf("subject %q:\n%s", habilitated.Subject, habilitated.HTML)
	}
}

func TestLifecycleMailsRefuseBadData(t *testing.T) {
	var m notify.Mails
	for name, err := range map[string]error{
		"approved without identifier":       second(m.Approved("marie.martin@example.fr", notify.ApprovedData{FirstName: "Marie"})),
		"approved with a javascript URL":    second(m.Approved("marie.martin@example.fr", notify.ApprovedData{Identifier: "marie.martin-px", PublicURL: "javascript:alert(1)"})),
		"refused without reason":            second(m.Refused("marie.martin@example.fr", notify.RefusedData{Reason: " \n "})),
		"habilitated without profile":       second(m.Habilitated("marie.martin@example.fr", notify.HabilitatedData{Identifier: "marie.martin-px", ApplicationName: "FICOBA"})),
		"habilitated without application":   second(m.Habilitated("marie.martin@example.fr", notify.HabilitatedData{Identifier: "marie.martin-px", Profile: "consultation"})),
		"header injection in the recipient": second(m.Approved("marie@example.fr\r\nBcc: evil@example.com", notify.ApprovedData{Identifier: "marie.martin-px"})),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func second(_ notify.Message, err error) error { return err }

// recordingMailer is a Mailer that keeps what it is given.
func recordingMailer(sent *[]notify.Message) notify.Mailer {
	return notify.MailerFunc(func(_ context.Context, m notify.Message) error {
		*sent = append(*sent, m)
		return nil
	})
}

func TestNotifierLifecycle(t *testing.T) {
	var sent []notify.Message
	n := notify.Notifier{Mailer: recordingMailer(&sent), PublicURL: publicURL}
	ctx := context.Background()
	st := &directory.Structure{SIRET: "73282932000074", Name: "Étude Martin", Category: "Notaire"}
	invited := &directory.Person{Email: "cathy.noel@example.fr", Role: directory.RoleResponsable, SIRET: st.SIRET, Service: "Comptabilité", State: directory.StateInvited}
	marie := &directory.Person{Identifier: "marie.martin-px", FirstName: "Marie", LastName: "Martin", Email: "marie.martin@example.fr",
		Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: st.SIRET}
	refusedP := &directory.Person{FirstName: "Paul", Email: "paul.durand@example.fr", Role: directory.RoleAdministrateur,
		State: directory.StateRefused, RefusalReason: "Structure inconnue."}
	app := &directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}

	steps := []struct {
		name    string
		call    func() error
		to      string
		subject string
		want    []string
	}{
		{"invitation", func() error {
			return n.Invitation(ctx, &directory.Invitation{Person: invited, Token: token, ExpiresAt: expires}, st)
		}, "cathy.noel@example.fr", "Créez votre compte APEX Partenaires",
			[]string{publicURL + "/creation/" + token, "compte responsable", "Étude Martin", "73282932000074", "Service : Comptabilité", "4 décembre 2026 à 15:04"}},
		{"approved", func() error { return n.Approved(ctx, marie) }, "marie.martin@example.fr", "Votre compte APEX Partenaires est validé",
			[]string{"Bonjour Marie,", "marie.martin-px", publicURL + "/connexion"}},
		{"refused", func() error { return n.Refused(ctx, refusedP) }, "paul.durand@example.fr", "Votre demande de compte APEX Partenaires est refusée",
			[]string{"Bonjour Paul,", "Structure inconnue.", "votre interlocuteur à la DGFiP"}},
		{"habilitated", func() error {
			return n.Habilitated(ctx, marie, app, "consultation", &directory.Person{FirstName: "Ada", LastName: "Admin", Role: directory.RoleAdministrateur})
		}, "marie.martin@example.fr", "Nouvelle habilitation à FICOBA",
			[]string{"FICOBA", "« consultation »", "marie.martin-px", "attribuée par Ada Admin (administrateur de votre structure)"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(sent)
			if err := s.call(); err != nil {
				t.Fatal(err)
			}
			if len(sent) != before+1 {
				t.Fatalf("%d messages handed to the mailer, want 1", len(sent)-before)
			}
			m := sent[len(sent)-1]
			if len(m.To) != 1 || m.To[0] != s.to || m.Subject != s.subject {
				t.Errorf("to %v, subject %q; want %s, %q", m.To, m.Subject, s.to, s.subject)
			}
			bothParts(t, m, s.want...)
			linksOnlyTo(t, m, publicURL)
		})
	}
}

func TestNotifierLifecycleErrors(t *testing.T) {
	ctx := context.Background()
	relayDown := errors.New("relay down")
	n := notify.Notifier{PublicURL: publicURL, Mailer: notify.MailerFunc(func(context.Context, notify.Message) error { return relayDown })}
	marie := &directory.Person{Identifier: "marie.martin-px", FirstName: "Marie", Email: "marie.martin@example.fr", Role: directory.RoleAdministrateur}
	if err := n.Approved(ctx, marie); !errors.Is(err, relayDown) {
		t.Errorf("the mailer's error: %v", err)
	}

	var sent []notify.Message
	n = notify.Notifier{Mailer: recordingMailer(&sent)} // no PublicURL: no link can be built
	inv := &directory.Invitation{Person: &directory.Person{Email: "a@example.fr", Role: directory.RoleAdministrateur}, Token: token, ExpiresAt: expires}
	st := &directory.Structure{SIRET: "73282932000074", Name: "Étude Martin"}
	if err := n.Invitation(ctx, inv, st); err == nil {
		t.Error("an invitation without PublicURL was sent")
	}
	if err := n.Invitation(ctx, nil, st); err == nil {
		t.Error("no invitation: no error")
	}
	if err := n.Refused(ctx, &directory.Person{Email: "a@example.fr"}); err == nil {
		t.Error("a refusal without reason was sent")
	}
	if err := n.Habilitated(ctx, marie, nil, "consultation", nil); err == nil {
		t.Error("no application: no error")
	}
	if len(sent) != 0 {
		t.Errorf("%d messages sent after errors", len(sent))
	}
}
