package directory

import (
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// assertion is the LDAP assertion control (RFC 4528): slapd performs the
// operation only if the entry matches the filter, atomically, and answers
// 122 otherwise: a compare-and-swap on any condition of the entry. Not for
// operations that touch uid or mail, nor renames: slapd 2.5's unique
// overlay hands the control to its own internal search, which then fails.
type assertion struct{ filter string }

const assertionOID = "1.3.6.1.1.12"

func (a assertion) GetControlType() string { return assertionOID }

func (a assertion) Encode() *ber.Packet {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, assertionOID, "Control Type (Assertion)"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	value := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Control Value (Assertion)")
	filter, err := ldap.CompileFilter(a.filter)
	if err != nil {
		// Filters come from this package's helpers: a bad one is a bug.
		panic(fmt.Sprintf("assertion filter %q: %v", a.filter, err))
	}
	value.AppendChild(filter)
	packet.AppendChild(value)
	return packet
}

func (a assertion) String() string { return "Assertion " + a.filter }
