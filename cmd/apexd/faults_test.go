package main

import (
	"net/http"

	"github.com/go-ldap/ldap/v3"
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
	r.ldapProxy.setDelay(15 * time.Millisecond)
	l := newLedger()

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.load(w, l, 10*time.Second, journeys{approvals: true, passwords: true}, stop)
	}()
	seen := r.watchHalfway(6 * time.Second)
	r.killApexd()
	r.ldapProxy.down() // what was on its way to slapd is lost with apexd
	close(stop)
	<-done
	t.Logf("load: %s", l.summary())
	if !seen {
		t.Error("the watcher saw no approval half way within 6 s")
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
