package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRefusesAnInvalidConfiguration(t *testing.T) {
	t.Setenv("APEX_MAIL_SMTP_TLS", "ssl")
	t.Setenv("APEX_LDAP_BIND_PASSWORD", "must-not-be-logged")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), `"level":"ERROR"`) || !strings.Contains(stderr.String(), "mail.smtp.tls") {
		t.Errorf("stderr lacks a JSON error about mail.smtp.tls: %s", stderr.String())
	}
	if strings.Contains(stderr.String(), "must-not-be-logged") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}
