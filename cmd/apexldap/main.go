// Command apexldap is the entry point of the directory image: it builds an
// APEX Partenaires slapd with the project's own launcher (cn=config, schema,
// ACLs, policies and base entries from ldif/), runs it in the foreground
// until SIGTERM or SIGINT, and stops it cleanly. It is what apexd's
// embedded mode does, without the service: the same ldap.* keys and APEX_
// variables (APEX_LDAP_EMBEDDED_DIR, APEX_LDAP_EMBEDDED_LISTEN,
// APEX_LDAP_BASE_DN, APEX_LDAP_BIND_PASSWORD, APEX_LDAP_LOG_LEVEL).
//
// The data folder outlives the process: started again on it, the directory
// keeps its entries (cn=config is rebuilt, the service password set again).
// Once the directory answers, it prints one line that starts with
// ReadyLine, which the testcontainers kit (directory/apexcontainer) waits for.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/cmd/internal/demo"
	"github.com/dgfip/apex-partenaires/cmd/internal/embedded"
)

// ReadyLine starts the line printed once the directory answers.
const ReadyLine = "Annuaire APEX prêt"

// DemoFile is written in the data folder with --demo: the demo accounts as
// JSON (demo.Accounts), for the kit.
const DemoFile = "demo.json"

func main() {
	// As PID 1 in a container, a signal without a handler is ignored: these
	// two stop slapd and end the container.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apexldap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", config.DefaultFile, "configuration `file` (YAML); a missing file leaves the defaults")
	withDemo := fs.Bool("demo", false, "load the demonstration directory when it is not there")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: apexldap [--config FILE] [--demo]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "The ldap.* keys of apexd's embedded slapd apply, each settable by an APEX_ variable (APEX_LDAP_EMBEDDED_LISTEN).")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apexldap: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	cfg, err := config.Load(*configFile)
	if err == nil && !cfg.LDAP.Embedded() {
		err = errors.New("ldap.url must be empty: apexldap serves its own slapd")
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		logger.Error("configuration refusée", "error", err.Error())
		return 1
	}
	store, server, err := embedded.OpenDirectory(ctx, cfg, logger)
	if err != nil {
		logger.Error("ouverture de l'annuaire impossible", "error", err.Error())
		return 1
	}
	defer func() {
		if err := server.Stop(); err != nil {
			logger.Warn("arrêt de slapd", "error", err.Error())
		}
		logger.Info("slapd arrêté")
	}()

	if *withDemo {
		acc, err := demo.Load(ctx, store)
		if err == nil {
			err = writeDemo(filepath.Join(cfg.LDAP.EmbeddedDir, DemoFile), acc)
		}
		if err == nil {
			err = acc.WriteText(stdout)
		}
		if err != nil {
			store.Close()
			logger.Error("chargement de l'annuaire de démonstration impossible", "error", err.Error())
			return 1
		}
	}
	// The service is not this program's: its connections are not kept.
	store.Close()

	fmt.Fprintf(stdout, "%s : %s, base %s, compte du service %s, données dans %s, journal de slapd %s\n",
		ReadyLine, server.URL, cfg.LDAP.BaseDN, cfg.LDAP.ServiceDN(), cfg.LDAP.EmbeddedDir, server.LogPath())

	select {
	case <-ctx.Done():
		logger.Info("arrêt demandé")
		return 0
	case <-server.Exited():
		// No restart here: the container ends, and its restart policy decides.
		logger.Error("slapd s'est arrêté de lui-même", "log_tail", server.LogTail(2000))
		return 1
	}
}

func writeDemo(path string, acc demo.Accounts) error {
	data, err := json.Marshal(acc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
