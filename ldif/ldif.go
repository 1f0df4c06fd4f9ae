// Package ldif renders the LDIF that builds an APEX Partenaires directory:
// the cn=config of a slapd (modules, schema, database, indexes, ACLs,
// overlays), the fixed entries under the suffix, and the partner tree's branches.
package ldif

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/go-ldap/ldap/v3"
)

//go:embed *.ldif.tmpl
var files embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).ParseFS(files, "*.ldif.tmpl"))

// ServiceCN is the common name of the service's bind account, under ou=system.
const ServiceCN = "apexd"

// ServiceDN returns the DN of the service's bind account.
func ServiceDN(suffix string) string { return "cn=" + ServiceCN + ",ou=system," + suffix }

// ClientsDN returns the DN under which DGFiP applications' bind accounts live.
func ClientsDN(suffix string) string { return "ou=clients,ou=system," + suffix }

// ReplicatorDN returns the DN of the account that providers of a
// multi-provider cluster bind with to replicate from each other: it reads
// everything and writes nothing.
func ReplicatorDN(suffix string) string { return "cn=replicator,ou=system," + suffix }

// PlaceholderDN returns the DN that keeps an empty profile a valid groupOfNames.
// No entry has it.
func PlaceholderDN(suffix string) string { return "cn=nobody,ou=system," + suffix }

// ConfigParams are the values of a slapd's cn=config.
type ConfigParams struct {
	Dir             string // data folder: holds data/, the pid file
	Suffix          string // e.g. dc=apex,dc=dgfip,dc=gouv,dc=fr
	RootDN          string // the identity that manages config and data (peercred over ldapi)
	ModulePath      string // /usr/lib/ldap on Debian
	SystemSchemaDir string // /etc/ldap/schema on Debian
	APEXSchema      string // path of schema/apex.ldif written to disk
	LogLevel        string // slapd's olcLogLevel, e.g. "stats" or "none"
	MaxSize         int64  // olcDbMaxSize in bytes
	TLSCertFile     string // PEM certificate served with StartTLS; empty: no TLS
	TLSKeyFile      string // its PEM private key
	ServerID        int    // olcServerID, 1 to 4095, in a multi-provider cluster; 0 for a single server
	Peers           []Peer // the other providers this one replicates from; none for a single server
}

// Peer is another provider of a multi-provider cluster, replicated from by
// syncrepl with the replicator account. TLS lists the syncrepl TLS keywords
// (e.g. `starttls=critical tls_cacert=/etc/ldap/ca.pem tls_reqcert=demand`),
// empty on loopback.
type Peer struct {
	URL                string
	ReplicatorPassword string
	TLS                string
}

// Config renders the cn=config LDIF of an APEX slapd.
func Config(p ConfigParams) ([]byte, error) {
	if err := checkSuffix(p.Suffix); err != nil {
		return nil, err
	}
	if p.Dir == "" || p.RootDN == "" || p.ModulePath == "" || p.SystemSchemaDir == "" || p.APEXSchema == "" {
		return nil, errors.New("ldif config: Dir, RootDN, ModulePath, SystemSchemaDir and APEXSchema are required")
	}
	if p.LogLevel == "" {
		p.LogLevel = "none"
	}
	if p.MaxSize == 0 {
		p.MaxSize = 4 << 30
	}
	if len(p.Peers) > 0 && (p.ServerID < 1 || p.ServerID > 4095) {
		return nil, fmt.Errorf("ldif config: server id %d must be 1 to 4095 with peers", p.ServerID)
	}
	for _, peer := range p.Peers {
		// syncrepl's keywords are split on spaces and quotes: keep both out.
		if strings.ContainsAny(peer.URL, " \t\"\\") || peer.URL == "" || peer.ReplicatorPassword == "" || strings.ContainsAny(peer.ReplicatorPassword, "\"\\\n") {
			return nil, fmt.Errorf("ldif config: peer %q needs a URL without spaces and a replicator password without quotes or backslashes", peer.URL)
		}
	}
	return render("config.ldif.tmpl", struct {
		ConfigParams
		ServiceDN, PlaceholderDN, ReplicatorDN string
	}{p, ServiceDN(p.Suffix), PlaceholderDN(p.Suffix), ReplicatorDN(p.Suffix)})
}

// Base renders the fixed entries under the suffix. With an empty
// servicePassword the service's bind account is left out.
func Base(suffix, servicePassword string) ([]byte, error) {
	if err := checkSuffix(suffix); err != nil {
		return nil, err
	}
	dn, _ := ldap.ParseDN(suffix)
	return render("base.ldif.tmpl", map[string]string{
		"Suffix":          suffix,
		"SuffixDC":        dn.RDNs[0].Attributes[0].Value,
		"ServiceDN":       ServiceDN(suffix),
		"ServiceCN":       ServiceCN,
		"ServicePassword": servicePassword,
	})
}

// Tree renders the partner branches (structures, applications, agents) under
// base, and base itself when it is an ou below the suffix.
func Tree(suffix, base string) ([]byte, error) {
	if err := checkSuffix(suffix); err != nil {
		return nil, err
	}
	baseOU := ""
	if base != suffix {
		dn, err := ldap.ParseDN(base)
		if err != nil || len(dn.RDNs) == 0 || !strings.EqualFold(dn.RDNs[0].Attributes[0].Type, "ou") {
			return nil, fmt.Errorf("ldif tree: base %q must be the suffix or an ou below it", base)
		}
		baseOU = dn.RDNs[0].Attributes[0].Value
	}
	return render("tree.ldif.tmpl", map[string]string{"Suffix": suffix, "Base": base, "BaseOU": baseOU})
}

func checkSuffix(suffix string) error {
	dn, err := ldap.ParseDN(suffix)
	if err != nil || len(dn.RDNs) == 0 {
		return fmt.Errorf("ldif: suffix %q is not a DN", suffix)
	}
	for _, rdn := range dn.RDNs {
		if len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, "dc") {
			return fmt.Errorf("ldif: suffix %q must be made of dc= components", suffix)
		}
	}
	return nil
}

func render(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("ldif: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
