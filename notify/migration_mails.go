package notify

import (
	"strings"

	"github.com/dgfip/apex-partenaires/directory"
)

// The mail of a migration (directory.MigrationNotifier): a mobile number
// checked again, and corrected or removed.

// MobileCheckedData is the data of the mail sent once to an account whose
// stored mobile was checked again with libphonenumber's rules, and
// corrected or removed (directory's mobile-numbers migration).
type MobileCheckedData struct {
	FirstName  string // greets the person; may be empty
	Identifier string // the account's identifier; empty for a request not validated yet
	Mobile     string // the number now stored, E.164; empty when it was removed
	OldMobile  string // the number removed; the mail shows its last two digits only
	PublicURL  string // the service's address; the personal data page is shown when set
}

// Formatted is Mobile as people read it: +262 692 12 34 56.
func (d MobileCheckedData) Formatted() string { return directory.FormatMobile(d.Mobile) }

// OldEnding is the last two digits of OldMobile.
func (d MobileCheckedData) OldEnding() string {
	if len(d.OldMobile) < 2 {
		return "**"
	}
	return d.OldMobile[len(d.OldMobile)-2:]
}

// PersonalDataURL is the personal data page: PublicURL/donnees-personnelles.
func (d MobileCheckedData) PersonalDataURL() string {
	return strings.TrimRight(d.PublicURL, "/") + "/donnees-personnelles"
}

// MobileChecked renders, for the address to, the mail telling that the
// account's mobile was corrected or removed. Its errors never hold a number.
func (Mails) MobileChecked(to string, d MobileCheckedData) (Message, error) {
	var problems []string
	if d.Mobile == "" && len(d.OldMobile) < 2 {
		problems = append(problems, "neither a new number nor the one removed")
	}
	if d.Mobile != "" && !strings.HasPrefix(d.Mobile, "+") {
		problems = append(problems, "the new number is not in E.164 form")
	}
	return mobileChecked.render(to, d, checkPublicURL(problems, d.PublicURL))
}
