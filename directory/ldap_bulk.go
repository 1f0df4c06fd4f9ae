package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// What a bulk invitation reads and holds in the directory: the states of
// the addresses it names, and its structure while it runs.

// mailStatesBatch bounds the addresses asked for in one search.
const mailStatesBatch = 200

// mailState is what holds an address in a structure: an account or a
// request in its state, and for an invitation whether its link expired.
type mailState struct {
	state   AccountState
	expired bool
}

// mailStates returns, by lower-cased address, the state of the account or
// request of the structure that holds each of emails (refused requests
// free their address, and are left out): a search by apexMailKey, the
// unique key of a mail in its structure, per batch of addresses.
func (s *Store) mailStates(ctx context.Context, siret string, emails []string) (map[string]mailState, error) {
	const op = "bulk: read the addresses"
	byKey := make(map[string]string, len(emails))
	for _, email := range emails {
		byKey[s.mailKey(siret, email)] = email
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	states := map[string]mailState{}
	now := s.now()
	for start := 0; start < len(keys); start += mailStatesBatch {
		batch := keys[start:min(start+mailStatesBatch, len(keys))]
		filters := make([]string, len(batch))
		for i, k := range batch {
			filters[i] = eq("apexMailKey", k)
		}
		entries, err := s.searchFew(ctx, op, s.structureDN(siret), ldap.ScopeWholeSubtree,
			and("(objectClass=apexPerson)", or(filters...), not(eq("apexAccountState", string(StateRefused)))),
			[]string{"apexMailKey", "apexAccountState", "apexInvitationExpires"}, len(batch))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if email, ok := byKey[e.GetAttributeValue("apexMailKey")]; ok {
				expires := parseLDAPTime(e.GetAttributeValue("apexInvitationExpires"))
				states[strings.ToLower(email)] = mailState{AccountState(e.GetAttributeValue("apexAccountState")), !expires.IsZero() && !expires.After(now)}
			}
		}
	}
	return states, nil
}

// bulkLease is how long a bulk invitation holds its structure without
// saying it still runs: an apexd that stops in the middle of one frees
// its structure that long after (a variable for one test).
var bulkLease = 2 * time.Minute

// limitBulkRunning names the counter that lets one bulk invitation run at
// a time in a structure: a limit of one, over the lease.
const limitBulkRunning = "bulk_running"

// takeBulk holds the structure for a bulk invitation, or answers
// ErrBulkRunning while another holds it: one counter of one event in
// ou=limits, whose window is the lease (taking it is atomic, as for any
// limit), which the run extends while it lasts (renewBulk) and gives back
// at its end (releaseBulk). A lease not renewed ends, freeing the
// structure.
func (s *Store) takeBulk(ctx context.Context, op, siret string) (*limitSlot, error) {
	k := limitKey{name: limitBulkRunning, limit: Limit{Max: 1, Window: bulkLease}, key: NormalizeSIRET(siret)}
	slot, err := s.takeLimit(ctx, op, k)
	if errors.Is(err, ErrRateLimited) {
		return nil, fmt.Errorf("%s: %w", op, ErrBulkRunning)
	}
	if err != nil {
		return nil, err
	}
	// A counter given back by the last run keeps that run's window: the
	// lease starts now.
	if err := s.renewBulk(ctx, op, &slot); err != nil {
		s.releaseLimits(ctx, op, []limitSlot{slot})
		return nil, err
	}
	return &slot, nil
}

// renewBulk extends the lease of a bulk invitation by bulkLease from now,
// as a compare-and-swap on the lease's end: ErrConflict or ErrNotFound
// when the lease ended meanwhile (another run may hold the structure).
func (s *Store) renewBulk(ctx context.Context, op string, slot *limitSlot) error {
	next := stamp(s.now().Add(bulkLease))
	if next == slot.expires {
		return nil
	}
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(rdn("cn", s.limitCN(slot.key))+","+s.limitsDN(), nil)
		req.Delete("apexLimitExpires", []string{slot.expires})
		req.Add("apexLimitExpires", []string{next})
		return c.Modify(req)
	})
	if err == nil {
		slot.expires = next
	}
	return err
}

// releaseBulk frees the structure at the end of a bulk invitation.
func (s *Store) releaseBulk(ctx context.Context, op string, slot *limitSlot) {
	s.releaseLimits(ctx, op, []limitSlot{*slot})
}
