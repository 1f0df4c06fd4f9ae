package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgfip/apex-partenaires/cmd/internal/demo"
	"github.com/dgfip/apex-partenaires/cmd/internal/embedded"
)

// runDemo opens the directory of the configuration, starting the embedded
// slapd when ldap.url is empty (and stopping it at the end), loads the demo
// directory unless it is there, and prints its accounts.
func runDemo(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("demo", "demo [--config FILE] [--json]")
	configFile := e.configFlag(fs)
	asJSON := fs.Bool("json", false, "print a JSON object")
	verbose := fs.Bool("v", false, "log the opening of the directory")
	args, err = parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 0 {
		return usagef("takes no arguments")
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	store, server, err := embedded.OpenDirectory(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	url := cfg.LDAP.URL
	if server != nil {
		url = server.URL
		defer func() {
			if serr := server.Stop(); err == nil && serr != nil {
				err = fmt.Errorf("stop slapd: %w", serr)
			}
		}()
	}

	acc, err := demo.Load(ctx, store)
	if err != nil {
		return err
	}
	examples := acc.Examples(url, cfg.LDAP.BaseDN)
	if *asJSON {
		return writeJSON(e.stdout, struct {
			LDAPURL   string        `json:"ldapURL"`
			Embedded  bool          `json:"embedded"`
			BaseDN    string        `json:"baseDN"`
			ServiceDN string        `json:"serviceDN"`
			Demo      demo.Accounts `json:"demo"`
			Examples  []string      `json:"examples"`
		}{url, server != nil, cfg.LDAP.BaseDN, cfg.LDAP.ServiceDN(), acc, examples})
	}

	var b strings.Builder
	if err := acc.WriteText(&b); err != nil {
		return err
	}
	fmt.Fprintf(&b, "Annuaire LDAP : %s", url)
	if server != nil {
		fmt.Fprintf(&b, " (slapd embarqué, données dans %s, arrêté à la fin de cette commande ; apexd le relance)", cfg.LDAP.EmbeddedDir)
	}
	fmt.Fprintf(&b, "\nBase DN : %s\nCompte du service : %s\n", cfg.LDAP.BaseDN, cfg.LDAP.ServiceDN())
	if server == nil {
		b.WriteString("Pour essayer :\n")
		for _, ex := range examples {
			b.WriteString("  " + ex + "\n")
		}
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}
