package directory

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"

	"github.com/go-ldap/ldap/v3"
)

// The sign-in counts an identifier's failures apart for the client
// addresses its account signed in from, so that strangers who lock it out
// from elsewhere do not lock the person out too. Those addresses are kept
// on the person, apexKnownAddress, one value each:
//
//	v1 <HMAC-SHA256 of the address under the sign-in key, hex> <last use, Unix seconds>
//
// the address as the limits count it (an IPv6 client by its /64), hashed
// under the directory's secret key so that a copy of the directory does not
// give the addresses back (IPv4's 2^32 are quickly tried against a plain
// hash). Only the maxKnownAddresses most recently used are kept, written by
// the modify that opens a session, so it costs the sign-in no round trip.

const maxKnownAddresses = 10

// addressMAC is the keyed hash of the request's client address, "" when
// the request has none (apexctl).
func (s *Store) addressMAC(ctx context.Context) (string, error) {
	addr := clientAddress(ctx)
	if addr == "" {
		return "", nil
	}
	key, err := s.signingKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("apex known address\x00" + addr))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// fromKnownAddress says whether the request comes from an address the
// account e signed in from; never for no account (e nil).
func (s *Store) fromKnownAddress(ctx context.Context, e *ldap.Entry) (bool, error) {
	if e == nil || len(e.GetAttributeValues("apexKnownAddress")) == 0 {
		return false, nil
	}
	mac, err := s.addressMAC(ctx)
	if err != nil || mac == "" {
		return false, err
	}
	for _, v := range e.GetAttributeValues("apexKnownAddress") {
		if a, ok := parseKnownAddress(v); ok && subtle.ConstantTimeCompare([]byte(a.mac), []byte(mac)) == 1 {
			return true, nil
		}
	}
	return false, nil
}

// noteKnownAddress adds to req, a modify of the account e (read with its
// apexKnownAddress), the request's client address used now, and drops the
// values beyond the most recent maxKnownAddresses.
func (s *Store) noteKnownAddress(ctx context.Context, req *ldap.ModifyRequest, e *ldap.Entry) error {
	mac, err := s.addressMAC(ctx)
	if err != nil || mac == "" {
		return err
	}
	now := s.now().Unix()
	var kept []string
	for _, v := range e.GetAttributeValues("apexKnownAddress") {
		a, ok := parseKnownAddress(v)
		switch {
		case ok && a.mac == mac && a.lastUse == now:
			return nil // noted this very second
		case ok && a.mac != mac:
			kept = append(kept, v)
		default:
			req.Delete("apexKnownAddress", []string{v})
		}
	}
	// Most recent first; the oldest beyond the limit go.
	slices.SortFunc(kept, func(x, y string) int {
		a, _ := parseKnownAddress(x)
		b, _ := parseKnownAddress(y)
		return cmp.Compare(b.lastUse, a.lastUse)
	})
	if len(kept) >= maxKnownAddresses {
		req.Delete("apexKnownAddress", kept[maxKnownAddresses-1:])
	}
	req.Add("apexKnownAddress", []string{knownAddress{mac: mac, lastUse: now}.String()})
	return nil
}
