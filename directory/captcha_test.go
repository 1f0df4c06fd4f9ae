package directory_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// mustCaptcha creates a captcha valid 10 minutes.
func mustCaptcha(tb testing.TB, store *directory.Store, answer string) string {
	tb.Helper()
	id, err := store.CreateCaptcha(ctx, answer, 10*time.Minute)
	if err != nil {
		tb.Fatalf("create captcha: %v", err)
	}
	return id
}

func TestCaptchaCreateReadSolve(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	id := mustCaptcha(t, store, "048213")
	if len(id) != 43 {
		t.Errorf("id %q is not a 256-bit token", id)
	}
	for range 2 {
		if digits, err := (directory.SelfService{Store: store}).CaptchaDigits(ctx, id); err != nil || digits != "048213" {
			t.Fatalf("digits = %q, %v", digits, err)
		}
	}
	if err := store.SolveCaptcha(ctx, id, " 048 213\n"); err != nil {
		t.Fatalf("solve with spaces around and inside: %v", err)
	}
	if err := store.SolveCaptcha(ctx, id, "048213"); !errors.Is(err, directory.ErrInvalidCaptcha) {
		t.Errorf("second solve: %v, want ErrInvalidCaptcha", err)
	}
	if _, err := (directory.SelfService{Store: store}).CaptchaDigits(ctx, id); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("digits of a used captcha: %v, want ErrNotFound", err)
	}
	if other := mustCaptcha(t, store, "048213"); other == id {
		t.Errorf("two captchas share the id %q", id)
	}
}

func TestCaptchaRefusesBadInput(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	for _, tc := range []struct {
		answer string
		ttl    time.Duration
	}{
		{"", time.Minute},
		{"12a4", time.Minute},
		{"12 34", time.Minute},
		{"*", time.Minute},
		{strings.Repeat("1", 21), time.Minute},
		{"1234", 0},
		{"1234", -time.Minute},
	} {
		if id, err := store.CreateCaptcha(ctx, tc.answer, tc.ttl); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("create %q for %v: %q, %v; want ErrInvalid", tc.answer, tc.ttl, id, err)
		}
	}
	id := mustCaptcha(t, store, "1234")
	for _, hostile := range []string{"", "*", "a*", "*)(cn=*", `,+"\<>;`, id + "*", strings.ToUpper(id[:1]) + id[1:] + ",ou=system", strings.Repeat("A", 43)} {
		if _, err := (directory.SelfService{Store: store}).CaptchaDigits(ctx, hostile); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("digits of %q: %v, want ErrNotFound", hostile, err)
		}
		if err := store.SolveCaptcha(ctx, hostile, "1234"); !errors.Is(err, directory.ErrInvalidCaptcha) {
			t.Errorf("solve %q: %v, want ErrInvalidCaptcha", hostile, err)
		}
	}
	if err := store.SolveCaptcha(ctx, id, "1234"); err != nil {
		t.Errorf("the real captcha, after the hostile ones: %v", err)
	}
}

func TestCaptchaWrongAnswerUsesItUp(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	id := mustCaptcha(t, store, "555111")
	for _, wrong := range []string{"555112", "", "55511"} {
		id := mustCaptcha(t, store, "555111")
		if err := store.SolveCaptcha(ctx, id, wrong); !errors.Is(err, directory.ErrInvalidCaptcha) {
			t.Errorf("wrong answer %q: %v, want ErrInvalidCaptcha", wrong, err)
		}
		if err := store.SolveCaptcha(ctx, id, "555111"); !errors.Is(err, directory.ErrInvalidCaptcha) {
			t.Errorf("right answer after %q: %v, want ErrInvalidCaptcha", wrong, err)
		}
	}
	if err := store.SolveCaptcha(ctx, id, "555111"); err != nil {
		t.Errorf("another captcha is untouched: %v", err)
	}
}

func TestCaptchaExpires(t *testing.T) {
	t.Parallel()
	a, b, clock := twoInstances(t)
	id, err := a.CreateCaptcha(ctx, "777", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	later, err := a.CreateCaptcha(ctx, "888", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(2*time.Minute - 2*time.Second)
	if digits, err := (directory.SelfService{Store: b}).CaptchaDigits(ctx, id); err != nil || digits != "777" {
		t.Errorf("digits just before the end: %q, %v", digits, err)
	}
	if err := b.SolveCaptcha(ctx, later, "888"); err != nil {
		t.Errorf("solve just before the end: %v", err)
	}
	clock.Add(3 * time.Second)
	if _, err := (directory.SelfService{Store: b}).CaptchaDigits(ctx, id); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("digits after the end: %v, want ErrNotFound", err)
	}
	if err := a.SolveCaptcha(ctx, id, "777"); !errors.Is(err, directory.ErrInvalidCaptcha) {
		t.Errorf("solve after the end: %v, want ErrInvalidCaptcha", err)
	}
}

func TestCaptchaAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	id := mustCaptcha(t, a, "314159")
	if digits, err := (directory.SelfService{Store: b}).CaptchaDigits(ctx, id); err != nil || digits != "314159" {
		t.Fatalf("the other instance reads %q, %v", digits, err)
	}
	if err := b.SolveCaptcha(ctx, id, "314159"); err != nil {
		t.Fatalf("the other instance solves it: %v", err)
	}
	if err := a.SolveCaptcha(ctx, id, "314159"); !errors.Is(err, directory.ErrInvalidCaptcha) {
		t.Errorf("solved again on the first instance: %v, want ErrInvalidCaptcha", err)
	}
}

func TestCaptchaConcurrentSolves(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	for round := range 5 {
		id := mustCaptcha(t, a, "271828")
		const tries = 12
		errs := make(chan error, tries)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range tries {
			store := []*directory.Store{a, b}[i%2]
			done.Go(func() {
				start.Wait()
				errs <- store.SolveCaptcha(ctx, id, "271828")
			})
		}
		start.Done()
		done.Wait()
		close(errs)
		solved := 0
		for err := range errs {
			switch {
			case err == nil:
				solved++
			case !errors.Is(err, directory.ErrInvalidCaptcha):
				t.Errorf("round %d: %v, want nil or ErrInvalidCaptcha", round, err)
			}
		}
		if solved != 1 {
			t.Errorf("round %d: %d of %d concurrent solves succeeded, want exactly 1", round, solved, tries)
		}
	}
}

// countCaptchas counts the entries under ou=captchas, as slapd's root.
func countCaptchas(tb testing.TB, srv *slapd.Server) int {
	tb.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	entries, err := search(conn, "ou=captchas,ou=system,"+srv.Suffix, "(objectClass=applicationProcess)", "1.1")
	if err != nil {
		tb.Fatalf("count captchas: %v", err)
	}
	return len(entries)
}

// On a private slapd: the clock moves ahead, and creations then purge every
// captcha they find expired, which would disturb the other tests.
func TestCaptchaContainerAndPurge(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	cfg, clock := clockedConfig(t, srv)
	store := slapdtest.OpenStore(t, cfg)

	// A directory set up before captchas: the first creation adds the container.
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Del(ldap.NewDelRequest("ou=captchas,ou=system,"+srv.Suffix, nil)); err != nil {
		t.Fatalf("delete ou=captchas: %v", err)
	}
	root.Close()
	if _, err := (directory.SelfService{Store: store}).CaptchaDigits(ctx, strings.Repeat("A", 43)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("digits without the container: %v, want ErrNotFound", err)
	}
	if err := store.SolveCaptcha(ctx, strings.Repeat("A", 43), "1"); !errors.Is(err, directory.ErrInvalidCaptcha) {
		t.Errorf("solve without the container: %v, want ErrInvalidCaptcha", err)
	}
	for i := range 25 {
		mustCaptcha(t, store, fmt.Sprint(i))
	}
	live, err := store.CreateCaptcha(ctx, "424242", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := countCaptchas(t, srv); n != 26 {
		t.Fatalf("%d captchas, want 26", n)
	}

	clock.Add(11 * time.Minute)
	mustCaptcha(t, store, "1")
	if n := countCaptchas(t, srv); n != 26-20+1 {
		t.Errorf("after a creation that found 25 expired: %d captchas, want %d (20 purged)", n, 26-20+1)
	}
	mustCaptcha(t, store, "2")
	if n := countCaptchas(t, srv); n != 3 {
		t.Errorf("after the next creation: %d captchas, want the live one and the 2 new ones", n)
	}
	if digits, err := (directory.SelfService{Store: store}).CaptchaDigits(ctx, live); err != nil || digits != "424242" {
		t.Errorf("a captcha still valid is kept: %q, %v", digits, err)
	}
}

// Only the service reads captchas: not a DGFiP application, not anonymous.
func TestCaptchaACL(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	id := mustCaptcha(t, store, "909090")
	dn := "cn=" + sha256Hex(id) + ",ou=captchas,ou=system," + srv.Suffix
	if findDN(t, store, srv, eqFilter("cn", sha256Hex(id))) == "" {
		t.Fatalf("the root does not find the captcha by the hash of its id")
	}
	if findDN(t, store, srv, eqFilter("cn", id)) != "" {
		t.Fatalf("the directory keeps the captcha's id in clear")
	}
	clientDN, err := store.CreateClient(ctx, fmt.Sprintf("captcha-app-%d", time.Now().UnixNano()), "Client-Secret-2026!")
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	for _, who := range []string{"anonymous", "application"} {
		t.Run(who, func(t *testing.T) {
			conn := dial(t, srv.URL)
			if who == "application" {
				if err := conn.Bind(clientDN, "Client-Secret-2026!"); err != nil {
					t.Fatalf("client bind: %v", err)
				}
			}
			for _, base := range []string{srv.Suffix, "ou=captchas,ou=system," + srv.Suffix, dn} {
				entries, _ := search(conn, base, "(|(cn="+ldap.EscapeFilter(id)+")(description=*909090*)(objectClass=applicationProcess))", "cn", "description")
				for _, e := range entries {
					if strings.Contains(strings.ToLower(e.DN), "ou=captchas") || strings.Contains(e.GetAttributeValue("description"), "909090") {
						t.Errorf("search from %s reads %s %v", base, e.DN, e.GetAttributeValue("description"))
					}
				}
			}
			if ok, err := conn.Compare(dn, "cn", sha256Hex(id)); ok || err == nil {
				t.Errorf("compare on the captcha: %v, %v; want refused", ok, err)
			}
			if err := conn.Del(ldap.NewDelRequest(dn, nil)); err == nil {
				t.Errorf("deleted the captcha")
			}
		})
	}
	if err := store.SolveCaptcha(ctx, id, "909090"); err != nil {
		t.Errorf("the service solves the captcha after the others tried: %v", err)
	}
}

// sha256Hex is how the directory names a captcha: by the hash of its id.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
