// Package apexcontainer runs the APEX Partenaires directory in a container
// for the tests of DGFiP applications: a real OpenLDAP with APEX's exact
// schema, ACLs, password policies and tree, seeded with the structures,
// people, applications and habilitations a test needs, without installing
// slapd. It follows the modules of testcontainers-go:
//
//	dir, err := apexcontainer.Run(ctx, "apex-ldap:local",
//		apexcontainer.WithStructure(apexcontainer.Structure{SIRET: "44306184100047", Name: "Étude Durand", Category: "Notaire", Services: []string{"Comptabilité"}}),
//		apexcontainer.WithApplication("monappli", []string{"lecture"}, "Appli-Secret-2026!"),
//		apexcontainer.WithPerson(apexcontainer.Person{FirstName: "Jeanne", LastName: "Durand", Email: "jeanne@durand.example.fr",
//			Role: directory.RoleCollaborateur, SIRET: "44306184100047", Service: "Comptabilité", Password: "Jeanne-Secret-2026!"}),
//		apexcontainer.WithHabilitation("jeanne.durand-px", "monappli", "lecture"),
//	)
//	testcontainers.CleanupContainer(t, dir)
//
// The application then binds as dir.Application("monappli") at dir.URL,
// finds people by uid under dir.BaseDN, binds as them with their password,
// and reads their profiles in memberOf (cn=lecture,ou=monappli,ou=applications,<base>).
// dir.Store is a typed client of the directory, bound as the APEX service,
// to seed more during a test (or dir.Seed with the same options).
//
// RunService runs apexd, the APEX service, beside the directory, with an
// SMTP sink of the kit that catches its mails: Service.LastCode reads the
// sign-in code mailed to an address.
//
// # The images
//
// `make image` in the APEX repository builds apex-ldap:local (the
// directory) and apexd:local. Both run with the host's network: the kit
// picks free ports on 127.0.0.1, so nothing is mapped and no bridge is
// needed.
//
// # Ryuk
//
// testcontainers-go's reaper, Ryuk, is an image from Docker Hub. Where no
// registry is reachable, run the tests with TESTCONTAINERS_RYUK_DISABLED=true
// and terminate every container yourself, as above with
// testcontainers.CleanupContainer(t, c), or testcontainers.TerminateContainer(c).
//
// # Managing the directory as root
//
// WithDataDir puts the directory's data on a folder of the host: slapd's
// log (slapd.log) and its ldapi socket are there. A process running as root
// on the host is the directory's manager over that socket (SASL EXTERNAL):
// slapd runs as root in the container, and peer credentials cross the
// container's boundary unchanged without user namespaces.
package apexcontainer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/dgfip/apex-partenaires/directory"
)

// The images that `make image` builds.
const (
	DefaultImage        = "apex-ldap:local"
	DefaultServiceImage = "apexd:local"
)

// DefaultBaseDN is the directory's suffix unless WithBaseDN says otherwise.
const DefaultBaseDN = "dc=apex,dc=dgfip,dc=gouv,dc=fr"

// DefaultPassword is the password of people seeded without one. It obeys
// the APEX rules (12 to 20 characters, upper and lower case, 2 digits, a
// special character).
const DefaultPassword = "Apex-Test-2026!"

// DataPath is where the image keeps the directory's data, a volume.
const DataPath = "/var/lib/apex-ldap"

// readyLine starts the line apexldap (cmd/apexldap) prints once the
// directory answers.
const readyLine = "Annuaire APEX prêt"

// Credentials are a bind account: a DN and its password.
type Credentials struct {
	DN       string
	Password string
}

// Container is a running APEX directory, seeded.
type Container struct {
	testcontainers.Container

	URL     string      // ldap://127.0.0.1:PORT, on the host's loopback
	BaseDN  string      // the suffix: ou=structures, ou=applications, ou=agents, ou=system are under it
	Service Credentials // the APEX service's bind account (cn=apexd,ou=system,<base>)
	DataDir string      // the host folder of WithDataDir; empty without it

	// Store is a typed client of the directory, bound as the service:
	// structures, services, people, applications, habilitations. It is
	// closed when the container is terminated.
	Store *directory.Store

	apps    map[string]Credentials
	persons []directory.Person
	demo    *Demo
}

// Structure is a partner organisation and its services.
type Structure struct {
	SIRET    string // 14 digits with a valid Luhn key
	Name     string
	Category string // e.g. "Notaire"
	Services []string
}

// Person is an account to seed, active unless State says otherwise, and
// given its identifier by the directory (prenom.nom-px; a homonym gets
// prenom.nom2-px).
type Person struct {
	FirstName string
	LastName  string
	Email     string // unique within its structure (or among agents)
	Mobile    string // optional, French or E.164
	Role      directory.Role
	SIRET     string // the structure; empty for agents
	Service   string // for responsables and collaborateurs
	Password  string // DefaultPassword when empty
	// State is StateActive when empty; another state leaves an account
	// that exists but cannot bind (disabled, say), as the service would.
	State directory.AccountState
}

type application struct {
	id       string
	profiles []string
	password string
}

type habilitation struct{ identifier, application, profile string }

type settings struct {
	demo            bool
	baseDN          string
	servicePassword string
	dataDir         string
	logLevel        string
	structures      []Structure
	applications    []application
	persons         []Person
	habilitations   []habilitation
}

// Option configures the directory and what it is seeded with. Options are
// testcontainers.ContainerCustomizer too, so they mix with
// testcontainers-go's own (testcontainers.WithEnv, WithLogConsumers…).
type Option func(*settings) error

// Customize is a no-op: an Option acts on the kit, not on the request.
func (o Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

var _ testcontainers.ContainerCustomizer = Option(nil)

// WithDemo loads the demonstration directory of `make run` (one notarial
// office, its accounts, the FICOBA application, the demo-app bind
// account): Container.Demo describes it.
func WithDemo() Option {
	return func(s *settings) error { s.demo = true; return nil }
}

// WithStructure adds a structure and its services.
func WithStructure(st Structure) Option {
	return func(s *settings) error { s.structures = append(s.structures, st); return nil }
}

// WithPerson adds an account, after the structures and applications.
func WithPerson(p Person) Option {
	return func(s *settings) error { s.persons = append(s.persons, p); return nil }
}

// WithApplication declares a DGFiP application (id: lower-case letters,
// digits, hyphens), its profiles, and its bind account cn=<id>,ou=clients,
// ou=system,<base> with password, which must obey the APEX password rules;
// an empty password gives no bind account.
func WithApplication(id string, profiles []string, password string) Option {
	return func(s *settings) error {
		s.applications = append(s.applications, application{id, slices.Clone(profiles), password})
		return nil
	}
}

// WithHabilitation gives a person, by identifier, a profile of an
// application: the person's memberOf then lists the profile. Habilitations
// come last, after every person.
func WithHabilitation(identifier, application, profile string) Option {
	return func(s *settings) error {
		s.habilitations = append(s.habilitations, habilitation{identifier, application, profile})
		return nil
	}
}

// WithBaseDN sets the suffix, made of dc= components (DefaultBaseDN).
func WithBaseDN(dn string) Option {
	return func(s *settings) error { s.baseDN = dn; return nil }
}

// WithServicePassword sets the service account's password; without it, a
// random one (Container.Service).
func WithServicePassword(password string) Option {
	return func(s *settings) error { s.servicePassword = password; return nil }
}

// WithDataDir keeps the directory's data in dir on the host instead of a
// volume of the container: slapd.log and the ldapi socket are there (see
// the package comment). The folder outlives the container: another Run on
// it finds the same directory.
func WithDataDir(dir string) Option {
	return func(s *settings) error { s.dataDir = dir; return nil }
}

// WithLogLevel sets slapd's log level ("stats" by default; "none", "acl"…).
func WithLogLevel(level string) Option {
	return func(s *settings) error { s.logLevel = level; return nil }
}

// Run starts the directory image img (DefaultImage for the one `make
// image` builds), waits until it answers, opens Container.Store and seeds
// it. On an error after the container started, the container is returned
// too, for testcontainers.CleanupContainer to terminate.
func Run(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	s := settings{baseDN: DefaultBaseDN, logLevel: "stats"}
	for _, opt := range opts {
		if o, ok := opt.(Option); ok {
			if err := o(&s); err != nil {
				return nil, fmt.Errorf("apexcontainer: %w", err)
			}
		}
	}
	if s.servicePassword == "" {
		s.servicePassword = randomPassword()
	}
	var c *Container
	var err error
	// A free port picked here can be taken before slapd binds it: another.
	for attempt := 0; attempt < 3; attempt++ {
		c, err = start(ctx, img, s, opts)
		if err == nil || c == nil || ctx.Err() != nil {
			break
		}
		if state, serr := c.State(ctx); serr != nil || state.Running {
			break
		}
		testcontainers.TerminateContainer(c.Container)
		c = nil
	}
	if err != nil {
		return c, err
	}
	if c.Store, err = directory.NewStore(ctx, directory.StoreConfig{
		URL: c.URL, BaseDN: c.BaseDN, BindDN: c.Service.DN, BindPassword: c.Service.Password, PoolSize: 4,
	}); err != nil {
		return c, fmt.Errorf("apexcontainer: open the store: %w", err)
	}
	if s.demo {
		if err := c.readDemo(ctx); err != nil {
			return c, err
		}
	}
	if err := c.seed(ctx, s); err != nil {
		return c, err
	}
	return c, nil
}

func start(ctx context.Context, img string, s settings, opts []testcontainers.ContainerCustomizer) (*Container, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("apexcontainer: %w", err)
	}
	ldapURL := "ldap://127.0.0.1:" + strconv.Itoa(port)
	env := map[string]string{
		"APEX_LDAP_EMBEDDED_DIR":    DataPath,
		"APEX_LDAP_EMBEDDED_LISTEN": ldapURL,
		"APEX_LDAP_BASE_DN":         s.baseDN,
		"APEX_LDAP_BIND_PASSWORD":   s.servicePassword,
		"APEX_LDAP_LOG_LEVEL":       s.logLevel,
	}
	module := []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(env),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// No bridge here (and none needed): servers on the host's loopback.
			hc.NetworkMode = "host"
			if s.dataDir != "" {
				hc.Binds = append(hc.Binds, s.dataDir+":"+DataPath)
			}
		}),
		testcontainers.WithWaitStrategy(wait.ForLog(readyLine).WithStartupTimeout(60 * time.Second).WithPollInterval(50 * time.Millisecond)),
	}
	if s.demo {
		module = append(module, testcontainers.WithCmdArgs("--demo"))
	}
	ctr, err := testcontainers.Run(ctx, img, append(module, opts...)...)
	var c *Container
	if ctr != nil {
		c = &Container{
			Container: ctr,
			URL:       ldapURL,
			BaseDN:    s.baseDN,
			Service:   Credentials{DN: "cn=apexd,ou=system," + s.baseDN, Password: s.servicePassword},
			DataDir:   s.dataDir,
			apps:      map[string]Credentials{},
		}
	}
	if err != nil {
		return c, fmt.Errorf("apexcontainer: run %s: %w", img, err)
	}
	return c, nil
}

// Terminate closes the store, then stops and removes the container.
func (c *Container) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if c.Store != nil {
		c.Store.Close()
		c.Store = nil
	}
	return c.Container.Terminate(ctx, opts...)
}

// Seed adds what the options say (structures, applications, people,
// habilitations, in that order) to the running directory; the other
// options are ignored.
func (c *Container) Seed(ctx context.Context, opts ...Option) error {
	var s settings
	for _, o := range opts {
		if err := o(&s); err != nil {
			return fmt.Errorf("apexcontainer: %w", err)
		}
	}
	return c.seed(ctx, s)
}

func (c *Container) seed(ctx context.Context, s settings) error {
	st := c.Store
	for _, x := range s.structures {
		if err := st.CreateStructure(ctx, directory.Structure{SIRET: x.SIRET, Name: x.Name, Category: x.Category}); err != nil {
			return fmt.Errorf("apexcontainer: structure %s: %w", x.SIRET, err)
		}
		for _, name := range x.Services {
			if err := st.CreateService(ctx, directory.Service{SIRET: x.SIRET, Name: name}); err != nil {
				return fmt.Errorf("apexcontainer: service %q of %s: %w", name, x.SIRET, err)
			}
		}
	}
	for _, a := range s.applications {
		app := directory.Application{ID: a.id, Name: a.id, Profiles: a.profiles}
		if err := st.CreateApplication(ctx, app); err != nil {
			return fmt.Errorf("apexcontainer: application %s: %w", a.id, err)
		}
		if a.password == "" {
			continue
		}
		dn, err := st.CreateClient(ctx, a.id, a.password)
		if err != nil {
			return fmt.Errorf("apexcontainer: bind account of %s: %w", a.id, err)
		}
		c.apps[a.id] = Credentials{DN: dn, Password: a.password}
	}
	for _, p := range s.persons {
		password, state := p.Password, p.State
		if password == "" {
			password = DefaultPassword
		}
		if state == "" {
			state = directory.StateActive
		}
		// Created active, so that it gets its identifier, then put in its state.
		created, err := st.CreatePerson(ctx, directory.NewPerson{
			FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Mobile: p.Mobile,
			Role: p.Role, State: directory.StateActive, SIRET: p.SIRET, Service: p.Service,
		}, password)
		if err != nil {
			return fmt.Errorf("apexcontainer: person %s %s: %w", p.FirstName, p.LastName, err)
		}
		if state != directory.StateActive {
			if err := st.SetState(ctx, created.Identifier, directory.StateActive, state); err != nil {
				return fmt.Errorf("apexcontainer: state of %s: %w", created.Identifier, err)
			}
			created.State = state
		}
		c.persons = append(c.persons, *created)
	}
	for _, h := range s.habilitations {
		if err := st.AddHabilitation(ctx, h.identifier, h.application, h.profile); err != nil {
			return fmt.Errorf("apexcontainer: habilitation of %s to %s/%s: %w", h.identifier, h.application, h.profile, err)
		}
	}
	return nil
}

// Application is the bind account of an application seeded with a
// password (the demo's is "demo-app").
func (c *Container) Application(id string) (Credentials, bool) {
	cr, ok := c.apps[id]
	return cr, ok
}

// Persons are the people seeded by the options, in their order, as
// created (their Identifier in particular).
func (c *Container) Persons() []directory.Person { return slices.Clone(c.persons) }

// PersonDN is the DN of the account of that identifier, as an application
// finds it (a search by uid).
func (c *Container) PersonDN(ctx context.Context, identifier string) (string, error) {
	conn, err := ldap.DialURL(c.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		return "", fmt.Errorf("apexcontainer: %w", err)
	}
	defer conn.Close()
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind(c.Service.DN, c.Service.Password); err != nil {
		return "", fmt.Errorf("apexcontainer: bind: %w", err)
	}
	res, err := conn.Search(ldap.NewSearchRequest(c.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 10, false,
		"(&(objectClass=apexPerson)(uid="+ldap.EscapeFilter(identifier)+"))", []string{"1.1"}, nil))
	if err != nil {
		return "", fmt.Errorf("apexcontainer: search %s: %w", identifier, err)
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("apexcontainer: %s: %w", identifier, directory.ErrNotFound)
	}
	return res.Entries[0].DN, nil
}

// Demo is the demonstration directory of WithDemo.
type Demo struct {
	Structure struct {
		SIRET    string   `json:"siret"`
		Name     string   `json:"name"`
		Category string   `json:"category"`
		Services []string `json:"services"`
	} `json:"structure"`
	Application string `json:"application"` // "FICOBA (ficoba): consultation, gestion"
	Password    string `json:"password"`    // of every person
	Persons     []struct {
		Identifier    string   `json:"identifier"`
		FirstName     string   `json:"firstName"`
		LastName      string   `json:"lastName"`
		Email         string   `json:"email"`
		Role          string   `json:"role"`
		Service       string   `json:"service,omitempty"`
		Habilitations []string `json:"habilitations"` // "ficoba/consultation"
	} `json:"persons"`
	ClientDN       string `json:"clientDN"`
	ClientPassword string `json:"clientPassword"`
}

// Demo describes the demonstration directory; nil without WithDemo.
func (c *Container) Demo() *Demo { return c.demo }

func (c *Container) readDemo(ctx context.Context) error {
	r, err := c.CopyFileFromContainer(ctx, DataPath+"/demo.json")
	if err != nil {
		return fmt.Errorf("apexcontainer: read the demo: %w", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("apexcontainer: read the demo: %w", err)
	}
	var d Demo
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("apexcontainer: read the demo: %w", err)
	}
	c.demo = &d
	if d.ClientDN != "" {
		if dn, err := ldap.ParseDN(d.ClientDN); err == nil && len(dn.RDNs) > 0 {
			c.apps[dn.RDNs[0].Attributes[0].Value] = Credentials{DN: d.ClientDN, Password: d.ClientPassword}
		}
	}
	return nil
}

// Port is the port of URL, on 127.0.0.1.
func (c *Container) Port() int {
	u, err := url.Parse(c.URL)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomPassword is a service password of 130 bits; the service
// account's policy checks no quality.
func randomPassword() string { return rand.Text() }
