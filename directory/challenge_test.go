package directory_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// A challenge dies with the password it was issued for: changed by the
// person, through a renewal, or by anyone else, its code no longer opens a
// session and no new code is sent for it.
func TestLoginChallengeDiesWithThePassword(t *testing.T) {
	t.Parallel()
	a, b, _ := twoInstances(t)
	mustStructure(t, a, testSIRET)
	self := directory.SelfService{Store: a, Notifier: &selfServiceNotifier{}}
	for _, tt := range []struct {
		first, last string
		change      func(t *testing.T, p *directory.Person)
	}{
		{"Paul", "Changeant", func(t *testing.T, p *directory.Person) {
			if err := self.ChangePassword(ctx, p, goodPassword, "Nouveau-Secret-77!"); err != nil {
				t.Fatal(err)
			}
		}},
		{"Rene", "Renouvele", func(t *testing.T, p *directory.Person) {
			start, err := a.StartReset(ctx, p.Identifier)
			if err != nil {
				t.Fatal(err)
			}
			token, err := b.VerifyResetCode(ctx, start.Reset, start.Code)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.ResetPassword(ctx, token, "Nouveau-Secret-77!"); err != nil {
				t.Fatal(err)
			}
		}},
		{"Otto", "Operateur", func(t *testing.T, p *directory.Person) {
			if err := b.SetPassword(ctx, p.Identifier, "Nouveau-Secret-77!"); err != nil {
				t.Fatal(err)
			}
		}},
		// A password changed before: the challenge holds that change's time,
		// and the next change (a second later at least: slapd's
		// pwdChangedTime counts seconds) kills it.
		{"Anne", "Ancienne", func(t *testing.T, p *directory.Person) {
			if err := a.SetPassword(ctx, p.Identifier, "Nouveau-Secret-88!"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.first, func(t *testing.T) {
			p := mustPerson(t, a, directory.NewPerson{FirstName: tt.first, LastName: tt.last, Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121212"})
			if tt.first == "Anne" {
				if err := a.SetPassword(ctx, p.Identifier, "Ancien-Secret-66!"); err != nil {
					t.Fatal(err)
				}
			}
			resent, err := a.IssueLoginCode(ctx, p.Identifier)
			if err != nil {
				t.Fatal(err)
			}
			again, err := b.ResendLoginCode(ctx, resent.Challenge) // a record written before the change
			if err != nil {
				t.Fatal(err)
			}
			untouched, err := a.IssueLoginCode(ctx, p.Identifier)
			if err != nil {
				t.Fatal(err)
			}
			if tt.first == "Anne" {
				time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			}
			me, err := a.FindPerson(ctx, p.Identifier)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, me)
			for name, c := range map[string][2]string{
				"a challenge never answered": {untouched.Challenge, untouched.Code},
				"a challenge sent again":     {resent.Challenge, again.Code},
			} {
				if _, err := b.ResendLoginCode(ctx, c[0]); !errors.Is(err, directory.ErrInvalidCode) {
					t.Errorf("%s, resent after the change: %v, want ErrInvalidCode", name, err)
				}
				if _, err := a.VerifyLoginCode(ctx, c[0], c[1]); !errors.Is(err, directory.ErrInvalidCode) {
					t.Errorf("%s, its code after the change: %v, want ErrInvalidCode", name, err)
				}
			}
			// A challenge issued now holds the new password: it works.
			fresh, err := b.IssueLoginCode(ctx, p.Identifier)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.VerifyLoginCode(ctx, fresh.Challenge, fresh.Code); err != nil {
				t.Errorf("a challenge issued after the change: %v", err)
			}
		})
	}
}

// A used challenge stays used after its record is pruned (once expired, by
// a later sign-in): it is past its expiry, which nothing extends.
func TestLoginChallengeUsedStaysUsedAfterPruning(t *testing.T) {
	t.Parallel()
	a, b, clock := twoInstances(t)
	mustStructure(t, a, testSIRET)
	p := mustPerson(t, a, directory.NewPerson{FirstName: "Ursule", LastName: "Usage", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	first, err := a.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyLoginCode(ctx, first.Challenge, first.Code); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ResendLoginCode(ctx, first.Challenge); !errors.Is(err, directory.ErrInvalidCode) {
		t.Errorf("a resend of a used challenge: %v, want ErrInvalidCode", err)
	}
	clock.Add(11 * time.Minute)
	later, err := b.IssueLoginCode(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyLoginCode(ctx, later.Challenge, later.Code); err != nil { // prunes the first record
		t.Fatal(err)
	}
	if got := loginCodeValues(t, p.Identifier); got != 1 {
		t.Fatalf("%d challenge records after the pruning, want the later one only", got)
	}
	if _, err := a.ResendLoginCode(ctx, first.Challenge); !errors.Is(err, directory.ErrCodeExpired) {
		t.Errorf("a resend of the used, pruned challenge: %v, want ErrCodeExpired", err)
	}
	if _, err := a.VerifyLoginCode(ctx, first.Challenge, first.Code); !errors.Is(err, directory.ErrCodeExpired) {
		t.Errorf("the used, pruned challenge's code: %v, want ErrCodeExpired", err)
	}
}

// loginCodeValues counts an account's apexLoginCode values, read as root.
func loginCodeValues(t *testing.T, identifier string) int {
	t.Helper()
	conn, err := slapdtest.Shared(t).DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	entries, err := search(conn, slapdtest.Suffix, eqFilter("uid", identifier), "apexLoginCode")
	if err != nil || len(entries) != 1 {
		t.Fatalf("read %s: %v %v", identifier, entries, err)
	}
	return answeredChallenges(entries[0].GetAttributeValues("apexLoginCode"))
}

// answeredChallenges counts the challenges' records among apexLoginCode
// values, leaving out the markers their first answers add.
func answeredChallenges(values []string) int {
	n := 0
	for _, v := range values {
		if !strings.HasSuffix(v, " opened") {
			n++
		}
	}
	return n
}

// A burst of wrong codes on one fresh challenge, from four instances: each
// answer that counts is one write of the challenge's record, and no more
// than CodeAttempts of them reach slapd, the first answers included (the
// first write is a compare-and-swap too). The right code comes too late.
// Three challenges, as the extra tries of a race show only now and then.
func TestLoginCodeBurstGetsNoExtraTries(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Shared(t)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	var stores []*directory.Store
	for range 4 {
		stores = append(stores, slapdtest.OpenStore(t, cfg))
	}
	mustStructure(t, stores[0], testSIRET)
	p := mustPerson(t, stores[0], directory.NewPerson{FirstName: "Bruno", LastName: "Rafale", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	dn := findDN(t, stores[0], srv, eqFilter("uid", p.Identifier))
	const burst, attempts = 40, 5 // the default CodeAttempts
	for challenge := range 3 {
		lc, err := stores[0].IssueLoginCode(ctx, p.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		from := logOffset(t, srv)
		sent, limited := 0, false
		for round := 0; round < 2*attempts && !limited; round++ { // each round writes once at least
			sent += burst
			errs := make([]error, burst)
			var wg sync.WaitGroup
			for i := range errs {
				code := fmt.Sprintf("%06d", (round*burst+i+1)*7919%1_000_000)
				if code == lc.Code {
					code = "000000"
				}
				s := stores[i%len(stores)]
				wg.Go(func() { _, errs[i] = s.VerifyLoginCode(ctx, lc.Challenge, code) })
			}
			wg.Wait()
			for _, err := range errs {
				switch {
				case errors.Is(err, directory.ErrTooManyAttempts):
					limited = true
				case !errors.Is(err, directory.ErrInvalidCode):
					t.Fatalf("challenge %d, round %d: a wrong code: %v", challenge, round, err)
				}
			}
		}
		ops := slapdOps(t, srv, from)
		if n := countOps(ops, "MOD", dn, 0); n != attempts {
			t.Errorf("challenge %d: %d wrong codes were written (evaluated) out of %d sent, want exactly %d", challenge, n, sent, attempts)
		}
		if _, err := stores[1].VerifyLoginCode(ctx, lc.Challenge, lc.Code); !errors.Is(err, directory.ErrTooManyAttempts) {
			t.Errorf("challenge %d: the right code after the burst: %v, want ErrTooManyAttempts", challenge, err)
		}
	}
}
