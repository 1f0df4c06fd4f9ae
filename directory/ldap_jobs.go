package directory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Scheduled jobs run once for the whole directory, whatever the number of
// apexd instances on it: the instance that runs a job holds its lease, one
// entry per job,
//
//	ou=jobs,ou=system,SUFFIX
//	  cn=TREE.NAME   applicationProcess + apexJob: apexJobExpires (the end
//	                 of the lease), apexJobHolder (who holds it, absent when
//	                 free), apexJobCursor (the job's progress, kept across
//	                 runs and instances), apexJobLastSuccess; description: NAME
//
// TREE is the first 16 hex digits of the SHA-256 of the store's base (as
// the limits' counters), so that two trees on one server schedule apart.
// Every change of the entry is one modify under an assertion (RFC 4528):
// taking the lease asserts that it is over and that the job has not run
// through since it was read; renewing it, saving the cursor, finishing and
// releasing assert that the holder is still this run. An instance that
// dies leaves its lease to expire; another takes it then, and the job's
// run, found not run through, starts again where its cursor says. The job's
// steps themselves are compare-and-swaps (a change and the record of its
// mail in one modify), so that a holder that lost its lease without
// knowing (a long pause) and its successor never both make one change.

// ErrLeaseLost: the run no longer holds its job's lease (it expired and
// another instance took it); the run must stop.
var ErrLeaseLost = errors.New("job lease lost")

// JobStatus is a job's entry as read.
type JobStatus struct {
	Name        string
	Holder      string    // the instance running it; "" when free
	Expires     time.Time // the end of the holder's lease
	Cursor      string    // the job's progress
	LastSuccess time.Time // when it last ran through; zero: never
}

// Progress is what a run of a job keeps across runs and instances: a
// cursor, its own to interpret.
type Progress interface {
	Cursor() string
	// SaveCursor keeps the cursor, and renews the lease. Errors:
	// ErrLeaseLost, ErrUnavailable.
	SaveCursor(ctx context.Context, cursor string) error
}

// JobLease is the lease of a job held by one run of this process, until it
// finishes, releases or loses it.
type JobLease struct {
	s      *Store
	dn     string
	name   string
	holder string
	ttl    time.Duration

	mu      sync.Mutex
	cursor  string
	expires time.Time
}

var _ Progress = (*JobLease)(nil)

func (s *Store) jobsDN() string { return "ou=jobs," + s.system }

func (s *Store) jobCN(name string) string { return s.limitTree() + "." + name }

func (s *Store) jobDN(name string) string { return rdn("cn", s.jobCN(name)) + "," + s.jobsDN() }

var jobAttrs = []string{"description", "apexJobHolder", "apexJobExpires", "apexJobCursor", "apexJobLastSuccess"}

// JobStatus reads a job's entry; a job that never ran has a zero status.
func (s *Store) JobStatus(ctx context.Context, name string) (JobStatus, error) {
	st, _, err := s.readJob(ctx, "read job", name)
	return st, err
}

// readJob reads a job's entry, and its last success as stored (for the
// assertion of a take); found is false for a job that never ran.
func (s *Store) readJob(ctx context.Context, op, name string) (JobStatus, *ldap.Entry, error) {
	e, err := s.searchOne(ctx, op, s.jobDN(name), ldap.ScopeBaseObject, "(objectClass=apexJob)", jobAttrs)
	if errors.Is(err, ErrNotFound) {
		return JobStatus{Name: name}, nil, nil
	}
	if err != nil {
		return JobStatus{}, nil, err
	}
	return JobStatus{
		Name:        name,
		Holder:      e.GetAttributeValue("apexJobHolder"),
		Expires:     parseLDAPTime(e.GetAttributeValue("apexJobExpires")),
		Cursor:      e.GetAttributeValue("apexJobCursor"),
		LastSuccess: parseLDAPTime(e.GetAttributeValue("apexJobLastSuccess")),
	}, e, nil
}

// TakeJob takes the lease of the job name for holder (an id unique to
// this run of this process), for ttl, when the job is due: it never ran
// through, or last did interval ago or more, or a run stopped half way;
// and no live lease holds it. The lease is nil when the job is not due or
// is held. Of several instances taking it at once, exactly one gets it:
// the take is one modify asserting what was read (the lease over, the same
// last success), or the add of the entry the first time. The status is
// the entry as read before. Errors: ErrUnavailable.
func (s *Store) TakeJob(ctx context.Context, name, holder string, interval, ttl time.Duration) (*JobLease, JobStatus, error) {
	const op = "take job"
	if !validSlug(name) || holder == "" || ttl <= 0 {
		return nil, JobStatus{}, fmt.Errorf("%s %q: %w", op, name, ErrInvalid)
	}
	st, e, err := s.readJob(ctx, op, name)
	if err != nil {
		return nil, st, err
	}
	now := s.now()
	if st.Holder != "" && now.Before(st.Expires) {
		return nil, st, nil // held
	}
	if !st.LastSuccess.IsZero() && now.Before(st.LastSuccess.Add(interval)) && st.Holder == "" {
		return nil, st, nil // ran through recently, and no run stopped half way since
	}
	s.requestHook(op)
	l := &JobLease{s: s, dn: s.jobDN(name), name: name, holder: holder, ttl: ttl, cursor: st.Cursor}
	expires := leaseEnd(now, ttl)
	if e == nil {
		err = s.addJob(ctx, op, name, holder, expires)
	} else {
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			// The lease is over, and nobody ran the job through since it
			// was read: the last success is the one read.
			free := le("apexJobExpires", stamp(now))
			same := not("(apexJobLastSuccess=*)")
			if raw := e.GetAttributeValue("apexJobLastSuccess"); raw != "" {
				same = eq("apexJobLastSuccess", raw)
			}
			req := ldap.NewModifyRequest(e.DN, []ldap.Control{assertion{and(free, same)}})
			req.Replace("apexJobHolder", []string{holder})
			req.Replace("apexJobExpires", []string{stamp(expires)})
			return c.Modify(req)
		})
	}
	if errors.Is(err, ErrConflict) {
		return nil, st, nil // another instance took it first
	}
	if err != nil {
		return nil, st, err
	}
	l.expires = expires
	return l, st, nil
}

// addJob adds a job's entry, held by holder, and ou=jobs the first time.
func (s *Store) addJob(ctx context.Context, op, name, holder string, expires time.Time) error {
	add := func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.jobDN(name), nil)
		req.Attribute("objectClass", []string{"applicationProcess", "apexJob"})
		req.Attribute("cn", []string{s.jobCN(name)})
		req.Attribute("description", []string{name})
		req.Attribute("apexJobHolder", []string{holder})
		req.Attribute("apexJobExpires", []string{stamp(expires)})
		return c.Add(req)
	}
	err := s.do(ctx, op, add)
	if errors.Is(err, ErrNotFound) {
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.jobsDN(), nil)
			req.Attribute("objectClass", []string{"organizationalUnit"})
			req.Attribute("ou", []string{"jobs"})
			req.Attribute("description", []string{"Leases and progress of the scheduled jobs, shared by every apexd instance"})
			return c.Add(req)
		})
		if err == nil || errors.Is(err, ErrConflict) {
			err = s.do(ctx, op, add)
		}
	}
	return err
}

// Name is the job's name.
func (l *JobLease) Name() string { return l.name }

// Cursor is the job's progress, as the run last read or saved it.
func (l *JobLease) Cursor() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cursor
}

// Expires is the end of the lease as last taken or renewed.
func (l *JobLease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Renew extends the lease by its ttl from now. Errors: ErrLeaseLost,
// ErrUnavailable.
func (l *JobLease) Renew(ctx context.Context) error {
	return l.change(ctx, "renew job lease", func(req *ldap.ModifyRequest, expires time.Time) {
		req.Replace("apexJobExpires", []string{stamp(expires)})
	}, nil)
}

// SaveCursor keeps the job's progress and renews the lease. Errors:
// ErrLeaseLost, ErrUnavailable.
func (l *JobLease) SaveCursor(ctx context.Context, cursor string) error {
	return l.change(ctx, "save job cursor", func(req *ldap.ModifyRequest, expires time.Time) {
		req.Replace("apexJobExpires", []string{stamp(expires)})
		if cursor == "" {
			req.Replace("apexJobCursor", nil)
		} else {
			req.Replace("apexJobCursor", []string{cursor})
		}
	}, func() { l.cursor = cursor })
}

// Finish records that the job ran through now and frees the lease; the
// cursor stays for the next run. Errors: ErrLeaseLost, ErrUnavailable.
func (l *JobLease) Finish(ctx context.Context) error {
	return l.change(ctx, "finish job", func(req *ldap.ModifyRequest, _ time.Time) {
		now := stamp(l.s.now())
		req.Replace("apexJobLastSuccess", []string{now})
		req.Replace("apexJobHolder", nil)
		req.Replace("apexJobExpires", []string{now})
	}, nil)
}

// Release frees the lease of a run that did not run through, so that
// another instance may take the job at once. Errors: ErrLeaseLost,
// ErrUnavailable.
func (l *JobLease) Release(ctx context.Context) error {
	return l.change(ctx, "release job", func(req *ldap.ModifyRequest, _ time.Time) {
		req.Replace("apexJobHolder", nil)
		req.Replace("apexJobExpires", []string{stamp(l.s.now())})
	}, nil)
}

// change modifies the job's entry under the assertion that this run holds
// its lease and that the lease is not over: a run that could not renew in
// time (apexd paused, the directory out of reach) stops, even when nobody
// took the job yet, rather than run beside the instance that may take it
// at any moment. done runs once the change is made.
func (l *JobLease) change(ctx context.Context, op string, build func(req *ldap.ModifyRequest, expires time.Time), done func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.s.now()
	expires := leaseEnd(now, l.ttl)
	err := l.s.do(ctx, op, func(c *ldap.Conn) error {
		held := and(eq("apexJobHolder", l.holder), ge("apexJobExpires", stamp(now)))
		req := ldap.NewModifyRequest(l.dn, []ldap.Control{assertion{held}})
		build(req, expires)
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s %s: %w", op, l.name, ErrLeaseLost)
	}
	if err != nil {
		return err
	}
	l.expires = expires
	if done != nil {
		done()
	}
	return nil
}

// leaseEnd is the end of a lease of ttl taken at now, as stored: to the
// second, rounded up, so that a lease is never shorter than asked.
func leaseEnd(now time.Time, ttl time.Duration) time.Time {
	end := now.Add(ttl).UTC()
	if t := end.Truncate(time.Second); t.Before(end) {
		return t.Add(time.Second)
	}
	return end
}
