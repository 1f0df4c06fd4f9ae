package apexcontainer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/dgfip/apex-partenaires/notify"
)

// serviceReady is the message of apexd's log line once it serves.
const serviceReady = "apexd prêt"

// Service is apexd running beside a directory, mailing to the kit's SMTP
// sink.
type Service struct {
	testcontainers.Container

	URL        string // http://127.0.0.1:PORT: the pages, and the API under /api/v1
	MetricsURL string // http://127.0.0.1:PORT/metrics

	sink *mailSink
}

// Mail is a mail apexd sent, as the sink received it.
type Mail = notify.ReadMessage

// RunService starts the apexd image img (DefaultServiceImage for the one
// `make image` builds) on dir, as the service account, with its root file
// system read-only and its mails going to an SMTP sink that the kit runs on
// 127.0.0.1 for as long as the container. opts are testcontainers-go's
// customizers: testcontainers.WithEnv sets any APEX_ key (limits, TTLs…).
func RunService(ctx context.Context, dir *Container, img string, opts ...testcontainers.ContainerCustomizer) (*Service, error) {
	sink, err := startSink()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		sink.close()
		return nil, fmt.Errorf("apexcontainer: %w", err)
	}
	metricsPort, err := freePort()
	if err != nil {
		sink.close()
		return nil, fmt.Errorf("apexcontainer: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(httpPort)
	metrics := "127.0.0.1:" + strconv.Itoa(metricsPort)
	env := map[string]string{
		"APEX_LDAP_URL":           dir.URL,
		"APEX_LDAP_BASE_DN":       dir.BaseDN,
		"APEX_LDAP_BIND_DN":       dir.Service.DN,
		"APEX_LDAP_BIND_PASSWORD": dir.Service.Password,
		"APEX_HTTP_ADDR":          addr,
		"APEX_HTTP_PUBLIC_URL":    "http://" + addr,
		"APEX_HTTP_METRICS_ADDR":  metrics,
		"APEX_MAIL_SMTP_HOST":     "127.0.0.1",
		"APEX_MAIL_SMTP_PORT":     strconv.Itoa(sink.port),
		"APEX_MAIL_SMTP_TLS":      "none",
	}
	module := []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(env),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.ReadonlyRootfs = true
		}),
		testcontainers.WithWaitStrategy(wait.ForLog(serviceReady).WithStartupTimeout(60 * time.Second).WithPollInterval(50 * time.Millisecond)),
	}
	ctr, err := testcontainers.Run(ctx, img, append(module, opts...)...)
	var svc *Service
	if ctr != nil {
		svc = &Service{Container: ctr, URL: "http://" + addr, MetricsURL: "http://" + metrics + "/metrics", sink: sink}
	} else {
		sink.close()
	}
	if err != nil {
		return svc, fmt.Errorf("apexcontainer: run %s: %w", img, err)
	}
	return svc, nil
}

// Terminate stops and removes the container, then the SMTP sink.
func (s *Service) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	err := s.Container.Terminate(ctx, opts...)
	s.sink.close()
	return err
}

// Mails are the mails received so far, oldest first.
func (s *Service) Mails() []Mail { return s.sink.messages() }

var codePattern = regexp.MustCompile(`(?m)^\s*([0-9]{6})\s*$`)

// LastCode waits for a sign-in code mailed to address that no earlier call
// returned, and returns the newest such code. Mails leave apexd in the
// background, after the answer to POST /api/v1/auth/login: call it then.
func (s *Service) LastCode(ctx context.Context, address string) (string, error) {
	for {
		ch := s.sink.changed()
		if code, ok := s.sink.takeCode(address); ok {
			return code, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("apexcontainer: no new sign-in code mailed to %s: %w", address, ctx.Err())
		case <-ch:
		case <-time.After(30 * time.Second):
			return "", fmt.Errorf("apexcontainer: no new sign-in code mailed to %s within 30 s", address)
		}
	}
}

// mailSink is an SMTP server on 127.0.0.1 that keeps what it receives.
type mailSink struct {
	srv  *smtp.Server
	port int

	mu     sync.Mutex
	mails  []Mail
	taken  map[string]int // per address, how many mails LastCode has looked at
	notify chan struct{}  // closed and replaced at each mail
}

func startSink() (*mailSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("apexcontainer: SMTP sink: %w", err)
	}
	m := &mailSink{port: l.Addr().(*net.TCPAddr).Port, taken: map[string]int{}, notify: make(chan struct{})}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: m}, nil }))
	m.srv.Domain = "localhost"
	m.srv.ReadTimeout = 30 * time.Second
	m.srv.WriteTimeout = 30 * time.Second
	m.srv.MaxMessageBytes = 10 << 20
	m.srv.ErrorLog = log.New(io.Discard, "", 0)
	go m.srv.Serve(l)
	return m, nil
}

func (m *mailSink) close() { m.srv.Close() }

func (m *mailSink) add(msg Mail) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, msg)
	close(m.notify)
	m.notify = make(chan struct{})
}

func (m *mailSink) changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.notify
}

func (m *mailSink) messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mails...)
}

// takeCode returns the code of the newest sign-in code mail to address
// among those received since the last call for that address.
func (m *mailSink) takeCode(address string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := strings.ToLower(address)
	var mine []Mail
	for _, msg := range m.mails {
		for _, to := range msg.To {
			if strings.EqualFold(to, address) {
				mine = append(mine, msg)
				break
			}
		}
	}
	code := ""
	for _, msg := range mine[min(m.taken[key], len(mine)):] {
		if match := codePattern.FindStringSubmatch(msg.Text); match != nil && strings.Contains(msg.Subject, "code") {
			code = match[1]
		}
	}
	m.taken[key] = len(mine)
	return code, code != ""
}

type sinkSession struct {
	sink *mailSink
	from string
	to   []string
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := notify.ParseMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	msg.To = s.to // the envelope's recipients
	s.sink.add(*msg)
	return nil
}
