package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// queueFixture is a queue on temporary folders, its log in a buffer and
// its hooks counted; Sleep records the waits and returns at once.
type queueFixture struct {
	cfg    notify.QueueConfig
	log    *testkit.LogBuffer
	sent   chan struct{}
	failed chan struct{}

	mu     sync.Mutex
	delays []time.Duration
	onWait func(n int) // called with the number of waits so far
}

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	dir := t.TempDir()
	f := &queueFixture{log: &testkit.LogBuffer{}, sent: make(chan struct{}, 100), failed: make(chan struct{}, 100)}
	f.cfg = notify.QueueConfig{
		SpoolDir:  filepath.Join(dir, "spool"),
		FailedDir: filepath.Join(dir, "failed"),
		Logger:    slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnSent:    func() { f.sent <- struct{}{} },
		OnFailed:  func() { f.failed <- struct{}{} },
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.mu.Lock()
			f.delays = append(f.delays, d)
			n, hook := len(f.delays), f.onWait
			f.mu.Unlock()
			if hook != nil {
				hook(n)
			}
			return ctx.Err()
		},
	}
	return f
}

func (f *queueFixture) start(t *testing.T, next notify.Mailer) *notify.Queue {
	t.Helper()
	q, err := notify.NewQueue(f.cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Close(ctx)
	})
	return q
}

func (f *queueFixture) waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.delays)
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(waitMail):
		t.Fatalf("no %s within %s", what, waitMail)
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// checkLogIsClean fails when the log holds a body's content or a full
// address.
func checkLogIsClean(t *testing.T, log string, m notify.Message) {
	t.Helper()
	if strings.Contains(log, secretCode) {
		t.Errorf("the log holds the code of the body:\n%s", log)
	}
	for _, to := range m.To {
		if strings.Contains(log, to) {
			t.Errorf("the log holds the address %s:\n%s", to, log)
		}
	}
	if strings.Contains(log, "Bonjour") {
		t.Errorf("the log holds the body:\n%s", log)
	}
}

// relayBackAfterTwoFailures starts a queue on a real SMTP relay that
// refuses mail until the queue has waited twice.
func relayBackAfterTwoFailures(t *testing.T) (*smtptest.Server, *queueFixture, *notify.Queue) {
	t.Helper()
	srv := smtptest.Start(t)
	srv.SetFailing(true)
	f := newQueueFixture(t)
	f.onWait = func(n int) {
		if n == 2 {
			srv.SetFailing(false)
		}
	}
	return srv, f, f.start(t, mustSMTP(t, smtpConfig(srv, notify.TLSNone, nil)))
}

func TestQueueRetriesUntilTheServerRecovers(t *testing.T) {
	srv, f, q := relayBackAfterTwoFailures(t)

	m := testMessage()
	if err := q.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, smtptest.ToAddress("marie.martin@example.fr"), waitMail)
	wait(t, f.sent, "OnSent")
	if !strings.Contains(got.Text, secretCode) {
		t.Errorf("text %q", got.Text)
	}
	if n := srv.Attempts(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if d := f.waits(); !slices.Equal(d, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waits %v, want [1s 2s]", d)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 0 {
		t.Errorf("spool not emptied: %v", left)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("%d messages delivered, want 1", len(srv.Messages()))
	}
	log := f.log.String()
	if !strings.Contains(log, "to_domain=example.fr") || !strings.Contains(log, "451") {
		t.Errorf("the log lacks the domain or the relay's answer:\n%s", log)
	}
	checkLogIsClean(t, log, m)
}

func TestQueueGivesUpIntoFailedDir(t *testing.T) {
	srv := smtptest.Start(t)
	srv.SetFailing(true)
	f := newQueueFixture(t)
	f.cfg.MaxAttempts = 3
	q := f.start(t, mustSMTP(t, smtpConfig(srv, notify.TLSNone, nil)))

	m := testMessage()
	if err := q.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	wait(t, f.failed, "OnFailed")
	if n := srv.Attempts(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if d := f.waits(); !slices.Equal(d, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waits %v, want [1s 2s]", d)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 0 {
		t.Errorf("spool not emptied: %v", left)
	}
	failed := files(t, f.cfg.FailedDir)
	if len(failed) != 1 {
		t.Fatalf("failed folder: %v, want 1 file", failed)
	}
	path := filepath.Join(f.cfg.FailedDir, failed[0])
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("failed file mode %v", info.Mode())
	}
	raw, _ := os.ReadFile(path)
	var kept struct {
		Attempts  int
		LastError string
		Message   struct {
			To                  []string
			Subject, Text, HTML string
		}
	}
	if err := json.Unmarshal(raw, &kept); err != nil {
		t.Fatal(err)
	}
	if kept.Attempts != 3 || !strings.Contains(kept.LastError, "451") || kept.Message.Text != m.Text || kept.Message.Subject != m.Subject {
		t.Errorf("failed file: %+v", kept)
	}
	log := f.log.String()
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "to_domain=example.fr") ||
		!strings.Contains(log, fmt.Sprintf("subject=%q", m.Subject)) {
		t.Errorf("no ERROR line with the domain and the subject:\n%s", log)
	}
	checkLogIsClean(t, log, m)
}

// failingMailer fails every time, quoting the address as relays do.
type failingMailer struct{}

func (failingMailer) Send(_ context.Context, m notify.Message) error {
	return fmt.Errorf("550 5.1.1 <%s>: Recipient address rejected", m.To[0])
}

func TestQueueBackoffIsCapped(t *testing.T) {
	f := newQueueFixture(t)
	f.cfg.MaxAttempts = 6
	f.cfg.Backoff = 20 * time.Second
	q := f.start(t, failingMailer{})
	m := testMessage()
	if err := q.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	wait(t, f.failed, "OnFailed")
	want := []time.Duration{20 * time.Second, 40 * time.Second, time.Minute, time.Minute, time.Minute}
	if d := f.waits(); !slices.Equal(d, want) {
		t.Errorf("waits %v, want %v", d, want)
	}
	log := f.log.String()
	if !strings.Contains(log, "…@example.fr") {
		t.Errorf("the relay's answer is not in the log, redacted:\n%s", log)
	}
	checkLogIsClean(t, log, m)
}

// recorder is a Mailer that keeps what it sends.
type recorder struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (r *recorder) Send(_ context.Context, m notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

func (r *recorder) messages() []notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func TestQueueSendsWhatAPreviousProcessLeft(t *testing.T) {
	f := newQueueFixture(t)
	// The previous process spooled two messages and stopped before
	// sending them.
	previous, err := notify.NewQueue(f.cfg, failingMailer{})
	if err != nil {
		t.Fatal(err)
	}
	first, second := testMessage("a@example.fr"), testMessage("b@example.org")
	for _, m := range []notify.Message{first, second} {
		if err := previous.Enqueue(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := previous.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 2 {
		t.Fatalf("spool: %v, want 2 files", left)
	}

	rec := &recorder{}
	f.cfg.Workers = 1 // in order
	f.start(t, rec)
	wait(t, f.sent, "OnSent")
	wait(t, f.sent, "OnSent")
	got := rec.messages()
	if len(got) != 2 || got[0].To[0] != "a@example.fr" || got[1].To[0] != "b@example.org" || got[0].Text != first.Text {
		t.Errorf("sent %+v", got)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 0 {
		t.Errorf("spool not emptied: %v", left)
	}
}

// blockingMailer's Send waits for release, or for its context to end.
type blockingMailer struct {
	started chan struct{}
	release chan struct{}
	ctxErr  chan error
}

func newBlockingMailer() *blockingMailer {
	return &blockingMailer{started: make(chan struct{}, 10), release: make(chan struct{}), ctxErr: make(chan error, 10)}
}

func (b *blockingMailer) Send(ctx context.Context, _ notify.Message) error {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		b.ctxErr <- ctx.Err()
		return ctx.Err()
	}
}

func TestQueueCloseWaitsForInFlightSends(t *testing.T) {
	f := newQueueFixture(t)
	bm := newBlockingMailer()
	q := f.start(t, bm)
	if err := q.Enqueue(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	wait(t, bm.started, "send")

	closed := make(chan error, 1)
	go func() { closed <- q.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a message was being sent", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := q.Enqueue(context.Background(), testMessage()); !errors.Is(err, notify.ErrQueueClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrQueueClosed", err)
	}
	close(bm.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close() = %v", err)
		}
	case <-time.After(waitMail):
		t.Fatal("Close did not return once the send was done")
	}
	wait(t, f.sent, "OnSent")
	if left := files(t, f.cfg.SpoolDir); len(left) != 0 {
		t.Errorf("spool not emptied: %v", left)
	}
}

func TestQueueCloseTimeoutLeavesTheMessageInTheSpool(t *testing.T) {
	f := newQueueFixture(t)
	bm := newBlockingMailer()
	q := f.start(t, bm)
	m := testMessage()
	if err := q.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	wait(t, bm.started, "send")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close() = %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-bm.ctxErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the send ended with %v, want Canceled", err)
		}
	case <-time.After(waitMail):
		t.Fatal("the send under way was not aborted")
	}
	// The worker logs as it leaves: then the spool is settled.
	deadline := time.Now().Add(waitMail)
	for !strings.Contains(f.log.String(), "laissé dans le spool") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 1 {
		t.Fatalf("spool: %v, want the message kept", left)
	}

	// The next process sends it.
	rec := &recorder{}
	next := newQueueFixture(t)
	next.cfg.SpoolDir, next.cfg.FailedDir = f.cfg.SpoolDir, f.cfg.FailedDir
	next.start(t, rec)
	wait(t, next.sent, "OnSent")
	if got := rec.messages(); len(got) != 1 || got[0].Text != m.Text {
		t.Errorf("sent %+v", got)
	}
}

func TestQueueCloseStopsRetrying(t *testing.T) {
	f := newQueueFixture(t)
	f.cfg.Sleep = nil // a real timer: Close must cut the 1-minute wait short
	f.cfg.Backoff = time.Minute
	var attempts atomic.Int32
	q := f.start(t, notify.MailerFunc(func(context.Context, notify.Message) error {
		attempts.Add(1)
		return errors.New("451 try again later")
	}))
	if err := q.Enqueue(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitMail)
	for !strings.Contains(f.log.String(), "nouvel essai") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second || attempts.Load() != 1 {
		t.Errorf("Close took %s after %d attempts", time.Since(start), attempts.Load())
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 1 {
		t.Errorf("spool: %v, want the message kept", left)
	}
	if failed := files(t, f.cfg.FailedDir); len(failed) != 0 {
		t.Errorf("failed: %v, want nothing", failed)
	}
}

func TestQueueDeliversManyOnce(t *testing.T) {
	srv := smtptest.Start(t)
	f := newQueueFixture(t)
	f.cfg.Workers = 4
	q := f.start(t, mustSMTP(t, smtpConfig(srv, notify.TLSNone, nil)))
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := q.Enqueue(context.Background(), testMessage(fmt.Sprintf("user%d@example.fr", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range n {
		wait(t, f.sent, "OnSent")
	}
	seen := map[string]int{}
	for _, c := range srv.Messages() {
		seen[c.To[0]]++
	}
	if len(seen) != n {
		t.Errorf("%d recipients reached, want %d", len(seen), n)
	}
	for to, count := range seen {
		if count != 1 {
			t.Errorf("%s got %d messages", to, count)
		}
	}
}

func TestQueueRefusesInvalidMessages(t *testing.T) {
	f := newQueueFixture(t)
	q := f.start(t, &recorder{})
	m := testMessage()
	m.Subject = "x\r\nBcc: evil@example.com"
	if err := q.Enqueue(context.Background(), m); !errors.Is(err, notify.ErrInvalidMessage) {
		t.Errorf("Enqueue() = %v, want ErrInvalidMessage", err)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 0 {
		t.Errorf("spool: %v", left)
	}
}

func TestQueueKeepsAnUnreadableSpoolFile(t *testing.T) {
	f := newQueueFixture(t)
	if err := os.MkdirAll(f.cfg.SpoolDir, 0o700); err != nil {
		t.Fatal(err)
	}
	name := "20260101T000000.000000000Z-0123456789abcdef.json"
	if err := os.WriteFile(filepath.Join(f.cfg.SpoolDir, name), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	f.start(t, rec)
	wait(t, f.failed, "OnFailed")
	if got := files(t, f.cfg.FailedDir); !slices.Equal(got, []string{name}) {
		t.Errorf("failed folder %v, want %s", got, name)
	}
	if raw, _ := os.ReadFile(filepath.Join(f.cfg.FailedDir, name)); string(raw) != "{not json" {
		t.Errorf("the file was changed: %q", raw)
	}
	if len(rec.messages()) != 0 {
		t.Error("something was sent")
	}
}

func TestNewQueueConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		cfg  notify.QueueConfig
	}{
		{"no spool", notify.QueueConfig{FailedDir: dir}},
		{"no failed folder", notify.QueueConfig{SpoolDir: dir}},
		{"same folder", notify.QueueConfig{SpoolDir: dir, FailedDir: dir + "/"}},
		{"negative workers", notify.QueueConfig{SpoolDir: dir + "/a", FailedDir: dir + "/b", Workers: -1}},
	} {
		if _, err := notify.NewQueue(tt.cfg, &recorder{}); err == nil {
			t.Errorf("%s: NewQueue succeeded", tt.name)
		}
	}
	if _, err := notify.NewQueue(notify.QueueConfig{SpoolDir: dir + "/a", FailedDir: dir + "/b"}, nil); err == nil {
		t.Error("NewQueue without a mailer succeeded")
	}
}

// The context given to Start may be the one SIGTERM cancels: the queue
// goes on until Close.
func TestQueueOutlivesStartContext(t *testing.T) {
	f := newQueueFixture(t)
	rec := &recorder{}
	q, err := notify.NewQueue(f.cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := q.Enqueue(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	wait(t, f.sent, "OnSent")
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); !errors.Is(err, notify.ErrQueueClosed) {
		t.Errorf("Start after Close = %v, want ErrQueueClosed", err)
	}
}

// A message with an expiry (a sign-in code) never touches the disk: it is
// retried from memory while the relay is down, and dropped once it would
// arrive too late, never kept among the failures.
func TestQueueKeepsShortLivedMessagesInMemory(t *testing.T) {
	srv, f, q := relayBackAfterTwoFailures(t)
	m := testMessage()
	m.Expires = time.Now().Add(10 * time.Minute)
	if err := q.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if left := files(t, f.cfg.SpoolDir); len(left) != 0 {
		t.Errorf("a short-lived message was spooled: %v", left)
	}
	got := srv.WaitFor(t, smtptest.ToAddress("marie.martin@example.fr"), waitMail)
	wait(t, f.sent, "OnSent")
	if !strings.Contains(got.Text, secretCode) || srv.Attempts() != 3 {
		t.Errorf("delivered after %d attempts, text %q; want 3 attempts", srv.Attempts(), got.Text)
	}

	late := testMessage()
	late.Expires = time.Now().Add(1500 * time.Millisecond) // less than the wait after a failure
	srv.SetFailing(true)
	if err := q.Send(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	wait(t, f.failed, "OnFailed")
	if left := files(t, f.cfg.FailedDir); len(left) != 0 {
		t.Errorf("an expired message was kept: %v", left)
	}
	checkLogIsClean(t, f.log.String(), m)
}
