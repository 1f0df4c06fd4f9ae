package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// The defaults of QueueConfig.
const (
	DefaultWorkers     = 2
	DefaultMaxAttempts = 6
	DefaultBackoff     = time.Second
	// MaxBackoff caps the wait between two attempts, which doubles after
	// each failure.
	MaxBackoff = time.Minute
)

// spoolExt ends the name of every message waiting in the spool.
const spoolExt = ".json"

// QueueConfig configures a Queue. Zero values take the defaults.
type QueueConfig struct {
	SpoolDir  string // messages not sent yet, one JSON file each (created 0700)
	FailedDir string // messages given up on, kept for an operator (created 0700)

	Workers     int           // concurrent deliveries; DefaultWorkers
	MaxAttempts int           // attempts per message before FailedDir; DefaultMaxAttempts
	Backoff     time.Duration // wait after the first failure, doubled after each next one, up to MaxBackoff; DefaultBackoff

	// Logger receives one line per delivery, failure and retry, naming the
	// recipients' domains and the subject, never an address or a body.
	// nil logs nothing.
	Logger *slog.Logger
	// OnSent and OnFailed are called after each message sent or given up
	// on (metrics); nil is fine.
	OnSent, OnFailed func()
	// Sleep waits d between two attempts, or returns ctx's error when ctx
	// ends first; nil uses a timer. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Queue is a Mailer that never makes its caller wait on the relay:
// Enqueue (and Send) writes the message into SpoolDir and returns; workers
// send it through the next Mailer, retrying with a growing wait, and
// delete it once sent. A message that still fails after MaxAttempts moves
// to FailedDir. Nothing accepted is lost: a message not sent when the
// process stops stays in SpoolDir, and Start sends it the next time.
//
// One Queue at a time per SpoolDir. A message may be sent twice when the
// process stops between its delivery and the removal of its file.
type Queue struct {
	cfg  QueueConfig
	next Mailer
	log  *slog.Logger

	mu       sync.Mutex
	pending  []string           // spool files (and names of memory) waiting for a worker, oldest first
	known    map[string]bool    // pending or being sent: never queued twice
	memory   map[string]Message // messages with an expiry, kept out of the spool
	started  bool
	closing  bool
	wake     chan struct{} // something is pending, or the queue is closing
	stopping context.Context
	stop     context.CancelFunc // at Close: ends the waits between attempts
	sending  context.Context    // the context of deliveries (from Start)
	abort    context.CancelFunc // when Close's context ends: ends deliveries
	workers  sync.WaitGroup
}

var _ Mailer = (*Queue)(nil)

// ErrQueueClosed is returned by Enqueue after Close.
var ErrQueueClosed = errors.New("notify: queue closed")

// NewQueue creates the folders when missing; call Start to send.
func NewQueue(cfg QueueConfig, next Mailer) (*Queue, error) {
	if next == nil {
		return nil, errors.New("notify: queue: no mailer")
	}
	if cfg.SpoolDir == "" || cfg.FailedDir == "" {
		return nil, errors.New("notify: queue: SpoolDir and FailedDir are required")
	}
	if filepath.Clean(cfg.SpoolDir) == filepath.Clean(cfg.FailedDir) {
		return nil, errors.New("notify: queue: SpoolDir and FailedDir must differ")
	}
	if cfg.Workers < 0 || cfg.MaxAttempts < 0 || cfg.Backoff < 0 {
		return nil, fmt.Errorf("notify: queue: negative setting (workers %d, attempts %d, backoff %s)", cfg.Workers, cfg.MaxAttempts, cfg.Backoff)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	for _, dir := range []string{cfg.SpoolDir, cfg.FailedDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("notify: queue: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		cfg:    cfg,
		next:   next,
		log:    log,
		known:  make(map[string]bool),
		memory: make(map[string]Message),
		wake:   make(chan struct{}, 1),
	}
	q.stopping, q.stop = context.WithCancel(context.Background())
	return q, nil
}

// Start launches the workers and queues every message already in
// SpoolDir, oldest first: those a previous process left. Messages
// enqueued before Start wait for it.
//
// ctx's values reach the next Mailer, but its end does not stop the
// queue: Close does, after the deliveries under way, so that the context
// cancelled by SIGTERM can be given here and a mail accepted just before
// still leaves during the shutdown.
func (q *Queue) Start(ctx context.Context) error {
	names, err := spoolFiles(q.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("notify: queue: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return ErrQueueClosed
	}
	if q.started {
		return errors.New("notify: queue: already started")
	}
	q.started = true
	q.sending, q.abort = context.WithCancel(context.WithoutCancel(ctx))
	found := 0
	for _, name := range names {
		if q.add(name) {
			found++
		}
	}
	for range q.cfg.Workers {
		q.workers.Add(1)
		go q.work()
	}
	q.signal()
	q.log.Info("file d'envoi des courriels démarrée", "workers", q.cfg.Workers, "spooled", found)
	return nil
}

// Enqueue validates m, writes it durably into SpoolDir and returns: the
// workers send it. ctx only bounds the writing. A message with an expiry
// skips the spool: written nowhere, it costs the request no disk sync, and
// is lost if the process stops first, which for a short-lived code only
// means asking for another one.
func (q *Queue) Enqueue(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	closing := q.closing
	q.mu.Unlock()
	if closing {
		return ErrQueueClosed
	}
	now := time.Now()
	if !m.Expires.IsZero() {
		name, err := newFileName(now, ".memory")
		if err != nil {
			return fmt.Errorf("notify: queue: %w", err)
		}
		q.mu.Lock()
		q.memory[name] = m
		q.add(name)
		q.signal()
		q.mu.Unlock()
		return nil
	}
	name, err := newFileName(now, spoolExt)
	if err != nil {
		return fmt.Errorf("notify: queue: %w", err)
	}
	raw, err := json.Marshal(spoolFile{Version: spoolVersion, EnqueuedAt: now.UTC(), Message: toSpool(m)})
	if err != nil {
		return fmt.Errorf("notify: queue: %w", err)
	}
	if err := writeFileAtomic(q.cfg.SpoolDir, name, raw); err != nil {
		return fmt.Errorf("notify: queue: spool: %w (%w)", directory.ErrMailUnavailable, err)
	}
	q.mu.Lock()
	q.add(name)
	q.signal()
	q.mu.Unlock()
	return nil
}

// Send is Enqueue, so that callers hold a Mailer.
func (q *Queue) Send(ctx context.Context, m Message) error { return q.Enqueue(ctx, m) }

// Close stops taking messages (Enqueue returns ErrQueueClosed) and stops
// retrying: the workers make one more attempt for each message pending,
// and the messages that fail it stay in SpoolDir for the next Start. Close
// returns once the workers are done, or when ctx ends: then it aborts the
// deliveries under way, leaving their messages in SpoolDir, and returns
// ctx's error without waiting further.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	q.closing = true
	started := q.started
	q.signal()
	q.mu.Unlock()
	q.stop()
	if !started {
		return nil
	}
	done := make(chan struct{})
	go func() {
		q.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		q.abort()
		return fmt.Errorf("notify: queue: close: %w", ctx.Err())
	}
}

// add queues a spool file unless it is already pending or being sent.
// Call with q.mu held.
func (q *Queue) add(name string) bool {
	if q.known[name] {
		return false
	}
	q.known[name] = true
	q.pending = append(q.pending, name)
	return true
}

// signal wakes a worker. Call with q.mu held.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take gives the next pending file; done when the worker must stop: the
// deliveries are aborted, or the queue is closing and nothing is pending.
func (q *Queue) take() (name string, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sending.Err() != nil {
		return "", true
	}
	if len(q.pending) == 0 {
		return "", q.closing
	}
	name, q.pending = q.pending[0], q.pending[1:]
	if len(q.pending) > 0 {
		q.signal() // for another worker
	}
	return name, false
}

func (q *Queue) forget(name string) {
	q.mu.Lock()
	delete(q.known, name)
	q.mu.Unlock()
}

func (q *Queue) work() {
	defer q.workers.Done()
	for {
		name, done := q.take()
		if done {
			return
		}
		if name == "" {
			select {
			case <-q.wake:
			case <-q.stopping.Done(): // closing: every idle worker rechecks, then ends
			case <-q.sending.Done():
			}
			continue
		}
		q.deliver(name)
		q.forget(name)
	}
}

// deliver sends one spool file, retrying, and removes it once sent or
// moves it to FailedDir.
func (q *Queue) deliver(name string) {
	q.mu.Lock()
	m, inMemory := q.memory[name]
	delete(q.memory, name)
	q.mu.Unlock()
	if inMemory {
		q.deliverMemory(m)
		return
	}
	path := filepath.Join(q.cfg.SpoolDir, name)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return // sent already, queued twice by a Start racing an Enqueue
	}
	if err != nil {
		q.log.Error("courriel illisible dans le spool, laissé en place", "spool_file", name, "error", err)
		return
	}
	var sf spoolFile
	if err := json.Unmarshal(raw, &sf); err != nil || sf.Version != spoolVersion {
		if err == nil {
			err = fmt.Errorf("unknown version %d", sf.Version)
		}
		q.giveUp(name, raw, "", "", 0, fmt.Errorf("spool file: %w", err))
		return
	}
	m = sf.Message.message()
	to, subject := domains(m.To), m.Subject
	for attempt := 1; ; attempt++ {
		err := q.next.Send(q.sending, m)
		if err == nil {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				q.log.Error("courriel envoyé mais resté dans le spool : il sera renvoyé au prochain démarrage",
					"to_domain", to, "subject", subject, "spool_file", name, "error", redact(err))
			}
			q.log.Info("courriel envoyé", "to_domain", to, "subject", subject, "attempt", attempt)
			if q.cfg.OnSent != nil {
				q.cfg.OnSent()
			}
			return
		}
		if q.sending.Err() != nil {
			q.log.Warn("envoi interrompu à l'arrêt : courriel laissé dans le spool pour le prochain démarrage",
				"to_domain", to, "subject", subject, "spool_file", name, "error", redact(err))
			return
		}
		if errors.Is(err, ErrInvalidMessage) || attempt >= q.cfg.MaxAttempts {
			sf.Attempts, sf.LastError = attempt, err.Error()
			failed, merr := json.Marshal(sf)
			if merr != nil {
				failed = raw
			}
			q.giveUp(name, failed, to, subject, attempt, err)
			return
		}
		wait := q.backoff(attempt)
		if q.stopping.Err() != nil {
			q.log.Warn("échec d'envoi à l'arrêt : courriel laissé dans le spool pour le prochain démarrage",
				"to_domain", to, "subject", subject, "attempt", attempt, "spool_file", name, "error", redact(err))
			return
		}
		q.log.Warn("échec d'envoi du courriel, nouvel essai",
			"to_domain", to, "subject", subject, "attempt", attempt, "retry_in", wait.String(), "error", redact(err))
		if q.cfg.Sleep(q.stopping, wait) != nil {
			q.log.Warn("arrêt : courriel laissé dans le spool pour le prochain démarrage",
				"to_domain", to, "subject", subject, "spool_file", name)
			return
		}
	}
}

// deliverMemory sends a message kept in memory, retrying until it expires.
func (q *Queue) deliverMemory(m Message) {
	to, subject := domains(m.To), m.Subject
	for attempt := 1; ; attempt++ {
		err := q.next.Send(q.sending, m)
		if err == nil {
			q.log.Info("courriel envoyé", "to_domain", to, "subject", subject, "attempt", attempt)
			if q.cfg.OnSent != nil {
				q.cfg.OnSent()
			}
			return
		}
		wait := q.backoff(attempt)
		if errors.Is(err, ErrInvalidMessage) || attempt >= q.cfg.MaxAttempts || time.Now().Add(wait).After(m.Expires) ||
			q.sending.Err() != nil || q.stopping.Err() != nil {
			q.log.Error("courriel à durée de vie courte non remis, abandonné",
				"to_domain", to, "subject", subject, "attempts", attempt, "error", redact(err))
			if q.cfg.OnFailed != nil {
				q.cfg.OnFailed()
			}
			return
		}
		q.log.Warn("échec d'envoi du courriel, nouvel essai",
			"to_domain", to, "subject", subject, "attempt", attempt, "retry_in", wait.String(), "error", redact(err))
		if q.cfg.Sleep(q.stopping, wait) != nil {
			return
		}
	}
}

// giveUp writes data into FailedDir under name, then removes the spool
// file. When FailedDir cannot be written the message stays in the spool:
// it is never dropped.
func (q *Queue) giveUp(name string, data []byte, to, subject string, attempts int, cause error) {
	if err := writeFileAtomic(q.cfg.FailedDir, name, data); err != nil {
		q.log.Error("courriel non remis, et impossible à ranger parmi les échecs : laissé dans le spool",
			"to_domain", to, "subject", subject, "spool_file", name, "error", redact(err), "cause", redact(cause))
		return
	}
	if err := os.Remove(filepath.Join(q.cfg.SpoolDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Error("courriel rangé parmi les échecs mais resté dans le spool", "spool_file", name, "error", redact(err))
	}
	q.log.Error("courriel non remis, gardé dans le dossier des échecs",
		"to_domain", to, "subject", subject, "attempts", attempts,
		"failed_file", filepath.Join(q.cfg.FailedDir, name), "error", redact(cause))
	if q.cfg.OnFailed != nil {
		q.cfg.OnFailed()
	}
}

// backoff is the wait after the attempt-th failure.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.cfg.Backoff
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// spoolFiles lists the messages of a spool, oldest first.
func spoolFiles(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), spoolExt) && !strings.HasPrefix(de.Name(), tempPrefix) {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names) // the names start with their time
	return names, nil
}

// spoolVersion is the version of the spool file format.
const spoolVersion = 1

// spoolFile is a message in SpoolDir or FailedDir. FailedDir's also say
// how many attempts were made and the last error.
type spoolFile struct {
	Version    int          `json:"version"`
	EnqueuedAt time.Time    `json:"enqueuedAt"`
	Message    spoolMessage `json:"message"`
	Attempts   int          `json:"attempts,omitempty"`
	LastError  string       `json:"lastError,omitempty"`
}

// spoolMessage is Message with a stable JSON form of its own.
type spoolMessage struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
}

func toSpool(m Message) spoolMessage {
	return spoolMessage{To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
}

func (s spoolMessage) message() Message {
	return Message{To: s.To, Subject: s.Subject, Text: s.Text, HTML: s.HTML}
}

// domains is what logs say of the recipients: their domains, never their
// addresses.
func domains(to []string) string {
	ds := make([]string, 0, len(to))
	for _, addr := range to {
		ds = append(ds, domainOf(addr))
	}
	slices.Sort(ds)
	return strings.Join(slices.Compact(ds), ",")
}

// addressPattern finds the addresses a relay's answer may quote
// ("550 5.1.1 <marie.martin@example.fr>: Recipient address rejected").
var addressPattern = regexp.MustCompile("[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*)")

// redact is an error's text with the local part of every address hidden.
func redact(err error) string {
	if err == nil {
		return ""
	}
	return addressPattern.ReplaceAllString(err.Error(), "…@$1")
}
