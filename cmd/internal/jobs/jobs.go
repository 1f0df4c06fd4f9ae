// Package jobs runs apexd's scheduled jobs (dormant accounts, end dates,
// invitation reminders, …) once for the whole directory, whatever the
// number of apexd instances on it. Each instance runs a Scheduler: at every
// tick it looks for the jobs that are due, and runs one only once it holds
// its lease in the directory (directory.Store.TakeJob), which it renews
// while the job works; a job that ran through is not due again before its
// interval. An instance that dies leaves its lease to expire, and another
// takes the job over, where its cursor says.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dgfip/apex-partenaires/directory"
)

// Job is one scheduled job.
type Job struct {
	Name     string        // lower-case letters, digits and hyphens; names its lease
	Interval time.Duration // how long after it ran through it is due again
	// Run does the job's work. Every step of it must be a compare-and-swap
	// or idempotent: a run may be stopped anywhere, and resumed by another
	// instance. p keeps the job's cursor. Run returns what it did, counted
	// by kind, for the log (never a personal value), and must stop soon
	// after ctx is done: its lease is lost, or apexd stops.
	Run func(ctx context.Context, p directory.Progress) (map[string]int, error)
}

// Config is a scheduler's configuration.
type Config struct {
	Store *directory.Store
	Jobs  []Job
	// Instance names this process in the leases; the host name, the pid
	// and a random part when empty.
	Instance string
	Tick     time.Duration // how often due jobs are looked for; 1 minute when zero
	Lease    time.Duration // how long a lease lasts unless renewed (every third of it); 2 minutes when zero
	Log      *slog.Logger  // nothing logged when nil
}

// Outcomes of a run, the outcome label of apex_job_runs_total.
const (
	OutcomeSuccess     = "success"     // ran through
	OutcomeFailure     = "failure"     // stopped by an error; the lease is freed and the job is due again
	OutcomeLost        = "lost"        // the lease was lost (another instance took it): stopped
	OutcomeInterrupted = "interrupted" // apexd stopped: the lease is freed for another instance
)

// Scheduler runs the due jobs of one apexd instance.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	runs *prometheus.CounterVec
	last *prometheus.GaugeVec
	seq  int64
	mu   sync.Mutex // one pass at a time
}

// New checks the configuration and returns a scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil {
		return nil, errors.New("jobs: no store")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Instance = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	seen := map[string]bool{}
	for _, j := range cfg.Jobs {
		if j.Name == "" || j.Run == nil || j.Interval <= 0 || seen[j.Name] {
			return nil, fmt.Errorf("jobs: job %q needs a unique name, a run and a positive interval", j.Name)
		}
		seen[j.Name] = true
	}
	s := &Scheduler{
		cfg: cfg,
		log: cfg.Log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apex_job_runs_total", Help: "Runs of the scheduled jobs by this instance, by job and outcome (success, failure, lost, interrupted).",
		}, []string{"job", "outcome"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apex_job_last_success_timestamp_seconds", Help: "When each scheduled job last ran through, on any instance (Unix time; 0: never), as last read from the directory.",
		}, []string{"job"}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, j := range cfg.Jobs {
		for _, o := range []string{OutcomeSuccess, OutcomeFailure, OutcomeLost, OutcomeInterrupted} {
			s.runs.WithLabelValues(j.Name, o)
		}
		s.last.WithLabelValues(j.Name)
	}
	return s, nil
}

// Collectors are the scheduler's metrics, for the service's registry.
func (s *Scheduler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.runs, s.last}
}

// Instance is the name this process holds leases under.
func (s *Scheduler) Instance() string { return s.cfg.Instance }

// Run runs the due jobs at every tick until ctx is done, then returns once
// the job under way has stopped and freed its lease.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		s.RunDue(ctx)
		// A random part of a fifth of the tick, so that instances started
		// together do not all ask at the same moment.
		jitter, _ := rand.Int(rand.Reader, big.NewInt(int64(s.cfg.Tick/5)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.Tick + time.Duration(jitter.Int64())):
		}
	}
}

// RunDue runs, one after the other, each job that is due and whose lease
// this instance gets, and reports the outcome of each run.
func (s *Scheduler) RunDue(ctx context.Context) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	outcomes := map[string]string{}
	for _, j := range s.cfg.Jobs {
		if ctx.Err() != nil {
			break
		}
		if o := s.runOne(ctx, j); o != "" {
			outcomes[j.Name] = o
		}
	}
	return outcomes
}

// runOne runs j if it is due and this instance gets its lease; it returns
// the run's outcome, or "" when it did not run.
func (s *Scheduler) runOne(ctx context.Context, j Job) string {
	s.seq++
	holder := fmt.Sprintf("%s#%d", s.cfg.Instance, s.seq)
	lease, st, err := s.cfg.Store.TakeJob(ctx, j.Name, holder, j.Interval, s.cfg.Lease)
	if !st.LastSuccess.IsZero() {
		s.last.WithLabelValues(j.Name).Set(float64(st.LastSuccess.Unix()))
	}
	if err != nil {
		s.log.Warn("tâche planifiée : lecture du bail impossible", "job", j.Name, "error", err.Error())
		return ""
	}
	if lease == nil {
		return ""
	}
	resumed := st.Holder != "" // a run stopped half way by another instance
	s.log.Info("tâche planifiée commencée", "job", j.Name, "instance", s.cfg.Instance, "resumed", resumed)
	start := time.Now()

	runCtx, cancel := context.WithCancel(ctx)
	var lost bool
	var lostMu sync.Mutex
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.keepLease(runCtx, lease, func() {
			lostMu.Lock()
			lost = true
			lostMu.Unlock()
			cancel()
		})
	}()
	counts, runErr := j.Run(runCtx, lease)
	cancel()
	<-renewed

	lostMu.Lock()
	wasLost := lost
	lostMu.Unlock()
	// The lease is freed even when apexd is stopping: ctx is done then.
	endCtx, endCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer endCancel()
	outcome := OutcomeSuccess
	switch {
	case wasLost || errors.Is(runErr, directory.ErrLeaseLost):
		outcome = OutcomeLost
	case runErr != nil && ctx.Err() != nil:
		outcome = OutcomeInterrupted
		err = lease.Release(endCtx)
	case runErr != nil:
		outcome = OutcomeFailure
		err = lease.Release(endCtx)
	default:
		if err = lease.Finish(endCtx); errors.Is(err, directory.ErrLeaseLost) {
			outcome = OutcomeLost
		} else if err != nil {
			outcome = OutcomeFailure
		} else {
			s.last.WithLabelValues(j.Name).Set(float64(s.cfg.Store.Now().Unix()))
		}
	}
	s.runs.WithLabelValues(j.Name, outcome).Inc()
	attrs := []any{"job", j.Name, "outcome", outcome, "duration", time.Since(start).Round(time.Millisecond).String()}
	for k, n := range counts {
		attrs = append(attrs, k, n)
	}
	switch {
	case outcome == OutcomeSuccess:
		s.log.Info("tâche planifiée terminée", attrs...)
	case runErr != nil:
		s.log.Warn("tâche planifiée arrêtée", append(attrs, "error", runErr.Error())...)
	case err != nil:
		s.log.Warn("tâche planifiée arrêtée", append(attrs, "error", err.Error())...)
	default:
		s.log.Warn("tâche planifiée arrêtée", attrs...)
	}
	return outcome
}

// keepLease renews the lease every third of its life until ctx is done. It
// calls lost when the lease was lost, or could not be renewed before it
// ended (a directory out of reach): the job must then stop, as another
// instance may have taken it over.
func (s *Scheduler) keepLease(ctx context.Context, lease *directory.JobLease, lost func()) {
	every := s.cfg.Lease / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		err := lease.Renew(ctx)
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, directory.ErrLeaseLost) || !s.cfg.Store.Now().Before(lease.Expires()):
			s.log.Warn("tâche planifiée : bail perdu, arrêt", "job", lease.Name(), "error", err.Error())
			lost()
			return
		default:
			s.log.Warn("tâche planifiée : bail non renouvelé, nouvel essai", "job", lease.Name(), "error", err.Error())
		}
	}
}
