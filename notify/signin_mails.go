package notify

import (
	"fmt"
	"strings"
)

// The mail of the sign-in (directory.Notifier): the verification code.

// SignInCodeData is the data of the mail carrying a sign-in verification
// code.
type SignInCodeData struct {
	FirstName    string // greets the person; may be empty
	Code         string // the verification code
	ValidMinutes int    // how long the code is valid
	PublicURL    string // the service's address, shown beside the instruction; may be empty
}

// SignInCode renders the mail of a sign-in verification code for the
// address to.
func (Mails) SignInCode(to string, d SignInCodeData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.Code) == "" {
		problems = append(problems, "no code")
	}
	if d.ValidMinutes <= 0 {
		problems = append(problems, fmt.Sprintf("validity of %d minutes", d.ValidMinutes))
	}
	return signInCode.render(to, d, checkPublicURL(problems, d.PublicURL))
}
