package directory_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// The scheduled jobs' work (workflow_jobs.go) against the real slapd and
// a real SMTP server, with a clock the test moves. slapd writes the last
// use (authTimestamp) with its own clock: the tests write it as the root,
// as the lastbind overlay would have at the test's time.

const day = 24 * time.Hour

// jobWorld is a tree, two stores on it sharing a clock (two apexd), the
// jobs' work on each, mailing through a real SMTP server.
type jobWorld struct {
	t      *testing.T
	a, b   *directory.Store
	clock  *testkit.Clock
	srv    *slapd.Server
	mails  *smtptest.Server
	jobsA  directory.Jobs
	jobsB  directory.Jobs
	audit  *testkit.LogBuffer
	agents string
}

func newJobWorld(t *testing.T) *jobWorld {
	t.Helper()
	a, b, clock := twoInstances(t)
	w := &jobWorld{t: t, a: a, b: b, clock: clock, srv: slapdtest.Shared(t), mails: smtptest.Start(t),
		audit: &testkit.LogBuffer{}, agents: "agents.apex@dgfip.example.fr"}
	relay, err := notify.NewSMTP(notify.SMTPConfig{Host: w.mails.Host, Port: w.mails.Port, TLS: notify.TLSNone, From: "APEX Partenaires <no-reply@apex.example.fr>"})
	if err != nil {
		t.Fatal(err)
	}
	notifier := notify.Notifier{Mailer: relay, PublicURL: "https://apex.example.fr", Now: clock.Now}
	log := slog.New(slog.NewJSONHandler(w.audit, nil))
	w.jobsA = directory.Jobs{Store: a, Notifier: notifier, Audit: log, Log: log, AgentsMailbox: w.agents}
	w.jobsB = w.jobsA
	w.jobsB.Store = b
	return w
}

// root runs fn on a connection bound as slapd's root.
func (w *jobWorld) root(fn func(c *ldap.Conn) error) {
	w.t.Helper()
	c, err := w.srv.DialRoot()
	if err != nil {
		w.t.Fatal(err)
	}
	defer c.Close()
	if err := fn(c); err != nil {
		w.t.Fatal(err)
	}
}

// relax is the control that lets the root write authTimestamp, which no
// one else may.
var relax = ldap.NewControlString("1.3.6.1.4.1.4203.666.5.12", true, "")

// used records a sign-in of p at the test's time, as slapd's lastbind
// overlay does at a bind.
func (w *jobWorld) used(p *directory.Person) {
	w.t.Helper()
	w.setTime(p, "authTimestamp", w.clock.Now())
}

func (w *jobWorld) setTime(p *directory.Person, attr string, t time.Time) {
	w.t.Helper()
	dn := findDN(w.t, w.a, w.srv, "(&(objectClass=apexPerson)"+eqFilter("uid", p.Identifier)+")")
	w.root(func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(dn, []ldap.Control{relax})
		m.Replace(attr, []string{t.UTC().Format("20060102150405Z")})
		return c.Modify(m)
	})
}

// memProgress is a job's progress kept in memory, for a run without a lease.
type memProgress struct{ cursor string }

func (m *memProgress) Cursor() string                               { return m.cursor }
func (m *memProgress) SaveCursor(_ context.Context, c string) error { m.cursor = c; return nil }

// mailsTo are the subjects of the mails received by addr so far.
func (w *jobWorld) mailsTo(addr string) []string {
	var out []string
	for _, m := range w.mails.Messages() {
		if smtptest.ToAddress(addr)(m) {
			out = append(out, m.Subject)
		}
	}
	return out
}

// events are the actions of p's history, oldest first.
func (w *jobWorld) events(p *directory.Person) []directory.Action {
	w.t.Helper()
	_, evs, err := directory.Accounts{Store: w.a}.History(ctx, anAgent, p.Identifier)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []directory.Action
	for _, e := range slices.Backward(evs) {
		out = append(out, e.Action)
	}
	return out
}

func (w *jobWorld) state(p *directory.Person) directory.AccountState {
	w.t.Helper()
	got, err := w.a.FindPerson(ctx, p.Identifier)
	if err != nil {
		w.t.Fatal(err)
	}
	return got.State
}

func countOf[T comparable](list []T, v T) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

func runJob(t *testing.T, what string, run func(context.Context, directory.Progress) (map[string]int, error), p directory.Progress) map[string]int {
	t.Helper()
	res, err := run(ctx, p)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return res
}

// An account unused for 180 days is warned 15 days and 1 day before, once
// each, then disabled, and mailed with those who manage it; one used the
// day before is not; enabling it again starts its period again.
func TestDormantAccountsAreWarnedThenDisabled(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	t0 := w.clock.Now()
	mustStructure(t, w.a, testSIRET, "Accueil", "Paie")
	mustStructure(t, w.a, otherSIRET)
	mk := func(first string, role directory.Role, siret, service string) *directory.Person {
		return mustPerson(t, w.a, directory.NewPerson{FirstName: first, LastName: "Dormance", Email: strings.ToLower(first) + ".dormance@example.fr",
			Role: role, SIRET: siret, Service: service})
	}
	admin := mk("Adele", directory.RoleAdministrateur, testSIRET, "")
	resp := mk("Remi", directory.RoleResponsable, testSIRET, "Accueil")
	otherResp := mk("Odile", directory.RoleResponsable, testSIRET, "Paie")
	dormant := mk("Denis", directory.RoleCollaborateur, testSIRET, "Accueil") // never used since its validation
	user := mk("Ursule", directory.RoleCollaborateur, testSIRET, "Accueil")   // used, then again the day before
	w.used(user)
	lone := mk("Luc", directory.RoleAdministrateur, otherSIRET, "") // an administrator: the agents are told
	agent := mustPerson(t, w.a, directory.NewPerson{FirstName: "Agnes", LastName: "Dormance", Email: "agnes.dormance@example.fr", Role: directory.RoleAgent})
	managers := []*directory.Person{admin, resp, otherResp}
	progress := &memProgress{}
	run := func(at time.Duration) map[string]int {
		t.Helper()
		w.clock.Add(t0.Add(at).Sub(w.clock.Now()))
		for _, m := range managers {
			w.used(m) // the managers keep using their accounts
		}
		return runJob(t, "dormancy", w.jobsA.Dormancy, progress)
	}

	if res := run(164 * day); res["warned"]+res["disabled"] != 0 {
		t.Fatalf("16 days before: %v", res)
	}
	if res := run(165 * day); res["warned"] != 3 || res["disabled"] != 0 {
		t.Fatalf("15 days before: %v, want 3 warned (the dormant, the user, the lone administrator)", res)
	}
	if res := run(165*day + time.Hour); res["warned"]+res["disabled"] != 0 {
		t.Fatalf("run again: %v", res)
	}
	w.clock.Add(179*day - 165*day - time.Hour)
	w.used(user) // signs in the day before
	if res := run(179 * day); res["warned"] != 2 {
		t.Fatalf("1 day before: %v, want 2 warned", res)
	}
	if res := run(179*day + time.Hour); res["warned"]+res["disabled"] != 0 {
		t.Fatalf("run again: %v", res)
	}
	if res := run(180 * day); res["disabled"] != 2 || res["mails_not_sent"] != 0 {
		t.Fatalf("the day: %v, want 2 disabled", res)
	}
	if res := run(180*day + time.Hour); res["warned"]+res["disabled"] != 0 {
		t.Fatalf("run again: %v", res)
	}

	deadline := notifyDate(t0.Add(180 * day))
	for _, c := range []struct {
		p     *directory.Person
		state directory.AccountState
		mails []string
	}{
		{dormant, directory.StateDisabled, []string{
			"Votre compte APEX Partenaires sera désactivé le " + deadline,
			"Votre compte APEX Partenaires sera désactivé le " + deadline,
			"Votre compte APEX Partenaires est désactivé"}},
		{lone, directory.StateDisabled, []string{
			"Votre compte APEX Partenaires sera désactivé le " + deadline,
			"Votre compte APEX Partenaires sera désactivé le " + deadline,
			"Votre compte APEX Partenaires est désactivé"}},
		{user, directory.StateActive, []string{"Votre compte APEX Partenaires sera désactivé le " + deadline}},
		{agent, directory.StateActive, nil},
	} {
		if got := w.state(c.p); got != c.state {
			t.Errorf("%s: %s, want %s", c.p.FirstName, got, c.state)
		}
		if got := w.mailsTo(c.p.Email); !slices.Equal(got, c.mails) {
			t.Errorf("%s's mails: %q, want %q", c.p.FirstName, got, c.mails)
		}
	}
	// Those who manage the account: its responsable and its administrator,
	// not the responsable of another service; the agents for an administrator.
	disabledMail := "Compte désactivé : Denis Dormance (" + dormant.Identifier + ")"
	for _, c := range []struct {
		to   string
		want []string
	}{
		{admin.Email, []string{disabledMail}},
		{resp.Email, []string{disabledMail}},
		{otherResp.Email, nil},
		{w.agents, []string{"Compte désactivé : Luc Dormance (" + lone.Identifier + ")"}},
	} {
		if got := w.mailsTo(c.to); !slices.Equal(got, c.want) {
			t.Errorf("mails to %s: %q, want %q", c.to, got, c.want)
		}
	}
	managerMail := w.mails.WaitFor(t, smtptest.ToAddress(resp.Email), time.Second)
	if !strings.Contains(managerMail.Text, "/gestion/comptes/"+dormant.Identifier) || !strings.Contains(managerMail.Text, "Bonjour Remi") {
		t.Errorf("the manager's mail:\n%s", managerMail.Text)
	}
	// One event per warning and per disabling, in the account's history
	// and the log; none for the account used the day before but its warning.
	wantEvents := []directory.Action{directory.ActionDormancyWarning, directory.ActionDormancyWarning, directory.ActionDormancyDisable}
	if got := w.events(dormant); !slices.Equal(got, wantEvents) {
		t.Errorf("history of the dormant account: %v, want %v", got, wantEvents)
	}
	if got := w.events(user); !slices.Equal(got, []directory.Action{directory.ActionDormancyWarning}) {
		t.Errorf("history of the account used: %v", got)
	}
	if n := strings.Count(w.audit.String(), `"action":"account.dormancy_disable"`); n != 2 {
		t.Errorf("%d disabling audit lines, want 2", n)
	}
	// The log of the run holds no address.
	if strings.Contains(w.audit.String(), "@example.fr") {
		t.Errorf("an address in the log: %s", w.audit.String())
	}

	// Enabled again, the account gets a whole period: the next run leaves
	// it, and it is warned again 165 days later.
	if _, err := (directory.Accounts{Store: w.a}).SetEnabled(ctx, admin, dormant.Identifier, true); err != nil {
		t.Fatal(err)
	}
	if res := run(180*day + 2*time.Hour); res["warned"]+res["disabled"] != 0 || w.state(dormant) != directory.StateActive {
		t.Fatalf("after enabling: %v, %s", res, w.state(dormant))
	}
	if res := run(345*day + 3*time.Hour); res["warned"] == 0 || countOf(w.events(dormant), directory.ActionDormancyWarning) != 3 {
		t.Errorf("165 days after enabling: %v, history %v", res, w.events(dormant))
	}
}

func notifyDate(t time.Time) string {
	months := []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
	p := t.In(parisZone)
	d := p.Format("2")
	if d == "1" {
		d = "1er"
	}
	return d + " " + months[p.Month()-1] + " " + p.Format("2006")
}

var parisZone = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return l
}()

// A job that did not run when a warning was due sends it late, and the
// disabling waits for the warning's time: nobody is disabled unwarned.
func TestDormancyNeverDisablesUnwarned(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	t0 := w.clock.Now()
	mustStructure(t, w.a, testSIRET)
	p := mustPerson(t, w.a, directory.NewPerson{FirstName: "Tardif", LastName: "Dormance", Email: "tardif@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	progress := &memProgress{}
	w.clock.Add(200 * day) // the job did not run for 35 days
	if res := runJob(t, "dormancy", w.jobsA.Dormancy, progress); res["warned"] != 1 || res["disabled"] != 0 {
		t.Fatalf("found late: %v, want the last warning only", res)
	}
	if got, want := w.mailsTo(p.Email), []string{"Votre compte APEX Partenaires sera désactivé le " + notifyDate(t0.Add(201*day))}; !slices.Equal(got, want) {
		t.Fatalf("mails %q, want %q", got, want)
	}
	w.clock.Add(23 * time.Hour)
	if res := runJob(t, "dormancy", w.jobsA.Dormancy, progress); res["warned"]+res["disabled"] != 0 {
		t.Fatalf("before the day announced: %v", res)
	}
	w.clock.Add(time.Hour)
	if res := runJob(t, "dormancy", w.jobsA.Dormancy, progress); res["disabled"] != 1 {
		t.Fatalf("the day announced: %v", res)
	}
	if got := len(w.mailsTo(p.Email)); got != 2 {
		t.Errorf("%d mails, want the warning and the disabling", got)
	}
}

// Two instances running the dormancy job at the same moment (as after a
// lease lost by a paused holder) warn and disable each account once.
func TestDormancyOnTwoInstancesDoesEachThingOnce(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	mustStructure(t, w.a, testSIRET, "Accueil")
	var people []*directory.Person
	for i := range 12 {
		people = append(people, mustPerson(t, w.a, directory.NewPerson{FirstName: "Jumeau", LastName: "Dormance" + strings.Repeat("x", i+1),
			Email: "jumeau" + strings.Repeat("x", i+1) + "@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"}))
	}
	both := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, j := range []directory.Jobs{w.jobsA, w.jobsB} {
			wg.Go(func() { _, errs[i] = j.Dormancy(ctx, &memProgress{}) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []time.Duration{165 * day, 14 * day, day} {
		w.clock.Add(at)
		both()
	}
	for _, p := range people {
		if got := w.mailsTo(p.Email); len(got) != 3 {
			t.Errorf("%s: mails %q, want 2 warnings and the disabling", p.LastName, got)
		}
		want := []directory.Action{directory.ActionDormancyWarning, directory.ActionDormancyWarning, directory.ActionDormancyDisable}
		if got := w.events(p); !slices.Equal(got, want) {
			t.Errorf("%s: history %v", p.LastName, got)
		}
	}
}

// End dates of an account (set when inviting) and of a habilitation (set
// when granting, changed later): a warning 7 days before, once; on the
// day, the account disabled or the habilitation withdrawn, with their
// mails; then nothing is left to find.
func TestEndDates(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	t0 := w.clock.Now()
	mustStructure(t, w.a, testSIRET, "Accueil")
	if err := w.a.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	acc := directory.Accounts{Store: w.a, Notifier: noMail{}}
	admin := mustPerson(t, w.a, directory.NewPerson{FirstName: "Amandine", LastName: "Fin", Email: "amandine.fin@example.fr", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if err := w.a.AddHabilitation(ctx, admin.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	admin, _ = w.a.FindPerson(ctx, admin.Identifier)
	day10, _ := directory.ParseDay("endDate", directory.Day(t0.Add(10*day)))
	day20, _ := directory.ParseDay("endDate", directory.Day(t0.Add(20*day)))

	// An invitation with an end date, its form, its approval.
	inv, err := acc.Invite(ctx, admin, directory.NewInvitation{Email: "fabien.fin@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil", EndDate: day10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Fabien", LastName: "Fin", Service: "Accueil", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	ending, err := acc.Approve(ctx, admin, inv.Person.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if !ending.EndDate.Equal(day10) {
		t.Fatalf("end date %v, want %v", ending.EndDate, day10)
	}
	// A habilitation until day 20, first given until day 30: changed, not mailed again.
	holder := mustPerson(t, w.a, directory.NewPerson{FirstName: "Hugo", LastName: "Fin", Email: "hugo.fin@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if err := acc.GrantUntil(ctx, admin, holder.Identifier, "ficoba", "consultation", day20.Add(10*day)); err != nil {
		t.Fatal(err)
	}
	if err := acc.GrantUntil(ctx, admin, holder.Identifier, "ficoba", "consultation", day20); err != nil {
		t.Fatal(err)
	}
	holder, _ = w.a.FindPerson(ctx, holder.Identifier)
	if len(holder.Habilitations) != 1 || !holder.Habilitations[0].EndDate.Equal(day20) {
		t.Fatalf("habilitations %+v", holder.Habilitations)
	}
	// A day that is not after today is refused, and changes nothing.
	if err := acc.GrantUntil(ctx, admin, holder.Identifier, "ficoba", "consultation", t0.Add(-day)); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("an end date in the past: %v, want ErrInvalid", err)
	}

	run := func(at time.Duration) map[string]int {
		t.Helper()
		w.clock.Add(t0.Add(at).Sub(w.clock.Now()))
		return runJob(t, "end dates", w.jobsA.EndDates, &memProgress{})
	}
	if res := run(2 * day); res["found"] != 0 {
		t.Fatalf("8 days before: %v: an account found that ends later", res)
	}
	if res := run(3*day + time.Hour); res["warned"] != 1 {
		t.Fatalf("7 days before the account's end: %v", res)
	}
	if res := run(3*day + 2*time.Hour); res["warned"] != 0 {
		t.Fatalf("run again: %v", res)
	}
	if res := run(10*day + time.Hour); res["accounts_ended"] != 1 {
		t.Fatalf("the account's day: %v", res)
	}
	if res := run(13*day + time.Hour); res["warned"] != 1 {
		t.Fatalf("7 days before the habilitation's end: %v", res)
	}
	if res := run(20*day + time.Hour); res["habilitations_ended"] != 1 {
		t.Fatalf("the habilitation's day: %v", res)
	}
	if res := run(20*day + 2*time.Hour); res["found"] != 0 {
		t.Fatalf("after: %v: something left to find", res)
	}

	if w.state(ending) != directory.StateDisabled || w.state(holder) != directory.StateActive {
		t.Errorf("states: %s, %s", w.state(ending), w.state(holder))
	}
	if members, _ := w.a.ProfileMembers(ctx, "ficoba", "consultation"); slices.Contains(members, holder.Identifier) {
		t.Errorf("the habilitation is still held: %v", members)
	}
	for _, c := range []struct {
		to   string
		want []string
	}{
		{ending.Email, []string{"Votre compte APEX Partenaires prend fin le " + notifyDate(day10), "Votre compte APEX Partenaires est désactivé"}},
		{holder.Email, []string{"Votre habilitation à FICOBA prend fin le " + notifyDate(day20), "Votre habilitation à FICOBA a pris fin"}},
		{admin.Email, []string{"Compte désactivé : Fabien Fin (" + ending.Identifier + ")"}},
	} {
		if got := w.mailsTo(c.to); !slices.Equal(got, c.want) {
			t.Errorf("mails to %s: %q, want %q", c.to, got, c.want)
		}
	}
	// (the second change of the end date was refused: an event all the same)
	if got := w.events(holder); !slices.Equal(got, []directory.Action{directory.ActionGrant, directory.ActionSetHabilitationEnd,
		directory.ActionSetHabilitationEnd, directory.ActionEndWarning, directory.ActionEndHabilitation}) {
		t.Errorf("history of the habilitation's holder: %v", got)
	}
	// Nothing is left of either end date.
	w.root(func(c *ldap.Conn) error {
		entries, err := search(c, w.a.BaseDN(), "(|(apexEnd=*)(apexNextEnd=*))", "1.1")
		if err == nil && len(entries) != 0 {
			t.Errorf("%d entries still hold an end date", len(entries))
		}
		return err
	})
}

// Taking a habilitation's end away, or revoking it, leaves nothing that
// the end-date job would act on; the account's end date is set and moved
// by those who manage it.
func TestEndDatesChangedByManagers(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	t0 := w.clock.Now()
	mustStructure(t, w.a, testSIRET, "Accueil")
	if err := w.a.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	acc := directory.Accounts{Store: w.a, Notifier: noMail{}}
	admin := mustPerson(t, w.a, directory.NewPerson{FirstName: "Alma", LastName: "Fin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	for _, pr := range []string{"consultation", "gestion"} {
		if err := w.a.AddHabilitation(ctx, admin.Identifier, "ficoba", pr); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ = w.a.FindPerson(ctx, admin.Identifier)
	p := mustPerson(t, w.a, directory.NewPerson{FirstName: "Paul", LastName: "Fin", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	d5, _ := directory.ParseDay("endDate", directory.Day(t0.Add(5*day)))
	for _, pr := range []string{"consultation", "gestion"} {
		if err := acc.GrantUntil(ctx, admin, p.Identifier, "ficoba", pr, d5); err != nil {
			t.Fatal(err)
		}
	}
	if err := acc.Grant(ctx, admin, p.Identifier, "ficoba", "consultation"); err != nil { // no end date any more
		t.Fatal(err)
	}
	if err := acc.Revoke(ctx, admin, p.Identifier, "ficoba", "gestion"); err != nil {
		t.Fatal(err)
	}
	got, err := acc.SetEndDate(ctx, admin, p.Identifier, d5.Add(day))
	if err != nil || !got.EndDate.Equal(d5.Add(day)) {
		t.Fatalf("set end date: %+v, %v", got, err)
	}
	if _, err := acc.SetEndDate(ctx, admin, p.Identifier, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SetEndDate(ctx, p, admin.Identifier, d5); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a collaborateur sets an end date: %v, want ErrForbidden", err)
	}
	w.clock.Add(30 * day)
	if res := runJob(t, "end dates", w.jobsA.EndDates, &memProgress{}); res["found"] != 0 {
		t.Errorf("%v: an end date left behind", res)
	}
	if got, _ := w.a.FindPerson(ctx, p.Identifier); w.state(p) != directory.StateActive || !got.HasProfile("ficoba", "consultation") {
		t.Errorf("the account: %+v", got)
	}
}

// An invitee whose link expires within 48 hours gets one reminder with a
// new link (the old one stops working), once, even with two instances
// running the job at once; a link farther from its end, or expired, gets none.
func TestInvitationReminderOnce(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	mustStructure(t, w.a, testSIRET, "Accueil")
	soon := mustInvite(t, w.a, "rappel.bientot@example.fr", directory.RoleCollaborateur, "Accueil")
	w.clock.Add(2 * day)
	later := mustInvite(t, w.a, "rappel.plus-tard@example.fr", directory.RoleCollaborateur, "Accueil")
	w.clock.Add(3*day + time.Hour) // soon: 47 hours left; later: 4 days
	var wg sync.WaitGroup
	for _, j := range []directory.Jobs{w.jobsA, w.jobsB} {
		wg.Go(func() {
			if _, err := j.InvitationReminders(ctx, &memProgress{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	runJob(t, "reminders", w.jobsA.InvitationReminders, &memProgress{})
	got := w.mailsTo(soon.Person.Email)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Rappel : créez votre compte APEX Partenaires avant le ") {
		t.Fatalf("reminders %q, want one", got)
	}
	if n := len(w.mailsTo(later.Person.Email)); n != 0 {
		t.Errorf("%d reminders for a link with 4 days left", n)
	}
	m := w.mails.WaitFor(t, smtptest.ToAddress(soon.Person.Email), time.Second)
	token := regexp.MustCompile(`/creation/([A-Za-z0-9._~%-]+)`).FindStringSubmatch(m.Text)
	if token == nil {
		t.Fatalf("no link in the reminder:\n%s", m.Text)
	}
	acc := directory.Accounts{Store: w.a}
	if _, err := acc.Invitation(ctx, soon.Token); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("the first link after the reminder: %v, want ErrInvalidToken", err)
	}
	form, err := acc.Invitation(ctx, token[1])
	if err != nil || form.Person.Email != soon.Person.Email {
		t.Fatalf("the reminder's link: %+v, %v", form, err)
	}
	// Past its expiry, nothing more.
	w.clock.Add(2 * day)
	runJob(t, "reminders", w.jobsA.InvitationReminders, &memProgress{})
	if n := len(w.mailsTo(soon.Person.Email)); n != 1 {
		t.Errorf("%d reminders after the expiry", n)
	}
	if !bytes.Contains([]byte(w.audit.String()), []byte(`"action":"account.invitation_reminder"`)) {
		t.Errorf("no audit line for the reminder: %s", w.audit.String())
	}
}

// noMail is a lifecycle notifier that sends nothing.
type noMail struct{}

func (noMail) Invitation(context.Context, *directory.Invitation, *directory.Structure) error {
	return nil
}
func (noMail) Approved(context.Context, *directory.Person) error { return nil }
func (noMail) Refused(context.Context, *directory.Person) error  { return nil }
func (noMail) Habilitated(context.Context, *directory.Person, *directory.Application, string, *directory.Person) error {
	return nil
}
func (noMail) RequestSubmitted(context.Context, directory.Recipient, *directory.Person, *directory.Structure) error {
	return nil
}
func (noMail) RenewalLink(context.Context, *directory.Person, string, time.Duration, *directory.Person) error {
	return nil
}
func (noMail) MailChangeRequested(context.Context, *directory.Person, *directory.MailChange, *directory.Person) error {
	return nil
}

// A job's lease: one holder at a time, taken again once it ran through
// and its interval passed, or once its holder's lease expired (the run
// stopped half way is due at once); its cursor outlives runs and holders.
func TestJobLease(t *testing.T) {
	t.Parallel()
	a, b, clock := twoInstances(t)
	const ttl, interval = time.Minute, time.Hour
	la, st, err := a.TakeJob(ctx, "essai", "a#1", interval, ttl)
	if err != nil || la == nil || !st.LastSuccess.IsZero() {
		t.Fatalf("first take: %v, %+v, %v", la, st, err)
	}
	if lb, st, err := b.TakeJob(ctx, "essai", "b#1", interval, ttl); err != nil || lb != nil || st.Holder != "a#1" {
		t.Fatalf("held by a: b took it (%v), status %+v, %v", lb, st, err)
	}
	if err := la.SaveCursor(ctx, "42"); err != nil {
		t.Fatal(err)
	}
	if err := la.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if lb, st, _ := b.TakeJob(ctx, "essai", "b#2", interval, ttl); lb != nil || st.Holder != "" || st.Cursor != "42" || st.LastSuccess.IsZero() {
		t.Fatalf("ran through just now: b took it (%v), status %+v", lb, st)
	}
	clock.Add(interval)
	lb, _, err := b.TakeJob(ctx, "essai", "b#3", interval, ttl)
	if err != nil || lb == nil || lb.Cursor() != "42" {
		t.Fatalf("due again: %v, %v", lb, err)
	}
	// b dies: its lease expires, a takes the run over at once (not after
	// the interval), and b, back, has lost it.
	clock.Add(ttl - time.Second)
	if la, _, _ := a.TakeJob(ctx, "essai", "a#2", interval, ttl); la != nil {
		t.Fatal("taken before the lease expired")
	}
	clock.Add(2 * time.Second) // past its end, stored to the second rounded up
	la, st, err = a.TakeJob(ctx, "essai", "a#3", interval, ttl)
	if err != nil || la == nil || st.Holder != "b#3" {
		t.Fatalf("taken over: %v, %+v, %v", la, st, err)
	}
	for name, f := range map[string]func(context.Context) error{
		"renew": lb.Renew, "finish": lb.Finish, "release": lb.Release,
		"save": func(ctx context.Context) error { return lb.SaveCursor(ctx, "7") },
	} {
		if err := f(ctx); !errors.Is(err, directory.ErrLeaseLost) {
			t.Errorf("%s by the old holder: %v, want ErrLeaseLost", name, err)
		}
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.JobStatus(ctx, "essai"); st.Cursor != "42" || st.Holder != "" {
		t.Errorf("after release: %+v", st)
	}
	// Released without running through: due at once.
	lb, _, _ = b.TakeJob(ctx, "essai", "b#4", interval, ttl)
	if lb == nil {
		t.Fatal("released: not taken again")
	}
	// A holder that let its lease end stops, even when nobody took it.
	clock.Add(ttl + 2*time.Second)
	if err := lb.Renew(ctx); !errors.Is(err, directory.ErrLeaseLost) {
		t.Errorf("renewing a lease over: %v, want ErrLeaseLost", err)
	}
}

// Eight instances taking a due job at the same moment, each having read it
// free before any takes it: exactly one holds it.
func TestJobLeaseTakenOnce(t *testing.T) {
	t.Parallel()
	cfg, _ := clockedConfig(t, slapdtest.Shared(t))
	for round := range 3 {
		var wg, read sync.WaitGroup
		var mu sync.Mutex
		var held []*directory.JobLease
		read.Add(8)
		for i := range 8 {
			s := slapdtest.OpenStore(t, cfg)
			directory.OnRequestWrite(s, func(string) { read.Done(); read.Wait() })
			wg.Go(func() {
				l, _, err := s.TakeJob(ctx, "course", strings.Repeat("x", i+1), time.Nanosecond, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if l != nil {
					mu.Lock()
					held = append(held, l)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(held) != 1 {
			t.Fatalf("round %d: %d holders, want 1", round, len(held))
		}
		if err := held[0].Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// noNotice is a notifier of the jobs that sends nothing.
type noNotice struct{}

func (noNotice) DormancyWarning(context.Context, *directory.Person, time.Time, time.Time) error {
	return nil
}
func (noNotice) AccountDisabled(context.Context, *directory.Person, directory.DisableCause, time.Time) error {
	return nil
}
func (noNotice) ManagedAccountDisabled(context.Context, directory.Recipient, *directory.Person, directory.DisableCause, time.Time) error {
	return nil
}
func (noNotice) EndWarning(context.Context, *directory.Person, *directory.Application, string, time.Time) error {
	return nil
}
func (noNotice) HabilitationEnded(context.Context, *directory.Person, *directory.Application, string) error {
	return nil
}
func (noNotice) InvitationReminder(context.Context, *directory.Invitation, *directory.Structure) error {
	return nil
}

// The jobs find what is due by indexed searches: slapd's own trace shows
// that each search's candidates are the few due entries, never every
// account (a filter slapd cannot index gives every entry of the scope as
// candidates, id=-1). The accounts never used have no value to index
// (authTimestamp absent): their search is bounded by the dormancy job's
// cursor, and only its first run goes through them all.
func TestJobSearchesAreIndexed(t *testing.T) {
	t.Parallel()
	srv, err := slapd.Start(ctx, slapd.Config{Dir: t.TempDir(), Suffix: slapdtest.Suffix, ServicePassword: slapdtest.ServicePassword, LogLevel: "257"}) // stats and trace
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	cfg := slapdtest.StoreConfig(srv, srv.Suffix)
	clock := testkit.NewClock(time.Now())
	cfg.Now = clock.Now
	store := slapdtest.OpenStore(t, cfg)
	w := &jobWorld{t: t, a: store, clock: clock, srv: srv}
	mustStructure(t, store, testSIRET, "Accueil")
	// 40 accounts validated long ago and used today: none is due.
	clock.Add(-300 * day)
	var recent []*directory.Person
	for i := range 40 {
		recent = append(recent, mustPerson(t, store, directory.NewPerson{FirstName: "Recent", LastName: "Index" + strings.Repeat("x", i+1),
			Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"}))
	}
	clock.Add(100 * day) // the due ones were made 200 days ago
	usedLongAgo := mustPerson(t, store, directory.NewPerson{FirstName: "Ancien", LastName: "Index", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	w.used(usedLongAgo)
	mustPerson(t, store, directory.NewPerson{FirstName: "Jamais", LastName: "Index", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	clock.Add(200 * day)
	for _, p := range recent {
		w.used(p)
	}
	end, _ := directory.ParseDay("endDate", directory.Day(clock.Now().Add(3*day)))
	if _, err := (directory.Accounts{Store: store, Notifier: noMail{}}).SetEndDate(ctx, &directory.Person{Role: directory.RoleAgent, State: directory.StateActive}, recent[0].Identifier, end); err == nil {
		t.Fatal("an agent manages a collaborateur")
	}
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Admin", LastName: "Index", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if _, err := (directory.Accounts{Store: store, Notifier: noMail{}}).SetEndDate(ctx, admin, recent[0].Identifier, end); err != nil {
		t.Fatal(err)
	}
	mustInvite(t, store, "index.invite@example.fr", directory.RoleCollaborateur, "Accueil")
	clock.Add(6 * day)

	j := directory.Jobs{Store: store, Notifier: noNotice{}}
	progress := &memProgress{}
	for _, run := range []func(context.Context, directory.Progress) (map[string]int, error){j.Dormancy, j.EndDates, j.InvitationReminders} {
		if _, err := run(ctx, progress); err != nil {
			t.Fatal(err)
		}
	}
	// The first run of the dormancy job goes through every account never
	// used; the next ones start from its cursor.
	clock.Add(time.Hour)
	if _, err := j.Dormancy(ctx, progress); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	log, err := os.ReadFile(srv.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"(authTimestamp<=", "(!(authTimestamp=*))", "(apexNextEnd<=", "(apexInvitationExpires<="} {
		counts := searchCandidates(string(log), f)
		if len(counts) == 0 {
			t.Errorf("no search with %s in the trace", f)
			continue
		}
		t.Logf("%s…: %v candidates", f, counts)
		if n := counts[len(counts)-1]; n < 0 || n > 3 {
			t.Errorf("the search with %s had %d candidates among 40 accounts not due (-1: all)", f, n)
		}
	}
	if counts := searchCandidates(string(log), "(!(authTimestamp=*))"); len(counts) != 2 || counts[0] < 40 {
		t.Errorf("the searches of accounts never used had %v candidates: the first, without a cursor, should have had them all", counts)
	}
}

var (
	srchLine       = regexp.MustCompile(`^\S+ (0x[0-9a-f]+) (conn=\d+ op=\d+) SRCH base=.* filter="(.*)"$`)
	candidatesLine = regexp.MustCompile(`^\S+ (0x[0-9a-f]+) mdb_search_candidates: id=(-?\d+)`)
)

// searchCandidates reads slapd's trace for the searches whose filter
// holds part: how many candidates the last pass over the database of each
// had (a search makes one for referrals first), -1 for every entry of its
// scope.
func searchCandidates(log, part string) []int {
	var counts []int
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		m := srchLine.FindStringSubmatch(l)
		if m == nil || !strings.Contains(m[3], part) {
			continue
		}
		n, found := 0, false
		for _, next := range lines[i+1:] {
			if strings.Contains(next, m[2]+" SEARCH RESULT") {
				break
			}
			if c := candidatesLine.FindStringSubmatch(next); c != nil && c[1] == m[1] {
				n, _ = strconv.Atoi(c[2])
				found = true
			}
		}
		if found {
			counts = append(counts, n)
		}
	}
	return counts
}

// The invitations of a file, made by Invite's steps, carry their link's
// expiry as any other: each gets its reminder.
func TestInvitationReminderOfABulkInvitation(t *testing.T) {
	t.Parallel()
	w := newJobWorld(t)
	mustStructure(t, w.a, testSIRET, "Accueil")
	admin := mustPerson(t, w.a, directory.NewPerson{FirstName: "Adam", LastName: "Rappel", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	acc := directory.Accounts{Store: w.a, Notifier: &recordingNotifier{}}
	rows := []directory.BulkRow{{Line: 2, Email: "rappel.fichier1@example.fr", Role: "collaborateur", Service: "Accueil"},
		{Line: 3, Email: "rappel.fichier2@example.fr", Role: "responsable", Service: "Accueil"}}
	if r, err := acc.InviteBulk(ctx, admin, testSIRET, rows, nil); err != nil || r.Invited() != 2 {
		t.Fatalf("the file: %v, %v", r, err)
	}
	w.clock.Add(5*day + time.Hour) // 47 hours left
	runJob(t, "reminders", w.jobsA.InvitationReminders, &memProgress{})
	for _, row := range rows {
		if got := w.mailsTo(row.Email); len(got) != 1 || !strings.HasPrefix(got[0], "Rappel : créez votre compte APEX Partenaires avant le ") {
			t.Errorf("%s: reminders %q, want one", row.Email, got)
		}
	}
}
