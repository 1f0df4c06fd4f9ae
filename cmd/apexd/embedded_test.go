package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/notify"
)

// embeddedSlapdPID reads the pid of the embedded slapd from its folder.
func embeddedSlapdPID(t *testing.T, dir string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "slapd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// killProcess is kill -9 of pid; it returns once the process is gone.
func killProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") { // gone, or a zombie not reaped yet
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd %d still runs after SIGKILL", pid)
		}
	}
}

// readyz is the status of apexd's /readyz, 0 when it does not answer.
func readyz(public string) int {
	res, err := http.Get(public + "/readyz")
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// outboxCode waits for the n-th mail of the file outbox and reads its code.
// codeMails are the sign-in code mails of the outbox, oldest first: the
// scheduled jobs mail too (a review of habilitations starts at the first run).
func codeMails(dir string) []notify.OutboxEntry {
	entries, _ := notify.ListOutbox(dir)
	return slices.DeleteFunc(entries, func(e notify.OutboxEntry) bool { return !strings.Contains(e.Subject, "code de vérification") })
}

func outboxCode(t *testing.T, dir string, n int) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries := codeMails(dir)
		if len(entries) >= n {
			m, err := notify.ReadOutbox(dir, entries[n-1].Name)
			if err != nil {
				t.Fatal(err)
			}
			if code := regexp.MustCompile(`\b\d{6}\b`).FindString(m.Text); code != "" {
				return code
			}
		}
	}
	t.Fatalf("no mail #%d with a code in %s", n, dir)
	return ""
}

// waitLog waits until apexd's log holds s n times.
func waitLog(t *testing.T, r *rig, s string, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); strings.Count(r.apexdLog(), s) < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("apexd's log does not hold %q %d times:\n%s", s, n, tail(r.apexdLog(), 3000))
		}
	}
}

// When the embedded slapd dies, apexd exited. It now starts it again on the
// same data and port and serves again, without a restart of its own; while
// slapd cannot start (its port taken), apexd says so and /readyz stays 503,
// until slapd can start again.
func TestEmbeddedSlapdIsStartedAgain(t *testing.T) {
	if !slapd.Installed() {
		t.Fatal("slapd is not installed: run make deps")
	}
	r := &rig{t: t, dir: t.TempDir()}
	r.public = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	ldapAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ldapDir := filepath.Join(r.dir, "ldap")
	outbox := filepath.Join(r.dir, "outbox")
	r.setEnv(map[string]string{
		"APEX_HTTP_ADDR":            strings.TrimPrefix(r.public, "http://"),
		"APEX_HTTP_PUBLIC_URL":      r.public,
		"APEX_HTTP_METRICS_ADDR":    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"APEX_LDAP_EMBEDDED_DIR":    ldapDir,
		"APEX_LDAP_EMBEDDED_LISTEN": "ldap://" + ldapAddr,
		"APEX_LDAP_TIMEOUT":         "2s",
		"APEX_MAIL_OUTBOX_DIR":      outbox,
		"APEX_MAIL_SPOOL_DIR":       filepath.Join(r.dir, "spool"),
		"APEX_SMS_OUTBOX_DIR":       filepath.Join(r.dir, "sms"),
	})
	r.args = []string{"--demo"}
	r.startApexd()

	status, body := postJSON(t, r.public+"/api/v1/auth/login", "", `{"identifier":"marie.martin-px","password":"Apex-Demo-2026!"}`)
	if status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	status, body = postJSON(t, r.public+"/api/v1/auth/verify", "", fmt.Sprintf(`{"challenge":%q,"code":%q}`, body["challenge"], outboxCode(t, outbox, 1)))
	if status != http.StatusOK {
		t.Fatalf("verify: %d %v", status, body)
	}
	token := body["token"].(string)
	me := func() int {
		req, _ := http.NewRequest("GET", r.public+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		status, _ := do(t, req)
		return status
	}

	// kill -9: slapd comes back by itself, a new process on the same data and port.
	first := embeddedSlapdPID(t, ldapDir)
	killProcess(t, first)
	r.waitReady(60 * time.Second)
	if pid := embeddedSlapdPID(t, ldapDir); pid == first {
		t.Fatalf("slapd's pid is still %d", pid)
	}
	if !r.apexdAlive() {
		t.Fatalf("apexd exited when slapd died:\n%s", tail(r.apexdLog(), 3000))
	}
	if status := me(); status != http.StatusOK {
		t.Errorf("the session opened before slapd died: %d", status)
	}
	waitLog(t, r, "slapd embarqué arrêté de lui-même", 1)
	waitLog(t, r, "slapd embarqué redémarré", 1) // written just after slapd answers again

	// Its port taken, slapd cannot start: apexd says so, and is not ready.
	var held net.Listener
	for i := 0; held == nil; i++ {
		if i == 20 {
			t.Fatal("could not take slapd's port")
		}
		killProcess(t, embeddedSlapdPID(t, ldapDir))
		l, err := net.Listen("tcp", ldapAddr)
		if err == nil {
			held = l
			break
		}
		r.waitReady(60 * time.Second) // apexd started it first: once more
	}
	defer held.Close()
	waitLog(t, r, "slapd embarqué: redémarrage impossible", 3)
	if status := readyz(r.public); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while slapd cannot start: %d, want 503", status)
	}
	if status := me(); status != http.StatusServiceUnavailable {
		t.Errorf("GET /me while slapd cannot start: %d, want 503", status)
	}
	if !r.apexdAlive() {
		t.Fatalf("apexd exited while slapd could not start:\n%s", tail(r.apexdLog(), 3000))
	}

	restarts := strings.Count(r.apexdLog(), "slapd embarqué redémarré")
	held.Close()
	r.waitReady(90 * time.Second)
	waitLog(t, r, "slapd embarqué redémarré", restarts+1)
	if status := me(); status != http.StatusOK {
		t.Errorf("the session once slapd is back: %d", status)
	}
}
