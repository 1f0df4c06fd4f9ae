package directory

// Reset channels: how a forgotten password's renewal reaches the person
// (guide section 5).
const (
	ResetBySMS  = "sms"  // a 6-digit security code, when a mobile is known
	ResetByMail = "mail" // a renewal link, when none is
)

// ResetStart is a renewal just started. Reset names it for the client,
// whatever happened; Channel, Code, Token and Person are for the service
// to send, and empty when the identifier is unknown or not active, which
// the client must not be able to tell.
type ResetStart struct {
	Reset   string
	Channel string
	Code    string // by SMS
	Token   string // in the mail's link
	Person  *Person
}
