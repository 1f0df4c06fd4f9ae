// Package demo loads a small demonstration directory: one notarial office
// with two services and its accounts, a DGFiP agent, the FICOBA application
// and a DGFiP application's bind account. Every person has the same password.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dgfip/apex-partenaires/directory"
)

// Password is the password of every demo person.
const Password = "Apex-Demo-2026!"

// The DGFiP application's bind account, which reads the directory.
const (
	ClientID       = "demo-app"
	ClientPassword = "Client-Demo-2026!"
)

// The demo data.
var (
	structure = directory.Structure{SIRET: "73282932000074", Name: "Étude Martin & Associés", Category: "Notaire"}
	services  = []string{"Comptabilité", "Ressources humaines"}

	application = directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}

	persons = []struct {
		person directory.NewPerson
		grants []directory.Habilitation
	}{
		{person: directory.NewPerson{FirstName: "Agnès", LastName: "Dupont", Email: "agnes.dupont@dgfip.example.fr",
			Role: directory.RoleAgent}},
		{person: directory.NewPerson{FirstName: "Marie", LastName: "Martin", Email: "marie.martin@etude-martin.example.fr",
			Mobile: "06 12 34 56 78", Role: directory.RoleAdministrateur, SIRET: structure.SIRET},
			grants: []directory.Habilitation{{Application: "ficoba", Profile: "consultation"}}},
		{person: directory.NewPerson{FirstName: "Cathy", LastName: "Noël", Email: "cathy.noel@etude-martin.example.fr",
			Role: directory.RoleResponsable, SIRET: structure.SIRET, Service: "Comptabilité"}},
		{person: directory.NewPerson{FirstName: "Sylvie", LastName: "d'Alembert", Email: "sylvie.dalembert@etude-martin.example.fr",
			Role: directory.RoleCollaborateur, SIRET: structure.SIRET, Service: "Comptabilité"},
			grants: []directory.Habilitation{{Application: "ficoba", Profile: "consultation"}}},
	}
)

// Accounts is what the demo directory holds, for printing.
type Accounts struct {
	AlreadyLoaded  bool      `json:"alreadyLoaded"` // the structure was there before Load
	Structure      Structure `json:"structure"`
	Application    string    `json:"application"` // "FICOBA (ficoba): consultation, gestion"
	Password       string    `json:"password"`    // of every person
	Persons        []Person  `json:"persons"`
	ClientDN       string    `json:"clientDN"` // the DGFiP application's bind account
	ClientPassword string    `json:"clientPassword"`
}

// Structure is the demo structure.
type Structure struct {
	SIRET    string   `json:"siret"`
	Name     string   `json:"name"`
	Category string   `json:"category"`
	Services []string `json:"services"`
}

// Person is a demo account as the directory holds it.
type Person struct {
	Identifier    string   `json:"identifier"`
	FirstName     string   `json:"firstName"`
	LastName      string   `json:"lastName"`
	Email         string   `json:"email"`
	Role          string   `json:"role"`
	Service       string   `json:"service,omitempty"`
	Habilitations []string `json:"habilitations"` // "ficoba/consultation"
}

// Load adds the demo data that the directory lacks and returns what it
// holds. It can run any number of times: every step first looks for its
// entry or accepts the conflict of one already there, so a load that was
// interrupted is completed by the next.
func Load(ctx context.Context, store *directory.Store) (Accounts, error) {
	acc := Accounts{
		Structure: Structure{SIRET: structure.SIRET, Name: structure.Name, Category: structure.Category, Services: services},
		Application: fmt.Sprintf("%s (%s): %s", application.Name, application.ID,
			strings.Join(application.Profiles, ", ")),
		Password:       Password,
		ClientPassword: ClientPassword,
	}
	_, err := store.FindStructure(ctx, structure.SIRET)
	switch {
	case err == nil:
		acc.AlreadyLoaded = true
	case !errors.Is(err, directory.ErrNotFound):
		return Accounts{}, fmt.Errorf("demo: %w", err)
	}

	if err := ignoreConflict(store.CreateStructure(ctx, structure)); err != nil {
		return Accounts{}, fmt.Errorf("demo: %w", err)
	}
	for _, name := range services {
		err := store.CreateService(ctx, directory.Service{SIRET: structure.SIRET, Name: name})
		if err := ignoreConflict(err); err != nil {
			return Accounts{}, fmt.Errorf("demo: %w", err)
		}
	}
	if err := ignoreConflict(store.CreateApplication(ctx, application)); err != nil {
		return Accounts{}, fmt.Errorf("demo: %w", err)
	}
	for _, profile := range application.Profiles {
		// The application may have been added without all its profiles.
		if err := ignoreConflict(store.CreateProfile(ctx, application.ID, profile)); err != nil {
			return Accounts{}, fmt.Errorf("demo: %w", err)
		}
	}

	for _, d := range persons {
		p, err := ensurePerson(ctx, store, d.person)
		if err != nil {
			return Accounts{}, err
		}
		for _, h := range d.grants {
			if err := store.AddHabilitation(ctx, p.Identifier, h.Application, h.Profile); err != nil {
				return Accounts{}, fmt.Errorf("demo: grant %s/%s to %s: %w", h.Application, h.Profile, p.Identifier, err)
			}
		}
		if p, err = store.FindPerson(ctx, p.Identifier); err != nil {
			return Accounts{}, fmt.Errorf("demo: %w", err)
		}
		acc.Persons = append(acc.Persons, person(p))
	}

	// On a conflict, CreateClient still names the account that exists.
	dn, err := store.CreateClient(ctx, ClientID, ClientPassword)
	if err := ignoreConflict(err); err != nil {
		return Accounts{}, fmt.Errorf("demo: %w", err)
	}
	acc.ClientDN = dn
	return acc, nil
}

// ensurePerson finds the demo person by mail in its structure or creates
// it, active, with the demo password. The directory keeps mails unique
// within a structure, so a person created meanwhile by another load shows
// as a conflict, and is then found.
func ensurePerson(ctx context.Context, store *directory.Store, n directory.NewPerson) (*directory.Person, error) {
	siret := n.SIRET
	if n.Role == directory.RoleAgent {
		siret = ""
	}
	p, err := store.FindPersonByEmail(ctx, siret, n.Email)
	if errors.Is(err, directory.ErrNotFound) {
		n.State = directory.StateActive
		p, err = store.CreatePerson(ctx, n, Password)
		if errors.Is(err, directory.ErrConflict) {
			p, err = store.FindPersonByEmail(ctx, siret, n.Email)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("demo: person %s %s: %w", n.FirstName, n.LastName, err)
	}
	if p.Identifier == "" {
		return nil, fmt.Errorf("demo: %s is an account request, not an active account: %w", n.Email, directory.ErrConflict)
	}
	return p, nil
}

func ignoreConflict(err error) error {
	if errors.Is(err, directory.ErrConflict) {
		return nil
	}
	return err
}

func person(p *directory.Person) Person {
	out := Person{
		Identifier:    p.Identifier,
		FirstName:     p.FirstName,
		LastName:      p.LastName,
		Email:         p.Email,
		Role:          string(p.Role),
		Service:       p.Service,
		Habilitations: []string{},
	}
	for _, h := range p.Habilitations {
		out.Habilitations = append(out.Habilitations, h.Application+"/"+h.Profile)
	}
	return out
}

// Find returns the demo person of that identifier.
func (a Accounts) Find(identifier string) (Person, bool) {
	for _, p := range a.Persons {
		if p.Identifier == identifier {
			return p, true
		}
	}
	return Person{}, false
}

// WriteText prints the demo accounts for a person at a terminal, in French.
func (a Accounts) WriteText(w io.Writer) error {
	var b strings.Builder
	if a.AlreadyLoaded {
		b.WriteString("Annuaire de démonstration déjà chargé.\n")
	} else {
		b.WriteString("Annuaire de démonstration chargé.\n")
	}
	fmt.Fprintf(&b, "Structure : %s (SIRET %s, %s), services : %s\n",
		a.Structure.Name, a.Structure.SIRET, a.Structure.Category, strings.Join(a.Structure.Services, ", "))
	fmt.Fprintf(&b, "Application : %s\n", a.Application)
	fmt.Fprintf(&b, "Comptes (mot de passe de chacun : %s) :\n", a.Password)
	for _, p := range a.Persons {
		role := p.Role
		if p.Service != "" {
			role += ", " + p.Service
		}
		fmt.Fprintf(&b, "  %-22s %-20s %-28s %s", p.Identifier, p.FirstName+" "+p.LastName, role, p.Email)
		if len(p.Habilitations) > 0 {
			fmt.Fprintf(&b, "  [%s]", strings.Join(p.Habilitations, ", "))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "Compte d'application DGFiP (lecture seule) : %s, mot de passe %s\n", a.ClientDN, a.ClientPassword)
	_, err := io.WriteString(w, b.String())
	return err
}

// Examples returns shell commands that try the demo directory at url with
// the OpenLDAP tools: the DGFiP application's account looks up Marie
// Martin's DN, then Marie Martin binds with the demo password.
func (a Accounts) Examples(url, baseDN string) []string {
	return []string{
		a.search(url, baseDN, "marie.martin-px") + " dn",
		a.whoami(url, baseDN, "marie.martin-px"),
	}
}

// search is the application's ldapsearch of one identifier, without the
// attributes to read.
func (a Accounts) search(url, baseDN, identifier string) string {
	return strings.Join([]string{
		"ldapsearch -x -H", shellQuote(url), "-D", shellQuote(a.ClientDN), "-w", shellQuote(a.ClientPassword),
		"-b", shellQuote(baseDN), shellQuote("(uid=" + identifier + ")"),
	}, " ")
}

// whoami binds as the person of identifier with the demo password, at the
// DN the application's search finds. ldapsearch writes a DN that is not
// ASCII (a service « Comptabilité ») in base64, as "dn:: …": awk decodes it.
func (a Accounts) whoami(url, baseDN, identifier string) string {
	return "ldapwhoami -x -H " + shellQuote(url) +
		` -D "$(` + a.search(url, baseDN, identifier) + ` -LLL -o ldif-wrap=no dn | awk '/^dn:: / { print $2 | "base64 -d" } /^dn: / { print substr($0, 5) }')"` +
		" -w " + shellQuote(a.Password)
}

// shellQuote quotes s for a POSIX shell, so that a printed command can be
// pasted as it is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,=:/@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
