package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/sethvargo/go-password/password"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/cmd/internal/embedded"
	"github.com/dgfip/apex-partenaires/cmd/internal/mailer"
	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/notify"
)

// The back-office commands (agent, structure, invite, requests, approve,
// refuse, application, habilitate) act on the directory of the
// configuration as a DGFiP agent named by --as, through directory.Accounts:
// the same checks as the service's. They mail through the same queue as
// apexd, drained before the command ends.

// mailDrainTimeout bounds the wait for the mails of a command to leave.
const mailDrainTimeout = 30 * time.Second

// backOfficeFlags are the flags every back-office command has.
type backOfficeFlags struct {
	configFile *string
	asJSON     *bool
	verbose    *bool
	as         *string // nil for agent create, which acts as nobody
}

func (e *env) backOfficeFlags(fs *flag.FlagSet, withAs bool) backOfficeFlags {
	f := backOfficeFlags{
		configFile: e.configFlag(fs),
		asJSON:     fs.Bool("json", false, "print JSON"),
		verbose:    fs.Bool("v", false, "log the opening of the directory and the mails sent"),
	}
	if withAs {
		f.as = fs.String("as", "", "`identifier` of the DGFiP agent the command acts as (required)")
	}
	return f
}

// backOffice is the directory opened for one command, the agent it acts as
// and, for the commands that mail, the mail queue.
type backOffice struct {
	store    *directory.Store
	accounts directory.Accounts
	agent    *directory.Person // nil for agent create
	ldapURL  string            // where DGFiP applications reach the directory

	cfg    *config.Config
	server *slapd.Server // the embedded slapd, or nil
	queue  *notify.Queue // nil when the command sends no mail
}

// errNoMail is what a command that is not meant to mail gets if it tries.
var errNoMail = errors.New("this command sends no mail")

// openBackOffice opens the directory (starting the embedded slapd when
// ldap.url is empty), the mail queue when withMail, and loads the agent of
// --as. The caller must call close, which drains the queue.
func (e *env) openBackOffice(ctx context.Context, name string, f backOfficeFlags, withMail bool) (_ *backOffice, err error) {
	if f.as != nil && strings.TrimSpace(*f.as) == "" {
		return nil, usagef("--as IDENTIFIER is required: the DGFiP agent the command acts as")
	}
	cfg, err := loadConfig(*f.configFile)
	if err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if *f.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	store, server, err := embedded.OpenDirectory(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	bo := &backOffice{store: store, cfg: cfg, server: server, ldapURL: cfg.LDAP.URL}
	if server != nil {
		bo.ldapURL = server.URL
	}
	defer func() {
		if err != nil {
			bo.close(e, name)
		}
	}()

	if f.as != nil {
		if bo.agent, err = bo.findAgent(ctx, *f.as); err != nil {
			return nil, err
		}
	}
	var m notify.Mailer = notify.MailerFunc(func(context.Context, notify.Message) error { return errNoMail })
	if withMail {
		queue, _, err := mailer.Open(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
		bo.queue, m = queue, queue
	}
	bo.accounts = directory.Accounts{Store: store, Notifier: notify.Notifier{Mailer: m, PublicURL: cfg.HTTP.PublicURL}, Audit: logger, Source: "apexctl", AgentsMailbox: cfg.Mail.AgentsMailbox}
	return bo, nil
}

// findAgent loads the account of --as, which must be an active DGFiP
// agent. directory.Accounts checks each step against it all the same.
func (bo *backOffice) findAgent(ctx context.Context, identifier string) (*directory.Person, error) {
	p, err := bo.store.FindPerson(ctx, identifier)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("--as %s: no such account: %w", identifier, directory.ErrForbidden)
	}
	if err != nil {
		return nil, fmt.Errorf("--as %s: %w", identifier, err)
	}
	if p.Role != directory.RoleAgent || p.State != directory.StateActive {
		return nil, fmt.Errorf("--as %s: a %s account in state %s, not an active DGFiP agent: %w", identifier, p.Role, p.State, directory.ErrForbidden)
	}
	return p, nil
}

// close drains the mail queue, then closes the directory. A mail that
// could not leave stays in the spool, which apexd or the next apexctl
// command sends: close says so on the error stream.
func (bo *backOffice) close(e *env, name string) error {
	if bo.queue != nil {
		ctx, cancel := context.WithTimeout(context.Background(), mailDrainTimeout)
		if err := bo.queue.Close(ctx); err != nil {
			fmt.Fprintf(e.stderr, "apexctl %s: mail queue: %v\n", name, err)
		}
		cancel()
		// The queue keeps one .json file per message not sent yet (notify.QueueConfig).
		if left, _ := filepath.Glob(filepath.Join(bo.cfg.Mail.SpoolDir, "*.json")); len(left) > 0 {
			fmt.Fprintf(e.stderr, "apexctl %s: %d mail(s) not sent yet stay in %s: they leave at the next start of apexd or of a command that mails\n",
				name, len(left), bo.cfg.Mail.SpoolDir)
		}
	}
	bo.store.Close()
	if bo.server != nil {
		if err := bo.server.Stop(); err != nil {
			return fmt.Errorf("stop slapd: %w", err)
		}
	}
	return nil
}

// closeInto closes bo and keeps the first error in *err: call it deferred.
func (bo *backOffice) closeInto(e *env, name string, err *error) {
	if cerr := bo.close(e, name); *err == nil {
		*err = cerr
	}
}

// explain turns the problems of an invalid input into their French
// messages; other errors stay as they are.
func explain(err error) error {
	var ie *directory.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	msgs := make([]string, len(ie.Problems))
	for i, p := range ie.Problems {
		msgs[i] = p.Message
	}
	return fmt.Errorf("%s", strings.Join(msgs, " "))
}

// passwordSymbols are the special characters of generated passwords: none
// needs quoting in a shell or a YAML file.
const passwordSymbols = "-_.,:+=@%"

// generatePassword returns a random password that passes the guide's rules
// (directory.CheckPassword) at the longest length they allow.
func generatePassword() (string, error) {
	gen, err := password.NewGenerator(&password.GeneratorInput{Symbols: passwordSymbols})
	if err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	for range 100 {
		p, err := gen.Generate(directory.MaxPasswordLength, 4, 2, false, true)
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		// A leading dash would read as a flag on a command line.
		if !strings.HasPrefix(p, "-") && directory.CheckPassword(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("generate password: none passed the password rules")
}

// personJSON is an account as the back-office commands print it.
type personJSON struct {
	Identifier    string    `json:"identifier,omitempty"`
	RequestID     string    `json:"requestId"`
	FirstName     string    `json:"firstName,omitempty"`
	LastName      string    `json:"lastName,omitempty"`
	Email         string    `json:"email"`
	Role          string    `json:"role"`
	State         string    `json:"state"`
	SIRET         string    `json:"siret,omitempty"`
	Service       string    `json:"service,omitempty"`
	RequestedBy   string    `json:"requestedBy,omitempty"`
	RequestedAt   time.Time `json:"requestedAt,omitzero"`
	DecidedBy     string    `json:"decidedBy,omitempty"`
	RefusalReason string    `json:"refusalReason,omitempty"`
}

func toPersonJSON(p *directory.Person) personJSON {
	return personJSON{
		Identifier: p.Identifier, RequestID: p.RequestID, FirstName: p.FirstName, LastName: p.LastName,
		Email: p.Email, Role: string(p.Role), State: string(p.State), SIRET: p.SIRET, Service: p.Service,
		RequestedBy: p.RequestedBy, RequestedAt: p.RequestedAt, DecidedBy: p.DecidedBy, RefusalReason: p.RefusalReason,
	}
}
