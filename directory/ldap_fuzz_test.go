package directory

import (
	"fmt"
	"reflect"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// hostileValues are values no filter or DN built from them may be changed by.
var hostileValues = []string{
	"", "a", "marie.martin-px", "a*", "*", "**", "*)(uid=*", "*)(|(objectClass=*))", ")(", `\`, `\2a`, `\\`,
	`,+"\<>;`, "=", "a=b,ou=x", "#", "#04024869", " ", "  ", " a ", "a ", "\\ ", "a\\", "\x00", "a\x00b",
	"\xff", "a\xffb\xfe", "\xef\xbf\xbd", "\ufffd", "é", "Noël", "😀", "\u202f", "\t", "\n", "ou=structures",
}

// filterNode is a compiled filter reduced to what it means.
type filterNode struct {
	Op       string // and, or, not, eq, sub, present
	Attr     string
	Value    string
	Substr   []string // for sub: "initial:", "any:", "final:" prefixed values
	Children []filterNode
}

func (n filterNode) String() string {
	return fmt.Sprintf("%+v", map[string]any{"op": n.Op, "attr": n.Attr, "value": n.Value, "sub": n.Substr, "children": n.Children})
}

// compiled parses filter with go-ldap's own compiler, as the store's
// searches send it to slapd.
func compiled(t *testing.T, filter string) filterNode {
	t.Helper()
	p, err := ldap.CompileFilter(filter)
	if err != nil {
		t.Fatalf("filter %q does not compile: %v", filter, err)
	}
	return toNode(t, p)
}

func toNode(t *testing.T, p *ber.Packet) filterNode {
	t.Helper()
	octets := func(c *ber.Packet) string { return c.Data.String() }
	switch p.Tag {
	case ldap.FilterAnd, ldap.FilterOr, ldap.FilterNot:
		n := filterNode{Op: map[ber.Tag]string{ldap.FilterAnd: "and", ldap.FilterOr: "or", ldap.FilterNot: "not"}[p.Tag]}
		for _, c := range p.Children {
			n.Children = append(n.Children, toNode(t, c))
		}
		return n
	case ldap.FilterEqualityMatch:
		if len(p.Children) != 2 {
			t.Fatalf("equality with %d parts", len(p.Children))
		}
		return filterNode{Op: "eq", Attr: octets(p.Children[0]), Value: octets(p.Children[1])}
	case ldap.FilterPresent:
		return filterNode{Op: "present", Attr: octets(p)}
	case ldap.FilterSubstrings:
		if len(p.Children) != 2 {
			t.Fatalf("substrings with %d parts", len(p.Children))
		}
		n := filterNode{Op: "sub", Attr: octets(p.Children[0])}
		for _, c := range p.Children[1].Children {
			kind := map[ber.Tag]string{ldap.FilterSubstringsInitial: "initial:", ldap.FilterSubstringsAny: "any:", ldap.FilterSubstringsFinal: "final:"}[c.Tag]
			n.Substr = append(n.Substr, kind+octets(c))
		}
		return n
	}
	t.Fatalf("unexpected filter node %d", p.Tag)
	return filterNode{}
}

func eqNode(attr, v string) filterNode { return filterNode{Op: "eq", Attr: attr, Value: v} }
func containsNode(attr, v string) filterNode {
	return filterNode{Op: "sub", Attr: attr, Substr: []string{"any:" + v}}
}

// FuzzFilter: no value changes the meaning of a filter the store builds.
// Each of the store's compositions (ldap_persons.go, ldap_password.go,
// ldap_reset.go, ldap_lifecycle.go, ldap_consultation.go, ldap_structures.go)
// compiles into exactly the tree intended, with each value intact.
func FuzzFilter(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v, "Martin")
		f.Add("marie", v)
	}
	f.Fuzz(func(t *testing.T, v, w string) {
		// One equality, alone and under the and() of a lookup.
		if got, want := compiled(t, eq("uid", v)), eqNode("uid", v); !reflect.DeepEqual(got, want) {
			t.Fatalf("eq(uid, %q) = %q compiles to %v, want %v", v, eq("uid", v), got, want)
		}
		for _, attr := range []string{"uid", "mail", "apexRequestId"} {
			filter := and("(objectClass=apexPerson)", eq(attr, v))
			want := filterNode{Op: "and", Children: []filterNode{eqNode("objectClass", "apexPerson"), eqNode(attr, v)}}
			if got := compiled(t, filter); !reflect.DeepEqual(got, want) {
				t.Fatalf("lookup by %s %q: %q compiles to %v, want %v", attr, v, filter, got, want)
			}
		}

		// The search of a name part (ListPersons, Directory); the callers
		// never pass an empty part.
		if v != "" {
			filter := and("(objectClass=apexPerson)", eq("apexRole", w), eq("apexAccountState", "active"),
				or(contains("uid", v), contains("givenName", v), contains("sn", v)))
			want := filterNode{Op: "and", Children: []filterNode{
				eqNode("objectClass", "apexPerson"), eqNode("apexRole", w), eqNode("apexAccountState", "active"),
				{Op: "or", Children: []filterNode{containsNode("uid", v), containsNode("givenName", v), containsNode("sn", v)}},
			}}
			if got := compiled(t, filter); !reflect.DeepEqual(got, want) {
				t.Fatalf("name search %q, %q: %q compiles to %v, want %v", v, w, filter, got, want)
			}
		}

		// A word of a management list's search (ldap_lists.go).
		if k := SortKey(v); k != "" {
			want := filterNode{Op: "or", Children: []filterNode{containsNode("apexSortKey", k), containsNode("uid", v), containsNode("mail", v)}}
			if digitsOnly(v) {
				want.Children = append(want.Children, containsNode("apexSiret", v))
			}
			if got := compiled(t, personWord(v, k)); !reflect.DeepEqual(got, want) {
				t.Fatalf("list search %q: %q compiles to %v, want %v", v, personWord(v, k), got, want)
			}
		}

		// A structure listing by category.
		filter := and("(objectClass=apexStructure)", eq("apexCategory", w))
		want := filterNode{Op: "and", Children: []filterNode{eqNode("objectClass", "apexStructure"), eqNode("apexCategory", w)}}
		if got := compiled(t, filter); !reflect.DeepEqual(got, want) {
			t.Fatalf("category %q: %q compiles to %v, want %v", w, filter, got, want)
		}

		// The purge of a tree's expired counters.
		if v != "" {
			filter := and("(objectClass=apexLimit)", startsWith("cn", v))
			want := filterNode{Op: "and", Children: []filterNode{eqNode("objectClass", "apexLimit"),
				{Op: "sub", Attr: "cn", Substr: []string{"initial:" + v}}}}
			if got := compiled(t, filter); !reflect.DeepEqual(got, want) {
				t.Fatalf("prefix %q: %q compiles to %v, want %v", v, filter, got, want)
			}
		}

		// and() and or() of one filter are that filter.
		if and(eq("uid", v)) != eq("uid", v) || or(eq("uid", v)) != eq("uid", v) {
			t.Fatalf("and/or of one filter changed it")
		}
	})
}

// rdnPair is one RDN of a parsed DN.
type rdnPair struct{ Type, Value string }

func parsedRDNs(t *testing.T, dn string) []rdnPair {
	t.Helper()
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		t.Fatalf("DN %q does not parse: %v", dn, err)
	}
	var out []rdnPair
	for _, r := range parsed.RDNs {
		if len(r.Attributes) != 1 {
			t.Fatalf("DN %q: RDN with %d attributes", dn, len(r.Attributes))
		}
		out = append(out, rdnPair{r.Attributes[0].Type, r.Attributes[0].Value})
	}
	return out
}

// FuzzDN: no value changes the meaning of a DN the store builds. Each DN
// helper of ldap_dn.go (and captchaDN, the clients' DN, the moves of
// ldap_lifecycle.go) parses back with go-ldap into exactly the RDNs
// intended, each value intact; the readers of DNs (firstValue, serviceOf,
// profileOf) give back the values.
func FuzzDN(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v, "Comptabilité")
		f.Add("73282932000074", v)
	}
	s := &Store{base: "ou=t1,dc=apex,dc=test", system: "ou=system,dc=apex,dc=test"}
	base := parsedRDNsOf(s.base)
	system := parsedRDNsOf(s.system)
	with := func(head []rdnPair, tail []rdnPair) []rdnPair { return append(append([]rdnPair{}, head...), tail...) }
	f.Fuzz(func(t *testing.T, v, w string) {
		structures := with([]rdnPair{{"ou", "structures"}}, base)
		applications := with([]rdnPair{{"ou", "applications"}}, base)
		for _, tt := range []struct {
			name string
			dn   string
			want []rdnPair
		}{
			{"rdn", rdn("uid", v), []rdnPair{{"uid", v}}},
			{"structureDN", s.structureDN(v), with([]rdnPair{{"ou", v}}, structures)},
			{"serviceDN", s.serviceDN(v, w), with([]rdnPair{{"ou", w}, {"ou", v}}, structures)},
			{"applicationDN", s.applicationDN(v), with([]rdnPair{{"ou", v}}, applications)},
			{"profileDN", s.profileDN(v, w), with([]rdnPair{{"cn", w}, {"ou", v}}, applications)},
			{"identifierDN", s.identifierDN(v), with([]rdnPair{{"cn", v}, {"ou", "identifiers"}}, system)},
			{"captchaDN", s.captchaDN(v), with([]rdnPair{{"cn", captchaCN(v)}, {"ou", "captchas"}}, system)},
			{"agent", rdn("uid", v) + "," + s.personParentDN(RoleAgent, w, w), with([]rdnPair{{"uid", v}, {"ou", "agents"}}, base)},
			{"administrateur", rdn("uid", v) + "," + s.personParentDN(RoleAdministrateur, w, v),
				with([]rdnPair{{"uid", v}, {"ou", w}}, structures)},
			{"collaborateur request", rdn("apexRequestId", v) + "," + s.personParentDN(RoleCollaborateur, v, w),
				with([]rdnPair{{"apexRequestId", v}, {"ou", w}, {"ou", v}}, structures)},
			{"client", rdn("cn", v) + ",ou=clients," + s.system, with([]rdnPair{{"cn", v}, {"ou", "clients"}}, system)},
		} {
			if got := parsedRDNs(t, tt.dn); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s(%q, %q) = %q parses to %q, want %q", tt.name, v, w, tt.dn, got, tt.want)
			}
		}

		if got, err := firstValue(s.identifierDN(v)); err != nil || got != v {
			t.Fatalf("firstValue(identifierDN(%q)) = %q, %v", v, got, err)
		}
		if got := s.serviceOf(rdn("uid", v) + "," + s.serviceDN(v, w)); got != w {
			t.Fatalf("serviceOf a person of service %q = %q", w, got)
		}
		if h, ok := s.profileOf(s.profileDN(v, w)); !ok || h != (Habilitation{Application: v, Profile: w}) {
			t.Fatalf("profileOf(profileDN(%q, %q)) = %v, %v", v, w, h, ok)
		}
		// A group outside this store's applications is no profile of it.
		other := &Store{base: "ou=t2,dc=apex,dc=test"}
		if h, ok := s.profileOf(other.profileDN(v, w)); ok {
			t.Fatalf("profileOf a group of another base = %v", h)
		}
	})
}

func parsedRDNsOf(dn string) []rdnPair {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		panic(err)
	}
	var out []rdnPair
	for _, r := range parsed.RDNs {
		out = append(out, rdnPair{r.Attributes[0].Type, r.Attributes[0].Value})
	}
	return out
}
