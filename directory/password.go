package directory

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// Password length limits of the APEX Partenaires guide, in characters (runes).
const (
	MinPasswordLength = 12
	MaxPasswordLength = 20
)

// PasswordRules is the guide's password policy, in French, for pages.
var PasswordRules = []string{
	"12 à 20 caractères",
	"1 lettre majuscule et 1 lettre minuscule",
	"minimum 2 chiffres",
	"minimum 1 caractère spécial",
	"différent des 10 derniers mots de passe utilisés",
}

// Messages of CheckPassword, one per broken rule, in the order they are reported.
const (
	msgPasswordTooShort  = "Le mot de passe doit contenir au moins 12 caractères."
	msgPasswordTooLong   = "Le mot de passe doit contenir au plus 20 caractères."
	msgPasswordNoUpper   = "Le mot de passe doit contenir au moins une lettre majuscule."
	msgPasswordNoLower   = "Le mot de passe doit contenir au moins une lettre minuscule."
	msgPasswordFewDigits = "Le mot de passe doit contenir au moins 2 chiffres."
	msgPasswordNoSpecial = "Le mot de passe doit contenir au moins 1 caractère spécial."
	msgPasswordSpace     = "Le mot de passe ne doit contenir ni espace ni caractère de contrôle."
	msgPasswordBadUTF8   = "Le mot de passe contient des caractères invalides."
)

// passwordCounts is the number of characters of a password in each class.
type passwordCounts struct {
	length, upper, lower, digits, special, refused int
}

// countPassword sorts every rune of a valid UTF-8 password into its classes.
// A letter that is neither upper nor lower case (as in scripts without case)
// only counts for the length. Digits are ASCII 0-9; any other character that
// is not a letter, a white space or a control or format character (such as a
// zero-width space) is special.
func countPassword(password string) passwordCounts {
	var c passwordCounts
	for _, r := range password {
		c.length++
		switch {
		case unicode.IsUpper(r):
			c.upper++
		case unicode.IsLower(r):
			c.lower++
		case unicode.IsLetter(r):
		case '0' <= r && r <= '9':
			c.digits++
		case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			c.refused++
		default:
			c.special++
		}
	}
	return c
}

// CheckPassword checks password against the guide's rules: 12 to 20
// characters, at least one upper-case and one lower-case letter, at least 2
// digits and at least 1 special character. It returns nil or an
// *InvalidError (matching both ErrInvalid and ErrPasswordPolicy) with one
// French message per broken rule, all reported at once. Length counts
// characters (runes), not bytes. White space, control characters and
// invisible format characters (such as a zero-width space) are refused and
// are not special characters; non-ASCII digits are special characters, not
// digits. A password that is not valid UTF-8 is refused with a single
// message. The rule "different from the last 10 passwords" is enforced by the
// LDAP server.
func CheckPassword(password string) error {
	if !utf8.ValidString(password) {
		return invalid([]Problem{{Field: "password", Message: msgPasswordBadUTF8}})
	}
	c := countPassword(password)
	var problems []Problem
	add := func(broken bool, msg string) {
		if broken {
			problems = append(problems, Problem{Field: "password", Message: msg})
		}
	}
	add(c.length < MinPasswordLength, msgPasswordTooShort)
	add(c.length > MaxPasswordLength, msgPasswordTooLong)
	add(c.upper == 0, msgPasswordNoUpper)
	add(c.lower == 0, msgPasswordNoLower)
	add(c.digits < 2, msgPasswordFewDigits)
	add(c.special == 0, msgPasswordNoSpecial)
	add(c.refused > 0, msgPasswordSpace)
	return invalid(problems)
}

// Predictable fragments, compared after lower-casing and undoing common
// character substitutions ("P@ssw0rd" is "password").
var passwordWords = []string{"azerty", "qwerty", "motdepasse", "password", "dgfip", "impots", "apex"}

var passwordLeet = map[rune]rune{'0': 'o', '1': 'i', '3': 'e', '4': 'a', '@': 'a', '$': 's', '5': 's', '7': 't'}

// PasswordStrength rates password for a strength gauge, from 0 to 4:
//
//	0 very weak: refused by CheckPassword, and short or predictable
//	1 weak: refused by CheckPassword
//	2 medium: accepted, but made largely of predictable patterns
//	3 strong: accepted, about as strong as 12 random characters
//	4 very strong: accepted, about as strong as 15 or more random characters
//
// So the gauge agrees with the policy: a password scores 2 or more exactly
// when CheckPassword accepts it. The estimate is the number of characters
// times the bits per character of the classes present (upper case, lower
// case, digits, others), where a character repeating the previous one,
// continuing a sequence such as "abc" or "321", or part of a predictable
// word (azerty, qwerty, motdepasse, password...) counts for a quarter.
func PasswordStrength(password string) int {
	bits := passwordBits(password)
	if CheckPassword(password) != nil {
		if bits < 40 {
			return 0
		}
		return 1
	}
	switch {
	case bits < 60:
		return 2
	case bits < 95:
		return 3
	}
	return 4
}

// passwordBits estimates the entropy of password in bits.
func passwordBits(password string) float64 {
	runes := []rune(password)
	if len(runes) == 0 {
		return 0
	}
	var hasUpper, hasLower, hasDigit, hasOther bool
	norm := make([]rune, len(runes))
	for i, r := range runes {
		switch {
		case unicode.IsUpper(r):
			hasUpper = true
		case unicode.IsLetter(r):
			hasLower = true
		case '0' <= r && r <= '9':
			hasDigit = true
		default:
			hasOther = true
		}
		norm[i] = unicode.ToLower(r)
	}
	pool := 0
	for _, class := range []struct {
		present bool
		size    int
	}{{hasUpper, 26}, {hasLower, 26}, {hasDigit, 10}, {hasOther, 33}} {
		if class.present {
			pool += class.size
		}
	}

	weak := make([]bool, len(runes))
	for i := 1; i < len(norm); i++ {
		if norm[i] == norm[i-1] {
			weak[i] = true
		}
		// Three characters in a row with the same step of +1 or -1.
		if i >= 2 && isAlnum(norm[i]) && isAlnum(norm[i-1]) && isAlnum(norm[i-2]) {
			step := norm[i] - norm[i-1]
			if (step == 1 || step == -1) && norm[i-1]-norm[i-2] == step {
				weak[i-1], weak[i] = true, true
			}
		}
	}
	leet := make([]rune, len(norm))
	for i, r := range norm {
		if l, ok := passwordLeet[r]; ok {
			r = l
		}
		leet[i] = r
	}
	for _, word := range passwordWords {
		for i := range leet {
			if hasWordAt(leet, i, word) {
				for j := i; j < i+len(word); j++ {
					weak[j] = true
				}
			}
		}
	}

	effective := 0.0
	for _, w := range weak {
		if w {
			effective += 0.25
		} else {
			effective++
		}
	}
	return effective * math.Log2(float64(pool))
}

// hasWordAt reports whether the ASCII word occurs in s at index i.
func hasWordAt(s []rune, i int, word string) bool {
	if i+len(word) > len(s) {
		return false
	}
	for j := 0; j < len(word); j++ {
		if s[i+j] != rune(word[j]) {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return ('a' <= r && r <= 'z') || ('0' <= r && r <= '9')
}
