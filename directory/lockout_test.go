package directory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// answer names what a sign-in attempt was told, as a client sees it.
func answer(err error) string {
	var le *directory.LimitError
	switch {
	case err == nil:
		return "challenge"
	case errors.As(err, &le) && errors.Is(err, directory.ErrAccountLocked):
		return fmt.Sprintf("locked, retry in %s", le.RetryAfter)
	case errors.As(err, &le):
		return fmt.Sprintf("too many (%s), retry in %s", le.Limit, le.RetryAfter)
	case errors.Is(err, directory.ErrAccountLocked):
		return "locked by ppolicy"
	case errors.Is(err, directory.ErrInvalidCredentials):
		return "invalid credentials"
	}
	return err.Error()
}

// bindDirectly binds to slapd as a DGFiP application would, on behalf of
// the person: no apexd, no limit but ppolicy's.
func bindDirectly(t *testing.T, srv *slapd.Server, dn, password string) error {
	t.Helper()
	conn, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.Bind(dn, password)
}

// mustLockedByPolicy creates an active account and makes ppolicy lock it,
// by failed binds made to slapd directly, as a DGFiP application's would
// be. It returns the account and its DN.
func mustLockedByPolicy(t *testing.T, store *directory.Store, srv *slapd.Server, n directory.NewPerson) (*directory.Person, string) {
	t.Helper()
	p := mustPerson(t, store, n)
	dn := findDN(t, store, srv, eqFilter("uid", p.Identifier))
	// pwdMaxFailure is 10; once, in a full run, ten failed binds left the
	// account unlocked (slapd recorded fewer failures): bind until ppolicy
	// has locked it, and say when it took more.
	binds := 0
	for len(entryValues(t, srv, dn, "pwdAccountLockedTime")) == 0 {
		if binds == 20 {
			t.Fatalf("ppolicy did not lock the account after %d failed binds (failures recorded: %d)", binds, len(entryValues(t, srv, dn, "pwdFailureTime")))
		}
		bindDirectly(t, srv, dn, "Wrong-Password-42!")
		binds++
	}
	if binds != 10 {
		t.Logf("ppolicy locked the account after %d failed binds, not 10", binds)
	}
	return p, dn
}

// Finding 5 of issue 11: from the 6th wrong password a real account
// answered 423 and an unknown identifier kept answering 401, which told
// who has an account. Now an account, an unknown identifier, a disabled
// account and an account that ppolicy locked (after binds to slapd made
// directly) get the same answers, attempt after attempt.
func TestSignInAnswersTheSameForAnyIdentifier(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, b, clock := limitedInstances(t, srv, directory.LimitPolicy{})
	mustStructure(t, a, testSIRET)
	active := mustPerson(t, a, directory.NewPerson{FirstName: "Réelle", LastName: "Personne", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	disabled := mustDisabled(t, a, directory.NewPerson{FirstName: "Désactivée", LastName: "Personne", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	locked, lockedDN := mustLockedByPolicy(t, a, srv, directory.NewPerson{FirstName: "Bloquée", LastName: "Personne", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if err := bindDirectly(t, srv, lockedDN, goodPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("ppolicy did not lock the account: %v", err)
	}

	sequence := func(id string) []string {
		from := directory.WithClientAddress(ctx, "203.0.113."+fmt.Sprint(len(id))) // an address none of them signed in from
		var got []string
		for i := range 7 {
			in := directory.SignIn{Store: []*directory.Store{a, b}[i%2], Notifier: &codeSink{}}
			password := "Wrong-Password-42!"
			if i >= 5 {
				password = goodPassword // the right one, once locked
			}
			_, err := in.Login(from, id, password)
			got = append(got, answer(err))
			clock.Add(time.Second)
		}
		return got
	}
	want := sequence("nobody.here-px")
	if strings.Join(want, "|") != strings.Repeat("invalid credentials|", 4)+"locked, retry in 14m56s|locked, retry in 14m55s|locked, retry in 14m54s" {
		t.Errorf("an unknown identifier was told %q", want)
	}
	for _, id := range []string{active.Identifier, disabled.Identifier, locked.Identifier} {
		clock.Add(-7 * time.Second) // the same moments, for the same Retry-After
		if got := sequence(id); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s was told %q, an unknown identifier %q", id, got, want)
		}
	}
	// In the next window, the right password of the account ppolicy locked
	// is answered as a wrong one, as is any password of an unknown identifier.
	clock.Add(15 * time.Minute)
	for _, id := range []string{locked.Identifier, "nobody.here-px"} {
		_, err := directory.SignIn{Store: a, Notifier: &codeSink{}}.Login(ctx, id, goodPassword)
		if got := answer(err); got != "invalid credentials" {
			t.Errorf("%s, right password: %s", id, got)
		}
	}
}

// signedInFrom has p sign in through both steps from addr, which becomes
// an address p signed in from.
func signedInFrom(t *testing.T, store *directory.Store, p *directory.Person, addr string) {
	t.Helper()
	from := directory.WithClientAddress(ctx, addr)
	lc, err := store.LoginWithCode(from, p.Identifier, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := (directory.SignIn{Store: store, Notifier: &codeSink{}}).Verify(from, lc.Challenge, lc.Code); err != nil {
		t.Fatalf("sign-in from %s: %v", addr, err)
	}
}

// Finding 5 of issue 11: anyone could lock anyone out of the espace and of
// every DGFiP application, by 5 wrong passwords. Now failures from the
// addresses the person signed in from count apart: strangers, from as many
// addresses as they like and over two windows, neither keep the person out
// of the espace from home nor make ppolicy lock the account for the DGFiP
// applications (8 failed binds at most, under ppolicy's 10). A new address
// of the person's is locked out with the strangers, until the window ends.
func TestStrangersCannotLockThePersonOut(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, b, clock := limitedInstances(t, srv, directory.LimitPolicy{SignInAddress: directory.Limit{Max: -1}})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Victime", LastName: "Designee", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	dn := findDN(t, a, srv, eqFilter("uid", p.Identifier))
	const home = "198.51.100.7"
	signedInFrom(t, a, p, home)

	for window := range 2 {
		for i := range 12 {
			from := directory.WithClientAddress(ctx, fmt.Sprintf("203.0.113.%d", i))
			_, err := directory.SignIn{Store: []*directory.Store{a, b}[i%2], Notifier: &codeSink{}}.Login(from, p.Identifier, "Wrong-Password-42!")
			want := "invalid credentials"
			if i >= 4 {
				want = "locked"
			}
			if got := answer(err); !strings.HasPrefix(got, want) {
				t.Fatalf("window %d, stranger %d: %s, want %s", window, i, got, want)
			}
		}
		_, err := directory.SignIn{Store: a, Notifier: &codeSink{}}.Login(directory.WithClientAddress(ctx, "192.0.2.99"), p.Identifier, goodPassword)
		if got := answer(err); !strings.HasPrefix(got, "locked") {
			t.Errorf("window %d: the person from a new address: %s, want locked until the window ends", window, got)
		}
		if window == 0 {
			clock.Add(15 * time.Minute)
		}
	}
	// (A successful bind clears ppolicy's failures: nobody succeeds until here.)
	if got := len(entryValues(t, srv, dn, "pwdFailureTime")); got != 8 {
		t.Errorf("%d failed binds reached slapd, want 8", got)
	}
	if got := entryValues(t, srv, dn, "pwdAccountLockedTime"); len(got) != 0 {
		t.Errorf("ppolicy locked the account: %q", got)
	}
	if _, err := (directory.SignIn{Store: b, Notifier: &codeSink{}}).Login(directory.WithClientAddress(ctx, home), p.Identifier, goodPassword); err != nil {
		t.Errorf("the person at home, during the attack: %v", err)
	}
	if err := bindDirectly(t, srv, dn, goodPassword); err != nil {
		t.Errorf("a DGFiP application's bind as the person: %v", err)
	}
}

// The addresses a person signed in from are kept hashed under the
// directory's key, the 10 most recently used, by the modify that opens the
// session; failures from them count in signin_identifier_known, from any
// other in signin_identifier.
func TestKnownAddressesAreTheTenMostRecent(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Shared(t)
	a, _, clock := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier:      directory.Limit{Max: 1, Window: time.Hour},
		SignInIdentifierKnown: directory.Limit{Max: 1, Window: time.Hour},
		SignInAddress:         directory.Limit{Max: -1},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Nomade", LastName: "Adresses", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	address := func(i int) string { return fmt.Sprintf("2001:db8:%x::/64", i) }
	session := func(i int) {
		if _, err := a.CreateSession(directory.WithClientAddress(ctx, address(i)), p.Identifier); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Second)
	}
	for i := 1; i <= 12; i++ {
		session(i)
		if i == 3 {
			session(1) // used again: it stays
		}
	}
	values := entryValues(t, srv, findDN(t, a, srv, eqFilter("uid", p.Identifier)), "apexKnownAddress")
	if len(values) != 10 {
		t.Fatalf("%d known addresses kept, want 10: %q", len(values), values)
	}
	for _, v := range values {
		if strings.Contains(v, "2001:db8") {
			t.Errorf("an address in clear: %q", v)
		}
	}
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	for _, tc := range []struct {
		addr int
		want string
	}{
		{2, "invalid credentials"}, // gone: counted with strangers
		{4, "invalid credentials"}, // known
		{3, "locked"},              // gone (2 and 3 were the oldest): the strangers' count is spent
		{1, "locked"},              // known, used again: the known count is spent
	} {
		_, err := in.Login(directory.WithClientAddress(ctx, address(tc.addr)), p.Identifier, "Wrong-Password-42!")
		if got := answer(err); !strings.HasPrefix(got, tc.want) {
			t.Errorf("from address %d: %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// A renewal of the password ends the sign-in's lockout, as its message
// says (« … ou renouvelez votre mot de passe »): the counters per
// identifier are forgotten.
func TestRenewalEndsTheSignInLockout(t *testing.T) {
	t.Parallel()
	a, _, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Renouvelle", LastName: "Deblocage", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	from := directory.WithClientAddress(ctx, "192.0.2.44")
	for range 4 {
		in.Login(from, p.Identifier, "Wrong-Password-42!")
	}
	if _, err := in.Login(from, p.Identifier, goodPassword); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("after 4 failures: %v, want locked", err)
	}
	start, err := a.StartReset(ctx, p.Identifier)
	if err != nil || start.Token == "" {
		t.Fatalf("start reset: %+v, %v", start, err)
	}
	if err := (directory.SelfService{Store: a, Notifier: &selfServiceNotifier{}}).Reset(from, start.Token, "Nouveau-Secret-77!"); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Login(from, p.Identifier, "Nouveau-Secret-77!"); err != nil {
		t.Errorf("after the renewal: %v", err)
	}
}

// A stolen session cannot guess the person's password through the checks
// of the current password (a new mail or mobile, a new password) any more
// than a stranger at the sign-in: those tries are counted in the same
// limits, and past them nothing reaches slapd, so ppolicy never locks the
// person out of the DGFiP applications.
func TestStolenSessionGuessesNoMoreThanAStranger(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, _, _ := limitedInstances(t, srv, directory.LimitPolicy{SignInAddress: directory.Limit{Max: -1}})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Session", LastName: "Volée", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	dn := findDN(t, a, srv, eqFilter("uid", p.Identifier))
	self := directory.SelfService{Store: a, Notifier: &selfServiceNotifier{}}
	thief := directory.WithClientAddress(ctx, "203.0.113.66")
	for i := range 8 {
		var err error
		if i%2 == 0 {
			_, err = self.UpdateMe(thief, p, directory.PersonUpdate{Mobile: new("0781234567")}, "Wrong-Password-42!")
		} else {
			err = self.ChangePassword(thief, p, "Wrong-Password-42!", "Nouveau-Secret-77!")
		}
		want := "invalid credentials"
		if i >= 4 {
			want = "locked"
		}
		if got := answer(err); !strings.HasPrefix(got, want) {
			t.Fatalf("guess %d: %s, want %s", i, got, want)
		}
	}
	if got := len(entryValues(t, srv, dn, "pwdFailureTime")); got != 4 {
		t.Errorf("%d failed binds reached slapd, want 4", got)
	}
	// The person, at the sign-in from that address, is locked as well:
	// the guesses counted where a stranger's would.
	if _, err := (directory.SignIn{Store: a, Notifier: &codeSink{}}).Login(thief, p.Identifier, goodPassword); !strings.HasPrefix(answer(err), "locked") {
		t.Errorf("the sign-in after the guesses: %s, want locked", answer(err))
	}
}
