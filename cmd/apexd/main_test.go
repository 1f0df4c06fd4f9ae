package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify"
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

// A variable that names no key stops apexd before anything starts, with
// the key it most likely meant.
func TestRefusesAVariableThatNamesNoKey(t *testing.T) {
	t.Setenv("APEX_LIMITS_SIGNIN_IDENTIFIER_MAX", "0")
	t.Setenv("APEX_LDAP_EMBEDDED_DIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // were the variable let through, apexd would stop at once all the same
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "APEX_LIMITS_SIGNIN_IDENTIFIER_MAX names no key; did you mean APEX_LIMITS_SIGNIN_IDENTIFIER (limits.signin_identifier, e.g. 4/15m or off)?"
	var line struct{ Level, Msg, Error string }
	if err := json.Unmarshal(stderr.Bytes(), &line); err != nil || line.Level != "ERROR" || !strings.Contains(line.Error, want) {
		t.Errorf("stderr %s, want one JSON error saying %s", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q", stdout.String())
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

// freePort returns a loopback port free at the time of the call, and never
// one it returned before in this test binary: the kernel may hand out a
// port just closed again, and two of a rig's listeners on one port would
// make apexd refuse to start.
func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, given := portsGiven.LoadOrStore(port, true); !given {
			return port
		}
	}
}

var portsGiven sync.Map

// apexd runs the whole program in the background, as make run does, until
// the returned stop is called; stop returns the exit status.
func apexd(t *testing.T, env map[string]string, args ...string) (stop func() int) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout, stderr testkit.LogBuffer
	go func() {
		done <- run(ctx, append([]string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}, args...), &stdout, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(env["APEX_HTTP_PUBLIC_URL"] + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("apexd exited with %d:\n%s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("apexd not ready:\n%s", stderr.String())
		}
	}
	return func() int {
		cancel()
		select {
		case code := <-done:
			if strings.Contains(stderr.String(), "Apex-Demo-2026!") {
				t.Errorf("a password is in the logs")
			}
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("apexd did not stop")
			return -1
		}
	}
}

func postJSON(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// make run's path: the embedded slapd, the demo directory, the file outbox;
// a session outlives a restart of apexd.
func TestServiceWithEmbeddedDirectoryAndOutbox(t *testing.T) {
	if !slapd.Installed() {
		t.Fatal("slapd is not installed: run make deps")
	}
	dir := t.TempDir()
	public := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := map[string]string{
		"APEX_HTTP_ADDR":            strings.TrimPrefix(public, "http://"),
		"APEX_HTTP_PUBLIC_URL":      public,
		"APEX_HTTP_METRICS_ADDR":    metrics,
		"APEX_LDAP_EMBEDDED_DIR":    filepath.Join(dir, "ldap"),
		"APEX_LDAP_EMBEDDED_LISTEN": fmt.Sprintf("ldap://127.0.0.1:%d", freePort(t)),
		"APEX_MAIL_OUTBOX_DIR":      filepath.Join(dir, "outbox"),
		"APEX_MAIL_SPOOL_DIR":       filepath.Join(dir, "spool"),
		"APEX_SMS_OUTBOX_DIR":       filepath.Join(dir, "sms"),
	}
	stop := apexd(t, env, "--demo")
	status, body := postJSON(t, public+"/api/v1/auth/login", "", `{"identifier":"marie.martin-px","password":"Apex-Demo-2026!"}`)
	if status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	var code string
	for deadline := time.Now().Add(10 * time.Second); code == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries := codeMails(env["APEX_MAIL_OUTBOX_DIR"])
		if len(entries) > 0 {
			m, err := notify.ReadOutbox(env["APEX_MAIL_OUTBOX_DIR"], entries[len(entries)-1].Name)
			if err != nil {
				t.Fatal(err)
			}
			code = regexp.MustCompile(`\b\d{6}\b`).FindString(m.Text)
		}
	}
	if code == "" {
		t.Fatal("no code in the outbox")
	}
	status, body = postJSON(t, public+"/api/v1/auth/verify", "", fmt.Sprintf(`{"challenge":%q,"code":%q}`, body["challenge"], code))
	if status != http.StatusOK {
		t.Fatalf("verify: %d %v", status, body)
	}
	token := body["token"].(string)
	// The metrics are served on their own listener, not on the service's.
	if res, err := http.Get(public + "/metrics"); err != nil {
		t.Error(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the service's port: %d, want 404", res.StatusCode)
	}
	if res, err := http.Get("http://" + metrics + "/metrics"); err != nil {
		t.Error(err)
	} else {
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), `apex_signins_total{outcome="success",step="code"} 1`) ||
			!strings.Contains(string(raw), `apex_http_requests_total{method="POST",route="/api/v1/auth/verify",status="200"} 1`) {
			t.Errorf("/metrics on http.metrics_addr: %d\n%s", res.StatusCode, raw)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("apexd exit status %d", code)
	}

	stop = apexd(t, env)
	defer stop()
	req, _ := http.NewRequest("GET", public+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if status, me := do(t, req); status != http.StatusOK || me["identifier"] != "marie.martin-px" {
		t.Errorf("the session after a restart: %d %v", status, me)
	}
}
