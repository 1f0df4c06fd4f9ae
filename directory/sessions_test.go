package directory_test

import (
	"errors"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// mustSessions opens n sessions of an account.
func mustSessions(t *testing.T, store *directory.Store, identifier string, n int) []string {
	t.Helper()
	var tokens []string
	for range n {
		token, err := store.CreateSession(ctx, identifier)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	return tokens
}

// wantSessions checks which tokens still open a session.
func wantSessions(t *testing.T, store *directory.Store, when string, live, ended []string) {
	t.Helper()
	for i, token := range live {
		if _, err := (directory.SignIn{Store: store}).Session(ctx, token, ""); err != nil {
			t.Errorf("%s: session %d: %v, want it open", when, i, err)
		}
	}
	for i, token := range ended {
		if _, err := (directory.SignIn{Store: store}).Session(ctx, token, ""); !errors.Is(err, directory.ErrSessionExpired) {
			t.Errorf("%s: session %d: %v, want ErrSessionExpired", when, i, err)
		}
	}
}

// A password change ends every other session of the account, the one it
// was made from stays; a renewal, or a password set by anyone else, ends
// them all.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	self := directory.SelfService{Store: a, Notifier: &selfServiceNotifier{}}
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Sabine", LastName: "Sessions", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121212"})

	tokens := mustSessions(t, a, p.Identifier, 3)
	me, err := directory.SignIn{Store: b}.Session(ctx, tokens[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if err := self.ChangePassword(ctx, me, "Pas-Le-Bon-99!", "Nouveau-Secret-77!"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("a wrong current password: %v", err)
	}
	wantSessions(t, b, "after a wrong current password", tokens, nil)
	if err := self.ChangePassword(ctx, me, goodPassword, "Nouveau-Secret-77!"); err != nil {
		t.Fatal(err)
	}
	wantSessions(t, b, "after a password change", tokens[:1], tokens[1:])
	if _, err := a.Authenticate(ctx, p.Identifier, "Nouveau-Secret-77!"); err != nil {
		t.Errorf("the new password: %v", err)
	}

	more := mustSessions(t, b, p.Identifier, 1)
	start, err := a.StartReset(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	token, err := b.VerifyResetCode(ctx, start.Reset, start.Code)
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Reset(ctx, token, "Renouvele-Secret-88!"); err != nil {
		t.Fatal(err)
	}
	wantSessions(t, a, "after a renewal", nil, []string{tokens[0], more[0]})

	more = mustSessions(t, b, p.Identifier, 2)
	if err := a.SetPassword(ctx, p.Identifier, "Encore-Autre-99!!"); err != nil {
		t.Fatal(err)
	}
	wantSessions(t, b, "after a password set by the store", nil, more)
}

// Disabling an account ends its sessions and its pending renewal at once,
// without waiting for them to be used: enabling it again brings none back.
func TestDisableEndsSessions(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	acc := directory.Accounts{Store: store, Notifier: &recordingNotifier{}}
	admin := mustPerson(t, store, directory.NewPerson{FirstName: "Adele", LastName: "Desactive", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	p := mustPerson(t, store, directory.NewPerson{FirstName: "Denis", LastName: "Desactive", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil", Mobile: "0612121212"})
	tokens := mustSessions(t, store, p.Identifier, 2)
	wantSessions(t, store, "before", tokens, nil)
	start, err := store.StartReset(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SetEnabled(ctx, admin, p.Identifier, false); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SetEnabled(ctx, admin, p.Identifier, true); err != nil {
		t.Fatal(err)
	}
	wantSessions(t, store, "disabled then enabled again", nil, tokens)
	if _, err := store.VerifyResetCode(ctx, start.Reset, start.Code); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("a renewal started before the account was disabled: %v, want ErrInvalidCode", err)
	}
	wantSessions(t, store, "a session opened after", mustSessions(t, store, p.Identifier, 1), nil)
}
