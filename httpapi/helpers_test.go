package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/httpapi"
	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

func TestMain(m *testing.M) { slapdtest.Main(m) }

const (
	siret    = "73282932000074"
	password = "Correct-Horse-42!"
)

var ctx = context.Background()

// env is one directory (a subtree of the package's slapd), one real SMTP
// server, and as many apexd instances on them as a test asks for.
type env struct {
	t     *testing.T
	cfg   directory.StoreConfig
	store *directory.Store
	smtp  *smtptest.Server
	clock *testkit.Clock
	logs  *testkit.LogBuffer
	sms   notify.SMSSender // to texts, a real HTTP gateway receiver
	texts *smsInbox
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, slapdtest.Shared(t))
}

// newEnvOn is newEnv on a slapd of the test's own (slapdtest.Start), for a
// test that changes what ou=system holds for every tree (the OpenID
// provider's keys).
func newEnvOn(t *testing.T, srv *slapd.Server) *env {
	t.Helper()
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	clock := testkit.NewClock(time.Now())
	cfg.Now = clock.Now
	e := &env{t: t, cfg: cfg, store: slapdtest.OpenStore(t, cfg), smtp: smtptest.Start(t), clock: clock, logs: &testkit.LogBuffer{}}
	e.sms, e.texts = smsReceiver(t)
	if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: siret, Name: "Étude Martin & Associés", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Comptabilité"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// instance starts one apexd: its own store (pool) on the shared directory,
// its own mail queue to the shared SMTP server, a real listener on 127.0.0.1.
func (e *env) instance() string {
	e.t.Helper()
	url, _ := e.server()
	return url
}

// server is instance, with the server itself (its routes, for the tests that
// visit every page).
func (e *env) server() (string, *httpapi.Server) {
	e.t.Helper()
	ts, srv := e.serve(false)
	return ts.URL, srv
}

// serve starts one apexd as instance does; with secure, its public URL is
// https and it serves TLS (ts.Client() trusts it).
func (e *env) serve(secure bool) (*httptest.Server, *httpapi.Server) {
	t := e.t
	t.Helper()
	store := slapdtest.OpenStore(t, e.cfg)
	relay, err := notify.NewSMTP(notify.SMTPConfig{Host: e.smtp.Host, Port: e.smtp.Port, TLS: notify.TLSNone, From: "APEX Partenaires <no-reply@apex.example.fr>"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	queue, err := notify.NewQueue(notify.QueueConfig{SpoolDir: dir + "/spool", FailedDir: dir + "/failed", Logger: logger}, relay)
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.Close(ctx) })
	ts := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + ts.Listener.Addr().String()
	if secure {
		publicURL = "https://" + ts.Listener.Addr().String()
	}
	notifier := notify.Notifier{Mailer: queue, SMS: e.sms, PublicURL: publicURL}
	srv, err := httpapi.New(httpapi.Config{
		PublicURL:    publicURL,
		Health:       store,
		Consultation: directory.Consultation{Store: store},
		SignIn:       directory.SignIn{Store: store, Notifier: notifier},
		Accounts:     directory.Accounts{Store: store, Notifier: notifier, Audit: logger},
		SelfService: directory.SelfService{Store: store, Notifier: notifier, Audit: logger, ForgotDuration: 50 * time.Millisecond,
			OnSendError: func(err error) { logger.Warn("send", "error", err.Error()) }},
		OIDC:   directory.OIDC{Store: store, Audit: logger},
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	if secure {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts, srv
}

// person creates an active account with a mail of its own.
func (e *env) person(first, last string, role directory.Role, service string) *directory.Person {
	e.t.Helper()
	p, err := e.store.CreatePerson(ctx, directory.NewPerson{
		FirstName: first, LastName: last, Email: fmt.Sprintf("p%d@example.fr", time.Now().UnixNano()),
		Role: role, State: directory.StateActive, SIRET: siret, Service: service,
	}, password)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

var codePattern = regexp.MustCompile(`\b(\d{6})\b`)

// isCodeMail matches the sign-in code mails to addr.
func isCodeMail(addr string) func(smtptest.Captured) bool {
	return func(m smtptest.Captured) bool {
		return smtptest.ToAddress(addr)(m) && m.Subject == "Votre code de vérification APEX Partenaires"
	}
}

// mails counts the mails received so far that match.
func (e *env) mails(match func(smtptest.Captured) bool) int {
	return len(slices.DeleteFunc(e.smtp.Messages(), func(m smtptest.Captured) bool { return !match(m) }))
}

// mailsTo counts the mails to addr received so far.
func (e *env) mailsTo(addr string) int { return e.mails(smtptest.ToAddress(addr)) }

// codeMails counts the sign-in code mails that reached addr.
func (e *env) codeMails(addr string) int { return e.mails(isCodeMail(addr)) }

// nthMail waits for the n-th mail that matches, what it is named in the
// failure.
func (e *env) nthMail(what string, match func(smtptest.Captured) bool, n int) smtptest.Captured {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mine := slices.DeleteFunc(e.smtp.Messages(), func(m smtptest.Captured) bool { return !match(m) })
		if len(mine) >= n {
			return mine[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s #%d", what, n)
		}
	}
}

// code waits for the n-th sign-in code mail to addr and reads the code in
// it. Only code mails count: the other mails to addr (an approval, a
// habilitation) leave the queue's two workers in any order, and may
// arrive before or after a code sent later.
func (e *env) code(addr string, n int) string {
	e.t.Helper()
	got := e.nthMail("code mail to "+addr, isCodeMail(addr), n)
	m := codePattern.FindStringSubmatch(got.Text)
	if m == nil {
		e.t.Fatalf("no code in the mail:\n%s", got.Text)
	}
	return m[1]
}

// call makes an API request with a JSON body and decodes the JSON answer.
func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, url, raw)
		}
	}
	return res.StatusCode, out
}

// errorCode reads the stable code of an API error body.
func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// errorDetail reads the field and the message of the first detail of an
// API error body.
func errorDetail(body map[string]any) (field, message string) {
	e, _ := body["error"].(map[string]any)
	details, _ := e["details"].([]any)
	if len(details) == 0 {
		return "", ""
	}
	d, _ := details[0].(map[string]any)
	field, _ = d["field"].(string)
	message, _ = d["message"].(string)
	return field, message
}

// get fetches url and reads its body.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

var mailCount atomic.Int64

// uniqueEmail is an address no other test uses: mail is unique in the
// whole directory, which the package's tests share.
func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s.%d@example.fr", prefix, mailCount.Add(1))
}

// scrape reads the metrics of srv, served on a listener of their own as
// apexd serves them (http.metrics_addr).
func scrape(t *testing.T, srv *httpapi.Server) string {
	t.Helper()
	ts := httptest.NewServer(srv.MetricsHandler())
	defer ts.Close()
	res, body := get(t, ts.URL+"/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d", res.StatusCode)
	}
	return body
}

// startServer serves api on a real 127.0.0.1 listener for the test.
func startServer(t *testing.T, api *httpapi.Server) string {
	t.Helper()
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}
