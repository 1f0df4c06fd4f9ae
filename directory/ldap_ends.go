package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// End dates live on the account's entry: one apexEnd value per dated item,
// "v1 account <unix>" for the account, "v1 <application>/<profile> <unix>"
// for a habilitation (tokens.go), and apexNextEnd, the earliest of them,
// which the end-date job searches by (an indexed inequality: it never
// reads the accounts that end later or never). Every change of the values
// deletes those read and adds the new ones, and replaces apexNextEnd by
// deleting the value read: a compare-and-swap that fails when another
// change came between.

// endRecords are the end records of p as read; those this version cannot
// read are left out.
func (p *Person) endRecords() []endRecord {
	var out []endRecord
	for _, v := range p.ends {
		if r, ok := parseEndRecord(v); ok {
			out = append(out, r)
		}
	}
	return out
}

// endKey names a habilitation's end record.
func endKey(application, profile string) string { return application + "/" + profile }

// withEnd is records with the end of key set to end, or removed when end is zero.
func withEnd(records []endRecord, key string, end time.Time) []endRecord {
	out := slices.DeleteFunc(slices.Clone(records), func(r endRecord) bool { return r.key == key })
	if !end.IsZero() {
		out = append(out, endRecord{key: key, end: end.UTC().Truncate(time.Second)})
	}
	return out
}

// nextEndOf is the earliest end of records, as stored; "" when none.
func nextEndOf(records []endRecord) string {
	var next time.Time
	for _, r := range records {
		if next.IsZero() || r.end.Before(next) {
			next = r.end
		}
	}
	if next.IsZero() {
		return ""
	}
	return ldapTime(next)
}

// endAttributes are the attributes of a new entry's end records.
func endAttributes(records []endRecord) []ldap.Attribute {
	if len(records) == 0 {
		return nil
	}
	values := make([]string, len(records))
	for i, r := range records {
		values[i] = r.String()
	}
	return []ldap.Attribute{{Type: "apexEnd", Vals: values}, {Type: "apexNextEnd", Vals: []string{nextEndOf(records)}}}
}

// changeEnds adds to req the change of an entry's end records from those
// read (values, next: apexEnd's and apexNextEnd's values) to want, as a
// compare-and-swap; it reports whether there is anything to change.
func changeEnds(req *ldap.ModifyRequest, values []string, next string, want []endRecord) bool {
	wanted := make([]string, len(want))
	for i, r := range want {
		wanted[i] = r.String()
	}
	var gone, added []string
	for _, v := range values {
		if !slices.Contains(wanted, v) {
			gone = append(gone, v)
		}
	}
	for _, v := range wanted {
		if !slices.Contains(values, v) {
			added = append(added, v)
		}
	}
	if len(gone) == 0 && len(added) == 0 {
		return false
	}
	if len(gone) > 0 {
		req.Delete("apexEnd", gone)
	}
	if len(added) > 0 {
		req.Add("apexEnd", added)
	}
	if next != "" {
		req.Delete("apexNextEnd", []string{next})
	}
	if n := nextEndOf(want); n != "" {
		req.Add("apexNextEnd", []string{n})
	}
	return true
}

// endTries bounds the tries of setEnd when other changes keep coming first.
const endTries = 4

// setEnd sets the end date of key (endAccount or endKey) on the account
// p, read just before, or removes it when end is zero. Another change of
// the account's end dates between the read and the write makes it read
// the account again and try again. Errors: ErrNotFound, ErrConflict after
// endTries.
func (s *Store) setEnd(ctx context.Context, p *Person, key string, end time.Time) error {
	const op = "set end date"
	for try := 1; ; try++ {
		dn, err := s.dnOf(ctx, op, p)
		if err != nil {
			return err
		}
		req := ldap.NewModifyRequest(dn, nil)
		if !changeEnds(req, p.ends, p.nextEnd, withEnd(p.endRecords(), key, end)) {
			return nil
		}
		err = s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) })
		if err == nil || !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) || try == endTries {
			return err
		}
		if p, err = s.reread(ctx, op, p); err != nil {
			return err
		}
	}
}

// reread reads an account again, by identifier, or by request id before
// its validation. Errors: ErrNotFound.
func (s *Store) reread(ctx context.Context, op string, p *Person) (*Person, error) {
	filter := eq("uid", p.Identifier)
	if p.Identifier == "" {
		filter = eq("apexRequestId", p.RequestID)
	}
	again, err := s.findPerson(ctx, op, filter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return again, nil
}
