package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// The values of SMTPConfig.TLS.
const (
	TLSNone     = "none"     // clear text (a relay on the same host or network)
	TLSStartTLS = "starttls" // clear text upgraded by STARTTLS, which the relay must offer
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// DefaultSMTPTimeout bounds one delivery when SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig says how to reach the relay.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string // TLSNone, TLSStartTLS or TLSImplicit
	Username string // empty: no authentication; otherwise AUTH PLAIN, which needs TLS
	Password string
	From     string        // the sender, "Name <addr>" or a bare address
	Timeout  time.Duration // of one delivery, connection included; 0 is DefaultSMTPTimeout

	// TLSConfig verifies the relay's certificate. nil means the system's
	// roots and ServerName = Host; a config without ServerName gets Host.
	// InsecureSkipVerify is refused.
	TLSConfig *tls.Config
}

// SMTP sends each message over a new connection to the relay. It is safe
// for concurrent use.
type SMTP struct {
	cfg       SMTPConfig
	addr      string // host:port
	from      *mail.Address
	tlsConfig *tls.Config
	helo      string
	now       func() time.Time
}

var _ Mailer = (*SMTP)(nil)

// ErrNoSTARTTLS is returned when TLS is TLSStartTLS and the relay does not
// offer STARTTLS: the message is not sent in clear text.
var ErrNoSTARTTLS = errors.New("notify: the SMTP relay does not offer STARTTLS")

// NewSMTP checks the configuration; it does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: smtp: no host")
	}
	if err := checkHeaderValue(cfg.Host); err != nil || strings.ContainsAny(cfg.Host, " /") {
		return nil, fmt.Errorf("notify: smtp: host %q is not a host name", cfg.Host)
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("notify: smtp: %d is not a port", cfg.Port)
	}
	switch cfg.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("notify: smtp: TLS %q must be %s, %s or %s", cfg.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("notify: smtp: a password without a user name")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("notify: smtp: negative timeout %s", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp: %w", err)
	}

	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.InsecureSkipVerify {
		return nil, errors.New("notify: smtp: InsecureSkipVerify is refused: give the relay's CA in TLSConfig.RootCAs")
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}

	return &SMTP{
		cfg:       cfg,
		addr:      net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		from:      from,
		tlsConfig: tc,
		helo:      heloName(),
		now:       time.Now,
	}, nil
}

// heloName is the name given in EHLO: the host's name when it is a
// plausible domain, as some relays refuse "localhost".
func heloName() string {
	name, err := os.Hostname()
	if err != nil || name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '.' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) {
		return "localhost"
	}
	return name
}

// Send delivers m to the relay over a new connection, within the
// configured Timeout and as long as ctx lasts.
func (s *SMTP) Send(ctx context.Context, m Message) (err error) {
	msg, err := compose(s.from, m, s.now())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("notify: smtp %s: %w", s.addr, err)
		}
	}()

	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn, err := s.dial(ctx, deadline)
	if err != nil {
		return s.ctxErr(ctx, err)
	}
	// The deadline bounds every read and write; ctx ending moves it to now,
	// which fails the exchange under way.
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return s.ctxErr(ctx, fmt.Errorf("greeting: %w", err))
	}
	defer c.Close()
	if err := s.exchange(c, m.To, msg); err != nil {
		return s.ctxErr(ctx, err)
	}
	return nil
}

// ctxErr reports ctx's end rather than the i/o timeout it caused. The
// connection's deadline may be ctx's own and fire a moment before ctx
// knows it has ended.
func (s *SMTP) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

func (s *SMTP) dial(ctx context.Context, deadline time.Time) (net.Conn, error) {
	nd := &net.Dialer{Deadline: deadline}
	if s.cfg.TLS == TLSImplicit {
		// tls.Dialer bounds the handshake by the same deadline.
		td := &tls.Dialer{NetDialer: nd, Config: s.tlsConfig}
		conn, err := td.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return nil, fmt.Errorf("dial (TLS): %w", err)
		}
		return conn, nil
	}
	conn, err := nd.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return conn, nil
}

func (s *SMTP) exchange(c *smtp.Client, to []string, msg []byte) error {
	if err := c.Hello(s.helo); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return ErrNoSTARTTLS
		}
		if err := c.StartTLS(s.tlsConfig); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the relay offers no authentication (AUTH), and a user name is configured")
		}
		// net/smtp refuses PLAIN in clear text but towards localhost.
		auth := smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("AUTH PLAIN as %s: %w", s.cfg.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("RCPT TO (…@%s): %w", domainOf(rcpt), err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The relay has taken the message (it answered the end of DATA): a
	// failed QUIT must not make the queue send it again.
	_ = c.Quit()
	return nil
}

// parseFrom reads the sender: "Name <addr>" or a bare ASCII address.
func parseFrom(from string) (*mail.Address, error) {
	if err := checkHeaderValue(from); err != nil {
		return nil, fmt.Errorf("sender %q %w", from, err)
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender %q is not a mail address: %w", from, err)
	}
	if err := checkBareAddress(a.Address); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	return a, nil
}

// Compose builds the RFC 5322 message that SMTP sends and Outbox writes:
// headers, then a multipart/alternative body with a text/plain and a
// text/html part, both UTF-8 and quoted-printable. from is "Name <addr>"
// or a bare address.
func Compose(from string, m Message, now time.Time) ([]byte, error) {
	a, err := parseFrom(from)
	if err != nil {
		return nil, fmt.Errorf("notify: compose: %w", err)
	}
	return compose(a, m, now)
}

func compose(from *mail.Address, m Message, now time.Time) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	id, err := randomHex(16)
	if err != nil {
		return nil, fmt.Errorf("notify: compose: %w", err)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ mediaType, content string }{
		{"text/plain", m.Text},
		{"text/html", m.HTML},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.mediaType + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("notify: compose: %w", err)
		}
		// The quoted-printable writer turns each \n into CRLF; a \r of a
		// CRLF already there would come out encoded as =0D.
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.content, "\r\n", "\n"))); err != nil {
			return nil, fmt.Errorf("notify: compose: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("notify: compose: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("notify: compose: %w", err)
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", from.String())
	header("To", strings.Join(m.To, ",\r\n "))
	header("Subject", encodeSubject(m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domainOf(from.Address)+">")
	// RFC 3834: no out-of-office replies to a no-reply sender.
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", "multipart/alternative;\r\n boundary="+mw.Boundary())
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// encodeSubject encodes a subject with non-ASCII characters as RFC 2047
// encoded-words (75 characters at most each), one per folded line.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	// White space between two encoded-words is not part of the text: the
	// words can be folded there. Q encoding escapes every '?' and ' ' of
	// the text, so "?= =?" occurs only between words.
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
