package directory_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

func TestResetBySMSCode(t *testing.T) {
	t.Parallel()
	a, b, clock := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Sacha", LastName: "Sms", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121212"})
	start, err := a.StartReset(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if start.Channel != directory.ResetBySMS || len(start.Code) != 6 || start.Token != "" || start.Person == nil {
		t.Fatalf("start = %+v", start)
	}
	wrong := testkit.WrongCode(start.Code)
	if _, err := b.VerifyResetCode(ctx, start.Reset, wrong); !errors.Is(err, directory.ErrInvalidCode) {
		t.Fatalf("wrong code: %v", err)
	}
	token, err := b.VerifyResetCode(ctx, start.Reset, start.Code)
	if err != nil {
		t.Fatalf("right code on the other instance: %v", err)
	}
	if _, err := a.VerifyResetCode(ctx, start.Reset, start.Code); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("the code used twice: %v", err)
	}
	// Lock the account, then renew: the lockout ends.
	for range 10 {
		a.Authenticate(ctx, p.Identifier, "Wrong-Password-42!")
	}
	if _, err := a.Authenticate(ctx, p.Identifier, goodPassword); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("not locked: %v", err)
	}
	if _, err := a.ResetPassword(ctx, token, goodPassword); !errors.Is(err, directory.ErrPasswordInHistory) {
		t.Errorf("the current password again: %v, want ErrPasswordInHistory", err)
	}
	if _, err := a.ResetPassword(ctx, token, "faible"); !errors.Is(err, directory.ErrPasswordPolicy) {
		t.Errorf("a weak password: %v", err)
	}
	if _, err := a.ResetPassword(ctx, token, "Nouveau-Secret-77!"); err != nil {
		t.Fatalf("reset (the token survives failed tries): %v", err)
	}
	if _, err := a.Authenticate(ctx, p.Identifier, "Nouveau-Secret-77!"); err != nil {
		t.Errorf("sign in after the reset (unlocked): %v", err)
	}
	if _, err := a.ResetPassword(ctx, token, "Encore-Autre-88!"); !errors.Is(err, directory.ErrInvalidToken) {
		t.Errorf("the token used twice: %v", err)
	}
	// Expiry and tries.
	start, _ = a.StartReset(ctx, p.Identifier)
	clock.Add(11 * time.Minute)
	// Too old or out of tries answers like a wrong code: an unknown
	// identifier's reset, with nothing to expire, must look the same.
	if _, err := a.VerifyResetCode(ctx, start.Reset, start.Code); !errors.Is(err, directory.ErrInvalidCode) || errors.Is(err, directory.ErrCodeExpired) {
		t.Errorf("after 10 minutes: %v", err)
	}
	start, _ = a.StartReset(ctx, p.Identifier)
	wrong = testkit.WrongCode(start.Code)
	for i := 1; i <= 5; i++ {
		if _, err := a.VerifyResetCode(ctx, start.Reset, wrong); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := a.VerifyResetCode(ctx, start.Reset, start.Code); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("right code after 5 wrong: %v, want it refused", err)
	}
}

func TestResetByMailLink(t *testing.T) {
	t.Parallel()
	a, _, clock := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Lina", LastName: "Lien", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	start, err := a.StartReset(ctx, strings.ToUpper(p.Identifier))
	if err != nil || start.Channel != directory.ResetByMail || start.Token == "" || start.Code != "" {
		t.Fatalf("start = %+v, %v", start, err)
	}
	// The link, opened by a mail scanner, changes nothing.
	for range 3 {
		if _, err := a.CheckResetToken(ctx, start.Token); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	if _, err := a.VerifyResetCode(ctx, start.Reset, "123456"); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("a code for a mail renewal: %v", err)
	}
	clock.Add(61 * time.Minute)
	if _, err := a.ResetPassword(ctx, start.Token, "Nouveau-Secret-77!"); !errors.Is(err, directory.ErrTokenExpired) {
		t.Errorf("after an hour: %v", err)
	}
}

// One token used by two instances at once sets one password: the token is
// spent by the same modify that sets it.
func TestResetTokenRaceSetsOnePassword(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Rita", LastName: "Course", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	start, err := a.StartReset(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	passwords := []string{"Premier-Secret-11!", "Second-Secret-22!", "Troisieme-Sec-33!", "Quatrieme-Sec-44!"}
	errs := make([]error, len(passwords))
	var wg sync.WaitGroup
	for i, pw := range passwords {
		store := a
		if i%2 == 1 {
			store = b
		}
		wg.Go(func() { _, errs[i] = store.ResetPassword(ctx, start.Token, pw) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("two resets succeeded with one token: %q and %q", passwords[winner], passwords[i])
		case err == nil:
			winner = i
		case !errors.Is(err, directory.ErrInvalidToken):
			t.Errorf("reset %d: %v, want ErrInvalidToken", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no reset succeeded: %v", errs)
	}
	if _, err := a.Authenticate(ctx, p.Identifier, passwords[winner]); err != nil {
		t.Errorf("the winner's password: %v", err)
	}
}

// An unknown identifier gets an answer of the same shape, and nothing is stored or sent.
func TestResetOfUnknownIdentifierLooksTheSame(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	for _, id := range []string{"nobody.here-px", "*)(uid=*", ""} {
		start, err := store.StartReset(ctx, id)
		if err != nil || start.Channel != "" || start.Person != nil || !strings.Contains(start.Reset, "-px.") || len(start.Reset) < 50 {
			t.Errorf("StartReset(%q) = %+v, %v", id, start, err)
		}
		if _, err := store.VerifyResetCode(ctx, start.Reset, "123456"); !errors.Is(err, directory.ErrInvalidCode) {
			t.Errorf("verify for %q: %v", id, err)
		}
	}
}
