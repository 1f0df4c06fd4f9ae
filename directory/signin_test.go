package directory_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// testClock is an injected clock for expiry tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// twoInstances opens two stores on the same subtree, as two apexd behind a
// load balancer would, sharing a clock.
func twoInstances(t *testing.T) (*directory.Store, *directory.Store, *testClock) {
	t.Helper()
	srv := slapdtest.Shared(t)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	clock := &testClock{t: time.Now()}
	cfg.Now = clock.Now
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
	wrong := "000000"
	if lc.Code == wrong {
		wrong = "111111"
	}
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

func TestLoginCodeExpiresAndResend(t *testing.T) {
	t.Parallel()
	a, _, clock := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Eve", LastName: "Expire", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	lc, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, "12345"); !errors.Is(err, directory.ErrInvalidCode) {
		t.Fatalf("wrong code: %v", err)
	}
	clock.Add(10*time.Minute + time.Second)
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, lc.Code); !errors.Is(err, directory.ErrCodeExpired) {
		t.Fatalf("after 10 minutes: %v, want ErrCodeExpired", err)
	}
	again, err := a.ResendLoginCode(ctx, lc.Challenge)
	if err != nil {
		t.Fatalf("resend: %v", err)
	}
	if again.Challenge != lc.Challenge {
		t.Errorf("resend keeps the challenge")
	}
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, lc.Code); again.Code != lc.Code && !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("the old code after a resend: %v, want ErrInvalidCode", err)
	}
	clock.Add(9 * time.Minute)
	if _, err := a.VerifyLoginCode(ctx, lc.Challenge, again.Code); err != nil {
		t.Errorf("the new code within 10 minutes: %v", err)
	}
	for _, forged := range []string{"", "x", p.Identifier, p.Identifier + ".", lc.Challenge + "x", "*)(uid=*." + strings.Repeat("A", 43)} {
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
	if got, err := b.Session(ctx, token); err != nil || got.Identifier != p.Identifier {
		t.Fatalf("the other instance knows the session: %+v, %v", got, err)
	}
	for range 4 { // used every 20 minutes, it lives on
		clock.Add(20 * time.Minute)
		if _, err := b.Session(ctx, token); err != nil {
			t.Fatalf("an active session after 20 minutes: %v", err)
		}
	}
	if _, err := a.Session(ctx, other); !errors.Is(err, directory.ErrSessionExpired) {
		t.Errorf("a session idle for 80 minutes: %v, want ErrSessionExpired", err)
	}
	if err := a.EndSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Session(ctx, token); !errors.Is(err, directory.ErrSessionExpired) {
		t.Errorf("after logout: %v, want ErrSessionExpired", err)
	}
	third, err := a.CreateSession(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetState(ctx, p.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, third); !errors.Is(err, directory.ErrSessionExpired) {
		t.Errorf("the session of a disabled account: %v, want ErrSessionExpired", err)
	}
	for _, forged := range []string{"", "nobody.here-px." + strings.Repeat("A", 43), p.Identifier + "." + strings.Repeat("A", 43)} {
		if _, err := a.Session(ctx, forged); !errors.Is(err, directory.ErrSessionExpired) {
			t.Errorf("token %q: %v", forged, err)
		}
	}
}
