package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/notify/smtptest"
	"testing"
	"time"
)

// slapd killed with SIGKILL in the middle of a load, then started again on
// the same data: apexd answers 503 directory_unavailable meanwhile,
// reconnects by itself, and every success answered is in the directory.
func TestFaultSlapdKilledDuringLoad(t *testing.T) {
	r := newRig(t)
	w := r.populate(6, 60)
	r.startApexd()
	l := newLedger()

	done := make(chan struct{})
	go func() {
		defer close(done)
		r.load(w, l, 4*time.Second, allJourneys, nil)
	}()
	time.Sleep(1200 * time.Millisecond)
	r.killSlapd()
	// While slapd is down, the API says so.
	down := r.call("GET", "/me", w.admin.token, nil)
	time.Sleep(800 * time.Millisecond)
	r.startSlapd()
	<-done
	t.Logf("load: %s", l.summary())

	if down.status != http.StatusServiceUnavailable || down.code() != "directory_unavailable" {
		t.Errorf("GET /me while slapd is down: %v, want 503 directory_unavailable", down)
	}
	for key := range l.answers {
		switch key {
		case "200 ", "204 ", "503 directory_unavailable", "409 already_decided":
		default:
			t.Errorf("unexpected answers during the load: %s ×%d", key, l.answers[key])
		}
	}
	if l.answers["503 directory_unavailable"] == 0 {
		t.Error("the load saw no 503 directory_unavailable")
	}
	// apexd was not restarted: it serves again by itself.
	r.waitReady(10 * time.Second)
	if a := r.call("GET", "/me", w.admin.token, nil); a.status != http.StatusOK {
		t.Errorf("GET /me after slapd came back: %v", a)
	}
	r.verify(w, l)
	halfway, orphans := r.invariants()
	t.Logf("approvals half way: %v; identifiers reserved and unused: %v", halfway, orphans)
	r.resume(w, halfway)
	if !r.apexdAlive() {
		t.Error("apexd died")
	}
}

// apexd killed with SIGKILL during approvals and password changes, then
// started again: no change is half applied, every approval stopped half way
// is finished by approving it again, every success answered is there.
//
// To land the kill between an approval's two writes (the state's
// compare-and-swap, then the rename to the reserved identifier), apexd
// reaches slapd through a proxy that delays every packet, and a watcher
// reading slapd directly kills apexd as soon as it sees an account active
// but not renamed yet.
func TestFaultApexdKilledDuringApprovals(t *testing.T) {
	r := newRig(t)
	w := r.populate(6, 90)
	r.behindProxy()
	r.startApexd()
	l := newLedger()

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.load(w, l, 2*time.Minute, journeys{approvals: true, passwords: true}, stop) // until stop
	}()
	// Some successes to find after the kill, then slow LDAP down and watch.
	// The bounds are safety nets, far above what a loaded machine needs.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		enough := len(l.approved) >= 3 && len(l.password) >= 2
		l.mu.Unlock()
		if enough {
			break
		}
	}
	r.ldapProxy.setDelay(15 * time.Millisecond)
	seen := r.watchHalfway(time.Minute)
	r.killApexd()
	r.ldapProxy.down() // cut what apexd had sent and the proxy still held
	close(stop)
	<-done
	// An operation slapd had received before the kill still completes
	// (slapd does not abandon it when its client goes): let them land.
	time.Sleep(300 * time.Millisecond)
	t.Logf("load: %s", l.summary())
	if !seen {
		t.Error("the watcher saw no approval half way within a minute")
	}
	if len(l.approved) == 0 || len(l.password) == 0 {
		t.Errorf("no approval or no password change succeeded before the kill: nothing to look for after it")
	}

	halfway, orphans := r.invariants()
	t.Logf("after the kill: approvals half way %v; identifiers reserved and unused %v", halfway, orphans)
	if len(halfway) == 0 {
		t.Error("the kill left no approval half way: the resumption is not exercised")
	}
	r.ldapProxy.setDelay(0)
	r.ldapProxy.up()
	r.startApexd()
	r.verify(w, l)
	r.resume(w, halfway)
	conn := r.root()
	defer conn.Close()
	for id := range l.approveFailed {
		if st := r.requestState(conn, id); st != "active" && st != "submitted" {
			t.Errorf("request %s: state %q", id, st)
		}
	}
}

// watchHalfway polls slapd directly (as root, over ldapi) until an account
// is active but still named by its request, and reports whether it saw one.
func (r *rig) watchHalfway(within time.Duration) bool {
	conn := r.root()
	defer conn.Close()
	filter := "(&(objectClass=apexPerson)(apexAccountState=active)(!(uid=*)))"
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if len(r.search(conn, "ou=structures,"+rigSuffix, ldap.ScopeWholeSubtree, filter, "1.1")) > 0 {
			return true
		}
	}
	return false
}

// The SMTP relay down for a few seconds: requests that mail do not wait
// for it, the mails stay in the spool (the sign-in codes' in memory) and
// are tried again, and every one arrives, once, when the relay is back; the
// sign-in codes still work.
func TestFaultSMTPDownThenUp(t *testing.T) {
	r := newRig(t)
	w := r.populate(4, 4)
	r.startApexd()
	r.smtpProxy.down() // connections refused, as with a relay stopped

	expected := map[string]string{} // recipient → subject start
	challenges := map[string]string{}
	for _, u := range w.users {
		a := r.call("POST", "/auth/login", "", map[string]string{"identifier": u.id, "password": rigPassword})
		if a.status != http.StatusOK {
			t.Fatalf("login of %s with the relay down: %v", u.id, a)
		}
		challenges[u.email] = a.body["challenge"].(string)
		expected[u.email] = "login"
	}
	conn := r.root()
	defer conn.Close()
	for _, id := range w.requests {
		a := r.call("POST", "/requests/"+id+"/approve", w.admin.token, nil)
		if a.status != http.StatusOK {
			t.Fatalf("approve with the relay down: %v", a)
		}
		es := r.search(conn, "ou=structures,"+rigSuffix, ldap.ScopeWholeSubtree, "(apexRequestId="+ldap.EscapeFilter(id)+")", "mail")
		expected[es[0].GetAttributeValue("mail")] = "approved"
	}
	// Long enough for at least one failed try and its retry (1 s, then 2 s).
	time.Sleep(2500 * time.Millisecond)
	if n := len(r.smtp.Messages()); n != 0 {
		t.Fatalf("%d mails went through a relay that was down", n)
	}
	// The approvals' mails wait in the spool; the sign-in codes' in memory.
	if spooled := countFiles(t, filepath.Join(r.dir, "spool")); spooled != len(w.requests) {
		t.Errorf("%d mails in the spool while the relay is down, want %d (the approvals')", spooled, len(w.requests))
	}
	// Each worker keeps trying its message (and the next ones wait): at
	// least one message was tried, failed and waits for its next try.
	retries := strings.Count(r.apexdLog(), "échec d'envoi du courriel, nouvel essai")
	if retries < 2 {
		t.Errorf("%d failed tries logged in 2.5 s, want at least the first try and a retry", retries)
	}

	r.smtpProxy.up()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.smtp.Messages()) < len(expected) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	got := map[string]int{}
	for _, m := range r.smtp.Messages() {
		for _, to := range m.To {
			got[to]++
		}
		if len(m.To) == 1 && expected[m.To[0]] == "login" {
			code := sixDigits.FindString(m.Text)
			if a := r.call("POST", "/auth/verify", "", map[string]string{"challenge": challenges[m.To[0]], "code": code}); a.status != http.StatusOK {
				t.Errorf("the code mailed late to %s: %v", m.To[0], a)
			}
		}
	}
	for to := range expected {
		if got[to] != 1 {
			t.Errorf("%s received %d mails, want 1", to, got[to])
		}
	}
	t.Logf("%d mails, %d failed tries logged while the relay was down, all delivered after it came back", len(expected), retries)
	if n := countFiles(t, filepath.Join(r.dir, "spool")); n != 0 {
		t.Errorf("%d mails left in the spool", n)
	}
	if n := countFiles(t, filepath.Join(r.dir, "outbox", "failed")); n != 0 {
		t.Errorf("%d mails given up on", n)
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// captcha asks apexd for a captcha and reads its answer in the directory.
func (r *rig) captcha() (id, answer string) {
	r.t.Helper()
	a := r.call("POST", "/captcha", "", map[string]string{})
	id, _ = a.body["id"].(string)
	if a.status != http.StatusCreated || id == "" {
		r.t.Fatalf("captcha: %v", a)
	}
	conn := r.root()
	defer conn.Close()
	sum := sha256.Sum256([]byte(id)) // the directory names a captcha by the hash of its id
	es := r.search(conn, "cn="+hex.EncodeToString(sum[:])+",ou=captchas,ou=system,"+rigSuffix, ldap.ScopeBaseObject, "(objectClass=*)", "description")
	if len(es) != 1 {
		r.t.Fatalf("captcha %s not in the directory", id)
	}
	f := strings.Fields(es[0].GetAttributeValue("description"))
	return id, f[len(f)-1]
}

// The SMS gateway down when a person asks for a forgotten password's code:
// the answer is the one every request gets (telling that the SMS failed
// would tell that the identifier exists and has a mobile), the code page
// says what to do when nothing arrives, and the code is tried again until
// the gateway takes it; it then works.
func TestFaultSMSGatewayDownThenUp(t *testing.T) {
	r := newRig(t)
	w := r.populate(1, 0)
	u := w.users[0]
	r.startApexd()
	r.smsProxy.down()

	id, ans := r.captcha()
	forgot := r.call("POST", "/password/forgot", "", map[string]string{"identifier": u.id, "captchaId": id, "captchaAnswer": ans})
	reset, _ := forgot.body["reset"].(string)
	if forgot.status != http.StatusAccepted || reset == "" {
		t.Fatalf("forgot with the gateway down: %v", forgot)
	}
	id, ans = r.captcha()
	unknown := r.call("POST", "/password/forgot", "", map[string]string{"identifier": "personne.inconnue-px", "captchaId": id, "captchaAnswer": ans})
	if unknown.status != forgot.status || len(unknown.body) != len(forgot.body) {
		t.Errorf("an unknown identifier gets %v, the account whose SMS failed %v", unknown, forgot)
	}
	// The page a browser shows next (the form's POST sets this cookie).
	req, _ := http.NewRequest("GET", r.public+"/mot-de-passe/code", nil)
	req.AddCookie(&http.Cookie{Name: "apex_reset", Value: reset})
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "Vous n&#39;avez rien reçu ?") && !strings.Contains(string(page), "Vous n'avez rien reçu ?") {
		t.Errorf("the code page does not say what to do when no code comes:\n%s", page)
	}

	time.Sleep(2 * time.Second)
	if n := len(r.sms.messages()); n != 0 {
		t.Fatalf("%d SMS went through a gateway that was down", n)
	}
	if fails := strings.Count(r.apexdLog(), "code ou lien de renouvellement non envoyé"); fails < 2 {
		t.Errorf("%d failed sends logged in 2 s, want the first and a retry", fails)
	}
	r.smsProxy.up()
	var sms []map[string]string
	for deadline := time.Now().Add(15 * time.Second); len(sms) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		sms = r.sms.messages()
	}
	if len(sms) == 0 {
		t.Fatal("the code never reached the gateway once it was back: lost")
	}
	if sms[0]["to"] != u.mobile {
		t.Errorf("SMS to %q, want %q", sms[0]["to"], u.mobile)
	}
	a := r.call("POST", "/password/forgot/"+reset+"/verify", "", map[string]string{"code": sixDigits.FindString(sms[0]["text"])})
	token, _ := a.body["token"].(string)
	if a.status != http.StatusOK || token == "" {
		t.Fatalf("the late code: %v", a)
	}
	if a := r.call("POST", "/password/reset", "", map[string]string{"token": token, "password": "Renouvele-2026!x"}); !ok(a) {
		t.Fatalf("reset: %v", a)
	}
	if !r.bindsWithOneOf(u.dn, []string{"Renouvele-2026!x"}) {
		t.Error("the new password does not bind")
	}
	time.Sleep(1500 * time.Millisecond) // a duplicate would come from a retry after success
	if n := len(r.sms.messages()); n != 1 {
		t.Errorf("%d SMS received, want 1", n)
	}
}

// mountSmall mounts a tmpfs of size bytes at dir (root only). A real full
// file system is what a full disk does to the spool: every write fails with
// ENOSPC, the rename of a written file included. Outside CI a machine
// where mounting is not allowed skips the test; under CI it fails.
func mountSmall(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs for the full spool (this test needs root): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fill writes into dir until the file system is full and returns the file.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			break
		}
	}
	// tmpfs gives its last page to small writes: take it too.
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			return name
		}
	}
}

// The mail spool on a full file system: a request that must mail gets a
// clear error at once, apexd neither hangs nor dies, and it mails again as
// soon as there is room. The sign-in, whose code's mail never touches the
// disk, goes on.
func TestFaultMailSpoolDiskFull(t *testing.T) {
	r := newRig(t)
	w := r.populate(2, 2)
	fs := filepath.Join(r.dir, "spoolfs")
	mountSmall(t, fs, 256<<10)
	r.setEnv(map[string]string{"APEX_MAIL_SPOOL_DIR": filepath.Join(fs, "spool")})
	r.startApexd()
	filler := fill(t, fs)

	u := w.users[0]
	login := r.call("POST", "/auth/login", "", map[string]string{"identifier": u.id, "password": rigPassword})
	t.Logf("login with the spool full: %v (answered in %s)", login, login.took)
	if login.status != http.StatusOK {
		t.Errorf("login with the spool full: %v, want 200 (the code's mail stays in memory)", login)
	}
	r.smtp.WaitFor(t, smtptest.ToAddress(u.email), 15*time.Second)
	// An approval is decided before its mail: the account is active and
	// named, the administrator is told the mail did not leave.
	approve := r.call("POST", "/requests/"+w.requests[0]+"/approve", w.admin.token, nil)
	t.Logf("approval with the spool full: %v", approve)
	if approve.status != http.StatusServiceUnavailable || approve.code() != "mail_unavailable" {
		t.Errorf("approval with the spool full: %v, want 503 mail_unavailable", approve)
	}
	if halfway, _ := r.invariants(); len(halfway) != 0 {
		t.Errorf("approval half way after a full spool: %v", halfway)
	}
	if !r.apexdAlive() {
		t.Fatal("apexd died on a full spool")
	}
	r.waitReady(5 * time.Second)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Once there is room, an approval mails again.
	second := r.call("POST", "/requests/"+w.requests[1]+"/approve", w.admin.token, nil)
	if second.status != http.StatusOK {
		t.Fatalf("approval once there is room: %v", second)
	}
	// The spool file goes once the relay has taken the mail.
	spool := filepath.Join(fs, "spool")
	for deadline := time.Now().Add(5 * time.Second); countFiles(t, spool) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Errorf("left in the spool: %v", entries)
	}
}

// slapd slow to answer (a proxy delays every packet by 3 s, ldap.timeout is
// 1 s): every request answers 503 directory_unavailable within a few
// timeouts instead of hanging, and all serve again once slapd is fast.
func TestFaultSlowSlapd(t *testing.T) {
	const timeout = time.Second
	r := newRig(t)
	w := r.populate(4, 4)
	r.behindProxy()
	r.setEnv(map[string]string{"APEX_LDAP_TIMEOUT": timeout.String()})
	r.startApexd()
	r.ldapProxy.setDelay(3 * time.Second)

	type call struct {
		name, method, path, token string
		body                      any
	}
	u := w.users[0]
	calls := []call{
		{"account", "GET", "/me", u.token, nil},
		{"personal data", "PATCH", "/me", w.users[1].token, map[string]string{"mobile": "+33799999999", "currentPassword": rigPassword}},
		{"password", "PUT", "/me/password", w.users[2].token, map[string]string{"current": rigPassword, "new": "Lente-2026-Mdp!"}},
		{"sign-in", "POST", "/auth/login", "", map[string]string{"identifier": w.users[3].id, "password": rigPassword}},
		{"approval", "POST", "/requests/" + w.requests[0] + "/approve", w.admin.token, nil},
		{"habilitation", "PUT", "/accounts/" + u.id + "/habilitations/" + rigApp + "/" + w.profiles[1], w.admin.token, nil},
		{"captcha", "POST", "/captcha", "", map[string]string{}},
	}
	// More requests at once than the pool has connections (8).
	var wg sync.WaitGroup
	answers := make([]answer, 2*len(calls))
	for i := range answers {
		c := calls[i%len(calls)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = r.call(c.method, c.path, c.token, c.body)
		}()
	}
	wg.Wait()
	// A bound that only a hang breaks: a request makes a few LDAP
	// operations in turn, each cut at the timeout, and may wait for a
	// pooled connection held by another one.
	const bound = 20 * timeout
	var slowest time.Duration
	for i, a := range answers {
		c := calls[i%len(calls)]
		slowest = max(slowest, a.took)
		if a.err != nil || a.took > bound {
			t.Errorf("%s with slapd slow: %v after %s, want an answer within %s", c.name, a, a.took, bound)
		} else if a.status != http.StatusServiceUnavailable || a.code() != "directory_unavailable" {
			t.Errorf("%s with slapd slow: %v, want 503 directory_unavailable", c.name, a)
		}
	}
	t.Logf("%d requests with slapd answering after 3 s and ldap.timeout %s: slowest answer %s", len(answers), timeout, slowest)
	res, err := client.Get(r.public + "/readyz")
	if err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with slapd slow: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	r.ldapProxy.setDelay(0)
	r.waitReady(20 * time.Second)
	if a := r.call("GET", "/me", u.token, nil); a.status != http.StatusOK {
		t.Errorf("GET /me once slapd is fast again: %v", a)
	}
	if !r.apexdAlive() {
		t.Error("apexd died")
	}
}
