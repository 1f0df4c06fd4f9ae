package demo

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

const suffix = "dc=apex,dc=test"

// mustStore starts a private slapd in a temporary folder and opens a store
// on it as the service. Without slapd the test is skipped, but under CI,
// where it must be installed, it fails.
func mustStore(tb testing.TB) *directory.Store {
	tb.Helper()
	if !slapd.Installed() {
		tb.Fatal("slapd is not installed: run make deps")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const servicePassword = "service-test-password"
	server, err := slapd.Start(ctx, slapd.Config{Dir: tb.TempDir(), Suffix: suffix, ServicePassword: servicePassword})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("slapd log (%s):\n%s", server.LogPath(), server.LogTail(4000))
		}
		server.Stop()
	})
	store, err := directory.NewStore(ctx, directory.StoreConfig{
		URL:          server.URL,
		BaseDN:       suffix,
		BindDN:       server.ServiceDN,
		BindPassword: servicePassword,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(store.Close)
	return store
}

func TestLoadIsIdempotent(t *testing.T) {
	store := mustStore(t)
	ctx := context.Background()

	first, err := Load(ctx, store)
	if err != nil {
		t.Fatalf("first Load: %v", err)
	}
	if first.AlreadyLoaded {
		t.Error("first Load: AlreadyLoaded, want a fresh load")
	}
	second, err := Load(ctx, store)
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if !second.AlreadyLoaded {
		t.Error("second Load: want AlreadyLoaded")
	}

	wantIDs := []string{"agnes.dupont-px", "marie.martin-px", "cathy.noel-px", "sylvie.dalembert-px"}
	for name, acc := range map[string]Accounts{"first": first, "second": second} {
		var ids []string
		for _, p := range acc.Persons {
			ids = append(ids, p.Identifier)
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("%s Load: identifiers %v, want %v", name, ids, wantIDs)
		}
		if acc.ClientDN != "cn=demo-app,ou=clients,ou=system,"+suffix {
			t.Errorf("%s Load: client DN %q", name, acc.ClientDN)
		}
	}

	persons, err := store.ListPersons(ctx, directory.PersonFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(persons) != len(wantIDs) {
		t.Errorf("the directory holds %d persons after two loads, want %d", len(persons), len(wantIDs))
	}
	services, err := store.ListServices(ctx, "73282932000074")
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 2 {
		t.Errorf("services: %v, want 2", services)
	}
	members, err := store.ProfileMembers(ctx, "ficoba", "consultation")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"marie.martin-px", "sylvie.dalembert-px"}; !slices.Equal(members, want) {
		t.Errorf("ficoba/consultation members %v, want %v", members, want)
	}

	marie, ok := second.Find("marie.martin-px")
	if !ok || marie.Role != "administrateur" || !slices.Equal(marie.Habilitations, []string{"ficoba/consultation"}) {
		t.Errorf("marie.martin-px: %+v", marie)
	}
	cathy, _ := second.Find("cathy.noel-px")
	if cathy.Role != "responsable" || cathy.Service != "Comptabilité" {
		t.Errorf("cathy.noel-px: %+v", cathy)
	}
}

func TestDemoPasswordAuthenticates(t *testing.T) {
	store := mustStore(t)
	ctx := context.Background()
	if _, err := Load(ctx, store); err != nil {
		t.Fatal(err)
	}
	p, err := store.Authenticate(ctx, "marie.martin-px", Password)
	if err != nil {
		t.Fatalf("Authenticate(marie.martin-px, demo password): %v", err)
	}
	if p.Email != "marie.martin@etude-martin.example.fr" || p.Mobile != "+33612345678" || p.State != directory.StateActive {
		t.Errorf("marie.martin-px: %+v", p)
	}
	if _, err := store.Authenticate(ctx, "marie.martin-px", "Wrong-Password-26!"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("a wrong password: %v, want ErrInvalidCredentials", err)
	}
}

// The printed ldapwhoami recipe works for a person whose DN is not ASCII
// (Sylvie's service is « Comptabilité »), which ldapsearch writes in base64.
func TestWhoAmIRecipe(t *testing.T) {
	if !slapd.Installed() {
		t.Fatal("slapd is not installed: run make deps")
	}
	ctx := context.Background()
	const servicePassword = "service-test-password"
	server, err := slapd.Start(ctx, slapd.Config{Dir: t.TempDir(), Suffix: suffix, ServicePassword: servicePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Stop() })
	store, err := directory.NewStore(ctx, directory.StoreConfig{URL: server.URL, BaseDN: suffix, BindDN: server.ServiceDN, BindPassword: servicePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	acc, err := Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"marie.martin-px":     "dn:uid=marie.martin-px,ou=73282932000074,ou=structures," + suffix,
		"sylvie.dalembert-px": "dn:uid=sylvie.dalembert-px,ou=Comptabilité,ou=73282932000074,ou=structures," + suffix,
	} {
		out, err := exec.Command("sh", "-c", acc.whoami(server.URL, suffix, id)).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("%s: %v: %q, want %q", id, err, got, want)
		}
	}
	if got := acc.Examples(server.URL, suffix)[1]; got != acc.whoami(server.URL, suffix, "marie.martin-px") {
		t.Errorf("the printed example is not the recipe: %s", got)
	}
}
