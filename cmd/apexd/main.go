// Command apexd is the APEX Partenaires service: it opens the directory
// (starting the embedded slapd when ldap.url is empty), loads the
// demonstration directory with --demo, and serves the API and the pages
// until SIGINT or SIGTERM, when it finishes the requests under way, the
// mails being sent, and stops slapd cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/cmd/internal/demo"
	"github.com/dgfip/apex-partenaires/cmd/internal/embedded"
	"github.com/dgfip/apex-partenaires/cmd/internal/jobs"
	"github.com/dgfip/apex-partenaires/cmd/internal/mailer"
	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/httpapi"
	"github.com/dgfip/apex-partenaires/notify"
)

func main() {
	// The OpenID provider's library logs to slog's default: its lines too
	// are JSON on stderr (error names and descriptions, never a code nor a
	// token).
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run starts the service and returns the exit status once ctx is done or
// the HTTP service fails; an embedded slapd that dies is started again.
// Logs go to stderr as JSON, the banner to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apexd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", config.DefaultFile, "configuration `file` (YAML); a missing file leaves the defaults")
	withDemo := fs.Bool("demo", false, "load the demonstration directory when it is not there")
	ready := fs.Bool("check-ready", false, "ask the running apexd (at http.addr) whether it is ready, and exit 0 if so: the image's health check")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: apexd [--config FILE] [--demo | --check-ready]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "Every configuration key can be set by an APEX_ variable (ldap.url is APEX_LDAP_URL); one that names no key is an error.")
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
	if *ready {
		return checkReady(ctx, *configFile, stderr)
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

	store, server, err := embedded.OpenDirectory(ctx, cfg, logger)
	if err != nil {
		logger.Error("ouverture de l'annuaire impossible", "error", err.Error())
		return 1
	}
	var embedded *slapd.Supervisor
	if server != nil {
		embedded = superviseSlapd(server, logger)
	}
	defer func() {
		store.Close()
		if embedded != nil {
			if err := embedded.Stop(); err != nil {
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

	queue, mails, err := mailer.Open(ctx, cfg, logger)
	if err != nil {
		logger.Error("envoi des mails impossible", "error", err.Error())
		return 1
	}
	defer func() {
		// Mails still queued stay in the spool and leave at the next start.
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := queue.Close(closeCtx); err != nil {
			logger.Warn("file des mails", "error", err.Error())
		}
	}()
	sms, err := mailer.OpenSMS(cfg)
	if err != nil {
		logger.Error("envoi des SMS impossible", "error", err.Error())
		return 1
	}
	notifier := notify.Notifier{Mailer: queue, SMS: sms, PublicURL: cfg.HTTP.PublicURL}
	// The data already stored, changed once per directory where this
	// version needs it (another instance starting at once is safe).
	if err := store.Migrate(ctx, notifier, logger); err != nil {
		logger.Error("migration de l'annuaire impossible", "error", err.Error())
		return 1
	}
	scheduler, err := newScheduler(cfg, store, notifier, logger)
	if err != nil {
		logger.Error("tâches planifiées", "error", err.Error())
		return 1
	}
	api, err := httpapi.New(httpapi.Config{
		PublicURL: cfg.HTTP.PublicURL,
		Health:    store,
		SignIn:    directory.SignIn{Store: store, Notifier: notifier},
		Accounts:  directory.Accounts{Store: store, Notifier: notifier, Audit: logger, AgentsMailbox: cfg.Mail.AgentsMailbox},
		SelfService: directory.SelfService{Store: store, Notifier: notifier, Audit: logger, OnSendError: func(err error) {
			// Never the number nor the code: the notifier's errors hold neither.
			logger.Warn("code ou lien de renouvellement non envoyé", "error", err.Error())
		}},
		Logger:    logger,
		MailStats: mails.Stats,
		// The client address of the abuse limits.
		TrustedProxies: cfg.HTTP.TrustedProxies,
		Consultation:   directory.Consultation{Store: store},
		Reviews:        directory.Reviews{Store: store, Audit: logger},
		Collectors:     scheduler.Collectors(),
		// The OpenID provider of DGFiP applications.
		OIDC: directory.OIDC{Store: store, Audit: logger, Policy: cfg.OIDC.Policy()},
	})
	if err != nil {
		logger.Error("service HTTP", "error", err.Error())
		return 1
	}
	listener, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		logger.Error("écoute HTTP impossible", "addr", cfg.HTTP.Addr, "error", err.Error())
		return 1
	}
	var metricsListener net.Listener
	if cfg.HTTP.MetricsAddr != "" {
		if metricsListener, err = net.Listen("tcp", cfg.HTTP.MetricsAddr); err != nil {
			listener.Close()
			logger.Error("écoute des métriques impossible", "addr", cfg.HTTP.MetricsAddr, "error", err.Error())
			return 1
		}
	}
	httpServer := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 2)
	go func() { served <- httpServer.Serve(listener) }()
	// The scheduled jobs, each once for the whole directory. They stop
	// (freeing their lease for another instance) before the store closes.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		scheduler.Run(jobsCtx)
	}()
	defer func() {
		stopJobs()
		<-jobsDone
	}()
	// The metrics on a listener of their own, never on the service's port.
	var metricsServer *http.Server
	if metricsListener != nil {
		metricsServer = &http.Server{
			Handler:           metricsMux(api.MetricsHandler()),
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		go func() { served <- metricsServer.Serve(metricsListener) }()
		logger.Info("métriques", "url", "http://"+metricsListener.Addr().String()+"/metrics")
	}
	if cfg.HTTP.PprofAddr != "" {
		go servePprof(cfg.HTTP.PprofAddr, logger)
	}

	url := cfg.LDAP.URL
	if server != nil {
		url = server.URL
	}
	if _, err := io.WriteString(stdout, banner(cfg, server, url, acc)); err != nil {
		logger.Error("écriture de la bannière", "error", err.Error())
		return 1
	}
	logger.Info("apexd prêt", "http", "http://"+listener.Addr().String(), "public_url", cfg.HTTP.PublicURL, "ldap_url", url)

	code := 0
	select {
	case <-ctx.Done():
		logger.Info("arrêt demandé")
	case err := <-served:
		logger.Error("service HTTP arrêté", "error", err.Error())
		code = 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		logger.Warn("arrêt du service HTTP", "error", err.Error())
	}
	if metricsServer != nil {
		metricsServer.Shutdown(shutdownCtx)
	}
	return code
}

// metricsMux serves the metrics at /metrics, and nothing else.
func metricsMux(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	return mux
}

// superviseSlapd starts the embedded slapd again whenever it dies, on its
// data and port, with waits of 0.5 s, 1 s, 2 s… up to a minute between
// starts that fail. apexd never gives up nor exits for it: meanwhile every
// request that needs the directory answers 503 and /readyz too, which is
// what load balancers and orchestrators act on, and the cause (a full disk,
// the port taken) may go without restarting apexd, whose memory holds the
// sign-in codes and SMS still to send.
func superviseSlapd(server *slapd.Server, logger *slog.Logger) *slapd.Supervisor {
	return slapd.Supervise(server, slapd.SuperviseConfig{
		OnExit: func(srv *slapd.Server, err error) {
			status := "exit status 0"
			if err != nil {
				status = err.Error()
			}
			logger.Error("slapd embarqué arrêté de lui-même: redémarrage; le service répond 503 d'ici là",
				"pid", srv.PID(), "status", status, "log", srv.LogPath(), "log_tail", srv.LogTail(2000))
		},
		OnFailure: func(attempt int, err error, next time.Duration) {
			logger.Error("slapd embarqué: redémarrage impossible; le service répond 503 (/readyz aussi), nouvel essai",
				"attempt", attempt, "next_in", next.String(), "error", err.Error())
		},
		OnRestart: func(srv *slapd.Server, attempt int, downtime time.Duration) {
			logger.Warn("slapd embarqué redémarré", "pid", srv.PID(), "url", srv.URL, "attempts", attempt, "downtime", downtime.Round(time.Millisecond).String())
		},
	})
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
		fmt.Fprintf(&b, "Mot de passe du service : dans %s/%s\n", cfg.LDAP.EmbeddedDir, embedded.ServicePasswordFile)
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
	fmt.Fprintf(&b, "\nMon espace APEX Partenaires : %s/connexion\n", strings.TrimSuffix(cfg.HTTP.PublicURL, "/"))
	fmt.Fprintf(&b, "Fournisseur OpenID Connect des applications DGFiP : %s/.well-known/openid-configuration\n", strings.TrimSuffix(cfg.HTTP.PublicURL, "/"))
	if cfg.Mail.SMTP.Host == "" {
		fmt.Fprintf(&b, "Les mails (dont le code de vérification) arrivent dans %s : bin/apexctl outbox show last\n", cfg.Mail.OutboxDir)
	}
	if cfg.SMS.Gateway.URL == "" {
		fmt.Fprintf(&b, "Les SMS (dont le code de sécurité de « Mot de passe oublié ? ») arrivent dans %s : bin/apexctl outbox sms\n", cfg.SMS.OutboxDir)
	}
	b.WriteString("Ctrl+C pour arrêter.\n")
	return b.String()
}

// servePprof serves net/http/pprof on its own loopback listener (checked by
// the configuration), never on the public handler.
func servePprof(addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("pprof", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		logger.Warn("pprof arrêté", "error", err.Error())
	}
}

// newScheduler builds the scheduler of the jobs switched on in cfg, each
// run once for the whole directory by whichever apexd holds its lease.
func newScheduler(cfg *config.Config, store *directory.Store, notifier notify.Notifier, logger *slog.Logger) (*jobs.Scheduler, error) {
	work := directory.Jobs{Store: store, Notifier: notifier, Audit: logger, Log: logger,
		Policy: cfg.AccessPolicy(), AgentsMailbox: cfg.Mail.AgentsMailbox, Review: cfg.ReviewPolicy(), ReviewNotifier: notifier}
	var list []jobs.Job
	for _, j := range []struct {
		name string
		job  config.Job
		run  func(context.Context, directory.Progress) (map[string]int, error)
	}{
		{directory.JobDormancy, cfg.Jobs.Dormancy, work.Dormancy},
		{directory.JobEndDates, cfg.Jobs.EndDates, work.EndDates},
		{directory.JobInvitationReminders, cfg.Jobs.InvitationReminders, work.InvitationReminders},
		{directory.JobReviews, cfg.Jobs.Reviews, work.Reviews},
	} {
		if j.job.Enabled {
			list = append(list, jobs.Job{Name: j.name, Interval: j.job.Interval, Run: j.run})
		}
	}
	if cfg.Jobs.Dormancy.Enabled && cfg.Mail.AgentsMailbox == "" {
		logger.Warn("mail.agents_mailbox vide : la désactivation d'un administrateur inutilisé n'est signalée à aucun agent")
	}
	return jobs.New(jobs.Config{Store: store, Jobs: list, Tick: cfg.Jobs.Tick, Lease: cfg.Jobs.Lease, Log: logger})
}
