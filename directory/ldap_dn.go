package directory

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// Every DN of the tree is built here, with each value escaped once by ldap.EscapeDN.
//
//	ou=structures,BASE
//	  ou=SIRET                       a structure
//	    uid=ID                       an administrator
//	    ou=SERVICE                   a service
//	      uid=ID                     a responsable or collaborateur
//	    apexRequestId=REQ            an account not yet validated (also under a service)
//	ou=applications,BASE
//	  ou=APP                         an application
//	    cn=PROFILE                   a profile (groupOfNames)
//	ou=agents,BASE
//	  uid=ID                         a DGFiP agent
//	ou=identifiers,ou=system,SUFFIX
//	  cn=ID                          the reservation that makes an identifier unique
//	ou=clients,ou=system,SUFFIX
//	  cn=APP                         the bind account of an application, its OpenID client
//	ou=oidc,ou=system,SUFFIX
//	  cn=TREE.SHA256(ID)             a pending OpenID Connect sign-in
//	cn=oidc-keys,ou=system,SUFFIX    the keys that sign the provider's tokens

func rdn(attr, value string) string {
	if utf8.ValidString(value) {
		return attr + "=" + ldap.EscapeDN(value)
	}
	// EscapeDN turns each byte that is not UTF-8 into U+FFFD, so that "\xff"
	// would name the entry "\ufffd": such bytes are hex-escaped instead,
	// keeping the value intact (slapd refuses the DN as invalid syntax).
	var b strings.Builder
	b.WriteString(attr + "=")
	for value != "" {
		i := 0
		for i < len(value) {
			r, n := utf8.DecodeRuneInString(value[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		b.WriteString(ldap.EscapeDN(value[:i]))
		if i < len(value) {
			fmt.Fprintf(&b, "\\%02x", value[i])
			i++
		}
		value = value[i:]
	}
	return b.String()
}

func (s *Store) structuresDN() string   { return "ou=structures," + s.base }
func (s *Store) applicationsDN() string { return "ou=applications," + s.base }
func (s *Store) agentsDN() string       { return "ou=agents," + s.base }
func (s *Store) identifiersDN() string  { return "ou=identifiers," + s.system }

func (s *Store) structureDN(siret string) string {
	return rdn("ou", siret) + "," + s.structuresDN()
}

func (s *Store) serviceDN(siret, service string) string {
	return rdn("ou", service) + "," + s.structureDN(siret)
}

func (s *Store) applicationDN(app string) string {
	return rdn("ou", app) + "," + s.applicationsDN()
}

func (s *Store) profileDN(app, profile string) string {
	return rdn("cn", profile) + "," + s.applicationDN(app)
}

func (s *Store) identifierDN(id string) string {
	return rdn("cn", id) + "," + s.identifiersDN()
}

// clientDN is the bind account of a DGFiP application, its OpenID client.
func (s *Store) clientDN(app string) string {
	return rdn("cn", app) + ",ou=clients," + s.system
}

func (s *Store) oidcRequestsDN() string { return "ou=oidc," + s.system }

// oidcRequestDN names a sign-in request by its cn, oidcCN (tokens.go).
func (s *Store) oidcRequestDN(cn string) string {
	return rdn("cn", cn) + "," + s.oidcRequestsDN()
}

func (s *Store) oidcKeysDN() string { return "cn=oidc-keys," + s.system }

// personParentDN is where an account of this role lives.
func (s *Store) personParentDN(role Role, siret, service string) string {
	switch {
	case role == RoleAgent:
		return s.agentsDN()
	case role.InService():
		return s.serviceDN(siret, service)
	default:
		return s.structureDN(siret)
	}
}

// firstValue returns the value of a DN's first RDN.
func firstValue(dn string) (string, error) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 || len(parsed.RDNs[0].Attributes) != 1 {
		return "", fmt.Errorf("unexpected DN %q", dn)
	}
	return parsed.RDNs[0].Attributes[0].Value, nil
}

// profileOf reads an application profile out of a memberOf value, when the
// group lies under this store's applications.
func (s *Store) profileOf(groupDN string) (Habilitation, bool) {
	group, err := ldap.ParseDN(groupDN)
	if err != nil || len(group.RDNs) < 3 {
		return Habilitation{}, false
	}
	apps, err := ldap.ParseDN(s.applicationsDN())
	if err != nil || !apps.AncestorOfFold(group) || len(group.RDNs) != len(apps.RDNs)+2 {
		return Habilitation{}, false
	}
	cn, ou := group.RDNs[0].Attributes[0], group.RDNs[1].Attributes[0]
	if !strings.EqualFold(cn.Type, "cn") || !strings.EqualFold(ou.Type, "ou") {
		return Habilitation{}, false
	}
	return Habilitation{Application: ou.Value, Profile: cn.Value}, true
}

// serviceOf returns the service a person's entry lies in, read from its DN:
// the DN is what a rename changes at once (the apexService attribute follows
// a moment later, through refint).
func (s *Store) serviceOf(personDN string) string {
	dn, err := ldap.ParseDN(personDN)
	if err != nil {
		return ""
	}
	structures, err := ldap.ParseDN(s.structuresDN())
	if err != nil || !structures.AncestorOfFold(dn) || len(dn.RDNs) != len(structures.RDNs)+3 {
		return ""
	}
	return dn.RDNs[1].Attributes[0].Value
}
