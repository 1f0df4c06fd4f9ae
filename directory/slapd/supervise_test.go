package slapd_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

// events collects what a Supervisor reports.
type events struct {
	mu       sync.Mutex
	exits    int
	failures []time.Duration // the wait announced after each failed start
	attempts []int
	restarts chan *slapd.Server
}

func supervise(t *testing.T, srv *slapd.Server) (*slapd.Supervisor, *events) {
	t.Helper()
	ev := &events{restarts: make(chan *slapd.Server, 16)}
	sup := slapd.Supervise(srv, slapd.SuperviseConfig{
		MinWait: 50 * time.Millisecond, MaxWait: 400 * time.Millisecond, Stable: time.Hour,
		OnExit: func(*slapd.Server, error) { ev.mu.Lock(); ev.exits++; ev.mu.Unlock() },
		OnFailure: func(attempt int, err error, next time.Duration) {
			ev.mu.Lock()
			defer ev.mu.Unlock()
			ev.attempts = append(ev.attempts, attempt)
			ev.failures = append(ev.failures, next)
		},
		OnRestart: func(srv *slapd.Server, attempt int, _ time.Duration) { ev.restarts <- srv },
	})
	t.Cleanup(func() { sup.Stop() })
	return sup, ev
}

func (ev *events) restarted(t *testing.T) *slapd.Server {
	t.Helper()
	select {
	case srv := <-ev.restarts:
		return srv
	case <-time.After(60 * time.Second):
		t.Fatal("slapd was not started again")
		return nil
	}
}

// holdPort kills slapd and takes its port before the supervisor can start
// it again; should the supervisor win the race, slapd is killed again.
func holdPort(t *testing.T, sup *slapd.Supervisor, ev *events) net.Listener {
	t.Helper()
	addr := strings.TrimPrefix(sup.Server().URL, "ldap://")
	for i := 0; i < 20; i++ {
		sup.Server().Kill()
		if l, err := net.Listen("tcp", addr); err == nil {
			return l
		}
		ev.restarted(t) // it came back first: once more
	}
	t.Fatal("could not take slapd's port")
	return nil
}

// A slapd that dies is started again on its data and port, and the store
// reconnects to it; starts that fail (its port taken) are tried again
// after longer and longer waits, until one succeeds.
func TestSupervisorStartsSlapdAgain(t *testing.T) {
	dir := t.TempDir()
	const password = "Service-Password-2026!"
	srv := start(t, dir, "", password)
	store := openStore(t, srv, password)
	ctx := context.Background()
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: "73282932000074", Name: "Gardée", Category: "Notaire"}); err != nil {
		t.Fatal(err)
	}
	sup, ev := supervise(t, srv)

	first := srv.PID()
	srv.Kill()
	again := ev.restarted(t)
	if again.PID() == first || again.URL != srv.URL || sup.Server() != again {
		t.Errorf("after kill -9: pid %d (was %d), %s (was %s)", again.PID(), first, again.URL, srv.URL)
	}
	if st, err := store.FindStructure(ctx, "73282932000074"); err != nil || st.Name != "Gardée" {
		t.Errorf("the store after the restart: %+v, %v", st, err)
	}

	l := holdPort(t, sup, ev)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ev.mu.Lock()
		n := len(ev.failures)
		ev.mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d failed starts reported in 90 s", n)
		}
	}
	ev.mu.Lock()
	waits, attempts := append([]time.Duration(nil), ev.failures...), append([]int(nil), ev.attempts...)
	ev.mu.Unlock()
	for i := 1; i < len(waits); i++ {
		if attempts[i] != attempts[i-1]+1 || waits[i] < waits[i-1] || waits[i] > 400*time.Millisecond {
			t.Errorf("failed starts %v announced waits %v: want attempts in a row, waits growing up to 400ms", attempts, waits)
			break
		}
	}
	if waits[len(waits)-1] != 400*time.Millisecond && len(waits) >= 4 {
		t.Errorf("waits %v do not reach the maximum", waits)
	}

	l.Close()
	back := ev.restarted(t)
	if back.URL != srv.URL {
		t.Errorf("back on %s, was %s", back.URL, srv.URL)
	}
	if st, err := store.FindStructure(ctx, "73282932000074"); err != nil || st.Name != "Gardée" {
		t.Errorf("the store once slapd is back: %+v, %v", st, err)
	}
}

// Stop ends the supervision even while starts keep failing, and leaves no
// slapd running.
func TestSupervisorStopsWhileStartsFail(t *testing.T) {
	srv := start(t, t.TempDir(), "", "Service-Password-2026!")
	sup, ev := supervise(t, srv)
	l := holdPort(t, sup, ev)
	defer l.Close()
	done := make(chan error, 1)
	go func() { done <- sup.Stop() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return")
	}
	l.Close()
	select {
	case srv := <-ev.restarts:
		t.Errorf("a slapd was started after Stop: pid %d", srv.PID())
		srv.Stop()
	case <-time.After(time.Second):
	}
	select {
	case <-sup.Server().Exited():
	default:
		t.Error("the last slapd still runs after Stop")
	}
}
