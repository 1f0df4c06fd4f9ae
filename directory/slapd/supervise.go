package slapd

import (
	"context"
	"sync"
	"time"
)

// SuperviseConfig says how a Supervisor waits between starts and what it
// reports. Zero durations take the defaults.
type SuperviseConfig struct {
	MinWait time.Duration // before the first start after an exit: 500 ms by default
	MaxWait time.Duration // the wait doubles with each start in a row, up to this: 1 min by default
	// Stable is how long a server must have run for its exit to count as
	// a new incident (the wait starts again from MinWait) rather than as
	// one more failure of a crash loop: 1 min by default.
	Stable time.Duration

	// What happens, for the caller's log; each may be nil. They are called
	// from the supervisor's goroutine, one at a time.
	OnExit    func(srv *Server, err error)                           // slapd ended by itself; err is its wait status
	OnFailure func(attempt int, err error, next time.Duration)       // a start failed; the next is in next
	OnRestart func(srv *Server, attempt int, downtime time.Duration) // slapd serves again, after attempt starts
}

// Supervisor keeps an embedded slapd serving: when its process ends by
// itself (a crash, kill -9, the OOM killer), it is started again with the
// same configuration, on the same data and port, so that clients holding
// its URL reconnect. Starts that fail are tried again after a wait that
// doubles each time, without end: only Stop ends the supervision.
type Supervisor struct {
	cfg    SuperviseConfig
	mu     sync.Mutex
	srv    *Server
	cancel context.CancelFunc // of the supervision, a start under way included
	done   chan struct{}
}

// Supervise watches srv, which must have been started by Start, until Stop.
func Supervise(srv *Server, cfg SuperviseConfig) *Supervisor {
	if cfg.MinWait <= 0 {
		cfg.MinWait = 500 * time.Millisecond
	}
	if cfg.MaxWait < cfg.MinWait {
		cfg.MaxWait = max(time.Minute, cfg.MinWait)
	}
	if cfg.Stable <= 0 {
		cfg.Stable = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{cfg: cfg, srv: srv, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// Server is the slapd serving now (or the last one, while it is down).
func (s *Supervisor) Server() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Stop ends the supervision, a start under way included, then stops slapd.
func (s *Supervisor) Stop() error {
	s.cancel()
	<-s.done
	return s.Server().Stop()
}

func (s *Supervisor) run(ctx context.Context) {
	defer close(s.done)
	srv, since := s.Server(), time.Now()
	attempt := 0 // starts in a row that did not give a stable server
	for {
		select {
		case <-ctx.Done():
			return
		case <-srv.Exited():
		}
		down := time.Now()
		srv.Stop() // closes its log file; the process has ended
		if s.cfg.OnExit != nil {
			s.cfg.OnExit(srv, srv.waitErr)
		}
		if down.Sub(since) >= s.cfg.Stable {
			attempt = 0
		}
		for {
			attempt++
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.wait(attempt)):
			}
			next, err := Start(ctx, srv.Config())
			if err == nil {
				s.mu.Lock()
				s.srv = next
				s.mu.Unlock()
				srv, since = next, time.Now()
				if s.cfg.OnRestart != nil {
					s.cfg.OnRestart(next, attempt, time.Since(down))
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			if s.cfg.OnFailure != nil {
				s.cfg.OnFailure(attempt, err, s.wait(attempt+1))
			}
		}
	}
}

// wait is the wait before the attempt-th start in a row: MinWait, then
// twice as long each time, up to MaxWait.
func (s *Supervisor) wait(attempt int) time.Duration {
	d := s.cfg.MinWait
	for i := 1; i < attempt && d < s.cfg.MaxWait; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxWait)
}
