package main

import (
	"io"
	"net"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// relay is the mail relay apexd sends to during the benchmark: a real SMTP
// server on loopback that counts and discards, as production's relay takes
// mail off apexd's hands.
type relay struct {
	addr     *net.TCPAddr
	server   *smtp.Server
	messages atomic.Int64
}

func startRelay() (*relay, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{addr: l.Addr().(*net.TCPAddr)}
	r.server = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return relaySession{r}, nil }))
	r.server.Domain = "localhost"
	r.server.AllowInsecureAuth = true
	go r.server.Serve(l)
	return r, nil
}

func (r *relay) close() { r.server.Close() }

type relaySession struct{ r *relay }

func (relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (relaySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s relaySession) Data(body io.Reader) error {
	_, err := io.Copy(io.Discard, body)
	if err == nil {
		s.r.messages.Add(1)
	}
	return err
}
func (relaySession) Reset()        {}
func (relaySession) Logout() error { return nil }
