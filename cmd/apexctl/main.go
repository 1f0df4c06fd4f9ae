// Command apexctl is the operator's tool for APEX Partenaires: it computes
// identifiers, prints the LDIF that builds a directory on an existing
// OpenLDAP, and loads the demonstration directory. It reads the same
// configuration as apexd (--config, APEX_ variables).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]command{
	"identifier":  {"prints the login identifier of a first name and a last name", runIdentifier},
	"ldif":        {"prints the LDIF of a directory: config, base, tree or schema", runLDIF},
	"demo":        {"loads the demonstration directory and prints its accounts", runDemo},
	"outbox":      {"lists the mails of mail.outbox_dir, or prints one (show NAME|last)", runOutbox},
	"agent":       {"creates a DGFiP agent, active at once (agent create)", runAgent},
	"structure":   {"creates a partner structure, as a DGFiP agent (structure create)", runStructure},
	"invite":      {"pre-creates an administrator's account and mails the link to its form", runInvite},
	"requests":    {"lists the account requests a DGFiP agent may decide", runRequests},
	"approve":     {"validates an account request and mails the identifier", runApprove},
	"refuse":      {"refuses an account request and mails the reason", runRefuse},
	"application": {"declares a DGFiP application, its profiles, addresses and bind account (application create), changes them (update, add-profile)", runApplication},
	"oidc":        {"rotates the key that signs the OpenID provider's tokens (oidc rotate-key)", runOIDC},
	"habilitate":  {"grants a profile of an application to an account and mails it (--revoke withdraws it)", runHabilitate},
}

// env is what commands share: the output streams and the --config flag
// given before the command's name.
type env struct {
	stdout, stderr io.Writer
	configFile     string
}

// usageError is a wrong command line: exit status 2 and the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes a command line and returns the exit status: 0, 1 when the
// command failed, 2 when the command line is wrong.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	global := flag.NewFlagSet("apexctl", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.StringVar(&e.configFile, "config", config.DefaultFile, "configuration `file` (YAML); a missing file leaves the defaults")
	global.Usage = func() { usage(stderr, global) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if global.NArg() == 0 {
		usage(stderr, global)
		return 2
	}
	name := global.Arg(0)
	if name == "help" {
		usage(stdout, global)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "apexctl: unknown command %q\n\n", name)
		usage(stderr, global)
		return 2
	}
	err := cmd.run(ctx, e, global.Args()[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "apexctl %s: %v (apexctl %s -h for help)\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "apexctl %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: apexctl [--config FILE] COMMAND [flags] [arguments]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-11s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	global.SetOutput(w)
	global.PrintDefaults()
	fmt.Fprintln(w, "\nEvery configuration key can be set by an APEX_ variable (ldap.url is APEX_LDAP_URL); one that names no key is an error.")
	fmt.Fprintln(w, "apexctl COMMAND -h describes a command.")
}

// newFlagSet returns the flags of a subcommand, which report errors
// instead of exiting, print their help on the error stream, and include
// --config (defaulting to the global flag).
func (e *env) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("apexctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: apexctl %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func (e *env) configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", e.configFile, "configuration `file` (YAML)")
}

// parse reads flags placed anywhere among the arguments ("identifier Marie
// Martin --json" as well as "identifier --json Marie Martin"); after "--"
// everything is an argument. It returns the arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// loadConfig reads and validates the configuration.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
