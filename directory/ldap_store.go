package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/schema"
)

// StoreConfig says how to reach the directory.
type StoreConfig struct {
	URL           string // ldap://host:port or ldaps://host:port; several, separated by spaces, for fail-over
	BaseDN        string // holds ou=structures, ou=applications and ou=agents
	SystemDN      string // holds ou=identifiers and ou=clients; "ou=system,"+BaseDN when empty
	BindDN        string // the service's bind account
	BindPassword  string
	PoolSize      int           // connections bound as the service; 8 when zero
	Timeout       time.Duration // of a dial and of every request; 10 s when zero
	TLS           *tls.Config   // for ldaps:// URLs, and for StartTLS; its RootCAs hold the directory's CA
	StartTLS      bool          // upgrade ldap:// connections with StartTLS before anything else
	SignIn        SignInPolicy
	InvitationTTL time.Duration // life of a pre-creation link; 7 days when zero
	ResetLinkTTL  time.Duration // life of a password renewal link sent by mail; 1 hour when zero
	MailChangeTTL time.Duration // how long a new mail address waits for its confirmation; DefaultMailChangeTTL when zero
	Limits        LimitPolicy   // abuse limits; DefaultLimits for those left zero
	Now           func() time.Time
}

// Store reads and writes the annuaire in OpenLDAP through a pool of
// connections bound as the service account.
type Store struct {
	cfg           StoreConfig
	base          string
	system        string
	pool          *pool
	signin        SignInPolicy
	invitationTTL time.Duration
	resetLinkTTL  time.Duration
	mailChangeTTL time.Duration
	now           func() time.Time
	listings      directoryCache
	listSlots     chan struct{} // sorted searches of lists in progress (ldap_lists.go)
	exportSlots   chan struct{} // exports in progress
	urls          []string
	preferred     atomic.Int64 // index in urls of the server that answered last

	keyMu sync.Mutex
	key   []byte // see signingKey

	limits        LimitPolicy
	limitPurgedAt atomic.Int64 // when this process last purged ou=limits, in Unix seconds
	decoyReady    atomic.Bool  // the decoy entry of authenticate exists

	onRequestWrite func(op string) // tests: runs between a request's read and its write
}

// NewStore checks the configuration and opens the first connection, so a
// wrong URL or password shows at once.
func NewStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.URL == "" || cfg.BaseDN == "" || cfg.BindDN == "" || cfg.BindPassword == "" {
		return nil, errors.New("directory: URL, BaseDN, BindDN and BindPassword are required")
	}
	for _, dn := range []string{cfg.BaseDN, cfg.SystemDN, cfg.BindDN} {
		if _, err := ldap.ParseDN(dn); dn != "" && err != nil {
			return nil, fmt.Errorf("directory: %q is not a DN: %w", dn, err)
		}
	}
	if cfg.SystemDN == "" {
		cfg.SystemDN = "ou=system," + cfg.BaseDN
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InvitationTTL <= 0 {
		cfg.InvitationTTL = 7 * 24 * time.Hour
	}
	if cfg.ResetLinkTTL <= 0 {
		cfg.ResetLinkTTL = time.Hour
	}
	if cfg.MailChangeTTL <= 0 {
		cfg.MailChangeTTL = DefaultMailChangeTTL
	}
	s := &Store{cfg: cfg, base: cfg.BaseDN, system: cfg.SystemDN, signin: cfg.SignIn.withDefaults(), invitationTTL: cfg.InvitationTTL, resetLinkTTL: cfg.ResetLinkTTL, mailChangeTTL: cfg.MailChangeTTL, now: cfg.Now, limits: cfg.Limits.withDefaults()}
	s.urls = strings.Fields(cfg.URL)
	s.listSlots = make(chan struct{}, cfg.PoolSize)
	s.exportSlots = make(chan struct{}, 2)
	s.pool = newPool(cfg.PoolSize, s.dialService)
	conn, err := s.pool.get(ctx)
	if err != nil {
		return nil, translate("directory: connect", err)
	}
	s.pool.put(conn, false)
	return s, nil
}

// Now is the store's clock (StoreConfig.Now).
func (s *Store) Now() time.Time { return s.now() }

// Close closes the pooled connections.
func (s *Store) Close() { s.pool.close() }

// PoolStats reports the service connections in use and idle.
func (s *Store) PoolStats() (inUse, idle int) { return s.pool.stats() }

func (s *Store) dialService() (*ldap.Conn, error) {
	return s.dialAny(func(conn *ldap.Conn) error { return conn.Bind(s.cfg.BindDN, s.cfg.BindPassword) })
}

// dialFresh opens an unbound, unpooled connection for checking a person's password.
func (s *Store) dialFresh() (*ldap.Conn, error) {
	return s.dialAny(nil)
}

// dialAny connects to the first server of the URL list that answers,
// starting with the one that answered last, and runs setup (a bind) on the
// connection. Only a server that cannot be reached, or that drops the
// connection, sends it to the next one: a refused bind is an answer.
func (s *Store) dialAny(setup func(*ldap.Conn) error) (*ldap.Conn, error) {
	first := int(s.preferred.Load())
	var err error
	for i := range s.urls {
		k := (first + i) % len(s.urls)
		var conn *ldap.Conn
		conn, err = dialLDAP(s.urls[k], s.cfg.Timeout, s.cfg.TLS, s.cfg.StartTLS)
		if err == nil && setup != nil {
			if err = setup(conn); err != nil {
				var lerr *ldap.Error
				if conn.IsClosing() && !errors.As(err, &lerr) {
					err = ldap.NewError(ldap.ErrorNetwork, err)
				}
				conn.Close()
			}
		}
		if err == nil {
			s.preferred.Store(int64(k))
			return conn, nil
		}
		if !isNetworkError(err) {
			return nil, err
		}
	}
	return nil, err
}

// do runs fn on a pooled connection. go-ldap ignores contexts, so ctx is
// checked before the call and the connection's timeout bounds it. Writes
// are not retried: a write whose answer was lost may have been applied.
func (s *Store) do(ctx context.Context, op string, fn func(*ldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	conn, err := s.pool.get(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w (%w)", op, ErrUnavailable, err)
	}
	err = cutByServer(conn, fn(conn))
	s.pool.put(conn, isNetworkError(err))
	return translate(op, err)
}

// cutByServer gives a request in flight when the server went away, which
// gets the reader's plain error and not an *ldap.Error, the network
// failure's code that it is.
func cutByServer(conn *ldap.Conn, err error) error {
	var lerr *ldap.Error
	if err != nil && conn.IsClosing() && !errors.As(err, &lerr) {
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	return err
}

// read is do for operations that change nothing: one that failed because its
// pooled connection had died (a restarted slapd) is tried once more on a new one.
func (s *Store) read(ctx context.Context, op string, fn func(*ldap.Conn) error) error {
	err := s.do(ctx, op, fn)
	if errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
		err = s.do(ctx, op, fn)
	}
	return err
}

func (s *Store) searchOne(ctx context.Context, op, base string, scope int, filter string, attrs []string) (*ldap.Entry, error) {
	var entry *ldap.Entry
	err := s.read(ctx, op, func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases,
			2, int(s.cfg.Timeout/time.Second), false, filter, attrs, nil))
		if err != nil {
			return err
		}
		switch len(res.Entries) {
		case 0:
			return ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("no entry matches"))
		case 1:
			entry = res.Entries[0]
			return nil
		default:
			return fmt.Errorf("%d entries match %s", len(res.Entries), filter)
		}
	})
	return entry, err
}

// searchFew returns the entries of a search known to match at most limit
// entries, in one plain request (no paging control to negotiate).
func (s *Store) searchFew(ctx context.Context, op, base string, scope int, filter string, attrs []string, limit int) ([]*ldap.Entry, error) {
	var entries []*ldap.Entry
	err := s.read(ctx, op, func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases,
			limit, int(s.cfg.Timeout/time.Second), false, filter, attrs, nil))
		if err != nil {
			return err
		}
		entries = res.Entries
		return nil
	})
	return entries, err
}

func (s *Store) searchAll(ctx context.Context, op, base string, scope int, filter string, attrs []string) ([]*ldap.Entry, error) {
	var entries []*ldap.Entry
	err := s.read(ctx, op, func(c *ldap.Conn) error {
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases,
			0, int(s.cfg.Timeout/time.Second), false, filter, attrs, nil), 500)
		if err != nil {
			return err
		}
		entries = res.Entries
		return nil
	})
	return entries, err
}

// Ping reads the service account's own identity: the directory answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.read(ctx, "ping", func(c *ldap.Conn) error {
		_, err := c.WhoAmI(nil)
		return err
	})
}

// CheckSchema confirms that the server holds the APEX schema and this
// store's base entries: a wrong server or base DN fails here, at start.
func (s *Store) CheckSchema(ctx context.Context) error {
	var classes, types []string
	err := s.read(ctx, "check schema", func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest("cn=Subschema", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, 0, false, "(objectClass=subschema)", []string{"objectClasses", "attributeTypes"}, nil))
		if err != nil {
			return err
		}
		if len(res.Entries) == 1 {
			classes = res.Entries[0].GetAttributeValues("objectClasses")
			types = res.Entries[0].GetAttributeValues("attributeTypes")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, want := range schema.ObjectClasses {
		found := false
		for _, def := range classes {
			if strings.Contains(def, "NAME '"+want+"'") {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("check schema: object class %s missing: load schema/apex.ldif: %w", want, ErrUnavailable)
		}
	}
	for _, want := range schema.AttributeTypes {
		if !slices.ContainsFunc(types, func(def string) bool { return strings.Contains(def, "NAME '"+want+"'") }) {
			return fmt.Errorf("check schema: attribute type %s missing: load the new definitions of schema/apex.ldif: %w", want, ErrUnavailable)
		}
	}
	// The management lists are sorted and paged by slapd (sssvlv).
	var controls []string
	err = s.read(ctx, "check schema", func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"supportedControl"}, nil))
		if err == nil && len(res.Entries) == 1 {
			controls = res.Entries[0].GetAttributeValues("supportedControl")
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, oid := range []string{serverSortOID, vlvRequestOID} {
		if !slices.Contains(controls, oid) {
			return fmt.Errorf("check schema: the server offers no control %s: load the sssvlv overlay (docs/operations.md): %w", oid, ErrUnavailable)
		}
	}
	for _, dn := range []string{s.structuresDN(), s.applicationsDN(), s.agentsDN(), s.identifiersDN()} {
		if _, err := s.searchOne(ctx, "check schema", dn, ldap.ScopeBaseObject, "(objectClass=organizationalUnit)", []string{"1.1"}); err != nil {
			return fmt.Errorf("check schema: %s: %w", dn, err)
		}
	}
	return nil
}
