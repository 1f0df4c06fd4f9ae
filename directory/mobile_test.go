package directory

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestParseMobile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // E.164; empty when refused
		problem string // the French sentence when refused
	}{
		// France, written as people write it.
		{"French 06", "06 12 34 56 78", "+33612345678", ""},
		{"French 07 with dots", "07.81.23.45.67", "+33781234567", ""},
		{"French with hyphens and parentheses", "(06)-12-34-56-78", "+33612345678", ""},
		{"French with non-breaking spaces", "06\u00a012\u00a034\u00a056\u00a078", "+33612345678", ""},
		{"French with narrow non-breaking spaces", "06\u202f12\u202f34\u202f56\u202f78", "+33612345678", ""},
		{"blanks around", "  06 12 34 56 78 ", "+33612345678", ""},
		{"E.164 French", "+33 6 12 34 56 78", "+33612345678", ""},
		{"+33 with the trunk zero", "+33 06 12 34 56 78", "+33612345678", ""},
		{"+33 with the trunk zero in parentheses", "+33 (0)6 12 34 56 78", "+33612345678", ""},
		{"00 prefix", "0033 6 12 34 56 78", "+33612345678", ""},
		{"French without its zero", "6 12 34 56 78", "+33612345678", ""},

		// The overseas territories in national form: their own country codes.
		{"La Réunion 0692", "0692 12 34 56", "+262692123456", ""},
		{"La Réunion 0693", "0693 12 34 56", "+262693123456", ""},
		{"Mayotte 0639", "0639 01 23 45", "+262639012345", ""},
		{"Guadeloupe 0690", "0690 12 34 56", "+590690123456", ""},
		{"Guadeloupe, Saint-Barthélemy, Saint-Martin 0691", "0691 23 45 67", "+590691234567", ""},
		{"Martinique 0696", "0696 12 34 56", "+596696123456", ""},
		{"Martinique 0697", "0697 12 34 56", "+596697123456", ""},
		{"Guyane 0694", "0694 12 34 56", "+594694123456", ""},
		{"La Réunion 0709", "0709 20 12 34", "+262709201234", ""},
		{"Saint-Pierre-et-Miquelon 0708", "0708 40 12 34", "+508708401234", ""},
		{"Saint-Pierre-et-Miquelon, 0 and 6 digits", "055 12 34", "+508551234", ""},
		{"Polynésie française, 8 digits", "87 12 34 56", "+68987123456", ""},
		{"Nouvelle-Calédonie with its code", "+687 75 12 34", "+687751234", ""},
		{"Wallis-et-Futuna with its code", "+681 82 12 34", "+681821234", ""},
		{"Polynésie française with its code", "+689 87 12 34 56", "+68987123456", ""},
		{"Saint-Pierre-et-Miquelon with its code", "+508 55 12 34", "+508551234", ""},
		{"La Réunion with its code", "+262 692 12 34 56", "+262692123456", ""},
		{"a Réunion mobile written after +33", "+33 6 92 12 34 56", "+262692123456", ""},
		{"a Guadeloupe mobile written after 0033", "0033 690 12 34 56", "+590690123456", ""},
		{"6 digits: Nouvelle-Calédonie, Wallis-et-Futuna or Saint-Pierre-et-Miquelon", "82 12 34", "", mobileAmbiguous},
		{"6 digits: Nouvelle-Calédonie or Saint-Pierre-et-Miquelon", "75.12.34", "", mobileAmbiguous},

		// Abroad, with + or 00.
		{"United Kingdom mobile", "+44 7911 123456", "+447911123456", ""},
		{"Belgian mobile with 00", "0032 470 12 34 56", "+32470123456", ""},
		{"German mobile", "+49 1512 3456789", "+4915123456789", ""},
		{"United States, fixed line or mobile", "+1 202 555 0143", "+12025550143", ""},

		// Refused, each saying why.
		{"London landline", "+44 20 7946 0958", "", mobileNotMobile},
		{"French landline", "01 23 45 67 89", "", mobileNotMobile},
		{"French +33 landline", "+33 1 23 45 67 89", "", mobileNotMobile},
		{"French freephone", "0800 123 456", "", mobileNotMobile},
		{"Guadeloupe landline", "0590 27 12 34", "", mobileNotMobile},
		{"Réunion landline with its code", "+262 262 16 12 34", "", mobileNotMobile},
		{"a Belgian mobile in national form is a French landline", "0470 12 34 56", "", mobileNotMobile},
		{"unallocated French range", "07 00 00 00 01", "", mobileInvalidHere},
		{"unallocated Mayotte range", "0639 12 34 56", "", mobileInvalidHere},
		{"unallocated range after +33", "+33 7 00 00 00 01", "", mobileInvalid},
		{"too short", "06 12 34 56", "", mobileTooShort},
		{"too long", "06 12 34 56 78 9", "", mobileTooLong},
		{"E.164 too long", "+123456789012345", "", mobileTooLong},
		{"+33 too long", "+33 6 12 34 56 789", "", mobileTooLong},
		{"country code zero", "+0612345678", "", mobileBadCountry},
		{"unknown country code", "+999 12345678", "", mobileBadCountry},
		{"empty", "", "", mobileTooShort},
		{"a plus alone", "+", "", mobileTooShort},
		{"separators alone", "( - )", "", mobileTooShort},
		{"letter", "06 12 34 56 7A", "", mobileBadCharacters},
		{"keypad letters", "06-CALL-NOW", "", mobileBadCharacters},
		{"extension", "06 12 34 56 78 ext 5", "", mobileBadCharacters},
		{"plus inside", "+33+612345678", "", mobileBadCharacters},
		{"Arabic-Indic digits", "٠٦١٢٣٤٥٦٧٨", "", mobileBadCharacters},
		{"full-width digits", "０６１２３４５６７８", "", mobileBadCharacters},
		{"filter characters", "*)(mobile=*", "", mobileBadCharacters},
		{"NUL", "06123456\x0078", "", mobileBadCharacters},
		{"not UTF-8", "0612345678\xff", "", mobileBadCharacters},
		{"tab is no separator", "06\t12345678", "", mobileBadCharacters},
		{"tel URI", "tel:+33612345678", "", mobileBadCharacters},
		{"very long", strings.Repeat("06 ", 100), "", mobileTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := ParseMobile(tt.in)
			if got != tt.want || problem != tt.problem {
				t.Errorf("ParseMobile(%q) = %q, %q; want %q, %q", tt.in, got, problem, tt.want, tt.problem)
			}
			if n, ok := NormalizeMobile(tt.in); n != got || ok != (problem == "") {
				t.Errorf("NormalizeMobile(%q) = %q, %v; ParseMobile says %q, %q", tt.in, n, ok, got, problem)
			}
		})
	}
}

func TestFormatMobile(t *testing.T) {
	for in, want := range map[string]string{
		"+33612345678":  "+33 6 12 34 56 78",
		"+262692123456": "+262 692 12 34 56",
		"+447911123456": "+44 7911 123456",
		"pas un numéro": "pas un numéro",
	} {
		if got := FormatMobile(in); got != want {
			t.Errorf("FormatMobile(%q) = %q, want %q", in, got, want)
		}
	}
}

// The messages of the forms are ParseMobile's.
func TestMobileProblemsInForms(t *testing.T) {
	n := NewPerson{FirstName: "Marie", LastName: "Martin", Email: "m@example.fr", Mobile: "+44 20 7946 0958", Role: RoleAgent, State: StateActive}
	if err := n.Validate(); !mobileProblem(err) || err.(*InvalidError).Problems[0].Message != mobileNotMobile {
		t.Errorf("NewPerson with a landline: %v", err)
	}
	m := "0692 12 34 56"
	u := PersonUpdate{Mobile: &m}
	if err := u.Validate(); err != nil || m != "+262692123456" {
		t.Errorf("PersonUpdate with a Réunion mobile: %v, %q", err, m)
	}
	pc := PreCreation{FirstName: "Marie", LastName: "Martin", Mobile: "07 00 00 00 01", Password: "Tr0mpette!42x"}
	if err := pc.validate(RoleAdministrateur); !mobileProblem(err) || err.(*InvalidError).Problems[0].Message != mobileInvalidHere {
		t.Errorf("pre-creation with an unallocated number: %v", err)
	}
}

var (
	e164Pattern      = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	mobileSeparators = strings.NewReplacer(" ", "", ".", "", "-", "", "(", "", ")", "", "\u00a0", "", "\u202f", "")
	onlyDigits       = regexp.MustCompile(`^[0-9]+$`)
	// The country codes of France and of its overseas territories, from
	// which refMobile takes its regions: not the list of mobile.go.
	frenchCountryCodes = []int{33, 262, 590, 594, 596, 508, 689, 687, 681}
)

// nationalReadings reads digits written without country code in every
// region of France and its territories, as the library lists them for
// their country codes, and returns the distinct valid numbers.
func nationalReadings(digits string) []*phonenumbers.PhoneNumber {
	var out []*phonenumbers.PhoneNumber
	seen := map[string]bool{}
	for _, cc := range frenchCountryCodes {
		for _, region := range phonenumbers.GetRegionCodesForCountryCode(cc) {
			n, err := phonenumbers.Parse(digits, region)
			if err != nil || !phonenumbers.IsValidNumberForRegion(n, region) {
				continue
			}
			if e := phonenumbers.Format(n, phonenumbers.E164); !seen[e] {
				seen[e] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// writings are the digit strings that may stand for the number n: with
// its country code (after + or 00, with or without the trunk 0), in
// national form, and a +33 before an overseas national form.
func writings(n *phonenumbers.PhoneNumber) map[string]bool {
	cc := phonenumbers.Format(n, phonenumbers.E164)[1:]
	code := strings.TrimSuffix(cc, phonenumbers.GetNationalSignificantNumber(n))
	national := mobileSeparators.Replace(phonenumbers.Format(n, phonenumbers.NATIONAL))
	nsn := strings.TrimPrefix(national, "0")
	return map[string]bool{cc: true, "00" + cc: true, code + "0" + nsn: true, "00" + code + "0" + nsn: true,
		national: true, nsn: true, "33" + nsn: true, "0033" + nsn: true, "330" + nsn: true, "00330" + nsn: true}
}

// FuzzMobile: a mobile is kept only in E.164 form, as a number the library
// classes as a mobile, when it is a reading of what was typed; separators
// change nothing; a national form is kept exactly when it has one reading
// in France and its territories and that reading is a mobile; and PATCH
// /me and the pre-creation form keep or refuse a mobile alike.
func FuzzMobile(f *testing.F) {
	for _, seed := range []string{
		"06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "+447911123456", "07.81.23.45.67", "0692 12 34 56",
		"0639 01 23 45", "0690123456", "0696 12 34 56", "0694 12 34 56", "+33692123456", "055 12 34", "87 12 34 56",
		"82 12 34", "+687 75 12 34", "+44 20 7946 0958", "01 23 45 67 89", "+1 202 555 0143", "+33 (0)6 12 34 56 78",
		"", "00", "+", "+33", "0612345678\xff", "*)(mobile=*", "06\u00a012\u202f34", "٠٦١٢٣٤٥٦٧٨", "\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, problem := ParseMobile(s)
		ok := problem == ""
		if ok == (got == "") {
			t.Fatalf("ParseMobile(%q) = %q, %q: a number or a problem, never both nor neither", s, got, problem)
		}
		if n, nok := NormalizeMobile(s); n != got || nok != ok {
			t.Fatalf("NormalizeMobile(%q) = %q, %v; ParseMobile says %q, %q", s, n, nok, got, problem)
		}
		trimmed := strings.TrimSpace(s)
		bare := strings.TrimPrefix(mobileSeparators.Replace(trimmed), "+")
		if ok {
			if !e164Pattern.MatchString(got) {
				t.Fatalf("ParseMobile(%q) = %q, not E.164", s, got)
			}
			n, err := phonenumbers.Parse(got, "ZZ")
			if err != nil || !phonenumbers.IsValidNumber(n) || !isMobile(n) {
				t.Fatalf("ParseMobile(%q) = %q, which the library does not class as a valid mobile", s, got)
			}
			if again, problem := ParseMobile(got); again != got {
				t.Fatalf("ParseMobile is not idempotent on %q: %q, %q", got, again, problem)
			}
			if !writings(n)[bare] {
				t.Fatalf("ParseMobile(%q) = %q, which is no reading of the digits %q", s, got, bare)
			}
			if again, _ := ParseMobile(mobileSeparators.Replace(trimmed)); again != got {
				t.Fatalf("ParseMobile(%q) = %q, but without its separators %q", s, got, again)
			}
		}
		// A national form: kept when it has exactly one reading, a mobile.
		if !strings.HasPrefix(trimmed, "+") && !strings.HasPrefix(bare, "00") && onlyDigits.MatchString(bare) && len(trimmed) <= maxMobileInput {
			readings := nationalReadings(bare)
			want := ""
			if len(readings) == 1 && isMobile(readings[0]) {
				want = phonenumbers.Format(readings[0], phonenumbers.E164)
			}
			if got != want {
				t.Fatalf("ParseMobile(%q) = %q, %q; its readings say %q", s, got, problem, want)
			}
		}

		// The forms: an account's update (PATCH /me) and the pre-creation form.
		m := s
		u := PersonUpdate{Mobile: &m}
		err := u.Validate()
		switch {
		case s == "":
			if err != nil || *u.Mobile != "" {
				t.Fatalf("an empty mobile removes it: %v, %q", err, *u.Mobile)
			}
		case ok:
			if err != nil || *u.Mobile != got {
				t.Fatalf("update with mobile %q: %v, %q; want %q", s, err, *u.Mobile, got)
			}
		case !mobileProblem(err) || err.(*InvalidError).Problems[0].Message != problem:
			t.Fatalf("update with mobile %q: %v, want the problem %q", s, err, problem)
		}

		pc := PreCreation{FirstName: "Marie", LastName: "Martin", Mobile: s, Password: "Tr0mpette!42x"}
		err = pc.validate(RoleAdministrateur)
		switch {
		case trimmed == "":
			if err != nil || pc.Mobile != "" {
				t.Fatalf("pre-creation without mobile: %v, %q", err, pc.Mobile)
			}
		case ok:
			if err != nil || pc.Mobile != got {
				t.Fatalf("pre-creation with mobile %q: %v, %q; want %q", s, err, pc.Mobile, got)
			}
		case !mobileProblem(err) || err.(*InvalidError).Problems[0].Message != problem:
			t.Fatalf("pre-creation with mobile %q: %v, want the problem %q", s, err, problem)
		}
	})
}

// mobileProblem reports whether err is an invalid input on the mobile only.
func mobileProblem(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie) && errors.Is(err, ErrInvalid) && len(ie.Problems) == 1 && ie.Problems[0].Field == "mobile"
}
