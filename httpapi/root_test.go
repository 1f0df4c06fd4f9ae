package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// What the tests read and write in the directory as slapd's root: what the
// service never shows (a captcha's answer, an account's hashed sessions,
// the DN of its entry).

// rootEntry reads, as the root, the one entry under base (within scope)
// that filter names, with attrs.
func rootEntry(t testing.TB, base string, scope int, filter string, attrs ...string) *ldap.Entry {
	t.Helper()
	conn, err := slapdtest.Shared(t).DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read %s under %s as the root: %v %v", filter, base, res, err)
	}
	return res.Entries[0]
}

// rootReplace replaces, as the root, the values of attr in the entry dn.
func rootReplace(t testing.TB, dn, attr string, values []string) {
	t.Helper()
	conn, err := slapdtest.Shared(t).DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace(attr, values)
	if err := conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
}

// accountEntry reads the entry of an account of e's tree, with attrs.
func (e *env) accountEntry(t testing.TB, identifier string, attrs ...string) *ldap.Entry {
	t.Helper()
	return rootEntry(t, e.cfg.BaseDN, ldap.ScopeWholeSubtree, "(uid="+ldap.EscapeFilter(identifier)+")", attrs...)
}

// captchaCN is how the directory names a captcha: by the hash of its id.
func captchaCN(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// captchaAnswer reads the answer of a captcha as a person reads its image:
// here, from the directory, as slapd's root.
func (e *env) captchaAnswer(id string) string {
	e.t.Helper()
	base := "cn=" + captchaCN(id) + ",ou=captchas,ou=system," + slapdtest.Shared(e.t).Suffix
	f := strings.Fields(rootEntry(e.t, base, ldap.ScopeBaseObject, "(objectClass=*)", "description").GetAttributeValue("description"))
	return f[len(f)-1]
}
