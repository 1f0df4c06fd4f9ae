package directory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeSIRET(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"already normal", "73282932000074", "73282932000074"},
		{"spaces", "732 829 320 00074", "73282932000074"},
		{"non-breaking spaces", "732\u00a0829\u00a0320\u00a000074", "73282932000074"},
		{"narrow non-breaking spaces", "732\u202f829\u202f320\u202f00074", "73282932000074"},
		{"dots", "732.829.320.00074", "73282932000074"},
		{"surrounding white space", " \t73282932000074\n", "73282932000074"},
		{"other characters kept", "732-829-320-00074", "732-829-320-00074"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeSIRET(tt.in); got != tt.want {
				t.Errorf("NormalizeSIRET(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckSIRET(t *testing.T) {
	const (
		length = "Le SIRET doit comporter 14 chiffres."
		key    = "Le SIRET n'est pas valide (clé de contrôle incorrecte)."
	)
	tests := []struct {
		name  string
		siret string
		want  string // the French message, empty when valid
	}{
		{"IBM France", "73282932000074", ""},
		{"La Poste head office, Luhn key", "35600000000048", ""},
		{"Google France", "44306184100047", ""},
		{"La Poste establishment, digit sum multiple of 5", "35600000000001", ""},
		{"La Poste establishment, digit sum 20", "35600000000056", ""},

		{"last digit changed", "73282932000075", key},
		{"two digits swapped", "73282932000047", key},
		{"SIREN digit changed", "73282932100074", key},
		{"Luhn valid but SIREN key wrong", "12345678000006", key},
		{"La Poste, neither rule", "35600000000002", key},
		{"La Poste-like prefix, digit sum multiple of 5", "35600000100000", key},

		{"empty", "", length},
		{"13 digits", "7328293200007", length},
		{"15 digits", "732829320000740", length},
		{"spaces not stripped", "732 829 320 00074", length},
		{"letter", "7328293200007A", length},
		{"full-width digits", "７３２８２９３２０００７４", length},
		{"Arabic-Indic digits", "٧٣٢٨٢٩٣٢٠٠٠٠٧٤", length},
		{"sign", "+7328293200007", length},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSIRET(tt.siret)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckSIRET(%q) = %v, want nil", tt.siret, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckSIRET(%q) = %v, want an error matching ErrInvalid", tt.siret, err)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *InvalidError", err)
			}
			if want := []Problem{{"siret", tt.want}}; !reflect.DeepEqual(ie.Problems, want) {
				t.Errorf("CheckSIRET(%q) problems = %q, want %q", tt.siret, ie.Problems, want)
			}
		})
	}
}

func TestCheckSIRETNormalized(t *testing.T) {
	for _, s := range []string{"732 829 320 00074", "443.061.841.00047", "356\u00a0000\u00a0000\u00a000048"} {
		if err := CheckSIRET(NormalizeSIRET(s)); err != nil {
			t.Errorf("CheckSIRET(NormalizeSIRET(%q)) = %v", s, err)
		}
	}
}

// luhnRef is the Luhn check written the other way round: doubling digits at
// even positions from the left of a 14-digit number, or odd ones of a 9-digit one.
func luhnRef(digits []int) bool {
	sum := 0
	for i, d := range digits {
		if (len(digits)-i)%2 == 0 {
			d = d*2%10 + d*2/10
		}
		sum += d
	}
	return sum%10 == 0
}

func FuzzSIRET(f *testing.F) {
	for _, seed := range []string{
		"73282932000074", "35600000000048", "44306184100047", "35600000000001",
		"73282932000075", "", "732 829 320 00074", "7328293200007A", "٧٣٢٨٢٩٣٢٠٠٠٠٧٤", "\x00\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeSIRET(s)
		if NormalizeSIRET(n) != n {
			t.Fatalf("NormalizeSIRET is not idempotent on %q", s)
		}
		if strings.ContainsAny(n, " .\u00a0\u202f") {
			t.Fatalf("NormalizeSIRET(%q) = %q keeps separators", s, n)
		}
		err := CheckSIRET(n)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("CheckSIRET(%q) = %v, not matching ErrInvalid", n, err)
		}

		var digits []int
		for _, r := range n {
			if r < '0' || r > '9' {
				digits = nil
				break
			}
			digits = append(digits, int(r-'0'))
		}
		want := false
		if len(digits) == 14 {
			sum := 0
			for _, d := range digits {
				sum += d
			}
			want = (luhnRef(digits) && luhnRef(digits[:9])) ||
				(strings.HasPrefix(n, "356000000") && sum%5 == 0)
		}
		if (err == nil) != want {
			t.Fatalf("CheckSIRET(%q) = %v, reference check says valid=%v", n, err, want)
		}

		// Luhn catches any single changed digit.
		if err == nil && !strings.HasPrefix(n, "356000000") {
			b := []byte(n)
			for i := range b {
				orig := b[i]
				b[i] = '0' + (orig-'0'+1)%10
				if m := string(b); !strings.HasPrefix(m, "356000000") && CheckSIRET(m) == nil {
					t.Fatalf("CheckSIRET accepts %q, one digit away from valid %q", m, n)
				}
				b[i] = orig
			}
		}
	})
}
