package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify"
)

// receivedRequest is what the test's SMS gateway was sent.
type receivedRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// smsReceiver is a real HTTP server on 127.0.0.1 that keeps every request
// and answers with status (200 when zero) and a body that echoes what it
// received, as a provider's error page might.
type smsReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []receivedRequest
	status   int
	block    chan struct{} // when set, requests wait for it or for their end
}

func startReceiver(t *testing.T, status int) *smsReceiver {
	t.Helper()
	r := &smsReceiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, receivedRequest{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
		block, status := r.block, r.status
		r.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-req.Context().Done():
			}
			return
		}
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"error":"refused: ` + string(body) + `"}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *smsReceiver) received() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.requests...)
}

func mustGateway(t *testing.T, cfg notify.GatewayConfig) *notify.Gateway {
	t.Helper()
	g, err := notify.NewGateway(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// hostileText needs JSON escaping: quotes, a backslash, a line break,
// accents, markup.
const hostileText = "Code \"123456\" \\ fin\nligne 2 é à </script> & +33"

func TestGatewayDefaultBody(t *testing.T) {
	srv := startReceiver(t, 0)
	g := mustGateway(t, notify.GatewayConfig{URL: srv.URL + "/sms/send"})
	if err := g.SendSMS(context.Background(), notify.SMS{To: "+33612345678", Text: hostileText}); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.Method != http.MethodPost || r.Path != "/sms/send" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("method %s, path %s, content type %q", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("the body is not JSON: %v\n%s", err, r.Body)
	}
	if len(body) != 2 || body["to"] != "+33612345678" || body["text"] != hostileText {
		t.Errorf("body %s", r.Body)
	}
}

func TestGatewayCustomRequest(t *testing.T) {
	srv := startReceiver(t, http.StatusAccepted)
	g := mustGateway(t, notify.GatewayConfig{
		URL:    srv.URL + "/v2/messages",
		Method: http.MethodPut,
		// As viper gives them: lower-cased. HTTP names are case-insensitive.
		Headers: map[string]string{"authorization": "Bearer api-key-1234", "x-api-key": "k-5678"},
		Body: `{"messages": [{"destination": {{json .To}}, "content": {{json .Text}}, "sender": "DGFiP"}],
  "options": {"flash": false}}`,
		SuccessStatus: http.StatusAccepted,
	})
	if err := g.SendSMS(context.Background(), notify.SMS{To: "+33612345678", Text: hostileText}); err != nil {
		t.Fatal(err)
	}
	r := srv.received()[0]
	if r.Method != http.MethodPut || r.Path != "/v2/messages" {
		t.Errorf("method %s, path %s", r.Method, r.Path)
	}
	if r.Header.Get("Authorization") != "Bearer api-key-1234" || r.Header.Get("X-Api-Key") != "k-5678" ||
		r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	var body struct {
		Messages []struct{ Destination, Content, Sender string }
		Options  struct{ Flash bool }
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("the body is not JSON: %v\n%s", err, r.Body)
	}
	if len(body.Messages) != 1 || body.Messages[0].Destination != "+33612345678" || body.Messages[0].Content != hostileText ||
		body.Messages[0].Sender != "DGFiP" {
		t.Errorf("body %s", r.Body)
	}
}

// TestGatewayFormBody: a provider that takes a form. The template's own
// urlquery escapes the values; the configured Content-Type replaces the
// default.
func TestGatewayFormBody(t *testing.T) {
	srv := startReceiver(t, 0)
	g := mustGateway(t, notify.GatewayConfig{
		URL:     srv.URL,
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"},
		Body:    `to={{urlquery .To}}&msg={{urlquery .Text}}&from=DGFiP`,
	})
	if err := g.SendSMS(context.Background(), notify.SMS{To: "+33612345678", Text: hostileText + " &to=+33700000000"}); err != nil {
		t.Fatal(err)
	}
	r := srv.received()[0]
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if len(form["to"]) != 1 || form.Get("to") != "+33612345678" || form.Get("msg") != hostileText+" &to=+33700000000" || form.Get("from") != "DGFiP" {
		t.Errorf("form %v from %s", form, r.Body)
	}
}

func TestGatewaySuccessStatus(t *testing.T) {
	m := notify.SMS{To: "+33612345678", Text: "APEX Partenaires : votre code de sécurité est 123456."}
	for _, tt := range []struct {
		name          string
		successStatus int
		answer        int
		ok            bool
	}{
		{"any 2xx: 200", 0, http.StatusOK, true},
		{"any 2xx: 201", 0, http.StatusCreated, true},
		{"any 2xx: 204", 0, http.StatusNoContent, true},
		{"any 2xx: 400", 0, http.StatusBadRequest, false},
		{"201 configured, 201 answered", http.StatusCreated, http.StatusCreated, true},
		{"201 configured, 200 answered", http.StatusCreated, http.StatusOK, false},
		{"202 configured, 500 answered", http.StatusAccepted, http.StatusInternalServerError, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startReceiver(t, tt.answer)
			err := mustGateway(t, notify.GatewayConfig{URL: srv.URL, SuccessStatus: tt.successStatus}).SendSMS(context.Background(), m)
			if (err == nil) != tt.ok {
				t.Errorf("error %v, want success %v", err, tt.ok)
			}
		})
	}
}

// TestGatewayErrorNamesTheStatusOnly: the error of a refused SMS goes to
// the logs; it names the status, never the number, the text (a code) nor
// what the gateway answered (which echoes them).
func TestGatewayErrorNamesTheStatusOnly(t *testing.T) {
	srv := startReceiver(t, http.StatusInternalServerError)
	g := mustGateway(t, notify.GatewayConfig{URL: srv.URL + "/send?api_key=secret-key", Headers: map[string]string{"authorization": "Bearer secret-token"}})
	err := g.SendSMS(context.Background(), notify.SMS{To: "+33612345678", Text: "votre code est 482913"})
	if err == nil {
		t.Fatal("a 500 answer is no error")
	}
	if !strings.Contains(err.Error(), "500") {
		t.Errorf("the error does not name the status: %v", err)
	}
	for _, secret := range []string{"33612345678", "482913", "refused", "secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q holds %q", err, secret)
		}
	}
	if len(srv.received()) != 1 {
		t.Errorf("%d requests, want 1 (no retry here: the caller decides)", len(srv.received()))
	}
}

func TestGatewayTimeout(t *testing.T) {
	srv := startReceiver(t, 0)
	release := make(chan struct{})
	srv.mu.Lock()
	srv.block = release
	srv.mu.Unlock()
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers

	g := mustGateway(t, notify.GatewayConfig{URL: srv.URL + "/send?api_key=secret-key", Timeout: 200 * time.Millisecond})
	start := time.Now()
	err := g.SendSMS(context.Background(), notify.SMS{To: "+33612345678", Text: "votre code est 482913"})
	if err == nil {
		t.Fatal("a gateway that never answers: no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s, the timeout is 200ms", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a deadline exceeded", err)
	}
	for _, secret := range []string{"33612345678", "482913", "secret-key"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q holds %q", err, secret)
		}
	}

	// The caller's context ends the wait as well.
	ctx, cancel := context.WithCancel(context.Background())
	g = mustGateway(t, notify.GatewayConfig{URL: srv.URL, Timeout: time.Minute})
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if err := g.SendSMS(ctx, notify.SMS{To: "+33612345678", Text: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
}

func TestGatewayRefusesInvalidSMSBeforeAnyRequest(t *testing.T) {
	srv := startReceiver(t, 0)
	g := mustGateway(t, notify.GatewayConfig{URL: srv.URL})
	for _, m := range []notify.SMS{
		{To: "0612345678", Text: "x"},        // national form
		{To: "+33 6 12 34 56 78", Text: "x"}, // spaces
		{To: "+336123456789012345", Text: "x"},
		{To: "+3361234567\n", Text: "x"},
		{To: "+33612345678&to=+33700000000", Text: "x"},
		{To: "", Text: "x"},
		{To: "+33612345678", Text: " \n"},
	} {
		if err := g.SendSMS(context.Background(), m); !errors.Is(err, notify.ErrInvalidMessage) {
			t.Errorf("%+v: error %v, want ErrInvalidMessage", m, err)
		}
	}
	if n := len(srv.received()); n != 0 {
		t.Errorf("%d requests made for invalid SMS", n)
	}
}

func TestNewGatewayRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]notify.GatewayConfig{
		"no URL":                     {},
		"not http":                   {URL: "ftp://sms.example.fr"},
		"header name with CRLF":      {URL: "https://sms.example.fr", Headers: map[string]string{"x-a\r\nx-b": "1"}},
		"header value with LF":       {URL: "https://sms.example.fr", Headers: map[string]string{"authorization": "Bearer a\nX-Evil: 1"}},
		"body that does not parse":   {URL: "https://sms.example.fr", Body: `{"to": {{json .To}`},
		"body with an unknown field": {URL: "https://sms.example.fr", Body: `{"to": {{json .Phone}}}`},
		"body with an unknown func":  {URL: "https://sms.example.fr", Body: `{"to": {{base64 .To}}}`},
	} {
		if _, err := notify.NewGateway(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestResetCodeThroughGateway: what the Notifier hands a real gateway.
func TestResetCodeThroughGateway(t *testing.T) {
	srv := startReceiver(t, 0)
	n := notify.Notifier{SMS: mustGateway(t, notify.GatewayConfig{URL: srv.URL})}
	p := &directory.Person{Identifier: "marie.martin-px", Mobile: "+33612345678", Email: "marie.martin@example.fr"}
	if err := n.ResetCode(context.Background(), p, "482913", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	var body struct{ To, Text string }
	if err := json.Unmarshal(srv.received()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.To != "+33612345678" || body.Text != "APEX Partenaires : votre code de sécurité est 482913. Il est valable 10 minutes. Ne le communiquez à personne." {
		t.Errorf("body %+v", body)
	}
}

func TestSMSOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sms-outbox")
	if got, err := notify.ListSMSOutbox(dir); err != nil || len(got) != 0 {
		t.Fatalf("a folder not made yet: %v, %v", got, err)
	}
	o, err := notify.NewSMSOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v, %v", info, err)
	}
	want := []notify.SMS{
		{To: "+33612345678", Text: "APEX Partenaires : votre code de sécurité est 111111."},
		{To: "+33798765432", Text: hostileText},
		{To: "+33612345678", Text: "APEX Partenaires : votre code de sécurité est 333333."},
	}
	for _, m := range want {
		if err := o.SendSMS(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.SendSMS(context.Background(), notify.SMS{To: "0612345678", Text: "x"}); !errors.Is(err, notify.ErrInvalidMessage) {
		t.Errorf("invalid SMS: %v", err)
	}
	got, err := notify.ListSMSOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("SMS %d: %+v, want %+v (oldest first)", i, got[i], want[i])
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) != len(want) {
		t.Fatalf("files %v, %v", files, err)
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil || info.Mode().Perm() != 0o600 || !strings.HasSuffix(f, ".sms.json") {
			t.Errorf("%s: %v, %v", f, info.Mode(), err)
		}
		raw, _ := os.ReadFile(f)
		var stored struct {
			To, Text string
			Time     time.Time
		}
		if err := json.Unmarshal(raw, &stored); err != nil || stored.Time.IsZero() {
			t.Errorf("%s: %v, %s", f, err, raw)
		}
	}
}
