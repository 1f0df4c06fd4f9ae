package directory

import (
	"encoding/base64"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// vlvResponseValue encodes a VLV response as slapd does.
func vlvResponseValue(target, count, result int64, context []byte) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, target, ""))
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, count, ""))
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, result, ""))
	if context != nil {
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(context), ""))
	}
	return p.Bytes()
}

// Answers read from Debian's slapd 2.5 (ldapsearch -E vlv): a page at
// position 2 of 12, and an offset past the end (77).
var slapdVLVResponses = []string{"MBMCAQICAQwKAQAECPA7EHzOfwAA", "MBMCAQwCAQwKAU0ECPA7EHzOfwAA"}

func TestDecodeVLVResponse(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want vlvResponse
	}{
		{slapdVLVResponses[0], vlvResponse{target: 2, count: 12, result: 0}},
		{slapdVLVResponses[1], vlvResponse{target: 12, count: 12, result: vlvOffsetRangeError}},
	} {
		raw, _ := base64.StdEncoding.DecodeString(tc.raw)
		if got, err := decodeVLVResponse(raw); err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, {0x30, 0x00}, vlvResponseValue(-1, 3, 0, nil), vlvResponseValue(1, 1<<40, 0, nil), {0x04, 0x03, 'a', 'b', 'c'}} {
		if got, err := decodeVLVResponse(bad); err == nil {
			t.Errorf("% x decoded as %+v", bad, got)
		}
	}
	// A failed search keeps its controls only in the error's packet.
	raw, _ := base64.StdEncoding.DecodeString(slapdVLVResponses[1])
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	packet.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(2), ""))
	packet.AppendChild(ber.Encode(ber.ClassApplication, ber.TypeConstructed, 5, nil, "SearchResultDone"))
	controls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
	control := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	control.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, vlvResponseOID, ""))
	control.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(raw), ""))
	controls.AppendChild(control)
	packet.AppendChild(controls)
	err := &ldap.Error{ResultCode: ldap.LDAPResultVirtualListViewErrorOrControlError, Packet: packet}
	if got, derr := findVLVResponse(nil, err); derr != nil || got.count != 12 || got.result != vlvOffsetRangeError {
		t.Errorf("from an error's packet: %+v, %v", got, derr)
	}
	if _, derr := findVLVResponse(nil, nil); derr == nil {
		t.Error("no control: no error")
	}
}

// The request controls are what slapd's parsers read: a critical sort key
// list with its ordering rule, and a VLV request by offset.
func TestSortAndVLVRequestEncoding(t *testing.T) {
	sort := ber.DecodePacket(serverSort{[]sortKey{{"apexSortKey", "caseExactOrderingMatch"}, {"apexSiret", ""}}}.Encode().Bytes())
	if len(sort.Children) != 3 || sort.Children[0].Value != serverSortOID || sort.Children[1].Value != true {
		t.Fatalf("sort control: %d children", len(sort.Children))
	}
	keys := ber.DecodePacket(sort.Children[2].Data.Bytes())
	if len(keys.Children) != 2 || keys.Children[0].Children[0].Value != "apexSortKey" ||
		keys.Children[0].Children[1].ClassType != ber.ClassContext || keys.Children[0].Children[1].Tag != 0 ||
		keys.Children[0].Children[1].Data.String() != "caseExactOrderingMatch" || len(keys.Children[1].Children) != 1 {
		t.Errorf("sort keys: %v", keys)
	}
	vlv := ber.DecodePacket(vlvRequest{offset: 51, after: 49}.Encode().Bytes())
	req := ber.DecodePacket(vlv.Children[2].Data.Bytes())
	byOffset := req.Children[2]
	if vlv.Children[0].Value != vlvRequestOID || vlv.Children[1].Value != true || req.Children[0].Value != int64(0) || req.Children[1].Value != int64(49) ||
		byOffset.ClassType != ber.ClassContext || byOffset.TagType != ber.TypeConstructed || byOffset.Tag != 0 || len(byOffset.Children) != 2 {
		t.Fatalf("VLV request: %v", req)
	}
	if off, _ := ber.ParseInt64(byOffset.Children[0].Data.Bytes()); off != 51 {
		t.Errorf("offset %d", off)
	}
}

// FuzzVLVResponse: the decoder of slapd's answer never panics, and reads
// back what any well-formed answer holds.
func FuzzVLVResponse(f *testing.F) {
	for _, s := range slapdVLVResponses {
		raw, _ := base64.StdEncoding.DecodeString(s)
		f.Add(raw, int64(0), int64(0), int64(0))
	}
	f.Add([]byte{0x30, 0x80}, int64(1), int64(50), int64(77))
	f.Fuzz(func(t *testing.T, raw []byte, target, count, result int64) {
		decodeVLVResponse(raw)
		got, err := decodeVLVResponse(vlvResponseValue(target, count, result, raw))
		inRange := func(n int64) bool { return n >= 0 && n <= 1<<31-1 }
		if ok := inRange(target) && inRange(count) && inRange(result); ok != (err == nil) {
			t.Fatalf("(%d, %d, %d): %+v, %v", target, count, result, got, err)
		}
		if err == nil && (int64(got.target) != target || int64(got.count) != count || int64(got.result) != result) {
			t.Fatalf("(%d, %d, %d) read as %+v", target, count, result, got)
		}
	})
}
