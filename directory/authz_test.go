package directory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// recordingNotifier keeps what the lifecycle would mail.
type recordingNotifier struct {
	mu   sync.Mutex
	sent []string
}

func (n *recordingNotifier) add(s string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, s)
	return nil
}

func (n *recordingNotifier) Invitation(_ context.Context, inv *directory.Invitation, _ *directory.Structure) error {
	return n.add("invitation " + inv.Person.Email)
}
func (n *recordingNotifier) Approved(_ context.Context, p *directory.Person) error {
	return n.add("approved " + p.Identifier)
}
func (n *recordingNotifier) Refused(_ context.Context, p *directory.Person) error {
	return n.add("refused " + p.Email)
}
func (n *recordingNotifier) Habilitated(_ context.Context, p *directory.Person, app *directory.Application, profile string, _ *directory.Person) error {
	return n.add("habilitated " + p.Identifier + " " + app.ID + "/" + profile)
}
func (n *recordingNotifier) RequestSubmitted(_ context.Context, to directory.Recipient, p *directory.Person, _ *directory.Structure) error {
	return n.add("request submitted " + p.RequestID + " to " + to.Email)
}
func (n *recordingNotifier) RenewalLink(_ context.Context, p *directory.Person, _ string, _ time.Duration, by *directory.Person) error {
	return n.add("renewal link " + p.Email + " by " + by.Identifier)
}
func (n *recordingNotifier) MailChangeRequested(_ context.Context, p *directory.Person, ch *directory.MailChange, by *directory.Person) error {
	return n.add("mail change " + p.Identifier + " " + ch.Email + " by " + by.Identifier)
}

// snapshot reads every entry of a subtree with all its attributes, as root.
func snapshot(t *testing.T, srv *slapd.Server, base string) string {
	t.Helper()
	return slapdtest.Snapshot(t, srv, nil, base)
}

// namesAny tells whether some entry matches filter, read as the root.
func namesAny(t *testing.T, srv *slapd.Server, filter string) bool {
	t.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	entries, err := search(conn, srv.Suffix, filter, "1.1")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries) > 0
}

// The authorization matrix of issue 4: every actor against every action.
// An allowed action succeeds; a refused one answers ErrForbidden and leaves
// the directory exactly as it was.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	store, srv := slapdtestStore(t)
	base := store.BaseDN()
	const other = otherSIRET
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	mustStructure(t, store, other, "Accueil")
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	mk := func(first string, role directory.Role, siret, service string) *directory.Person {
		p, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: first, LastName: "Matrice", Email: strings.ToLower(first) + "@example.fr",
			Role: role, State: directory.StateActive, SIRET: siret, Service: service}, goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	agent := mk("Agathe", directory.RoleAgent, "", "")
	admin := mk("Adam", directory.RoleAdministrateur, testSIRET, "")
	otherAdmin := mk("Autre", directory.RoleAdministrateur, other, "")
	resp := mk("Rita", directory.RoleResponsable, testSIRET, "Accueil")
	otherResp := mk("Roger", directory.RoleResponsable, testSIRET, "Paie")
	collab := mk("Coline", directory.RoleCollaborateur, testSIRET, "Accueil")
	target := mk("Cible", directory.RoleCollaborateur, testSIRET, "Accueil")
	disabled := mk("Dora", directory.RoleAdministrateur, testSIRET, "")
	for _, g := range []struct{ id, profile string }{{admin.Identifier, "consultation"}, {resp.Identifier, "consultation"}} {
		if err := store.AddHabilitation(ctx, g.id, "ficoba", g.profile); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetState(ctx, disabled.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	reload := func(p *directory.Person) *directory.Person {
		got, err := store.FindPerson(ctx, p.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	actors := []struct {
		name  string
		actor *directory.Person
	}{
		{"anonymous", nil}, {"collaborateur", reload(collab)}, {"responsable of the service", reload(resp)},
		{"responsable of another service", reload(otherResp)}, {"administrator", reload(admin)},
		{"administrator of another structure", reload(otherAdmin)}, {"agent", reload(agent)}, {"disabled account", reload(disabled)},
	}

	notifier := &recordingNotifier{}
	acc := directory.Accounts{Store: store, Notifier: notifier}
	// Each action undoes itself when allowed, so that the next cell starts
	// from the same directory.
	type action struct {
		name    string
		allowed map[string]bool
		do      func(actor *directory.Person) error
		// prepare runs before the cell's snapshot and returns what do and
		// cleanup work on; cleanup runs after the comparison.
		prepare func() string
		cleanup func(string)
		do2     func(actor *directory.Person, prepared string) error
	}
	submittedCollab := func() string {
		inv, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: fmt.Sprintf("req%d@example.fr", nextInvite()), Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := directory.Accounts{Store: store}.SubmitInvitation(ctx, inv.Token, directory.PreCreation{FirstName: "Demande", LastName: "Matrice", Service: "Accueil", Password: goodPassword})
		if err != nil {
			t.Fatal(err)
		}
		return p.RequestID
	}
	deleteRequest := func(id string) {
		p, err := store.FindPersonByRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Identifier != "" {
			err = store.DeletePerson(ctx, p.Identifier)
		} else {
			err = store.DeleteRequest(ctx, id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	actions := []action{
		{name: "approve a collaborateur's request", allowed: set("administrator", "responsable of the service"),
			prepare: submittedCollab, cleanup: deleteRequest,
			do2: func(a *directory.Person, id string) error { _, err := acc.Approve(ctx, a, id); return err }},
		{name: "refuse a collaborateur's request", allowed: set("administrator", "responsable of the service"),
			prepare: submittedCollab, cleanup: deleteRequest,
			do2: func(a *directory.Person, id string) error { _, err := acc.Refuse(ctx, a, id, "motif"); return err }},
		{name: "create structure", allowed: set("agent"), do: func(a *directory.Person) error {
			_, err := acc.CreateStructure(ctx, a, directory.Structure{SIRET: "35600000000048", Name: "La Poste", Category: "Établissement"})
			if err == nil {
				return store.DeleteStructure(ctx, "35600000000048")
			}
			return err
		}},
		{name: "create service", allowed: set("administrator"), do: func(a *directory.Person) error {
			err := acc.CreateService(ctx, a, testSIRET, "Nouveau")
			if err == nil {
				return store.DeleteService(ctx, testSIRET, "Nouveau")
			}
			return err
		}},
		{name: "rename service", allowed: set("administrator"), do: func(a *directory.Person) error {
			err := acc.RenameService(ctx, a, testSIRET, "Paie", "Salaires")
			if err == nil {
				err = store.RenameService(ctx, testSIRET, "Salaires", "Paie")
				// refint rewrites the apexService of the service's accounts a
				// moment later, each account in turn: wait until none names
				// Salaires any more, or the next cell sees the last ones move.
				paie := "ou=Paie,ou=" + testSIRET + ",ou=structures," + base
				salaires := "ou=Salaires,ou=" + testSIRET + ",ou=structures," + base
				waitFor(t, "apexService back to Paie", func() bool {
					return findDN(t, store, srv, "(&"+eqFilter("uid", otherResp.Identifier)+eqFilter("apexService", paie)+")") != "" &&
						!namesAny(t, srv, eqFilter("apexService", salaires))
				})
			}
			return err
		}},
		{name: "invite administrator", allowed: set("agent"), do: func(a *directory.Person) error {
			return inviteAndUndo(t, acc, store, a, directory.RoleAdministrateur, "")
		}},
		{name: "invite collaborateur in the service", allowed: set("administrator", "responsable of the service"), do: func(a *directory.Person) error {
			return inviteAndUndo(t, acc, store, a, directory.RoleCollaborateur, "Accueil")
		}},
		{name: "invite responsable", allowed: set("administrator"), do: func(a *directory.Person) error {
			return inviteAndUndo(t, acc, store, a, directory.RoleResponsable, "Accueil")
		}},
		{name: "disable collaborateur", allowed: set("administrator", "responsable of the service"), do: func(a *directory.Person) error {
			_, err := acc.SetEnabled(ctx, a, target.Identifier, false)
			if err == nil {
				_, err = acc.SetEnabled(ctx, reload(admin), target.Identifier, true)
			}
			return err
		}},
		{name: "grant a held profile", allowed: set("administrator", "responsable of the service"), do: func(a *directory.Person) error {
			err := acc.Grant(ctx, a, target.Identifier, "ficoba", "consultation")
			if err == nil {
				return store.RemoveHabilitation(ctx, target.Identifier, "ficoba", "consultation")
			}
			return err
		}},
		{name: "grant a profile not held", allowed: set(), do: func(a *directory.Person) error {
			err := acc.Grant(ctx, a, target.Identifier, "ficoba", "gestion")
			if err == nil {
				return store.RemoveHabilitation(ctx, target.Identifier, "ficoba", "gestion")
			}
			return err
		}},
		{name: "grant an administrator", allowed: set("agent"), do: func(a *directory.Person) error {
			err := acc.Grant(ctx, a, otherAdmin.Identifier, "ficoba", "gestion")
			if err == nil {
				return store.RemoveHabilitation(ctx, otherAdmin.Identifier, "ficoba", "gestion")
			}
			return err
		}},
		{name: "move collaborateur", allowed: set("administrator"), do: func(a *directory.Person) error {
			_, err := acc.Move(ctx, a, target.Identifier, "Paie")
			if err == nil {
				_, err = store.MovePerson(ctx, target.Identifier, "Accueil")
			}
			return err
		}},
		{name: "declare application", allowed: set("agent"), do: func(a *directory.Person) error {
			_, err := acc.CreateApplication(ctx, a, directory.Application{ID: "hopla", Name: "HOPLA", Profiles: []string{"lecture"}})
			if err == nil {
				return store.DeleteApplication(ctx, "hopla")
			}
			return err
		}},
	}
	cells := 0
	for _, action := range actions {
		for _, actor := range actors {
			cells++
			prepared := ""
			if action.prepare != nil {
				prepared = action.prepare()
			}
			before := snapshot(t, srv, base)
			var err error
			if action.do2 != nil {
				err = action.do2(actor.actor, prepared)
			} else {
				err = action.do(actor.actor)
			}
			switch {
			case action.allowed[actor.name] && err != nil:
				t.Errorf("%s by %s: %v, want allowed", action.name, actor.name, err)
			case !action.allowed[actor.name] && !errors.Is(err, directory.ErrForbidden):
				t.Errorf("%s by %s: %v, want ErrForbidden", action.name, actor.name, err)
			}
			if after := snapshot(t, srv, base); !action.allowed[actor.name] && after != before {
				t.Errorf("%s by %s: the directory changed", action.name, actor.name)
			} else if action.allowed[actor.name] && action.prepare == nil && withoutHistory(after) != withoutHistory(before) {
				t.Errorf("%s by %s: the cell did not undo itself", action.name, actor.name)
			}
			if action.cleanup != nil {
				action.cleanup(prepared)
			}
		}
	}
	for _, want := range []string{"invitation ", "approved ", "refused ", "habilitated "} {
		found := false
		for _, sent := range notifier.sent {
			found = found || strings.HasPrefix(sent, want)
		}
		if !found {
			t.Errorf("no %q mail among %v", want, notifier.sent)
		}
	}
	t.Logf("%d cells", cells)
}

// withoutHistory drops the accounts' histories from a snapshot: an allowed
// action undone leaves its events there, as the audit trail wants; and
// their start of activity, which enabling an account moves by design
// (dormancy counts from it again).
func withoutHistory(snapshot string) string {
	lines := strings.Split(snapshot, "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool {
		return strings.Contains(l, " apexHistory=") || strings.Contains(l, " apexActiveSince=")
	}), "\n")
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

var (
	inviteCount sync.Mutex
	invites     int
)

func nextInvite() int {
	inviteCount.Lock()
	defer inviteCount.Unlock()
	invites++
	return invites
}

// inviteAndUndo invites and, when allowed, refuses nothing but deletes the
// invited entry through the root so that the directory is as before.
func inviteAndUndo(t *testing.T, acc directory.Accounts, store *directory.Store, actor *directory.Person, role directory.Role, service string) error {
	email := fmt.Sprintf("invite%d@example.fr", nextInvite())
	inv, err := acc.Invite(ctx, actor, directory.NewInvitation{Email: email, Role: role, SIRET: testSIRET, Service: service})
	if err != nil {
		return err
	}
	return store.DeleteRequest(ctx, inv.Person.RequestID)
}

// diffLines lists the snapshot lines only one side has.
func diffLines(before, after string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	b, a := in(before), in(after)
	var out []string
	for l := range b {
		if !a[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range a {
		if !b[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
