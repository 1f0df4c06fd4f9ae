package directory

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The OpenID provider's state lives in the directory, so that every apexd
// instance behind a load balancer carries on what another began, and
// signs with the same keys:
//
//	ou=oidc,ou=system,SUFFIX
//	  cn=TREE.SHA256(ID)   applicationProcess; description "v1 {request as JSON}"
//	cn=oidc-keys,ou=system,SUFFIX
//	                  applicationProcess + apexOidcKeyring; apexOidcKey, one value per key
//
// A request is added, then changed by compare-and-swap modifies (the
// delete of the record read and the add of the new one): once when its
// person is known, once when its code is issued. Its code is spent by
// deleting the entry, and of two deletes only one succeeds: a code works
// once, whatever the instances. Expired requests are deleted by the
// instances that add new ones, as captchas are.

const (
	oidcPurgeScan = 100
	oidcPurgeMax  = 20
	oidcKeyBits   = 2048
)

// createOIDCRequest stores a new request and gives it its id. Some expired
// requests are deleted first.
func (s *Store) createOIDCRequest(ctx context.Context, r *OIDCRequest) error {
	const op = "create oidc request"
	s.purgeOIDCRequests(ctx)
	r.ID = randomToken()
	r.Created = s.now().Truncate(time.Second)
	r.Expires = r.Created.Add(oidcRequestTTL)
	add := func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.oidcRequestDN(s.oidcCN(r.ID)), nil)
		req.Attribute("objectClass", []string{"applicationProcess"})
		req.Attribute("cn", []string{s.oidcCN(r.ID)})
		req.Attribute("description", []string{oidcRequestRecord(r)})
		return c.Add(req)
	}
	err := s.do(ctx, op, add)
	if errors.Is(err, ErrNotFound) {
		// A directory set up before the provider existed has no ou=oidc.
		if err := s.createOIDCContainer(ctx); err != nil {
			return err
		}
		err = s.do(ctx, op, add)
	}
	return err
}

func (s *Store) createOIDCContainer(ctx context.Context) error {
	err := s.do(ctx, "create oidc container", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.oidcRequestsDN(), nil)
		req.Attribute("objectClass", []string{"organizationalUnit"})
		req.Attribute("ou", []string{"oidc"})
		req.Attribute("description", []string{"Pending OpenID Connect sign-ins of DGFiP applications and their codes, each used once"})
		return c.Add(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// purgeOIDCRequests deletes up to oidcPurgeMax expired requests of this
// store's tree, from a sample of them (slapd lists them in the order of
// their random names). Housekeeping: a failure stops nothing.
func (s *Store) purgeOIDCRequests(ctx context.Context) {
	now := s.now()
	s.do(ctx, "purge oidc requests", func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(s.oidcRequestsDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			oidcPurgeScan, int(s.cfg.Timeout/time.Second), false, and("(objectClass=applicationProcess)", startsWith("cn", s.limitTree()+".")),
			[]string{"description"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return err
		}
		deleted := 0
		for _, e := range res.Entries {
			r, ok := parseOIDCRequestRecord(e.GetAttributeValue("description"))
			if ok && now.Before(r.Expires) {
				continue
			}
			if err := c.Del(ldap.NewDelRequest(e.DN, nil)); isNetworkError(err) {
				return err
			}
			if deleted++; deleted == oidcPurgeMax {
				break
			}
		}
		return nil
	})
}

// oidcRequest reads a live request by its id, with its record as stored
// (for a compare-and-swap). Errors: ErrNotFound when it is unknown or expired.
func (s *Store) oidcRequest(ctx context.Context, id string) (*OIDCRequest, string, error) {
	const op = "oidc request"
	if !validCaptchaID(id) {
		return nil, "", fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	r, raw, err := s.oidcRequestByCN(ctx, op, s.oidcCN(id))
	if err != nil {
		return nil, "", err
	}
	r.ID = id
	return r, raw, nil
}

func (s *Store) oidcRequestByCN(ctx context.Context, op, cn string) (*OIDCRequest, string, error) {
	e, err := s.searchOne(ctx, op, s.oidcRequestDN(cn), ldap.ScopeBaseObject, "(objectClass=applicationProcess)", []string{"description"})
	if err != nil {
		return nil, "", err
	}
	raw := e.GetAttributeValue("description")
	r, ok := parseOIDCRequestRecord(raw)
	if !ok || !s.now().Before(r.Expires) {
		return nil, "", fmt.Errorf("%s: expired or unreadable: %w", op, ErrNotFound)
	}
	return r, raw, nil
}

// swapOIDCRequest replaces the record read (raw) by r's, if it is still
// the one stored. Errors: ErrConflict when it changed meanwhile,
// ErrNotFound when the request is gone.
func (s *Store) swapOIDCRequest(ctx context.Context, op string, r *OIDCRequest, raw string) error {
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(s.oidcRequestDN(s.oidcCN(r.ID)), nil)
		req.Delete("description", []string{raw})
		req.Add("description", []string{oidcRequestRecord(r)})
		return c.Modify(req)
	})
}

// takeOIDCCode spends a code: it returns its request and deletes it, so
// that the code works once. Errors: ErrNotFound when the code is unknown,
// expired or spent.
func (s *Store) takeOIDCCode(ctx context.Context, code string) (*OIDCRequest, error) {
	const op = "take oidc code"
	cn := oidcCodeRequest(code)
	if cn == "" || !strings.HasPrefix(cn, s.limitTree()+".") {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	r, _, err := s.oidcRequestByCN(ctx, op, cn)
	if err != nil {
		return nil, err
	}
	if r.CodeHash == "" || subtle.ConstantTimeCompare([]byte(r.CodeHash), []byte(hashHex(code))) != 1 {
		return nil, fmt.Errorf("%s: not this request's code: %w", op, ErrNotFound)
	}
	// The record holds this code and no other, ever: the delete that
	// succeeds is the one use of it.
	err = s.do(ctx, op, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(s.oidcRequestDN(cn), nil)) })
	if err != nil {
		return nil, err
	}
	return r, nil
}

// deleteOIDCRequest ends a request; one already gone is no error.
func (s *Store) deleteOIDCRequest(ctx context.Context, id string) error {
	if !validCaptchaID(id) {
		return nil
	}
	err := s.do(ctx, "delete oidc request", func(c *ldap.Conn) error {
		return c.Del(ldap.NewDelRequest(s.oidcRequestDN(s.oidcCN(id)), nil))
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// oidcKeys returns the provider's signing keys, newest first, and their
// values as stored. The first instance that needs them makes the first
// key; one that loses that race reads the winner's.
func (s *Store) oidcKeys(ctx context.Context) ([]OIDCKey, []string, error) {
	const op = "oidc keys"
	for range 2 {
		e, err := s.searchOne(ctx, op, s.oidcKeysDN(), ldap.ScopeBaseObject, "(objectClass=apexOidcKeyring)", []string{"apexOidcKey"})
		if err == nil {
			raw := e.GetAttributeValues("apexOidcKey")
			keys := parseOIDCKeys(raw)
			if len(keys) == 0 {
				return nil, nil, fmt.Errorf("%s: %s holds no usable key", op, s.oidcKeysDN())
			}
			return keys, raw, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		key, err := s.newOIDCKey()
		if err != nil {
			return nil, nil, err
		}
		value, err := oidcKeyRecord(key)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.oidcKeysDN(), nil)
			req.Attribute("objectClass", []string{"applicationProcess", "apexOidcKeyring"})
			req.Attribute("cn", []string{"oidc-keys"})
			req.Attribute("apexOidcKey", []string{value})
			return c.Add(req)
		})
		if err == nil {
			return []OIDCKey{key}, []string{value}, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("%s: %s: %w", op, s.oidcKeysDN(), ErrUnavailable)
}

// parsedOIDCKeys remembers the keys parsed, by their stored value, which
// never changes (a retirement is a new value): parsing an RSA key costs
// a third of a millisecond, and every token issued reads the keys. The
// values of keys long gone are forgotten past parsedOIDCKeysMax.
var (
	parsedOIDCKeys  sync.Map
	parsedOIDCCount atomic.Int64
)

const parsedOIDCKeysMax = 64

func parseOIDCKeys(values []string) []OIDCKey {
	var keys []OIDCKey
	for _, v := range values {
		if k, ok := parsedOIDCKeys.Load(v); ok {
			keys = append(keys, k.(OIDCKey))
			continue
		}
		if k, ok := parseOIDCKeyRecord(v); ok {
			if parsedOIDCCount.Add(1) > parsedOIDCKeysMax {
				parsedOIDCKeys.Clear()
				parsedOIDCCount.Store(1)
			}
			parsedOIDCKeys.Store(v, k)
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b OIDCKey) int { return b.Created.Compare(a.Created) })
	return keys
}

func (s *Store) newOIDCKey() (OIDCKey, error) {
	private, err := rsa.GenerateKey(rand.Reader, oidcKeyBits)
	if err != nil {
		return OIDCKey{}, fmt.Errorf("generate an RSA key: %w", err)
	}
	return OIDCKey{ID: newOIDCKeyID(), Private: private, Created: s.now().Truncate(time.Second)}, nil
}

// rotateOIDCKey adds a new signing key and retires the others now; keys
// retired more than keep ago go. One modify, which deletes the values
// read: of two rotations at once, one fails with ErrConflict.
func (s *Store) rotateOIDCKey(ctx context.Context, keep time.Duration) (*OIDCKey, error) {
	const op = "rotate oidc key"
	_, raw, err := s.oidcKeys(ctx)
	if err != nil {
		return nil, err
	}
	key, err := s.newOIDCKey()
	if err != nil {
		return nil, err
	}
	now := s.now().Truncate(time.Second)
	// Created a second after the newest, whatever the clock says, so that
	// it sorts first.
	for _, k := range parseOIDCKeys(raw) {
		if !key.Created.After(k.Created) {
			key.Created = k.Created.Add(time.Second)
		}
	}
	value, err := oidcKeyRecord(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req := ldap.NewModifyRequest(s.oidcKeysDN(), nil)
	req.Delete("apexOidcKey", raw)
	kept := []string{value}
	for _, v := range raw {
		k, ok := parseOIDCKeyRecord(v)
		if !ok {
			continue // unreadable: nothing can sign nor check with it
		}
		if k.Retired.IsZero() {
			k.Retired = now
		}
		if now.Sub(k.Retired) > keep {
			continue
		}
		retired, err := oidcKeyRecord(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		kept = append(kept, retired)
	}
	req.Add("apexOidcKey", kept)
	if err := s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) }); err != nil {
		return nil, err
	}
	return &key, nil
}

// checkClientSecret checks an application's client secret by a bind as
// its bind account on a fresh connection (slapd verifies the hash).
// Errors: ErrInvalidCredentials.
func (s *Store) checkClientSecret(ctx context.Context, op, app, secret string) error {
	if !validSlug(app) || secret == "" {
		return fmt.Errorf("%s: %w", op, ErrInvalidCredentials) // an empty password would be an anonymous bind
	}
	_, err := s.bindFresh(ctx, op, s.clientDN(app), secret)
	if errors.Is(err, ErrAccountLocked) {
		// A bind account made before they were put under the system
		// policy, locked by ppolicy: a wrong secret all the same.
		return fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
	}
	return err
}
