package directory

import (
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// The controls of a sorted page: server-side sorting (RFC 2891) and the
// virtual list view (draft-ietf-ldapext-ldapv3-vlv-09), which slapd's
// sssvlv overlay serves. go-ldap has a sort control but never sends it
// critical; it has no VLV control.

const (
	serverSortOID  = "1.2.840.113556.1.4.473"
	vlvRequestOID  = "2.16.840.1.113730.3.4.9"
	vlvResponseOID = "2.16.840.1.113730.3.4.10"
)

// serverSort asks slapd to sort a search's entries by keys, the first key
// first. Critical: a server without sssvlv refuses the search instead of
// answering it unsorted.
type serverSort struct{ keys []sortKey }

// sortKey is an attribute and the ordering rule it is sorted by (its
// schema's own when empty).
type sortKey struct{ attr, orderingRule string }

func (s serverSort) GetControlType() string { return serverSortOID }

func (s serverSort) Encode() *ber.Packet {
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "SortKeyList")
	for _, k := range s.keys {
		key := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "SortKey")
		key.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, k.attr, "attributeType"))
		if k.orderingRule != "" {
			key.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, k.orderingRule, "orderingRule"))
		}
		list.AppendChild(key)
	}
	return criticalControl(serverSortOID, list)
}

func (s serverSort) String() string { return fmt.Sprintf("Server-side sort %v", s.keys) }

// vlvRequest asks for the entry at offset (from 1) of the sorted search and
// the after entries that follow it. The content count sent is 0: the offset
// counts in the server's own list.
type vlvRequest struct{ offset, after int }

func (v vlvRequest) GetControlType() string { return vlvRequestOID }

func (v vlvRequest) Encode() *ber.Packet {
	req := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "VirtualListViewRequest")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0), "beforeCount"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(v.after), "afterCount"))
	byOffset := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "byOffset")
	byOffset.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(v.offset), "offset"))
	byOffset.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0), "contentCount"))
	req.AppendChild(byOffset)
	return criticalControl(vlvRequestOID, req)
}

func (v vlvRequest) String() string { return fmt.Sprintf("VLV offset %d, %d after", v.offset, v.after) }

func criticalControl(oid string, value *ber.Packet) *ber.Packet {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, oid, "Control Type"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(value.Bytes()), "Control Value"))
	return packet
}

// vlvResponse is what slapd answers a VLV request: the position of the
// target and the number of entries the search matches.
type vlvResponse struct {
	target, count int
	result        int // an LDAP result code: 0, or 77 (offsetRangeError) past the end
}

// vlvOffsetRangeError is the VLV result of an offset past the end.
const vlvOffsetRangeError = 77

// decodeVLVResponse reads the value of a VLV response control:
// SEQUENCE { targetPosition INTEGER, contentCount INTEGER,
// virtualListViewResult ENUMERATED, contextID OCTET STRING OPTIONAL }.
func decodeVLVResponse(value []byte) (vlvResponse, error) {
	p, err := ber.DecodePacketErr(value)
	if err != nil {
		return vlvResponse{}, fmt.Errorf("VLV response: %w", err)
	}
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypeConstructed || p.Tag != ber.TagSequence || len(p.Children) < 3 || len(p.Children) > 4 {
		return vlvResponse{}, errors.New("VLV response: not a sequence of 3 or 4 elements")
	}
	var n [3]int64
	for i, tag := range []ber.Tag{ber.TagInteger, ber.TagInteger, ber.TagEnumerated} {
		c := p.Children[i]
		if c.ClassType != ber.ClassUniversal || c.TagType != ber.TypePrimitive || c.Tag != tag || c.Data == nil {
			return vlvResponse{}, fmt.Errorf("VLV response: element %d is not an integer", i+1)
		}
		if n[i], err = ber.ParseInt64(c.Data.Bytes()); err != nil || n[i] < 0 || n[i] > 1<<31-1 {
			return vlvResponse{}, fmt.Errorf("VLV response: element %d out of range", i+1)
		}
	}
	return vlvResponse{target: int(n[0]), count: int(n[1]), result: int(n[2])}, nil
}

// findVLVResponse reads the VLV response among a search's result controls,
// or in the packet of its error: go-ldap keeps a failed operation's
// controls only there, and an offset past the end is a failure (76).
func findVLVResponse(controls []ldap.Control, err error) (vlvResponse, error) {
	var lerr *ldap.Error
	if errors.As(err, &lerr) && lerr.Packet != nil && len(lerr.Packet.Children) > 2 {
		controls = nil
		for _, child := range lerr.Packet.Children[2].Children {
			if c, derr := ldap.DecodeControl(child); derr == nil {
				controls = append(controls, c)
			}
		}
	}
	for _, c := range controls {
		if c.GetControlType() != vlvResponseOID {
			continue
		}
		cs, ok := c.(*ldap.ControlString)
		if !ok {
			return vlvResponse{}, fmt.Errorf("VLV response control of type %T", c)
		}
		return decodeVLVResponse([]byte(cs.ControlValue))
	}
	return vlvResponse{}, errors.New("no VLV response control in the answer")
}
