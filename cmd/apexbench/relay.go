package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// relay is the mail relay apexd sends to during the benchmark: a real SMTP
// server on loopback that counts and discards, as production's relay takes
// mail off apexd's hands; it hands the sign-in codes to whoever waits for
// one (code).
type relay struct {
	addr     *net.TCPAddr
	server   *smtp.Server
	messages atomic.Int64

	mu    sync.Mutex
	codes map[string]chan string // by recipient
}

// codeLine is the line of a sign-in code mail that holds the code.
var codeLine = regexp.MustCompile(`(?m)^    ([0-9]{6})\r?$`)

// watch makes an inbox for the codes mailed to addr; codes mailed to an
// address nobody watches are dropped.
func (r *relay) watch(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codes == nil {
		r.codes = map[string]chan string{}
	}
	if _, ok := r.codes[addr]; !ok {
		r.codes[addr] = make(chan string, 16)
	}
}

func (r *relay) inbox(addr string) chan string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codes[addr]
}

// drain drops the codes mailed to addr so far.
func (r *relay) drain(addr string) {
	c := r.inbox(addr)
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// code waits for the next sign-in code mailed to addr, which is watched.
func (r *relay) code(addr string) (string, error) {
	select {
	case c := <-r.inbox(addr):
		return c, nil
	case <-time.After(20 * time.Second):
		return "", fmt.Errorf("no code mailed to %s", addr)
	}
}

func startRelay() (*relay, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{addr: l.Addr().(*net.TCPAddr)}
	r.server = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	r.server.Domain = "localhost"
	r.server.AllowInsecureAuth = true
	go r.server.Serve(l)
	return r, nil
}

func (r *relay) close() { r.server.Close() }

type relaySession struct {
	r  *relay
	to []string
}

func (*relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(body io.Reader) error {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, body)
	if err != nil {
		return err
	}
	s.r.messages.Add(1)
	if m := codeLine.FindSubmatch(buf.Bytes()); m != nil {
		for _, to := range s.to {
			if c := s.r.inbox(to); c != nil {
				select {
				case c <- string(m[1]):
				default: // a full inbox: nobody reads it
				}
			}
		}
	}
	return nil
}
func (s *relaySession) Reset()      { s.to = nil }
func (*relaySession) Logout() error { return nil }
