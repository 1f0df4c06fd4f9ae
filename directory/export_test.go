package directory

import (
	"context"

	"github.com/go-ldap/ldap/v3"
)

// KeepEventForBench keeps an event in the history of the account of that
// DN, as the workflows do: one modify with the post-read control.
func KeepEventForBench(ctx context.Context, s *Store, dn string, ev *Event) error {
	return s.appendHistory(ctx, &Person{dn: dn}, ev.record)
}

// AddPlainForBench adds a value to the history without the post-read
// control nor pruning: what a plain modify costs, for comparison.
func AddPlainForBench(ctx context.Context, s *Store, dn string, ev *Event) error {
	return s.do(ctx, "bench", func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Add("apexHistory", []string{ev.record(0)})
		return c.Modify(req)
	})
}

// SetLimitTries sets how many times a limit's slot is tried for under
// contention, until restore is called. For a test that does not run in
// parallel: the setting is the package's.
func SetLimitTries(n int) (restore func()) {
	old := limitCASTries
	limitCASTries = n
	return func() { limitCASTries = old }
}

// OnRequestWrite makes s call f between the read of a request and the
// write that decides it (op "approve", "refuse", "reissue invitation"),
// and before an approval names its entry ("approve: rename"), so that a
// test can put another change there.
func OnRequestWrite(s *Store, f func(op string)) { s.onRequestWrite = f }
