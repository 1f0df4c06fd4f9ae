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
// starts a new one in the same entry. An event is counted before it is
// tried (takeLimits), by an increment that slapd applies only while the
// count is under the limit, and given back after (releaseLimits) when it
// turned out not to be one that counts: parallel requests, on one instance
// or several, are never tried past a limit, and none is lost. Expired
// entries are deleted by any instance that adds one, at most once a minute
// (limitPurgeEvery).

const (
	limitPurgeEvery = time.Minute
	limitPurgeMax   = 500
	generalizedTime = "20060102150405Z"
)

// limitCASTries bounds the tries of takeLimit when other requests keep
// changing the counter first (a variable for one test).
var limitCASTries = 8

func (s *Store) limitsDN() string { return "ou=limits," + s.system }

// limitCN names a counter "<tree>.<counter>": the first 16 hex digits of the
// SHA-256 of the store's base, then the SHA-256 of the base, the limit and
// its key. The first part lets a store purge the counters of its own tree
// only, whatever the clocks of other trees' stores on the same server.
func (s *Store) limitCN(k limitKey) string {
	sum := sha256.Sum256([]byte(s.base + "\x00" + k.name + "\x00" + k.key))
	return s.limitTree() + "." + hex.EncodeToString(sum[:])
}

func (s *Store) limitTree() string {
	sum := sha256.Sum256([]byte(s.base))
	return hex.EncodeToString(sum[:8])
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

// limitSlot is one event counted on a counter before the event is tried:
// the window it was counted in, so that it can be given back.
type limitSlot struct {
	key     limitKey
	expires string // apexLimitExpires of that window, as stored
}

// takeLimits counts one event on each counter before the event is tried,
// all or none: when one counter is at its limit, the others are given back
// and a *LimitError is returned.
func (s *Store) takeLimits(ctx context.Context, op string, keys []limitKey) ([]limitSlot, error) {
	slots := make([]limitSlot, 0, len(keys))
	for _, k := range keys {
		slot, err := s.takeLimit(ctx, op, k)
		if err != nil {
			s.releaseLimits(ctx, op, slots)
			return nil, err
		}
		slots = append(slots, slot)
	}
	return slots, nil
}

// takeLimit counts one event on a counter, refusing with a *LimitError
// when the counter is at its limit. Counting comes first and the event is
// tried after, so that parallel requests, on one instance or several, are
// never tried past the limit. Usually one modify: an increment that slapd
// applies only if the window is open and the count under the limit (an
// assertion, checked and applied atomically), the window's end read back
// in the same answer. A counter not there yet is added; one whose window
// is over starts a new one by compare-and-swap. When other requests keep
// winning those races, it fails closed: ErrUnavailable, nothing tried.
func (s *Store) takeLimit(ctx context.Context, op string, k limitKey) (limitSlot, error) {
	cn := s.limitCN(k)
	dn := rdn("cn", cn) + "," + s.limitsDN()
	for range limitCASTries {
		now := s.now()
		var expires []string
		err := s.do(ctx, op, func(c *ldap.Conn) error {
			open := and(le("apexLimitCount", strconv.Itoa(k.limit.Max-1)), not(le("apexLimitExpires", stamp(now))))
			req := ldap.NewModifyRequest(dn, []ldap.Control{assertion{filter: open}, postRead{[]string{"apexLimitExpires"}}})
			req.Increment("apexLimitCount", "1")
			res, err := c.ModifyWithResult(req)
			if err == nil {
				expires, err = postReadValues(res.Controls, "apexLimitExpires")
			}
			return err
		})
		switch {
		case err == nil && len(expires) == 1:
			return limitSlot{key: k, expires: expires[0]}, nil
		case err == nil:
			return limitSlot{}, fmt.Errorf("%s: counter %s: no window end in the answer", op, k.name)
		case errors.Is(err, ErrNotFound): // no counter yet
			slot, err := s.addLimit(ctx, op, k, dn, now, 1)
			if errors.Is(err, ErrConflict) { // another request added it first
				continue
			}
			return slot, err
		case !errors.Is(err, ErrConflict):
			return limitSlot{}, err
		}
		// The assertion failed: the counter is at its limit, or its window is over.
		read, err := s.readLimits(ctx, op, []limitKey{k})
		if err != nil {
			return limitSlot{}, err
		}
		cur, ok := read[cn]
		switch {
		case !ok: // purged meanwhile: add it again
		case !now.Before(cur.expires):
			slot, err := s.newLimitWindow(ctx, op, k, dn, cur, now, 1)
			if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
				return slot, err
			}
		default:
			if le := over(k, cur, now); le != nil {
				return limitSlot{}, fmt.Errorf("%s: %w", op, le)
			}
		}
		// Another request changed the counter meanwhile: try again.
	}
	return limitSlot{}, fmt.Errorf("%s: counter %s: too much contention: %w", op, k.name, ErrUnavailable)
}

// addLimit adds a counter of count events, its window starting now.
func (s *Store) addLimit(ctx context.Context, op string, k limitKey, dn string, now time.Time, count int) (limitSlot, error) {
	slot := limitSlot{key: k, expires: stamp(now.Add(k.limit.Window))}
	add := func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"applicationProcess", "apexLimit"})
		req.Attribute("cn", []string{s.limitCN(k)})
		req.Attribute("apexLimitName", []string{k.name})
		req.Attribute("apexLimitCount", []string{strconv.Itoa(count)})
		req.Attribute("apexLimitExpires", []string{slot.expires})
		return c.Add(req)
	}
	err := s.do(ctx, op, add)
	if errors.Is(err, ErrNotFound) { // no ou=limits yet
		if err := s.createLimitsContainer(ctx); err != nil {
			return limitSlot{}, err
		}
		err = s.do(ctx, op, add)
	}
	if err != nil {
		return limitSlot{}, err
	}
	s.purgeLimits(ctx, now)
	return slot, nil
}

// newLimitWindow starts a new window of count events in a counter whose
// window cur is over; ErrConflict or ErrNotFound when another request
// changed or purged it first.
func (s *Store) newLimitWindow(ctx context.Context, op string, k limitKey, dn string, cur limitRecord, now time.Time, count int) (limitSlot, error) {
	slot := limitSlot{key: k, expires: stamp(now.Add(k.limit.Window))}
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Delete("apexLimitExpires", []string{cur.rawExpires})
		req.Add("apexLimitExpires", []string{slot.expires})
		req.Replace("apexLimitCount", []string{strconv.Itoa(count)})
		return c.Modify(req)
	})
	if err != nil {
		return limitSlot{}, err
	}
	return slot, nil
}

// takeLimitSlots counts up to n events at once on a counter, before they
// are tried: as many as its window has room for, at least one, else a
// *LimitError. It reads the counter, then writes it as a compare-and-swap
// on the count read (or adds it, or starts its new window, as takeLimit
// does), so that no burst counts past the limit. It returns the slots'
// window and how many it took; giveBackSlots returns those not used.
func (s *Store) takeLimitSlots(ctx context.Context, op string, k limitKey, n int) (limitSlot, int, error) {
	cn := s.limitCN(k)
	dn := rdn("cn", cn) + "," + s.limitsDN()
	for range limitCASTries {
		now := s.now()
		read, err := s.readLimits(ctx, op, []limitKey{k})
		if err != nil {
			return limitSlot{}, 0, err
		}
		cur, ok := read[cn]
		take := min(n, k.limit.Max)
		var slot limitSlot
		switch {
		case !ok:
			slot, err = s.addLimit(ctx, op, k, dn, now, take)
		case !now.Before(cur.expires):
			slot, err = s.newLimitWindow(ctx, op, k, dn, cur, now, take)
		default:
			if le := over(k, cur, now); le != nil {
				return limitSlot{}, 0, fmt.Errorf("%s: %w", op, le)
			}
			take = min(n, k.limit.Max-cur.count)
			slot = limitSlot{key: k, expires: cur.rawExpires}
			err = s.do(ctx, op, func(c *ldap.Conn) error {
				same := and(eq("apexLimitCount", cur.rawCount), eq("apexLimitExpires", cur.rawExpires))
				req := ldap.NewModifyRequest(dn, []ldap.Control{assertion{filter: same}})
				req.Replace("apexLimitCount", []string{strconv.Itoa(cur.count + take)})
				return c.Modify(req)
			})
		}
		if err == nil {
			return slot, take, nil
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
			return limitSlot{}, 0, err
		}
		// Another request changed the counter meanwhile: read it again.
	}
	return limitSlot{}, 0, fmt.Errorf("%s: counter %s: too much contention: %w", op, k.name, ErrUnavailable)
}

// giveBackSlots gives back n slots of takeLimitSlots that were not used,
// as releaseLimits does one: a decrement while the window lasts.
func (s *Store) giveBackSlots(ctx context.Context, op string, slot limitSlot, n int) {
	if n <= 0 {
		return
	}
	dn := rdn("cn", s.limitCN(slot.key)) + "," + s.limitsDN()
	s.do(context.WithoutCancel(ctx), op, func(c *ldap.Conn) error {
		same := and(eq("apexLimitExpires", slot.expires), ge("apexLimitCount", strconv.Itoa(n)))
		req := ldap.NewModifyRequest(dn, []ldap.Control{assertion{filter: same}})
		req.Increment("apexLimitCount", strconv.Itoa(-n))
		return c.Modify(req)
	})
}

// releaseLimits gives back slots taken for events that turned out not to
// count (a right password, a right code): one decrement each, applied only
// while the slot's window lasts. Best effort, and even when the request is
// cancelled: a slot that stays taken counts as an event, on the side of
// the limit.
func (s *Store) releaseLimits(ctx context.Context, op string, slots []limitSlot) {
	ctx = context.WithoutCancel(ctx)
	for _, slot := range slots {
		dn := rdn("cn", s.limitCN(slot.key)) + "," + s.limitsDN()
		s.do(ctx, op, func(c *ldap.Conn) error {
			same := and(eq("apexLimitExpires", slot.expires), ge("apexLimitCount", "1"))
			req := ldap.NewModifyRequest(dn, []ldap.Control{assertion{filter: same}})
			req.Increment("apexLimitCount", "-1")
			return c.Modify(req)
		})
	}
}

// forgetLimits deletes the counters of keys, their events forgotten. Best
// effort: a counter left counts on until its window ends.
func (s *Store) forgetLimits(ctx context.Context, op string, keys []limitKey) {
	for _, k := range keys {
		s.do(ctx, op, func(c *ldap.Conn) error {
			return c.Del(ldap.NewDelRequest(rdn("cn", s.limitCN(k))+","+s.limitsDN(), nil))
		})
	}
}

func stamp(t time.Time) string { return t.UTC().Format(generalizedTime) }

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
	expired := and("(objectClass=apexLimit)", le("apexLimitExpires", stamp(now)),
		or(startsWith("cn", s.limitTree()+"."), not("(cn=*.*)"))) // this tree's, or named before trees were
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
