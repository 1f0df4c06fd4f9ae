package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// runApexctl runs a command line with a configuration file that does not
// exist, so that the defaults apply.
func runApexctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("APEX_LDAP_BASE_DN", "")
	t.Setenv("APEX_LDAP_BIND_PASSWORD", "")
	var out, errOut bytes.Buffer
	args = append([]string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}, args...)
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestIdentifier(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // what stdout must hold
		err  string // what stderr must hold
	}{
		{"accents and apostrophe", []string{"identifier", "Sylvie", "d'Alembert"}, 0, "sylvie.dalembert-px\n", ""},
		{"flag after the names", []string{"identifier", "Cathy", "Noël", "--json"}, 0, `"identifier": "cathy.noel-px"`, ""},
		{"a name starting with a dash after --", []string{"identifier", "--", "-Marie", "Martin"}, 0, "marie.martin-px\n", ""},
		{"no letter", []string{"identifier", "123", "Martin"}, 1, "", "Le prénom doit contenir au moins une lettre."},
		{"one name", []string{"identifier", "Marie"}, 2, "", "want 2 arguments"},
		{"unknown flag", []string{"identifier", "--xml", "Marie", "Martin"}, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runApexctl(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, out, errOut, tt.code, tt.out, tt.err)
			}
		})
	}
}

func TestIdentifierJSON(t *testing.T) {
	code, out, errOut := runApexctl(t, "identifier", "--json", "Michel", "de la Bruyère")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got["identifier"] != "michel.de-la-bruyere-px" || got["lastName"] != "de la Bruyère" {
		t.Errorf("JSON %v", got)
	}
}

func TestLDIF(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string // in stdout, or in stderr when code != 0
	}{
		{"config uses Debian's paths", []string{"ldif", "config"}, 0, []string{
			"olcModulePath: /usr/lib/ldap", "file:///etc/ldap/schema/apex.ldif", "olcDbDirectory: /var/lib/ldap/apex/data",
			"olcRootDN: gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth", "olcSuffix: dc=apex,dc=dgfip,dc=gouv,dc=fr",
		}},
		{"base with a suffix and the service", []string{"ldif", "base", "--suffix", "dc=example,dc=org", "--service-password", "S3cret-Service!"},
			0, []string{"dn: dc=example,dc=org", "dn: cn=apexd,ou=system,dc=example,dc=org", "userPassword: S3cret-Service!"}},
		{"tree", []string{"ldif", "tree"}, 0, []string{"dn: ou=structures,dc=apex,dc=dgfip,dc=gouv,dc=fr"}},
		{"schema", []string{"ldif", "schema"}, 0, []string{"apexPerson"}},
		{"bad suffix", []string{"ldif", "tree", "--suffix", "o=apex"}, 1, []string{"dc= components"}},
		{"unknown document", []string{"ldif", "everything"}, 2, []string{"want config, base, tree or schema"}},
		{"no document", []string{"ldif"}, 2, []string{"want one of"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runApexctl(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			where := out
			if code != 0 {
				where = errOut
			}
			for _, w := range tt.want {
				if !strings.Contains(where, w) {
					t.Errorf("output lacks %q:\n%s", w, where)
				}
			}
		})
	}
}

func TestLDIFBaseWithoutPasswordLeavesServiceOut(t *testing.T) {
	code, out, errOut := runApexctl(t, "ldif", "base")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "cn=apexd") || strings.Contains(out, "userPassword:") {
		t.Errorf("the service account must be left out without a password:\n%s", out)
	}
}

func TestUsage(t *testing.T) {
	if code, _, errOut := runApexctl(t); code != 2 || !strings.Contains(errOut, "Usage: apexctl") {
		t.Errorf("no command: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runApexctl(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runApexctl(t, "identifier", "-h"); code != 0 {
		t.Errorf("identifier -h: exit %d, want 0", code)
	}
}
