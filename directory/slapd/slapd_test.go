package slapd_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

const suffix = "dc=apex,dc=test"

func start(t *testing.T, dir, listen, password string) *slapd.Server {
	t.Helper()
	if !slapd.Installed() {
		t.Fatalf("slapd is not installed: run `make deps`")
	}
	srv, err := slapd.Start(context.Background(), slapd.Config{Dir: dir, Suffix: suffix, Listen: listen, ServicePassword: password})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("slapd log:\n%s", srv.LogTail(4000))
		}
		srv.Stop()
	})
	return srv
}

func openStore(t *testing.T, srv *slapd.Server, password string) *directory.Store {
	t.Helper()
	store, err := directory.NewStore(context.Background(), directory.StoreConfig{
		URL: srv.URL, BaseDN: suffix, BindDN: srv.ServiceDN, BindPassword: password,
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(store.Close)
	return store
}

func TestStartLoadsSchemaAndBaseOnce(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, dir, "", "First-Password-2026!")
	if !strings.HasPrefix(srv.URL, "ldap://127.0.0.1:") {
		t.Errorf("URL = %s, want loopback", srv.URL)
	}
	store := openStore(t, srv, "First-Password-2026!")
	ctx := context.Background()
	if err := store.CheckSchema(ctx); err != nil {
		t.Fatalf("check schema: %v", err)
	}
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: "73282932000074", Name: "Gardée", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// The data outlives the process; a new service password takes effect.
	srv = start(t, dir, "", "Second-Password-2026!")
	store = openStore(t, srv, "Second-Password-2026!")
	if st, err := store.FindStructure(ctx, "73282932000074"); err != nil || st.Name != "Gardée" {
		t.Errorf("after restart: %+v, %v", st, err)
	}
	if _, err := directory.NewStore(ctx, directory.StoreConfig{URL: srv.URL, BaseDN: suffix, BindDN: srv.ServiceDN, BindPassword: "First-Password-2026!"}); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("old service password: %v, want ErrInvalidCredentials", err)
	}
}

func TestCheckSchemaRefusesAWrongBase(t *testing.T) {
	srv := start(t, t.TempDir(), "", "Service-Password-2026!")
	store, err := directory.NewStore(context.Background(), directory.StoreConfig{
		URL: srv.URL, BaseDN: "ou=missing," + suffix, SystemDN: "ou=system," + suffix, BindDN: srv.ServiceDN, BindPassword: "Service-Password-2026!",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CheckSchema(context.Background()); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("check schema on a missing base: %v, want ErrNotFound", err)
	}
}

// The management lists need slapd's sssvlv overlay: a server without it
// fails the start-up check, naming it, not the first list.
func TestCheckSchemaRefusesAServerWithoutSortedLists(t *testing.T) {
	srv := start(t, t.TempDir(), "", "Service-Password-2026!")
	store := openStore(t, srv, "Service-Password-2026!")
	ctx := context.Background()
	if err := store.CheckSchema(ctx); err != nil {
		t.Fatalf("check schema with sssvlv: %v", err)
	}
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.Del(ldap.NewDelRequest("olcOverlay={0}sssvlv,olcDatabase={1}mdb,cn=config", nil)); err != nil {
		t.Fatalf("remove sssvlv: %v", err)
	}
	// slapd removes an overlay once it has paused its threads, after the
	// delete has answered: wait until the root DSE no longer offers the
	// sort control (a condition, not a duration; the test's deadline bounds it).
	for offersSort(t, root) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := store.CheckSchema(ctx); !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), "sssvlv") {
		t.Errorf("check schema without sssvlv: %v, want ErrUnavailable naming sssvlv", err)
	}
}

// offersSort tells whether the root DSE lists the server-side sort control.
func offersSort(t *testing.T, c *ldap.Conn) bool {
	t.Helper()
	res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedControl"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("root DSE: %v", err)
	}
	return slices.Contains(res.Entries[0].GetAttributeValues("supportedControl"), "1.2.840.113556.1.4.473")
}

func TestRootIsReachedOnlyOverTheSocket(t *testing.T) {
	srv := start(t, t.TempDir(), "", "Service-Password-2026!")
	root, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	who, err := root.WhoAmI(nil)
	if err != nil || who.AuthzID != "dn:"+slapd.RootDN() {
		t.Errorf("whoami over ldapi = %+v, %v", who, err)
	}
	// The service password is hashed by slapd, with Argon2.
	res, err := root.Search(ldap.NewSearchRequest(srv.ServiceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"userPassword"}, nil))
	if err != nil || len(res.Entries) != 1 || !strings.HasPrefix(res.Entries[0].GetAttributeValue("userPassword"), "{ARGON2}$argon2") {
		t.Errorf("service password as stored: %v, %v", res, err)
	}
}

// After slapd dies and comes back, the store reconnects by itself.
func TestStoreReconnectsAfterSlapdRestart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, dir, "", "Service-Password-2026!")
	store := openStore(t, srv, "Service-Password-2026!")
	ctx := context.Background()
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: "73282932000074", Name: "S", Category: "C"}); err != nil {
		t.Fatal(err)
	}
	url := srv.URL
	srv.Kill()
	if _, err := store.FindStructure(ctx, "73282932000074"); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("while slapd is down: %v, want ErrUnavailable", err)
	}
	srv = start(t, dir, url, "Service-Password-2026!")
	if _, err := store.FindStructure(ctx, "73282932000074"); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

func TestStartFailsClearlyOnATakenPort(t *testing.T) {
	srv := start(t, t.TempDir(), "", "Service-Password-2026!")
	_, err := slapd.Start(context.Background(), slapd.Config{Dir: t.TempDir(), Suffix: suffix, Listen: srv.URL, ServicePassword: "x"})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("second slapd on %s: %v", srv.URL, err)
	}
	if _, err := os.Stat(srv.SocketPath()); err != nil {
		t.Errorf("the first slapd lost its socket: %v", err)
	}
}
