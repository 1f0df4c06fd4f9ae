package directory

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNormalizeMobile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // empty when refused
	}{
		{"French 06", "06 12 34 56 78", "+33612345678"},
		{"French 07 with dots", "07.12.34.56.78", "+33712345678"},
		{"French with hyphens and parentheses", "(06)-12-34-56-78", "+33612345678"},
		{"French with non-breaking spaces", "06\u00a012\u00a034\u00a056\u00a078", "+33612345678"},
		{"E.164 French", "+33 6 12 34 56 78", "+33612345678"},
		{"00 prefix", "0033 6 12 34 56 78", "+33612345678"},
		{"foreign", "+44 7911 123456", "+447911123456"},
		{"longest E.164", "+123456789012345", "+123456789012345"},

		{"empty", "", ""},
		{"French landline", "01 23 45 67 89", ""},
		{"French +33 landline", "+33 1 23 45 67 89", ""},
		{"French +33 with trunk zero", "+33 06 12 34 56 78", ""},
		{"national without plus", "612345678", ""},
		{"country code zero", "+0612345678", ""},
		{"too long", "+1234567890123456", ""},
		{"too short", "+1234567", ""},
		{"letter", "06 12 34 56 7A", ""},
		{"plus inside", "+33+612345678", ""},
		{"Arabic-Indic digits", "٠٦١٢٣٤٥٦٧٨", ""},
		{"full-width digits", "０６１２３４５６７８", ""},
		{"filter characters", "*)(mobile=*", ""},
		{"NUL", "06123456\x0078", ""},
		{"not UTF-8", "0612345678\xff", ""},
		{"tab is no separator", "06\t12345678", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeMobile(tt.in)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("NormalizeMobile(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

var (
	e164Pattern   = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	frenchMobile  = regexp.MustCompile(`^\+33[67][0-9]{8}$`)
	nationalFrMob = regexp.MustCompile(`^0[67][0-9]{8}$`)
)

// refMobile is NormalizeMobile written with patterns, as an oracle.
func refMobile(s string) (string, bool) {
	for _, sep := range []string{" ", ".", "-", "(", ")", "\u00a0"} {
		s = strings.ReplaceAll(s, sep, "")
	}
	switch {
	case nationalFrMob.MatchString(s):
		s = "+33" + s[1:]
	case strings.HasPrefix(s, "00"):
		s = "+" + s[2:]
	}
	if !e164Pattern.MatchString(s) || strings.HasPrefix(s, "+33") && !frenchMobile.MatchString(s) {
		return "", false
	}
	return s, true
}

// FuzzMobile: a mobile is kept only in E.164 form, French ones only as
// mobiles (+336, +337), the same way by every form that takes one.
func FuzzMobile(f *testing.F) {
	for _, seed := range []string{
		"06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "+447911123456", "07.12.34.56.78",
		"", "00", "+", "+33", "0612345678\xff", "*)(mobile=*", "06\u00a012\u202f34", "٠٦١٢٣٤٥٦٧٨", "\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeMobile(s)
		want, wantOK := refMobile(s)
		if got != want || ok != wantOK {
			t.Fatalf("NormalizeMobile(%q) = %q, %v; the reference says %q, %v", s, got, ok, want, wantOK)
		}
		if !ok {
			if got != "" {
				t.Fatalf("NormalizeMobile(%q) refused but returned %q", s, got)
			}
		} else if again, ok := NormalizeMobile(got); !ok || again != got {
			t.Fatalf("NormalizeMobile is not idempotent on %q: %q, %v", got, again, ok)
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
		case !mobileProblem(err):
			t.Fatalf("update with mobile %q: %v, want a mobile problem", s, err)
		}

		trimmed := strings.TrimSpace(s)
		normTrimmed, okTrimmed := NormalizeMobile(trimmed)
		pc := PreCreation{FirstName: "Marie", LastName: "Martin", Mobile: s, Password: "Tr0mpette!42x"}
		err = pc.validate(RoleAdministrateur)
		switch {
		case trimmed == "":
			if err != nil || pc.Mobile != "" {
				t.Fatalf("pre-creation without mobile: %v, %q", err, pc.Mobile)
			}
		case okTrimmed:
			if err != nil || pc.Mobile != normTrimmed {
				t.Fatalf("pre-creation with mobile %q: %v, %q; want %q", s, err, pc.Mobile, normTrimmed)
			}
		case !mobileProblem(err):
			t.Fatalf("pre-creation with mobile %q: %v, want a mobile problem", s, err)
		}
	})
}

// mobileProblem reports whether err is an invalid input on the mobile only.
func mobileProblem(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie) && errors.Is(err, ErrInvalid) && len(ie.Problems) == 1 && ie.Problems[0].Field == "mobile"
}
