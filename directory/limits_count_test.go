package directory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// Finding 12 of issue 11: removing the counting of some kinds of event
// left every test green. For each limit, each kind of event it counts is
// spent here, with maxima that leave no other explanation (above ppolicy's
// lockout of 10 where it matters), so that the test fails when any one of
// them stops counting, or when something that must not count does.

// wantAnswers logs in with each attempt and compares what it was told.
func wantAnswers(t *testing.T, in directory.SignIn, attempts []struct{ from, id, password, want string }) {
	t.Helper()
	for i, at := range attempts {
		_, err := in.Login(directory.WithClientAddress(ctx, at.from), at.id, at.password)
		if got := answer(err); !strings.HasPrefix(got, at.want) {
			t.Errorf("attempt %d (%s from %s): %s, want %s", i+1, at.id, at.from, got, at.want)
		}
	}
}

// signin_identifier counts, from addresses the account never signed in
// from: wrong passwords (on either instance), binds ppolicy refuses as
// locked, an account that is not active, an unknown identifier; not a
// success, nor an address the account signed in from.
func TestSignInIdentifierCountsEveryFailure(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, _, _ := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 12, Window: 15 * time.Minute}, // above ppolicy's 10
		SignInAddress:    directory.Limit{Max: -1},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Compte", LastName: "Echecs", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	d := mustDisabled(t, a, directory.NewPerson{FirstName: "Inactif", LastName: "Echecs", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	signedInFrom(t, a, p, "198.51.100.1")
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	type attempt = struct{ from, id, password, want string }
	// Neither a success nor a failure from home counts here (the success
	// first: a successful bind clears ppolicy's failures).
	attempts := []attempt{
		{"203.0.113.99", p.Identifier, goodPassword, "challenge"},
		{"198.51.100.1", p.Identifier, "Wrong-Password-42!", "invalid credentials"},
	}
	for i := range 9 { // with the one from home, ppolicy locks the account at the 9th
		attempts = append(attempts, attempt{fmt.Sprintf("203.0.113.%d", i), p.Identifier, "Wrong-Password-42!", "invalid credentials"})
	}
	for i := 9; i < 12; i++ { // then slapd refuses even the right password: failures all the same
		attempts = append(attempts, attempt{fmt.Sprintf("203.0.113.%d", i), p.Identifier, goodPassword, "invalid credentials"})
	}
	wantAnswers(t, in, append(attempts, attempt{"203.0.113.12", p.Identifier, goodPassword, "locked"}))
	if got := entryValues(t, srv, findDN(t, a, srv, eqFilter("uid", p.Identifier)), "pwdAccountLockedTime"); len(got) != 1 {
		t.Errorf("ppolicy did not lock the account: the test proves less than it says")
	}

	// An account that is not active, and an unknown identifier, count the same.
	for _, id := range []string{d.Identifier, "inconnu.echecs-px"} {
		var attempts []attempt
		for i := range 12 {
			attempts = append(attempts, attempt{fmt.Sprintf("192.0.2.%d", i), id, goodPassword, "invalid credentials"})
		}
		wantAnswers(t, in, append(attempts, attempt{"192.0.2.200", id, goodPassword, "locked"}))
	}
}

// signin_identifier_known counts the failures from addresses the account
// signed in from, any of them, and nothing from elsewhere.
func TestSignInIdentifierKnownCountsFailuresFromHome(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Shared(t)
	a, b, _ := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier:      directory.Limit{Max: 1, Window: 15 * time.Minute},
		SignInIdentifierKnown: directory.Limit{Max: 3, Window: 15 * time.Minute},
		SignInAddress:         directory.Limit{Max: -1},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Maison", LastName: "Connue", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	signedInFrom(t, a, p, "198.51.100.1")
	signedInFrom(t, b, p, "2001:db8:1::/64")
	type attempt = struct{ from, id, password, want string }
	wantAnswers(t, directory.SignIn{Store: b, Notifier: &codeSink{}}, []attempt{
		{"203.0.113.1", p.Identifier, "Wrong-Password-42!", "invalid credentials"}, // elsewhere: its own count
		{"198.51.100.1", p.Identifier, "Wrong-Password-42!", "invalid credentials"},
		{"2001:db8:1::/64", p.Identifier, goodPassword, "challenge"},
		{"2001:db8:1::/64", p.Identifier, "Wrong-Password-42!", "invalid credentials"},
		{"198.51.100.1", p.Identifier, "Wrong-Password-42!", "invalid credentials"},
		{"2001:db8:1::/64", p.Identifier, goodPassword, "locked"},
		{"203.0.113.2", p.Identifier, goodPassword, "locked"},
	})
}

// signin_address counts every failed password step from the address:
// wrong passwords, unknown identifiers, accounts not active, binds ppolicy
// refuses, and attempts refused because the identifier is locked; not
// successes, nor identifiers of another form (refused before any limit).
func TestSignInAddressCountsEveryFailure(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, b, _ := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 3, Window: 15 * time.Minute},
		SignInAddress:    directory.Limit{Max: 14, Window: 15 * time.Minute},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Adresse", LastName: "Comptee", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	d := mustDisabled(t, a, directory.NewPerson{FirstName: "Adresse", LastName: "Inactive", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	locked, _ := mustLockedByPolicy(t, a, srv, directory.NewPerson{FirstName: "Adresse", LastName: "Bloquee", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	const from = "192.0.2.14"
	type attempt = struct{ from, id, password, want string }
	attempts := []attempt{
		{from, p.Identifier, goodPassword, "challenge"},
		{from, "ａdresse.comptee-px", goodPassword, "invalid credentials"}, // not of the form: counted nowhere
	}
	for range 3 {
		attempts = append(attempts, attempt{from, p.Identifier, "Wrong-Password-42!", "invalid credentials"}) // 3
	}
	for range 3 {
		attempts = append(attempts, attempt{from, p.Identifier, goodPassword, "locked"}) // 6
	}
	for range 3 {
		attempts = append(attempts, attempt{from, locked.Identifier, goodPassword, "invalid credentials"}) // 9
	}
	for range 3 {
		attempts = append(attempts, attempt{from, "inconnu.adresse-px", goodPassword, "invalid credentials"}) // 12
	}
	for range 2 {
		attempts = append(attempts, attempt{from, d.Identifier, goodPassword, "invalid credentials"}) // 14
	}
	attempts = append(attempts,
		attempt{from, "encore.un-px", goodPassword, "too many (signin_address)"},
		attempt{"192.0.2.15", "encore.un-px", goodPassword, "invalid credentials"},
	)
	wantAnswers(t, directory.SignIn{Store: b, Notifier: &codeSink{}}, attempts)
}

// code_address counts every code tried from the address, and every code
// sent again: a wrong sign-in code, the one that spends the challenge's
// tries, a try on a spent challenge, a forged challenge, a resend, a wrong
// renewal code; not a right code.
func TestCodeAddressCountsEveryTry(t *testing.T) {
	t.Parallel()
	a, b, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		CodeAddress: directory.Limit{Max: 10, Window: 15 * time.Minute},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Codes", LastName: "Comptes", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "+33611111111"})
	from := directory.WithClientAddress(ctx, "198.51.100.10")
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	wrongFor := testkit.WrongCode
	try := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) || errors.Is(err, directory.ErrRateLimited) && want != directory.ErrRateLimited {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
	right, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = in.Verify(from, right.Challenge, right.Code)
	try("a right code", err, nil)
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	try("a resend", directory.SignIn{Store: b, Notifier: &codeSink{}}.Resend(from, lc.Challenge), nil) // 1
	for i := range 4 {
		_, _, err := in.Verify(from, lc.Challenge, "999999x")
		try(fmt.Sprintf("wrong code %d", i+1), err, directory.ErrInvalidCode) // 5
	}
	_, _, err = in.Verify(from, lc.Challenge, "999999x")
	try("the wrong code that spends the tries", err, directory.ErrTooManyAttempts) // 6
	_, _, err = in.Verify(from, lc.Challenge, "999999x")
	try("a try on a spent challenge", err, directory.ErrTooManyAttempts) // 7
	_, _, err = in.Verify(from, p.Identifier+"."+strings.Repeat("A", 54), "123456")
	try("a forged challenge", err, directory.ErrInvalidCode) // 8
	start, err := a.StartReset(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	selfService := directory.SelfService{Store: b}
	_, err = selfService.VerifyCode(from, start.Reset, wrongFor(start.Code))
	try("a wrong renewal code", err, directory.ErrInvalidCode) // 9
	_, err = selfService.VerifyCode(from, "ghost.person-px."+strings.Repeat("A", 43), "123456")
	try("a renewal code of an unknown identifier", err, directory.ErrInvalidCode) // 10
	_, err = selfService.VerifyCode(from, start.Reset, start.Code)
	try("the right renewal code, over the limit", err, directory.ErrRateLimited)
	if _, err := selfService.VerifyCode(ctx, start.Reset, start.Code); err != nil {
		t.Errorf("the right renewal code from elsewhere: %v", err)
	}
}

// reset_address counts the renewal requests from the address whose
// captcha was solved, for any identifier, known or not; reset_identifier
// those for the identifier from any address. A wrong captcha counts in
// neither, nor an identifier of another form.
func TestResetLimitsCountSolvedRequests(t *testing.T) {
	t.Parallel()
	a, b, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		ResetIdentifier: directory.Limit{Max: 2, Window: time.Hour},
		ResetAddress:    directory.Limit{Max: 3, Window: time.Hour},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Renouveau", LastName: "Compte", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "+33622222222"})
	forgot := func(store *directory.Store, addr, id, answer string) error {
		captcha, err := store.CreateCaptcha(ctx, "424242", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		_, err = directory.SelfService{Store: store, ForgotDuration: time.Millisecond, Notifier: &selfServiceNotifier{}}.
			Forgot(directory.WithClientAddress(ctx, addr), id, captcha, answer)
		return err
	}
	for i, tc := range []struct {
		store     *directory.Store
		addr, id  string
		answer    string
		want      error
		wantLimit string
	}{
		{a, "192.0.2.1", p.Identifier, "000000", directory.ErrInvalidCaptcha, ""}, // counts nowhere
		{a, "192.0.2.1", "ｒenouveau.compte-px", "424242", nil, ""},                // nor this
		{a, "192.0.2.1", p.Identifier, "424242", nil, ""},                         // address 1, identifier 1
		{b, "192.0.2.1", "fantome.inconnu-px", "424242", nil, ""},                 // address 2
		{b, "192.0.2.2", p.Identifier, "424242", nil, ""},                         // identifier 2
		{a, "192.0.2.2", p.Identifier, "424242", directory.ErrRateLimited, directory.LimitResetIdentifier},
		{a, "192.0.2.1", "autre.inconnu-px", "424242", nil, ""}, // address 3
		{b, "192.0.2.1", "dernier.inconnu-px", "424242", directory.ErrRateLimited, directory.LimitResetAddress},
	} {
		err := forgot(tc.store, tc.addr, tc.id, tc.answer)
		var le *directory.LimitError
		if !errors.Is(err, tc.want) || tc.wantLimit != "" && (!errors.As(err, &le) || le.Limit != tc.wantLimit) {
			t.Errorf("request %d (%s from %s): %v, want %v %s", i+1, tc.id, tc.addr, err, tc.want, tc.wantLimit)
		}
	}
}
