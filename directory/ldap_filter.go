package directory

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Every search filter is built here, with each value escaped once by ldap.EscapeFilter.

func eq(attr, value string) string { return "(" + attr + "=" + ldap.EscapeFilter(value) + ")" }

// le matches attr at most value, by the attribute's ordering rule.
func le(attr, value string) string { return "(" + attr + "<=" + ldap.EscapeFilter(value) + ")" }

// ge matches attr at least value, by the attribute's ordering rule.
func ge(attr, value string) string { return "(" + attr + ">=" + ldap.EscapeFilter(value) + ")" }

// not matches what filter does not.
func not(filter string) string { return "(!" + filter + ")" }

// contains matches value anywhere in attr.
func contains(attr, value string) string {
	return "(" + attr + "=*" + ldap.EscapeFilter(value) + "*)"
}

// startsWith matches attr beginning with value.
func startsWith(attr, value string) string {
	return "(" + attr + "=" + ldap.EscapeFilter(value) + "*)"
}

func and(filters ...string) string {
	if len(filters) == 1 {
		return filters[0]
	}
	return "(&" + strings.Join(filters, "") + ")"
}

func or(filters ...string) string {
	if len(filters) == 1 {
		return filters[0]
	}
	return "(|" + strings.Join(filters, "") + ")"
}
