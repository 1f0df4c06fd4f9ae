package httpapi

import (
	"errors"

	"github.com/dgfip/apex-partenaires/directory"
)

// The form of a new password, shared by the renewal (forgotten_password.go),
// the change from the personal data (personal_data.go) and, for its rules,
// the pre-creation form (invitations.go).

// passwordRule is one of the guide's rules, with the name the gauge script
// checks it by (empty for the history, which only the directory knows).
type passwordRule struct {
	Key  string
	Text string
}

// passwordRuleKeys name directory.PasswordRules for password-gauge.js, in order.
var passwordRuleKeys = []string{"length", "case", "digits", "special", ""}

func passwordRules() []passwordRule {
	rules := make([]passwordRule, len(directory.PasswordRules))
	for i, text := range directory.PasswordRules {
		rules[i] = passwordRule{Text: text}
		if i < len(passwordRuleKeys) {
			rules[i].Key = passwordRuleKeys[i]
		}
	}
	return rules
}

// passwordPage is the form of a new password, from a renewal (SMS code or
// mail link) or from the personal data (with the current password).
type passwordPage struct {
	base
	Heading string
	Intro   string
	Notice  *notice
	Action  string // where the form goes; empty when it cannot be shown
	Current bool   // asks for the current password
	Button  string
	Rules   []passwordRule
	Errors  formErrors
	Done    bool   // the password was changed
	Back    string // the link of the final page
	BackTo  string // its text
}

// checkNewPassword checks a new password and its confirmation, as far as
// the service can before the directory: every problem at once.
func checkNewPassword(f formErrors, next, confirmation string) {
	if next == "" {
		f.add("password", "Saisissez votre nouveau mot de passe.")
	} else {
		f.addProblems(directory.CheckPassword(next), map[string]string{"password": "password"})
	}
	switch {
	case confirmation == "":
		f.add("confirmation", "Confirmez votre nouveau mot de passe.")
	case next != confirmation:
		f.add("confirmation", "Les deux mots de passe saisis ne sont pas identiques.")
	}
}

// passwordErrors files what the directory refused in a new password under
// its field; it reports whether err was such a refusal.
func passwordErrors(f formErrors, err error) bool {
	if errors.Is(err, directory.ErrPasswordInHistory) {
		kind, _ := classify(err)
		f.add("password", kind.message)
		return true
	}
	if errors.Is(err, directory.ErrPasswordPolicy) || errors.Is(err, directory.ErrInvalid) {
		if !f.addProblems(err, map[string]string{"password": "password"}) {
			f.add("password", "Le mot de passe ne respecte pas les règles.")
		}
		return true
	}
	return false
}
