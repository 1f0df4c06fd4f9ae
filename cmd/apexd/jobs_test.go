package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// The scheduled jobs with apexd as real processes on one directory: two
// running the schedule at once do each job once; one killed with SIGKILL
// in the middle of a job leaves it to the other, which finishes it, and
// nothing is done twice.

// proc is one apexd child of a rig.
type proc struct {
	name    string
	cmd     interface{ Signal(os.Signal) error }
	pid     int
	done    chan struct{}
	metrics string // its /metrics URL
	env     map[string]string
}

// spawn starts one more apexd on the rig's directory, with its own HTTP
// ports, spool and outbox.
func (r *rig) spawn(name string) *proc {
	r.t.Helper()
	p := &proc{name: name, env: map[string]string{
		"APEX_HTTP_ADDR":         fmt.Sprintf("127.0.0.1:%d", freePort(r.t)),
		"APEX_HTTP_METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", freePort(r.t)),
		"APEX_MAIL_SPOOL_DIR":    filepath.Join(r.dir, "spool-"+name),
		"APEX_MAIL_OUTBOX_DIR":   filepath.Join(r.dir, "outbox-"+name),
	}}
	p.env["APEX_HTTP_PUBLIC_URL"] = "http://" + p.env["APEX_HTTP_ADDR"]
	p.metrics = "http://" + p.env["APEX_HTTP_METRICS_ADDR"] + "/metrics"
	r.restart(p)
	return p
}

// restart starts p again, on its spool: mails it had accepted leave then.
func (r *rig) restart(p *proc) {
	r.t.Helper()
	r.setEnv(p.env)
	r.public = p.env["APEX_HTTP_PUBLIC_URL"]
	r.startApexd()
	p.cmd, p.pid, p.done = r.child.Process, r.child.Process.Pid, r.childDone
}

func (p *proc) kill() {
	p.cmd.Signal(syscall.SIGKILL)
	<-p.done
}

// runs reads apex_job_runs_total{job,outcome} from p's metrics.
func (p *proc) runs(t *testing.T, job, outcome string) int {
	t.Helper()
	res, err := http.Get(p.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^apex_job_runs_total\{job="` + job + `",outcome="` + outcome + `"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no apex_job_runs_total for %s %s in:\n%s", p.name, job, outcome, body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// jobsRig is a rig whose directory holds work for every job: dormant
// collaborateurs (their activation 200 days ago, never used), an account
// whose end date has passed, an invitation whose link expires within a
// day. apexd runs its schedule often and leases for 3 s; its dormancy
// sends no warnings, so that the dormant accounts are disabled at once.
func jobsRig(t *testing.T, dormant int) (*rig, []*directory.Person, *directory.Person, *directory.Invitation) {
	r := newRig(t)
	w := r.populate(0, 0)
	ctx := context.Background()
	conn := r.root()
	defer conn.Close()
	long := time.Now().Add(-200 * 24 * time.Hour).UTC().Format("20060102150405Z")
	var people []*directory.Person
	for i := range dormant {
		p, err := r.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Dormant", LastName: "Tache" + letters(i), Email: fmt.Sprintf("dormant%d@example.test", i),
			Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: rigSIRET, Service: rigService}, rigPassword)
		if err != nil {
			t.Fatal(err)
		}
		m := ldap.NewModifyRequest(r.personDN(p), nil)
		m.Replace("apexActiveSince", []string{long})
		if err := conn.Modify(m); err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
	}
	ending, err := r.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Fin", LastName: "Tache", Email: "fin@example.test",
		Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: rigSIRET, Service: rigService}, rigPassword)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	m := ldap.NewModifyRequest(r.personDN(ending), nil)
	m.Replace("apexEnd", []string{fmt.Sprintf("v1 account %d", past.Unix())})
	m.Replace("apexNextEnd", []string{past.UTC().Format("20060102150405Z")})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	inv, err := r.store.CreateInvitation(ctx, directory.NewInvitation{Email: "rappel@example.test", Role: directory.RoleCollaborateur,
		SIRET: rigSIRET, Service: rigService, RequestedBy: w.admin.id})
	if err != nil {
		t.Fatal(err)
	}
	// Its link now expires in 20 hours.
	res, err := conn.Search(ldap.NewSearchRequest(rigSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(apexRequestId="+inv.Person.RequestID+")", []string{"apexInvitation"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatal(err)
	}
	soon := time.Now().Add(20 * time.Hour)
	f := strings.Fields(res.Entries[0].GetAttributeValue("apexInvitation"))
	m = ldap.NewModifyRequest(res.Entries[0].DN, nil)
	m.Replace("apexInvitation", []string{fmt.Sprintf("v1 %s %d", f[1], soon.Unix())})
	m.Replace("apexInvitationExpires", []string{soon.UTC().Format("20060102150405Z")})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "absent.yaml"), []byte("dormancy:\n  warnings: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.setEnv(map[string]string{"APEX_JOBS_TICK": "100ms", "APEX_JOBS_LEASE": "3s", "APEX_MAIL_AGENTS_MAILBOX": "agents@example.test"})
	return r, people, ending, inv
}

// historyCount counts, as the root, the events of action in the history
// of the account whose mail is email.
func (r *rig) historyCount(conn *ldap.Conn, email string, action directory.Action) int {
	r.t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(rigSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=apexPerson)(mail="+ldap.EscapeFilter(email)+"))", []string{"apexHistory"}, nil))
	if err != nil || len(res.Entries) != 1 {
		r.t.Fatalf("history of %s: %v", email, err)
	}
	n := 0
	for _, v := range res.Entries[0].GetAttributeValues("apexHistory") {
		if strings.Contains(v, `"action":"`+string(action)+`"`) {
			n++
		}
	}
	return n
}

func (r *rig) disabledCount(conn *ldap.Conn) int {
	r.t.Helper()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(rigSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=apexPerson)(apexAccountState=disabled))", []string{"1.1"}, nil), 500)
	if err != nil {
		r.t.Fatal(err)
	}
	return len(res.Entries)
}

func mailsTo(s *smtptest.Server, addr, subject string) int {
	n := 0
	for _, m := range s.Messages() {
		if smtptest.ToAddress(addr)(m) && strings.HasPrefix(m.Subject, subject) {
			n++
		}
	}
	return n
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJobsTwoApexdRunEachJobOnce(t *testing.T) {
	r, people, ending, inv := jobsRig(t, 20)
	a, b := r.spawn("a"), r.spawn("b")
	conn := r.root()
	defer conn.Close()
	waitUntil(t, 30*time.Second, "every job ran", func() bool {
		for _, job := range []string{directory.JobDormancy, directory.JobEndDates, directory.JobInvitationReminders, directory.JobReviews} {
			if a.runs(t, job, "success")+b.runs(t, job, "success") == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // ten more ticks of each: nothing must run again
	for _, job := range []string{directory.JobDormancy, directory.JobEndDates, directory.JobInvitationReminders, directory.JobReviews} {
		if na, nb := a.runs(t, job, "success"), b.runs(t, job, "success"); na+nb != 1 {
			t.Errorf("%s ran %d times on a and %d on b, want once in all", job, na, nb)
		}
	}
	admin := "adele.admin@example.test"
	waitUntil(t, 20*time.Second, "the mails", func() bool {
		return mailsTo(r.smtp, admin, "Compte désactivé") == len(people)+1 && mailsTo(r.smtp, inv.Person.Email, "Rappel") == 1
	})
	for _, p := range append(people, ending) {
		action := directory.ActionDormancyDisable
		if p == ending {
			action = directory.ActionEndAccount
		}
		if n := r.historyCount(conn, p.Email, action); n != 1 {
			t.Errorf("%s: %d events %s, want 1", p.Email, n, action)
		}
		if n := mailsTo(r.smtp, p.Email, "Votre compte APEX Partenaires est désactivé"); n != 1 {
			t.Errorf("%s: %d mails, want 1", p.Email, n)
		}
	}
	if n := r.disabledCount(conn); n != len(people)+1 {
		t.Errorf("%d accounts disabled, want %d", n, len(people)+1)
	}
	time.Sleep(500 * time.Millisecond)
	if n := mailsTo(r.smtp, inv.Person.Email, "Rappel"); n != 1 {
		t.Errorf("%d reminders, want 1", n)
	}
}

func TestJobsApexdKilledMidJobTheOtherFinishes(t *testing.T) {
	const n = 160
	r, people, _, _ := jobsRig(t, n)
	a, b := r.spawn("a"), r.spawn("b")
	conn := r.root()
	defer conn.Close()
	// Whoever holds the dormancy job's lease is killed once it has
	// disabled some of the accounts, and before it has done them all.
	var holder, other *proc
	waitUntil(t, 30*time.Second, "the dormancy job under way", func() bool {
		st, err := r.store.JobStatus(context.Background(), directory.JobDormancy)
		if err != nil || st.Holder == "" {
			return false
		}
		for _, p := range []*proc{a, b} {
			if strings.Contains(st.Holder, fmt.Sprintf("/%d/", p.pid)) {
				holder = p
			}
		}
		return holder != nil && r.disabledCount(conn) >= 20
	})
	holder.kill()
	killedAt := r.disabledCount(conn)
	if killedAt >= n {
		t.Fatalf("the job was done (%d disabled) before the kill: make it longer", killedAt)
	}
	other = a
	if holder == a {
		other = b
	}
	t.Logf("%s killed with %d of %d accounts disabled; %s takes over", holder.name, killedAt, n+1, other.name)
	waitUntil(t, 60*time.Second, "the other apexd finishing the job", func() bool {
		return other.runs(t, directory.JobDormancy, "success") == 1
	})
	if n := r.disabledCount(conn); n != len(people)+1 {
		t.Fatalf("%d accounts disabled, want %d", n, len(people)+1)
	}
	// The killed apexd, started again on its spool, sends what it had
	// accepted; then every mail is counted.
	r.restart(holder)
	admin := "adele.admin@example.test"
	for _, p := range []*proc{a, b} {
		waitUntil(t, time.Minute, p.name+"'s spool sent", func() bool {
			left, err := filepath.Glob(filepath.Join(p.env["APEX_MAIL_SPOOL_DIR"], "*.json"))
			return err == nil && len(left) == 0
		})
	}
	lost, twice := 0, 0
	for _, p := range people {
		if c := r.historyCount(conn, p.Email, directory.ActionDormancyDisable); c != 1 {
			t.Errorf("%s: %d disabling events, want 1", p.Email, c)
		}
		switch c := mailsTo(r.smtp, p.Email, "Votre compte APEX Partenaires est désactivé"); c {
		case 1:
		case 0:
			lost++
		case 2:
			twice++ // sent, then killed before its spool file was removed: sent again at the restart
		default:
			t.Errorf("%s: %d mails, want 1", p.Email, c)
		}
	}
	// The spool sends a mail at least once: the one in flight at the kill
	// may leave twice, no other.
	if twice > 1 {
		t.Errorf("%d persons mailed twice, want at most the one in flight at the kill", twice)
	}
	managers := mailsTo(r.smtp, admin, "Compte désactivé")
	if managers > n+2 {
		t.Errorf("%d mails to the administrator for %d accounts disabled", managers, n+1)
	}
	// The only mails that may be lost are those of the account whose
	// change had passed when the kill came, before its mails were spooled.
	if lost > 1 || managers < n {
		t.Errorf("%d accounts without their mail, %d mails to the administrator for %d accounts", lost, managers, n+1)
	}
	t.Logf("mails lost at the kill: %d of the persons', %d of the administrator's", lost, n+1-managers)
}
