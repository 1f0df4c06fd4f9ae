package directory

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPasswordRules(t *testing.T) {
	want := []string{
		"12 à 20 caractères",
		"1 lettre majuscule et 1 lettre minuscule",
		"minimum 2 chiffres",
		"minimum 1 caractère spécial",
		"différent des 10 derniers mots de passe utilisés",
	}
	if !reflect.DeepEqual(PasswordRules, want) {
		t.Errorf("PasswordRules = %q, want %q", PasswordRules, want)
	}
}

func TestCheckPassword(t *testing.T) {
	const (
		short     = "Le mot de passe doit contenir au moins 12 caractères."
		long      = "Le mot de passe doit contenir au plus 20 caractères."
		noUpper   = "Le mot de passe doit contenir au moins une lettre majuscule."
		noLower   = "Le mot de passe doit contenir au moins une lettre minuscule."
		fewDigits = "Le mot de passe doit contenir au moins 2 chiffres."
		noSpecial = "Le mot de passe doit contenir au moins 1 caractère spécial."
		space     = "Le mot de passe ne doit contenir ni espace ni caractère de contrôle."
		badUTF8   = "Le mot de passe contient des caractères invalides."
	)
	tests := []struct {
		name     string
		password string
		want     []string // messages, in order; nil when accepted
	}{
		{"all rules met", "Tr0mpette!42", nil},
		{"exactly 12 characters", "Abcdefgh12!x", nil},
		{"exactly 20 characters", "Abcdefgh12!xyzuvwrst", nil},
		{"11 characters", "Abcdefg12!x", []string{short}},
		{"21 characters", "Abcdefgh12!xyzuvwrstu", []string{long}},
		{"no upper case", "abcdefgh12!x", []string{noUpper}},
		{"no lower case", "ABCDEFGH12!X", []string{noLower}},
		{"one digit only", "Abcdefghi1!x", []string{fewDigits}},
		{"no digit", "Abcdefghij!x", []string{fewDigits}},
		{"no special", "Abcdefgh12xy", []string{noSpecial}},
		{"space refused and not special", "Abcdefgh 12x", []string{noSpecial, space}},
		{"space refused with a special", "Abcdefg 12!x", []string{space}},
		{"tab refused", "Abcdefg\t12!x", []string{space}},
		{"non-breaking space refused", "Abcdefg\u00a012!x", []string{space}},
		{"control character refused", "Abcdefg\x0012!x", []string{space}},
		{"zero-width space refused", "Abcdefg\u200b12!x", []string{space}},
		{"invalid UTF-8 refused alone", "Abcdefgh12!\xff", []string{badUTF8}},
		{"invalid UTF-8 refused even when short", "\xff", []string{badUTF8}},
		{"empty breaks every counting rule", "", []string{short, noUpper, noLower, fewDigits, noSpecial}},
		{"several broken at once", "abc def", []string{short, noUpper, fewDigits, noSpecial, space}},
		{"long and weak", "aaaaaaaaaaaaaaaaaaaaaaaaa", []string{long, noUpper, fewDigits, noSpecial}},

		{"accented upper and lower case count", "Éléphant12!à", nil},
		{"accented upper case alone is upper", "ÉLÉPHANT12!À", []string{noLower}},
		{"12 multibyte characters are 12 characters", "Éàéèêëîïôù1!", []string{fewDigits}},
		{"multibyte length is not bytes at 20", "ÉéÉéÉéÉéÉéÉéÉéÉé12!!", nil},
		{"multibyte length is not bytes at 11", "Ééééééé12!€", []string{short}},
		{"euro sign is special", "Abcdefgh12€x", nil},
		{"emoji is special", "Abcdefgh12😀x", nil},
		{"non-ASCII digits are not digits", "Abcdefgh١٢!x", []string{fewDigits}},
		{"uncased letters are neither upper nor lower", "漢字漢字漢字漢字12!A", []string{noLower}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.password)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckPassword(%q) = %v, want nil", tt.password, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckPassword(%q) = nil, want %q", tt.password, tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrPasswordPolicy) {
				t.Errorf("error %v does not match ErrInvalid and ErrPasswordPolicy", err)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *InvalidError", err)
			}
			var got []string
			for _, p := range ie.Problems {
				if p.Field != "password" {
					t.Errorf("problem %v has field %q, want password", p, p.Field)
				}
				got = append(got, p.Message)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckPassword(%q) messages = %q, want %q", tt.password, got, tt.want)
			}
		})
	}
}

func TestPasswordStrength(t *testing.T) {
	tests := []struct {
		name     string
		password string
		want     int
	}{
		{"empty", "", 0},
		{"common word", "password", 0},
		{"keyboard row", "azerty123", 0},
		{"short with all classes", "Ab1!", 0},
		{"long passphrase refused for spaces", "cheval correct agrafe batterie", 1},
		{"long but no special", "MonChatNoir2024Zx", 1},
		{"accepted but predictable", "Azerty12345!", 2},
		{"accepted but repeated", "Aaaaaaaaa11!", 2},
		{"accepted with leet password", "P@ssw0rd1234!", 2},
		{"12 random characters", "k7#Qm2xV!pR9", 3},
		{"16 random characters", "k7#Qm2xV!pR9wL4$", 4},
		{"20 random characters", "k7#Qm2xV!pR9wL4$zT8&", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PasswordStrength(tt.password); got != tt.want {
				t.Errorf("PasswordStrength(%q) = %d, want %d (%.1f bits)", tt.password, got, tt.want, passwordBits(tt.password))
			}
		})
	}
}

func TestPasswordStrengthRandom(t *testing.T) {
	const (
		upper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		lower   = "abcdefghijklmnopqrstuvwxyz"
		digits  = "0123456789"
		special = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
		all     = upper + lower + digits + special
	)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(set string) byte { return set[rng.IntN(len(set))] }
	for range 2000 {
		for _, n := range []int{12, 20} {
			b := []byte{pick(upper), pick(lower), pick(digits), pick(digits), pick(special)}
			for len(b) < n {
				b = append(b, pick(all))
			}
			rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
			p := string(b)
			if err := CheckPassword(p); err != nil {
				t.Fatalf("CheckPassword(%q) = %v", p, err)
			}
			got := PasswordStrength(p)
			if got < 2 {
				t.Fatalf("PasswordStrength(%q) = %d for an accepted password", p, got)
			}
			if n == 20 && got != 4 {
				t.Fatalf("PasswordStrength(%q) = %d for 20 random characters, want 4", p, got)
			}
		}
	}
}

// recount checks password against the rules independently of countPassword.
func recount(password string) (accepted bool) {
	if !utf8.ValidString(password) {
		return false
	}
	n := utf8.RuneCountInString(password)
	upper, lower, digits, special := 0, 0, 0, 0
	for _, r := range password {
		switch {
		case unicode.IsSpace(r), unicode.IsControl(r), unicode.In(r, unicode.Cf):
			return false
		case unicode.IsLetter(r):
			if unicode.IsUpper(r) {
				upper++
			}
			if unicode.IsLower(r) {
				lower++
			}
		case strings.ContainsRune("0123456789", r):
			digits++
		default:
			special++
		}
	}
	return n >= 12 && n <= 20 && upper >= 1 && lower >= 1 && digits >= 2 && special >= 1
}

func FuzzPassword(f *testing.F) {
	for _, seed := range []string{
		"", "Tr0mpette!42", "Abcdefgh12!x", "Abcdefgh12!xyzuvwrst", "Abcdefgh12!xyzuvwrstu",
		"password", "P@ssw0rd1234!", "Éléphant12!à", "Abcdefg 12!x", "Abcdefg\u200b12!x",
		"Abcdefgh12!\xff", "Abcdefgh١٢!x", "ǅabcdefgh12!", "😀😀😀😀😀😀😀😀😀😀Aa12", "\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, password string) {
		err := CheckPassword(password)
		if want := recount(password); (err == nil) != want {
			t.Fatalf("CheckPassword(%q) = %v, independent recount says accepted=%v", password, err, want)
		}
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 || !errors.Is(err, ErrPasswordPolicy) {
				t.Fatalf("unexpected error %#v", err)
			}
			seen := map[string]bool{}
			for _, p := range ie.Problems {
				if p.Field != "password" || p.Message == "" || seen[p.Message] {
					t.Fatalf("unexpected problem %v in %v", p, err)
				}
				seen[p.Message] = true
			}
		}
		s := PasswordStrength(password)
		if s < 0 || s > 4 {
			t.Fatalf("PasswordStrength(%q) = %d, out of 0..4", password, s)
		}
		if (s >= 2) != (err == nil) {
			t.Fatalf("PasswordStrength(%q) = %d but CheckPassword = %v", password, s, err)
		}
	})
}
