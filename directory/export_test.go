package directory

import (
	"context"
	"fmt"

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
// before an approval names its entry ("approve: rename"), and between the
// read of a job's lease and its take ("take job"), so that a test can put
// another change there.
func OnRequestWrite(s *Store, f func(op string)) { s.onRequestWrite = f }

// What only the tests use of the store: fixtures, and shortcuts past the
// workflows and their limits.

// DeleteStructure removes an empty structure. Errors: ErrNotFound,
// ErrConflict while it still has services or accounts.
func (s *Store) DeleteStructure(ctx context.Context, siret string) error {
	siret = NormalizeSIRET(siret)
	return s.do(ctx, "delete structure", func(c *ldap.Conn) error {
		return c.Del(ldap.NewDelRequest(s.structureDN(siret), nil))
	})
}

// SetPassword gives an account a new password, checked first against the
// guide's rules, then sent in clear for slapd to hash and check against the
// last ones: the service's bind account has write, not manage, on
// userPassword, so slapd applies the policy to it as to the person. Every
// session of the account ends in the same modify. Errors: ErrInvalid and
// ErrPasswordPolicy (rules), ErrPasswordInHistory, ErrNotFound.
func (s *Store) SetPassword(ctx context.Context, identifier, password string) error {
	return s.setPassword(ctx, "set password", &Person{Identifier: identifier}, password, "")
}

// IssueLoginCode gives the account a new 6-digit code valid CodeTTL, after
// the password step. Errors: ErrNotFound.
func (s *Store) IssueLoginCode(ctx context.Context, identifier string) (LoginCode, error) {
	const op = "issue login code"
	e, err := s.personEntry(ctx, op, identifier, personAttrs)
	if err != nil {
		return LoginCode{}, err
	}
	return s.issueCode(ctx, op, e)
}

// LoginWithCode checks the password (see Authenticate) and issues a code,
// with the account read once for both and nothing written.
func (s *Store) LoginWithCode(ctx context.Context, identifier, password string) (LoginCode, error) {
	e, err := s.authenticate(ctx, "login", identifier, password)
	if err != nil {
		return LoginCode{}, err
	}
	return s.issueCode(ctx, "login", e)
}

// ResetPassword is resetPassword without an event to keep.
func (s *Store) ResetPassword(ctx context.Context, token, password string) (*Person, error) {
	return s.resetPassword(ctx, token, password, nil)
}

// PurgeLimits deletes the counters whose window has ended now, whenever
// the last purge of this process was (tests).
func (s *Store) PurgeLimits(ctx context.Context) {
	s.limitPurgedAt.Store(0)
	s.purgeLimits(ctx, s.now())
}

// BaseDN is where the partner tree of this store lies.
func (s *Store) BaseDN() string { return s.base }

// DeleteRequest removes an account request that was never validated
// (invited, submitted or refused). Errors: ErrNotFound, ErrConflict for an
// account that was validated (remove it with DeletePerson).
func (s *Store) DeleteRequest(ctx context.Context, requestID string) error {
	const op = "delete request"
	e, err := s.requestEntry(ctx, op, requestID)
	if err != nil {
		return err
	}
	if e.GetAttributeValue("uid") != "" {
		return fmt.Errorf("%s: %w", op, ErrConflict)
	}
	return s.do(ctx, op, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(e.DN, nil)) })
}

// The store's steps that only the workflows call, under names of their own
// for the tests that drive them directly (two instances racing, the cost of
// a wrong code, the undoing of a change).

func (s *Store) ApproveRequest(ctx context.Context, requestID, decidedBy string) (*Person, error) {
	return s.approveRequest(ctx, requestID, decidedBy)
}

func (s *Store) RefuseRequest(ctx context.Context, requestID, decidedBy, reason string) (*Person, error) {
	return s.refuseRequest(ctx, requestID, decidedBy, reason)
}

func (s *Store) ReissueInvitation(ctx context.Context, requestID string) (*Invitation, error) {
	return s.reissueInvitation(ctx, requestID)
}

func (s *Store) MovePerson(ctx context.Context, identifier, service string) (*Person, error) {
	return s.movePerson(ctx, identifier, service)
}

func (s *Store) DeleteService(ctx context.Context, siret, name string) error {
	return s.deleteService(ctx, siret, name)
}

func (s *Store) ResendLoginCode(ctx context.Context, challenge string) (LoginCode, error) {
	return s.resendLoginCode(ctx, challenge)
}

func (s *Store) VerifyLoginCode(ctx context.Context, challenge, code string) (*Person, error) {
	return s.verifyLoginCode(ctx, challenge, code)
}

func (s *Store) VerifyResetCode(ctx context.Context, reset, code string) (string, error) {
	return s.verifyResetCode(ctx, reset, code)
}

func (s *Store) CheckResetToken(ctx context.Context, token string) (*Person, error) {
	return s.checkResetToken(ctx, token)
}

func (s *Store) SolveCaptcha(ctx context.Context, id, answer string) error {
	return s.solveCaptcha(ctx, id, answer)
}
