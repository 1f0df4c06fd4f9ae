package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// One-time migrations change data already stored, once per directory,
// when a version of apexd needs it (Store.Migrate, run by apexd at start).
// Each is named, and marked done in the directory once it has finished:
//
//	ou=migrations,ou=system,SUFFIX
//	  cn=HASH     applicationProcess; description: the migration's name
//
// HASH is the SHA-256 of the store's base and the migration's name, so
// that two trees on one server migrate apart (as their limits count apart).
// Several instances may start at once, and each runs what it finds not
// marked: a migration must change each entry by a compare-and-swap (or an
// assertion), so that of two instances exactly one makes a change (and
// tells whoever must be told), and it must be idempotent. The marker is
// added once the migration has run through; finding it added meanwhile is
// no error. A migration that fails is not marked: it runs again at the
// next start.

// migrations, in the order they run. A name is never reused nor renamed;
// new migrations go at the end.
var migrations = []migration{
	{"mail-keys", (*Store).migrateMailKeys},
	{"mobile-numbers", (*Store).migrateMobiles},
	{"active-since", (*Store).migrateActiveSince},
	{"sort-keys", (*Store).migrateSortKeys},
	{"display-names", (*Store).migrateDisplayNames},
	{"client-policy", (*Store).migrateClientPolicy},
}

type migration struct {
	name string
	run  func(s *Store, ctx context.Context, m migrating) error
}

// migrating is what a migration is given besides the store.
type migrating struct {
	notifier MigrationNotifier
	log      *slog.Logger
}

// MigrationNotifier tells people what a migration changed in their account.
// The notify package implements it.
type MigrationNotifier interface {
	// MobileChecked tells that the mobile number oldMobile, stored before
	// libphonenumber's rules, was corrected to p.Mobile, or removed when
	// p.Mobile is empty.
	MobileChecked(ctx context.Context, p *Person, oldMobile string) error
}

// Migrate runs, in order, each migration not yet marked done on this
// store's tree, and marks it. notifier tells people what changed in their
// account; log gets a line per migration run (never a personal value).
// Errors: the first failing migration's (those after it are not run).
func (s *Store) Migrate(ctx context.Context, notifier MigrationNotifier, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, m := range migrations {
		done, err := s.migrationDone(ctx, m.name)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		start := time.Now()
		if err := m.run(s, ctx, migrating{notifier: notifier, log: log.With("migration", m.name)}); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := s.markMigration(ctx, m.name); err != nil {
			return err
		}
		log.Info("migration faite", "migration", m.name, "duration", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

func (s *Store) migrationsDN() string { return "ou=migrations," + s.system }

func (s *Store) migrationCN(name string) string {
	sum := sha256.Sum256([]byte(s.base + "\x00" + name))
	return hex.EncodeToString(sum[:])
}

func (s *Store) migrationDN(name string) string {
	return rdn("cn", s.migrationCN(name)) + "," + s.migrationsDN()
}

func (s *Store) migrationDone(ctx context.Context, name string) (bool, error) {
	_, err := s.searchOne(ctx, "read migrations", s.migrationDN(name), ldap.ScopeBaseObject, "(objectClass=applicationProcess)", []string{"1.1"})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// markMigration adds the marker of a migration run through, and
// ou=migrations the first time; either added meanwhile by another
// instance is no error.
func (s *Store) markMigration(ctx context.Context, name string) error {
	const op = "mark migration"
	add := func() error {
		return s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.migrationDN(name), nil)
			req.Attribute("objectClass", []string{"applicationProcess"})
			req.Attribute("cn", []string{s.migrationCN(name)})
			req.Attribute("description", []string{name})
			return c.Add(req)
		})
	}
	err := add()
	if errors.Is(err, ErrNotFound) {
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.migrationsDN(), nil)
			req.Attribute("objectClass", []string{"organizationalUnit"})
			req.Attribute("ou", []string{"migrations"})
			req.Attribute("description", []string{"One-time migrations done, one entry each"})
			return c.Add(req)
		})
		if err == nil || errors.Is(err, ErrConflict) {
			err = add()
		}
	}
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// migrateEntries runs change on every entry under the store's base that
// filter matches, read with attrs. change returns the modify that
// migrates the entry as read, or nil when nothing is left to do; it is
// asked again on the entry read anew (by its entryUUID) when the modify
// finds it renamed, moved, or changed meanwhile. done hears of each entry
// changed by this instance, as it was read before its modify.
func (s *Store) migrateEntries(ctx context.Context, op, filter string, attrs []string, change func(e *ldap.Entry) *ldap.ModifyRequest, done func(e *ldap.Entry, req *ldap.ModifyRequest)) error {
	attrs = append(slices.Clone(attrs), "entryUUID")
	entries, err := s.searchAll(ctx, op, s.base, ldap.ScopeWholeSubtree, filter, attrs)
	if err != nil {
		return err
	}
	for _, e := range entries {
		var last string // the modify last refused, to tell a lasting conflict
		for try := 1; ; try++ {
			req := change(e)
			if req == nil {
				break
			}
			err := s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) })
			if err == nil {
				done(e, req)
				break
			}
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
				return err
			}
			this := fmt.Sprint(req.DN, req.Changes)
			if this == last || try == requestTries {
				return fmt.Errorf("%s: %s: %w", op, req.DN, err)
			}
			last = this
			uuid := e.GetAttributeValue("entryUUID")
			e, err = s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, eq("entryUUID", uuid), attrs)
			if errors.Is(err, ErrNotFound) {
				break // removed meanwhile
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// migrateMailKeys gives every person stored before apexMailKey its key,
// but refused requests: the key makes an address unique among requests
// not refused, and slapd's unique overlay would refuse a refused
// request's key held since by a new request of the structure (it checks a
// modified entry whatever its state).
// The modify deletes the mail it was computed from and adds it back (a
// compare-and-swap: it fails when the mail changed meanwhile), and adds
// the key, which fails when one was set meanwhile. (Not an assertion
// control: the unique overlay's own search inherits it and fails.) slapd
// refuses a key already held in the structure by a request not refused,
// which makes the migration fail, naming the entry.
func (s *Store) migrateMailKeys(ctx context.Context, m migrating) error {
	const op = "migrate mail keys"
	n := 0
	err := s.migrateEntries(ctx, op, and("(objectClass=apexPerson)", "(mail=*)", "(!(apexMailKey=*))", "(!(apexAccountState=refused))"), []string{"mail", "apexSiret", "apexMailKey"},
		func(e *ldap.Entry) *ldap.ModifyRequest {
			mail := e.GetAttributeValue("mail")
			if e.GetAttributeValue("apexMailKey") != "" || mail == "" {
				return nil
			}
			req := ldap.NewModifyRequest(e.DN, nil)
			req.Delete("mail", []string{mail})
			req.Add("mail", []string{mail})
			req.Add("apexMailKey", []string{s.mailKey(e.GetAttributeValue("apexSiret"), mail)})
			return req
		},
		func(*ldap.Entry, *ldap.ModifyRequest) { n++ })
	m.log.Info("clés de mail ajoutées", "accounts", n)
	return err
}

// migrateMobiles checks again every stored mobile with ParseMobile: one
// stored by the hand-written rules before it that now reads otherwise is
// replaced (+33692123456 was typed 0692 12 34 56: it is +262692123456),
// one that is no mobile (a landline) or no number is removed. Each change
// deletes the value read (a compare-and-swap), and the person is mailed by
// the instance whose change passed; a refused request is not an account,
// and is not mailed. No number is logged.
func (s *Store) migrateMobiles(ctx context.Context, m migrating) error {
	const op = "migrate mobiles"
	corrected, removed, unsent := 0, 0, 0
	err := s.migrateEntries(ctx, op, and("(objectClass=apexPerson)", "(mobile=*)"), personAttrs,
		func(e *ldap.Entry) *ldap.ModifyRequest {
			old := e.GetAttributeValue("mobile")
			now, _ := NormalizeMobile(old)
			if old == "" || now == old {
				return nil
			}
			req := ldap.NewModifyRequest(e.DN, nil)
			req.Delete("mobile", []string{old})
			if now != "" {
				req.Add("mobile", []string{now})
			}
			return req
		},
		func(e *ldap.Entry, req *ldap.ModifyRequest) {
			p := s.personFromEntry(e)
			old := p.Mobile
			p.Mobile, _ = NormalizeMobile(old)
			if p.Mobile == "" {
				removed++
			} else {
				corrected++
			}
			if p.State == StateRefused || m.notifier == nil {
				return
			}
			if err := m.notifier.MobileChecked(ctx, p, old); err != nil {
				unsent++
				m.log.Warn("numéro de portable vérifié : mail non envoyé", "account", p.Identifier, "request", p.RequestID, "error", err.Error())
			}
		})
	m.log.Info("numéros de portable vérifiés", "corrected", corrected, "removed", removed, "mails_not_sent", unsent)
	return err
}

// migrateClientPolicy puts the applications' bind accounts made before
// under the bind accounts' password policy, which never locks: their
// password is also the OpenID client's secret, checked at the token
// endpoint, where ten wrong ones would otherwise lock the application out
// of its sign-ins (see CreateClient). Each is one add of
// pwdPolicySubentry, which fails when another instance added it first.
func (s *Store) migrateClientPolicy(ctx context.Context, m migrating) error {
	const op = "migrate client policy"
	entries, err := s.searchAll(ctx, op, "ou=clients,"+s.system, ldap.ScopeSingleLevel,
		"(&(objectClass=simpleSecurityObject)(!(pwdPolicySubentry=*)))", []string{"1.1"})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	changed := 0
	for _, e := range entries {
		err := s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewModifyRequest(e.DN, nil)
			req.Add("pwdPolicySubentry", []string{s.systemPolicyDN()})
			return c.Modify(req)
		})
		switch {
		case err == nil:
			changed++
		case !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound):
			return err
		}
	}
	m.log.Info("comptes des applications sous la politique des comptes techniques", "changed", changed)
	return nil
}

// migrateActiveSince gives every active account stored before
// apexActiveSince its start of activity: now. Dormancy counts from it
// when the account has not been used since (its binds were not recorded
// before this version either), so that no account is found dormant on
// the day the last use starts being recorded: each gets a whole period.
// The add fails when a value was set meanwhile (an enabling).
func (s *Store) migrateActiveSince(ctx context.Context, m migrating) error {
	const op = "migrate active since"
	now := ldapTime(s.now())
	n := 0
	err := s.migrateEntries(ctx, op, and("(objectClass=apexPerson)", eq("apexAccountState", string(StateActive)), "(!(apexActiveSince=*))"),
		[]string{"apexActiveSince"},
		func(e *ldap.Entry) *ldap.ModifyRequest {
			if e.GetAttributeValue("apexActiveSince") != "" {
				return nil
			}
			req := ldap.NewModifyRequest(e.DN, nil)
			req.Add("apexActiveSince", []string{now})
			return req
		},
		func(*ldap.Entry, *ldap.ModifyRequest) { n++ })
	m.log.Info("début d'activité des comptes actifs", "accounts", n)
	return err
}

// migrateSortKeys gives every person and structure stored before
// apexSortKey its key (lists.go), which the management lists sort by. The
// modify deletes each value the key was computed from and adds it back (a
// compare-and-swap: it fails when a name changed meanwhile) and adds the
// key, which fails when one was set meanwhile.
func (s *Store) migrateSortKeys(ctx context.Context, m migrating) error {
	const op = "migrate sort keys"
	n := 0
	err := s.migrateEntries(ctx, op, and(or("(objectClass=apexPerson)", "(objectClass=apexStructure)"), "(!(apexSortKey=*))"),
		[]string{"objectClass", "givenName", "sn", "mail", "apexAccountState", "apexLabel", "apexSortKey"},
		func(e *ldap.Entry) *ldap.ModifyRequest {
			if e.GetAttributeValue("apexSortKey") != "" {
				return nil
			}
			req := ldap.NewModifyRequest(e.DN, nil)
			var key string
			var from []string
			if slices.ContainsFunc(e.GetAttributeValues("objectClass"), func(c string) bool { return strings.EqualFold(c, "apexStructure") }) {
				key, from = structureSortKey(e.GetAttributeValue("apexLabel")), []string{"apexLabel"}
			} else {
				key = personSortKey(e.GetAttributeValue("givenName"), e.GetAttributeValue("sn"), e.GetAttributeValue("mail"), AccountState(e.GetAttributeValue("apexAccountState")))
				from = []string{"givenName", "sn", "mail", "apexAccountState"}
			}
			for _, attr := range from {
				if v := e.GetAttributeValue(attr); v != "" {
					req.Delete(attr, []string{v})
					req.Add(attr, []string{v})
				}
			}
			req.Add("apexSortKey", []string{key})
			return req
		},
		func(*ldap.Entry, *ldap.ModifyRequest) { n++ })
	m.log.Info("clés de tri ajoutées", "entries", n)
	return err
}

// migrateDisplayNames gives every person with a name stored before
// displayName its display name (« Prénom Nom »), which DGFiP applications
// read. As for the sort keys, the modify deletes the names it was made of
// and adds them back (it fails when a name changed meanwhile), and adds
// the display name, which fails when one was set meanwhile.
func (s *Store) migrateDisplayNames(ctx context.Context, m migrating) error {
	const op = "migrate display names"
	n := 0
	err := s.migrateEntries(ctx, op, and("(objectClass=apexPerson)", "(givenName=*)", "(sn=*)", "(!(displayName=*))"),
		[]string{"givenName", "sn", "displayName"},
		func(e *ldap.Entry) *ldap.ModifyRequest {
			first, last := e.GetAttributeValue("givenName"), e.GetAttributeValue("sn")
			if e.GetAttributeValue("displayName") != "" || first == "" || last == "" {
				return nil
			}
			req := ldap.NewModifyRequest(e.DN, nil)
			for attr, v := range map[string]string{"givenName": first, "sn": last} {
				req.Delete(attr, []string{v})
				req.Add(attr, []string{v})
			}
			req.Add("displayName", []string{first + " " + last})
			return req
		},
		func(*ldap.Entry, *ldap.ModifyRequest) { n++ })
	m.log.Info("noms affichés ajoutés", "accounts", n)
	return err
}
