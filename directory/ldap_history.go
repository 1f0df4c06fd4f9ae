package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// An account's history is the multi-valued attribute apexHistory on its own
// entry, one compact JSON record per event (audit.go): it follows the entry
// through its validation and its moves, every instance reads the same one,
// and it goes with the entry when the account is removed (the log lines
// keep the events). Keeping an event is one modify that adds the value and,
// through the post-read control, brings back the values now held: no read
// before. When they pass historyCap, a second modify deletes the oldest down
// to historyKeep, so that pruning costs one modify every
// historyCap-historyKeep events and no more.
const (
	historyCap  = 100
	historyKeep = 80
)

// HistoryCap is the most events an account's history holds.
const HistoryCap = historyCap

// postRead is the LDAP post-read control (RFC 4527): the answer to a modify
// carries the entry's attributes as the modify left them.
type postRead struct{ attrs []string }

const postReadOID = "1.3.6.1.1.13.2"

func (p postRead) GetControlType() string { return postReadOID }

func (p postRead) Encode() *ber.Packet {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, postReadOID, "Control Type (Post-Read)"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	value := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Control Value (Post-Read)")
	selection := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "AttributeSelection")
	for _, a := range p.attrs {
		selection.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	value.AppendChild(selection)
	packet.AppendChild(value)
	return packet
}

func (p postRead) String() string { return "Post-Read " + strings.Join(p.attrs, ",") }

// postReadValues reads the values of attr from the post-read control of an
// answer: the control's value is a SearchResultEntry.
func postReadValues(controls []ldap.Control, attr string) ([]string, error) {
	for _, c := range controls {
		if c.GetControlType() != postReadOID {
			continue
		}
		cs, ok := c.(*ldap.ControlString)
		if !ok {
			return nil, fmt.Errorf("post-read control of type %T", c)
		}
		entry, err := ber.DecodePacketErr([]byte(cs.ControlValue))
		if err != nil {
			return nil, fmt.Errorf("post-read control: %w", err)
		}
		if len(entry.Children) < 2 {
			return nil, errors.New("post-read control: no attributes")
		}
		for _, a := range entry.Children[1].Children {
			if len(a.Children) < 2 || !strings.EqualFold(fmt.Sprint(a.Children[0].Value), attr) {
				continue
			}
			var values []string
			for _, v := range a.Children[1].Children {
				values = append(values, v.Data.String())
			}
			return values, nil
		}
		return nil, nil
	}
	return nil, errors.New("no post-read control in the answer")
}

// appendHistory keeps one record in the history of p's entry, read by the
// workflow just before (an entry that moved since is looked up again), and
// prunes the history when it passes historyCap. Errors: ErrNotFound when
// the account is gone, ErrUnavailable.
// record gives the value to add; it is asked again, with the next try,
// when the history holds the same value already (two identical events at
// the same microsecond).
func (s *Store) appendHistory(ctx context.Context, p *Person, record func(try int) string) error {
	const op = "keep history"
	dn := p.dn
	if dn == "" {
		var err error
		if dn, err = s.accountDN(ctx, op, p); err != nil {
			return err
		}
	}
	values, err := s.addHistory(ctx, op, dn, record)
	if errors.Is(err, ErrNotFound) && p.dn != "" {
		if dn, err = s.accountDN(ctx, op, p); err != nil {
			return err
		}
		values, err = s.addHistory(ctx, op, dn, record)
	}
	if err != nil {
		return err
	}
	return s.pruneHistory(ctx, op, dn, values)
}

// pruneHistory deletes the oldest of values, the history an entry holds,
// once there are more than historyCap.
func (s *Store) pruneHistory(ctx context.Context, op, dn string, values []string) error {
	if len(values) <= historyCap {
		return nil
	}
	// Oldest first: every record begins with its time, in one fixed layout.
	slices.Sort(values)
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Delete("apexHistory", values[:len(values)-historyKeep])
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil // another instance pruned them first
	}
	return err
}

func (s *Store) addHistory(ctx context.Context, op, dn string, record func(try int) string) ([]string, error) {
	var values []string
	var err error
	for try := range 3 {
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewModifyRequest(dn, []ldap.Control{postRead{[]string{"apexHistory"}}})
			req.Add("apexHistory", []string{record(try)})
			res, err := c.ModifyWithResult(req)
			if err != nil {
				return err
			}
			values, err = postReadValues(res.Controls, "apexHistory")
			return err
		})
		if !errors.Is(err, ErrConflict) {
			break
		}
	}
	return values, err
}

// accountDN finds the entry of an account by identifier, or by request id
// before its validation.
func (s *Store) accountDN(ctx context.Context, op string, p *Person) (string, error) {
	filter := eq("uid", p.Identifier)
	if p.Identifier == "" {
		filter = eq("apexRequestId", p.RequestID)
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", filter), []string{"1.1"})
	if err != nil {
		return "", err
	}
	return e.DN, nil
}

// history returns the account of that identifier and its history, newest
// first. It checks no permission (Accounts.History does). Errors: ErrNotFound.
func (s *Store) history(ctx context.Context, identifier string) (*Person, []Event, error) {
	const op = "read history"
	e, err := s.personEntry(ctx, op, identifier, append(slices.Clone(personAttrs), "apexHistory"))
	if err != nil {
		return nil, nil, err
	}
	p := s.personFromEntry(e)
	var events []Event
	for _, v := range e.GetAttributeValues("apexHistory") {
		if ev, ok := parseHistoryRecord(v); ok {
			ev.Account, ev.Structure, ev.Service = p.Identifier, p.SIRET, p.Service
			events = append(events, ev)
		}
	}
	// slapd gives the values in the order they were added: that order
	// settles events of the same time (a test's frozen clock).
	slices.Reverse(events)
	slices.SortStableFunc(events, func(a, b Event) int { return b.At.Compare(a.At) })
	return p, events, nil
}
