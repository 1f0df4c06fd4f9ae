package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// SMS is a text message to a mobile number in E.164 form (+33612345678).
type SMS struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// Validate checks the number's form and that there is a text.
func (m SMS) Validate() error {
	if len(m.To) < 8 || len(m.To) > 16 || m.To[0] != '+' || strings.Trim(m.To[1:], "0123456789") != "" {
		return fmt.Errorf("%w: %q is not an E.164 number", ErrInvalidMessage, m.To)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: empty SMS", ErrInvalidMessage)
	}
	return nil
}

// SMSSender sends text messages.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// GatewayConfig describes an HTTP SMS gateway, so that any provider fits by
// configuration: the request's method, headers and body (a text/template
// given .To and .Text, with a json function that quotes a string), and the
// status that means success (any 2xx when zero).
type GatewayConfig struct {
	URL           string
	Method        string            // POST when empty
	Headers       map[string]string // e.g. Authorization, Content-Type
	Body          string            // DefaultGatewayBody when empty
	SuccessStatus int
	Timeout       time.Duration // 10 s when zero
	Client        *http.Client  // http.DefaultClient's transport when nil
}

// DefaultGatewayBody is the JSON {"to": "<E.164 number>", "text": "<message>"}.
const DefaultGatewayBody = `{"to": {{json .To}}, "text": {{json .Text}}}`

// Gateway sends SMS through an HTTP gateway.
type Gateway struct {
	cfg  GatewayConfig
	body *template.Template
}

// NewGateway checks the configuration and parses the body template.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("notify: sms gateway: %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Body == "" {
		cfg.Body = DefaultGatewayBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	for k, v := range cfg.Headers {
		if strings.ContainsAny(k+v, "\r\n") {
			return nil, fmt.Errorf("notify: sms gateway: header %q has a line break", k)
		}
	}
	body, err := template.New("sms").Funcs(template.FuncMap{"json": jsonString}).Parse(cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("notify: sms gateway body: %w", err)
	}
	if err := body.Execute(io.Discard, SMS{To: "+33600000000", Text: "test"}); err != nil {
		return nil, fmt.Errorf("notify: sms gateway body: %w", err)
	}
	return &Gateway{cfg: cfg, body: body}, nil
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// SendSMS posts one message; an answer other than the success status is an
// error that names the status, never the number nor the text.
func (g *Gateway) SendSMS(ctx context.Context, m SMS) error {
	if err := m.Validate(); err != nil {
		return err
	}
	var body bytes.Buffer
	if err := g.body.Execute(&body, m); err != nil {
		return fmt.Errorf("notify: sms body: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, g.cfg.Method, g.cfg.URL, &body)
	if err != nil {
		return fmt.Errorf("notify: sms request: %w", err)
	}
	for k, v := range g.cfg.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := g.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("notify: sms gateway: %w", errors.Unwrap(err))
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	if g.cfg.SuccessStatus != 0 {
		ok = res.StatusCode == g.cfg.SuccessStatus
	}
	if !ok {
		return fmt.Errorf("notify: sms gateway answered %d", res.StatusCode)
	}
	return nil
}

// SMSOutbox writes each SMS as a JSON file, for make run.
type SMSOutbox struct{ dir string }

// NewSMSOutbox creates the folder (0700).
func NewSMSOutbox(dir string) (*SMSOutbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: sms outbox: %w", err)
	}
	return &SMSOutbox{dir: dir}, nil
}

// SendSMS writes the message into the folder, atomically.
func (o *SMSOutbox) SendSMS(_ context.Context, m SMS) error {
	if err := m.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(struct {
		SMS
		Time time.Time `json:"time"`
	}{m, time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	name, err := newFileName(time.Now(), ".sms.json")
	if err != nil {
		return err
	}
	return writeFileAtomic(o.dir, name, data)
}

// ListSMSOutbox returns the SMS of an outbox folder, oldest first.
func ListSMSOutbox(dir string) ([]SMS, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.sms.json"))
	if err != nil {
		return nil, err
	}
	var out []SMS
	for _, name := range names { // names start with a sortable time
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var m SMS
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("notify: %s: %w", filepath.Base(name), err)
		}
		out = append(out, m)
	}
	return out, nil
}
