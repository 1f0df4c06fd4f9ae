// Command apexd is the APEX Partenaires service. For now it opens the
// directory (starting the embedded slapd when ldap.url is empty), loads the
// demonstration directory with --demo, says where the directory listens,
// and runs until SIGINT or SIGTERM, when it stops slapd cleanly. The HTTP
// service comes later.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/cmd/internal/demo"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run starts the service and returns the exit status once ctx is done or
// the embedded slapd has stopped by itself. Logs go to stderr as JSON, the
// banner to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apexd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", config.DefaultFile, "configuration `file` (YAML); a missing file leaves the defaults")
	withDemo := fs.Bool("demo", false, "load the demonstration directory when it is not there")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: apexd [--config FILE] [--demo]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "Every configuration key can be set by an APEX_ variable (ldap.url is APEX_LDAP_URL).")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apexd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	cfg, err := config.Load(*configFile)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		logger.Error("configuration refusée", "error", err.Error())
		return 1
	}
	if cfg.File == "" {
		logger.Info("pas de fichier de configuration: valeurs par défaut et variables APEX_", "file", *configFile)
	}
	logger.Info("configuration", "config", cfg) // passwords masked by Config.LogValue

	store, server, err := config.OpenDirectory(ctx, cfg, logger)
	if err != nil {
		logger.Error("ouverture de l'annuaire impossible", "error", err.Error())
		return 1
	}
	defer func() {
		store.Close()
		if server != nil {
			if err := server.Stop(); err != nil {
				logger.Warn("arrêt de slapd", "error", err.Error())
			}
			logger.Info("slapd embarqué arrêté")
		}
	}()

	var acc *demo.Accounts
	if *withDemo {
		a, err := demo.Load(ctx, store)
		if err != nil {
			logger.Error("chargement de l'annuaire de démonstration impossible", "error", err.Error())
			return 1
		}
		ids := make([]string, len(a.Persons))
		for i, p := range a.Persons {
			ids[i] = p.Identifier
		}
		logger.Info("annuaire de démonstration", "already_loaded", a.AlreadyLoaded, "identifiers", ids, "client_dn", a.ClientDN)
		acc = &a
	}

	url := cfg.LDAP.URL
	if server != nil {
		url = server.URL
	}
	if _, err := io.WriteString(stdout, banner(cfg, server, url, acc)); err != nil {
		logger.Error("écriture de la bannière", "error", err.Error())
		return 1
	}
	logger.Info("apexd prêt", "ldap_url", url)

	var exited <-chan struct{} // nil, so never ready, with an external directory
	if server != nil {
		exited = server.Exited()
	}
	select {
	case <-ctx.Done():
		logger.Info("arrêt demandé")
		return 0
	case <-exited:
		logger.Error("slapd embarqué arrêté de lui-même", "log", server.LogPath(), "log_tail", server.LogTail(2000))
		return 1
	}
}

// banner says in French where the directory is and, with the demo, how to
// try it. It holds no password but the demo ones.
func banner(cfg *config.Config, server *slapd.Server, url string, acc *demo.Accounts) string {
	var b strings.Builder
	b.WriteString("APEX Partenaires — apexd\n")
	fmt.Fprintf(&b, "Annuaire LDAP : %s", url)
	if server != nil {
		fmt.Fprintf(&b, " (slapd embarqué, données dans %s, journal %s)", cfg.LDAP.EmbeddedDir, server.LogPath())
	}
	fmt.Fprintf(&b, "\nBase DN : %s\nCompte du service : %s\n", cfg.LDAP.BaseDN, cfg.LDAP.ServiceDN())
	if server != nil && cfg.LDAP.BindPassword == "" {
		fmt.Fprintf(&b, "Mot de passe du service : dans %s/%s\n", cfg.LDAP.EmbeddedDir, config.ServicePasswordFile)
	}
	if acc == nil {
		b.WriteString("\napexd --demo charge un annuaire de démonstration.\n")
	} else {
		b.WriteString("\n")
		acc.WriteText(&b)
		b.WriteString("\nPour essayer :\n")
		for _, ex := range acc.Examples(url, cfg.LDAP.BaseDN) {
			b.WriteString("  " + ex + "\n")
		}
	}
	b.WriteString("\nLe service HTTP n'est pas encore là. Ctrl+C pour arrêter.\n")
	return b.String()
}
