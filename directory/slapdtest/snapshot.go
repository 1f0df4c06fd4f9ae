package slapdtest

import (
	"sort"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory/slapd"
)

// snapshotAttrs are what a snapshot reads: every user attribute, and the
// operational ones that hold data (dynlist's memberOf, the password policy's).
var snapshotAttrs = []string{"*", "memberOf", "pwdAccountLockedTime", "pwdFailureTime", "pwdChangedTime", "pwdHistory"}

// Snapshot reads every entry of the subtrees under bases as the root, one
// sorted line per attribute, so that two snapshots compare equal when the
// directory did not change. skip, when not nil, leaves out the attributes
// a test expects to move (a session's last use).
func Snapshot(tb testing.TB, srv *slapd.Server, skip func(dn, attr string) bool, bases ...string) string {
	tb.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	var lines []string
	for _, base := range bases {
		res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", snapshotAttrs, nil))
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range res.Entries {
			for _, a := range e.Attributes {
				if skip != nil && skip(e.DN, a.Name) {
					continue
				}
				vals := append([]string(nil), a.Values...)
				sort.Strings(vals)
				lines = append(lines, e.DN+" "+a.Name+"="+strings.Join(vals, "|"))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
