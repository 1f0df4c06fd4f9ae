package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// selfServiceNotifier keeps the renewal code it would text.
type selfServiceNotifier struct {
	mu   sync.Mutex
	code string
}

func (n *selfServiceNotifier) ResetCode(_ context.Context, _ *directory.Person, code string, _ time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.code = code
	return nil
}
func (n *selfServiceNotifier) ResetLink(context.Context, *directory.Person, string, time.Duration) error {
	return nil
}
func (n *selfServiceNotifier) PasswordChanged(context.Context, *directory.Person) error { return nil }
func (n *selfServiceNotifier) MailChangeRequested(context.Context, *directory.Person, *directory.MailChange, *directory.Person) error {
	return nil
}
func (n *selfServiceNotifier) EmailChanged(context.Context, *directory.Person, string) error {
	return nil
}
func (n *selfServiceNotifier) MobileChanged(context.Context, *directory.Person, string) error {
	return nil
}

// auditLines reads the "audit" lines of a JSON log.
func auditLines(t *testing.T, b *testkit.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "audit" {
			out = append(out, m)
		}
	}
	return out
}

// rawHistory reads the stored values of an account's history, as root.
func rawHistory(t *testing.T, srv *slapd.Server, dn string) []string {
	t.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"apexHistory"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValues("apexHistory")
}

func TestAuditTrailOfTheLifecycle(t *testing.T) {
	t.Parallel()
	store, srv := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Aude", LastName: "Audit", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if err := store.AddHabilitation(ctx, admin.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	admin, _ = store.FindPerson(ctx, admin.Identifier)
	collab := mustPerson(t, store, directory.NewPerson{FirstName: "Colin", LastName: "Audit", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	logs := &testkit.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	acc := directory.Accounts{Store: store, Notifier: &recordingNotifier{}, Audit: logger}
	notifier := &selfServiceNotifier{}
	self := directory.SelfService{Store: store, Notifier: notifier, Audit: logger, ForgotDuration: time.Millisecond}
	from := directory.WithSource(ctx, "192.0.2.7")

	inv, err := acc.Invite(from, admin, directory.NewInvitation{Email: "nina.audit@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if err != nil {
		t.Fatal(err)
	}
	const chosen, changed, renewed = "Choisi-Secret-31!", "Change-Secret-52!", "Renouvele-Secret-73!"
	if _, err := (directory.Accounts{Store: store}).SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Nina", LastName: "Audit", Service: "Accueil", Password: chosen}); err != nil {
		t.Fatal(err)
	}
	p, err := acc.Approve(from, admin, inv.Person.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"grant", func() error { return acc.Grant(from, admin, p.Identifier, "ficoba", "consultation") }},
		{"revoke", func() error { return acc.Revoke(from, admin, p.Identifier, "ficoba", "consultation") }},
		{"move", func() error { _, err := acc.Move(from, admin, p.Identifier, "Paie"); return err }},
		{"disable", func() error { _, err := acc.SetEnabled(from, admin, p.Identifier, false); return err }},
		{"enable", func() error { _, err := acc.SetEnabled(from, admin, p.Identifier, true); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	// A refused attempt is a log line, and nothing in the directory.
	if _, err := acc.SetEnabled(directory.WithSource(ctx, "198.51.100.9"), collab, p.Identifier, false); !errors.Is(err, directory.ErrForbidden) {
		t.Fatalf("a collaborateur disables: %v", err)
	}
	// The person's own changes: a wrong current password (kept, failed),
	// then a right one, personal data, and a renewal of a forgotten password.
	me, err := store.FindPerson(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if err := self.ChangePassword(from, me, "Pas-Le-Bon-99!", changed); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := self.ChangePassword(from, me, chosen, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := self.UpdateMe(from, me, directory.PersonUpdate{Mobile: new("0611223344")}, changed); err != nil {
		t.Fatal(err)
	}
	captcha, err := store.CreateCaptcha(ctx, "424242", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	reset, err := self.Forgot(ctx, p.Identifier, captcha, "424242")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewal code", func() bool { notifier.mu.Lock(); defer notifier.mu.Unlock(); return notifier.code != "" })
	token, err := self.VerifyCode(ctx, reset, notifier.code)
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Reset(directory.WithSource(ctx, "203.0.113.5"), token, renewed); err != nil {
		t.Fatal(err)
	}

	_, events, err := directory.Accounts{Store: store}.History(ctx, anAgent, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		action  directory.Action
		actor   string
		source  string
		outcome string
		detail  string
	}
	wants := []want{ // newest first
		{directory.ActionResetPassword, p.Identifier, "203.0.113.5", "success", ""},
		{directory.ActionUpdatePersonal, p.Identifier, "192.0.2.7", "success", "mobile"},
		{directory.ActionChangePassword, p.Identifier, "192.0.2.7", "success", ""},
		{directory.ActionChangePassword, p.Identifier, "192.0.2.7", "invalid_credentials", ""},
		{directory.ActionEnable, admin.Identifier, "192.0.2.7", "success", ""},
		{directory.ActionDisable, admin.Identifier, "192.0.2.7", "success", ""},
		{directory.ActionMove, admin.Identifier, "192.0.2.7", "success", "Paie"},
		{directory.ActionRevoke, admin.Identifier, "192.0.2.7", "success", "ficoba/consultation"},
		{directory.ActionGrant, admin.Identifier, "192.0.2.7", "success", "ficoba/consultation"},
		{directory.ActionApprove, admin.Identifier, "192.0.2.7", "success", ""},
		{directory.ActionInvite, admin.Identifier, "192.0.2.7", "success", "collaborateur"},
	}
	if len(events) != len(wants) {
		for _, e := range events {
			t.Logf("%+v", e)
		}
		t.Fatalf("%d events kept, want %d", len(events), len(wants))
	}
	for i, w := range wants {
		e := events[i]
		if e.Action != w.action || e.Actor != w.actor || e.Source != w.source || e.Outcome != w.outcome || e.Detail != w.detail || e.Account != p.Identifier {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if i > 0 && e.At.After(events[i-1].At) {
			t.Errorf("event %d is newer than event %d", i, i-1)
		}
	}

	// One log line per attempt, the refused one included.
	lines := auditLines(t, logs)
	if len(lines) != len(wants)+1 {
		t.Fatalf("%d audit lines, want %d:\n%s", len(lines), len(wants)+1, logs)
	}
	var refused map[string]any
	for _, l := range lines {
		if l["outcome"] == "refused" {
			refused = l
		}
	}
	if refused == nil || refused["actor"] != collab.Identifier || refused["actor_role"] != "collaborateur" || refused["action"] != "account.disable" ||
		refused["account"] != p.Identifier || refused["source"] != "198.51.100.9" || refused["structure"] != testSIRET || refused["level"] != "WARN" {
		t.Errorf("refused line = %v", refused)
	}
	for _, l := range lines {
		for _, k := range []string{"time", "at", "actor", "action", "account", "source", "outcome"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %v lacks %s", l, k)
			}
		}
	}

	// No secret anywhere: passwords, the invitation's link, the renewal's.
	stored := strings.Join(rawHistory(t, srv, findDN(t, store, srv, eqFilter("uid", p.Identifier))), "\n")
	for _, secret := range []string{chosen, changed, renewed, "Pas-Le-Bon-99!", inv.Token, token, reset, notifier.code, "+33611223344", "0611223344"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
		if strings.Contains(stored, secret) {
			t.Errorf("the history holds a secret %q", secret)
		}
	}

	// Removing the account: a log line; its history goes with the entry.
	if err := acc.Remove(from, admin, p.Identifier); err != nil {
		t.Fatal(err)
	}
	lines = auditLines(t, logs)
	if last := lines[len(lines)-1]; last["action"] != "account.remove" || last["outcome"] != "success" || last["account"] != p.Identifier {
		t.Errorf("remove line = %v", last)
	}
	if _, _, err := (directory.Accounts{Store: store}).History(ctx, anAgent, p.Identifier); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("history of a removed account: %v", err)
	}
}

func TestHistoryIsCappedAndOnlyForItsAdministrators(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	mustStructure(t, store, otherSIRET)
	agent := mustPerson(t, store, directory.NewPerson{FirstName: "Agnes", LastName: "Cap", Role: directory.RoleAgent})
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Alain", LastName: "Cap", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	otherAdmin := mustPerson(t, store, directory.NewPerson{FirstName: "Olga", LastName: "Cap", Role: directory.RoleAdministrateur, SIRET: otherSIRET})
	resp := mustPerson(t, store, directory.NewPerson{FirstName: "Rose", LastName: "Cap", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Accueil"})
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Paul", LastName: "Cap", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	acc := directory.Accounts{Store: store, Notifier: &recordingNotifier{}}

	const n = directory.HistoryCap + 5
	for i := range n {
		if _, err := acc.SetEnabled(ctx, admin, p.Identifier, i%2 == 1); err != nil {
			t.Fatal(err)
		}
	}
	_, events, err := acc.History(ctx, admin, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	// Pruned to 80 at the 101st event, then 4 more.
	if len(events) != 84 {
		t.Errorf("%d events kept, want 84", len(events))
	}
	if events[0].Action != directory.ActionDisable { // the last of n: i = n-1 = 104, even
		t.Errorf("newest event = %+v", events[0])
	}
	for name, actor := range map[string]*directory.Person{"agent": agent, "administrator": admin} {
		if _, _, err := acc.History(ctx, actor, p.Identifier); err != nil {
			t.Errorf("%s reads the history: %v", name, err)
		}
	}
	for name, actor := range map[string]*directory.Person{"anonymous": nil, "administrator of another structure": otherAdmin, "responsable": resp, "the account itself": p} {
		if _, _, err := acc.History(ctx, actor, p.Identifier); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("%s reads the history: %v, want ErrForbidden", name, err)
		}
	}
	if _, _, err := acc.History(ctx, admin, agent.Identifier); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("an administrator reads an agent's history: %v", err)
	}
	if _, _, err := acc.History(ctx, admin, "nobody.here-px"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("history of nobody: %v", err)
	}
}

// The cost of the audit trail on a change: keeping one event (a modify with
// the post-read control, and a prune every 20 events once full) against the
// change it follows (here a disable or enable: a search and a modify).
// go test -run '^$' -bench 'History' -benchtime 300x ./directory/
func BenchmarkHistory(b *testing.B) {
	store, srv := slapdtest.NewStore(b)
	mustStructure(b, store, testSIRET, "Accueil")
	admin := mustPerson(b, store, directory.NewPerson{FirstName: "Bea", LastName: "Bench", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	p := mustPerson(b, store, directory.NewPerson{FirstName: "Ben", LastName: "Bench", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	b.Run("state change alone", func(b *testing.B) {
		states := [2]directory.AccountState{directory.StateActive, directory.StateDisabled}
		for i := range b.N {
			if err := store.SetState(ctx, p.Identifier, states[i%2], states[(i+1)%2]); err != nil {
				b.Fatal(err)
			}
		}
		if b.N%2 == 1 {
			store.SetState(ctx, p.Identifier, directory.StateDisabled, directory.StateActive)
		}
	})
	dn := findDN(b, store, srv, eqFilter("uid", p.Identifier))
	other := mustPerson(b, store, directory.NewPerson{FirstName: "Bob", LastName: "Bench", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	otherDN := findDN(b, store, srv, eqFilter("uid", other.Identifier))
	b.Run("one event kept (modify with post-read, pruning)", func(b *testing.B) {
		for i := range b.N {
			ev := &directory.Event{At: time.Now(), Actor: admin.Identifier, Action: directory.ActionDisable, Source: "192.0.2.1", Outcome: "success", Detail: fmt.Sprint(i)}
			if err := directory.KeepEventForBench(ctx, store, dn, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one plain modify adding a value", func(b *testing.B) {
		for i := range b.N {
			ev := &directory.Event{At: time.Now(), Actor: admin.Identifier, Action: directory.ActionDisable, Source: "192.0.2.1", Outcome: "success", Detail: fmt.Sprint(i)}
			if err := directory.AddPlainForBench(ctx, store, otherDN, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("workflow with its event kept", func(b *testing.B) {
		acc := directory.Accounts{Store: store, Notifier: &recordingNotifier{}}
		for i := range b.N {
			if _, err := acc.SetEnabled(ctx, admin, p.Identifier, i%2 == 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
