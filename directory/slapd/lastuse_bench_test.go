package slapd_test

import (
	"context"
	"fmt"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// What recording the last use of an account costs the binds of DGFiP
// applications, on the real slapd and its Argon2 hashes: binds per second
// of people, 8 clients, each bind on a new connection as an application
// makes it, each variant on a fresh slapd, with
//
//   - none: neither the lastbind overlay nor olcLastBind;
//   - olcLastBind: slapd's own pwdLastSuccess, which 2.5 writes at every
//     bind (2.5 has no precision for it): a synced write per bind;
//   - lastbind-first: the lastbind overlay as config.ldif.tmpl sets it
//     (lastbind-precision 3600), each bind an account's first of the
//     hour: a write each, its worst case;
//   - lastbind-again: the same, accounts bound again within the hour: no
//     write, the steady state of an application binding its users many
//     times a day.
//
// Each variant with the Argon2 hashes of people, and with {SSHA}, whose
// cheap check shows what the write alone costs.
//
// go test ./directory/slapd -run '^$' -bench BindLastUse -benchtime 1000x -count 3
func BenchmarkBindLastUse(b *testing.B) {
	argon2, err := slapd.HashPassword(context.Background(), benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	// {SSHA} makes the bind itself cheap, so that what the write costs shows.
	out, err := exec.Command("/usr/sbin/slappasswd", "-h", "{SSHA}", "-n", "-s", benchPassword).Output()
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range []struct{ name, hash string }{{"argon2", argon2}, {"ssha", string(out)}} {
		b.Run(h.name, func(b *testing.B) { benchLastUse(b, h.hash) })
	}
}

func benchLastUse(b *testing.B, hash string) {
	for _, v := range []struct {
		name              string
		overlay, lastBind bool
		again             bool
	}{
		{"none", false, false, false},
		{"olcLastBind", false, true, false},
		{"lastbind-first", true, false, false},
		{"lastbind-again", true, false, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			srv := slapdtest.Start(b)
			root, err := srv.DialRoot()
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()
			setLastUse(b, root, v.overlay, v.lastBind)
			dns := addBenchPeople(b, root, srv.Suffix, b.N, hash)
			if v.again {
				for _, dn := range dns[:200] {
					if err := bindOnce(srv.URL, dn); err != nil {
						b.Fatal(err)
					}
				}
			}
			var next atomic.Int64
			b.ResetTimer()
			b.SetParallelism(4) // 8 clients on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if v.again {
						i %= 200 // bound already, within the hour
					}
					if err := bindOnce(srv.URL, dns[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "binds/s")
			checkLastUse(b, root, dns[0], v.overlay, v.lastBind)
		})
	}
}

const benchPassword = "Bench-Last-Use-2026!"

func bindOnce(url, dn string) error {
	c, err := ldap.DialURL(url)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(dn, benchPassword)
}

// addBenchPeople adds n active people with a pre-hashed password, as the
// root (which may store a hash), and returns their DNs.
func addBenchPeople(b *testing.B, root *ldap.Conn, suffix string, n int, hash string) []string {
	b.Helper()
	n = max(n, 200)
	base := "ou=bench," + suffix
	req := ldap.NewAddRequest(base, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	req.Attribute("ou", []string{"bench"})
	if err := root.Add(req); err != nil {
		b.Fatal(err)
	}
	dns := make([]string, n)
	for i := range dns {
		dns[i] = fmt.Sprintf("uid=bench%d,%s", i, base)
		req := ldap.NewAddRequest(dns[i], nil)
		req.Attribute("objectClass", []string{"inetOrgPerson", "apexPerson"})
		req.Attribute("uid", []string{fmt.Sprintf("bench%d", i)})
		req.Attribute("cn", []string{"Bench"})
		req.Attribute("sn", []string{"Bench"})
		req.Attribute("apexRole", []string{"collaborateur"})
		req.Attribute("apexAccountState", []string{"active"})
		req.Attribute("userPassword", []string{hash})
		if err := root.Add(req); err != nil {
			b.Fatal(err)
		}
	}
	return dns
}

// setLastUse sets the lastbind overlay and olcLastBind in the cn=config of
// a slapd that has served no bind yet. (Switching them while binds were
// served crashed slapd 2.5.13: "malloc(): unaligned fastbin chunk".)
func setLastUse(b *testing.B, root *ldap.Conn, overlay, lastBind bool) {
	b.Helper()
	if !overlay {
		mod := ldap.NewModifyRequest("olcOverlay={6}lastbind,olcDatabase={1}mdb,cn=config", nil)
		mod.Replace("olcDisabled", []string{"TRUE"})
		if err := root.Modify(mod); err != nil {
			b.Fatalf("lastbind overlay: %v", err)
		}
	}
	if lastBind {
		mod := ldap.NewModifyRequest("olcDatabase={1}mdb,cn=config", nil)
		mod.Replace("olcLastBind", []string{"TRUE"})
		if err := root.Modify(mod); err != nil {
			b.Fatalf("olcLastBind: %v", err)
		}
	}
}

// checkLastUse makes sure the variant recorded what it should: a benchmark
// of a setting that did nothing would measure nothing.
func checkLastUse(b *testing.B, root *ldap.Conn, dn string, overlay, lastBind bool) {
	b.Helper()
	res, err := root.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"authTimestamp", "pwdLastSuccess"}, nil))
	if err != nil || len(res.Entries) != 1 {
		b.Fatalf("read %s: %v", dn, err)
	}
	e := res.Entries[0]
	if got := e.GetAttributeValue("authTimestamp") != ""; got != overlay {
		b.Errorf("authTimestamp recorded: %v, want %v", got, overlay)
	}
	if got := e.GetAttributeValue("pwdLastSuccess") != ""; got != lastBind {
		b.Errorf("pwdLastSuccess recorded: %v, want %v", got, lastBind)
	}
}
