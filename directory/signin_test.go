package directory_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// clockedConfig configures a store on a new subtree of srv, with a clock
// that the test moves.
func clockedConfig(t *testing.T, srv *slapd.Server) (directory.StoreConfig, *testkit.Clock) {
	t.Helper()
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	clock := testkit.NewClock(time.Now())
	cfg.Now = clock.Now
	return cfg, clock
}

// twoInstances opens two stores on the same subtree, as two apexd behind a
// load balancer would, sharing a clock.
func twoInstances(t *testing.T) (*directory.Store, *directory.Store, *testkit.Clock) {
	t.Helper()
	cfg, clock := clockedConfig(t, slapdtest.Shared(t))
	return slapdtest.OpenStore(t, cfg), slapdtest.OpenStore(t, cfg), clock
}

func TestLoginCodeAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Inès", LastName: "Instance", Role: directory.RoleAdministrateur, SIRET: testSIRET})

	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if len(lc.Code) != 6 || strings.Trim(lc.Code, "0123456789") != "" || !strings.HasPrefix(lc.Challenge, p.Identifier+".") {
		t.Errorf("code %q, challenge %q", lc.Code, lc.Challenge)
	}
	got, err := b.VerifyLoginCode(ctx, lc.Challenge, lc.Code)
	if err != nil || got.Identifier != p.Identifier {
		t.Fatalf("the other instance verifies the code: %+v, %v", got, err)
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, lc.Code); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("a code used once is used: %v, want ErrInvalidCode", err)
	}
}

func TestLoginCodeWrongFiveTimes(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Willy", LastName: "Wrong", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	wrong := testkit.WrongCode(lc.Code)
	for i := 1; i <= 4; i++ {
		store := []*directory.Store{a, b}[i%2] // tries count across instances
		if _, err := store.VerifyLoginCode(ctx, lc.Challenge, wrong); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, wrong); !errors.Is(err, directory.ErrTooManyAttempts) {
		t.Fatalf("5th wrong code: %v, want ErrTooManyAttempts", err)
	}
	if _, err := b.VerifyLoginCode(ctx, lc.Challenge, lc.Code); !errors.Is(err, directory.ErrTooManyAttempts) {
		t.Errorf("the right code after 5 wrong ones: %v, want ErrTooManyAttempts", err)
	}
	if _, err := a.ResendLoginCode(ctx, lc.Challenge); !errors.Is(err, directory.ErrTooManyAttempts) {
		t.Errorf("resend after 5 wrong ones: %v, want ErrTooManyAttempts", err)
	}
}

// A resend gives a new code for the same challenge, valid until the
// challenge's own expiry, never later; after it, nothing is sent.
func TestLoginCodeExpiresAndResend(t *testing.T) {
	t.Parallel()
	a, b, clock := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Eve", LastName: "Expire", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, "12345"); !errors.Is(err, directory.ErrInvalidCode) {
		t.Fatalf("wrong code: %v", err)
	}
	clock.Add(6 * time.Minute)
	again, err := b.ResendLoginCode(ctx, lc.Challenge)
	if err != nil {
		t.Fatalf("resend: %v", err)
	}
	if again.Challenge != lc.Challenge || !again.ExpiresAt.Equal(lc.ExpiresAt) {
		t.Errorf("resend: challenge %q expiring %s, want the same challenge and expiry %s", again.Challenge, again.ExpiresAt, lc.ExpiresAt)
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, lc.Code); again.Code != lc.Code && !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("the old code after a resend: %v, want ErrInvalidCode", err)
	}
	clock.Add(4*time.Minute + time.Second) // 10 minutes and 1 second after the challenge
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, again.Code); !errors.Is(err, directory.ErrCodeExpired) {
		t.Errorf("the resent code after the challenge's 10 minutes: %v, want ErrCodeExpired", err)
	}
	if _, err := b.ResendLoginCode(ctx, lc.Challenge); !errors.Is(err, directory.ErrCodeExpired) {
		t.Errorf("a resend after the challenge's 10 minutes: %v, want ErrCodeExpired", err)
	}

	lc, err = a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(9 * time.Minute)
	again, err = a.ResendLoginCode(ctx, lc.Challenge)
	if err != nil {
		t.Fatalf("resend: %v", err)
	}
	if _, err := b.VerifyLoginCode(ctx, lc.Challenge, again.Code); err != nil {
		t.Errorf("the new code within the challenge's 10 minutes: %v", err)
	}
	for _, forged := range []string{"", "x", p.Identifier, p.Identifier + ".", lc.Challenge + "x", "*)(uid=*." + strings.Repeat("A", 64)} {
		if _, err := a.VerifyLoginCode(ctx, forged, again.Code); !errors.Is(err, directory.ErrInvalidCode) {
			t.Errorf("challenge %q: %v, want ErrInvalidCode", forged, err)
		}
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	a, b, clock := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Sophie", LastName: "Session", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	token, err := a.CreateSession(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.CreateSession(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := (directory.SignIn{Store: b}).Session(ctx, token, ""); err != nil || got.Identifier != p.Identifier {
		t.Fatalf("the other instance knows the session: %+v, %v", got, err)
	}
	for range 4 { // used every 20 minutes, it lives on
		clock.Add(20 * time.Minute)
		if _, err := (directory.SignIn{Store: b}).Session(ctx, token, ""); err != nil {
			t.Fatalf("an active session after 20 minutes: %v", err)
		}
	}
	if _, err := (directory.SignIn{Store: a}).Session(ctx, other, ""); !errors.Is(err, directory.ErrSessionExpired) {
		t.Errorf("a session idle for 80 minutes: %v, want ErrSessionExpired", err)
	}
	if err := (directory.SignIn{Store: a}).EndSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.SignIn{Store: b}).Session(ctx, token, ""); !errors.Is(err, directory.ErrSessionExpired) {
		t.Errorf("after logout: %v, want ErrSessionExpired", err)
	}
	third, err := a.CreateSession(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.SignIn{Store: a}).Session(ctx, third, ""); !errors.Is(err, directory.ErrSessionExpired) {
		t.Errorf("the session of a disabled account: %v, want ErrSessionExpired", err)
	}
	for _, forged := range []string{"", "nobody.here-px." + strings.Repeat("A", 43), p.Identifier + "." + strings.Repeat("A", 43)} {
		if _, err := (directory.SignIn{Store: a}).Session(ctx, forged, ""); !errors.Is(err, directory.ErrSessionExpired) {
			t.Errorf("token %q: %v", forged, err)
		}
	}
}

// The password step writes nothing: the challenge is signed, and only an
// answer to it is remembered.
func TestLoginWritesNothing(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Shared(t)
	base := slapdtest.NewBase(t, srv)
	a := slapdtest.OpenStore(t, slapdtest.StoreConfig(srv, base))
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Nina", LastName: "Nulle", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if _, err := a.LoginWithCode(ctx, p.Identifier, goodPassword); err != nil { // creates the signing key
		t.Fatal(err)
	}
	before := snapshot(t, srv, base)
	var last directory.LoginCode
	for range 3 {
		lc, err := a.LoginWithCode(ctx, p.Identifier, goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		last = lc
	}
	if after := snapshot(t, srv, base); after != before {
		t.Errorf("sign-in wrote into the directory:\n%s", diffLines(before, after))
	}
	if _, err := a.VerifyLoginCode(ctx, last.Challenge, last.Code); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if snapshot(t, srv, base) == before {
		t.Error("a used code left no trace: it could be used again")
	}
}

// A challenge this directory did not sign is refused before anything is
// read or written: one from another directory, or one with a byte changed.
func TestLoginChallengeForged(t *testing.T) {
	t.Parallel()
	a, _, _ := twoInstances(t)
	own := slapdtest.Start(t) // another directory: another key
	other := slapdtest.OpenStore(t, slapdtest.StoreConfig(own, slapdtest.NewBase(t, own)))
	for _, s := range []*directory.Store{a, other} {
		mustStructure(t, s, testSIRET)
	}
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Fanny", LastName: "Faux", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	q := mustPerson(t, other, directory.NewPerson{FirstName: "Fanny", LastName: "Faux", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if p.Identifier != q.Identifier {
		t.Fatalf("identifiers differ: %s, %s", p.Identifier, q.Identifier)
	}
	foreign, err := other.IssueLoginCode(ctx, q.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyLoginCode(ctx, foreign.Challenge, foreign.Code); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("another directory's challenge: %v, want ErrInvalidCode", err)
	}
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(lc.Challenge, '.') + 5
	flipped := []byte(lc.Challenge)
	flipped[i] ^= 'A' ^ 'B'
	if flipped[i] == lc.Challenge[i] {
		flipped[i] = 'C'
	}
	if _, err := a.VerifyLoginCode(ctx, string(flipped), lc.Code); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("a changed challenge: %v, want ErrInvalidCode", err)
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, lc.Code); err != nil {
		t.Errorf("the genuine challenge: %v", err)
	}
}

// One right code sent by several requests at once, on two instances, opens
// one session.
func TestLoginCodeRaceUsesOnce(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Rémi", LastName: "Rapide", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range errs {
		s := []*directory.Store{a, b}[i%2]
		wg.Go(func() { _, errs[i] = s.VerifyLoginCode(ctx, lc.Challenge, lc.Code) })
	}
	wg.Wait()
	used := 0
	for _, err := range errs {
		switch {
		case err == nil:
			used++
		case !errors.Is(err, directory.ErrInvalidCode):
			t.Errorf("verify: %v, want ErrInvalidCode", err)
		}
	}
	if used != 1 {
		t.Errorf("the code opened %d sessions, want 1 (%v)", used, errs)
	}
}

// Finding 8 of issue 11: slapd matches uid ignoring case and width, so a
// full-width letter or the Kelvin sign named a real account while counting
// apart from it. An identifier not of the identifier's form is answered as
// an unknown one before any limit or LDAP call; ASCII case is folded.
func TestIdentifierOfAnotherFormNamesNobody(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	a, _, _ := limitedInstances(t, srv, directory.LimitPolicy{
		SignInIdentifier: directory.Limit{Max: 2, Window: 15 * time.Minute},
		SignInAddress:    directory.Limit{Max: -1},
		ResetIdentifier:  directory.Limit{Max: 1, Window: time.Hour},
	})
	mustStructure(t, a, testSIRET)
	agnes := mustPerson(t, a, directory.NewPerson{FirstName: "Agnès", LastName: "Dupont", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "+33612345678"})
	karl := mustPerson(t, a, directory.NewPerson{FirstName: "Karl", LastName: "Kramer", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	if agnes.Identifier != "agnes.dupont-px" || karl.Identifier != "karl.kramer-px" {
		t.Fatalf("identifiers %s, %s", agnes.Identifier, karl.Identifier)
	}
	in := directory.SignIn{Store: a, Notifier: &codeSink{}}
	// Every request slapd gets is a line of its log (stats).
	requests := func() int {
		return logCount(t, srv, " SRCH base=") + logCount(t, srv, " BIND dn=") + logCount(t, srv, " MOD dn=") + logCount(t, srv, " ADD dn=")
	}
	for _, id := range []string{"ａgnes.dupont-px", "ＡＧＮＥＳ.ＤＵＰＯＮＴ-ＰＸ", "\u212Aarl.kramer-px", "karl.\u212Aramer-px"} {
		before := requests()
		if _, err := in.Login(ctx, id, goodPassword); !errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, directory.ErrRateLimited) {
			t.Errorf("sign-in as %q with the right password: %v, want ErrInvalidCredentials", id, err)
		}
		if _, err := a.FindPerson(ctx, id); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("FindPerson(%q) = %v, want ErrNotFound", id, err)
		}
		if start, err := a.StartReset(ctx, id); err != nil || start.Person != nil || start.Code != "" {
			t.Errorf("StartReset(%q) = %+v, %v; want nothing sent", id, start, err)
		}
		if after := requests(); after != before {
			t.Errorf("%q reached slapd: %d requests", id, after-before)
		}
	}
	// ASCII case is folded, into the account's own counter.
	if lc, err := in.Login(ctx, " AGNES.Dupont-PX ", goodPassword); err != nil || !strings.HasPrefix(lc, "agnes.dupont-px.") {
		t.Fatalf("sign-in in capitals: %q, %v", lc, err)
	}
	for _, id := range []string{"Agnes.Dupont-px", "agnes.dupont-px"} {
		if _, err := in.Login(ctx, id, "Wrong-Password-42!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if _, err := in.Login(ctx, "AGNES.DUPONT-PX", goodPassword); !errors.Is(err, directory.ErrRateLimited) {
		t.Errorf("over the limit, in capitals: %v", err)
	}
	// Over its limit, the identifier is still over it in any width.
	if _, err := in.Login(ctx, "ａgnes.dupont-px", goodPassword); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("the full-width form over the limit: %v, want ErrInvalidCredentials", err)
	}
	// A renewal request in another form is counted nowhere: the account's own still goes.
	texts := &selfServiceNotifier{}
	forgot := directory.SelfService{Store: a, ForgotDuration: time.Millisecond, Notifier: texts}
	for _, id := range []string{"ａgnes.dupont-px", "Agnes.Dupont-px"} {
		captcha, err := a.CreateCaptcha(ctx, "424242", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := forgot.Forgot(ctx, id, captcha, "424242"); err != nil {
			t.Errorf("forgot %q: %v", id, err)
		}
		if texts.mu.Lock(); id == "ａgnes.dupont-px" && texts.code != "" {
			t.Errorf("a renewal code was sent for %q", id)
		}
		texts.mu.Unlock()
	}
	waitFor(t, "the renewal code", func() bool { texts.mu.Lock(); defer texts.mu.Unlock(); return texts.code != "" })
}
