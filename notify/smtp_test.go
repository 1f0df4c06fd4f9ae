package notify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

const waitMail = 10 * time.Second

func smtpConfig(srv *smtptest.Server, mode string, roots *x509.CertPool) notify.SMTPConfig {
	cfg := notify.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: mode, From: testFrom, Timeout: 10 * time.Second}
	if roots != nil {
		cfg.TLSConfig = &tls.Config{RootCAs: roots}
	}
	return cfg
}

func mustSMTP(t *testing.T, cfg notify.SMTPConfig) *notify.SMTP {
	t.Helper()
	s, err := notify.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPSend(t *testing.T) {
	cert, roots := smtptest.SelfSignedCert(t)
	tests := []struct {
		name     string
		opts     []smtptest.Option
		mode     string
		username string // AUTH PLAIN as this user
		wantTLS  bool
	}{
		{"clear text", nil, notify.TLSNone, "", false},
		{"STARTTLS", []smtptest.Option{smtptest.WithSTARTTLS(cert)}, notify.TLSStartTLS, "", true},
		{"implicit TLS", []smtptest.Option{smtptest.WithImplicitTLS(cert)}, notify.TLSImplicit, "", true},
		{"AUTH PLAIN over implicit TLS", []smtptest.Option{smtptest.WithImplicitTLS(cert), smtptest.WithAuth("apexd", "Relais-Secret-2026")},
			notify.TLSImplicit, "apexd", true},
		{"AUTH PLAIN over STARTTLS", []smtptest.Option{smtptest.WithSTARTTLS(cert), smtptest.WithAuth("apexd", "Relais-Secret-2026")},
			notify.TLSStartTLS, "apexd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, tt.opts...)
			cfg := smtpConfig(srv, tt.mode, roots)
			if tt.username != "" {
				cfg.Username, cfg.Password = tt.username, "Relais-Secret-2026"
			}
			m := testMessage("marie.martin@example.fr", "paul.durand@example.org")
			if err := mustSMTP(t, cfg).Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := srv.WaitFor(t, smtptest.ToAddress("paul.durand@example.org"), waitMail)
			if got.From != "no-reply@apex.dgfip.gouv.fr" || strings.Join(got.To, " ") != "marie.martin@example.fr paul.durand@example.org" {
				t.Errorf("envelope from %q to %v", got.From, got.To)
			}
			if got.Subject != m.Subject {
				t.Errorf("subject %q, want %q", got.Subject, m.Subject)
			}
			if got.Text != m.Text || got.HTML != m.HTML {
				t.Errorf("bodies:\n%q\n%q", got.Text, got.HTML)
			}
			if got.TLS != tt.wantTLS || got.Username != tt.username {
				t.Errorf("TLS %v, user %q; want %v, %q", got.TLS, got.Username, tt.wantTLS, tt.username)
			}
		})
	}
}

func TestSMTPUTF8Subject(t *testing.T) {
	srv := smtptest.Start(t)
	subjects := []string{
		"Votre code de vérification APEX Partenaires",
		"Adresse électronique modifiée : « Mon espace APEX Partenaires » — ça marche, œuvre, Noël, ÉÈÊË, 北京",
		"Plain ASCII subject",
		"Question ? Réponse = oui_non",
	}
	s := mustSMTP(t, smtpConfig(srv, notify.TLSNone, nil))
	for _, subject := range subjects {
		m := testMessage()
		m.Subject = subject
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		got := srv.WaitFor(t, func(c smtptest.Captured) bool { return c.Subject == subject }, waitMail)
		if raw := got.Header.Get("Subject"); subject != "Plain ASCII subject" && !strings.HasPrefix(raw, "=?utf-8?q?") {
			t.Errorf("subject %q sent as %q, not Q-encoded", subject, raw)
		}
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	srv := smtptest.Start(t) // offers no STARTTLS
	err := mustSMTP(t, smtpConfig(srv, notify.TLSStartTLS, nil)).Send(context.Background(), testMessage())
	if !errors.Is(err, notify.ErrNoSTARTTLS) {
		t.Fatalf("Send() = %v, want ErrNoSTARTTLS", err)
	}
	if srv.Attempts() != 0 || len(srv.Messages()) != 0 {
		t.Error("the message went out in clear text")
	}
}

func TestSMTPVerifiesTheCertificate(t *testing.T) {
	cert, _ := smtptest.SelfSignedCert(t)
	_, otherRoots := smtptest.SelfSignedCert(t)
	for _, tt := range []struct {
		name  string
		opt   smtptest.Option
		mode  string
		roots *x509.CertPool
	}{
		{"STARTTLS, system roots", smtptest.WithSTARTTLS(cert), notify.TLSStartTLS, nil},
		{"implicit TLS, system roots", smtptest.WithImplicitTLS(cert), notify.TLSImplicit, nil},
		{"implicit TLS, another CA", smtptest.WithImplicitTLS(cert), notify.TLSImplicit, otherRoots},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opt)
			err := mustSMTP(t, smtpConfig(srv, tt.mode, tt.roots)).Send(context.Background(), testMessage())
			var unknown x509.UnknownAuthorityError
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &unknown) && !errors.As(err, &verr) {
				t.Fatalf("Send() = %v, want a certificate verification error", err)
			}
			if len(srv.Messages()) != 0 {
				t.Error("a message went to an unverified server")
			}
		})
	}
}

func TestNewSMTPRefusesInsecureTLS(t *testing.T) {
	_, err := notify.NewSMTP(notify.SMTPConfig{Host: "smtp.example.fr", Port: 465, TLS: notify.TLSImplicit, From: testFrom,
		TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err == nil || !strings.Contains(err.Error(), "InsecureSkipVerify") {
		t.Fatalf("NewSMTP() = %v, want a refusal of InsecureSkipVerify", err)
	}
}

func TestNewSMTPConfig(t *testing.T) {
	good := notify.SMTPConfig{Host: "smtp.example.fr", Port: 25, TLS: notify.TLSNone, From: testFrom}
	if _, err := notify.NewSMTP(good); err != nil {
		t.Fatalf("NewSMTP(%+v) = %v", good, err)
	}
	for _, tt := range []struct {
		name string
		edit func(c *notify.SMTPConfig)
	}{
		{"no host", func(c *notify.SMTPConfig) { c.Host = "" }},
		{"host with CRLF", func(c *notify.SMTPConfig) { c.Host = "smtp.example.fr\r\nMAIL FROM:<x@y>" }},
		{"port 0", func(c *notify.SMTPConfig) { c.Port = 0 }},
		{"port 70000", func(c *notify.SMTPConfig) { c.Port = 70000 }},
		{"TLS ssl", func(c *notify.SMTPConfig) { c.TLS = "ssl" }},
		{"password without user", func(c *notify.SMTPConfig) { c.Password = "secret" }},
		{"sender with CRLF", func(c *notify.SMTPConfig) { c.From = "APEX <no-reply@apex.fr>\r\nBcc: evil@example.com" }},
		{"sender not an address", func(c *notify.SMTPConfig) { c.From = "APEX Partenaires" }},
		{"negative timeout", func(c *notify.SMTPConfig) { c.Timeout = -time.Second }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			if _, err := notify.NewSMTP(c); err == nil {
				t.Errorf("NewSMTP(%+v) succeeded", c)
			}
		})
	}
}

func TestSMTPHeaderInjection(t *testing.T) {
	srv := smtptest.Start(t)
	s := mustSMTP(t, smtpConfig(srv, notify.TLSNone, nil))
	for _, edit := range []func(m *notify.Message){
		func(m *notify.Message) { m.Subject = "Code\r\nBcc: evil@example.com" },
		func(m *notify.Message) { m.To = []string{"marie@example.fr\r\nBcc: evil@example.com"} },
		func(m *notify.Message) { m.To = []string{"marie@example.fr>\r\nRCPT TO:<evil@example.com"} },
	} {
		m := testMessage()
		edit(&m)
		if err := s.Send(context.Background(), m); !errors.Is(err, notify.ErrInvalidMessage) {
			t.Errorf("Send(%q, %q) = %v, want ErrInvalidMessage", m.To, m.Subject, err)
		}
	}
	if srv.Attempts() != 0 {
		t.Errorf("%d MAIL FROM reached the server", srv.Attempts())
	}
}

func TestSMTPAuthFailure(t *testing.T) {
	cert, roots := smtptest.SelfSignedCert(t)
	srv := smtptest.Start(t, smtptest.WithImplicitTLS(cert), smtptest.WithAuth("apexd", "right"))
	cfg := smtpConfig(srv, notify.TLSImplicit, roots)
	cfg.Username, cfg.Password = "apexd", "wrong"
	if err := mustSMTP(t, cfg).Send(context.Background(), testMessage()); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("Send() = %v, want an AUTH failure", err)
	}
	// A user name and a relay without AUTH: refused, not sent anonymously.
	plain := smtptest.Start(t)
	cfg = smtpConfig(plain, notify.TLSNone, nil)
	cfg.Username, cfg.Password = "apexd", "right"
	if err := mustSMTP(t, cfg).Send(context.Background(), testMessage()); err == nil {
		t.Fatal("Send() succeeded without the authentication configured")
	}
	if plain.Attempts() != 0 {
		t.Error("the message was sent without authentication")
	}
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	a := l.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

func TestSMTPHonoursContextAndTimeout(t *testing.T) {
	host, port := silentServer(t)
	cfg := notify.SMTPConfig{Host: host, Port: port, TLS: notify.TLSNone, From: testFrom, Timeout: time.Minute}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := mustSMTP(t, cfg).Send(ctx, testMessage())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Send() with a 200ms context = %v after %s, want DeadlineExceeded at once", err, time.Since(start))
	}

	cfg.Timeout = 200 * time.Millisecond
	start = time.Now()
	err = mustSMTP(t, cfg).Send(context.Background(), testMessage())
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() || time.Since(start) > 5*time.Second {
		t.Errorf("Send() with a 200ms timeout = %v after %s, want a timeout at once", err, time.Since(start))
	}

	// Cancelled while waiting for the greeting.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	cfg.Timeout = time.Minute
	if err := mustSMTP(t, cfg).Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
		t.Errorf("Send() cancelled = %v, want Canceled", err)
	}
}
