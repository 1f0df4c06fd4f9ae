package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
)

// writeOutbox writes sign-in code mails into a new outbox, which
// mail.outbox_dir then names, and returns its folder.
func writeOutbox(t *testing.T, mails map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outbox")
	t.Setenv("APEX_MAIL_OUTBOX_DIR", dir)
	t.Setenv("APEX_MAIL_SMTP_HOST", "")
	o, err := notify.NewOutbox(dir, "APEX Partenaires <no-reply@apex.dgfip.gouv.fr>")
	if err != nil {
		t.Fatal(err)
	}
	// In order: the names sort by time.
	for _, to := range []string{"marie.martin@example.fr", "paul.durand@example.org"} {
		code, ok := mails[to]
		if !ok {
			continue
		}
		m, err := notify.Mails{}.SignInCode(to, notify.SignInCodeData{FirstName: "Cathy", Code: code, ValidMinutes: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOutbox(t *testing.T) {
	dir := writeOutbox(t, map[string]string{"marie.martin@example.fr": "111111", "paul.durand@example.org": "222222"})
	entries, err := notify.ListOutbox(dir)
	if err != nil || len(entries) != 2 {
		t.Fatalf("ListOutbox: %v, %v", entries, err)
	}
	first, last := entries[0].Name, entries[1].Name

	code, out, errOut := runApexctl(t, "outbox")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	i, j := strings.Index(out, first), strings.Index(out, last)
	if i < 0 || j < 0 || i > j || !strings.Contains(out, "Votre code de vérification APEX Partenaires") ||
		!strings.Contains(out, "marie.martin@example.fr") {
		t.Errorf("list, oldest first:\n%s", out)
	}

	code, out, errOut = runApexctl(t, "outbox", "--json")
	var list []notify.OutboxEntry
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, out, errOut)
	}
	if len(list) != 2 || list[0].Name != first || list[1].To[0] != "paul.durand@example.org" || list[1].Subject == "" {
		t.Errorf("JSON list %+v", list)
	}

	tests := []struct {
		name string
		args []string
		want []string
		not  string
	}{
		{"last", []string{"outbox", "show", "last"}, []string{"Fichier : " + last, "À : paul.durand@example.org",
			"Objet : Votre code de vérification APEX Partenaires", "\n    222222\n", "Bonjour Cathy,"}, "111111"},
		{"by name", []string{"outbox", "show", first}, []string{"À : marie.martin@example.fr", "111111"}, "222222"},
		{"by name without .eml", []string{"outbox", "show", strings.TrimSuffix(first, ".eml")}, []string{"111111"}, "222222"},
		{"last to an address", []string{"outbox", "--to", "MARIE.MARTIN@example.fr", "show", "last"}, []string{"111111"}, "222222"},
		{"list to an address", []string{"outbox", "list", "--to", "paul.durand@example.org"}, []string{last}, first},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runApexctl(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, tt.not) {
				t.Errorf("output holds %q:\n%s", tt.not, out)
			}
		})
	}

	code, out, errOut = runApexctl(t, "outbox", "show", "last", "--json")
	var msg struct {
		Name, Subject, Text, HTML string
		To                        []string
	}
	if err := json.Unmarshal([]byte(out), &msg); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, out, errOut)
	}
	if msg.Name != last || msg.To[0] != "paul.durand@example.org" || !strings.Contains(msg.Text, "222222") || !strings.Contains(msg.HTML, "222222") {
		t.Errorf("JSON show %+v", msg)
	}
}

func TestOutboxErrors(t *testing.T) {
	writeOutbox(t, map[string]string{"marie.martin@example.fr": "111111"})
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"a path", []string{"outbox", "show", "../config.yaml"}, 2, "is not the name of a mail"},
		{"a sub-folder", []string{"outbox", "show", "a/b.eml"}, 2, "is not the name of a mail"},
		{"absent", []string{"outbox", "show", "20260101T000000.000000000Z-0000000000000000.eml"}, 1, "no mail"},
		{"show without a name", []string{"outbox", "show"}, 2, "show takes one argument"},
		{"unknown action", []string{"outbox", "delete"}, 2, "want list, show NAME|last, or sms"},
		{"last to nobody", []string{"outbox", "--to", "nobody@example.fr", "show", "last"}, 1, "no mail in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runApexctl(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d, stderr with %q", code, errOut, out, tt.code, tt.err)
			}
		})
	}
}

func TestOutboxEmpty(t *testing.T) {
	t.Setenv("APEX_MAIL_OUTBOX_DIR", filepath.Join(t.TempDir(), "absent"))
	if code, out, errOut := runApexctl(t, "outbox"); code != 0 || !strings.Contains(out, "Aucun courriel") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := runApexctl(t, "outbox", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("JSON of an empty outbox: exit %d, %q", code, out)
	}
}

// writeSMSOutbox writes SMS into a new SMS outbox, which sms.outbox_dir
// then names, and returns its folder.
func writeSMSOutbox(t *testing.T, sms ...notify.SMS) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sms-outbox")
	t.Setenv("APEX_SMS_OUTBOX_DIR", dir)
	t.Setenv("APEX_SMS_GATEWAY_URL", "")
	o, err := notify.NewSMSOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sms {
		if err := o.SendSMS(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOutboxSMS(t *testing.T) {
	first, err := notify.ResetCodeSMS("+33612345678", "111111", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	last, err := notify.ResetCodeSMS("+33798765432", "222222", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	writeSMSOutbox(t, first, notify.SMS{To: "+33612345678", Text: "ligne 1\n\tligne 2"}, last)

	code, out, errOut := runApexctl(t, "outbox", "sms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "À") || !strings.Contains(lines[0], "TEXTE") ||
		!strings.Contains(lines[1], "+33612345678") || !strings.Contains(lines[1], first.Text) ||
		!strings.Contains(lines[2], "ligne 1 ligne 2") ||
		!strings.HasPrefix(lines[3], "+33798765432") || !strings.Contains(lines[3], "votre code de sécurité est 222222.") {
		t.Errorf("list, newest last, one line each:\n%s", out)
	}

	code, out, errOut = runApexctl(t, "outbox", "sms", "--json")
	var list []notify.SMS
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, out, errOut)
	}
	if len(list) != 3 || list[0] != first || list[2] != last {
		t.Errorf("JSON list %+v", list)
	}

	code, out, errOut = runApexctl(t, "outbox", "--to", "+33798765432", "sms")
	if code != 0 || !strings.Contains(out, "222222") || strings.Contains(out, "111111") {
		t.Errorf("to a number: exit %d\n%s%s", code, out, errOut)
	}

	// A gateway is configured: the outbox is still listed, with a warning.
	t.Setenv("APEX_SMS_GATEWAY_URL", "https://sms.example.fr/send")
	code, out, errOut = runApexctl(t, "outbox", "sms")
	if code != 0 || !strings.Contains(out, "111111") || !strings.Contains(errOut, "sms.gateway.url is set") {
		t.Errorf("with a gateway: exit %d\n%s%s", code, out, errOut)
	}
}

func TestOutboxSMSEmptyAndErrors(t *testing.T) {
	t.Setenv("APEX_SMS_OUTBOX_DIR", filepath.Join(t.TempDir(), "absent"))
	if code, out, errOut := runApexctl(t, "outbox", "sms"); code != 0 || !strings.Contains(out, "Aucun SMS dans") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := runApexctl(t, "outbox", "sms", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("JSON of an empty outbox: exit %d, %q", code, out)
	}
	writeSMSOutbox(t, notify.SMS{To: "+33612345678", Text: "x"})
	if code, out, _ := runApexctl(t, "outbox", "sms", "--to", "+33700000000"); code != 0 || !strings.Contains(out, "Aucun SMS dans") || !strings.Contains(out, "pour +33700000000") {
		t.Errorf("to another number: exit %d, %q", code, out)
	}
	if code, _, errOut := runApexctl(t, "outbox", "sms", "last"); code != 2 || !strings.Contains(errOut, "sms takes no argument") {
		t.Errorf("sms last: exit %d, %q", code, errOut)
	}
}
