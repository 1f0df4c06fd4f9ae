package slapd_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

const personPassword = "Replica-Pass-2026!"

var siretSeq atomic.Int64

// nextSIRET returns a SIRET not used yet in this test binary.
func nextSIRET() string {
	for {
		s := fmt.Sprintf("732829320%05d", siretSeq.Add(1))
		if directory.CheckSIRET(s) == nil {
			return s
		}
	}
}

// eventually retries check until it returns nil, for at most 30 s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dump reads every entry of srv with every attribute, operational ones
// included, as the manager: one line per DN, values sorted.
func dump(srv *slapd.Server) (map[string]string, error) {
	conn, err := srv.DialRoot()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*", "+"}, nil), 1000)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(res.Entries))
	for _, e := range res.Entries {
		var attrs []string
		for _, a := range e.Attributes {
			vals := slices.Clone(a.Values)
			slices.Sort(vals)
			attrs = append(attrs, a.Name+"="+strings.Join(vals, "|"))
		}
		slices.Sort(attrs)
		out[strings.ToLower(e.DN)] = strings.Join(attrs, "\n")
	}
	return out, nil
}

// converged reports nil once both servers hold the same entries, attribute
// for attribute, and the same contextCSN.
func converged(a, b *slapd.Server) error {
	da, err := dump(a)
	if err != nil {
		return err
	}
	db, err := dump(b)
	if err != nil {
		return err
	}
	if len(da) != len(db) {
		return fmt.Errorf("%d entries on one, %d on the other", len(da), len(db))
	}
	for dn, attrs := range da {
		if db[dn] != attrs {
			return fmt.Errorf("%s differs:\n%s\n--- and ---\n%s", dn, attrs, db[dn])
		}
	}
	ca, cb := contextCSN(da[strings.ToLower(a.Suffix)]), contextCSN(db[strings.ToLower(b.Suffix)])
	if ca == "" || ca != cb {
		return fmt.Errorf("contextCSN %q and %q", ca, cb)
	}
	return nil
}

func contextCSN(attrs string) string {
	for _, line := range strings.Split(attrs, "\n") {
		if v, ok := strings.CutPrefix(line, "contextCSN="); ok {
			return v
		}
	}
	return ""
}

// storedMemberOf counts the entries that hold memberOf in the database
// itself: with manageDSAit, dynlist computes nothing.
func storedMemberOf(t *testing.T, srv *slapd.Server) int {
	t.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(memberOf=*)", []string{"1.1"}, []ldap.Control{ldap.NewControlManageDsaIT(true)}))
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Entries)
}

func clusterStore(t *testing.T, base string, servers ...*slapd.Server) *directory.Store {
	t.Helper()
	cfg := slapdtest.StoreConfig(servers[0], base)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URL)
	}
	cfg.URL = strings.Join(urls, " ")
	cfg.Timeout = 5 * time.Second
	return slapdtest.OpenStore(t, cfg)
}

func TestReplicationWritesThroughOneReadsThroughTheOther(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	servers := slapdtest.StartCluster(t, 2)
	a, b := servers[0], servers[1]
	base := slapdtest.NewBase(t, a)
	storeA := clusterStore(t, base, a)
	eventually(t, "the test tree on B", func() error { return clusterStore(t, base, b).CheckSchema(ctx) })
	storeB := clusterStore(t, base, b)

	siret := nextSIRET()
	if err := storeA.CreateStructure(ctx, directory.Structure{SIRET: siret, Name: "Étude Réplique", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	if err := storeA.CreateService(ctx, directory.Service{SIRET: siret, Name: "Compta"}); err != nil {
		t.Fatal(err)
	}
	p, err := storeA.CreatePerson(ctx, directory.NewPerson{FirstName: "Rémi", LastName: "Réplique", Email: "remi.replique@example.fr",
		Role: directory.RoleCollaborateur, State: directory.StateActive, SIRET: siret, Service: "Compta"}, personPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := storeA.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	if err := storeA.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}

	// Written through A, read through B: the account, its habilitation
	// (memberOf), its password (a bind on B).
	eventually(t, "the habilitation on B", func() error {
		got, err := storeB.FindPerson(ctx, p.Identifier)
		if err != nil {
			return err
		}
		if !got.HasProfile("ficoba", "consultation") {
			return errors.New("no habilitation yet")
		}
		return nil
	})
	if _, err := storeB.Authenticate(ctx, p.Identifier, personPassword); err != nil {
		t.Errorf("bind through B with the password set through A: %v", err)
	}
	// The bind's last use, written by B's lastbind overlay, reaches A: the
	// dormancy job reads the same last use whichever provider it reads.
	eventually(t, "the last use on A", func() error {
		got, err := storeA.FindPerson(ctx, p.Identifier)
		if err != nil {
			return err
		}
		if got.LastSignIn.IsZero() {
			return errors.New("no last use yet")
		}
		return nil
	})

	// Written through B, read through A: a service rename moves the account
	// and refint moves its habilitation.
	if err := storeB.RenameService(ctx, siret, "Compta", "Comptabilité"); err != nil {
		t.Fatal(err)
	}
	if got, err := storeB.FindPerson(ctx, p.Identifier); err != nil || !got.HasProfile("ficoba", "consultation") {
		t.Errorf("on B after the rename: %+v, %v", got, err)
	}
	eventually(t, "the rename on A", func() error {
		got, err := storeA.FindPerson(ctx, p.Identifier)
		if err != nil {
			return err
		}
		if got.Service != "Comptabilité" || !got.HasProfile("ficoba", "consultation") {
			return fmt.Errorf("%s %v", got.Service, got.Habilitations)
		}
		return nil
	})

	// Deleted through A: no dangling member on B.
	if err := storeA.DeletePerson(ctx, p.Identifier); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the profile emptied on B", func() error {
		members, err := storeB.ProfileMembers(ctx, "ficoba", "consultation")
		if err != nil {
			return err
		}
		if len(members) != 0 {
			return fmt.Errorf("members %v", members)
		}
		return nil
	})
	eventually(t, "convergence", func() error { return converged(a, b) })
	for _, srv := range servers {
		if n := storedMemberOf(t, srv); n != 0 {
			t.Errorf("%s stores memberOf in %d entries; dynlist should compute it", srv.URL, n)
		}
	}
}

func TestReplicationSurvivesAProviderKilledUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	servers := slapdtest.StartCluster(t, 2)
	a, b := servers[0], servers[1]
	base := slapdtest.NewBase(t, a)
	eventually(t, "the test tree on B", func() error { return clusterStore(t, base, b).CheckSchema(ctx) })
	// One store per provider, each with the other one to fail over to.
	stores := []*directory.Store{clusterStore(t, base, a, b), clusterStore(t, base, b, a)}

	var (
		mu       sync.Mutex
		written  = map[string]bool{} // SIRETs whose creation was answered success
		phase    atomic.Int32        // 0 before the kill, 1 while A is down, 2 after its restart
		perPhase [3][2]atomic.Int64  // successes per phase and writer
		lost     atomic.Int64        // writes answered ErrUnavailable
		wg       sync.WaitGroup
	)
	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	for w, store := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				siret := nextSIRET()
				ph := phase.Load()
				err := store.CreateStructure(loadCtx, directory.Structure{SIRET: siret, Name: "Charge " + siret, Category: "Notaire"})
				switch {
				case err == nil:
					mu.Lock()
					written[siret] = true
					mu.Unlock()
					perPhase[ph][w].Add(1)
				case loadCtx.Err() != nil:
				case errors.Is(err, directory.ErrUnavailable):
					lost.Add(1) // cut by the kill: applied or not, nobody was told it was
				default:
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	waitFor := func(what string, ph int32, n int64) {
		t.Helper()
		eventually(t, what, func() error {
			if x, y := perPhase[ph][0].Load(), perPhase[ph][1].Load(); x < n || y < n {
				return fmt.Errorf("%d and %d writes", x, y)
			}
			return nil
		})
	}

	waitFor("writes before the kill", 0, 50)
	a.Kill()
	phase.Store(1)
	// Both writers carry on through B: the one that wrote to A fails over.
	waitFor("writes while A is down", 1, 50)
	a = slapdtest.Restart(t, a)
	phase.Store(2)
	waitFor("writes after A is back", 2, 50)
	stop()
	wg.Wait()

	// A accepts writes again, and B gets them.
	storeA := clusterStore(t, base, a)
	last := nextSIRET()
	if err := storeA.CreateStructure(ctx, directory.Structure{SIRET: last, Name: "Après", Category: "Notaire"}); err != nil {
		t.Fatalf("write through A after its restart: %v", err)
	}
	written[last] = true

	began := time.Now()
	eventually(t, "convergence", func() error { return converged(a, b) })
	t.Logf("converged %s after the last write", time.Since(began).Round(time.Millisecond))
	for _, srv := range []*slapd.Server{a, b} {
		got := sirets(t, srv, base)
		for s := range written {
			if !got[s] {
				t.Errorf("%s lacks structure %s, whose creation succeeded", srv.URL, s)
			}
		}
	}
	var counts []int64
	for ph := range perPhase {
		counts = append(counts, perPhase[ph][0].Load(), perPhase[ph][1].Load())
	}
	t.Logf("%d structures written (per phase and writer: %v), %d writes cut by the kill", len(written), counts, lost.Load())
}

// sirets lists the structures under base in srv.
func sirets(t *testing.T, srv *slapd.Server, base string) map[string]bool {
	t.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest("ou=structures,"+base, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=apexStructure)", []string{"apexSiret"}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range res.Entries {
		out[e.GetAttributeValue("apexSiret")] = true
	}
	return out
}

// A backup taken with slapcat from a running provider, restored with
// slapadd into a fresh folder, gives the same directory: entries, password
// hashes, habilitations.
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := slapdtest.Start(t)
	base := slapdtest.NewBase(t, src)
	store := clusterStore(t, base, src)
	siret := nextSIRET()
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: siret, Name: "Sauvegarde", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	p, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: "Sophie", LastName: "Sauvegarde", Email: "sophie@example.fr",
		Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: siret}, personPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(t.TempDir(), "backup.ldif")
	if err := src.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := slapd.Config{Dir: dir, Suffix: slapdtest.Suffix, ServicePassword: slapdtest.ServicePassword}
	if err := slapd.Restore(ctx, cfg, backup); err != nil {
		t.Fatal(err)
	}
	if err := slapd.Restore(ctx, cfg, backup); err == nil {
		t.Error("a second restore into the same folder must be refused")
	}
	restored, err := slapd.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Stop() })

	before, err := dump(src)
	if err != nil {
		t.Fatal(err)
	}
	after, err := dump(restored)
	if err != nil {
		t.Fatal(err)
	}
	// Start sets the service account's password again (a new hash): that
	// entry and the suffix's contextCSN are the only ones that may differ.
	for _, dn := range []string{src.ServiceDN, src.Suffix} {
		delete(before, strings.ToLower(dn))
		delete(after, strings.ToLower(dn))
	}
	if !maps.Equal(before, after) {
		for dn, attrs := range before {
			if after[dn] != attrs {
				t.Errorf("%s differs after the restore:\n%s\n--- restored ---\n%s", dn, attrs, after[dn])
			}
		}
		t.Errorf("%d entries before, %d after", len(before), len(after))
	}
	again := clusterStore(t, base, restored)
	got, err := again.Authenticate(ctx, p.Identifier, personPassword)
	if err != nil || !got.HasProfile("ficoba", "consultation") {
		t.Errorf("sign-in on the restored directory: %+v, %v", got, err)
	}
	if info, err := os.Stat(backup); err != nil || info.Size() == 0 {
		t.Errorf("backup file: %v", err)
	}
}
