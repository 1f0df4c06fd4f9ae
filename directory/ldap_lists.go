package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The management lists, sorted by slapd (sssvlv, see ldif/config.ldif.tmpl
// and ldap_vlv.go): a page is one search with the server-side sort and
// virtual list view controls, which answers that page and the number of
// entries found, never the entries before it. The sort itself reads every
// entry found, in slapd, and keeps their DNs and keys until its connection
// closes: each sorted search has a connection of its own, closed after it.
// The exports: a paged search, handed on a page at a time (docs/design.md,
// « Lists at national size »).

// listAttrs are what a management list reads of an account: never its mobile.
var listAttrs = slices.DeleteFunc(slices.Clone(personAttrs), func(a string) bool { return a == "mobile" })

// The orders of the lists: by sort key (names, accents and case aside),
// then by something unique, so that two servers of a cluster agree.
var (
	personOrder    = []sortKey{{"apexSortKey", "caseExactOrderingMatch"}, {"apexRequestId", "caseExactOrderingMatch"}}
	structureOrder = []sortKey{{"apexSortKey", "caseExactOrderingMatch"}, {"apexSiret", "numericStringOrderingMatch"}}
)

// exportPageSize is how many entries an export asks slapd for at a time:
// what an export holds in memory.
const exportPageSize = 250

// listSearch is a search of a list or an export: sorted by keys when it
// has any.
type listSearch struct {
	base   string
	scope  int
	filter string
	attrs  []string
	keys   []sortKey
}

func (q listSearch) request(s *Store, controls ...ldap.Control) *ldap.SearchRequest {
	if len(q.keys) > 0 {
		controls = append([]ldap.Control{serverSort{q.keys}}, controls...)
	}
	return ldap.NewSearchRequest(q.base, q.scope, ldap.NeverDerefAliases, 0, int(s.cfg.Timeout/time.Second), false,
		q.filter, q.attrs, controls)
}

// onItsOwn runs fn on a connection of its own, bound as the service and
// closed after it: slapd forgets a sort when its connection closes (the
// lists), and an export holds its connection as long as its client reads,
// which a pooled one must not. slots bounds the calls this process runs at
// once. fn is tried once more when the server could not be reached, but
// only while retry says so (nil: always; an export, before its first
// row). Errors: ErrUnavailable, and fn's.
func (s *Store) onItsOwn(ctx context.Context, op string, slots chan struct{}, retry func() bool, fn func(*ldap.Conn) error) error {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	defer func() { <-slots }()
	var err error
	for try := 1; try <= 2; try++ {
		if err = ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		var conn *ldap.Conn
		if conn, err = s.dialService(); err != nil {
			err = translate(op, err)
		} else {
			err = translate(op, cutByServer(conn, fn(conn)))
			conn.Close()
		}
		if !errors.Is(err, ErrUnavailable) || retry != nil && !retry() {
			break
		}
	}
	return err
}

// sortedPage returns the entries of one page of q and how many entries q
// finds in all: one search with the server-side sort and VLV controls. A
// page past the end is empty, with the total. Errors: ErrNotFound when q's
// base does not exist, ErrUnavailable.
func (s *Store) sortedPage(ctx context.Context, op string, q listSearch, page, size int) ([]*ldap.Entry, int, error) {
	// VLV offsets are 32-bit; one past every list is past the end.
	offset := 1<<31 - 1
	if page-1 < (offset-1)/size {
		offset = (page-1)*size + 1
	}
	var entries []*ldap.Entry
	var total int
	err := s.onItsOwn(ctx, op, s.listSlots, nil, func(c *ldap.Conn) error {
		res, err := c.Search(q.request(s, vlvRequest{offset: offset, after: size - 1}))
		var controls []ldap.Control
		if res != nil {
			controls = res.Controls
		}
		v, verr := findVLVResponse(controls, err)
		switch {
		case ldap.IsErrorWithCode(err, ldap.LDAPResultVirtualListViewErrorOrControlError) && verr == nil && v.result == vlvOffsetRangeError:
			total = v.count // past the end
			return nil
		case err != nil:
			return err
		case verr != nil:
			return verr
		}
		entries, total = res.Entries, v.count
		return nil
	})
	return entries, total, err
}

// streamPaged hands q's entries to each, a page of exportPageSize at a
// time, as slapd sends them (the paged results control), in the
// directory's order. It stops at each's first error. A stream cut after
// its first page is not started again: each has had rows it would get
// twice.
func (s *Store) streamPaged(ctx context.Context, op string, q listSearch, each func([]*ldap.Entry) error) error {
	handed := false
	return s.onItsOwn(ctx, op, s.exportSlots, func() bool { return !handed }, func(c *ldap.Conn) error {
		paging := ldap.NewControlPaging(exportPageSize)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			res, err := c.Search(q.request(s, paging))
			if err != nil {
				return err
			}
			handed = true
			if err := each(res.Entries); err != nil {
				return err
			}
			next, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if !ok || len(next.Cookie) == 0 {
				return nil
			}
			paging.SetCookie(next.Cookie)
		}
	})
}

// accountScope is which accounts a list may show: those of a structure
// (of every structure when siret is empty), of one of its services when
// service is set, of the given roles.
type accountScope struct {
	siret, service string
	roles          []Role
}

// accountsPage returns a page of the accounts of scope that q selects, by
// name. A structure or service that does not exist holds no account.
// Errors: ErrUnavailable.
func (s *Store) accountsPage(ctx context.Context, scope accountScope, q AccountQuery) (*AccountPage, error) {
	q.ListQuery = q.ListQuery.normalized()
	out := &AccountPage{Accounts: []Person{}, Page: q.Page, Size: q.Size}
	base := s.structuresDN()
	switch {
	case scope.service != "":
		base = s.serviceDN(scope.siret, scope.service)
	case scope.siret != "":
		base = s.structureDN(scope.siret)
	}
	filters := []string{"(objectClass=apexPerson)"}
	var roles []string
	for _, r := range scope.roles {
		if q.Role == "" || q.Role == r {
			roles = append(roles, eq("apexRole", string(r)))
		}
	}
	if len(roles) == 0 {
		return out, nil
	}
	filters = append(filters, or(roles...))
	if q.State != "" {
		filters = append(filters, eq("apexAccountState", string(q.State)))
	}
	for _, w := range q.words() {
		if k := SortKey(w); k != "" {
			filters = append(filters, personWord(w, k))
		}
	}
	entries, total, err := s.sortedPage(ctx, "list accounts", listSearch{base, ldap.ScopeWholeSubtree, and(filters...), listAttrs, personOrder}, q.Page, q.Size)
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.Total = total
	for _, e := range entries {
		out.Accounts = append(out.Accounts, *s.personFromEntry(e))
	}
	return out, nil
}

// personWord matches a word of a search, and its sort key k, in an
// account: its names (accents and case aside), identifier, mail or SIRET.
// A word without letters nor digits (« & ») matches nothing: it is left out.
func personWord(w, k string) string {
	terms := []string{contains("apexSortKey", k), contains("uid", w), contains("mail", w)}
	if digitsOnly(w) {
		terms = append(terms, contains("apexSiret", w))
	}
	return or(terms...)
}

// structuresPage returns a page of the structures that q selects, by name:
// each word of its search is found in the name (accents and case aside)
// or the SIRET. Errors: ErrUnavailable.
func (s *Store) structuresPage(ctx context.Context, q ListQuery) (*StructurePage, error) {
	q = q.normalized()
	filters := []string{"(objectClass=apexStructure)"}
	for _, w := range q.words() {
		k := SortKey(w)
		if k == "" {
			continue // no letter nor digit: « & » of « Dupont & Fils »
		}
		terms := []string{contains("apexSortKey", k)}
		if digitsOnly(w) {
			terms = append(terms, contains("apexSiret", w))
		}
		filters = append(filters, or(terms...))
	}
	entries, total, err := s.sortedPage(ctx, "list structures", listSearch{s.structuresDN(), ldap.ScopeSingleLevel, and(filters...), structureAttrs, structureOrder}, q.Page, q.Size)
	if err != nil {
		return nil, err
	}
	out := &StructurePage{Structures: make([]Structure, len(entries)), Total: total, Page: q.Page, Size: q.Size}
	for i, e := range entries {
		out.Structures[i] = *structureFromEntry(e)
	}
	return out, nil
}

// structureNames returns the names of the structures of those SIRETs that
// exist, by SIRET: one search, for a page of a list.
func (s *Store) structureNames(ctx context.Context, sirets []string) (map[string]string, error) {
	names := map[string]string{}
	var terms []string
	for _, siret := range sirets {
		if siret = NormalizeSIRET(siret); CheckSIRET(siret) == nil && !slices.Contains(terms, eq("apexSiret", siret)) {
			terms = append(terms, eq("apexSiret", siret))
		}
	}
	if len(terms) == 0 {
		return names, nil
	}
	entries, err := s.searchFew(ctx, "structure names", s.structuresDN(), ldap.ScopeSingleLevel,
		and("(objectClass=apexStructure)", or(terms...)), structureAttrs, len(terms))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		st := structureFromEntry(e)
		names[st.SIRET] = st.Name
	}
	return names, nil
}

// exportAccounts hands each account of a structure to each, as slapd
// sends them, in the directory's order. Errors: ErrNotFound (the
// structure), ErrUnavailable, each's.
func (s *Store) exportAccounts(ctx context.Context, siret string, each func(*Person) error) error {
	q := listSearch{s.structureDN(NormalizeSIRET(siret)), ldap.ScopeWholeSubtree, "(objectClass=apexPerson)", listAttrs, nil}
	return s.streamPaged(ctx, "export accounts", q, func(entries []*ldap.Entry) error {
		for _, e := range entries {
			if err := each(s.personFromEntry(e)); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportHabilitations hands each habilitation to a profile of app to
// each, as slapd sends them, in the directory's order: one row per profile
// an account holds. Errors: ErrUnavailable, each's.
func (s *Store) exportHabilitations(ctx context.Context, app *Application, each func(*ExportedHabilitation) error) error {
	if len(app.Profiles) == 0 {
		return nil
	}
	var profiles []string
	for _, p := range app.Profiles {
		profiles = append(profiles, eq("memberOf", s.profileDN(app.ID, p)))
	}
	q := listSearch{s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", or(profiles...)), listAttrs, nil}
	names := map[string]string{} // the structures' names of the page, and some before
	return s.streamPaged(ctx, "export habilitations", q, func(entries []*ldap.Entry) error {
		if len(names) > 4*exportPageSize {
			clear(names) // bounded: what this page needs is read again
		}
		var missing []string
		for _, e := range entries {
			if siret := e.GetAttributeValue("apexSiret"); siret != "" {
				if _, ok := names[siret]; !ok && !slices.Contains(missing, siret) {
					missing = append(missing, siret)
				}
			}
		}
		for len(missing) > 0 {
			n := min(len(missing), 100)
			found, err := s.structureNames(ctx, missing[:n])
			if err != nil {
				return err
			}
			for _, siret := range missing[:n] {
				names[siret] = found[siret]
			}
			missing = missing[n:]
		}
		for _, e := range entries {
			account := s.personFromEntry(e)
			for _, h := range account.Habilitations {
				if h.Application != app.ID {
					continue
				}
				if err := each(&ExportedHabilitation{Profile: h.Profile, Account: *account, StructureName: names[account.SIRET]}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
