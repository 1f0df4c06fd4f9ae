package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// signingKey returns the key that signs sign-in challenges. It lives in the
// directory (cn=signin,ou=system, readable by the service alone) so that
// every instance holds the same one: the first instance to need it creates
// it, and one that loses that race reads the winner's.
func (s *Store) signingKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	const op = "signing key"
	dn := rdn("cn", "signin") + "," + s.system
	for range 2 {
		e, err := s.searchOne(ctx, op, dn, ldap.ScopeBaseObject, "(objectClass=apexKeyring)", []string{"apexSigningKey"})
		if err == nil {
			key, err := base64.StdEncoding.DecodeString(e.GetAttributeValue("apexSigningKey"))
			if err != nil || len(key) < 32 {
				return nil, fmt.Errorf("%s: %s holds no usable key", op, dn)
			}
			s.key = key
			return key, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		key := make([]byte, 32)
		rand.Read(key)
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(dn, nil)
			req.Attribute("objectClass", []string{"applicationProcess", "apexKeyring"})
			req.Attribute("cn", []string{"signin"})
			req.Attribute("apexSigningKey", []string{base64.StdEncoding.EncodeToString(key)})
			return c.Add(req)
		})
		if err == nil {
			s.key = key
			return key, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s: %s: %w", op, dn, ErrUnavailable)
}
