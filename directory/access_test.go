package directory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// An end date is typed as AAAA-MM-JJ, a day in Paris: it reads back as the
// same day whatever the season (summer time included), and anything else
// is refused with the field named, never a panic.
func TestParseDay(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"2027-01-31", "2027-01-31", true},
		{" 2027-03-28 ", "2027-03-28", true}, // the day summer time starts
		{"2027-10-31", "2027-10-31", true},   // and ends
		{"", "", true},                       // none
		{"2027-02-30", "", false},
		{"31/01/2027", "", false},
		{"2027-1-31", "", false},
		{"2027-01-31T00:00:00Z", "", false},
	} {
		got, err := directory.ParseDay("endDate", tt.in)
		if !tt.ok {
			var ie *directory.InvalidError
			if !errors.As(err, &ie) || ie.Problems[0].Field != "endDate" {
				t.Errorf("%q: %v, want a problem of endDate", tt.in, err)
			}
			continue
		}
		if err != nil || directory.Day(got) != tt.want {
			t.Errorf("%q: %v %v, want the day %q", tt.in, directory.Day(got), err, tt.want)
		}
		if tt.want != "" && (got.UTC().Hour() != 22 && got.UTC().Hour() != 23) {
			t.Errorf("%q starts at %v UTC, not at midnight in Paris", tt.in, got.UTC())
		}
	}
}

func FuzzParseDay(f *testing.F) {
	for _, s := range []string{"2027-01-31", "", "2027-02-30", "0000-01-01", "9999-12-31", "2027-13-01", "\xff", "2027-03-28"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := directory.ParseDay("endDate", s)
		if err != nil {
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("%q: %v is not an invalid input", s, err)
			}
			return
		}
		if day := directory.Day(got); day != strings.TrimSpace(s) {
			t.Fatalf("%q read back as %q", s, day)
		}
	})
}
