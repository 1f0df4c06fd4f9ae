package directory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// problemOn returns the message of the first problem of err on field.
func problemOn(err error, field string) string {
	var ie *directory.InvalidError
	if errors.As(err, &ie) {
		for _, p := range ie.Problems {
			if p.Field == field {
				return p.Message
			}
		}
	}
	return ""
}

// People's names hold letters, combining marks, spaces, apostrophes,
// hyphens and dots; C1 controls (U+0085), line separators, bidi controls,
// markup, emoji and digits were taken though the identifier drops them.
func TestPersonNamesHoldOnlyNameCharacters(t *testing.T) {
	t.Parallel()
	good := []string{"Marie", "Cathy Noël", "d'Alembert", "d’Alembert", "Petit-Silva", "de la Bruyère", "J.-P.", "Œdipe", "Łukasz",
		"Zoe\u0301", "北京", "Ἀλέξανδρος", "Saint-Exupéry", "ʻOkina"}
	// Inside the name: white space at either end is trimmed, U+0085 and
	// U+2028 included, as spaces are (TestPersonNamesAreTrimmed).
	bad := []string{"Ma\u0085rie", "Marie\u2028Martin", "Marie\u2029Martin", "\u202eeiraM", "Ma\u200brie", "Marie\u200e", "<b>Marie</b>", "Marie😀",
		"Marie2", "Louis XIV 14", "Marie\x00", "Marie\tMartin", "Marie\nMartin", "Marie\x7f", "Marie;", "Marie&Co", "Marie_Martin", "a*", "*)(uid=*",
		"Marie\u00a0Martin", "\uE000Marie", "Marie\xff", "Marie\u0085\u0085Martin"}
	const want = " ne doit contenir que des lettres, des espaces, des apostrophes, des tirets et des points."
	for _, name := range good {
		n := directory.NewPerson{FirstName: name, LastName: name, Email: "marie@example.fr", Role: directory.RoleAgent, State: directory.StateActive}
		if err := n.Validate(); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
		u := directory.PersonUpdate{FirstName: &name, LastName: &name}
		if err := u.Validate(); err != nil {
			t.Errorf("update to %q refused: %v", name, err)
		}
	}
	for _, name := range bad {
		n := directory.NewPerson{FirstName: name, LastName: "Martin", Email: "marie@example.fr", Role: directory.RoleAgent, State: directory.StateActive}
		if msg := problemOn(n.Validate(), "firstName"); msg != "Le prénom"+want {
			t.Errorf("first name %q: %q", name, msg)
		}
		n = directory.NewPerson{FirstName: "Marie", LastName: name, Email: "marie@example.fr", Role: directory.RoleAgent, State: directory.StateActive}
		if msg := problemOn(n.Validate(), "lastName"); msg != "Le nom"+want {
			t.Errorf("last name %q: %q", name, msg)
		}
		first, last := name, name
		err := (&directory.PersonUpdate{FirstName: &first, LastName: &last}).Validate()
		if problemOn(err, "firstName") != "Le prénom"+want || problemOn(err, "lastName") != "Le nom"+want {
			t.Errorf("update to %q: %v", name, err)
		}
	}
}

// White space around a name goes, whatever it is: what is kept holds none.
func TestPersonNamesAreTrimmed(t *testing.T) {
	t.Parallel()
	for _, name := range []string{" Marie ", "Marie\u0085", "\u2028Marie\u2029", "\tMarie\n", "\u00a0Marie"} {
		n := directory.NewPerson{FirstName: name, LastName: name, Email: "marie@example.fr", Role: directory.RoleAgent, State: directory.StateActive}
		if err := n.Validate(); err != nil || n.FirstName != "Marie" || n.LastName != "Marie" {
			t.Errorf("%q: %q %q, %v", name, n.FirstName, n.LastName, err)
		}
	}
}

// The pre-creation form (the invitee's own names) follows the same rule,
// and a refused form changes nothing.
func TestPreCreationNames(t *testing.T) {
	t.Parallel()
	store, _ := slapdtestStore(t)
	mustStructure(t, store, testSIRET, "Accueil")
	inv, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: "nouvelle@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []directory.PreCreation{
		{FirstName: "<b>Marie</b>", LastName: "Martin"},
		{FirstName: "Marie", LastName: "Mar\u0085tin"},
		{FirstName: "Marie\u2028Hélène", LastName: "Martin"},
		{FirstName: "Marie", LastName: "\u202bMartin"},
	} {
		f.Service, f.Password = "Accueil", goodPassword
		_, err := directory.Accounts{Store: store}.SubmitInvitation(ctx, inv.Token, f)
		if !errors.Is(err, directory.ErrInvalid) || problemOn(err, "firstName")+problemOn(err, "lastName") == "" {
			t.Errorf("%q %q: %v", f.FirstName, f.LastName, err)
		}
	}
	p, err := store.FindPersonByRequest(ctx, inv.Person.RequestID)
	if err != nil || p.State != directory.StateInvited || p.FirstName != "" {
		t.Errorf("after refused forms: %+v, %v", p, err)
	}
	ok := directory.PreCreation{FirstName: "Marie-Hélène", LastName: "d’Alembert", Service: "Accueil", Password: goodPassword}
	if _, err := (directory.Accounts{Store: store}).SubmitInvitation(ctx, inv.Token, ok); err != nil {
		t.Errorf("a good form: %v", err)
	}
}

// Structures, services and applications keep a broad alphabet, markup and
// symbols included, but no control, invisible or line-separator character.
func TestOtherNamesRefuseInvisibleCharacters(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Dupont & Fils", "Étude <Martin>", "SCP 2000", `,+"\<>;`, "Café ☕", "x\\00y"} {
		st := directory.Structure{SIRET: testSIRET, Name: name, Category: name}
		sv := directory.Service{SIRET: testSIRET, Name: name}
		app := directory.Application{ID: "ficoba", Name: name}
		for what, err := range map[string]error{"structure": st.Validate(), "service": sv.Validate(), "application": app.Validate()} {
			if err != nil {
				t.Errorf("%s %q refused: %v", what, name, err)
			}
		}
	}
	for _, bad := range []string{"\u0085", "\u2028", "\u2029", "\u202e", "\u2066", "\u200b", "\u00ad", "\x00", "\t", "\n", "\x7f", "\ue000", "\xff"} {
		name := "Dupont" + bad + "Fils"
		st := directory.Structure{SIRET: testSIRET, Name: name, Category: name}
		sv := directory.Service{SIRET: testSIRET, Name: name}
		app := directory.Application{ID: "ficoba", Name: name}
		for what, msg := range map[string]string{
			"structure": problemOn(st.Validate(), "name"), "category": problemOn(st.Validate(), "category"),
			"service": problemOn(sv.Validate(), "name"), "application": problemOn(app.Validate(), "name"),
		} {
			if !strings.Contains(msg, "contient des caractères invalides") {
				t.Errorf("%s %q: %q", what, name, msg)
			}
		}
	}
}

// Each field's messages agree with its label: « La catégorie doit être
// renseignée », « Le nom du service est trop long ».
func TestMessagesAgreeWithTheirField(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		what, field string
		err         error
		want        string
	}{
		{"empty category", "category", (&directory.Structure{SIRET: testSIRET, Name: "Étude"}).Validate(), "La catégorie doit être renseignée."},
		{"long category", "category", (&directory.Structure{SIRET: testSIRET, Name: "Étude", Category: long}).Validate(), "La catégorie est trop longue."},
		{"empty structure name", "name", (&directory.Structure{SIRET: testSIRET, Category: "Notaire"}).Validate(), "Le nom de la structure doit être renseigné."},
		{"long structure name", "name", (&directory.Structure{SIRET: testSIRET, Name: long, Category: "Notaire"}).Validate(), "Le nom de la structure est trop long."},
		{"empty service name", "name", (&directory.Service{SIRET: testSIRET}).Validate(), "Le nom du service doit être renseigné."},
		{"empty application name", "name", (&directory.Application{ID: "ficoba"}).Validate(), "Le nom de l'application doit être renseigné."},
		{"empty first name", "firstName", (&directory.PersonUpdate{FirstName: new("")}).Validate(), "Le prénom doit être renseigné."},
		{"long last name", "lastName", (&directory.PersonUpdate{LastName: new(long)}).Validate(), "Le nom est trop long."},
	} {
		if got := problemOn(c.err, c.field); got != c.want {
			t.Errorf("%s: %q, want %q", c.what, got, c.want)
		}
	}
}
