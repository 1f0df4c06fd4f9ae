package apexcontainer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/testcontainers/testcontainers-go"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/apexcontainer"
)

// The recipes of docs/containers.md, tried as a DGFiP application team
// would: Apache httpd's mod_authnz_ldap and Node's ldapts and
// ldapauth-fork against the directory image, each person let in or kept
// out as they should be.

const (
	recipeSIRET    = "44306184100047"
	recipeApp      = "monappli"
	recipeProfile  = "lecture"
	recipeSecret   = "Appli-Secret-2026!"
	recipePassword = "Recette-Pass-2026!"
)

// recipeDirectory runs a directory seeded with one person of each kind:
// habilitated (jeanne), not habilitated (paul), habilitated but locked by
// ppolicy after wrong passwords (lucie), habilitated in a service whose
// name has accents (elodie), habilitated but disabled (denis), and
// habilitated until the test revokes it (marc).
func recipeDirectory(t *testing.T) *apexcontainer.Container {
	t.Helper()
	ctx := context.Background()
	person := func(first, last, service string, state directory.AccountState) apexcontainer.Option {
		return apexcontainer.WithPerson(apexcontainer.Person{
			FirstName: first, LastName: last, Email: strings.ToLower(first[len(first)-3:]+last[:2]) + "@durand.example.fr",
			Role: directory.RoleCollaborateur, SIRET: recipeSIRET, Service: service, Password: recipePassword, State: state,
		})
	}
	opts := []testcontainers.ContainerCustomizer{
		apexcontainer.WithStructure(apexcontainer.Structure{SIRET: recipeSIRET, Name: "Étude Durand", Category: "Notaire",
			Services: []string{"Accueil", "Comptabilité & Élections"}}),
		apexcontainer.WithApplication(recipeApp, []string{recipeProfile, "gestion"}, recipeSecret),
		person("Jeanne", "Durand", "Accueil", ""),
		person("Paul", "Martin", "Accueil", ""),
		person("Lucie", "Bernard", "Accueil", ""),
		person("Élodie", "Noël", "Comptabilité & Élections", ""),
		person("Denis", "Leroy", "Accueil", directory.StateDisabled),
		person("Marc", "Petit", "Accueil", ""),
	}
	for _, id := range []string{"jeanne.durand-px", "lucie.bernard-px", "elodie.noel-px", "denis.leroy-px", "marc.petit-px"} {
		opts = append(opts, apexcontainer.WithHabilitation(id, recipeApp, recipeProfile))
	}
	dir, err := apexcontainer.Run(ctx, ldapImage, opts...)
	testcontainers.CleanupContainer(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	// ppolicy locks Lucie after 10 wrong passwords, as a guesser would.
	dn, err := dir.PersonDN(ctx, "lucie.bernard-px")
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		conn, err := ldap.DialURL(dir.URL)
		if err != nil {
			t.Fatal(err)
		}
		err = conn.Bind(dn, "Wrong-Guess-2026!")
		conn.Close()
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("a wrong password: %v", err)
		}
	}
	return dir
}

// people are the recipes' cases: who is let in.
var people = []struct {
	identifier string
	password   string
	in         bool
}{
	{"jeanne.durand-px", recipePassword, true},
	{"elodie.noel-px", recipePassword, true},
	{"paul.martin-px", recipePassword, false},   // not habilitated
	{"lucie.bernard-px", recipePassword, false}, // locked
	{"denis.leroy-px", recipePassword, false},   // disabled
	{"jeanne.durand-px", "Not-Her-Pass-2026!", false},
	{"nobody.here-px", recipePassword, false},
}

// Apache httpd 2.4 (Debian's apache2-bin) with mod_authnz_ldap: Basic
// authentication, the person found by uid with the application's bind
// account, the password checked by a bind, the profile checked by
// `Require ldap-group` (a compare of the profile's member), and the LDAP
// caches off so that a lock or a withdrawn habilitation counts at once.
func TestRecipeApache(t *testing.T) {
	t.Parallel()
	const binary = "/usr/sbin/apache2"
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("Apache httpd is not installed (%s): run `make deps` (Debian package apache2-bin)", binary)
	}
	dir := recipeDirectory(t)
	app, _ := dir.Application(recipeApp)
	profile := "cn=" + recipeProfile + ",ou=" + recipeApp + ",ou=applications," + dir.BaseDN

	// Apache's workers run as www-data: the folder must be theirs to read.
	root, err := os.MkdirTemp("", "apex-apache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "htdocs", "appli"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "htdocs", "memberof"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"appli", "memberof"} {
		if err := os.WriteFile(filepath.Join(root, "htdocs", d, "index.html"), []byte("bienvenue\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	search := dir.URL + "/ou=structures," + dir.BaseDN + "?uid?sub?(objectClass=apexPerson)"
	conf := fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s
ErrorLog %[1]s/error.log
LogLevel warn authnz_ldap:info
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule auth_basic_module /usr/lib/apache2/modules/mod_auth_basic.so
LoadModule ldap_module /usr/lib/apache2/modules/mod_ldap.so
LoadModule authnz_ldap_module /usr/lib/apache2/modules/mod_authnz_ldap.so
DocumentRoot %[1]s/htdocs
<Directory />
	AllowOverride None
</Directory>

# mod_ldap caches searches, binds and compares for 10 minutes by default:
# a person locked, disabled or de-habilitated would stay in that long.
LDAPCacheEntries 0
LDAPOpCacheEntries 0

<Location /appli/>
	AuthType Basic
	AuthName "Mon appli"
	AuthBasicProvider ldap
	AuthLDAPURL "%[3]s"
	AuthLDAPBindDN "%[4]s"
	AuthLDAPBindPassword "%[5]s"
	AuthLDAPGroupAttribute member
	AuthLDAPGroupAttributeIsDN on
	Require ldap-group %[6]s
</Location>

# What fails, kept to show it: memberOf is computed by dynlist for
# searches, and slapd answers 16 to a compare on it.
<Location /memberof/>
	AuthType Basic
	AuthName "Mon appli"
	AuthBasicProvider ldap
	AuthLDAPURL "%[3]s"
	AuthLDAPBindDN "%[4]s"
	AuthLDAPBindPassword "%[5]s"
	Require ldap-attribute memberOf="%[6]s"
</Location>
`, root, port, search, app.DN, app.Password, profile)
	confPath := filepath.Join(root, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-f", confPath, "-DFOREGROUND")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // graceful-stop is WINCH; INT stops at once
		cmd.Wait()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(root, "error.log")); err == nil {
				t.Logf("Apache's error.log:\n%s", log)
			}
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/")

	get := func(path, user, password string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.SetBasicAuth(user, password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, p := range people {
		want := http.StatusUnauthorized
		if p.in {
			want = http.StatusOK
		}
		if got := get("/appli/index.html", p.identifier, p.password); got != want {
			t.Errorf("%s (password %v): %d, want %d", p.identifier, p.password == recipePassword, got, want)
		}
	}
	if got := get("/memberof/index.html", "jeanne.durand-px", recipePassword); got == http.StatusOK {
		t.Errorf("Require ldap-attribute memberOf let a person in: slapd compares memberOf now; update docs/containers.md")
	}

	// Let in, then the habilitation withdrawn: out at the next request.
	if got := get("/appli/index.html", "marc.petit-px", recipePassword); got != http.StatusOK {
		t.Fatalf("marc.petit-px while habilitated: %d", got)
	}
	if err := dir.Store.RemoveHabilitation(context.Background(), "marc.petit-px", recipeApp, recipeProfile); err != nil {
		t.Fatal(err)
	}
	if got := get("/appli/index.html", "marc.petit-px", recipePassword); got != http.StatusUnauthorized {
		t.Errorf("marc.petit-px once de-habilitated: %d, want 401", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP waits until url answers, whatever its status.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Node: ldapts (search by uid with the application's account, bind as the
// person, memberOf), and ldapauth-fork with groupDnProperty 'entryDN'
// (pinned in package-lock.json; `make deps` installs them).
func TestRecipeNode(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run `make deps`")
	}
	if _, err := os.Stat("../../node_modules/ldapts/package.json"); err != nil {
		t.Fatal("ldapts is not installed: run `make deps` (npm ci)")
	}
	dir := recipeDirectory(t)
	app, _ := dir.Application(recipeApp)
	type person struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}
	input := struct {
		URL          string   `json:"url"`
		Base         string   `json:"base"`
		BindDN       string   `json:"bindDN"`
		BindPassword string   `json:"bindPassword"`
		Profile      string   `json:"profile"`
		People       []person `json:"people"`
	}{dir.URL, dir.BaseDN, app.DN, app.Password, "cn=" + recipeProfile + ",ou=" + recipeApp + ",ou=applications," + dir.BaseDN, nil}
	for _, p := range people {
		input.People = append(input.People, person{p.identifier, p.password})
	}
	data, _ := json.Marshal(input)
	cmd := exec.Command(node, "testdata/recipe.mjs")
	cmd.Env = append(os.Environ(), "APEX_RECIPE="+string(data))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got map[string]struct{ Ldapts, Ldapauth, LdapauthDefault bool }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node's output %q: %v", out, err)
	}
	for _, p := range people {
		r, ok := got[p.identifier+" "+p.password]
		if !ok {
			t.Fatalf("no result for %s", p.identifier)
		}
		if r.Ldapts != p.in || r.Ldapauth != p.in {
			t.Errorf("%s (password %v): ldapts %v, ldapauth-fork %v; want %v", p.identifier, p.password == recipePassword, r.Ldapts, r.Ldapauth, p.in)
		}
	}
	// The pitfall the recipe avoids, kept to show it.
	if got["elodie.noel-px "+recipePassword].LdapauthDefault {
		t.Errorf("ldapauth-fork's default groupDnProperty now finds the groups of a DN with accents: update docs/containers.md")
	}
}
