// Package schema holds the APEX Partenaires LDAP schema, in the cn=config
// LDIF form that slapadd and ldapadd load.
package schema

import (
	_ "embed"
	"regexp"
)

// LDIF is the APEX schema entry, cn=apex,cn=schema,cn=config.
//
//go:embed apex.ldif
var LDIF []byte

// ObjectClasses are the object classes the schema defines; a start-up check
// looks for them in the server's subschema.
var ObjectClasses = []string{"apexStructure", "apexService", "apexPerson", "apexApplication", "apexProfile", "apexKeyring", "apexLimit", "apexJob", "apexOidcKeyring"}

// AttributeTypes are the attribute types the schema defines, read from
// LDIF. The start-up check looks for them too, so that a directory whose
// schema is older than the service fails at start, not at the first write
// of a newer attribute (apexKnownAddress, written by every sign-in).
var AttributeTypes = func() []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^olcAttributeTypes: \( [0-9.]+ NAME '([A-Za-z]+)'`).FindAllSubmatch(LDIF, -1) {
		names = append(names, string(m[1]))
	}
	return names
}()
