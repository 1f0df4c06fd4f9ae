// Package schema holds the APEX Partenaires LDAP schema, in the cn=config
// LDIF form that slapadd and ldapadd load.
package schema

import _ "embed"

// LDIF is the APEX schema entry, cn=apex,cn=schema,cn=config.
//
//go:embed apex.ldif
var LDIF []byte

// ObjectClasses are the object classes the schema defines; a start-up check
// looks for them in the server's subschema.
var ObjectClasses = []string{"apexStructure", "apexService", "apexPerson", "apexApplication", "apexProfile", "apexKeyring", "apexLimit"}
