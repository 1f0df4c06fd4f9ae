package directory

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/mozillazg/go-unidecode"
)

// IdentifierSuffix ends every login identifier of the directory.
const IdentifierSuffix = "-px"

// MaxIdentifierPartLength is the maximum length of the first name and of the
// last name once normalised for an identifier.
const MaxIdentifierPartLength = 64

// MaxIdentifierLength is the maximum length of a whole identifier, homonym
// number and suffix included.
const MaxIdentifierLength = 140

// Identifier returns the base login identifier "prenom.nomdefamille-px" of a
// person, following the APEX Partenaires guide: accents are removed,
// apostrophes are dropped, hyphens are kept and spaces become hyphens
// ("Michel de la Bruyère" gives "michel.de-la-bruyere-px").
//
// Beyond the guide: the text is transliterated to ASCII (Œ gives oe, ß gives
// ss, Ł gives l), any white space or underscore becomes a hyphen, every other
// character that is not a letter is dropped (digits included, so that the
// homonym number added by NumberedIdentifier stays unambiguous), runs of
// hyphens collapse and leading or trailing hyphens are trimmed. Each part must
// keep at least one letter and at most MaxIdentifierPartLength characters;
// otherwise an *InvalidError lists the problems of both fields.
func Identifier(firstName, lastName string) (string, error) {
	var problems []Problem
	first, p := identifierPart(firstName, "firstName", "Le prénom")
	problems = append(problems, p...)
	last, p := identifierPart(lastName, "lastName", "Le nom")
	problems = append(problems, p...)
	if err := invalid(problems); err != nil {
		return "", err
	}
	return first + "." + last + IdentifierSuffix, nil
}

// NumberedIdentifier returns the identifier of the n-th homonym: base itself
// for n <= 1, otherwise base with n inserted before the "-px" suffix
// ("marie.martin-px", 2 gives "marie.martin2-px"). If base lacks the suffix,
// n is appended at its end.
func NumberedIdentifier(base string, n int) string {
	if n <= 1 {
		return base
	}
	num := strconv.Itoa(n)
	if stem, ok := strings.CutSuffix(base, IdentifierSuffix); ok {
		return stem + num + IdentifierSuffix
	}
	return base + num
}

var identifierPattern = regexp.MustCompile(`^[a-z]+(-[a-z]+)*\.[a-z]+(-[a-z]+)*([2-9]|[1-9][0-9]+)?-px$`)

// ValidIdentifier reports whether s has the grammar of an identifier made by
// Identifier or NumberedIdentifier: lower-case ASCII words joined by single
// hyphens, a dot between first name and last name, an optional homonym number
// of 2 or more, the "-px" suffix, and at most MaxIdentifierLength characters.
func ValidIdentifier(s string) bool {
	return len(s) <= MaxIdentifierLength && identifierPattern.MatchString(s)
}

// CanonicalIdentifier is an identifier that came from outside (typed in a
// form, sent to the API, read from a path) as the directory names it:
// blanks around it trimmed and ASCII capitals lowered, and ok only when it
// then has the form of an identifier (ValidIdentifier). Only A to Z are
// folded: strings.ToLower would also turn the Kelvin sign (U+212A) into a
// k. Anything else must go no further, to no limit and no search: slapd
// matches uid ignoring case and width, so "ａgnes.dupont-px" (a full-width
// a) would name agnes.dupont-px while counting apart from it.
func CanonicalIdentifier(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > MaxIdentifierLength {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	if !ValidIdentifier(string(b)) {
		return "", false
	}
	return string(b), true
}

// isApostrophe reports the characters dropped as apostrophes. They are removed
// before transliteration so that they never depend on the unidecode tables.
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', 'ʼ', '`', '´', '′':
		return true
	}
	return false
}

// identifierPart normalises one name for an identifier and reports its
// problems under field, label being the French subject of the messages.
func identifierPart(name, field, label string) (string, []Problem) {
	// Separators are marked before transliteration because unidecode turns
	// some Unicode spaces into nothing; it may also produce new spaces
	// ("北京" gives "Bei Jing "), handled in the second pass.
	var marked strings.Builder
	for _, r := range name {
		switch {
		case isApostrophe(r):
		case unicode.IsSpace(r) || r == '_':
			marked.WriteByte('-')
		default:
			marked.WriteRune(r)
		}
	}
	ascii := strings.ToLower(unidecode.Unidecode(marked.String()))

	var b strings.Builder
	pendingHyphen := false
	for _, r := range ascii {
		switch {
		case 'a' <= r && r <= 'z':
			if pendingHyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			pendingHyphen = false
			b.WriteRune(r)
		case r == '-' || r == '_' || unicode.IsSpace(r):
			pendingHyphen = true
		}
	}
	part := b.String()

	switch {
	case part == "":
		return "", []Problem{{Field: field, Message: label + " doit contenir au moins une lettre."}}
	case len(part) > MaxIdentifierPartLength:
		return "", []Problem{{Field: field, Message: label + " ne doit pas dépasser " +
			strconv.Itoa(MaxIdentifierPartLength) + " caractères."}}
	}
	return part, nil
}
