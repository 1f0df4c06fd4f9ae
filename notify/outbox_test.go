package notify_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
)

func TestOutboxRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "outbox")
	o, err := notify.NewOutbox(dir, testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("outbox folder: %v, %v; want mode 0700", info.Mode(), err)
	}

	first := testMessage("marie.martin@example.fr")
	second := testMessage("paul.durand@example.org")
	second.Subject = "Mot de passe modifié — APEX Partenaires"
	second.Text = "Bonjour Paul,\n\nVotre mot de passe a été modifié.\n"
	before := time.Now()
	for _, m := range []notify.Message{first, second} {
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now()

	entries, err := notify.ListOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("ListOutbox: %d entries, want 2: %+v", len(entries), entries)
	}
	name := regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{16}\.eml$`)
	for i, want := range []notify.Message{first, second} {
		e := entries[i]
		if !name.MatchString(e.Name) {
			t.Errorf("name %q", e.Name)
		}
		if e.Time.Before(before.Add(-time.Millisecond)) || e.Time.After(after) {
			t.Errorf("time %v not between %v and %v", e.Time, before, after)
		}
		if e.Subject != want.Subject || strings.Join(e.To, ",") != want.To[0] || e.Size == 0 {
			t.Errorf("entry %d: %+v, want subject %q to %v", i, e, want.Subject, want.To)
		}
		info, err := os.Stat(filepath.Join(dir, e.Name))
		if err != nil || info.Mode().Perm() != 0o600 || info.Size() != e.Size {
			t.Errorf("file %s: %v, %v; want mode 0600, size %d", e.Name, info.Mode(), err, e.Size)
		}
		// The file holds what Compose writes.
		raw, _ := os.ReadFile(filepath.Join(dir, e.Name))
		if !bytes.HasPrefix(raw, []byte("From: \"APEX Partenaires\" <no-reply@apex.dgfip.gouv.fr>\r\n")) {
			t.Errorf("file %s starts with %q", e.Name, raw[:min(len(raw), 60)])
		}

		got, err := notify.ReadOutbox(dir, e.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != want.Subject || got.Text != want.Text || got.HTML != want.HTML ||
			strings.Join(got.To, ",") != want.To[0] || got.From != `"APEX Partenaires" <no-reply@apex.dgfip.gouv.fr>` {
			t.Errorf("ReadOutbox(%s) = %+v, want %+v", e.Name, got, want)
		}
		if got.Date.Before(before.Add(-time.Second)) || got.Date.After(after.Add(time.Second)) {
			t.Errorf("date %v", got.Date)
		}
	}

	// No temporary file is left behind.
	des, _ := os.ReadDir(dir)
	if len(des) != 2 {
		t.Errorf("%d files in the outbox, want 2", len(des))
	}
}

func TestOutboxRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "secret.eml")
	if err := os.WriteFile(outside, []byte("Subject: secret\r\n\r\nsecret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(dir, "outbox")
	if _, err := notify.NewOutbox(inbox, testFrom); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(inbox, "link.eml")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", ".", "..", "../secret.eml", "..\\secret.eml", "a/b.eml", outside, "x..eml", "message.txt"} {
		if _, err := notify.ReadOutbox(inbox, name); !errors.Is(err, notify.ErrBadName) {
			t.Errorf("ReadOutbox(%q) = %v, want ErrBadName", name, err)
		}
	}
	if _, err := notify.ReadOutbox(inbox, "link.eml"); err == nil {
		t.Error("ReadOutbox followed a symbolic link out of the outbox")
	}
	if _, err := notify.ReadOutbox(inbox, "absent.eml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadOutbox(absent) = %v, want ErrNotExist", err)
	}
}

func TestListOutboxMissingFolder(t *testing.T) {
	entries, err := notify.ListOutbox(filepath.Join(t.TempDir(), "absent"))
	if err != nil || len(entries) != 0 {
		t.Errorf("ListOutbox(absent) = %v, %v; want nothing", entries, err)
	}
}

func TestOutboxRefusesBadMessages(t *testing.T) {
	dir := t.TempDir()
	o, err := notify.NewOutbox(dir, testFrom)
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Subject = "x\r\nBcc: evil@example.com"
	if err := o.Send(context.Background(), m); !errors.Is(err, notify.ErrInvalidMessage) {
		t.Errorf("Send() = %v, want ErrInvalidMessage", err)
	}
	if _, err := notify.NewOutbox(dir, "nobody\r\nBcc: evil@example.com"); err == nil {
		t.Error("NewOutbox accepted a sender with CRLF")
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("%d files written", len(des))
	}
}

func TestOutboxZeroValue(t *testing.T) {
	if err := (&notify.Outbox{}).Send(context.Background(), testMessage()); err == nil {
		t.Error("a zero Outbox sent a message")
	}
}
