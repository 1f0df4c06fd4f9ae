// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// a loopback port for tests, and keeps every message it receives, decoded:
// tests read sign-in codes from real mails.
//
// It decodes mails with its own code, not with the notify package's
// parser, so that it checks what notify composes instead of agreeing with
// it.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Captured is one message the server accepted.
type Captured struct {
	From     string      // the envelope sender (MAIL FROM)
	To       []string    // the envelope recipients (RCPT TO)
	Header   mail.Header // the message's header, raw
	Subject  string      // decoded
	Text     string      // the text/plain part, decoded, \n line ends
	HTML     string      // the text/html part, decoded, \n line ends
	Raw      []byte      // the message as received (DATA)
	TLS      bool        // the session was encrypted (implicit TLS or STARTTLS)
	Username string      // the user authenticated by AUTH PLAIN; empty without
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	Addr string // 127.0.0.1:port
	Host string // 127.0.0.1
	Port int

	tb       testing.TB
	srv      *smtp.Server
	username string
	password string

	mu       sync.Mutex
	messages []Captured
	attempts int
	failing  bool
	closed   bool
	changed  chan struct{} // closed and replaced at each new message
}

// Option configures Start.
type Option func(*Server, *options)

type options struct {
	tlsConfig *tls.Config
	implicit  bool
}

// WithSTARTTLS offers STARTTLS with the certificate cert.
func WithSTARTTLS(cert tls.Certificate) Option {
	return func(_ *Server, o *options) {
		o.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
}

// WithImplicitTLS speaks TLS from the first byte (as on port 465), with
// the certificate cert.
func WithImplicitTLS(cert tls.Certificate) Option {
	return func(_ *Server, o *options) {
		o.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.implicit = true
	}
}

// WithAuth requires AUTH PLAIN as username and password before MAIL FROM.
// The server offers AUTH over TLS only.
func WithAuth(username, password string) Option {
	return func(s *Server, _ *options) { s.username, s.password = username, password }
}

// Start starts a server on 127.0.0.1 and a free port; it stops at the end
// of the test. Without options it speaks clear text and needs no
// authentication.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{tb: tb, changed: make(chan struct{})}
	var o options
	for _, opt := range opts {
		opt(s, &o)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	if o.implicit {
		l = tls.NewListener(l, o.tlsConfig)
	}
	addr := l.Addr().(*net.TCPAddr)
	s.Addr, s.Host, s.Port = addr.String(), addr.IP.String(), addr.Port

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = o.tlsConfig
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.ErrorLog = testLogger{s}
	s.srv = srv
	go srv.Serve(l)
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server. It is called at the end of the test.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.srv.Close()
}

// SetFailing makes the server answer MAIL FROM with a temporary failure
// (451), or stop doing so.
func (s *Server) SetFailing(failing bool) {
	s.mu.Lock()
	s.failing = failing
	s.mu.Unlock()
}

// Attempts counts the MAIL FROM commands received, failed ones included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Captured(nil), s.messages...)
}

// WaitFor returns the first message, received or to come, for which match
// is true (nil matches any), and fails the test when none comes within
// timeout. Call it from the test's goroutine.
func (s *Server) WaitFor(tb testing.TB, match func(Captured) bool, timeout time.Duration) Captured {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		s.mu.Lock()
		messages, changed := s.messages, s.changed
		s.mu.Unlock()
		for ; seen < len(messages); seen++ {
			if match == nil || match(messages[seen]) {
				return messages[seen]
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			var got []string
			for _, m := range messages {
				got = append(got, fmt.Sprintf("%v %q", m.To, m.Subject))
			}
			tb.Fatalf("smtptest: no matching message within %s; received %d: %s", timeout, len(messages), strings.Join(got, "; "))
			return Captured{}
		}
	}
}

// ToAddress matches the messages whose envelope recipients include addr.
func ToAddress(addr string) func(Captured) bool {
	return func(c Captured) bool {
		for _, to := range c.To {
			if strings.EqualFold(to, addr) {
				return true
			}
		}
		return false
	}
}

func (s *Server) add(c Captured) {
	s.mu.Lock()
	s.messages = append(s.messages, c)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// session is one SMTP connection.
type session struct {
	server   *Server
	conn     *smtp.Conn
	username string
	from     string
	to       []string
}

func (se *session) AuthMechanisms() []string {
	if se.server.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || se.server.username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != se.server.username || password != se.server.password || (identity != "" && identity != username) {
			return smtp.ErrAuthFailed
		}
		se.username = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	s := se.server
	s.mu.Lock()
	s.attempts++
	failing := s.failing
	s.mu.Unlock()
	if s.username != "" && se.username == "" {
		return smtp.ErrAuthRequired
	}
	if failing {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure (smtptest)"}
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	c.From, c.To, c.Username = se.from, append([]string(nil), se.to...), se.username
	_, c.TLS = se.conn.TLSConnectionState()
	se.server.add(c)
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// parse decodes a message: header, subject, and the text/plain and
// text/html parts at any depth of multipart.
func parse(raw []byte) (Captured, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return Captured{}, err
	}
	c := Captured{Header: msg.Header, Raw: raw}
	if c.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Captured{}, fmt.Errorf("subject: %w", err)
	}
	if err := walk(&c, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Captured{}, err
	}
	return c, nil
}

func walk(c *Captured, contentType, encoding string, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextPart decodes quoted-printable.
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(c, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		c.Text = text
	case "text/html":
		c.HTML = text
	}
	return nil
}

// SelfSignedCert makes a certificate for 127.0.0.1, ::1 and localhost,
// valid for a day, and the pool a client trusts it with
// (tls.Config.RootCAs).
func SelfSignedCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("smtptest: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatalf("smtptest: serial: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("smtptest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("smtptest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// testLogger sends the server's errors to the test log while the server
// runs (testing.T.Logf panics once the test is over).
type testLogger struct{ s *Server }

func (l testLogger) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l testLogger) Println(v ...any)               { l.log(fmt.Sprintln(v...)) }

func (l testLogger) log(msg string) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if !l.s.closed {
		l.s.tb.Logf("smtptest: %s", strings.TrimSpace(msg))
	}
}
