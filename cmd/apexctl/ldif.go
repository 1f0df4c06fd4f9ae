package main

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"

	"github.com/dgfip/apex-partenaires/ldif"
	"github.com/dgfip/apex-partenaires/schema"
)

// Where Debian's slapd package keeps things, for the cn=config of a server
// installed from it and managed by root over ldapi (sudo ldapadd -Y EXTERNAL).
const (
	debianDir        = "/var/lib/ldap/apex"
	debianRootDN     = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
	debianModulePath = "/usr/lib/ldap"
	debianSchemaDir  = "/etc/ldap/schema"
	debianAPEXSchema = "/etc/ldap/schema/apex.ldif"
)

const ldifSynopsis = `ldif config|base|tree|schema [--suffix DN] [--service-password P]

  config  the cn=config of a slapd installed from Debian's package (database in ` + debianDir + `/data,
          the APEX schema read from ` + debianAPEXSchema + `: write it there with "apexctl ldif schema")
  base    the fixed entries under the suffix: policies, ou=system and the service's account
          (left out when no service password is given by --service-password or ldap.bind_password)
  tree    the partner branches: ou=structures, ou=applications, ou=agents
  schema  the APEX schema, schema/apex.ldif

For example, on a Debian slapd installed without a configuration:
  apexctl ldif schema | sudo tee ` + debianAPEXSchema + ` >/dev/null
  sudo install -d -o openldap -g openldap -m 700 /etc/ldap/slapd.d ` + debianDir + `/data
  apexctl ldif config > config.ldif && sudo -u openldap slapadd -n0 -F /etc/ldap/slapd.d -l config.ldif
  sudo rm -f /etc/ldap/noslapd && sudo systemctl start slapd
  { apexctl ldif base --service-password '...'; echo; apexctl ldif tree; } | sudo ldapadd -Y EXTERNAL -H ldapi:///`

// runLDIF prints one of the LDIF documents of the ldif package.
func runLDIF(_ context.Context, e *env, args []string) error {
	fs := e.newFlagSet("ldif", ldifSynopsis)
	configFile := e.configFlag(fs)
	suffix := fs.String("suffix", "", "the directory's suffix (default: ldap.base_dn of the configuration)")
	password := fs.String("service-password", "", "the service account's password, hashed by slapd (default: ldap.bind_password)")
	args, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("want one of config, base, tree, schema")
	}
	if args[0] == "schema" {
		_, err := e.stdout.Write(schema.LDIF)
		return err
	}
	// Only the keys used here matter: the configuration is read, not
	// validated, so that an incomplete one (no ldap.bind_password) will do.
	cfg, err := config.Load(*configFile)
	if err != nil {
		return err
	}
	if strings.ContainsFunc(cfg.LDAP.LogLevel, unicode.IsSpace) {
		return fmt.Errorf("ldap.log_level %q: one level, without spaces", cfg.LDAP.LogLevel)
	}
	if *suffix == "" {
		*suffix = cfg.LDAP.BaseDN
	}
	if *password == "" {
		*password = cfg.LDAP.BindPassword
	}

	var out []byte
	switch args[0] {
	case "config":
		out, err = ldif.Config(ldif.ConfigParams{
			Dir:             debianDir,
			Suffix:          *suffix,
			RootDN:          debianRootDN,
			ModulePath:      debianModulePath,
			SystemSchemaDir: debianSchemaDir,
			APEXSchema:      debianAPEXSchema,
			LogLevel:        cfg.LDAP.LogLevel,
		})
	case "base":
		out, err = ldif.Base(*suffix, *password)
	case "tree":
		out, err = ldif.Tree(*suffix, *suffix)
	default:
		return usagef("unknown LDIF %q: want config, base, tree or schema", args[0])
	}
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}
