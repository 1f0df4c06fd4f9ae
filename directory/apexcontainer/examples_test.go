package apexcontainer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/apexcontainer"
)

// The images under test: those of `make image` unless APEX_TEST_DIRECTORY_IMAGE and
// APEX_TEST_SERVICE_IMAGE name others.
var (
	ldapImage    = envOr("APEX_TEST_DIRECTORY_IMAGE", apexcontainer.DefaultImage)
	serviceImage = envOr("APEX_TEST_SERVICE_IMAGE", apexcontainer.DefaultServiceImage)
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	// Ryuk is an image from Docker Hub, which these machines cannot pull:
	// every container here is terminated by the test that starts it.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// Its lines (created, started, stopped…) for every container are noise here.
	tclog.SetDefault(tclog.NewNoopLogger())
	os.Exit(m.Run())
}

// A DGFiP application's test: a structure, a habilitated person, the
// application's bind account; the application finds the person by
// identifier, reads the profiles in memberOf, and checks the password by a
// bind.
func ExampleRun() {
	ctx := context.Background()
	dir, err := apexcontainer.Run(ctx, ldapImage,
		apexcontainer.WithStructure(apexcontainer.Structure{
			SIRET: "44306184100047", Name: "Étude Durand", Category: "Notaire", Services: []string{"Comptabilité"},
		}),
		apexcontainer.WithApplication("monappli", []string{"lecture", "ecriture"}, "Appli-Secret-2026!"),
		apexcontainer.WithPerson(apexcontainer.Person{
			FirstName: "Jeanne", LastName: "Durand", Email: "jeanne.durand@durand.example.fr",
			Role: directory.RoleCollaborateur, SIRET: "44306184100047", Service: "Comptabilité",
			Password: "Jeanne-Secret-2026!",
		}),
		apexcontainer.WithHabilitation("jeanne.durand-px", "monappli", "lecture"),
	)
	defer testcontainers.TerminateContainer(dir)
	if err != nil {
		log.Print(err)
		return
	}

	// What the application does, with any LDAP client.
	app, _ := dir.Application("monappli")
	conn, err := ldap.DialURL(dir.URL)
	if err != nil {
		log.Print(err)
		return
	}
	defer conn.Close()
	if err := conn.Bind(app.DN, app.Password); err != nil {
		log.Print(err)
		return
	}
	res, err := conn.Search(ldap.NewSearchRequest(dir.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=jeanne.durand-px)", []string{"displayName", "memberOf"}, nil))
	if err != nil {
		log.Print(err)
		return
	}
	person := res.Entries[0]
	fmt.Println(person.DN)
	fmt.Println(person.GetAttributeValue("displayName"))
	fmt.Println(person.GetAttributeValues("memberOf"))
	fmt.Println("password:", conn.Bind(person.DN, "Jeanne-Secret-2026!") == nil)
	fmt.Println("wrong password:", ldap.IsErrorWithCode(conn.Bind(person.DN, "Not-Her-Password-1!"), ldap.LDAPResultInvalidCredentials))
	// Output:
	// uid=jeanne.durand-px,ou=Comptabilité,ou=44306184100047,ou=structures,dc=apex,dc=dgfip,dc=gouv,dc=fr
	// Jeanne Durand
	// [cn=lecture,ou=monappli,ou=applications,dc=apex,dc=dgfip,dc=gouv,dc=fr]
	// password: true
	// wrong password: true
}

// The demonstration directory of `make run`, and the typed client to seed
// more during a test.
func ExampleRun_demo() {
	ctx := context.Background()
	dir, err := apexcontainer.Run(ctx, ldapImage, apexcontainer.WithDemo())
	defer testcontainers.TerminateContainer(dir)
	if err != nil {
		log.Print(err)
		return
	}
	for _, p := range dir.Demo().Persons {
		fmt.Println(p.Identifier, p.Role, p.Habilitations)
	}
	app, _ := dir.Application("demo-app")
	fmt.Println(app.DN)

	// One more person of the demo structure, habilitated to FICOBA.
	siret := dir.Demo().Structure.SIRET
	if err := dir.Seed(ctx,
		apexcontainer.WithPerson(apexcontainer.Person{FirstName: "Marie", LastName: "Martin", Email: "m.martin@etude-martin.example.fr",
			Role: directory.RoleCollaborateur, SIRET: siret, Service: "Ressources humaines"}),
		apexcontainer.WithHabilitation("marie.martin2-px", "ficoba", "gestion"),
	); err != nil {
		log.Print(err)
		return
	}
	p, err := dir.Store.FindPerson(ctx, "marie.martin2-px")
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Println(p.Identifier, p.Service, p.Habilitations)
	// Output:
	// agnes.dupont-px agent []
	// marie.martin-px administrateur [ficoba/consultation]
	// cathy.noel-px responsable []
	// sylvie.dalembert-px collaborateur [ficoba/consultation]
	// cn=demo-app,ou=clients,ou=system,dc=apex,dc=dgfip,dc=gouv,dc=fr
	// marie.martin2-px Ressources humaines [ficoba/gestion]
}

// apexd beside the directory: the sign-in of the API, its code read from
// the kit's SMTP sink.
func ExampleRunService() {
	ctx := context.Background()
	dir, err := apexcontainer.Run(ctx, ldapImage, apexcontainer.WithDemo())
	defer testcontainers.TerminateContainer(dir)
	if err != nil {
		log.Print(err)
		return
	}
	svc, err := apexcontainer.RunService(ctx, dir, serviceImage)
	defer testcontainers.TerminateContainer(svc)
	if err != nil {
		log.Print(err)
		return
	}

	var login struct{ Challenge string }
	if err := post(svc.URL+"/api/v1/auth/login", map[string]string{"identifier": "marie.martin-px", "password": dir.Demo().Password}, &login); err != nil {
		log.Print(err)
		return
	}
	code, err := svc.LastCode(ctx, "marie.martin@etude-martin.example.fr")
	if err != nil {
		log.Print(err)
		return
	}
	var verified struct {
		Account struct{ Identifier, Role string }
		Token   string
	}
	if err := post(svc.URL+"/api/v1/auth/verify", map[string]string{"challenge": login.Challenge, "code": code}, &verified); err != nil {
		log.Print(err)
		return
	}
	fmt.Println(verified.Account.Identifier, verified.Account.Role, verified.Token != "")
	// Output:
	// marie.martin-px administrateur true
}

func post(url string, body, out any) error {
	data, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(out)
}
