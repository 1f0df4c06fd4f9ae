package directory

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// pool holds at most size connections bound as the service account. A
// connection is checked when taken: one that the server or the network has
// closed is dropped, and one idle for long gets a WhoAmI first.
type pool struct {
	dial    func() (*ldap.Conn, error)
	slots   chan struct{}
	mu      sync.Mutex
	idle    []idleConn
	closed  bool
	maxIdle time.Duration
}

type idleConn struct {
	conn  *ldap.Conn
	since time.Time
}

func newPool(size int, dial func() (*ldap.Conn, error)) *pool {
	return &pool{dial: dial, slots: make(chan struct{}, size), maxIdle: 30 * time.Second}
}

func (p *pool) get(ctx context.Context) (*ldap.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, fmt.Errorf("pool closed")
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		ic := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if ic.conn.IsClosing() {
			ic.conn.Close()
			continue
		}
		if time.Since(ic.since) > p.maxIdle {
			if _, err := ic.conn.WhoAmI(nil); err != nil {
				ic.conn.Close()
				continue
			}
		}
		return ic.conn, nil
	}
	conn, err := p.dial()
	if err != nil {
		<-p.slots
		return nil, err
	}
	return conn, nil
}

// put gives a connection back; a broken one is closed instead.
func (p *pool) put(conn *ldap.Conn, broken bool) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if broken || p.closed || conn.IsClosing() {
		conn.Close()
		return
	}
	p.idle = append(p.idle, idleConn{conn, time.Now()})
}

// stats reports the connections in use and idle, for metrics.
func (p *pool) stats() (inUse, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.slots), len(p.idle)
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, ic := range p.idle {
		ic.conn.Close()
	}
	p.idle = nil
}

// dialLDAP opens a connection with a timeout on the dial and on every
// request, upgraded with StartTLS when startTLS is set on an ldap:// URL.
// The server's name is checked against its certificate: the host of the URL.
func dialLDAP(rawURL string, timeout time.Duration, tlsConfig *tls.Config, startTLS bool) (*ldap.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, ldap.NewError(ldap.ErrorNetwork, err)
	}
	if tlsConfig != nil {
		tlsConfig = tlsConfig.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = u.Hostname()
		}
	}
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Timeout: timeout})}
	if tlsConfig != nil {
		opts = append(opts, ldap.DialWithTLSConfig(tlsConfig))
	}
	conn, err := ldap.DialURL(rawURL, opts...)
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(timeout)
	if startTLS && u.Scheme == "ldap" {
		if tlsConfig == nil {
			tlsConfig = &tls.Config{ServerName: u.Hostname()}
		}
		if err := conn.StartTLS(tlsConfig); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}
