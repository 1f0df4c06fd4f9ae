package directory

import (
	"strings"
	"unicode"
)

// laPosteSIREN is the SIREN of La Poste, whose establishments have SIRETs
// that do not follow the Luhn key.
const laPosteSIREN = "356000000"

const (
	msgSIRETLength = "Le SIRET doit comporter 14 chiffres."
	msgSIRETKey    = "Le SIRET n'est pas valide (clé de contrôle incorrecte)."
)

// NormalizeSIRET removes from s the separators people type or paste in a
// SIRET: spaces, non-breaking spaces (and any other white space) and dots.
// It changes nothing else; CheckSIRET then refuses anything but 14 digits.
func NormalizeSIRET(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// CheckSIRET checks that s, already normalised with NormalizeSIRET, is a
// SIRET: exactly 14 ASCII digits whose SIREN (the first 9 digits) and whole
// number both have a valid Luhn key. SIRETs of La Poste (SIREN 356000000) are
// also valid when the sum of their digits is a multiple of 5. It returns nil
// or an *InvalidError with Field "siret".
func CheckSIRET(s string) error {
	if len(s) != 14 || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return invalid([]Problem{{Field: "siret", Message: msgSIRETLength}})
	}
	valid := luhn(s[:9]) && luhn(s)
	if !valid && strings.HasPrefix(s, laPosteSIREN) {
		sum := 0
		for i := 0; i < len(s); i++ {
			sum += int(s[i] - '0')
		}
		valid = sum%5 == 0
	}
	if !valid {
		return invalid([]Problem{{Field: "siret", Message: msgSIRETKey}})
	}
	return nil
}

// luhn reports whether the ASCII digits s have a valid Luhn key.
func luhn(s string) bool {
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
