package directory

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestIdentifier(t *testing.T) {
	tests := []struct {
		name      string
		firstName string
		lastName  string
		want      string
	}{
		// The five examples of the official guide.
		{"guide: simple name", "Marie", "Martin", "marie.martin-px"},
		{"guide: accents removed", "Cathy", "Noël", "cathy.noel-px"},
		{"guide: apostrophe removed", "Sylvie", "d'Alembert", "sylvie.dalembert-px"},
		{"guide: hyphen kept", "Benjamin", "Petit-Silva", "benjamin.petit-silva-px"},
		{"guide: spaces become hyphens", "Michel", "de la Bruyère", "michel.de-la-bruyere-px"},

		{"typographic apostrophe dropped", "Sylvie", "d’Alembert", "sylvie.dalembert-px"},
		{"left quote dropped", "Sylvie", "d‘Alembert", "sylvie.dalembert-px"},
		{"modifier apostrophe dropped", "Sylvie", "dʼAlembert", "sylvie.dalembert-px"},
		{"backquote dropped", "Sylvie", "d`Alembert", "sylvie.dalembert-px"},
		{"acute accent dropped", "Sylvie", "d´Alembert", "sylvie.dalembert-px"},
		{"prime dropped", "Sylvie", "d′Alembert", "sylvie.dalembert-px"},
		{"apostrophe then space", "Jeanne", "d' Arc", "jeanne.d-arc-px"},

		{"ligature OE transliterated", "Œdipe", "Cœur", "oedipe.coeur-px"},
		{"ligature ae transliterated", "Læticia", "Cæsar", "laeticia.caesar-px"},
		{"eszett transliterated", "Jörg", "Meißner", "jorg.meissner-px"},
		{"o with stroke transliterated", "Søren", "Kierkegård", "soren.kierkegard-px"},
		{"cedilla removed", "François", "Garçon", "francois.garcon-px"},
		{"L with stroke transliterated", "Łukasz", "Wałęsa", "lukasz.walesa-px"},
		{"decomposed accent removed", "Cathy", "Noe\u0308l", "cathy.noel-px"},
		{"upper case lowered", "MARIE", "MARTIN", "marie.martin-px"},
		{"non-Latin script transliterated", "Αλέξανδρος", "Παπαδόπουλος", "alexandros.papadopoulos-px"},

		{"compound first name with space", "Jean Pierre", "Martin", "jean-pierre.martin-px"},
		{"compound first name with hyphen", "Jean-Pierre", "Martin", "jean-pierre.martin-px"},
		{"tab becomes hyphen", "Jean\tPierre", "Martin", "jean-pierre.martin-px"},
		{"non-breaking space becomes hyphen", "Jean\u00a0Pierre", "Martin", "jean-pierre.martin-px"},
		{"narrow non-breaking space becomes hyphen", "Jean\u202fPierre", "Martin", "jean-pierre.martin-px"},
		{"ideographic space becomes hyphen", "Jean\u3000Pierre", "Martin", "jean-pierre.martin-px"},
		{"underscore becomes hyphen", "Jean_Pierre", "Martin", "jean-pierre.martin-px"},
		{"en dash becomes hyphen", "Jean–Pierre", "Martin", "jean-pierre.martin-px"},

		{"digits dropped without separator", "Marie2", "Mar3tin", "marie.martin-px"},
		{"dot dropped without separator", "J.Pierre", "Martin", "jpierre.martin-px"},
		{"comma dropped without separator", "Marie,", "Mar,tin", "marie.martin-px"},
		{"emoji dropped", "Marie😀", "Martin", "marie.martin-px"},
		{"control character dropped", "Ma\x00rie", "Mar\x07tin", "marie.martin-px"},
		{"LDAP filter characters dropped", "*)(uid=*", "Martin", "uid.martin-px"},
		{"DN special characters dropped", `Ma,+"\<>;rie`, "Martin", "marie.martin-px"},
		{"invalid UTF-8 dropped", "Ma\xffrie", "Martin", "marie.martin-px"},

		{"hyphen runs collapse", "Jean - -Pierre", "Martin", "jean-pierre.martin-px"},
		{"hyphens left by dropped characters collapse", "Jean-2-Pierre", "Martin", "jean-pierre.martin-px"},
		{"leading and trailing spaces trimmed", "  Marie ", "\tMartin\n", "marie.martin-px"},
		{"leading and trailing hyphens trimmed", "-Marie-", "--Martin--", "marie.martin-px"},

		{"part of exactly 64 letters accepted", "Marie", strings.Repeat("a", 64), "marie." + strings.Repeat("a", 64) + "-px"},
		{"length counted after collapsing", "Marie", strings.Repeat("a", 64) + "  - ", "marie." + strings.Repeat("a", 64) + "-px"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Identifier(tt.firstName, tt.lastName)
			if err != nil {
				t.Fatalf("Identifier(%q, %q) error: %v", tt.firstName, tt.lastName, err)
			}
			if got != tt.want {
				t.Errorf("Identifier(%q, %q) = %q, want %q", tt.firstName, tt.lastName, got, tt.want)
			}
			if !ValidIdentifier(got) {
				t.Errorf("ValidIdentifier(%q) = false", got)
			}
		})
	}
}

func TestIdentifierInvalid(t *testing.T) {
	const (
		noFirst   = "Le prénom doit contenir au moins une lettre."
		noLast    = "Le nom doit contenir au moins une lettre."
		longFirst = "Le prénom ne doit pas dépasser 64 caractères."
		longLast  = "Le nom ne doit pas dépasser 64 caractères."
	)
	tests := []struct {
		name      string
		firstName string
		lastName  string
		want      []Problem
	}{
		{"empty first name", "", "Martin", []Problem{{"firstName", noFirst}}},
		{"empty last name", "Marie", "", []Problem{{"lastName", noLast}}},
		{"both empty reported at once", "", "", []Problem{{"firstName", noFirst}, {"lastName", noLast}}},
		{"only spaces", "   ", "Martin", []Problem{{"firstName", noFirst}}},
		{"only hyphens", "Marie", "- -", []Problem{{"lastName", noLast}}},
		{"only digits", "Marie", "2024", []Problem{{"lastName", noLast}}},
		{"only symbols", "*)(", "Martin", []Problem{{"firstName", noFirst}}},
		{"only apostrophes", "Marie", "’'`", []Problem{{"lastName", noLast}}},
		{"only emoji", "😀🎉", "Martin", []Problem{{"firstName", noFirst}}},
		{"only control characters", "\x00\x01", "Martin", []Problem{{"firstName", noFirst}}},
		{"first name of 65 letters", strings.Repeat("a", 65), "Martin", []Problem{{"firstName", longFirst}}},
		{"last name of 65 letters after transliteration", "Marie", strings.Repeat("a", 63) + "ß", []Problem{{"lastName", longLast}}},
		{"too long and empty reported at once", strings.Repeat("a", 65), "", []Problem{{"firstName", longFirst}, {"lastName", noLast}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Identifier(tt.firstName, tt.lastName)
			if err == nil {
				t.Fatalf("Identifier(%q, %q) = %q, want an error", tt.firstName, tt.lastName, got)
			}
			if got != "" {
				t.Errorf("Identifier returned %q along with an error", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if errors.Is(err, ErrPasswordPolicy) {
				t.Errorf("error %v matches ErrPasswordPolicy", err)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *InvalidError", err)
			}
			if !reflect.DeepEqual(ie.Problems, tt.want) {
				t.Errorf("problems = %q, want %q", ie.Problems, tt.want)
			}
		})
	}
}

func TestNumberedIdentifier(t *testing.T) {
	tests := []struct {
		name string
		base string
		n    int
		want string
	}{
		{"negative keeps base", "marie.martin-px", -1, "marie.martin-px"},
		{"zero keeps base", "marie.martin-px", 0, "marie.martin-px"},
		{"first homonym keeps base", "marie.martin-px", 1, "marie.martin-px"},
		{"second homonym", "marie.martin-px", 2, "marie.martin2-px"},
		{"tenth homonym", "marie.martin-px", 10, "marie.martin10-px"},
		{"compound names", "jean-pierre.de-la-bruyere-px", 3, "jean-pierre.de-la-bruyere3-px"},
		{"base without suffix gets number appended", "marie.martin", 2, "marie.martin2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NumberedIdentifier(tt.base, tt.n); got != tt.want {
				t.Errorf("NumberedIdentifier(%q, %d) = %q, want %q", tt.base, tt.n, got, tt.want)
			}
		})
	}
}

func TestValidIdentifier(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"simple", "marie.martin-px", true},
		{"hyphenated parts", "jean-pierre.de-la-bruyere-px", true},
		{"homonym 2", "marie.martin2-px", true},
		{"homonym 10", "marie.martin10-px", true},
		{"homonym 123", "marie.martin123-px", true},
		{"longest parts", long + "." + long + "-px", true},
		{"exactly 140 characters", long + "." + long + "12345678-px", true},
		{"141 characters", long + "." + long + "123456789-px", false},
		{"empty", "", false},
		{"no suffix", "marie.martin", false},
		{"suffix only", "-px", false},
		{"upper case", "Marie.martin-px", false},
		{"accent", "cathy.noël-px", false},
		{"no dot", "mariemartin-px", false},
		{"two dots", "marie.martin.dupont-px", false},
		{"empty first name", ".martin-px", false},
		{"empty last name", "marie.-px", false},
		{"homonym 0", "marie.martin0-px", false},
		{"homonym 1", "marie.martin1-px", false},
		{"homonym with leading zero", "marie.martin02-px", false},
		{"digit inside name", "ma2rie.martin-px", false},
		{"double hyphen", "jean--pierre.martin-px", false},
		{"leading hyphen", "-marie.martin-px", false},
		{"hyphen before dot", "marie-.martin-px", false},
		{"hyphen before number", "marie.martin-2-px", false},
		{"space", "marie.de la-px", false},
		{"LDAP wildcard", "*.martin-px", false},
		{"trailing newline", "marie.martin-px\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidIdentifier(tt.s); got != tt.want {
				t.Errorf("ValidIdentifier(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func FuzzIdentifier(f *testing.F) {
	for _, seed := range [][2]string{
		{"Marie", "Martin"},
		{"Cathy", "Noël"},
		{"Sylvie", "d'Alembert"},
		{"Benjamin", "Petit-Silva"},
		{"Michel", "de la Bruyère"},
		{"a*", "*"},
		{"*)(uid=*", "*)(|(objectClass=*))"},
		{`,+"\<>;`, `#=`},
		{"' '", "-"},
		{"😀", "👨‍👩‍👧"},
		{"שלום", "مرحبا"},
		{"\x00", "\xff\xfe"},
		{"Jean_Pierre", "\u202f\u3000"},
		{strings.Repeat("ß", 40), strings.Repeat("Œ", 40)},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, firstName, lastName string) {
		got, err := Identifier(firstName, lastName)
		again, againErr := Identifier(firstName, lastName)
		if got != again || (err == nil) != (againErr == nil) ||
			(err != nil && err.Error() != againErr.Error()) {
			t.Fatalf("not deterministic: (%q, %v) then (%q, %v)", got, err, again, againErr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 || len(ie.Problems) > 2 {
				t.Fatalf("unexpected error %#v", err)
			}
			for _, p := range ie.Problems {
				if p.Field != "firstName" && p.Field != "lastName" {
					t.Fatalf("unexpected field in %v", p)
				}
			}
			return
		}
		if !ValidIdentifier(got) {
			t.Fatalf("Identifier(%q, %q) = %q, which is not a valid identifier", firstName, lastName, got)
		}
		// Never a digit: a homonym number cannot be mistaken for a name.
		if strings.ContainsAny(got, "0123456789") {
			t.Fatalf("Identifier(%q, %q) = %q holds a digit", firstName, lastName, got)
		}
		// Nothing in it for a filter or a DN to escape.
		if ldap.EscapeFilter(got) != got || ldap.EscapeDN(got) != got {
			t.Fatalf("Identifier(%q, %q) = %q needs escaping", firstName, lastName, got)
		}
		seen := map[string]bool{got: true}
		for _, n := range []int{2, 9, 10, 1000, 99999999} {
			numbered := NumberedIdentifier(got, n)
			if !ValidIdentifier(numbered) {
				t.Fatalf("NumberedIdentifier(%q, %d) = %q, which is not a valid identifier", got, n, numbered)
			}
			if seen[numbered] {
				t.Fatalf("NumberedIdentifier(%q, %d) = %q, given before", got, n, numbered)
			}
			seen[numbered] = true
		}
		// Surrounding blanks, an apostrophe anywhere and ASCII case change nothing.
		for _, variant := range [][2]string{
			{" \t" + firstName + "\u00a0", lastName + "\n"},
			{withApostrophe(firstName), withApostrophe(lastName)},
			{asciiUpper(firstName), asciiUpper(lastName)},
		} {
			if v, err := Identifier(variant[0], variant[1]); err != nil || v != got {
				t.Fatalf("Identifier(%q, %q) = %q, %v; want %q as for (%q, %q)", variant[0], variant[1], v, err, got, firstName, lastName)
			}
		}
	})
}

// FuzzIdentifierParts: each name makes its own part of the identifier, and
// its problems, whatever the other name is.
func FuzzIdentifierParts(f *testing.F) {
	f.Add("Marie", "Martin")
	f.Add("Michel", "de la Bruyère")
	f.Add("*)(uid=*", `,+"\<>;`)
	f.Add("", "\xff")
	f.Add(strings.Repeat("a", 65), "Œ")
	f.Fuzz(func(t *testing.T, firstName, lastName string) {
		got, err := Identifier(firstName, lastName)
		first, firstErr := Identifier(firstName, "x")
		last, lastErr := Identifier("x", lastName)
		if (firstErr == nil && lastErr == nil) != (err == nil) {
			t.Fatalf("Identifier(%q, %q) = %v but alone: %v, %v", firstName, lastName, err, firstErr, lastErr)
		}
		if err != nil {
			var ie, fe, le *InvalidError
			errors.As(err, &ie)
			var want []Problem
			if errors.As(firstErr, &fe) {
				want = append(want, fe.Problems...)
			}
			if errors.As(lastErr, &le) {
				want = append(want, le.Problems...)
			}
			if ie == nil || !reflect.DeepEqual(ie.Problems, want) {
				t.Fatalf("Identifier(%q, %q) problems = %v, want each name's own %v", firstName, lastName, err, want)
			}
			return
		}
		want := strings.TrimSuffix(first, ".x-px") + "." + strings.TrimPrefix(last, "x.")
		if got != want {
			t.Fatalf("Identifier(%q, %q) = %q, want %q from each name alone", firstName, lastName, got, want)
		}
	})
}

// withApostrophe inserts an apostrophe at the first rune boundary from the middle of s.
func withApostrophe(s string) string {
	for i := range s {
		if i >= len(s)/2 {
			return s[:i] + "’" + s[i:]
		}
	}
	return s + "’"
}

// asciiUpper upper-cases the ASCII letters of s and leaves every other byte.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Finding 8 of issue 11: slapd matches uid ignoring case and width, so an
// identifier from outside is folded on ASCII capitals only, and anything
// then not of the identifier's form names nobody.
func TestCanonicalIdentifier(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"agnes.dupont-px", "agnes.dupont-px", true},
		{"  Agnes.DUPONT-PX\t", "agnes.dupont-px", true},
		{"marie.martin12-px", "marie.martin12-px", true},
		{"\u00a0agnes.dupont-px\u3000", "agnes.dupont-px", true}, // any blank around
		{"ａgnes.dupont-px", "", false},                           // full-width a
		{"ＡＧＮＥＳ.ＤＵＰＯＮＴ-ＰＸ", "", false},
		{"\u212Aarl.kramer-px", "", false},  // Kelvin sign, which strings.ToLower makes a k
		{"karl.kramer-p\u0130x", "", false}, // dotted capital I
		{"agnès.dupont-px", "", false},
		{"agnes.dupont", "", false},
		{"agnes.dupont1-px", "", false},
		{"*)(uid=*", "", false},
		{"agnes. dupont-px", "", false},
		{"", "", false},
		{"a." + strings.Repeat("b", MaxIdentifierLength) + "-px", "", false},
	} {
		got, ok := CanonicalIdentifier(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CanonicalIdentifier(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzCanonicalIdentifier: what it accepts is a valid identifier, in ASCII,
// the same once more; and it accepts exactly the strings that are one once
// blanks are trimmed and A to Z lowered.
func FuzzCanonicalIdentifier(f *testing.F) {
	for _, seed := range []string{"agnes.dupont-px", " Marie.Martin2-PX ", "ａgnes.dupont-px", "\u212Aarl.kramer-px",
		"*)(uid=*", "x.x-px\x00", "\xff.x-px", "İ.x-px"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := CanonicalIdentifier(s)
		ascii := []byte(strings.TrimSpace(s))
		for i, c := range ascii {
			if 'A' <= c && c <= 'Z' {
				ascii[i] += 'a' - 'A'
			}
		}
		if want := ValidIdentifier(string(ascii)); ok != want {
			t.Fatalf("CanonicalIdentifier(%q) ok = %v, want %v", s, ok, want)
		}
		if !ok {
			if got != "" {
				t.Fatalf("CanonicalIdentifier(%q) = %q, not ok", s, got)
			}
			return
		}
		if !ValidIdentifier(got) || got != string(ascii) {
			t.Fatalf("CanonicalIdentifier(%q) = %q", s, got)
		}
		for _, r := range got {
			if r > 0x7f {
				t.Fatalf("CanonicalIdentifier(%q) = %q holds %q", s, got, r)
			}
		}
		if again, ok := CanonicalIdentifier(got); !ok || again != got {
			t.Fatalf("CanonicalIdentifier(%q) = %q, %v; not idempotent", got, again, ok)
		}
	})
}
