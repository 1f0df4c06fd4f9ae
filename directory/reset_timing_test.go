package directory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// A wrong renewal code costs the same LDAP work whatever the reset id
// names: one search and one write that slapd carries out, on the account
// when there is a try to count, on the decoy otherwise. Counted in slapd's
// own log of a private slapd, not timed.
func TestWrongResetCodeCostsTheSame(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	cfg, clock := clockedConfig(t, srv)
	store := slapdtest.OpenStore(t, cfg)
	mustStructure(t, store, testSIRET)
	mobile := mustPerson(t, store, directory.NewPerson{FirstName: "Mona", LastName: "Mobile", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121212"})
	link := mustPerson(t, store, directory.NewPerson{FirstName: "Lina", LastName: "Lien", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	disabled := mustDisabled(t, store, directory.NewPerson{FirstName: "Dina", LastName: "Desactivee", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121213"})
	mobileDN := findDN(t, store, srv, eqFilter("uid", mobile.Identifier))
	decoyDN := "cn=apex-decoy,ou=system," + srv.Suffix

	wrong := testkit.WrongCode
	reset := func(identifier string) directory.ResetStart {
		start, err := store.StartReset(ctx, identifier)
		if err != nil {
			t.Fatal(err)
		}
		return start
	}
	// The decoy exists after one failure: the cases below find it there.
	store.VerifyResetCode(ctx, reset("nobody.warmup-px").Reset, "000000")

	for _, tc := range []struct {
		name  string
		reset func() (id, code string)
		on    string // the entry written
	}{
		{"unknown identifier", func() (string, string) { return reset("nobody.nowhere-px").Reset, "000000" }, decoyDN},
		{"not an identifier", func() (string, string) { return reset("Nobody Nowhere").Reset, "000000" }, decoyDN},
		{"account without mobile", func() (string, string) { return reset(link.Identifier).Reset, "000000" }, decoyDN},
		{"disabled account", func() (string, string) { return reset(disabled.Identifier).Reset, "000000" }, decoyDN},
		{"account with a mobile", func() (string, string) {
			s := reset(mobile.Identifier)
			return s.Reset, wrong(s.Code)
		}, mobileDN},
		{"account with a mobile, another request's id", func() (string, string) {
			s := reset(mobile.Identifier)
			reset(mobile.Identifier)
			return s.Reset, wrong(s.Code)
		}, decoyDN},
		{"account with a mobile, code out of tries", func() (string, string) {
			s := reset(mobile.Identifier)
			for range 5 {
				store.VerifyResetCode(ctx, s.Reset, wrong(s.Code))
			}
			return s.Reset, wrong(s.Code)
		}, decoyDN},
		{"account with a mobile, code expired", func() (string, string) {
			s := reset(mobile.Identifier)
			clock.Add(11 * time.Minute)
			return s.Reset, wrong(s.Code)
		}, decoyDN},
	} {
		id, code := tc.reset()
		from := logOffset(t, srv)
		if _, err := store.VerifyResetCode(ctx, id, code); !errors.Is(err, directory.ErrInvalidCode) {
			t.Errorf("%s: %v, want ErrInvalidCode", tc.name, err)
		}
		ops := slapdOps(t, srv, from)
		searches := countOps(ops, "SRCH", "", -1)
		writes := countOps(ops, "MOD", "", -1) + countOps(ops, "ADD", "", -1) + countOps(ops, "DEL", "", -1)
		if searches != 1 || writes != 1 || countOps(ops, "MOD", tc.on, 0) != 1 {
			t.Errorf("%s: %d searches and %d writes (%+v), want one search and one write done on %s", tc.name, searches, writes, ops, tc.on)
		}
	}
}

// BenchmarkWrongResetCode shows what a wrong renewal code costs for each
// kind of reset id; compare the times of the sub-benchmarks.
func BenchmarkWrongResetCode(b *testing.B) {
	srv := slapdtest.Start(b)
	store := slapdtest.OpenStore(b, slapdtest.StoreConfig(srv, slapdtest.NewBase(b, srv)))
	mustStructure(b, store, testSIRET)
	mobile := mustPerson(b, store, directory.NewPerson{FirstName: "Mona", LastName: "Bench", Role: directory.RoleAdministrateur, SIRET: testSIRET, Mobile: "0612121212"})
	link := mustPerson(b, store, directory.NewPerson{FirstName: "Lina", LastName: "Bench", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	for _, bc := range []struct{ name, identifier string }{
		{"unknown identifier", "nobody.bench-px"},
		{"account without mobile", link.Identifier},
		{"account with a mobile", mobile.Identifier},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var start directory.ResetStart
			i := 0
			for b.Loop() {
				if i%4 == 0 { // a new request before the code is out of tries
					b.StopTimer()
					var err error
					if start, err = store.StartReset(ctx, bc.identifier); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				i++
				wrong := testkit.WrongCode(start.Code)
				if _, err := store.VerifyResetCode(ctx, start.Reset, wrong); !errors.Is(err, directory.ErrInvalidCode) {
					b.Fatal(err)
				}
			}
		})
	}
}
