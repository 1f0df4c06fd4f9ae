package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify"
)

// smsRecorder is an SMSSender that keeps what it is given, after the same
// check a real sender makes.
type smsRecorder struct {
	mu   sync.Mutex
	sent []notify.SMS
	err  error // returned, after recording nothing, when set
}

func (r *smsRecorder) SendSMS(_ context.Context, m notify.SMS) error {
	if err := m.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, m)
	return nil
}

func (r *smsRecorder) all() []notify.SMS {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.SMS(nil), r.sent...)
}

// gsm7 is the GSM 03.38 basic alphabet less its escape, as far as French
// needs: an SMS made of these fits 160 characters in one message.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

func TestResetCodeSMS(t *testing.T) {
	m, err := notify.ResetCodeSMS("+33612345678", "123456", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const want = "APEX Partenaires : votre code de sécurité est 123456. Il est valable 10 minutes. Ne le communiquez à personne."
	if m.To != "+33612345678" || m.Text != want {
		t.Errorf("SMS %+v\nwant text %q", m, want)
	}
	for _, tt := range []struct {
		validFor time.Duration
		want     string
	}{
		{time.Minute, "valable 1 minute."},
		{90 * time.Second, "valable 1 minute."},
		{time.Hour, "valable 1 heure."},
		{2 * time.Hour, "valable 2 heures."},
		{90 * time.Minute, "valable 1 heure et 30 minutes."},
	} {
		m, err := notify.ResetCodeSMS("+33612345678", "000042", tt.validFor)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Text, tt.want) {
			t.Errorf("%s: %q lacks %q", tt.validFor, m.Text, tt.want)
		}
		// One SMS in the 7-bit alphabet: 160 characters at most, no link.
		if n := len([]rune(m.Text)); n > 160 {
			t.Errorf("%d characters: %q", n, m.Text)
		}
		for _, r := range m.Text {
			if !strings.ContainsRune(gsm7, r) {
				t.Errorf("%q is not in the GSM 7-bit alphabet: %q", r, m.Text)
			}
		}
		if strings.Contains(m.Text, "http") || strings.Contains(m.Text, "://") {
			t.Errorf("a link in the SMS: %q", m.Text)
		}
	}
}

func TestResetCodeSMSRefusesBadData(t *testing.T) {
	for _, tt := range []struct {
		name, to, code string
		validFor       time.Duration
	}{
		{"no code", "+33612345678", "", 10 * time.Minute},
		{"a code with a line break", "+33612345678", "123456\nCliquez sur http://evil.example", 10 * time.Minute},
		{"a code with a space", "+33612345678", "123 456", 10 * time.Minute},
		{"no validity", "+33612345678", "123456", 0},
		{"less than a minute", "+33612345678", "123456", 59 * time.Second},
		{"a national number", "0612345678", "123456", 10 * time.Minute},
		{"no number", "", "123456", 10 * time.Minute},
		{"a number with letters", "+3361234567a", "123456", 10 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.ResetCodeSMS(tt.to, tt.code, tt.validFor)
			if err == nil {
				t.Fatal("no error")
			}
			for _, secret := range []string{tt.to, tt.code} {
				if len(secret) >= 6 && strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q holds %q", err, secret)
				}
			}
		})
	}
}

func resetLinkData() notify.ResetLinkData {
	return notify.ResetLinkData{
		FirstName:  "Marie",
		Identifier: "marie.martin-px",
		PublicURL:  publicURL,
		Token:      "marie.martin-px.abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE",
		ValidFor:   time.Hour,
	}
}

func TestResetLinkMail(t *testing.T) {
	d := resetLinkData()
	m, err := notify.Mails{}.ResetLink("marie.martin@example.fr", d)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Renouvellement de votre mot de passe APEX Partenaires" || len(m.To) != 1 || m.To[0] != "marie.martin@example.fr" {
		t.Errorf("subject %q, to %v", m.Subject, m.To)
	}
	link := publicURL + "/mot-de-passe/renouveler/" + d.Token
	bothParts(t, m, "Bonjour Marie,", "Le renouvellement du mot de passe de votre compte APEX Partenaires",
		"marie.martin-px", link, "Ce lien est valable 1 heure et ne sert qu'une fois.",
		"12 à 20 caractères", "différent des 10 derniers mots de passe utilisés",
		"Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe reste inchangé.")
	if !strings.Contains(m.Text, "\n    "+link+"\n") {
		t.Errorf("the link does not stand on its own line:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `<a href="`+link+`"`) {
		t.Errorf("HTML part has no link to %s:\n%s", link, m.HTML)
	}
	linksOnlyTo(t, m, publicURL)
	selfContained(t, m)

	for validFor, want := range map[time.Duration]string{
		10 * time.Minute: "valable 10 minutes",
		time.Minute:      "valable 1 minute ",
		3 * time.Hour:    "valable 3 heures",
		75 * time.Minute: "valable 1 heure et 15 minutes",
	} {
		d := resetLinkData()
		d.ValidFor = validFor
		m, err := notify.Mails{}.ResetLink("marie.martin@example.fr", d)
		if err != nil {
			t.Fatal(err)
		}
		bothParts(t, m, want)
	}

	d = resetLinkData()
	d.FirstName, d.Identifier = "", ""
	if m, err = (notify.Mails{}).ResetLink("marie.martin@example.fr", d); err != nil {
		t.Fatal(err)
	}
	bothParts(t, m, "Bonjour,", "compte APEX Partenaires a été demandé")
}

// TestResetLinkFromPublicURL: the link is the configured address,
// /mot-de-passe/renouveler/ and the token escaped as one path segment.
func TestResetLinkFromPublicURL(t *testing.T) {
	d := resetLinkData()
	d.PublicURL = "https://partenaires.example.gouv.fr/apex/"
	d.Token = `a/b?c#d e"<x>`
	m, err := notify.Mails{}.ResetLink("marie.martin@example.fr", d)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://partenaires.example.gouv.fr/apex/mot-de-passe/renouveler/a%2Fb%3Fc%23d%20e%22%3Cx%3E"
	bothParts(t, m, link)
	if !strings.Contains(m.HTML, `<a href="`+link+`"`) {
		t.Errorf("HTML part has no link to %s:\n%s", link, m.HTML)
	}
	linksOnlyTo(t, m, "https://partenaires.example.gouv.fr/apex")
}

func TestPasswordChangedMail(t *testing.T) {
	for _, tt := range []struct {
		role    string
		contact string
	}{
		{"administrateur", "votre interlocuteur à la DGFiP"},
		{"responsable", "l'administrateur de votre structure"},
		{"collaborateur", "l'administrateur de votre structure"},
		{"agent", "l'assistance informatique de la DGFiP"},
	} {
		t.Run(tt.role, func(t *testing.T) {
			m, err := notify.Mails{}.PasswordChanged("marie.martin@example.fr", notify.PasswordChangedData{
				FirstName: "Marie", Identifier: "marie.martin-px", Role: tt.role, ChangedAt: expires, PublicURL: publicURL + "/",
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Votre mot de passe APEX Partenaires a été modifié" || m.To[0] != "marie.martin@example.fr" {
				t.Errorf("subject %q, to %v", m.Subject, m.To)
			}
			bothParts(t, m, "Bonjour Marie,", "marie.martin-px",
				"a été modifié le 4 décembre 2026 à 15:04 (heure de Paris)",
				"Si vous êtes à l'origine de cette modification, vous n'avez rien à faire.",
				"quelqu'un d'autre connaît peut-être votre mot de passe",
				"« Mot de passe oublié ? » sur la page de connexion", publicURL+"/connexion")
			// html/template writes ' as &#39;.
			if !strings.Contains(m.Text, ", puis prévenez "+tt.contact+".") ||
				!strings.Contains(m.HTML, ", puis prévenez "+strings.ReplaceAll(tt.contact, "'", "&#39;")+".") {
				t.Errorf("the contact %q is missing:\n%s\n%s", tt.contact, m.Text, m.HTML)
			}
			if !strings.Contains(m.HTML, `<a href="`+publicURL+`/connexion"`) {
				t.Error("HTML part has no link to the sign-in page")
			}
			linksOnlyTo(t, m, publicURL)
			selfContained(t, m)
		})
	}

	// Summer time, and no public URL: no link.
	m, err := notify.Mails{}.PasswordChanged("marie.martin@example.fr", notify.PasswordChangedData{
		Identifier: "marie.martin-px", ChangedAt: time.Date(2026, time.July, 1, 7, 5, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	bothParts(t, m, "Bonjour,", "le 1er juillet 2026 à 09:05 (heure de Paris)", "« Mot de passe oublié ? » sur la page de connexion, puis")
	noPart(t, m, "http", "/connexion")
}

func TestEmailChangedMails(t *testing.T) {
	old, err := notify.Mails{}.EmailChangedOld("marie.martin@example.fr", notify.EmailChangedOldData{
		FirstName: "Marie", Identifier: "marie.martin-px", Role: "collaborateur",
		NewEmail: "marie.dupont@exemple.fr", ChangedAt: expires, PublicURL: publicURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if old.Subject != "Votre adresse mail APEX Partenaires a été modifiée" || len(old.To) != 1 || old.To[0] != "marie.martin@example.fr" {
		t.Errorf("subject %q, to %v", old.Subject, old.To)
	}
	bothParts(t, old, "Bonjour Marie,", "L'adresse mail de votre compte APEX Partenaires", "marie.martin-px",
		"a été modifiée le 4 décembre 2026 à 15:04 (heure de Paris). Elle est remplacée par :", "m***@exemple.fr",
		"ne seront plus envoyés à cette adresse-ci", "Si vous êtes à l'origine de cette modification, vous n'avez rien à faire.",
		"quelqu'un d'autre a peut-être accès à votre compte : prévenez sans attendre",
		"administrateur de votre structure", "« Mot de passe oublié ? »", publicURL+"/connexion")
	if !strings.Contains(old.Text, "\n    m***@exemple.fr\n") {
		t.Errorf("the masked address does not stand out:\n%s", old.Text)
	}
	// The former address may no longer be the person's: the new one is
	// never shown whole.
	noPart(t, old, "marie.dupont", "dupont@")
	linksOnlyTo(t, old, publicURL)
	selfContained(t, old)

	fresh, err := notify.Mails{}.EmailChangedNew("marie.dupont@exemple.fr", notify.EmailChangedNewData{
		FirstName: "Marie", Identifier: "marie.martin-px", Role: "administrateur", PublicURL: publicURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Subject != "Votre nouvelle adresse mail APEX Partenaires" || len(fresh.To) != 1 || fresh.To[0] != "marie.dupont@exemple.fr" {
		t.Errorf("subject %q, to %v", fresh.Subject, fresh.To)
	}
	bothParts(t, fresh, "Bonjour Marie,", "Cette adresse mail est désormais celle de votre compte APEX Partenaires",
		"identifiant de connexion est", "codes de vérification et les liens de renouvellement du mot de passe",
		publicURL+"/connexion", "Si vous n'êtes pas à l'origine de ce changement, prévenez votre interlocuteur à la DGFiP.")
	if !strings.Contains(fresh.Text, "\n    marie.martin-px\n") || !strings.Contains(fresh.HTML, "\nmarie.martin-px\n</p>") {
		t.Errorf("the identifier does not stand out:\n%s\n%s", fresh.Text, fresh.HTML)
	}
	noPart(t, fresh, "marie.martin@example.fr")
	linksOnlyTo(t, fresh, publicURL)
	selfContained(t, fresh)
}

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

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"marie.martin@exemple.fr":     "m***@exemple.fr",
		"m@exemple.fr":                "m***@exemple.fr",
		"Marie@Exemple.FR":            "M***@Exemple.FR",
		`"a@b"@exemple.fr`:            `"***@exemple.fr`,
		" marie@exemple.fr ":          "m***@exemple.fr",
		"":                            "***",
		"marie":                       "***",
		"@exemple.fr":                 "***",
		"marie@":                      "***",
		"marie.martin@sub.ex.gouv.fr": "m***@sub.ex.gouv.fr",
	} {
		if got := notify.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSelfServiceMailsEscapeHostileValues: a name someone typed is text in
// the HTML part, never markup.
func TestSelfServiceMailsEscapeHostileValues(t *testing.T) {
	const hostile = `<script>alert("x")</script>`
	const escaped = `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`
	var mails notify.Mails
	d := resetLinkData()
	d.FirstName, d.Identifier = hostile, hostile
	reset, err := mails.ResetLink("marie.martin@example.fr", d)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := mails.PasswordChanged("marie.martin@example.fr", notify.PasswordChangedData{
		FirstName: hostile, Identifier: hostile, Role: hostile, ChangedAt: expires, PublicURL: publicURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	old, err := mails.EmailChangedOld("marie.martin@example.fr", notify.EmailChangedOldData{
		FirstName: hostile, Identifier: hostile, NewEmail: "<b>x</b>@exemple.fr", ChangedAt: expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := mails.EmailChangedNew("marie.dupont@exemple.fr", notify.EmailChangedNewData{FirstName: hostile, Identifier: hostile})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]notify.Message{"reset link": reset, "password changed": changed, "email changed (old)": old, "email changed (new)": fresh} {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(m.HTML, "<script") || strings.Contains(m.HTML, "<b>") {
				t.Errorf("a value reached the HTML unescaped:\n%s", m.HTML)
			}
			if !strings.Contains(m.HTML, "Bonjour "+escaped+",") {
				t.Errorf("the name is not shown escaped:\n%s", m.HTML)
			}
			if !strings.Contains(m.Text, "Bonjour "+hostile+",") {
				t.Errorf("the text part must show the name as it is:\n%s", m.Text)
			}
		})
	}
	if !strings.Contains(old.HTML, "\n&lt;***@exemple.fr\n") {
		t.Errorf("masked address:\n%s", old.HTML)
	}
}

func TestSelfServiceMailsRefuseBadData(t *testing.T) {
	var m notify.Mails
	noURL := resetLinkData()
	noURL.PublicURL = ""
	jsURL := resetLinkData()
	jsURL.PublicURL = "javascript:alert(1)"
	noToken := resetLinkData()
	noToken.Token = " "
	shortLife := resetLinkData()
	shortLife.ValidFor = 30 * time.Second
	for name, err := range map[string]error{
		"reset link without public URL":      second(m.ResetLink("marie.martin@example.fr", noURL)),
		"reset link with a javascript URL":   second(m.ResetLink("marie.martin@example.fr", jsURL)),
		"reset link without token":           second(m.ResetLink("marie.martin@example.fr", noToken)),
		"reset link valid under a minute":    second(m.ResetLink("marie.martin@example.fr", shortLife)),
		"reset link to no address":           second(m.ResetLink("", resetLinkData())),
		"password changed without time":      second(m.PasswordChanged("marie.martin@example.fr", notify.PasswordChangedData{Identifier: "marie.martin-px"})),
		"password changed without identity":  second(m.PasswordChanged("marie.martin@example.fr", notify.PasswordChangedData{ChangedAt: expires})),
		"password changed, relative URL":     second(m.PasswordChanged("marie.martin@example.fr", notify.PasswordChangedData{Identifier: "marie.martin-px", ChangedAt: expires, PublicURL: "/apex"})),
		"email changed without new address":  second(m.EmailChangedOld("marie.martin@example.fr", notify.EmailChangedOldData{Identifier: "marie.martin-px", ChangedAt: expires})),
		"email changed without time":         second(m.EmailChangedOld("marie.martin@example.fr", notify.EmailChangedOldData{Identifier: "marie.martin-px", NewEmail: "m@exemple.fr"})),
		"new email without identifier":       second(m.EmailChangedNew("marie.dupont@exemple.fr", notify.EmailChangedNewData{})),
		"header injection in the old one":    second(m.EmailChangedOld("a@example.fr\r\nBcc: evil@example.com", notify.EmailChangedOldData{Identifier: "marie.martin-px", NewEmail: "m@exemple.fr", ChangedAt: expires})),
		"header injection in the new one":    second(m.EmailChangedNew("a@example.fr\r\nBcc: evil@example.com", notify.EmailChangedNewData{Identifier: "marie.martin-px"})),
		"display name in the new one":        second(m.EmailChangedNew("Marie <marie@example.fr>", notify.EmailChangedNewData{Identifier: "marie.martin-px"})),
		"password changed to a bare address": second(m.PasswordChanged("marie", notify.PasswordChangedData{Identifier: "marie.martin-px", ChangedAt: expires})),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func selfServiceMarie() *directory.Person {
	return &directory.Person{
		Identifier: "marie.martin-px", FirstName: "Marie", LastName: "Martin",
		Email: "marie.dupont@exemple.fr", Mobile: "+33612345678",
		Role: directory.RoleResponsable, State: directory.StateActive, SIRET: "73282932000074", Service: "Comptabilité",
	}
}

func TestNotifierSelfService(t *testing.T) {
	var sent []notify.Message
	sms := &smsRecorder{}
	n := notify.Notifier{Mailer: recordingMailer(&sent), SMS: sms, PublicURL: publicURL, Now: func() time.Time { return expires }}
	ctx := context.Background()
	marie := selfServiceMarie()

	t.Run("reset code", func(t *testing.T) {
		if err := n.ResetCode(ctx, marie, "482913", 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		got := sms.all()
		want := notify.SMS{To: "+33612345678", Text: "APEX Partenaires : votre code de sécurité est 482913. Il est valable 10 minutes. Ne le communiquez à personne."}
		if len(got) != 1 || got[0] != want {
			t.Errorf("SMS sent %+v, want %+v", got, want)
		}
		if len(sent) != 0 {
			t.Errorf("a code by SMS also mailed: %v", sent)
		}
	})

	const resetToken = "marie.martin-px.Zm9vYmFyYmF6cXV4"
	steps := []struct {
		name string
		call func() error
		want []notify.Message // To and Subject only
		has  [][]string       // what each message holds, in both parts
	}{
		{"reset link", func() error { return n.ResetLink(ctx, marie, resetToken, time.Hour) },
			[]notify.Message{{To: []string{"marie.dupont@exemple.fr"}, Subject: "Renouvellement de votre mot de passe APEX Partenaires"}},
			[][]string{{"Bonjour Marie,", publicURL + "/mot-de-passe/renouveler/" + resetToken, "valable 1 heure", "marie.martin-px"}}},
		{"password changed", func() error { return n.PasswordChanged(ctx, marie) },
			[]notify.Message{{To: []string{"marie.dupont@exemple.fr"}, Subject: "Votre mot de passe APEX Partenaires a été modifié"}},
			[][]string{{"le 4 décembre 2026 à 15:04 (heure de Paris)", "marie.martin-px", publicURL + "/connexion", "administrateur de votre structure"}}},
		{"email changed", func() error { return n.EmailChanged(ctx, marie, "marie.martin@example.fr") },
			[]notify.Message{
				{To: []string{"marie.martin@example.fr"}, Subject: "Votre adresse mail APEX Partenaires a été modifiée"},
				{To: []string{"marie.dupont@exemple.fr"}, Subject: "Votre nouvelle adresse mail APEX Partenaires"},
			},
			[][]string{
				{"m***@exemple.fr", "le 4 décembre 2026 à 15:04 (heure de Paris)", "marie.martin-px"},
				{"Cette adresse mail est désormais celle de votre compte", "marie.martin-px"},
			}},
		{"mail change by the person", func() error {
			return n.MailChangeRequested(ctx, marie, &directory.MailChange{Email: "marie.nouvelle@exemple.fr", Token: resetToken, Code: "482913", ExpiresAt: expires.Add(24 * time.Hour)}, nil)
		},
			[]notify.Message{
				{To: []string{"marie.nouvelle@exemple.fr"}, Subject: "Confirmez votre nouvelle adresse mail APEX Partenaires"},
				{To: []string{"marie.dupont@exemple.fr"}, Subject: "Une nouvelle adresse mail attend sa confirmation sur votre compte APEX Partenaires"},
			},
			[][]string{
				{"Vous avez demandé", "482913", publicURL + "/adresse-mail/confirmer/" + resetToken, "marie.martin-px", "jusqu'au 5 décembre 2026 à 15:04", "ne servent qu'une fois"},
				{"m***@exemple.fr", "le 4 décembre 2026 à 15:04 (heure de Paris)", "restent envoyés ici", "Mot de passe oublié"},
			}},
		{"mail change by a manager", func() error {
			by := &directory.Person{Identifier: "jean.durand-px", FirstName: "Jean", LastName: "Durand", Role: directory.RoleAdministrateur}
			return n.MailChangeRequested(ctx, marie, &directory.MailChange{Email: "marie.nouvelle@exemple.fr", Token: resetToken, Code: "482913", ExpiresAt: expires.Add(24 * time.Hour)}, by)
		},
			[]notify.Message{
				{To: []string{"marie.nouvelle@exemple.fr"}, Subject: "Confirmez votre nouvelle adresse mail APEX Partenaires"},
				{To: []string{"marie.dupont@exemple.fr"}, Subject: "Une nouvelle adresse mail attend sa confirmation sur votre compte APEX Partenaires"},
			},
			[][]string{
				{"saisie par Jean Durand (administrateur de votre structure)", "saisissez le mot de passe de votre compte", publicURL + "/adresse-mail/confirmer/" + resetToken, "ne sert qu'une fois"},
				{"par Jean Durand (administrateur de votre structure), qui gère votre compte", "m***@exemple.fr", "avec le mot de passe de votre compte"},
			}},
		{"renewal link sent by the helpdesk", func() error {
			return n.RenewalLink(ctx, marie, resetToken, time.Hour, &directory.Person{FirstName: "Agathe", LastName: "Agent", Role: directory.RoleAgent})
		},
			[]notify.Message{{To: []string{"marie.dupont@exemple.fr"}, Subject: "Renouvellement de votre mot de passe APEX Partenaires"}},
			[][]string{{"assistance de la DGFiP, qui gère votre compte", publicURL + "/mot-de-passe/renouveler/" + resetToken, "choisissez vous-même"}}},
		{"email changed from no address", func() error { return n.EmailChanged(ctx, marie, "") },
			[]notify.Message{{To: []string{"marie.dupont@exemple.fr"}, Subject: "Votre nouvelle adresse mail APEX Partenaires"}},
			[][]string{{"marie.martin-px"}}},
		{"email changed in case only", func() error { return n.EmailChanged(ctx, marie, "Marie.Dupont@Exemple.fr") },
			[]notify.Message{{To: []string{"marie.dupont@exemple.fr"}, Subject: "Votre nouvelle adresse mail APEX Partenaires"}},
			[][]string{{"marie.martin-px"}}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(sent)
			if err := s.call(); err != nil {
				t.Fatal(err)
			}
			got := sent[before:]
			if len(got) != len(s.want) {
				t.Fatalf("%d messages handed to the mailer, want %d", len(got), len(s.want))
			}
			for i, m := range got {
				if len(m.To) != 1 || m.To[0] != s.want[i].To[0] || m.Subject != s.want[i].Subject {
					t.Errorf("message %d: to %v, subject %q; want %v, %q", i, m.To, m.Subject, s.want[i].To, s.want[i].Subject)
				}
				bothParts(t, m, s.has[i]...)
				linksOnlyTo(t, m, publicURL)
				noPart(t, m, "+33612345678")
			}
		})
	}
	if len(sms.all()) != 1 {
		t.Errorf("%d SMS sent in all, want 1", len(sms.all()))
	}
}

// TestNotifierResetLinkFromPublicURLOnly: the link of the mail is the
// Notifier's PublicURL, whatever else the account or the token hold.
func TestNotifierResetLinkFromPublicURLOnly(t *testing.T) {
	var sent []notify.Message
	n := notify.Notifier{Mailer: recordingMailer(&sent), PublicURL: "https://partenaires.example.gouv.fr/apex"}
	marie := selfServiceMarie()
	marie.FirstName = "https://evil.example/phish"
	if err := n.ResetLink(context.Background(), marie, "marie.martin-px.//evil.example", time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 {
		t.Fatalf("%d messages", len(sent))
	}
	link := "https://partenaires.example.gouv.fr/apex/mot-de-passe/renouveler/marie.martin-px.%2F%2Fevil.example"
	bothParts(t, sent[0], link)
	if !strings.Contains(sent[0].HTML, `<a href="`+link+`"`) {
		t.Errorf("HTML part has no link to %s:\n%s", link, sent[0].HTML)
	}
	for part, body := range map[string]string{"text": sent[0].Text, "HTML": sent[0].HTML} {
		if strings.Contains(body, `href="https://evil`) {
			t.Errorf("%s part links elsewhere:\n%s", part, body)
		}
	}
}

func TestNotifierSelfServiceErrors(t *testing.T) {
	ctx := context.Background()
	marie := selfServiceMarie()

	var sent []notify.Message
	n := notify.Notifier{Mailer: recordingMailer(&sent), PublicURL: publicURL}
	if err := n.ResetCode(ctx, marie, "482913", 10*time.Minute); err == nil {
		t.Error("a code with no SMS sender: no error")
	}
	down := errors.New("gateway down")
	sms := &smsRecorder{err: down}
	n.SMS = sms
	if err := n.ResetCode(ctx, marie, "482913", 10*time.Minute); !errors.Is(err, down) {
		t.Errorf("the sender's error: %v", err)
	}
	sms.err = nil
	noMobile := selfServiceMarie()
	noMobile.Mobile = ""
	if err := n.ResetCode(ctx, noMobile, "482913", 10*time.Minute); err == nil || strings.Contains(err.Error(), "482913") {
		t.Errorf("no mobile: %v", err)
	}
	for name, err := range map[string]error{
		"reset code, no account":       n.ResetCode(ctx, nil, "482913", 10*time.Minute),
		"reset link, no account":       n.ResetLink(ctx, nil, "t", time.Hour),
		"password changed, no account": n.PasswordChanged(ctx, nil),
		"email changed, no account":    n.EmailChanged(ctx, nil, "a@example.fr"),
		"email changed, bad old":       n.EmailChanged(ctx, marie, "not an address"),
		"reset link, no token":         n.ResetLink(ctx, marie, "", time.Hour),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	noURL := notify.Notifier{Mailer: recordingMailer(&sent), SMS: sms}
	if err := noURL.ResetLink(ctx, marie, "marie.martin-px.abc", time.Hour); err == nil {
		t.Error("a reset link without PublicURL was sent")
	}
	if len(sent) != 0 || len(sms.all()) != 0 {
		t.Errorf("%d mails and %d SMS sent after errors", len(sent), len(sms.all()))
	}

	// A mailer that fails: both mails of a change of address are tried,
	// and the error says so.
	var tried []string
	relayDown := errors.New("relay down")
	failing := notify.Notifier{PublicURL: publicURL, Mailer: notify.MailerFunc(func(_ context.Context, m notify.Message) error {
		tried = append(tried, m.To[0])
		return relayDown
	})}
	if err := failing.EmailChanged(ctx, marie, "marie.martin@example.fr"); !errors.Is(err, relayDown) {
		t.Errorf("the mailer's error: %v", err)
	}
	if strings.Join(tried, " ") != "marie.martin@example.fr marie.dupont@exemple.fr" {
		t.Errorf("mails tried: %v", tried)
	}
	if err := failing.PasswordChanged(ctx, marie); !errors.Is(err, relayDown) {
		t.Errorf("the mailer's error: %v", err)
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
