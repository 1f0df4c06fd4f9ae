package directory

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Mobile numbers are read with libphonenumber's rules and data
// (github.com/nyaruka/phonenumbers) and kept in E.164 form. Only numbers
// that can receive the SMS of a password renewal are kept: those the
// library classes as mobile, and as fixed-line-or-mobile, its answer where
// a number's type cannot be told from the number (the United States and
// Canada, among others): refusing those would refuse every mobile there,
// and such a number is still its owner's.
//
// A number without + nor 00 is read as French people write them, in France
// or in its overseas territories. The overseas departments and
// collectivities share France's national form (a 0, then 9 digits) but not
// its country code: 0692 12 34 56 is a mobile of La Réunion,
// +262 692 12 34 56, and no number of France's. So a national form is read
// in each of frenchRegions; it is kept when exactly one reading is a
// valid number, and refused as ambiguous when several are. Measured on the
// library's data (v1.8.1): the mobiles written 06… and 07… have one
// reading each (0639 Mayotte, 0690 and 0691 Guadeloupe, Saint-Barthélemy
// and Saint-Martin, which share +590, 0692 and 0693 La Réunion, 0694
// Guyane, 0696 and 0697 Martinique, 0708 Saint-Pierre-et-Miquelon, 0709
// split among the departments); Saint-Pierre-et-Miquelon is written 0 and
// 6 digits (055 12 34); Polynésie française has no 0 and 8 digits
// (87 12 34 56). Nouvelle-Calédonie and Wallis-et-Futuna write 6 digits
// without 0, which Saint-Pierre-et-Miquelon also reads: such a number is
// ambiguous and must be written with its country code.
//
// A +33 number that is no number of France's but whose national form is
// an overseas one (+33 6 92 12 34 56) is that overseas number: the only
// one it can mean, and what the hand-written rules before this one stored
// for 0692 12 34 56 (see the mobile-numbers migration).

// frenchRegions are France and its overseas territories that have
// numbers, as libphonenumber names them.
var frenchRegions = []string{"FR", "RE", "YT", "GP", "BL", "MF", "MQ", "GF", "PM", "PF", "NC", "WF"}

// maxMobileInput bounds what is handed to the library: an E.164 number has
// at most 15 digits, with 00 before them and a separator between each.
const maxMobileInput = 40

// The French sentences of ParseMobile, one per thing that can be wrong.
const (
	mobileBadCharacters = "Ce numéro ne doit contenir que des chiffres, des espaces, des points, des tirets ou des parenthèses, et le signe + devant l'indicatif."
	mobileTooShort      = "Ce numéro est trop court."
	mobileTooLong       = "Ce numéro est trop long."
	mobileBadCountry    = "L'indicatif de ce numéro n'existe pas."
	mobileInvalid       = "Ce numéro n'est pas valide."
	mobileInvalidHere   = "Ce numéro n'est pas valide. Un numéro étranger s'écrit avec son indicatif, par exemple +32 470 12 34 56."
	mobileNotMobile     = "Ce numéro n'est pas un numéro de téléphone portable."
	mobileAmbiguous     = "Ce numéro existe dans plusieurs territoires : écrivez-le avec son indicatif (+687 pour la Nouvelle-Calédonie, +681 pour Wallis-et-Futuna, +508 pour Saint-Pierre-et-Miquelon)."
)

// ParseMobile returns a mobile number in E.164 form, or, when it cannot
// be kept, a French sentence that says why (problem). The number may be
// written in national form (06 12 34 56 78, 0692 12 34 56) or with its
// country code after + or 00, with spaces, dots, hyphens or parentheses
// between the digits.
func ParseMobile(s string) (e164, problem string) {
	s = strings.TrimSpace(s)
	if len(s) > maxMobileInput {
		return "", mobileTooLong
	}
	digits, international, ok := mobileDigits(s)
	switch {
	case !ok:
		return "", mobileBadCharacters
	case len(digits) == 0:
		return "", mobileTooShort
	case international:
		return parseInternational(digits)
	}
	return parseNational(digits, mobileInvalidHere)
}

// NormalizeMobile is ParseMobile without the reason: the number in E.164
// form, and whether it can be kept.
func NormalizeMobile(s string) (string, bool) {
	e164, problem := ParseMobile(s)
	return e164, problem == ""
}

// FormatMobile writes an E.164 number as people read it: +262 692 12 34 56.
// What is not a number is given back as it is.
func FormatMobile(e164 string) string {
	n, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
}

// mobileDigits drops the separators of a number and reads its
// international prefix: + first, or 00. ok is false for any other
// character (letters, which the library would read as on a keypad, an
// extension, a tab, digits of other scripts).
func mobileDigits(s string) (digits string, international, ok bool) {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			international = true
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' || r == '\u00a0' || r == '\u202f':
		default:
			return "", false, false
		}
	}
	digits = b.String()
	if !international && strings.HasPrefix(digits, "00") {
		digits, international = digits[2:], true // France's international prefix
	}
	return digits, international, true
}

// parseInternational reads the digits that follow + or 00.
func parseInternational(digits string) (string, string) {
	n, err := phonenumbers.Parse("+"+digits, "ZZ")
	switch {
	case err == phonenumbers.ErrInvalidCountryCode:
		return "", mobileBadCountry
	case err != nil:
		return "", mobileTooShort
	}
	if !phonenumbers.IsValidNumber(n) {
		if n.GetCountryCode() == 33 {
			// +33 then an overseas national form: that overseas number.
			if e164, problem := parseNational("0"+phonenumbers.GetNationalSignificantNumber(n), mobileInvalid); problem == "" {
				return e164, ""
			}
		}
		return "", lengthProblem(n, mobileInvalid)
	}
	return kept(n)
}

// parseNational reads a number written without its country code in each
// of frenchRegions. invalid is the problem when no reading is a number.
func parseNational(digits, invalid string) (string, string) {
	var readings []*phonenumbers.PhoneNumber
	seen := map[string]bool{}
	for _, region := range frenchRegions {
		n, err := phonenumbers.Parse(digits, region)
		if err != nil || !phonenumbers.IsValidNumberForRegion(n, region) {
			continue
		}
		if e164 := phonenumbers.Format(n, phonenumbers.E164); !seen[e164] {
			seen[e164] = true
			readings = append(readings, n)
		}
	}
	switch len(readings) {
	case 0:
		n, err := phonenumbers.Parse(digits, "FR")
		if err != nil {
			return "", mobileTooShort
		}
		return "", lengthProblem(n, invalid)
	case 1:
		return kept(readings[0])
	}
	for _, n := range readings {
		if isMobile(n) {
			return "", mobileAmbiguous
		}
	}
	return "", mobileNotMobile // none of its readings is a mobile
}

// kept returns a valid number in E.164 form when it is a mobile.
func kept(n *phonenumbers.PhoneNumber) (string, string) {
	if !isMobile(n) {
		return "", mobileNotMobile
	}
	return phonenumbers.Format(n, phonenumbers.E164), ""
}

func isMobile(n *phonenumbers.PhoneNumber) bool {
	t := phonenumbers.GetNumberType(n)
	return t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// lengthProblem says that an invalid number is too short or too long when
// its length is what is wrong, and otherwise.
func lengthProblem(n *phonenumbers.PhoneNumber, otherwise string) string {
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.TOO_SHORT:
		return mobileTooShort
	case phonenumbers.TOO_LONG:
		return mobileTooLong
	case phonenumbers.INVALID_COUNTRY_CODE:
		return mobileBadCountry
	}
	return otherwise
}
