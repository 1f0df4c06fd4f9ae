package ldif

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	entries, err := Parse([]byte("# comment\ndn: ou=a,dc=x\nobjectClass: top\nobjectClass: organizationalUnit\nou: a\ndescription: folded\n  line\n\ndn:: b3U9w6ksZGM9eA==\nou:: w6k=\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	a := entries[0]
	if a.DN != "ou=a,dc=x" || len(a.Attributes) != 3 || len(a.Attributes[0].Values) != 2 || a.Attributes[2].Values[0] != "folded line" {
		t.Errorf("first entry = %+v", a)
	}
	if entries[1].DN != "ou=é,dc=x" || entries[1].Attributes[0].Values[0] != "é" {
		t.Errorf("base64 entry = %+v", entries[1])
	}
	for _, bad := range []string{"ou: a\n", "dn: x\nchangetype: modify\n", "dn: x\nou:< file:///etc/passwd\n", "dn: x\nou:: !!\n", "dn: x\nnocolon\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestTemplatesRender(t *testing.T) {
	const suffix = "dc=apex,dc=dgfip,dc=gouv,dc=fr"
	base, err := Base(suffix, "Secret-Pass-2026!")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Parse(base)
	if err != nil {
		t.Fatalf("base does not parse: %v", err)
	}
	var dns []string
	for _, e := range entries {
		dns = append(dns, e.DN)
	}
	for _, want := range []string{suffix, ServiceDN(suffix), "ou=identifiers,ou=system," + suffix, ClientsDN(suffix), "cn=default,ou=policies," + suffix} {
		if !strings.Contains(strings.Join(dns, "\n"), want) {
			t.Errorf("base lacks %s", want)
		}
	}
	if noService, _ := Base(suffix, ""); strings.Contains(string(noService), "userPassword:") {
		t.Errorf("base without a service password still holds a password")
	}
	tree, err := Tree(suffix, "ou=t1,"+suffix)
	if err != nil || !strings.Contains(string(tree), "dn: ou=structures,ou=t1,"+suffix) || !strings.Contains(string(tree), "dn: ou=t1,"+suffix) {
		t.Errorf("tree = %s, %v", tree, err)
	}
	if _, err := Tree(suffix, "cn=t1,"+suffix); err == nil {
		t.Errorf("a base that is not an ou is accepted")
	}
	if _, err := Base("o=APEX", ""); err == nil {
		t.Errorf("a suffix that is not made of dc= is accepted")
	}
	conf, err := Config(ConfigParams{Dir: "/d", Suffix: suffix, RootDN: "cn=root", ModulePath: "/m", SystemSchemaDir: "/s", APEXSchema: "/a.ldif"})
	if err != nil || !strings.Contains(string(conf), "olcPasswordHash: {ARGON2}") || !strings.Contains(string(conf), `by dn.exact="`+ServiceDN(suffix)+`" =w`) {
		t.Errorf("config = %v", err)
	}
}
