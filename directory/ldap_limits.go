package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The abuse limits count in the directory, so that every apexd instance
// behind a load balancer counts the same events:
//
//	ou=limits,ou=system,SUFFIX
//	  cn=HASH     applicationProcess + apexLimit: apexLimitName,
//	              apexLimitCount, apexLimitExpires (the window's end)
//
// HASH is the SHA-256 of the store's base, the limit's name and the key,
// so that neither identifiers nor addresses are kept in clear, and two
// trees on one server count apart. A window is a fixed one: it starts with
// the first event and ends Window later; the next event after its end
// starts a new one in the same entry. Every change is a compare-and-swap
// (delete the value read, add the next one): of two instances counting at
// once, one wins and the other reads again, so no event is lost and none
// goes over a limit that refuses. Expired entries are deleted by any
// instance that adds one, at most once a minute (limitPurgeEvery).

const (
	limitPurgeEvery = time.Minute
	limitPurgeMax   = 500
	limitCASTries   = 8
	generalizedTime = "20060102150405Z"
)

func (s *Store) limitsDN() string { return "ou=limits," + s.system }

func (s *Store) limitCN(k limitKey) string {
	sum := sha256.Sum256([]byte(s.base + "\x00" + k.name + "\x00" + k.key))
	return hex.EncodeToString(sum[:])
}

// limitRecord is a counter as read: its values are kept as they were, for
// the compare-and-swap.
type limitRecord struct {
	count      int
	expires    time.Time
	rawCount   string
	rawExpires string
}

func parseLimitEntry(e *ldap.Entry) (limitRecord, bool) {
	r := limitRecord{rawCount: e.GetAttributeValue("apexLimitCount"), rawExpires: e.GetAttributeValue("apexLimitExpires")}
	n, err1 := strconv.Atoi(r.rawCount)
	t, err2 := time.Parse(generalizedTime, r.rawExpires)
	if err1 != nil || err2 != nil {
		return limitRecord{}, false
	}
	r.count, r.expires = n, t
	return r, true
}

// over says whether a counter is at its limit now, and for how long.
func over(k limitKey, r limitRecord, now time.Time) *LimitError {
	if r.count < k.limit.Max || !now.Before(r.expires) {
		return nil
	}
	wait := r.expires.Sub(now)
	secs := (wait + time.Second - 1) / time.Second
	return &LimitError{Limit: k.name, RetryAfter: max(secs, 1) * time.Second}
}

// readLimits reads the counters of keys in one search; a counter never
// written is absent from the answer.
func (s *Store) readLimits(ctx context.Context, op string, keys []limitKey) (map[string]limitRecord, error) {
	found := map[string]limitRecord{}
	if len(keys) == 0 {
		return found, nil
	}
	filters := make([]string, len(keys))
	for i, k := range keys {
		filters[i] = eq("cn", s.limitCN(k))
	}
	var entries []*ldap.Entry
	err := s.read(ctx, op, func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(s.limitsDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			len(keys), int(s.cfg.Timeout/time.Second), false, and("(objectClass=apexLimit)", or(filters...)),
			[]string{"cn", "apexLimitCount", "apexLimitExpires"}, nil))
		if err == nil {
			entries = res.Entries
		}
		return err
	})
	if errors.Is(err, ErrNotFound) { // no ou=limits yet: nothing counted
		return found, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if r, ok := parseLimitEntry(e); ok {
			found[e.GetAttributeValue("cn")] = r
		}
	}
	return found, nil
}

// checkLimits refuses with a *LimitError when a counter is at its limit;
// it changes nothing, and returns what it read for countLimits.
func (s *Store) checkLimits(ctx context.Context, op string, keys []limitKey) (map[string]limitRecord, error) {
	read, err := s.readLimits(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, k := range keys {
		if r, ok := read[s.limitCN(k)]; ok {
			if le := over(k, r, now); le != nil {
				return nil, fmt.Errorf("%s: %w", op, le)
			}
		}
	}
	return read, nil
}

// countLimits counts one event on each counter, without refusing (the
// failures of a step already taken). read is what checkLimits read.
func (s *Store) countLimits(ctx context.Context, op string, keys []limitKey, read map[string]limitRecord) error {
	var errs []error
	for _, k := range keys {
		var cur *limitRecord
		if r, ok := read[s.limitCN(k)]; ok {
			cur = &r
		}
		errs = append(errs, s.bumpLimit(ctx, op, k, cur, false))
	}
	return errors.Join(errs...)
}

// takeLimits counts one event on each counter, refusing with a *LimitError,
// and counting nothing, when one is already at its limit.
func (s *Store) takeLimits(ctx context.Context, op string, keys []limitKey) error {
	read, err := s.checkLimits(ctx, op, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		var cur *limitRecord
		if r, ok := read[s.limitCN(k)]; ok {
			cur = &r
		}
		if err := s.bumpLimit(ctx, op, k, cur, true); err != nil {
			return err
		}
	}
	return nil
}

// bumpLimit adds one to a counter read as cur (nil: none read), by
// compare-and-swap, reading again when another instance changed it first.
// With refuse, a counter at its limit is left as it is and a *LimitError
// returned.
func (s *Store) bumpLimit(ctx context.Context, op string, k limitKey, cur *limitRecord, refuse bool) error {
	cn := s.limitCN(k)
	dn := rdn("cn", cn) + "," + s.limitsDN()
	for range limitCASTries {
		now := s.now()
		var err error
		switch {
		case cur == nil:
			err = s.do(ctx, op, func(c *ldap.Conn) error {
				req := ldap.NewAddRequest(dn, nil)
				req.Attribute("objectClass", []string{"applicationProcess", "apexLimit"})
				req.Attribute("cn", []string{cn})
				req.Attribute("apexLimitName", []string{k.name})
				req.Attribute("apexLimitCount", []string{"1"})
				req.Attribute("apexLimitExpires", []string{now.Add(k.limit.Window).UTC().Format(generalizedTime)})
				return c.Add(req)
			})
			if errors.Is(err, ErrNotFound) { // no ou=limits yet
				if err := s.createLimitsContainer(ctx); err != nil {
					return err
				}
				continue
			}
			if err == nil {
				s.purgeLimits(ctx, now)
			}
		case !now.Before(cur.expires): // a new window, in the same entry
			err = s.do(ctx, op, func(c *ldap.Conn) error {
				req := ldap.NewModifyRequest(dn, nil)
				req.Delete("apexLimitExpires", []string{cur.rawExpires})
				req.Add("apexLimitExpires", []string{now.Add(k.limit.Window).UTC().Format(generalizedTime)})
				req.Replace("apexLimitCount", []string{"1"})
				return c.Modify(req)
			})
		default:
			if le := over(k, *cur, now); refuse && le != nil {
				return fmt.Errorf("%s: %w", op, le)
			}
			err = s.do(ctx, op, func(c *ldap.Conn) error {
				req := ldap.NewModifyRequest(dn, nil)
				req.Delete("apexLimitCount", []string{cur.rawCount})
				req.Add("apexLimitCount", []string{strconv.Itoa(cur.count + 1)})
				return c.Modify(req)
			})
		}
		if !errors.Is(err, ErrConflict) && !(cur != nil && errors.Is(err, ErrNotFound)) {
			return err
		}
		// Another instance counted (or purged) first: read again.
		read, err := s.readLimits(ctx, op, []limitKey{k})
		if err != nil {
			return err
		}
		cur = nil
		if r, ok := read[cn]; ok {
			cur = &r
		}
	}
	return fmt.Errorf("%s: counter %s: too much contention: %w", op, k.name, ErrConflict)
}

// createLimitsContainer adds ou=limits; another instance adding it at the
// same moment is no error.
func (s *Store) createLimitsContainer(ctx context.Context) error {
	err := s.do(ctx, "create limits container", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.limitsDN(), nil)
		req.Attribute("objectClass", []string{"organizationalUnit"})
		req.Attribute("ou", []string{"limits"})
		req.Attribute("description", []string{"Counters of the abuse limits, shared by every apexd instance"})
		return c.Add(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// purgeLimits deletes up to limitPurgeMax counters whose window has ended,
// at most once every limitPurgeEvery in this process. Each delete asserts
// that the window is still over, so a counter that another instance has
// just started again is kept. Housekeeping: failures are ignored.
func (s *Store) purgeLimits(ctx context.Context, now time.Time) {
	last := s.limitPurgedAt.Load()
	if now.Unix()-last < int64(limitPurgeEvery/time.Second) || !s.limitPurgedAt.CompareAndSwap(last, now.Unix()) {
		return
	}
	expired := and("(objectClass=apexLimit)", le("apexLimitExpires", now.UTC().Format(generalizedTime)))
	s.do(ctx, "purge limits", func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(s.limitsDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			limitPurgeMax, int(s.cfg.Timeout/time.Second), false, expired, []string{"1.1"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return err
		}
		for _, e := range res.Entries {
			if err := c.Del(ldap.NewDelRequest(e.DN, []ldap.Control{assertion{filter: expired}})); isNetworkError(err) {
				return err
			}
		}
		return nil
	})
}

// PurgeLimits deletes the counters whose window has ended now, whenever
// the last purge of this process was (tests).
func (s *Store) PurgeLimits(ctx context.Context) {
	s.limitPurgedAt.Store(0)
	s.purgeLimits(ctx, s.now())
}
