package directory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// codeSink takes the sign-in codes instead of mailing them.
type codeSink struct{ sent atomic.Int64 }

func (n *codeSink) LoginCode(context.Context, *directory.Person, string, time.Duration) error {
	n.sent.Add(1)
	return nil
}

// limitedInstances opens two stores on one new subtree with the given
// limits and a shared clock, as two apexd behind a load balancer.
func limitedInstances(t *testing.T, srv *slapd.Server, limits directory.LimitPolicy) (*directory.Store, *directory.Store, *testkit.Clock) {
	t.Helper()
	cfg, clock := clockedConfig(t, srv)
	cfg.Limits = limits
	return slapdtest.OpenStore(t, cfg), slapdtest.OpenStore(t, cfg), clock
}

func asLimit(t *testing.T, err error, name string) *directory.LimitError {
	t.Helper()
	var le *directory.LimitError
	if !errors.As(err, &le) || !errors.Is(err, directory.ErrRateLimited) || le.Limit != name {
		t.Fatalf("got %v, want the %s limit", err, name)
	}
	return le
}

func TestSignInLimitPerIdentifierAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b, clock := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 3, Window: 15 * time.Minute},
		SignInAddress:    directory.Limit{Max: -1},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Lina", LastName: "Limite", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	sink := &codeSink{}
	ia, ib := directory.SignIn{Store: a, Notifier: sink}, directory.SignIn{Store: b, Notifier: sink}

	// A success counts nothing.
	if _, err := ia.Login(ctx, p.Identifier, goodPassword); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // failures count on either instance, the identifier as typed in any case
		in := []directory.SignIn{ia, ib}[i%2]
		if _, err := in.Login(ctx, strings.ToUpper(p.Identifier), "Wrong-Password-42!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// Over the limit, even the right password is not tried.
	clock.Add(5 * time.Minute)
	_, err := ib.Login(ctx, p.Identifier, goodPassword)
	le := asLimit(t, err, directory.LimitSignInIdentifier)
	if le.RetryAfter != 10*time.Minute {
		t.Errorf("RetryAfter = %s, want the 10 minutes left of the window", le.RetryAfter)
	}
	if got := sink.sent.Load(); got != 1 {
		t.Errorf("%d codes sent, want the one of the success", got)
	}
	// Unknown identifiers count the same way.
	for range 3 {
		if _, err := ia.Login(ctx, "nobody.here-px", goodPassword); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	_, err = ia.Login(ctx, "nobody.here-px", goodPassword)
	asLimit(t, err, directory.LimitSignInIdentifier)

	// The window ends: the right password works again.
	clock.Add(10 * time.Minute)
	if _, err := ia.Login(ctx, p.Identifier, goodPassword); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestSignInLimitPerAddress(t *testing.T) {
	t.Parallel()
	a, b, clock := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		SignInAddress: directory.Limit{Max: 2, Window: time.Minute},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Adèle", LastName: "Adresse", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	sink := &codeSink{}
	from := directory.WithClientAddress(ctx, "192.0.2.7")
	elsewhere := directory.WithClientAddress(ctx, "192.0.2.8")
	for _, id := range []string{"first.guess-px", "second.guess-px"} {
		if _, err := (directory.SignIn{Store: a, Notifier: sink}).Login(from, id, "Wrong-Password-42!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	_, err := directory.SignIn{Store: b, Notifier: sink}.Login(from, p.Identifier, goodPassword)
	if le := asLimit(t, err, directory.LimitSignInAddress); le.RetryAfter != time.Minute {
		t.Errorf("RetryAfter = %s, want 1m", le.RetryAfter)
	}
	if _, err := (directory.SignIn{Store: b, Notifier: sink}).Login(elsewhere, p.Identifier, goodPassword); err != nil {
		t.Errorf("another address: %v", err)
	}
	clock.Add(time.Minute)
	if _, err := (directory.SignIn{Store: a, Notifier: sink}).Login(from, p.Identifier, goodPassword); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// Limits that count every request are exact under concurrency: of 12
// captchas asked at once on two instances with a limit of 5, 5 are drawn.
func TestTakenLimitIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	a, b, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		CaptchaAddress: directory.Limit{Max: 5, Window: time.Hour},
	})
	from := directory.WithClientAddress(ctx, "2001:db8::/64")
	var wg sync.WaitGroup
	var drawn, limited atomic.Int64
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := directory.SelfService{Store: []*directory.Store{a, b}[i%2]}.NewCaptcha(from, "123456", time.Minute)
			switch {
			case err == nil:
				drawn.Add(1)
			case errors.Is(err, directory.ErrRateLimited):
				limited.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if drawn.Load() != 5 || limited.Load() != 7 {
		t.Errorf("%d drawn, %d limited; want 5 and 7", drawn.Load(), limited.Load())
	}
}

func TestResetLimitCountsSolvedRequestsPerIdentifier(t *testing.T) {
	t.Parallel()
	a, b, clock := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		ResetIdentifier: directory.Limit{Max: 2, Window: time.Hour},
	})
	forgot := func(store *directory.Store, answer string) error {
		id, err := store.CreateCaptcha(ctx, "424242", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		_, err = directory.SelfService{Store: store, ForgotDuration: time.Millisecond}.Forgot(ctx, "ghost.person-px", id, answer)
		return err
	}
	// A wrong captcha counts nothing: nobody uses up someone's requests without solving captchas.
	for range 3 {
		if err := forgot(a, "000000"); !errors.Is(err, directory.ErrInvalidCaptcha) {
			t.Fatal(err)
		}
	}
	for _, s := range []*directory.Store{a, b} {
		if err := forgot(s, "424242"); err != nil {
			t.Fatalf("a solved request under the limit: %v", err)
		}
	}
	asLimit(t, forgot(b, "424242"), directory.LimitResetIdentifier)
	clock.Add(time.Hour)
	if err := forgot(a, "424242"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestCodeLimitCountsWrongCodes(t *testing.T) {
	t.Parallel()
	a, b, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		CodeAddress: directory.Limit{Max: 3, Window: time.Hour},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Coline", LastName: "Code", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	from := directory.WithClientAddress(ctx, "198.51.100.1")
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	wrong := testkit.WrongCode(lc.Code)
	// Two wrong codes on the sign-in, one on an unknown renewal: three.
	for range 2 {
		if _, _, err := in.Verify(from, lc.Challenge, wrong); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	if _, err := (directory.SelfService{Store: b}).VerifyCode(from, "no-such-reset", "123456"); !errors.Is(err, directory.ErrInvalidCode) {
		t.Fatal(err)
	}
	// Over the limit the right code is not even checked, and stays usable.
	_, _, err = in.Verify(from, lc.Challenge, lc.Code)
	asLimit(t, err, directory.LimitCodeAddress)
	err = directory.SignIn{Store: b, Notifier: &codeSink{}}.Resend(from, lc.Challenge)
	asLimit(t, err, directory.LimitCodeAddress)
	if _, _, err := in.Verify(ctx, lc.Challenge, lc.Code); err != nil {
		t.Errorf("the right code from elsewhere: %v", err)
	}
}

func TestInvitationLimitPerAccount(t *testing.T) {
	t.Parallel()
	a, b, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		InvitationAccount: directory.Limit{Max: 2, Window: time.Hour},
	})
	mustStructure(t, a, testSIRET, "Paie")
	admin := mustPerson(t, a, directory.NewPerson{FirstName: "Irène", LastName: "Invite", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	notifier := &recordingNotifier{}
	invite := func(s *directory.Store, n int) error {
		_, err := directory.Accounts{Store: s, Notifier: notifier}.Invite(ctx, admin, directory.NewInvitation{
			Email: "invite" + string(rune('a'+n)) + "@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Paie",
		})
		return err
	}
	if err := invite(a, 0); err != nil {
		t.Fatal(err)
	}
	inv, err := a.FindPersonByEmail(ctx, testSIRET, "invitea@example.fr")
	if err != nil {
		t.Fatal(err)
	}
	if err := (directory.Accounts{Store: b, Notifier: notifier}).ResendInvitation(ctx, admin, inv.RequestID); err != nil {
		t.Fatal(err)
	}
	asLimit(t, invite(b, 1), directory.LimitInvitationAccount)
	if _, err := a.FindPersonByEmail(ctx, testSIRET, "inviteb@example.fr"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an invitation over the limit was made: %v", err)
	}
}

// Counters live in ou=limits, one entry per key, reused by the next window
// and purged once expired.
func TestLimitCountersAreReusedAndPurged(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, _, clock := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 5, Window: time.Minute},
		SignInAddress:    directory.Limit{Max: -1},
	})
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	counters := func() []*ldap.Entry {
		t.Helper()
		root, err := srv.DialRoot()
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		res, err := root.Search(ldap.NewSearchRequest("ou=limits,ou=system,"+srv.Suffix, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=apexLimit)", []string{"apexLimitCount", "apexLimitName"}, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return res.Entries
	}
	fail := func(id string) {
		t.Helper()
		if _, err := in.Login(ctx, id, "Wrong-Password-42!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	fail("marie.martin-px")
	fail("marie.martin-px")
	got := counters()
	if len(got) != 1 || got[0].GetAttributeValue("apexLimitCount") != "2" || got[0].GetAttributeValue("apexLimitName") != directory.LimitSignInIdentifier {
		t.Fatalf("counters after two failures: %d entries", len(got))
	}
	if strings.Contains(got[0].DN, "marie") {
		t.Errorf("the identifier is kept in clear: %s", got[0].DN)
	}
	clock.Add(time.Minute)
	fail("marie.martin-px") // a new window in the same entry
	if got := counters(); len(got) != 1 || got[0].GetAttributeValue("apexLimitCount") != "1" {
		t.Fatalf("after the window: %d entries, count %q", len(got), got[0].GetAttributeValue("apexLimitCount"))
	}
	fail("jean.dupont-px")
	clock.Add(time.Minute)
	fail("paul.durand-px") // adding a counter purges the expired ones
	if got := counters(); len(got) != 1 {
		t.Errorf("%d counters after the purge, want the live one", len(got))
	}
	clock.Add(time.Minute)
	a.PurgeLimits(ctx)
	if got := counters(); len(got) != 0 {
		t.Errorf("%d counters after the last window, want none", len(got))
	}
}

// An identifier that cannot sign in costs a bind on the decoy: an Argon2
// verification in slapd and a write of the failure, like a wrong password,
// and never a lockout.
func TestUnknownIdentifierBindsTheDecoy(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	store := slapdtest.OpenStore(t, slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv)))
	mustStructure(t, store, testSIRET)
	submitted, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Sam", LastName: "Soumis", Email: "sam@example.fr", Role: directory.RoleAdministrateur, State: directory.StateSubmitted, SIRET: testSIRET}, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	decoy := "cn=apex-decoy,ou=system," + srv.Suffix
	binds := func() int {
		data, err := os.ReadFile(srv.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(data), `BIND dn="`+decoy+`" method=128`)
	}
	for i, tc := range []struct{ name, id, password string }{
		{"unknown identifier", "nobody.here-px", "Wrong-Password-42!"},
		{"unknown identifier, again", "nobody.else-px", "Wrong-Password-42!"},
		{"account not active, right password", submitted.RequestID, goodPassword},
	} {
		id := tc.id
		if tc.name == "account not active, right password" {
			// a submitted account has no uid yet: give it one to sign in with
			dn := findDN(t, store, srv, eqFilter("apexRequestId", submitted.RequestID))
			root, err := srv.DialRoot()
			if err != nil {
				t.Fatal(err)
			}
			req := ldap.NewModifyRequest(dn, nil)
			req.Replace("uid", []string{"sam.soumis-px"})
			if err := root.Modify(req); err != nil {
				t.Fatal(err)
			}
			root.Close()
			id = "sam.soumis-px"
		}
		if _, err := store.Authenticate(ctx, id, tc.password); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		waitFor(t, "the decoy bind in slapd's log", func() bool { return binds() == i+1 })
	}
	for range 11 { // more than the people's lockout
		store.Authenticate(ctx, "nobody.here-px", "Wrong-Password-42!")
	}
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	res, err := root.Search(ldap.NewSearchRequest(decoy, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"userPassword", "pwdFailureTime", "pwdAccountLockedTime", "description"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	e := res.Entries[0]
	if !strings.HasPrefix(e.GetAttributeValue("userPassword"), "{ARGON2}") {
		t.Errorf("the decoy's password is not hashed with Argon2: %.10q", e.GetAttributeValue("userPassword"))
	}
	if e.GetAttributeValue("pwdAccountLockedTime") != "" || len(e.GetAttributeValues("pwdFailureTime")) != 0 {
		t.Errorf("the decoy records failures or is locked: %v", e.Attributes)
	}
	if d := e.GetAttributeValues("description"); len(d) != 1 || !strings.Contains(d[0], "Last failure") {
		t.Errorf("the decoy's failures are not written as one value: %q", d)
	}
}

// BenchmarkAuthenticateFailures compares what an unknown identifier, an
// account that is not active and a wrong password cost through the
// sign-in, its counters included: each should be two counts taken, one
// Argon2 verification and one synced write of the failure in slapd. The
// right password is there for comparison: the same, and the two counts
// given back.
func BenchmarkAuthenticateFailures(b *testing.B) {
	srv := slapdtest.Start(b)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(b, srv))
	cfg.SignIn = directory.SignInPolicy{}
	never := directory.Limit{Max: 1 << 30, Window: time.Hour} // counted, never reached
	cfg.Limits = directory.LimitPolicy{SignInIdentifier: never, SignInIdentifierKnown: never, SignInAddress: never}
	store := slapdtest.OpenStore(b, cfg)
	mustStructure(b, store, testSIRET)
	p := mustPerson(b, store, directory.NewPerson{FirstName: "Bruno", LastName: "Bench", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	d := mustDisabled(b, store, directory.NewPerson{FirstName: "Denise", LastName: "Disabled", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	in := directory.SignIn{Store: store, Notifier: &codeSink{}}
	from := directory.WithClientAddress(ctx, "192.0.2.1")
	for _, bc := range []struct{ name, id, password string }{
		{"wrong password", p.Identifier, "Wrong-Password-42!"},
		{"unknown identifier", "nobody.here-px", "Wrong-Password-42!"},
		{"disabled account", d.Identifier, goodPassword},
		{"right password", p.Identifier, goodPassword},
	} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if i++; bc.name == "wrong password" && i%9 == 0 {
					// A new account before ppolicy's lockout (10 failures), which
					// slapd answers without a hash; Unlock would leave the failures.
					b.StopTimer()
					bc.id = mustPerson(b, store, directory.NewPerson{FirstName: "Bruno", LastName: "Bench", Role: directory.RoleAdministrateur, SIRET: testSIRET}).Identifier
					b.StartTimer()
				}
				_, err := in.Login(from, bc.id, bc.password)
				if bc.name == "right password" && err != nil || bc.name != "right password" && !errors.Is(err, directory.ErrInvalidCredentials) {
					b.Fatal(err)
				}
			}
		})
	}
}

// entryValues reads attr of the entry at dn as the server's root.
func entryValues(t *testing.T, srv *slapd.Server, dn, attr string) []string {
	t.Helper()
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	res, err := root.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// logCount counts the lines of slapd's log that hold s.
func logCount(t *testing.T, srv *slapd.Server, s string) int {
	t.Helper()
	data, err := os.ReadFile(srv.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), s)
}

// Finding 6 of issue 11: limits counted after the try let a burst through.
// 60 wrong passwords at once on one account, from one address, on two
// instances: no more binds reach slapd than the limit allows, and the same
// for an unknown identifier (binds of the decoy).
func TestSignInLimitHoldsUnderParallelBursts(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, b, _ := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 4, Window: 15 * time.Minute},
		SignInAddress:    directory.Limit{Max: -1},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Rafale", LastName: "Parallele", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	dn := findDN(t, a, srv, eqFilter("uid", p.Identifier))
	decoy := `BIND dn="cn=apex-decoy,ou=system,` + srv.Suffix + `" method=128`
	a.Authenticate(ctx, "no.decoy-yet-px", "x") // the decoy exists before the burst
	decoysBefore := logCount(t, srv, decoy)

	from := directory.WithClientAddress(ctx, "192.0.2.60")
	for _, id := range []string{p.Identifier, "nobody.here-px"} {
		var wg sync.WaitGroup
		var tried, limited atomic.Int64
		for i := range 60 {
			in := directory.SignIn{Store: []*directory.Store{a, b}[i%2], Notifier: &codeSink{}}
			wg.Go(func() {
				_, err := in.Login(from, id, "Wrong-Password-42!")
				var le *directory.LimitError
				switch {
				case errors.As(err, &le):
					limited.Add(1)
				case errors.Is(err, directory.ErrInvalidCredentials), errors.Is(err, directory.ErrAccountLocked):
					tried.Add(1)
				default:
					t.Errorf("%s: %v", id, err)
				}
			})
		}
		wg.Wait()
		if tried.Load() != 4 || limited.Load() != 56 {
			t.Errorf("%s: %d passwords tried, %d refused; want 4 and 56", id, tried.Load(), limited.Load())
		}
	}
	if got := len(entryValues(t, srv, dn, "pwdFailureTime")); got != 4 {
		t.Errorf("slapd recorded %d failed binds on the account, want 4", got)
	}
	if got := logCount(t, srv, decoy) - decoysBefore; got != 4 {
		t.Errorf("the decoy was bound %d times for the unknown identifier, want 4", got)
	}
}

// 100 wrong codes at once from one address, each on a challenge of its
// own, on two instances: 30 are checked, as the code limit says.
func TestCodeLimitHoldsUnderParallelBursts(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Shared(t)
	a, b, _ := limitedInstances(t, srv, directory.LimitPolicy{
		CodeAddress: directory.Limit{Max: 30, Window: 15 * time.Minute},
	})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Cent", LastName: "Codes", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	challenges := make([]directory.LoginCode, 100)
	for i := range challenges {
		lc, err := a.IssueLoginCode(ctx, p.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		challenges[i] = lc
	}
	from := directory.WithClientAddress(ctx, "2001:db8:30::/64")
	var wg sync.WaitGroup
	var checked, limited atomic.Int64
	for i, lc := range challenges {
		in := directory.SignIn{Store: []*directory.Store{a, b}[i%2], Notifier: &codeSink{}}
		wrong := testkit.WrongCode(lc.Code)
		wg.Go(func() {
			_, _, err := in.Verify(from, lc.Challenge, wrong)
			switch {
			case errors.Is(err, directory.ErrRateLimited):
				limited.Add(1)
			case errors.Is(err, directory.ErrInvalidCode):
				checked.Add(1)
			default:
				t.Errorf("verify: %v", err)
			}
		})
	}
	wg.Wait()
	if checked.Load() != 30 || limited.Load() != 70 {
		t.Errorf("%d codes checked, %d refused; want 30 and 70", checked.Load(), limited.Load())
	}
	// The directory agrees: one record per challenge answered.
	if got := answeredChallenges(entryValues(t, srv, findDN(t, a, srv, eqFilter("uid", p.Identifier)), "apexLoginCode")); got != 30 {
		t.Errorf("%d challenges answered in the directory, want 30", got)
	}
}

// 30 renewal requests at once from one address, each with its captcha
// solved, on two instances: 3 go through, as reset_address says.
func TestResetLimitHoldsUnderParallelBursts(t *testing.T) {
	t.Parallel()
	a, b, _ := limitedInstances(t, slapdtest.Shared(t), directory.LimitPolicy{
		ResetAddress: directory.Limit{Max: 3, Window: time.Hour},
	})
	captchas := make([]string, 30)
	for i := range captchas {
		id, err := a.CreateCaptcha(ctx, "424242", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		captchas[i] = id
	}
	from := directory.WithClientAddress(ctx, "192.0.2.30")
	var wg sync.WaitGroup
	var started, limited atomic.Int64
	for i, captcha := range captchas {
		forgot := directory.SelfService{Store: []*directory.Store{a, b}[i%2], ForgotDuration: time.Millisecond}
		wg.Go(func() {
			_, err := forgot.Forgot(from, fmt.Sprintf("personne.%c%c-px", 'a'+i%26, 'a'+i/26), captcha, "424242")
			switch {
			case err == nil:
				started.Add(1)
			case errors.Is(err, directory.ErrRateLimited):
				limited.Add(1)
			default:
				t.Errorf("forgot: %v", err)
			}
		})
	}
	wg.Wait()
	if started.Load() != 3 || limited.Load() != 27 {
		t.Errorf("%d renewals started, %d refused; want 3 and 27", started.Load(), limited.Load())
	}
}

// A slot that cannot be taken, because other requests keep changing the
// counter first, fails the request closed: 503, nothing tried. (Tries set
// to none here, so that every take gives up; not parallel: the setting is
// the package's.)
func TestLimitFailsClosedUnderContention(t *testing.T) {
	srv := slapdtest.Start(t)
	a, _, _ := limitedInstances(t, srv, directory.LimitPolicy{})
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Ferme", LastName: "Contention", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	defer directory.SetLimitTries(0)()
	binds := func() int { return logCount(t, srv, " BIND dn=\"uid=") + logCount(t, srv, " BIND dn=\"cn=apex-decoy") }
	before := binds()
	from := directory.WithClientAddress(ctx, "192.0.2.77")
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	for _, id := range []string{p.Identifier, "nobody.here-px"} {
		if _, err := in.Login(from, id, goodPassword); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("sign-in as %s: %v, want ErrUnavailable", id, err)
		}
	}
	if got := binds() - before; got != 0 {
		t.Errorf("%d passwords tried", got)
	}
	if _, _, err := in.Verify(from, lc.Challenge, lc.Code); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("verify: %v, want ErrUnavailable", err)
	}
	if err := in.Resend(from, lc.Challenge); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("resend: %v, want ErrUnavailable", err)
	}
	if _, err := (directory.SelfService{Store: a}).NewCaptcha(from, "123456", time.Minute); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("captcha: %v, want ErrUnavailable", err)
	}
	directory.SetLimitTries(8)
	if _, _, err := in.Verify(from, lc.Challenge, lc.Code); err != nil {
		t.Errorf("the code, untried, still works: %v", err)
	}
}

// A store purges the expired counters of its own tree only: two trees on
// one server (the tests' subtrees, or two bases of one provider) whose
// stores' clocks disagree never purge each other's live counters. A
// counter named before trees were (no "tree." prefix) is purged by any.
func TestPurgeKeepsOtherTreesCounters(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	policy := directory.LimitPolicy{SignInAddress: directory.Limit{Max: 9, Window: time.Minute}}
	here, _, clock := limitedInstances(t, srv, policy)
	there, _, _ := limitedInstances(t, srv, policy)
	fail := func(store *directory.Store, addr string) {
		t.Helper()
		_, err := directory.SignIn{Store: store, Notifier: &codeSink{}}.Login(directory.WithClientAddress(ctx, addr), "nobody.here-px", "Wrong-Password-42!")
		if !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	fail(there, "192.0.2.1")
	old := "cn=" + strings.Repeat("ab", 32) + ",ou=limits,ou=system," + srv.Suffix
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	add := ldap.NewAddRequest(old, nil)
	add.Attribute("objectClass", []string{"applicationProcess", "apexLimit"})
	add.Attribute("cn", []string{strings.Repeat("ab", 32)})
	add.Attribute("apexLimitName", []string{"signin_address"})
	add.Attribute("apexLimitCount", []string{"1"})
	add.Attribute("apexLimitExpires", []string{"20200101000000Z"})
	if err := root.Add(add); err != nil {
		t.Fatal(err)
	}
	fail(here, "192.0.2.2")
	clock.Add(time.Hour) // here's clock only
	here.PurgeLimits(ctx)
	res, err := root.Search(ldap.NewSearchRequest("ou=limits,ou=system,"+srv.Suffix, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=apexLimit)", []string{"cn"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The other tree's two live counters (its address and the identifier).
	var trees []string
	for _, e := range res.Entries {
		tree, _, dotted := strings.Cut(e.GetAttributeValue("cn"), ".")
		if !dotted {
			t.Errorf("a counter named before trees were is kept: %s", e.DN)
		}
		trees = append(trees, tree)
	}
	if len(trees) != 2 || trees[0] != trees[1] {
		t.Fatalf("counters after the purge: %q, want the other tree's two live ones", trees)
	}
	fail(there, "192.0.2.1") // they count on
}
